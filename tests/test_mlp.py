"""The MLP of the derivation's section 2 on every backend.

Gradients are checked four ways: central finite differences (``xpnet.gradcheck``),
the same functions run in float64 NumPy, an independent NumPy implementation
of the derivation's formulas, eq. (2.1)-(2.18), written here, and ``torch.autograd``.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest
from conftest import rel_err, resolve_backend, to_np

import xpnet
from xpnet import mlp

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "abs", "identity")
D, M, N = 5, 3, 7  # inputs, classes, samples
HIDDEN = {"1-hidden": (6,), "3-hidden": (4, 6, 5)}
REGULARIZATION = ("none", "per-layer", "single-float")
# agreement with a float64 NumPy reference
RTOL = {"float64": 1e-10, "float32": 1e-4}
KINK_MARGIN = 1e-4  # no pre-activation or penalised weight closer than this to 0


def _strengths(kind: str, n_weights: int):
    """(l1, l2) for a regularization kind; per-layer values are all distinct."""
    if kind == "none":
        return 0.0, 0.0
    if kind == "per-layer":
        return [0.01 * (k + 1) for k in range(n_weights)], [
            0.003 * (k + 2) for k in range(n_weights)
        ]
    return 0.02, 0.005


def _expand(strength, n_weights):
    return list(strength) if isinstance(strength, list) else [strength] * n_weights


# ----------------------------------------------------------------------------- independent NumPy reference

NP_ACT = {  # (act, act') written from the definitions, float64 NumPy
    "relu": (lambda a: np.where(a > 0, a, 0.0), lambda a: np.where(a > 0, 1.0, 0.0)),
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "sigmoid": (
        lambda a: 1.0 / (1.0 + np.exp(-a)),
        lambda a: np.exp(-a) / (1.0 + np.exp(-a)) ** 2,
    ),
    "softplus": (lambda a: np.log(1.0 + np.exp(a)), lambda a: 1.0 / (1.0 + np.exp(-a))),
    "abs": (np.abs, np.sign),
    "identity": (lambda a: a, np.ones_like),
}


def _np_softmax(o_a):
    e = np.exp(o_a - o_a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _np_penalty(weights, l1s, l2s):
    value = sum(
        a * np.abs(W).sum() + b * (W**2).sum() for W, a, b in zip(weights, l1s, l2s, strict=True)
    )
    grads = [a * np.sign(W) + 2.0 * b * W for W, a, b in zip(weights, l1s, l2s, strict=True)]
    return value, grads


def derivation_one_hidden_layer(W1, b1, W2, b2, X, y, activation, l1s, l2s):
    """The derivation's formulas, eq. (2.1)-(2.18), for one hidden layer, batched, in float64 NumPy.

    Returns (logits, value, [(grad_W1, grad_b1), (grad_W2, grad_b2)], dX).
    """
    act, act_grad = NP_ACT[activation]
    n, m = X.shape[0], W2.shape[0]
    ha = X @ W1.T + b1  # 2.1
    hs = act(ha)
    oa = hs @ W2.T + b2  # 2.2
    os = _np_softmax(oa)  # 2.3
    onehot = np.eye(m)[y]
    losses = np.log(np.exp(oa).sum(axis=1)) - oa[np.arange(n), y]  # 2.4
    grad_oa = os - onehot  # 2.7 / 2.8, one row per sample
    grad_W2 = grad_oa.T @ hs  # 2.10
    grad_b2 = grad_oa.sum(axis=0)
    grad_hs = grad_oa @ W2  # 2.12
    grad_ha = grad_hs * act_grad(ha)  # 2.13 / 2.14
    grad_W1 = grad_ha.T @ X  # 2.16
    grad_b1 = grad_ha.sum(axis=0)
    dX = grad_ha @ W1  # 2.17
    penalty, penalty_grads = _np_penalty([W1, W2], l1s, l2s)  # 2.18
    value = losses.mean() + penalty  # 2.5 + 2.18
    grads = [
        (grad_W1 / n + penalty_grads[0], grad_b1 / n),
        (grad_W2 / n + penalty_grads[1], grad_b2 / n),
    ]
    return oa, value, grads, dX / n


def numpy_backprop(params, X, y, activation, l1s, l2s):
    """The same chain rule for any depth, in float64 NumPy (reduces to the derivation's for one layer)."""
    act, act_grad = NP_ACT[activation]
    n = X.shape[0]
    pre, post, h = [], [X], X
    for W, b in params[:-1]:
        pre.append(h @ W.T + b)
        h = act(pre[-1])
        post.append(h)
    W_out, b_out = params[-1]
    logits = h @ W_out.T + b_out
    os = _np_softmax(logits)
    value = np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(n), y])
    delta = (os - np.eye(logits.shape[1])[y]) / n
    grads = [None] * len(params)
    for k in range(len(params) - 1, -1, -1):
        W = params[k][0]
        grads[k] = (delta.T @ post[k], delta.sum(axis=0))
        delta = delta @ W
        if k > 0:
            delta = delta * act_grad(pre[k - 1])
    penalty, penalty_grads = _np_penalty([W for W, _ in params], l1s, l2s)
    grads = [(gW + pg, gb) for (gW, gb), pg in zip(grads, penalty_grads, strict=True)]
    return logits, value + penalty, grads, delta


