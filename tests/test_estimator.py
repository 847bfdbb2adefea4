"""MLPClassifier end to end: accuracy, cross-backend agreement, a peer library, partial_fit,
early stopping, divergence."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import datasets
from xpnet.functional import get_activation
from xpnet.losses import CROSS_ENTROPY
from xpnet.step import StepSpec, build_step
from xpnet.train import Callbacks, EpochData, TrainConfig, TrainState, train


@pytest.fixture(scope="module")
def digits():
    X, y = datasets.load_digits()
    return X / 16.0, y


def _params_np(params):
    return [
        (xpnet.to_numpy(W).astype(np.float64), xpnet.to_numpy(b).astype(np.float64))
        for W, b in params
    ]


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.slow
def test_digits_default_settings_reach_97_percent_on_numpy(digits):
    # The accuracy of one 80/20 split moves by about a point with the split (scikit-learn's
    # own MLPClassifier does the same), so the claim is checked on the mean of five fixed
    # stratified splits, each with the estimator's default settings.
    X, y = digits
    scores = []
    for split in range(5):
        Xtr, Xte, ytr, yte = datasets.train_test_split(
            X, y, test_size=0.2, seed=split, stratify=True
        )
        clf = xpnet.MLPClassifier(hidden_layer_sizes=(100,), backend="numpy", random_state=0)
        scores.append(clf.fit(Xtr, ytr).score(Xte, yte))
    assert np.mean(scores) >= 0.97, scores
    assert min(scores) >= 0.95, scores


@pytest.mark.slow
def test_digits_every_backend_within_one_point_of_numpy(backend, digits):
    X, y = digits
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, test_size=0.2, seed=1, stratify=True)
    ref = xpnet.MLPClassifier(backend="numpy", random_state=0).fit(Xtr, ytr).score(Xte, yte)
    clf = xpnet.MLPClassifier(backend=backend, random_state=0).fit(Xtr, ytr)
    assert clf.backend_ == backend.name
    assert abs(clf.score(Xte, yte) - ref) <= 0.01


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_twenty_float64_steps_agree_with_numpy(backend, digits, solver):
    X, y = digits
    X, y = X[:640], y[:640]  # batch 32: 20 steps in one epoch, shuffled by the host RNG
    kw = dict(
        hidden_layer_sizes=(12, 9),
        activation="tanh",
        solver=solver,
        batch_size=32,
        max_iter=1,
        dtype="float64",
        random_state=3,
        l1=[1e-4, 0.0, 2e-4],
        l2=1e-3,
    )
    ref = xpnet.MLPClassifier(backend="numpy", **kw).fit(X, y)
    clf = xpnet.MLPClassifier(backend=backend, **kw).fit(X, y)
    assert clf._opt_state.count == 20
    for (W, b), (W_ref, b_ref) in zip(
        _params_np(clf.params_), _params_np(ref.params_), strict=True
    ):
        assert _rel(W, W_ref) < 1e-8
        assert _rel(b, b_ref) < 1e-8


@pytest.mark.parametrize(
    "solver, momentum, nesterov",
    [("sgd", 0.0, False), ("sgd", 0.9, False), ("sgd", 0.9, True), ("adam", 0.9, False)],
)
def test_matches_scikit_learn_from_the_same_initial_weights(digits, solver, momentum, nesterov):
    """Same weights, same batches (no shuffling), float64: scikit-learn's MLPClassifier is
    an independent implementation of the same seed equations and optimizers."""
    sk = pytest.importorskip("sklearn.neural_network")
    X, y = digits
    X, y = X[:300], y[:300]
    common = dict(
        hidden_layer_sizes=(20,),
        batch_size=50,
        shuffle=False,
        momentum=momentum,
        nesterovs_momentum=nesterov,
        learning_rate_init=0.05,
        solver=solver,
        alpha=1e-3,  # scikit-learn's meaning: alpha / (2 batch) ||W||^2 per minibatch
    )
    ours = xpnet.MLPClassifier(
        backend="numpy", dtype="float64", max_iter=3, random_state=0, n_iter_no_change=100, **common
    )
    ours.fit(X, y)
    init = xpnet.mlp.init_params((64, 20, 10), "relu", dtype="float64", seed=ours._seed)

    theirs = sk.MLPClassifier(
        max_iter=1,
        warm_start=True,
        random_state=0,
        n_iter_no_change=100,
        tol=0.0,
        **common,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(X, y)  # allocates coefs_; then start over from our initial weights
        theirs.coefs_ = [np.array(W.T) for W, _ in init]
        theirs.intercepts_ = [np.array(b) for _, b in init]
        theirs.max_iter = 3
        theirs.fit(X, y)
    for k, (W, b) in enumerate(_params_np(ours.params_)):
        assert _rel(W, theirs.coefs_[k].T) < 1e-9
        assert _rel(b, theirs.intercepts_[k]) < 1e-9
    assert np.allclose(ours.loss_curve_, theirs.loss_curve_[-3:], rtol=1e-9)


def test_partial_fit_over_the_batches_equals_one_epoch_of_fit(backend, digits):
    X, y = digits
    X, y = X[:400], y[:400]
    kw = dict(
        hidden_layer_sizes=(16,), batch_size=64, shuffle=False, random_state=5, backend=backend
    )
    full = xpnet.MLPClassifier(max_iter=1, **kw).fit(X, y)
    parts = xpnet.MLPClassifier(**kw)
    for start in range(0, X.shape[0], 64):
        parts.partial_fit(X[start : start + 64], y[start : start + 64], classes=np.arange(10))
    for (W, b), (W_ref, b_ref) in zip(
        _params_np(parts.params_), _params_np(full.params_), strict=True
    ):
        np.testing.assert_array_equal(W, W_ref)
        np.testing.assert_array_equal(b, b_ref)


def test_early_stopping_restores_the_best_parameters(digits):
    """A validation set built so that its accuracy drops as training moves away from the
    start: its labels are the initial network's own predictions."""
    b = xpnet.get_backend("numpy")
    X, y = digits
    Xtr, ytr = X[:600], y[:600]
    params = xpnet.mlp.init_params((64, 16, 10), "relu", xp=b.xp, dtype="float64", seed=0)
    logits, _ = xpnet.mlp.forward(params, X[600:900])
    y_val = np.argmax(logits, axis=1)
    seen = {}

    def remember(state):
        seen[state.epoch] = state.params

    opt = xpnet.optim.sgd(0.05, momentum=0.9)
    spec = StepSpec(CROSS_ENTROPY, get_activation("relu"), opt, (0.0, 0.0), (0.0, 0.0))
    config = TrainConfig(
        spec, batch_size=50, max_epochs=30, early_stopping=True, n_iter_no_change=3
    )
    state = train(
        TrainState(params=params, opt_state=opt.init(params)),
        EpochData(Xtr, ytr),
        config,
        build_step(spec, b),
        rng=np.random.default_rng(0),
        backend=b,
        validation=EpochData(X[600:900], y_val),
        callbacks=Callbacks(on_checkpoint=remember),
    )
    scores = [1.0 - e for e in state.history["val_error"]]
    assert scores[-1] < max(scores)  # the score did drop
    best_epoch = int(np.argmax(scores)) + 1
    assert state.epoch < 30  # stopped early
    for (W, bias), (W_best, b_best) in zip(state.params, seen[best_epoch], strict=True):
        np.testing.assert_array_equal(W, W_best)
        np.testing.assert_array_equal(bias, b_best)
    # and the restored parameters really score the best validation accuracy
    logits, _ = xpnet.mlp.forward(state.params, X[600:900])
    assert np.mean(np.argmax(logits, axis=1) == y_val) == pytest.approx(max(scores))


