"""The derivation's section 1 on every backend: identities, derivatives, references, stability."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import RTOL, assert_rel_close, rel_err, to_np

from xpnet import functional as F

# ----------------------------------------------------------------------------- independent references
# Plain NumPy float64 formulas, written from the definitions (valid on the
# moderate inputs used below, where nothing overflows).


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_softmax(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


NP_REFERENCE = {
    "sigmoid": _np_sigmoid,
    "sigmoid_grad": lambda x: _np_sigmoid(x) * (1.0 - _np_sigmoid(x)),
    "log_sigmoid": lambda x: np.log(_np_sigmoid(x)),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "tanh_grad": lambda x: 4.0 / (np.exp(x) + np.exp(-x)) ** 2,  # sech^2
    "softplus": lambda x: np.log(1.0 + np.exp(x)),
    "softplus_grad": lambda x: np.exp(x) / (1.0 + np.exp(x)),
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "relu_grad": lambda x: np.where(x > 0, 1.0, 0.0),
    "rect": lambda x: np.where(x > 0, x, 0.0),
    "rect_grad": lambda x: np.where(x > 0, 1.0, 0.0),
    "abs": lambda x: np.where(x < 0, -x, x),
    "abs_grad": lambda x: np.where(x > 0, 1.0, 0.0) - np.where(x < 0, 1.0, 0.0),
    "identity": lambda x: x,
    "identity_grad": lambda x: np.ones_like(x),
    "sign": lambda x: np.where(x > 0, 1.0, 0.0) - np.where(x < 0, 1.0, 0.0),
    "softmax": _np_softmax,
    "log_softmax": lambda x: np.log(_np_softmax(x)),
    "logsumexp": lambda x: np.log(np.exp(x).sum(axis=-1)),
    "l1_norm": lambda x: np.sum(np.where(x < 0, -x, x)),
    "l1_norm_grad": lambda x: np.where(x > 0, 1.0, 0.0) - np.where(x < 0, 1.0, 0.0),
    "sq_l2_norm": lambda x: np.sum(x * x),
    "sq_l2_norm_grad": lambda x: 2.0 * x,
}

# (function, derivative) pairs checked against finite differences
ELEMENTWISE_GRADS = [
    ("sigmoid", "sigmoid_grad"),
    ("tanh", "tanh_grad"),
    ("softplus", "softplus_grad"),
    ("relu", "relu_grad"),
    ("rect", "rect_grad"),
    ("abs", "abs_grad"),
    ("identity", "identity_grad"),
]
NORM_GRADS = [("l1_norm", "l1_norm_grad"), ("sq_l2_norm", "sq_l2_norm_grad")]


def _moderate_inputs(shape=(7, 5), seed=0, low=-8.0, high=8.0):
    """Host float64 inputs, none within 0.05 of a kink at 0."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)


def _on(backend, host, dtype):
    """``host`` on the backend as ``dtype``, and the float64 values it actually holds."""
    x = backend.asarray(host, dtype)
    return x, to_np(x).astype(np.float64)


# ----------------------------------------------------------------------------- the derivation's identities


def test_sigmoid_is_half_tanh_of_half_plus_one(backend, dtype):
    # eq. (1.1): sigmoid(x) = (tanh(x/2) + 1) / 2
    x, _ = _on(backend, _moderate_inputs(seed=1), dtype)
    assert_rel_close(F.sigmoid(x), (F.tanh(x / 2.0) + 1.0) / 2.0, RTOL[dtype], "eq. (1.1)")


def test_log_sigmoid_is_minus_softplus_of_minus_x(backend, dtype):
    # eq. (1.2): log sigmoid(x) = -softplus(-x)
    x, x64 = _on(backend, _moderate_inputs(seed=2), dtype)
    assert_rel_close(F.log_sigmoid(x), -F.softplus(-x), RTOL[dtype], "eq. (1.2)")
    assert_rel_close(F.log_sigmoid(x), np.log(_np_sigmoid(x64)), RTOL[dtype], "log sigmoid")


def test_sigmoid_grad_is_s_times_one_minus_s(backend, dtype):
    # eq. (1.3): sigmoid' = s (1 - s)
    x, _ = _on(backend, _moderate_inputs(seed=3), dtype)
    s = F.sigmoid(x)
    assert_rel_close(F.sigmoid_grad(x), s * (1.0 - s), RTOL[dtype], "eq. (1.3)")


def test_tanh_grad_is_one_minus_tanh_squared(backend, dtype):
    # eq. (1.4): tanh' = 1 - tanh^2
    x, _ = _on(backend, _moderate_inputs(seed=4, low=-3.0, high=3.0), dtype)
    t = F.tanh(x)
    assert_rel_close(F.tanh_grad(x), 1.0 - t * t, RTOL[dtype], "eq. (1.4)")