# ----------------------------------------------------------------------------- problems


def _host_problem(hidden, seed=0):
    """Host float64 params (random biases too), X and y (every class present)."""
    sizes = (D, *hidden, M)
    rng = np.random.default_rng(seed)
    params = [
        (
            rng.normal(scale=1.5 / math.sqrt(fan_in), size=(fan_out, fan_in)),
            rng.normal(scale=0.2, size=fan_out),
        )
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    X = rng.normal(size=(N, D))
    y = np.concatenate([np.arange(M), rng.integers(0, M, size=N - M)])
    return params, X, y


def _away_from_kinks(params, X, activation):
    """No weight and no hidden pre-activation within ``KINK_MARGIN`` of 0."""
    if any(np.min(np.abs(W)) <= KINK_MARGIN for W, _ in params):
        return False  # the L1 term's kink
    act = NP_ACT[activation][0]
    h = X
    for W, b in params[:-1]:
        pre = h @ W.T + b
        if np.min(np.abs(pre)) <= KINK_MARGIN:
            return False  # relu's and abs's kink
        h = act(pre)
    return True


def _problem(hidden, activation, seed=0):
    """The first problem from ``seed`` on that keeps finite differences off the kinks."""
    for attempt in range(seed, seed + 100):
        params, X, y = _host_problem(hidden, attempt)
        if _away_from_kinks(params, X, activation):
            return params, X, y
    raise AssertionError("no seed gives a problem away from the kinks")


def _to_backend(backend, params, X, y, dtype):
    p = [(backend.asarray(W, dtype), backend.asarray(b, dtype)) for W, b in params]
    return p, backend.asarray(X, dtype), backend.asarray(y, "int64")


def _host64(params, X):
    """What the backend arrays hold, as float64 NumPy (the reference sees the same numbers)."""
    return [(to_np(W).astype(np.float64), to_np(b).astype(np.float64)) for W, b in params], to_np(
        X
    ).astype(np.float64)


def _assert_all_close(got, want, tol, what):
    logits, value, grads, dX = got
    ref_logits, ref_value, ref_grads, ref_dX = want
    assert rel_err(logits, ref_logits) < tol, f"{what}: logits {rel_err(logits, ref_logits):.2e}"
    assert rel_err(value, ref_value) < tol, f"{what}: value {rel_err(value, ref_value):.2e}"
    for k, ((dW, db), (rW, rb)) in enumerate(zip(grads, ref_grads, strict=True)):
        assert rel_err(dW, rW) < tol, f"{what}: dW{k + 1} {rel_err(dW, rW):.2e}"
        assert rel_err(db, rb) < tol, f"{what}: db{k + 1} {rel_err(db, rb):.2e}"
    assert rel_err(dX, ref_dX) < tol, f"{what}: dX {rel_err(dX, ref_dX):.2e}"


def _run_xpnet(params, X, y, activation, l1, l2):
    logits, _ = mlp.forward(params, X, activation)
    value, grads, dX = mlp.objective(params, X, y, activation, l1=l1, l2=l2)
    return logits, value, grads, dX


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("reg", REGULARIZATION)
@pytest.mark.parametrize("hidden", list(HIDDEN), ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(backend, activation, hidden, reg):
    host_params, host_X, host_y = _problem(HIDDEN[hidden], activation)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, "float64")
    l1, l2 = _strengths(reg, len(params))

    def value_and_grads(nest):
        p, Xn = nest
        value, grads, dX = mlp.objective(p, Xn, y, activation, l1=l1, l2=l2)
        return value, (grads, dX)

    report = xpnet.gradcheck(value_and_grads, (params, X), eps=1e-6, rtol=1e-6)
    assert report.ok, str(report)
    assert len(report.errors) == 2 * len(params) + 1


# ----------------------------------------------------------------------------- NumPy float64


@pytest.mark.parametrize("hidden", list(HIDDEN), ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_agrees_with_the_same_functions_in_numpy_float64(backend, dtype, activation, hidden):
    host_params, host_X, host_y = _problem(HIDDEN[hidden], activation, seed=10)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, dtype)
    l1, l2 = _strengths("per-layer", len(params))
    got = _run_xpnet(params, X, y, activation, l1, l2)
    assert got[1].dtype == backend.dtype(dtype)
    assert got[3].dtype == backend.dtype(dtype)
    assert all(g.dtype == backend.dtype(dtype) for pair in got[2] for g in pair)
    p64, X64 = _host64(params, X)  # the same numbers, run by the same code in NumPy
    want = _run_xpnet(p64, X64, host_y, activation, l1, l2)
    _assert_all_close(got, want, RTOL[dtype], f"{backend.name} {dtype}")


@pytest.mark.parametrize("reg", REGULARIZATION)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_hidden_layer_matches_the_derivation_formulas(backend, dtype, activation, reg):
    host_params, host_X, host_y = _problem(HIDDEN["1-hidden"], activation, seed=20)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, dtype)
    l1, l2 = _strengths(reg, 2)
    got = _run_xpnet(params, X, y, activation, l1, l2)
    [(W1, b1), (W2, b2)], X64 = _host64(params, X)
    want = derivation_one_hidden_layer(
        W1, b1, W2, b2, X64, host_y, activation, _expand(l1, 2), _expand(l2, 2)
    )
    _assert_all_close(got, want, RTOL[dtype], f"{backend.name} {dtype}")