def test_estimator_early_stopping_keeps_its_best_validation_score(digits):
    X, y = digits
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        n_iter_no_change=4,
        max_iter=100,
        random_state=0,
        backend="numpy",
    ).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.n_iter_ < 100
    # stopped n_iter_no_change epochs after the last improvement larger than tol
    assert clf.history_["val_error"] and len(clf.history_["val_error"]) == clf.n_iter_


def test_a_diverging_run_raises_and_keeps_finite_parameters(digits):
    X, y = digits
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(16,),
        solver="sgd",
        learning_rate_init=1e12,
        max_iter=5,
        random_state=0,
        backend="numpy",
    )
    with pytest.raises(xpnet.DivergenceError, match="diverged"):
        clf.fit(X, y)
    init = xpnet.mlp.init_params((64, 16, 10), "relu", dtype="float32", seed=0)
    for (W, b), (W0, b0) in zip(clf.params_, init, strict=True):
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))
        np.testing.assert_array_equal(W, W0)  # rolled back to the start of epoch 1
        np.testing.assert_array_equal(b, b0)


def test_outputs_come_back_in_the_input_namespace(backend, digits):
    X, y = digits
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0, backend="numpy")
    clf.fit(X[:200], y[:200])
    Xb = backend.asarray(X[200:260], "float32")
    proba = clf.predict_proba(Xb)
    pred = clf.predict(Xb)
    assert xpnet.get_backend(proba).name == backend.name
    assert xpnet.get_backend(pred).name == backend.name
    np.testing.assert_allclose(xpnet.to_numpy(proba), clf.predict_proba(X[200:260]), rtol=1e-6)
    np.testing.assert_array_equal(xpnet.to_numpy(pred), clf.predict(X[200:260]))


