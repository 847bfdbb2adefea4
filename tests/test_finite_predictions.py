"""Predictions are never NaN in silence.

Finite inputs that overflow a float32 network (3e38 in X) are computed again
in float64 and give the probabilities (or, where they fit, the regression
outputs) of a NumPy float64 forward pass of the same parameters; what cannot
be finite is a ``NonFiniteOutputError`` naming the rows. A run that diverges
keeps only parameters that predict finite values on the training data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import to_np

import xpnet
from xpnet.exceptions import NonFiniteOutputError

F32_MAX = float(np.finfo(np.float32).max)


def _forward64(params, X, activation="relu"):
    """The network's outputs o_a in NumPy float64 (the reference)."""
    h = np.asarray(X, dtype=np.float64)
    act = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh}[activation]
    with np.errstate(over="ignore", invalid="ignore"):
        for W, b in params[:-1]:
            h = act(h @ to_np(W).astype(np.float64).T + to_np(b).astype(np.float64))
        W, b = params[-1]
        return h @ to_np(W).astype(np.float64).T + to_np(b).astype(np.float64)


def _softmax64(o):
    e = np.exp(o - o.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


_FITTED: dict = {}


def _fitted_clf(backend, activation="relu", fresh=False):
    """A small fitted classifier (one fit per backend and activation unless ``fresh``)."""
    X, y = _data()
    key = (backend.name, activation)
    if fresh or key not in _FITTED:
        clf = xpnet.MLPClassifier(
            (6,),
            activation=activation,
            max_iter=5,
            random_state=0,
            backend=backend.name,
            compile="none",
        )
        _FITTED[key] = _quiet(clf.fit, X, y)
        if fresh:
            return _FITTED.pop(key), X
    return _FITTED[key], X


# ----------------------------------------------------------------------------- extreme inputs


@pytest.mark.parametrize(
    "extreme",
    [[3e38, 3e38, 3e38], [-3e38, 1.0, 3e38], [F32_MAX, -F32_MAX, 0.0], [1e38, 2e38, -3e38]],
    ids=["all-3e38", "mixed", "float32-max", "large"],
)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_finite_extreme_inputs_give_the_float64_probabilities(backend, extreme, activation):
    clf, X = _fitted_clf(backend, activation)
    Xe = np.concatenate([X[:4], np.array([extreme])]).astype(np.float32)
    assert np.isfinite(Xe).all()
    with np.errstate(over="ignore", invalid="ignore"):
        naive = _forward64([(to_np(W), to_np(b)) for W, b in clf.params_], Xe, activation)
    proba = to_np(clf.predict_proba(backend.asarray(Xe)))
    assert proba.dtype == np.float32 and np.isfinite(proba).all()
    expected = _softmax64(naive)
    assert np.isfinite(expected).all()  # finite in float64: so must the answer be
    np.testing.assert_allclose(proba, expected, atol=2e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    labels = to_np(clf.predict(backend.asarray(Xe)))
    np.testing.assert_array_equal(labels, clf.classes_[np.argmax(naive, axis=1)])
    log_proba = to_np(clf.predict_log_proba(backend.asarray(Xe)))
    assert not np.isnan(log_proba).any()
    sure = expected > 1e-30
    np.testing.assert_allclose(log_proba[sure], np.log(expected[sure]), atol=1e-5)


def test_regression_outputs_that_fit_are_answered_and_those_that_do_not_are_refused(backend):
    X, _ = _data()
    reg = _quiet(
        xpnet.MLPRegressor(
            (4,), max_iter=2, random_state=0, backend=backend.name, compile="none"
        ).fit,
        X,
        X[:, 0],
    )
    # hidden units sum three 3e38 inputs (beyond float32), the output layer scales them back
    reg.params_ = [(np.ones((4, 3)), np.zeros(4)), (np.full((1, 4), 1e-3), np.zeros(1))]
    fits = np.array([[3e38, 3e38, 3e38], [1.0, 2.0, 3.0]], dtype=np.float32)
    expected = _forward64(reg.params_, fits)[:, 0]
    assert np.isfinite(expected).all() and np.abs(expected).max() < F32_MAX
    got = to_np(reg.predict(backend.asarray(fits)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # an output layer that scales them up: beyond float32 even computed in float64
    reg.params_ = [(np.ones((4, 3)), np.zeros(4)), (np.full((1, 4), 10.0), np.zeros(1))]
    assert np.abs(_forward64(reg.params_, fits[:1])).max() > F32_MAX
    with pytest.raises(
        NonFiniteOutputError, match=r"predict: .*1 row\(s\) of X \(the first: row 0\)"
    ):
        reg.predict(backend.asarray(fits))
    assert isinstance(NonFiniteOutputError("x"), ValueError)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda ps: [(ps[0][0] * np.nan, ps[0][1]), ps[1]],
        lambda ps: [ps[0], (ps[1][0], ps[1][1] + np.inf)],
        lambda ps: [(ps[0][0] * 1e200, ps[0][1]), (ps[1][0] * 1e200, ps[1][1])],
    ],
    ids=["nan-weight", "inf-bias", "beyond-float32"],
)
def test_parameters_that_cannot_predict_finite_values_are_refused(backend, spoil):
    clf, X = _fitted_clf(backend, fresh=True)  # its params_ are spoiled below
    params = [(to_np(W).astype(np.float64), to_np(b).astype(np.float64)) for W, b in clf.params_]
    bad = spoil(params)
    clf.params_ = bad
    with np.errstate(all="ignore"):
        assert not np.isfinite(_forward64(bad, X)).all()  # NumPy float64 says: no number
    for method in ("predict_proba", "predict", "predict_log_proba"):
        with pytest.raises(NonFiniteOutputError, match=rf"{method}: the network's outputs"):
            getattr(clf, method)(backend.asarray(X, "float32"))


# ----------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("lr", [1e2, 1e6])
def test_a_diverged_run_keeps_parameters_that_predict_finite_probabilities(backend, lr):
    """SGD at huge rates: the last finished epoch can leave finite parameters of ~1e19 whose
    outputs overflow; the kept ones predict finite probabilities on the training data."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = xpnet.MLPClassifier(
        (8,),
        solver="sgd",
        learning_rate_init=lr,
        batch_size=50,
        max_iter=6,
        random_state=0,
        backend=backend.name,
        compile="none",
    )
    with pytest.raises(xpnet.DivergenceError, match="restored to the start of epoch"):
        _quiet(clf.fit, X, y)
    proba = to_np(clf.predict_proba(backend.asarray(X, "float32")))
    assert np.isfinite(proba).all()
    o = _forward64(clf.params_, X.astype(np.float32))
    assert np.isfinite(o).all()
    # rows whose float64 margin is clear of float32's rounding of logits this large
    clear = np.abs(o[:, 0] - o[:, 1]) > 1e-4 * np.abs(o).max(axis=1)
    np.testing.assert_allclose(proba[clear], _softmax64(o)[clear], atol=1e-5)
    # the attributes describe the kept parameters: one history row per epoch they went through
    assert len(clf.history_["epoch"]) == clf.n_iter_ == len(clf.loss_curve_)


def test_the_roll_back_goes_back_an_epoch_when_its_start_already_overflows():
    """NumPy, deterministic: epoch 1 ends with parameters that overflow the outputs, epoch 2
    diverges at once; the parameters kept are epoch 1's start (the initial ones)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    kw = dict(solver="sgd", learning_rate_init=1e6, batch_size=50, random_state=0)
    clf = xpnet.MLPClassifier((8,), max_iter=6, backend="numpy", **kw)
    with pytest.raises(xpnet.DivergenceError, match=r"epoch 2: .*start of epoch 1\b"):
        _quiet(clf.fit, X, y)
    init = _quiet(xpnet.MLPClassifier((8,), max_iter=1, backend="numpy", **kw).fit, X, y)
    assert clf.n_iter_ == 0 and clf.history_["epoch"] == []
    # the initial parameters (same seed): what a fit of one epoch started from, before its step
    first = xpnet.MLPClassifier((8,), max_iter=1, backend="numpy", **kw)
    first.set_params(learning_rate_init=1e-300)  # a step of ~0: the initial weights
    _quiet(first.fit, X, y)
    for (W, b), (W0, b0) in zip(clf.params_, first.params_, strict=True):
        np.testing.assert_allclose(W, W0, rtol=1e-6)
        np.testing.assert_allclose(b, b0, atol=1e-30)
    assert np.abs(init.params_[0][0]).max() > 1e3  # one epoch at that rate did blow them up


def test_a_run_that_starts_from_parameters_that_overflow_says_so():
    """No earlier parameters to go back to: the error says they predict NaN or inf, and
    predict refuses instead of answering NaN."""
    X, y = _data()
    clf = _quiet(xpnet.MLPClassifier((6,), max_iter=1, random_state=0, backend="numpy").fit, X, y)
    clf.params_ = [(W * 1e20, b) for W, b in clf.params_]
    clf.set_params(warm_start=True, max_iter=2)
    with pytest.raises(xpnet.DivergenceError, match="predict NaN or inf on the training data"):
        _quiet(clf.fit, X, y)
    with np.errstate(all="ignore"):
        o32 = _forward64(clf.params_, X).astype(np.float32)  # float32 overflows ...
    assert not np.isfinite(o32).all()
    o = _forward64(clf.params_, X)  # ... float64 does not: predict answers from it
    assert np.isfinite(o).all()
    clear = np.abs(o[:, 0] - o[:, 1]) > 1e-4 * np.abs(o).max(axis=1)
    proba = to_np(clf.predict_proba(X))
    np.testing.assert_allclose(proba[clear], _softmax64(o)[clear], atol=1e-5)
    clf.params_ = [(W * np.inf, b) for W, b in clf.params_]  # no number at all: refused
    with pytest.raises(NonFiniteOutputError, match="predict_proba"):
        clf.predict_proba(X)


@pytest.mark.parametrize("lr", [1e2, 1e4, 1e6])
def test_halving_keeps_parameters_that_predict_finite_probabilities(lr):
    """on_divergence='halve_lr' gives up once no rate helps (the gradients themselves
    overflow); what it keeps predicts finite probabilities, its history one row per epoch."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = xpnet.MLPClassifier(
        (8,),
        solver="sgd",
        learning_rate_init=lr,
        batch_size=50,
        max_iter=6,
        random_state=0,
        on_divergence="halve_lr",
        backend="numpy",
    )
    try:
        _quiet(clf.fit, X, y)
    except xpnet.DivergenceError:
        pass
    o = _forward64(clf.params_, X.astype(np.float32))
    assert np.isfinite(o).all()
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    clear = np.abs(o[:, 0] - o[:, 1]) > 1e-4 * np.abs(o).max(axis=1)
    np.testing.assert_allclose(proba[clear], _softmax64(o)[clear], atol=1e-5)
    rates = clf.history_["learning_rate"]
    assert len(rates) == clf.n_iter_ == len(clf.loss_curve_)
    assert np.all(np.diff(rates) <= 0) and rates[0] <= lr