@pytest.mark.parametrize("reg", REGULARIZATION)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_three_hidden_layers_match_numpy_backprop(backend, dtype, activation, reg):
    host_params, host_X, host_y = _problem(HIDDEN["3-hidden"], activation, seed=30)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, dtype)
    l1, l2 = _strengths(reg, 4)
    got = _run_xpnet(params, X, y, activation, l1, l2)
    p64, X64 = _host64(params, X)
    want = numpy_backprop(p64, X64, host_y, activation, _expand(l1, 4), _expand(l2, 4))
    _assert_all_close(got, want, RTOL[dtype], f"{backend.name} {dtype}")


def test_numpy_backprop_reduces_to_the_derivation_for_one_hidden_layer():
    # the two references above agree with each other, so neither is a copy of a mistake
    for activation in ACTIVATIONS:
        params, X, y = _problem(HIDDEN["1-hidden"], activation, seed=40)
        [(W1, b1), (W2, b2)] = params
        a = derivation_one_hidden_layer(
            W1, b1, W2, b2, X, y, activation, [0.01, 0.02], [0.03, 0.04]
        )
        b = numpy_backprop(params, X, y, activation, [0.01, 0.02], [0.03, 0.04])
        _assert_all_close(a, b, 1e-13, activation)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_batch_gradient_is_the_mean_of_per_sample_gradients(backend, activation):
    host_params, host_X, host_y = _problem(HIDDEN["1-hidden"], activation, seed=50)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, "float64")
    l1s, l2s = [0.01, 0.02], [0.003, 0.004]
    value, grads, dX = mlp.objective(params, X, y, activation, l1=l1s, l2=l2s)

    [(W1, b1), (W2, b2)] = host_params
    act, act_grad = NP_ACT[activation]
    sums = [np.zeros_like(W1), np.zeros_like(b1), np.zeros_like(W2), np.zeros_like(b2)]
    losses, dx_rows = [], []
    for x, label in zip(
        host_X, host_y, strict=True
    ):  # one sample at a time, eq. (2.1)-(2.17) as vectors
        ha = b1 + W1 @ x
        hs = act(ha)
        oa = b2 + W2 @ hs
        os = np.exp(oa) / np.exp(oa).sum()
        losses.append(-np.log(os[label]))
        grad_oa = os - np.eye(M)[label]  # 2.7
        grad_hs = W2.T @ os - W2[label, :]  # 2.12
        grad_ha = grad_hs * act_grad(ha)  # 2.13
        for k, g in enumerate((np.outer(grad_ha, x), grad_ha, np.outer(grad_oa, hs), grad_oa)):
            sums[k] += g  # 2.16, 2.16, 2.10, 2.10
        dx_rows.append(W1.T @ grad_ha)  # 2.17
    penalty, penalty_grads = _np_penalty([W1, W2], l1s, l2s)
    expected = [
        (sums[0] / N + penalty_grads[0], sums[1] / N),
        (sums[2] / N + penalty_grads[1], sums[3] / N),
    ]
    assert rel_err(value, np.mean(losses) + penalty) < 1e-12
    for (dW, db), (eW, eb) in zip(grads, expected, strict=True):
        assert rel_err(dW, eW) < 1e-12
        assert rel_err(db, eb) < 1e-12
    assert rel_err(dX, np.asarray(dx_rows) / N) < 1e-12


