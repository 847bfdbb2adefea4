"""Softmax cross-entropy (eq. (2.4), (2.5), (2.7)) and the elastic net (eq. (2.18)) on every backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import RTOL, assert_rel_close, to_np

from xpnet import losses, regularizers

N, M = 7, 4


def _logits_and_labels(seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=scale, size=(N, M))
    y = np.asarray([0, 1, 2, 3, 1, 0, 3])  # every class present
    return logits, y


def _np_log_softmax(z):
    e = np.exp(z)
    return np.log(e / e.sum(axis=1, keepdims=True))


def _on(backend, logits, y, dtype):
    z = backend.asarray(logits, dtype)
    return z, backend.asarray(y, "int64"), to_np(z).astype(np.float64)


# ----------------------------------------------------------------------------- cross-entropy


def test_one_hot_rows_pick_the_label(backend, dtype):
    _, y = _logits_and_labels()
    yb = backend.asarray(y, "int64")
    out = losses.one_hot(yb, M, backend.dtype(dtype))
    assert out.dtype == backend.dtype(dtype)
    np.testing.assert_array_equal(to_np(out), np.eye(M)[y])


def test_cross_entropy_is_mean_negative_log_softmax_of_the_label(backend, dtype):
    logits, y = _logits_and_labels(seed=1)
    z, yb, z64 = _on(backend, logits, y, dtype)
    expected = -np.mean(_np_log_softmax(z64)[np.arange(N), y])  # eq. (2.4), (2.5)
    value = losses.softmax_cross_entropy(z, yb)
    assert tuple(value.shape) == ()
    assert value.dtype == z.dtype
    assert_rel_close(value, expected, RTOL[dtype], "loss")
    # eq. (2.4) written out: L_i = log sum_j exp(o_a_j) - o_a_y
    by_seed = np.mean(np.log(np.exp(z64).sum(axis=1)) - z64[np.arange(N), y])
    assert_rel_close(value, by_seed, RTOL[dtype], "eq. (2.4)")


def test_cross_entropy_grad_is_softmax_minus_onehot_over_n(backend, dtype):
    logits, y = _logits_and_labels(seed=2)
    z, yb, z64 = _on(backend, logits, y, dtype)
    e = np.exp(z64)
    expected = (e / e.sum(axis=1, keepdims=True) - np.eye(M)[y]) / N  # eq. (2.7), batch mean
    grad = losses.softmax_cross_entropy_grad(z, yb)
    assert grad.dtype == z.dtype
    assert_rel_close(grad, expected, RTOL[dtype], "grad")
    # every row of dL/do_a sums to 0 (softmax sums to 1, onehot sums to 1)
    np.testing.assert_allclose(to_np(grad).sum(axis=1), 0.0, atol=1e-7)


def test_cross_entropy_with_grad_equals_the_two_separate_functions(backend, dtype):
    logits, y = _logits_and_labels(seed=3)
    z, yb, _ = _on(backend, logits, y, dtype)
    value, grad = losses.softmax_cross_entropy_with_grad(z, yb)
    assert_rel_close(value, losses.softmax_cross_entropy(z, yb), RTOL[dtype], "value")
    assert_rel_close(grad, losses.softmax_cross_entropy_grad(z, yb), RTOL[dtype], "grad")


def test_cross_entropy_grad_matches_finite_differences():
    logits, y = _logits_and_labels(seed=4)
    grad = losses.softmax_cross_entropy_grad(logits, y)
    h = 1e-6
    numeric = np.empty_like(logits)
    for idx in np.ndindex(logits.shape):
        step = np.zeros_like(logits)
        step[idx] = h
        up = float(losses.softmax_cross_entropy(logits + step, y))
        down = float(losses.softmax_cross_entropy(logits - step, y))
        numeric[idx] = (up - down) / (2 * h)
    assert_rel_close(grad, numeric, 1e-7, "finite differences")


def test_cross_entropy_is_stable_for_huge_logits(backend, dtype):
    logits = np.asarray([[1e4, 0.0], [0.0, 1e4], [-1e4, 1e4]])
    y = np.asarray([1, 1, 0])
    z, yb, _ = _on(backend, logits, y, dtype)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        value, grad = losses.softmax_cross_entropy_with_grad(z, yb)
        value_alone = float(losses.softmax_cross_entropy(z, yb))
    # L = [1e4, 0, 2e4], mean 1e4; grad rows (softmax - onehot) / 3
    np.testing.assert_allclose(float(value), 1e4, rtol=1e-6)
    np.testing.assert_allclose(value_alone, 1e4, rtol=1e-6)
    expected = np.asarray([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]]) / 3
    np.testing.assert_allclose(to_np(grad).astype(np.float64), expected, atol=1e-7)


# ----------------------------------------------------------------------------- elastic net


def _weights(seed=5):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(4, 3)), rng.normal(size=(2, 4)), rng.normal(size=(3, 2))]


def _np_elastic_net(weights, l1s, l2s):
    # eq. (2.18): sum_k l1_k sum|W_k| + l2_k sum W_k^2, gradient l1_k sign(W_k) + 2 l2_k W_k
    value = sum(
        a * np.abs(W).sum() + b * (W**2).sum() for W, a, b in zip(weights, l1s, l2s, strict=True)
    )
    grads = [a * np.sign(W) + 2 * b * W for W, a, b in zip(weights, l1s, l2s, strict=True)]
    return value, grads


@pytest.mark.parametrize(
    "l1,l2",
    [
        ([0.01, 0.02, 0.03], [0.004, 0.005, 0.006]),
        (0.01, 0.003),
        ([0.0, 0.02, 0.0], 0.0),
        (0.0, [0.1, 0.0, 0.2]),
    ],
    ids=["per-layer", "single-float", "l1-only", "l2-only"],
)
def test_elastic_net_value_and_grad_match_numpy(backend, dtype, l1, l2):
    host = _weights()
    weights = [backend.asarray(W, dtype) for W in host]
    host32 = [to_np(W).astype(np.float64) for W in weights]
    l1s = l1 if isinstance(l1, list) else [l1] * 3
    l2s = l2 if isinstance(l2, list) else [l2] * 3
    expected_value, expected_grads = _np_elastic_net(host32, l1s, l2s)

    value = regularizers.elastic_net(weights, l1=l1, l2=l2)
    assert_rel_close(value, expected_value, RTOL[dtype], "penalty")
    grads = regularizers.elastic_net_grad(weights, l1=l1, l2=l2)
    assert len(grads) == 3
    for k, (g, expected) in enumerate(zip(grads, expected_grads, strict=True)):
        if l1s[k] == 0 and l2s[k] == 0:
            assert g is None, f"layer {k}: no penalty, so no gradient array"
        else:
            assert g.dtype == weights[k].dtype
            assert_rel_close(g, expected, RTOL[dtype], f"layer {k}")


def test_elastic_net_is_zero_when_switched_off(backend):
    weights = [backend.asarray(W, "float64") for W in _weights()]
    assert float(regularizers.elastic_net(weights)) == 0.0
    assert regularizers.elastic_net_grad(weights) == [None, None, None]


def test_add_elastic_net_penalises_weights_not_biases(backend):
    host = _weights(seed=6)
    params = [
        (backend.asarray(W, "float64"), backend.asarray(np.ones(W.shape[0]), "float64"))
        for W in host
    ]
    zero_grads = [
        (
            backend.asarray(np.zeros_like(W), "float64"),
            backend.asarray(np.zeros(W.shape[0]), "float64"),
        )
        for W in host
    ]
    l1s, l2s = (0.01, 0.0, 0.03), (0.004, 0.0, 0.0)
    grads = list(zero_grads)
    value = regularizers.add_elastic_net(
        backend.asarray(np.asarray(1.5), "float64"), grads, params, l1s, l2s, backend.xp
    )
    expected_value, expected_grads = _np_elastic_net(host, l1s, l2s)
    assert_rel_close(value, 1.5 + expected_value, 1e-12, "value")
    for k in range(3):
        assert_rel_close(grads[k][0], expected_grads[k], 1e-12, f"dW{k}")
        np.testing.assert_array_equal(to_np(grads[k][1]), 0.0)  # biases: never penalised


def test_per_layer_expands_a_float_and_keeps_a_sequence():
    assert regularizers.per_layer(0.5, 3, "l1") == (0.5, 0.5, 0.5)
    assert regularizers.per_layer(np.float64(0.25), 2, "l2") == (0.25, 0.25)
    assert regularizers.per_layer([0.1, 0.0], 2, "l1") == (0.1, 0.0)
    assert regularizers.per_layer((1, 2), 2, "l2") == (1.0, 2.0)


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_per_layer_rejects_a_wrong_length_naming_the_argument(name):
    with pytest.raises(ValueError, match=name):
        regularizers.per_layer([0.1, 0.2], 3, name)
    weights = _weights()
    with pytest.raises(ValueError, match=name):
        regularizers.elastic_net(weights, **{name: [0.1] * 4})
    with pytest.raises(ValueError, match=name):
        regularizers.elastic_net_grad(weights, **{name: [0.1]})


@pytest.mark.parametrize("name", ["l1", "l2"])
@pytest.mark.parametrize("bad", [-0.1, [0.1, -0.2, 0.0], float("nan"), float("inf")])
def test_per_layer_rejects_negative_or_non_finite_strengths(name, bad):
    with pytest.raises(ValueError, match=name):
        regularizers.elastic_net(_weights(), **{name: bad})


@pytest.mark.parametrize("bad", ["0.1", None, [0.1, "x", 0.2], [True, 0.1, 0.2]])
def test_per_layer_rejects_non_numbers_with_type_error(bad):
    with pytest.raises(TypeError, match="l1"):
        regularizers.per_layer(bad, 3, "l1")