def test_softmax_rows_are_positive_and_sum_to_one(backend, dtype):
    # eq. (2.3): o_s > 0 and sum_k o_s_k = 1, even for widely spread logits
    rng = np.random.default_rng(5)
    host = rng.normal(scale=20.0, size=(9, 6))
    x, _ = _on(backend, host, dtype)
    s = to_np(F.softmax(x))
    assert s.shape == host.shape
    assert np.all(s >= 0.0)
    moderate, _ = _on(backend, _moderate_inputs(seed=6), dtype)
    assert np.all(to_np(F.softmax(moderate)) > 0.0)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(s.astype(np.float64).sum(axis=-1), 1.0, rtol=0, atol=tol)


def test_logsumexp_log_softmax_and_softmax_are_consistent(backend, dtype):
    x, x64 = _on(backend, _moderate_inputs(seed=7), dtype)
    lse = F.logsumexp(x)
    assert tuple(lse.shape) == (x.shape[0],)
    # log_softmax(x) = x - logsumexp(x), exp(log_softmax) = softmax
    assert_rel_close(F.log_softmax(x), x64 - to_np(lse)[:, None], RTOL[dtype], "log_softmax")
    assert_rel_close(np.exp(to_np(F.log_softmax(x))), F.softmax(x), 10 * RTOL[dtype], "exp")
    # shift invariance: softmax(x + c) = softmax(x), logsumexp(x + c) = logsumexp(x) + c
    assert_rel_close(F.softmax(x + 3.0), F.softmax(x), 10 * RTOL[dtype], "shift")
    assert_rel_close(F.logsumexp(x + 3.0), to_np(lse) + 3.0, 10 * RTOL[dtype], "lse shift")


def test_logsumexp_keeps_leading_axes(backend):
    host = _moderate_inputs(shape=(2, 3, 4), seed=8)
    x, x64 = _on(backend, host, "float64")
    assert_rel_close(F.logsumexp(x), np.log(np.exp(x64).sum(axis=-1)), 1e-12, "3-d")


def test_sign_and_kink_conventions(backend, dtype):
    # eq. (1.5): sign(x) = 1{x>0} - 1{x<0}; eq. (1.6) / (1.7): abs'(0) = rect'(0) = 0
    host = np.asarray([-3.0, -1e-30, -0.0, 0.0, 1e-30, 2.5])
    x, _ = _on(backend, host, dtype)
    expected = np.asarray([-1.0, -1.0, 0.0, 0.0, 1.0, 1.0])  # 1e-30 is a normal float32
    for name in ("sign", "abs_grad", "l1_norm_grad"):
        out = getattr(F, name)(x)
        assert out.dtype == x.dtype, name
        np.testing.assert_array_equal(to_np(out), expected, err_msg=name)
    zeros, _ = _on(backend, np.zeros(3), dtype)
    np.testing.assert_array_equal(to_np(F.relu_grad(zeros)), 0.0)
    np.testing.assert_array_equal(to_np(F.rect_grad(zeros)), 0.0)
    np.testing.assert_array_equal(to_np(F.abs_grad(zeros)), 0.0)
    np.testing.assert_array_equal(to_np(F.relu(zeros)), 0.0)
    np.testing.assert_array_equal(to_np(F.relu_grad(x)), (expected > 0).astype(float))


# ----------------------------------------------------------------------------- finite differences


def _central_difference(fn, x, h=1e-6):
    """Elementwise central differences of an elementwise ``fn`` (float64 NumPy)."""
    return (to_np(fn(x + h)) - to_np(fn(x - h))) / (2.0 * h)


@pytest.mark.parametrize("name,grad_name", ELEMENTWISE_GRADS, ids=lambda v: str(v))
def test_elementwise_grad_matches_finite_differences(backend, dtype, name, grad_name):
    # kinks at 0 are avoided by _moderate_inputs (|x| >= 0.05 >> h)
    host = _moderate_inputs(seed=9, low=-5.0, high=5.0)
    x, x64 = _on(backend, host, dtype)
    numeric = _central_difference(getattr(F, name), x64)  # float64 NumPy
    analytic = getattr(F, grad_name)(x)
    assert tuple(analytic.shape) == host.shape
    assert analytic.dtype == x.dtype
    tol = 1e-7 if dtype == "float64" else 1e-5
    assert_rel_close(analytic, numeric, tol, grad_name)


@pytest.mark.parametrize("name,grad_name", NORM_GRADS, ids=lambda v: str(v))
def test_norm_grad_matches_finite_differences(backend, dtype, name, grad_name):
    host = _moderate_inputs(shape=(4, 3), seed=10, low=-2.0, high=2.0)
    x, x64 = _on(backend, host, dtype)
    fn = getattr(F, name)
    h = 1e-6
    numeric = np.empty_like(x64)
    for idx in np.ndindex(x64.shape):
        step = np.zeros_like(x64)
        step[idx] = h
        numeric[idx] = (float(fn(x64 + step)) - float(fn(x64 - step))) / (2.0 * h)
    analytic = getattr(F, grad_name)(x)
    tol = 1e-7 if dtype == "float64" else 1e-5
    assert_rel_close(analytic, numeric, tol, grad_name)