def test_worked_example_by_hand():
    # x = (1, 2), W1 = [[1, -1], [0.5, 0.5]], b1 = 0:  h_a = (1 - 2, 0.5 + 1) = (-1, 1.5)
    # relu: h_s = (0, 1.5);  W2 = [[1, 0], [0, 2]], b2 = 0:  o_a = (0, 3);  y = 1
    # o_s = (1, e^3) / (1 + e^3);  L = log(1 + e^3) - 3
    # grad_oa = (p, -p) with p = 1 / (1 + e^3);  grad_W2 = outer(grad_oa, h_s)
    # grad_hs = W2^T grad_oa = (p, -2p);  grad_ha = grad_hs * 1{h_a > 0} = (0, -2p)
    # grad_W1 = outer(grad_ha, x) = [[0, 0], [-2p, -4p]];  dx = W1^T grad_ha = (-p, -p)
    params = [
        (np.asarray([[1.0, -1.0], [0.5, 0.5]]), np.zeros(2)),
        (np.asarray([[1.0, 0.0], [0.0, 2.0]]), np.zeros(2)),
    ]
    X, y = np.asarray([[1.0, 2.0]]), np.asarray([1])
    p = 1.0 / (1.0 + math.exp(3.0))
    value, grads, dX = mlp.objective(params, X, y, "relu")
    assert float(value) == pytest.approx(math.log(1 + math.exp(3.0)) - 3.0, rel=1e-14)
    np.testing.assert_allclose(grads[1][0], [[0.0, 1.5 * p], [0.0, -1.5 * p]], rtol=1e-14)
    np.testing.assert_allclose(grads[1][1], [p, -p], rtol=1e-14)
    np.testing.assert_allclose(grads[0][0], [[0.0, 0.0], [-2 * p, -4 * p]], rtol=1e-14)
    np.testing.assert_allclose(grads[0][1], [0.0, -2 * p], rtol=1e-14, atol=0)
    np.testing.assert_allclose(dX, [[-p, -p]], rtol=1e-14)
    # with l1 = (0.1, 0), l2 = (0, 0.2): value + 0.1 * 3 + 0.2 * 5, dW1 + 0.1 sign(W1), dW2 + 0.4 W2
    value_r, grads_r, _ = mlp.objective(params, X, y, "relu", l1=[0.1, 0.0], l2=[0.0, 0.2])
    assert float(value_r) == pytest.approx(float(value) + 0.3 + 1.0, rel=1e-14)
    np.testing.assert_allclose(grads_r[0][0], grads[0][0] + 0.1 * np.sign(params[0][0]))
    np.testing.assert_allclose(grads_r[1][0], grads[1][0] + 0.4 * params[1][0])
    np.testing.assert_array_equal(grads_r[0][1], grads[0][1])  # biases are not penalised


# ----------------------------------------------------------------------------- input_grad


