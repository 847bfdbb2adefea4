"""Training that goes wrong stops cleanly; data too big for the device stream from the host.

Divergence: a NaN/inf loss (or a parameter that overflows) raises
``DivergenceError`` and leaves the estimator with its last good parameters;
``on_divergence="halve_lr"`` retries the epoch from them with half the
learning rate, and the history records the rate actually used.

Memory: when the data do not fit in the device's free memory (here: a
``Backend.free_memory`` that reports a few bytes), the training, validation
and eval sets stay on the host and minibatches are moved one by one; the run
is bit-identical to the ordinary one, and verbose mode says so and how much
memory was needed. Prediction works in chunks.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import xpnet
from xpnet.backend import Backend, host_rng
from xpnet.datasets import load_digits
from xpnet.estimators import base as est_module
from xpnet.mlp import init_params

X_DIGITS, Y_DIGITS = load_digits()


def _clf(**params) -> xpnet.MLPClassifier:
    settings = dict(hidden_layer_sizes=(32,), random_state=0, backend="numpy", max_iter=3)
    settings.update(solver="sgd", learning_rate_init=0.01, batch_size=128)  # the old defaults
    settings.update(params)
    return xpnet.MLPClassifier(**settings)


def _host(params) -> list[np.ndarray]:
    return [np.array(xpnet.to_numpy(a)) for pair in params for a in pair]


def _all_finite(params) -> bool:
    return all(np.isfinite(a).all() for a in _host(params))


# ------------------------------------------------------------------ divergence


def test_a_huge_learning_rate_diverges_in_epoch_1_and_keeps_the_initial_parameters():
    clf = _clf(learning_rate_init=1e12)
    with pytest.raises(xpnet.DivergenceError, match="epoch 1") as caught:
        clf.fit(X_DIGITS, Y_DIGITS)
    assert isinstance(caught.value, FloatingPointError)
    assert "halve_lr" in str(caught.value), "the message says what to do"
    b = xpnet.get_backend("numpy")
    initial = init_params((64, 32, 10), "relu", b.xp, b.device, "float32", host_rng(0))
    assert _all_finite(clf.params_)
    for got, want in zip(_host(clf.params_), _host(initial), strict=True):
        assert np.array_equal(got, want)
    assert clf.n_iter_ == 0 and clf.history_["train_loss"] == []


def test_divergence_in_a_later_epoch_keeps_the_last_good_parameters():
    clf = _clf(learning_rate_init=0.01, max_iter=2).fit(X_DIGITS, Y_DIGITS)
    good = _host(clf.params_)
    clf.set_params(warm_start=True, learning_rate_init=1e12)
    with pytest.raises(xpnet.DivergenceError):
        clf.fit(X_DIGITS, Y_DIGITS)
    for got, want in zip(_host(clf.params_), good, strict=True):
        assert np.array_equal(got, want)


def test_a_parameter_that_overflows_with_a_finite_loss_is_divergence_too():
    """One full batch: its loss is finite (computed before the step), the step overflows."""
    clf = _clf(learning_rate_init=1e300, batch_size=len(Y_DIGITS), max_iter=1)
    with pytest.raises(xpnet.DivergenceError, match="a parameter"):
        clf.fit(X_DIGITS, Y_DIGITS)
    assert _all_finite(clf.params_)


# Adam's steps do not grow with the gradient: only a rate near float32's limit overflows it
@pytest.mark.parametrize("solver, lr0", [("sgd", 1e12), ("adam", 1e20)])
def test_halve_lr_retries_with_halved_rates_and_records_them(solver, lr0):
    clf = _clf(solver=solver, learning_rate_init=lr0, on_divergence="halve_lr", max_iter=2)
    clf.fit(X_DIGITS, Y_DIGITS)
    rates = clf.history_["learning_rate"]
    assert len(rates) == 2 and _all_finite(clf.params_)
    halvings = np.log2(lr0 / np.array(rates))
    assert np.all(halvings >= 1) and np.array_equal(halvings, np.round(halvings)), rates
    # the rate recorded is the rate used: a run started at that rate gives the same epoch 1
    direct = _clf(solver=solver, learning_rate_init=rates[0], max_iter=1).fit(X_DIGITS, Y_DIGITS)
    first = _clf(solver=solver, learning_rate_init=lr0, on_divergence="halve_lr", max_iter=1)
    first.fit(X_DIGITS, Y_DIGITS)
    for got, want in zip(_host(first.params_), _host(direct.params_), strict=True):
        assert np.array_equal(got, want)


# ------------------------------------------------------------------ streaming from the host


@pytest.fixture
def tiny_device(monkeypatch):
    """Every backend reports 1 KiB of free device memory."""
    monkeypatch.setattr(Backend, "free_memory", lambda self: 1024)


@pytest.fixture
def spy_train(monkeypatch):
    """Record, for each call of the training loop, which sets stay on the host."""
    calls = []
    real_train = est_module.train

    def spy(state, train_data, *args, **kw):
        calls.append(
            {
                "train": train_data.on_host,
                "validation": None if kw["validation"] is None else kw["validation"].on_host,
                **{name: data.on_host for name, data in (kw["eval_sets"] or {}).items()},
            }
        )
        return real_train(state, train_data, *args, **kw)

    monkeypatch.setattr(est_module, "train", spy)
    return calls


def _streaming_run(**params):
    clf = _clf(early_stopping=True, batch_size=100, **params)
    return clf.fit(
        X_DIGITS[:1500], Y_DIGITS[:1500], eval_sets={"test": (X_DIGITS[1500:], Y_DIGITS[1500:])}
    )


def test_streamed_training_is_bit_identical_and_says_so(tiny_device, spy_train, capsys):
    streamed = _streaming_run(verbose=True)
    out = capsys.readouterr().out
    assert spy_train == [{"train": True, "validation": True, "test": True}]
    assert "streaming minibatches from the host" in out
    needed = re.search(r"the data need ([\d.]+) MiB", out)
    assert needed is not None, out
    # 1797 rows of 64 float32 features and an int64 label each
    assert float(needed.group(1)) == pytest.approx(1797 * (64 * 4 + 8) / 2**20, abs=0.05)
    assert streamed.predict(X_DIGITS[:5]).shape == (5,)
    spy_train.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Backend, "free_memory", lambda self: None)  # the CPU: no figure, no streaming
        resident = _streaming_run()
    assert spy_train == [{"train": False, "validation": False, "test": False}]
    for got, want in zip(_host(streamed.params_), _host(resident.params_), strict=True):
        assert np.array_equal(got, want)
    for key in streamed.history_:
        if key != "seconds":
            assert streamed.history_[key] == resident.history_[key], key


def test_partial_fit_streams_too(tiny_device, spy_train):
    clf = _clf().partial_fit(X_DIGITS, Y_DIGITS, classes=np.arange(10))
    assert spy_train == [{"train": True, "validation": None}]
    assert _all_finite(clf.params_)


def test_prediction_works_in_chunks(monkeypatch):
    clf = _clf(max_iter=2).fit(X_DIGITS, Y_DIGITS)
    whole_proba, whole_pred = clf.predict_proba(X_DIGITS), clf.predict(X_DIGITS)
    rows_seen = []
    real_forward = est_module.forward

    def counting_forward(params, X, *args, **kw):
        rows_seen.append(X.shape[0])
        return real_forward(params, X, *args, **kw)

    monkeypatch.setattr(est_module, "_PREDICT_CHUNK", 500)
    monkeypatch.setattr(est_module, "forward", counting_forward)
    np.testing.assert_allclose(clf.predict_proba(X_DIGITS), whole_proba, rtol=1e-6, atol=1e-7)
    assert rows_seen == [500, 500, 500, 297]
    np.testing.assert_array_equal(clf.predict(X_DIGITS), whole_pred)