# ----------------------------------------------------------------------------- NumPy references


@pytest.mark.parametrize("name", sorted(NP_REFERENCE))
def test_agrees_with_numpy_float64_reference(backend, dtype, name):
    x, x64 = _on(backend, _moderate_inputs(seed=11), dtype)
    out = getattr(F, name)(x)
    expected = NP_REFERENCE[name](x64)
    assert tuple(out.shape) == np.shape(expected), name
    assert out.dtype == x.dtype, name
    assert_rel_close(out, expected, RTOL[dtype], name)


def test_activation_registry_matches_functions(backend):
    x, x64 = _on(backend, _moderate_inputs(seed=12), "float64")
    for name in ("relu", "tanh", "sigmoid", "softplus", "abs", "identity"):
        act = F.get_activation(name)
        assert act.name == name
        assert_rel_close(act.fn(x), NP_REFERENCE[name](x64), 1e-12, name)
        assert_rel_close(act.grad(x), NP_REFERENCE[name + "_grad"](x64), 1e-12, name)
        g = np.linspace(-1.0, 1.0, x64.size).reshape(x64.shape)
        backprop = act.backprop(backend.asarray(g, "float64"), x, act.fn(x), backend.xp)
        assert_rel_close(backprop, g * NP_REFERENCE[name + "_grad"](x64), 1e-12, name)
    assert F.get_activation("rect").name == "relu"
    assert F.get_activation("logistic").name == "sigmoid"
    with pytest.raises(ValueError, match="activation"):
        F.get_activation("swish")


# ----------------------------------------------------------------------------- stability

HUGE = 1e4
STABILITY_INPUTS = [
    np.asarray([HUGE, -HUGE, 0.0, 1.0, -1.0]),
    np.asarray([[HUGE, 0.0], [0.0, HUGE], [-HUGE, HUGE], [HUGE, HUGE], [-HUGE, -HUGE]]),
    np.asarray([[HUGE, -HUGE, 3.0, -HUGE / 2]]),
]


@pytest.mark.parametrize("case", range(len(STABILITY_INPUTS)))
@pytest.mark.parametrize("name", sorted(NP_REFERENCE))
def test_huge_inputs_give_finite_outputs_without_warnings(backend, dtype, name, case):
    x = backend.asarray(STABILITY_INPUTS[case], dtype)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        out = getattr(F, name)(x)
        host = to_np(out)
    assert np.all(np.isfinite(host)), f"{name}: {host}"


def _exactly(backend, dtype, fn, values, expected):
    x = backend.asarray(np.asarray(values), dtype)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        out = to_np(fn(x)).astype(np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == "float32" else 1e-14, atol=0)


def test_limits_at_huge_inputs(backend, dtype):
    h = HUGE
    _exactly(backend, dtype, F.sigmoid, [h, -h], [1.0, 0.0])
    _exactly(backend, dtype, F.sigmoid_grad, [h, -h], [0.0, 0.0])
    _exactly(backend, dtype, F.softplus, [h, -h], [h, 0.0])
    _exactly(backend, dtype, F.softplus_grad, [h, -h], [1.0, 0.0])
    _exactly(backend, dtype, F.log_sigmoid, [h, -h], [0.0, -h])
    _exactly(backend, dtype, F.tanh, [h, -h], [1.0, -1.0])
    _exactly(backend, dtype, F.tanh_grad, [h, -h], [0.0, 0.0])
    _exactly(backend, dtype, F.logsumexp, [h, 0.0], h)
    _exactly(backend, dtype, F.logsumexp, [[h, 0.0], [0.0, -h], [h, h]], [h, 0.0, h + np.log(2)])
    _exactly(backend, dtype, F.softmax, [h, 0.0], [1.0, 0.0])
    _exactly(backend, dtype, F.softmax, [[-h, h], [h, h]], [[0.0, 1.0], [0.5, 0.5]])
    _exactly(backend, dtype, F.log_softmax, [h, 0.0], [0.0, -h])


def test_sigmoid_keeps_relative_precision_in_the_tails(backend):
    # computed from exp(-|x|): sigmoid(-30) = e^-30 / (1 + e^-30) to full precision
    x = backend.asarray(np.asarray([-30.0, -50.0, 30.0]), "float64")
    expected = np.asarray(
        [np.exp(-30.0) / (1 + np.exp(-30.0)), np.exp(-50.0), 1 / (1 + np.exp(-30.0))]
    )
    out = to_np(F.sigmoid(x))
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    assert rel_err(F.softplus(-x)[:2], np.log1p(np.exp([30.0, 50.0]))) < 1e-14