@pytest.mark.parametrize("hidden", list(HIDDEN), ids=str)
def test_input_grad_false_returns_no_dx_and_the_same_grads(backend, dtype, hidden):
    host_params, host_X, host_y = _problem(HIDDEN[hidden], "tanh", seed=60)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, dtype)
    l1, l2 = _strengths("per-layer", len(params))
    value, grads, dX = mlp.objective(params, X, y, "tanh", l1=l1, l2=l2, input_grad=True)
    value_n, grads_n, dX_n = mlp.objective(params, X, y, "tanh", l1=l1, l2=l2, input_grad=False)
    assert dX is not None and tuple(dX.shape) == (N, D)
    assert dX_n is None
    np.testing.assert_array_equal(to_np(value_n), to_np(value))
    for (dW, db), (dW_n, db_n) in zip(grads, grads_n, strict=True):
        np.testing.assert_array_equal(to_np(dW_n), to_np(dW))
        np.testing.assert_array_equal(to_np(db_n), to_np(db))
    logits, cache = mlp.forward(params, X, "tanh")
    _, dlogits = xpnet.losses.softmax_cross_entropy_with_grad(logits, y)
    grads_b, dX_b = mlp.backward(params, cache, dlogits, input_grad=False)
    assert dX_b is None and len(grads_b) == len(params)


def test_objective_returns_a_0d_array_on_the_backend(backend):
    host_params, host_X, host_y = _problem(HIDDEN["1-hidden"], "relu", seed=70)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, "float32")
    value, grads, dX = mlp.objective(params, X, y, "relu", l1=0.01, l2=0.01)
    assert tuple(value.shape) == ()
    assert array_api_compat.array_namespace(value) is array_api_compat.array_namespace(X)
    assert array_api_compat.device(value) == array_api_compat.device(X)
    assert [tuple(W.shape) for W, _ in grads] == [(6, D), (M, 6)]
    assert [tuple(b.shape) for _, b in grads] == [(6,), (M,)]
    assert mlp.layer_sizes(params) == (D, 6, M)


# ----------------------------------------------------------------------------- torch.autograd