def test_string_labels_round_trip(digits):
    X, y = digits
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(32,),
        max_iter=30,
        learning_rate_init=0.01,
        random_state=0,
        backend="numpy",
    )
    clf.fit(X[:1000], names[y[:1000]])
    assert sorted(clf.classes_.tolist()) == sorted(names.tolist())
    pred = clf.predict(X[1000:])
    assert pred.dtype.kind == "U"
    assert np.mean(pred == names[y[1000:]]) == pytest.approx(clf.score(X[1000:], names[y[1000:]]))
    assert clf.score(X[1000:], names[y[1000:]]) > 0.85


def test_get_and_set_params_round_trip():
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(5, 4), l1=[0.1, 0.0, 0.2])
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (5, 4) and params["l1"] == [0.1, 0.0, 0.2]
    clone = xpnet.MLPClassifier(**params)
    assert clone.get_params() == params
    clone.set_params(activation="tanh")
    assert clone.activation == "tanh"
    with pytest.raises(ValueError, match="not_a_param"):
        clone.set_params(not_a_param=1)


def test_invscaling_follows_scikit_learns_rule(digits):
    X, y = digits
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(8,),
        solver="sgd",
        learning_rate="invscaling",
        power_t=0.5,
        learning_rate_init=0.1,
        max_iter=3,
        n_iter_no_change=100,
        random_state=0,
        backend="numpy",
    ).fit(X, y)
    n = X.shape[0]
    # scikit-learn's SGDOptimizer.iteration_ends: eta = eta_0 / (t + 1)^power_t after each
    # epoch, t = samples seen so far
    expected = [0.1, 0.1 / (n + 1) ** 0.5, 0.1 / (2 * n + 1) ** 0.5]
    np.testing.assert_allclose(clf.history_["learning_rate"], expected, rtol=1e-12)


