"""The compiled step: jit-safe math, autodiff-correct activations, compiled = eager training.

References: ``jax.grad`` and ``torch.autograd`` for the derivatives (at 0 too),
the eager NumPy float64 run for the compiled one, and the derivation's
conventions rect'(0) = abs'(0) = 0.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import rel_err, resolve_backend, to_np

import xpnet
from xpnet import functional as F
from xpnet import optim

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "abs", "identity")
# derivative at exactly 0, from the calculus (and the derivation's conventions for the kinks)
AT_ZERO = {"relu": 0.0, "tanh": 1.0, "sigmoid": 0.25, "softplus": 0.5, "abs": 0.0, "identity": 1.0}
# within |x| <= 4, where the formulas from h_s (1 - h_s^2, h_s (1 - h_s)) keep a relative
# 1e-12 (beyond, 1 - h_s^2 cancels: its error grows like eps / (1 - h_s^2))
POINTS = np.array([-4.0, -3.0, -0.5, -1e-3, 0.0, 1e-3, 0.7, 2.0, 4.0])


@pytest.fixture
def x64():
    if not HAS_JAX:
        pytest.skip("jax is not installed")
    import jax

    with jax.enable_x64(True):
        yield


# ----------------------------------------------------------------------------- autodiff


@needs_jax
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_jax_grad_through_functional_equals_the_hand_derivative(name, x64):
    import jax
    import jax.numpy as jnp

    act = F.get_activation(name)
    x = jnp.asarray(POINTS)
    auto = jax.vmap(jax.grad(lambda v: act.fn(v)))(x)
    np.testing.assert_allclose(np.asarray(auto), to_np(act.grad(x)), rtol=1e-12, atol=1e-300)
    assert float(auto[POINTS.tolist().index(0.0)]) == AT_ZERO[name]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_torch_autograd_through_functional_equals_the_hand_derivative(name):
    import torch

    act = F.get_activation(name)
    x = torch.tensor(POINTS, requires_grad=True)
    act.fn(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), to_np(act.grad(x.detach())), rtol=1e-12, atol=1e-300)
    assert float(x.grad[POINTS.tolist().index(0.0)]) == AT_ZERO[name]


# ----------------------------------------------------------------------------- jit-safe math


@needs_jax
def test_objective_jits_again_for_new_shapes_and_other_functions(x64):
    """No module-level cache keeps a traced array: each new trace must work."""
    import jax

    b = xpnet.get_backend("jax:cpu")
    rng = np.random.default_rng(0)
    cases = (
        (5, 7, 3, 11, "relu"),
        (4, 6, 2, 9, "tanh"),
        (5, 7, 3, 4, "relu"),
        (3, 8, 4, 6, "softplus"),
    )
    for d, h, m, n, act in cases:
        params = xpnet.mlp.init_params((d, h, m), act, b.xp, b.device, "float64", seed=1)
        X = rng.normal(size=(n, d))
        y = rng.integers(0, m, n)

        def value_and_grads(params, X, y, act=act):
            value, grads, _ = xpnet.mlp.objective(params, X, y, act, l1=0.01, l2=0.02)
            return value, grads

        value, grads = jax.jit(value_and_grads)(params, b.asarray(X), b.asarray(y))
        params_np = [(to_np(W), to_np(c)) for W, c in params]
        ref_value, ref_grads, _ = xpnet.mlp.objective(params_np, X, y, act, l1=0.01, l2=0.02)
        assert rel_err(value, ref_value) < 1e-12
        for (dW, db), (rW, rb) in zip(grads, ref_grads, strict=True):
            assert rel_err(dW, rW) < 1e-12 and rel_err(db, rb) < 1e-12


def _schedule_of(n: int):
    # scikit-learn's invscaling with 3 steps per epoch and n samples, written with operators
    return lambda count: 0.1 / ((count // 3) * n + 1) ** 0.5


@needs_jax
@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.sgd(0.1),
        lambda: optim.sgd(0.1, momentum=0.9),
        lambda: optim.sgd(_schedule_of(50), momentum=0.9, nesterov=True),
        lambda: optim.adam(0.01),
        lambda: optim.adam(_schedule_of(50)),
    ],
    ids=["sgd", "momentum", "nesterov-invscaling", "adam", "adam-invscaling"],
)
def test_update_jits_repeatedly_and_equals_eager_numpy(make, x64):
    import jax

    b = xpnet.get_backend("jax:cpu")
    rng = np.random.default_rng(2)
    for shape in ((3, 4), (5,), (3, 4)):
        opt = make()
        host = [(rng.normal(size=shape), rng.normal(size=shape[:1]))]
        params = [(b.asarray(W), b.asarray(c)) for W, c in host]
        state, ref_state = opt.init(params), opt.init(host)
        ref = host
        update = jax.jit(opt.update)
        for _ in range(5):
            g_host = [(rng.normal(size=shape), rng.normal(size=shape[:1]))]
            grads = [(b.asarray(W), b.asarray(c)) for W, c in g_host]
            params, state = update(grads, state, params)
            ref, ref_state = opt.update(g_host, ref_state, ref)
        assert int(state.count) == ref_state.count == 5
        for (W, c), (rW, rc) in zip(params, ref, strict=True):
            assert rel_err(W, rW) < 1e-12 and rel_err(c, rc) < 1e-12


# ----------------------------------------------------------------------------- compiled training


def _digits(n=400):
    X, y = xpnet.datasets.load_digits()
    return X[:n] / 16.0, y[:n]


def _fit(backend, compile, dtype, max_iter, **kw):
    X, y = _digits()
    params = dict(
        hidden_layer_sizes=(16,),
        batch_size=64,  # 400 = 6 x 64 + 16: a smaller last batch
        max_iter=max_iter,
        n_iter_no_change=1000,
        random_state=3,
        backend=backend,
        compile=compile,
        dtype=dtype,
    )
    params.update(kw)
    clf = xpnet.MLPClassifier(**params)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y)


def _max_rel(a, b):
    return max(
        max(rel_err(W, rW), rel_err(c, rc))
        for (W, c), (rW, rc) in zip(a.params_, b.params_, strict=True)
    )


@needs_jax
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_compiled_jax_float64_equals_eager_numpy_after_twenty_steps(solver, x64):
    # 400 rows in batches of 64: 7 steps an epoch, so 3 epochs are 21 steps
    kw = dict(solver=solver, learning_rate_init=0.05 if solver == "sgd" else 0.01, l1=1e-4, l2=1e-3)
    compiled = _fit("jax:cpu", "jit", "float64", 3, **kw)
    eager = _fit("numpy", "none", "float64", 3, **kw)
    assert _max_rel(compiled, eager) < 1e-10
    np.testing.assert_allclose(compiled.loss_curve_, eager.loss_curve_, rtol=1e-10)


@needs_jax
@pytest.mark.x32
def test_compiled_jax_float32_equals_eager_after_three_epochs():
    compiled = _fit("jax:cpu", "auto", "float32", 3)
    eager = _fit("jax:cpu", "none", "float32", 3)
    assert _max_rel(compiled, eager) < 1e-5
    reference = _fit("numpy", "none", "float32", 3)
    assert _max_rel(compiled, reference) < 1e-5
    assert compiled.history_["train_error"] == pytest.approx(eager.history_["train_error"])


@needs_jax
@pytest.mark.x32
def test_compiled_jax_rolls_back_a_diverged_epoch():
    X, y = _digits()
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(16,),
        solver="sgd",
        learning_rate_init=1e12,
        momentum=0.0,
        batch_size=128,  # several steps in epoch 1: it diverges there, from the initial weights
        max_iter=2,
        random_state=0,
        backend="jax:cpu",
        compile="auto",
    )
    with pytest.raises(xpnet.DivergenceError) as info:
        clf.fit(X, y)
    assert len(info.value.state.params) == 2
    for W, c in clf.params_:  # the parameters of the epoch's start: finite, usable
        assert np.all(np.isfinite(to_np(W))) and np.all(np.isfinite(to_np(c)))
    assert np.all(np.isfinite(to_np(clf.predict_proba(X[:5]))))


@pytest.mark.parametrize("spec", ["torch:cpu", "torch:cuda"])
def test_torch_compile_equals_eager(spec):
    resolve_backend(spec)
    compiled = _fit(spec, "jit", "float32", 2)
    eager = _fit(spec, "none", "float32", 2)
    assert _max_rel(compiled, eager) < 1e-5


@pytest.mark.parametrize("spec", ["numpy", "array_api_strict"])
def test_jit_where_the_backend_cannot_compile_is_a_value_error(spec):
    resolve_backend(spec)
    X, y = _digits(50)
    clf = xpnet.MLPClassifier(max_iter=1, backend=spec, compile="jit")
    with pytest.raises(ValueError, match="compile='jit'"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match="compile"):
        xpnet.MLPClassifier(max_iter=1, backend=spec, compile="xla").fit(X, y)


# ----------------------------------------------------------------------------- backends


@needs_jax
def test_float64_on_jax_without_x64_says_how_to_enable_it():
    import jax

    X, y = _digits(50)
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="JAX_ENABLE_X64"):
            xpnet.MLPClassifier(max_iter=1, backend="jax:cpu", dtype="float64").fit(X, y)


def _module_specs():
    specs = ["numpy", "array_api_strict", "array_api_strict:device1", "torch:cpu", "jax:cpu"]
    modules = ["numpy", "array_api_strict", "torch", "jax.numpy", "array_api_compat.numpy"]
    return specs, modules


@pytest.mark.parametrize("spec", _module_specs()[0])
def test_a_backend_name_resolves_to_itself(spec):
    b = resolve_backend(spec)
    assert xpnet.get_backend(b.name).name == b.name
    # the same from one of its arrays
    arr = b.asarray(np.zeros(3, dtype=np.float32))
    assert xpnet.get_backend(arr).name == b.name


@pytest.mark.parametrize("module", _module_specs()[1])
def test_a_module_spec_gives_a_name_that_resolves_again(module):
    mod = pytest.importorskip(module)
    b = xpnet.get_backend(mod)
    assert xpnet.get_backend(b.name).name == b.name
    assert ":" not in b.name or b.name.split(":")[0] in ("torch", "jax", "cupy", "array_api_strict")


def test_jax_gpu_is_cuda_zero_or_says_why():
    if not HAS_JAX:
        pytest.skip("jax is not installed")
    try:
        b = xpnet.get_backend("jax:gpu")
    except xpnet.BackendUnavailableError as e:
        assert "jax" in str(e) and "install" in str(e)
    else:
        assert b.name == "jax:cuda:0"


def test_array_api_strict_devices_are_kept():
    b = resolve_backend("array_api_strict:device1")
    import array_api_strict

    params = xpnet.mlp.init_params((4, 3, 2), xp=b.xp, device=b.device, seed=0)
    assert all(W.device == b.device and c.device == b.device for W, c in params)
    X, y = _digits(60)
    X_dev = b.asarray(X, "float32")
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, backend=b.name).fit(X_dev, y)
    assert clf.backend_ == "array_api_strict:device1"
    out = clf.predict_proba(X_dev)
    assert out.device == array_api_strict.Device("device1")
    assert all(W.device == b.device for W, _ in clf.params_)
