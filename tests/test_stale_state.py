"""No state that can go stale: the estimator's private copies follow its public attributes.

The optimizer's state and the stopping record belong to the weights they were
trained with: after ``load``, or once ``params_`` / ``coefs_`` /
``intercepts_`` is assigned, partial_fit starts a new optimizer from
``params_``; a new ``backend`` or ``dtype`` moves them; a new ``solver`` is
refused by partial_fit and gets a new optimizer in a warm fit; a new
``random_state`` seeds a new shuffling sequence; new ``hidden_layer_sizes``
that ``params_`` does not have are refused, naming the parameter.

The reference for "a new optimizer from these weights" is the closed form of
one full-batch step, computed here in NumPy float64: for SGD without momentum
``W - lr g``; for Adam's first step ``W - lr g / (|g| + eps / sqrt(1 - b2))``
(the bias-corrected moments of one gradient), with g the gradient of the mean
cross-entropy of a ReLU network written out below.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from conftest import rel_err, to_np

import xpnet

N, D, H, K = 40, 3, 5, 3
LR = 0.01


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = np.argmax(X @ rng.normal(size=(D, K)), axis=1)
    return X, y


def _clf(backend_name: str = "numpy", **kw) -> xpnet.MLPClassifier:
    base = dict(
        hidden_layer_sizes=(H,),
        batch_size=N,
        shuffle=False,
        learning_rate_init=LR,
        alpha=0.0,
        dtype="float64",
        random_state=0,
        max_iter=2,
        n_iter_no_change=100,
        backend=backend_name,
        compile="none",  # tiny networks: eager is faster than compiling each fit
    )
    base.update(kw)
    return xpnet.MLPClassifier(**base)


def _quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


def _np_params(est) -> list:
    return [(to_np(W).astype(np.float64), to_np(b).astype(np.float64)) for W, b in est.params_]


def _grads(params: list, X: np.ndarray, y: np.ndarray) -> list:
    """d/dparams of mean_i CE(softmax(o_i), y_i) for a ReLU network, NumPy float64."""
    acts, h = [X], X
    for W, b in params[:-1]:
        h = np.maximum(h @ W.T + b, 0.0)
        acts.append(h)
    W, b = params[-1]
    o = h @ W.T + b
    p = np.exp(o - o.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - np.eye(o.shape[1])[y]) / X.shape[0]
    grads = [None] * len(params)
    for k in range(len(params) - 1, -1, -1):
        grads[k] = (delta.T @ acts[k], delta.sum(axis=0))
        if k:
            delta = (delta @ params[k][0]) * (acts[k] > 0)
    return grads


def _sgd_step(params, X, y, lr=LR):
    return [
        (W - lr * gW, b - lr * gb)
        for (W, b), (gW, gb) in zip(params, _grads(params, X, y), strict=True)
    ]


def _first_adam_step(params, X, y, lr=LR, b2=0.999, eps=1e-8):
    e = eps / np.sqrt(1.0 - b2)
    return [
        (W - lr * gW / (np.abs(gW) + e), b - lr * gb / (np.abs(gb) + e))
        for (W, b), (gW, gb) in zip(params, _grads(params, X, y), strict=True)
    ]


def _assert_params(est, expected, tol=1e-9):
    for (W, b), (W_ref, b_ref) in zip(_np_params(est), expected, strict=True):
        assert rel_err(W, W_ref) <= tol and rel_err(b, b_ref) <= tol


def _trained(backend_name="numpy", **kw):
    X, y = _data()
    return _quiet(_clf(backend_name, **kw).fit, X, y), X, y


# ----------------------------------------------------------------------------- load, assignment


def test_load_then_partial_fit_continues_the_files_weights_with_a_new_optimizer(backend, tmp_path):
    """The file holds weights, no optimizer state: partial_fit after load is a fresh Adam's
    first step from them (documented); a pickle keeps the optimizer state instead."""
    if backend.name.startswith("jax"):
        pytest.importorskip("jax")
    est, X, y = _trained(max_iter=3)
    path = est.save(tmp_path / "m.npz")
    loaded = xpnet.MLPClassifier.load(path, backend=backend.name)
    start = _np_params(loaded)
    loaded.partial_fit(X, y)
    assert loaded.backend_ == backend.name
    _assert_params(loaded, _first_adam_step(start, X, y))
    again = xpnet.MLPClassifier.load(path, backend=backend.name)
    again.partial_fit(X, y)
    again.partial_fit(X, y)  # the second step continues the first one's state
    assert rel_err(_np_params(again)[0][0], _first_adam_step(_np_params(loaded), X, y)[0][0]) > 1e-6
    # a pickled model keeps its optimizer: the same step as the model it was copied from
    copy = pickle.loads(pickle.dumps(est))
    est.partial_fit(X, y)
    copy.partial_fit(X, y)
    _assert_params(copy, _np_params(est), tol=1e-12)
    assert rel_err(_np_params(copy)[0][0], _first_adam_step(start, X, y)[0][0]) > 1e-6


@pytest.mark.parametrize("how", ["params_", "coefs_", "intercepts_", "one layer", "pickled"])
def test_assigned_weights_get_a_new_optimizer_in_partial_fit(backend, how):
    """Adam's moments belong to the weights they were trained with: after an assignment the
    step is a first step from the assigned weights, not a continuation."""
    est, X, y = _trained(backend.name)
    _quiet(est.partial_fit, X, y)  # the optimizer has a state now
    rng = np.random.default_rng(7)
    new = [(rng.normal(size=W.shape), rng.normal(size=b.shape)) for W, b in _np_params(est)]
    if how == "params_":
        est.params_ = new
    elif how == "coefs_":
        est.coefs_ = [W.T for W, _ in new]
        new = [(W, b) for (W, _), (_, b) in zip(new, _np_params(est), strict=True)]
    elif how == "intercepts_":
        est.intercepts_ = [b for _, b in new]
        new = [(W, b) for (W, _), (_, b) in zip(_np_params(est), new, strict=True)]
    elif how == "one layer":
        est.params_[1] = new[1]
        new = [_np_params(est)[0], new[1]]
    else:
        est.params_ = new
        est = pickle.loads(pickle.dumps(est))
    est.partial_fit(X, y)
    _assert_params(est, _first_adam_step(new, X, y))
    # and the next step continues that new state: no longer a first step
    before = _np_params(est)
    est.partial_fit(X, y)
    assert rel_err(_np_params(est)[0][0], _first_adam_step(before, X, y)[0][0]) > 1e-6


def test_assigned_weights_are_not_undone_by_the_best_parameters_of_an_earlier_run():
    """early_stopping keeps the best parameters; after an assignment the earlier run's best
    ones are not brought back at the end of a warm fit."""
    X, y = _data()
    X, y = np.concatenate([X] * 3), np.concatenate([y] * 3)
    est = _quiet(
        _clf(early_stopping=True, warm_start=True, max_iter=20, learning_rate_init=0.05).fit, X, y
    )
    assert max(np.abs(W).max() for W, _ in _np_params(est)) > 0.1
    est.params_ = [(W * 0, b * 0) for W, b in _np_params(est)]
    est.set_params(max_iter=1, learning_rate_init=1e-6)
    _quiet(est.fit, X, y)
    # one epoch of Adam at lr 1e-6 moves each weight by at most ~1e-6 per step
    assert max(np.abs(W).max() for W, _ in _np_params(est)) < 1e-4


@pytest.mark.parametrize(
    "params, match",
    [
        (lambda ps: [(ps[0][0][:, :2], ps[0][1]), ps[1]], r"params_: layer 0 .*\(out, 3\)"),
        (lambda ps: [(ps[0][0], ps[0][1][:2]), ps[1]], r"params_: layer 0 .*b of shape"),
        (lambda ps: [ps[0], (ps[1][0][:2], ps[1][1][:2])], r"params_: the last layer has 2"),
        (lambda ps: [ps[0], (ps[1][0][:, :2], ps[1][1])], r"params_: layer 1"),
        (lambda ps: [], r"params_: expected at least one"),
    ],
    ids=["inputs", "bias", "outputs", "chain", "empty"],
)
def test_assigned_weights_that_do_not_fit_the_model_are_refused_by_name(params, match):
    est, X, y = _trained()
    est.params_ = params(_np_params(est))
    for call in (est.predict, est.predict_proba, lambda X: est.partial_fit(X, y)):
        with pytest.raises(ValueError, match=match):
            call(X)


# ----------------------------------------------------------------------------- solver, backend


@pytest.mark.parametrize(
    "first, then",
    [
        (dict(solver="adam"), dict(solver="sgd", momentum=0.0)),
        (dict(solver="sgd", momentum=0.9), dict(solver="adam")),
        (dict(solver="sgd", momentum=0.9), dict(momentum=0.0)),
    ],
    ids=["adam-sgd", "sgd-adam", "momentum-none"],
)
def test_another_solver_is_refused_by_partial_fit_and_gets_a_new_optimizer_in_a_warm_fit(
    backend, first, then
):
    est, X, y = _trained(backend.name, **first)
    est.partial_fit(X, y)
    kept = _np_params(est)
    est.set_params(**then)
    with pytest.raises(ValueError, match="solver"):
        est.partial_fit(X, y)
    _assert_params(est, kept, tol=0)  # the refusal changed nothing
    # a warm fit builds the new solver's optimizer from the current weights
    est.set_params(warm_start=True, max_iter=1)
    _quiet(est.fit, X, y)
    step = _sgd_step if est.solver == "sgd" else _first_adam_step  # (sgd without momentum)
    _assert_params(est, step(kept, X, y))
    est.partial_fit(X, y)  # and partial_fit continues that one


def test_a_new_backend_moves_the_weights_and_the_optimizer_state(backend):
    """Trained on NumPy, moved by set_params(backend=...): predict, partial_fit and a warm fit
    run on the new backend and agree with the model that stayed on NumPy."""
    if backend.name.startswith("jax"):
        import jax

        if not jax.config.read("jax_enable_x64"):
            pytest.skip("jax float64 needs 64-bit mode")
    est, X, y = _trained()
    ref, _, _ = _trained()
    _quiet(est.partial_fit, X, y)
    _quiet(ref.partial_fit, X, y)
    est.set_params(backend=backend.name)
    Xb = backend.asarray(X, "float64")
    proba = est.predict_proba(Xb)
    assert xpnet.get_backend(proba).name == backend.name
    assert rel_err(proba, ref.predict_proba(X)) < 1e-12
    for _ in range(2):
        est.partial_fit(X, y)
        ref.partial_fit(X, y)
    assert est.backend_ == backend.name
    assert xpnet.get_backend(est.params_[0][0]).name == backend.name
    _assert_params(est, _np_params(ref), tol=1e-10)
    est.set_params(backend="numpy", warm_start=True, max_iter=1)
    ref.set_params(warm_start=True, max_iter=1)
    _quiet(est.fit, X, y)
    _quiet(ref.fit, X, y)
    _assert_params(est, _np_params(ref), tol=1e-10)


def test_a_new_dtype_converts_the_weights_and_the_optimizer_state():
    est, X, y = _trained(dtype="float32")
    _quiet(est.partial_fit, X, y)
    est.set_params(dtype="float64")
    start = _np_params(est)
    est.partial_fit(X, y)
    assert all(W.dtype == np.float64 for W, _ in est.params_)
    # a continued Adam state (not a first step), computed in float64
    assert rel_err(_np_params(est)[0][0], _first_adam_step(start, X, y)[0][0]) > 1e-6
    assert rel_err(_np_params(est)[0][0], start[0][0]) < 0.1


# ----------------------------------------------------------------------------- sizes, seeds


@pytest.mark.parametrize("new", [(H + 2,), (H, 4), 2])
def test_new_hidden_layer_sizes_that_params_do_not_have_are_refused_by_name(new):
    est, X, y = _trained(warm_start=True)
    kept = _np_params(est)
    est.set_params(hidden_layer_sizes=new)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes: warm_start continues params_"):
        _quiet(est.fit, X, y)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes: partial_fit continues params_"):
        est.partial_fit(X, y)
    _assert_params(est, kept, tol=0)
    est.set_params(warm_start=False)  # starting over takes the new sizes
    _quiet(est.fit, X, y)
    sizes = (new,) if isinstance(new, int) else new
    assert [W.shape[0] for W, _ in est.params_][:-1] == list(sizes)


@pytest.mark.parametrize("new_seed", [1, 5, "RandomState(3)"])
def test_a_new_random_state_seeds_a_new_shuffling_sequence_in_a_warm_fit(new_seed, tmp_path):
    """A warm fit continues the shuffling generator only while random_state is the one that
    seeded it; otherwise it shuffles as a model that never had a generator (a loaded one)."""
    X, y = _data()
    kw = dict(shuffle=True, batch_size=10, warm_start=True, max_iter=1)
    a = _quiet(_clf(random_state=0, **kw).fit, X, y)
    c = _quiet(_clf(random_state=0, **kw).fit, X, y)  # keeps random_state=0: continues
    loaded = xpnet.MLPClassifier.load(a.save(tmp_path / "a.npz"), backend="numpy")
    for est in (a, loaded):
        seed = np.random.RandomState(3) if new_seed == "RandomState(3)" else new_seed
        est.set_params(random_state=seed, warm_start=True, max_iter=1)
        _quiet(est.fit, X, y)
    _quiet(c.fit, X, y)
    _assert_params(a, _np_params(loaded), tol=1e-12)  # the new seed's sequence from its start
    assert rel_err(_np_params(a)[0][0], _np_params(c)[0][0]) > 1e-8


# ----------------------------------------------------------------------------- eval-set names


def test_eval_set_names_that_are_history_columns_are_refused_before_any_work(backend):
    X, y = _data()
    est = _clf(backend.name, max_iter=1)
    for name in ("train", "val", "epoch", "learning_rate", "seconds"):
        with pytest.raises(ValueError, match=rf"eval_sets: the name '{name}' is taken"):
            _quiet(est.fit, X, y, eval_sets={name: (X, y)})
        assert not est.__sklearn_is_fitted__()
    with pytest.raises(TypeError, match="eval_sets: names must be non-empty strings"):
        _quiet(est.fit, X, y, eval_sets={"": (X, y)})
    fitted = _quiet(est.fit, X, y, eval_sets={"test": (X, y)})
    assert set(fitted.history_) >= {"test_loss", "test_error", "train_loss", "train_error"}