def test_warm_start_is_scikit_learns_new_optimizer_from_the_current_weights(digits):
    """A warm fit starts from params_ with a new optimizer, counts its own epochs in n_iter_
    and adds to t_ and loss_curve_ (scikit-learn's meaning). With plain SGD (no optimizer
    state) and no shuffling, two warm fits of 3 epochs are exactly one fit of 6."""
    X, y = digits
    kw = dict(
        hidden_layer_sizes=(16,),
        solver="sgd",
        momentum=0.0,
        learning_rate_init=0.05,
        shuffle=False,
        n_iter_no_change=100,
        random_state=4,
        backend="numpy",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        once = xpnet.MLPClassifier(max_iter=6, **kw).fit(X, y)
        twice = xpnet.MLPClassifier(max_iter=3, warm_start=True, **kw).fit(X, y)
        twice.fit(X, y)
    assert once.n_iter_ == 6 and twice.n_iter_ == 3
    assert twice.t_ == once.t_ == 6 * X.shape[0]
    assert twice.history_["epoch"] == list(range(1, 7))
    np.testing.assert_allclose(twice.loss_curve_, once.loss_curve_, rtol=0)
    for (W, b), (W_ref, b_ref) in zip(twice.params_, once.params_, strict=True):
        np.testing.assert_array_equal(W, W_ref)
        np.testing.assert_array_equal(b, b_ref)
    # a loaded model warm-starts from its weights with a fresh optimizer
    loaded = xpnet.MLPClassifier.load(
        once.save(Path(tempfile.mkdtemp()) / "m.npz"), backend="numpy"
    )
    loaded.set_params(warm_start=True, max_iter=2, random_state=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded.fit(X, y)
    assert loaded.n_iter_ == 2
    # it went on from the trained weights: its first epoch is below the last one trained
    assert loaded.loss_curve_[0] < once.loss_curve_[-1] < once.loss_curve_[0]


def test_assigned_params_are_what_predict_partial_fit_and_a_warm_fit_use(digits):
    X, y = digits
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = xpnet.MLPClassifier(**kw).fit(X, y)
        b = xpnet.MLPClassifier(**kw).fit(X[::-1], y[::-1])
    a.coefs_, a.intercepts_ = b.coefs_, b.intercepts_  # scikit-learn's layout, (in, out)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    a.params_ = [(W * 0, bias * 0) for W, bias in b.params_]
    np.testing.assert_allclose(a.predict_proba(X), 0.1)  # all-zero logits: uniform
    a.partial_fit(X[:50], y[:50])  # from the zeros, not from a private copy
    W0 = _params_np(a.params_)[0][0]
    assert np.abs(W0).max() < 0.01  # adam moved every weight by about lr per step at most


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_found_in_any_row_of_a_large_input(bad):
    """The finiteness check runs block by block; a bad value past the first blocks counts."""
    X = np.zeros((20_000, 3))
    X[17_345, 2] = bad
    y = np.arange(20_000) % 2
    with pytest.raises(ValueError, match="X.*(NaN|inf)"):
        xpnet.MLPClassifier(max_iter=1, backend="numpy").fit(X, y)
    X[17_345, 2] = 0.0
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(2,), max_iter=1, backend="numpy").fit(X, y)
    X[-1, 0] = bad
    with pytest.raises(ValueError, match="X.*(NaN|inf)"):
        clf.predict(X)


def test_a_model_file_written_before_the_new_defaults_loads_and_predicts_as_before(tmp_path):
    """The metadata earlier versions wrote (no 'estimator', no 'alpha', sgd hyperparameters):
    loaded, it predicts the forward pass of its arrays, computed here in NumPy float64."""
    from xpnet import io as xio

    rng = np.random.default_rng(0)
    W0, b0 = rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=5).astype("float32")
    W1, b1 = rng.normal(size=(4, 5)).astype("float32"), rng.normal(size=4).astype("float32")
    classes = np.array([2, 3, 5, 7])
    old_hyper = dict(
        hidden_layer_sizes=[5],
        activation="tanh",
        solver="sgd",
        learning_rate_init=0.01,
        learning_rate="constant",
        momentum=0.9,
        nesterovs_momentum=False,
        batch_size=128,
        max_iter=200,
        shuffle=True,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        power_t=0.5,
        l1=0.0,
        l2=0.0,
        backend="numpy",
        dtype="float32",
        compile="auto",
        allow_tf32=False,
        on_divergence="raise",
        random_state=0,
        verbose=False,
        warm_start=False,
    )
    meta = {
        "format": xio.MODEL_FORMAT,
        "format_version": 1,
        "xpnet_version": "0.1.0",
        "activation": "tanh",
        "dtype": "float32",
        "layer_sizes": [3, 5, 4],
        "hyperparams": old_hyper,
        "n_iter": 17,
        "trained_on": "numpy",
    }
    arrays = {"W0": W0, "b0": b0, "W1": W1, "b1": b1, "classes": classes}
    path = xio.write_archive(tmp_path / "old.npz", meta, arrays)
    clf = xpnet.MLPClassifier.load(path, backend="numpy")
    X = rng.normal(size=(30, 3))
    logits = np.tanh(X @ W0.T.astype(float) + b0) @ W1.T.astype(float) + b1
    np.testing.assert_array_equal(np.asarray(clf.predict(X)), classes[logits.argmax(axis=1)])
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(clf.predict_proba(X)), expected, rtol=1e-5, atol=1e-6)
    # its settings are the ones it was trained with, alpha included (there was none)
    assert (clf.solver, clf.batch_size, clf.alpha, clf.n_iter_) == ("sgd", 128, 0.0, 17)
    with pytest.raises(ValueError, match="not an MLPRegressor"):
        xpnet.MLPRegressor.load(path)