def _torch_objective(host_params, host_X, host_y, activation, l1s, l2s):
    """R~ built from torch ops, differentiated by torch.autograd (float64)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    acts = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softplus": F.softplus,
        "abs": torch.abs,
        "identity": lambda a: a,
    }
    leaves = [
        (
            torch.tensor(W, dtype=torch.float64, requires_grad=True),
            torch.tensor(b, dtype=torch.float64, requires_grad=True),
        )
        for W, b in host_params
    ]
    X = torch.tensor(host_X, dtype=torch.float64, requires_grad=True)
    h = X
    for W, b in leaves[:-1]:
        h = acts[activation](F.linear(h, W, b))
    logits = F.linear(h, *leaves[-1])
    loss = F.cross_entropy(logits, torch.tensor(host_y, dtype=torch.int64))
    for (W, _), a, b in zip(leaves, l1s, l2s, strict=True):
        loss = loss + a * W.abs().sum() + b * (W**2).sum()
    loss.backward()
    grads = [(W.grad.numpy(), b.grad.numpy()) for W, b in leaves]
    return logits.detach().numpy(), loss.detach().numpy(), grads, X.grad.numpy()


@pytest.mark.parametrize("hidden", list(HIDDEN), ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_matches_torch_autograd(backend, activation, hidden):
    pytest.importorskip("torch")
    host_params, host_X, host_y = _problem(HIDDEN[hidden], activation, seed=80)
    params, X, y = _to_backend(backend, host_params, host_X, host_y, "float64")
    n_weights = len(params)
    l1, l2 = _strengths("per-layer", n_weights)
    got = _run_xpnet(params, X, y, activation, l1, l2)
    want = _torch_objective(host_params, host_X, host_y, activation, l1, l2)
    _assert_all_close(got, want, 1e-10, f"{backend.name} vs torch.autograd")


# ----------------------------------------------------------------------------- init_params


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_init_params_shapes_zero_biases_and_dtype(backend, dtype, activation):
    sizes = (D, 4, 6, M)
    params = mlp.init_params(
        sizes, activation=activation, xp=backend.xp, device=backend.device, dtype=dtype, seed=3
    )
    assert len(params) == 3
    for (W, b), fan_in, fan_out in zip(params, sizes[:-1], sizes[1:], strict=True):
        assert tuple(W.shape) == (fan_out, fan_in)  # (out, in)
        assert tuple(b.shape) == (fan_out,)
        assert W.dtype == b.dtype == backend.dtype(dtype)
        assert array_api_compat.device(W) == array_api_compat.device(b) == backend.device
        np.testing.assert_array_equal(to_np(b), 0.0)
        w = to_np(W)
        assert np.all(np.isfinite(w)) and np.unique(w).size == w.size  # no symmetry
        assert 0 < np.abs(w).max() <= 4 * math.sqrt(6.0 / fan_in)


def test_init_params_gives_the_same_numbers_on_every_backend(backend, dtype):
    numpy_backend = resolve_backend("numpy")
    sizes = (D, 6, M)
    reference = mlp.init_params(sizes, "relu", xp=numpy_backend.xp, dtype=dtype, seed=11)
    params = mlp.init_params(
        sizes, "relu", xp=backend.xp, device=backend.device, dtype=dtype, seed=11
    )
    for (W, b), (rW, rb) in zip(params, reference, strict=True):
        np.testing.assert_array_equal(to_np(W), to_np(rW))
        np.testing.assert_array_equal(to_np(b), to_np(rb))
    other = mlp.init_params(
        sizes, "relu", xp=backend.xp, device=backend.device, dtype=dtype, seed=12
    )
    assert not np.array_equal(to_np(other[0][0]), to_np(params[0][0]))


def test_init_params_defaults_and_generator_seed():
    params = mlp.init_params((3, 2), seed=0)
    assert isinstance(params[0][0], np.ndarray) and params[0][0].dtype == np.float32
    g1 = mlp.init_params((3, 4, 2), seed=np.random.default_rng(5), dtype="float64")
    g2 = mlp.init_params((3, 4, 2), seed=5, dtype="float64")
    np.testing.assert_array_equal(g1[0][0], g2[0][0])


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_init_params_block_draws_equal_one_uniform_call(monkeypatch, block):
    # the weights are numpy's own U(-bound, bound) stream, whatever the block size
    monkeypatch.setattr(mlp, "_DRAW_BLOCK_VALUES", block)
    sizes = (5, 9, 3)
    rng = np.random.default_rng(21)
    bounds = [math.sqrt(6.0 / 5), math.sqrt(6.0 / 9)]  # He et al. for relu
    expected = [
        rng.uniform(-bd, bd, size=(o, i)) for bd, i, o in zip(bounds, (5, 9), (9, 3), strict=True)
    ]
    for dtype, np_dtype in (("float64", np.float64), ("float32", np.float32)):
        params = mlp.init_params(sizes, "relu", dtype=dtype, seed=21)
        for (W, _), ref in zip(params, expected, strict=True):
            assert W.dtype == np_dtype
            np.testing.assert_array_equal(W, ref.astype(np_dtype))


def test_init_params_float32_never_holds_the_network_in_float64():
    import tracemalloc

    n = 1500  # a 1500 x 1500 layer: 9 MB as float32, 18 MB as float64
    tracemalloc.start()
    try:
        mlp.init_params((n, n, 2), dtype="float32", seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    float32_bytes = (n * n + 2 * n) * 4
    assert peak < float32_bytes + (8 << 20) + (1 << 20)  # one float64 block of 8 MiB at most
    assert peak < n * n * 8  # less than the layer in float64 alone


@pytest.mark.parametrize("hidden", [(10**7,), (2000, 10**6), (10**9,)])
def test_a_network_larger_than_the_memory_is_refused_before_allocating(monkeypatch, hidden):
    import tracemalloc

    monkeypatch.setattr(xpnet.backend, "physical_memory", lambda: 1 << 30)  # a 1 GiB machine
    sizes = (64, *hidden, 10)
    count = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="hidden_layer_sizes") as info:
            xpnet.MLPClassifier(hidden_layer_sizes=hidden, max_iter=1).fit(
                np.zeros((10, 64)), np.arange(10)
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{count:,} parameters" in str(info.value)
    assert f"{count * 4 / 2**30:,.1f} GiB as float32" in str(info.value)
    assert peak < 64 << 20  # nothing of the network's size (>= 2.5 GiB) was allocated


@pytest.mark.parametrize("sizes", [(3,), (), (3, 0, 2), (3, -1)])
def test_init_params_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        mlp.init_params(sizes)


def test_unknown_activation_is_a_value_error():
    params, X, y = _host_problem(HIDDEN["1-hidden"])
    with pytest.raises(ValueError, match="activation"):
        mlp.objective(params, X, y, "swish")
    with pytest.raises(ValueError, match="activation"):
        mlp.init_params((3, 2), activation="swish")


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_objective_rejects_strengths_of_the_wrong_length(name):
    params, X, y = _host_problem(HIDDEN["1-hidden"])
    with pytest.raises(ValueError, match=name):
        mlp.objective(params, X, y, "relu", **{name: [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match=name):
        mlp.objective(params, X, y, "relu", **{name: -0.1})