def test_changing_the_solver_between_partial_fits_is_a_clear_error_and_fit_starts_over(digits):
    X, y = digits
    clf = xpnet.MLPClassifier((8,), solver="sgd", backend="numpy", random_state=0)
    clf.partial_fit(X[:100], y[:100], classes=np.arange(10))
    clf.set_params(solver="adam")
    with pytest.raises(ValueError, match="solver"):
        clf.partial_fit(X[:100], y[:100])
    clf.set_params(warm_start=True, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)  # a warm fit builds a new optimizer: any solver
    assert clf.n_iter_ == 2


def test_changing_the_backend_between_warm_fits_continues_from_the_same_weights(digits):
    pytest.importorskip("torch")
    X, y = digits
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, dtype="float64", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = xpnet.MLPClassifier(backend="numpy", warm_start=True, **kw).fit(X, y)
        ref = xpnet.MLPClassifier(backend="numpy", warm_start=True, **kw).fit(X, y)
        clf.set_params(backend="torch:cpu")
        clf.fit(X, y)
        ref.fit(X, y)
    assert clf.backend_ == "torch:cpu"
    for (W, b), (W_ref, b_ref) in zip(
        _params_np(clf.params_), _params_np(ref.params_), strict=True
    ):
        assert _rel(W, W_ref) < 1e-10 and _rel(b, b_ref) < 1e-10
    clf.partial_fit(X[:50], y[:50])  # the optimizer state moves with it


def test_torch_inputs_that_require_grad_are_detached():
    torch = pytest.importorskip("torch")
    X = torch.randn(40, 3, dtype=torch.float64, requires_grad=True)
    y = torch.arange(40) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = xpnet.MLPClassifier((4,), max_iter=2, backend="numpy", random_state=0).fit(X, y)
        reg = xpnet.MLPRegressor((4,), max_iter=2, backend="torch:cpu", random_state=0)
        reg.fit(X, X[:, 0] * 2)
    assert not clf.predict_proba(X).requires_grad and not reg.predict(X).requires_grad


def test_feature_names_from_a_dataframe_are_checked_at_predict_time():
    pd = pytest.importorskip("pandas", reason="pandas is not installed: no DataFrame to test")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"])
    y = np.arange(30) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = xpnet.MLPClassifier((4,), max_iter=2, backend="numpy", random_state=0).fit(X, y)
    assert list(clf.feature_names_in_) == ["a", "b"]
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(X[["b", "a"]].rename(columns={"b": "c"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(X.to_numpy())


def test_assigned_layers_are_checked_at_once_and_named_by_what_was_assigned():
    X, y = datasets.load_digits()
    X = X[:200] / 16.0
    clf = xpnet.MLPClassifier((8,), max_iter=2, backend="numpy", random_state=0)
    clf.fit(X, y[:200])
    reference = [(np.array(W), np.array(b)) for W, b in clf.params_]
    clf.params_ = [(W.tolist(), b.tolist()) for W, b in reference]  # nested lists
    for C, (W, _) in zip(clf.coefs_, reference, strict=True):
        np.testing.assert_array_equal(C, W.T)
    before = clf.predict_proba(X)
    for attribute, value in (
        ("coefs_", clf.coefs_[:1]),
        ("intercepts_", [b[:3] for _, b in reference]),
    ):
        with pytest.raises(ValueError, match=f"^{attribute}: "):
            setattr(clf, attribute, value)
        np.testing.assert_array_equal(clf.predict_proba(X), before)  # the model is unchanged
