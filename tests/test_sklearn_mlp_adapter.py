"""scikit-learn's own MLP test cases that apply to sgd and adam, run against xpnet's estimators.

Each test below restates, in this project's words, a case of scikit-learn's
``sklearn/neural_network/tests/test_mlp.py``; the ``ADAPTER`` builds xpnet's
estimator from the same scikit-learn keyword arguments (on NumPy). Where a case
reads a private attribute of scikit-learn's (``_optimizer``,
``_no_improvement_count``) it checks the same fact through xpnet's public
history. Cases for lbfgs, sparse input, multi-label targets and the Poisson loss
do not apply (xpnet has none of them); the README's table of differences lists
them.
"""

from __future__ import annotations

import contextlib
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")

from sklearn.datasets import load_digits, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402

import xpnet  # noqa: E402

ESTIMATORS = {"classifier": xpnet.MLPClassifier, "regressor": xpnet.MLPRegressor}


def ADAPTER(kind: str, **sklearn_kwargs):
    """xpnet's estimator for scikit-learn's keyword arguments, on NumPy."""
    return ESTIMATORS[kind](backend="numpy", **sklearn_kwargs)


_digits = load_digits(n_class=3)
X_DIGITS = MinMaxScaler().fit_transform(_digits.data[:200])
Y_DIGITS = _digits.target[:200]
X_BINARY = X_DIGITS[Y_DIGITS < 2][:100]
Y_BINARY = Y_DIGITS[Y_DIGITS < 2][:100]
_iris = load_iris()
X_IRIS = StandardScaler().fit_transform(_iris.data)
Y_IRIS = _iris.target
X_REG, Y_REG = make_regression(n_samples=200, n_features=10, random_state=7)
Y_REG = StandardScaler().fit_transform(Y_REG[:, None])[:, 0]

both = pytest.mark.parametrize("kind", ["classifier", "regressor"])


def _target(kind: str, y: np.ndarray) -> np.ndarray:
    return y.astype(float) if kind == "regressor" else y


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_a_larger_alpha_gives_smaller_weights():
    norms = []
    for alpha in (0.0, 1.0, 10.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = ADAPTER("classifier", alpha=alpha, random_state=1, max_iter=50)
            clf.fit(X_BINARY, Y_BINARY)
        norms.append(sum(float(np.sum(np.asarray(W) ** 2)) for W in clf.coefs_))
    assert norms[0] > norms[1] > norms[2]


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling"])
def test_warm_start_restarts_the_schedule_and_counts_samples_across_fits(learning_rate):
    X = np.array([[3, 2], [1, 6], [5, 6], [-2, -4]], dtype=float)
    y = np.array([1, 1, 1, 0])
    clf = ADAPTER(
        "classifier",
        solver="sgd",
        hidden_layer_sizes=4,
        learning_rate=learning_rate,
        max_iter=2,
        power_t=0.25,
        warm_start=True,
        n_iter_no_change=100,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        clf.fit(X, y)
    rates = clf.history_["learning_rate"]
    if learning_rate == "constant":
        assert rates == [0.001] * 4
    else:  # eta_0 / (t + 1) ** power_t after each epoch, t = samples seen across the fits
        expected = [0.001, 0.001 / 5**0.25, 0.001, 0.001 / 13**0.25]
        np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert clf.t_ == 16


def test_multioutput_regression_fits_well():
    X, Y = make_regression(n_samples=200, n_targets=5, random_state=11)
    Y = StandardScaler().fit_transform(Y)
    reg = ADAPTER(
        "regressor", hidden_layer_sizes=50, learning_rate_init=0.01, max_iter=300, random_state=1
    )
    with _quiet():
        reg.fit(X, Y)
    assert reg.score(X, Y) > 0.9 and reg.n_outputs_ == 5


def test_partial_fit_with_other_classes_later_is_an_error():
    clf = ADAPTER("classifier", solver="sgd")
    clf.partial_fit([[3.0, 2.0]], [0], classes=[0, 1])
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit([[3.0, 2.0]], [0], classes=[1, 2])


def test_partial_fit_repeated_equals_fit_for_classification():
    kw = dict(solver="sgd", random_state=1, alpha=1e-5, learning_rate_init=0.2)
    with _quiet():
        fitted = ADAPTER("classifier", max_iter=100, tol=0, **kw).fit(X_DIGITS, Y_DIGITS)
    stepped = ADAPTER("classifier", **kw)
    for _ in range(100):
        stepped.partial_fit(X_DIGITS, Y_DIGITS, classes=np.unique(Y_DIGITS))
    np.testing.assert_array_equal(stepped.predict(X_DIGITS), fitted.predict(X_DIGITS))
    assert stepped.score(X_DIGITS, Y_DIGITS) > 0.95


def test_partial_fit_knows_classes_it_has_not_seen_yet():
    clf = ADAPTER("classifier", random_state=0)
    clf.partial_fit([[1.0], [2.0], [3.0]], ["a", "b", "c"], classes=["a", "b", "c", "d"])
    clf.partial_fit([[4.0]], ["d"])
    assert clf.score([[1.0], [2.0], [3.0], [4.0]], ["a", "b", "c", "d"]) > 0


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_partial_fit_repeated_equals_fit_for_regression(momentum):
    kw = dict(
        solver="sgd",
        learning_rate_init=0.01,
        random_state=1,
        batch_size=X_REG.shape[0],
        momentum=momentum,
    )
    with _quiet():
        fitted = ADAPTER("regressor", max_iter=100, **kw).fit(X_REG, Y_REG)
    stepped = ADAPTER("regressor", **kw)
    for _ in range(100):
        stepped.partial_fit(X_REG, Y_REG)
    np.testing.assert_allclose(stepped.predict(X_REG), fitted.predict(X_REG), rtol=1e-5, atol=1e-6)
    assert stepped.score(X_REG, Y_REG) > 0.65


def test_partial_fit_refuses_labels_outside_the_classes():
    with pytest.raises(ValueError):
        ADAPTER("classifier", solver="sgd").partial_fit(
            [[3.0, 2.0], [1.0, 6.0]], [1, 0], classes=[2]
        )


def test_inputs_too_large_for_the_float32_model_are_a_value_error():
    X = np.finfo(np.float64).max * np.random.RandomState(0).uniform(size=(10, 2))
    y = np.random.RandomState(0).standard_normal(10)
    with pytest.raises(ValueError, match="X"):
        ADAPTER("regressor").fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_proba_is_a_distribution_and_its_log(n_classes):
    X, y = X_DIGITS[:50], Y_DIGITS[:50] % n_classes
    with _quiet():
        clf = ADAPTER(
            "classifier", hidden_layer_sizes=5, activation="logistic", random_state=1, max_iter=20
        ).fit(X, y)
    proba = np.asarray(clf.predict_proba(X))
    assert proba.shape == (50, n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), np.asarray(clf.predict(X)))
    np.testing.assert_allclose(np.asarray(clf.predict_log_proba(X)), np.log(proba), atol=1e-5)


def test_shuffle_changes_the_result_only_when_on():
    X, y = X_REG[:50], Y_REG[:50]
    runs = {}
    for shuffle in (True, False):
        with _quiet():
            a = ADAPTER(
                "regressor",
                hidden_layer_sizes=1,
                max_iter=1,
                batch_size=1,
                random_state=0,
                shuffle=shuffle,
            ).fit(X, y)
            b = ADAPTER(
                "regressor",
                hidden_layer_sizes=1,
                max_iter=1,
                batch_size=1,
                random_state=0,
                shuffle=shuffle,
            ).fit(X, y)
        np.testing.assert_array_equal(np.asarray(a.coefs_[0]), np.asarray(b.coefs_[0]))
        runs[shuffle] = np.asarray(a.coefs_[0])
    assert not np.array_equal(runs[True], runs[False])


@pytest.mark.parametrize("learning_rate", ["constant", "adaptive"])
def test_a_large_tol_ends_the_run_before_max_iter(learning_rate):
    X, y = np.array([[3.0, 2.0], [1.0, 6.0]]), np.array([1, 0])
    clf = ADAPTER("classifier", tol=0.5, max_iter=3000, solver="sgd", learning_rate=learning_rate)
    clf.fit(X, y)
    assert clf.n_iter_ < clf.max_iter
    if learning_rate == "adaptive":  # divided by 5 each time until below 1e-6, then stopped
        assert clf.history_["learning_rate"][-1] <= 5e-6


def test_verbose_prints_the_iterations(capsys):
    X, y = np.array([[3.0, 2.0], [1.0, 6.0]]), np.array([1, 0])
    clf = ADAPTER("classifier", solver="sgd", max_iter=2, verbose=10, hidden_layer_sizes=2)
    with _quiet():
        clf.fit(X, y)
    clf.partial_fit(X, y)
    assert "Iteration" in capsys.readouterr().out


@both
def test_early_stopping_keeps_the_best_validation_score(kind):
    y = _target(kind, Y_BINARY)
    est = ADAPTER(kind, tol=0.2, max_iter=3000, solver="sgd", early_stopping=True)
    est.fit(X_BINARY, y)
    assert est.n_iter_ < est.max_iter and est.best_loss_ is None
    scores = est.validation_scores_
    assert isinstance(scores, list) and max(scores) == est.best_validation_score_
    assert est.best_validation_score_ + 0.2 > scores[-2]
    assert est.best_validation_score_ + 0.2 > scores[-1]
    plain = ADAPTER(kind, tol=0.2, max_iter=3000, solver="sgd").fit(X_BINARY, y)
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None
    assert plain.best_loss_ is not None


def test_warm_start_needs_the_same_classes():
    y3 = np.array([0] * 40 + [1] * 40 + [2] * 70)
    clf = ADAPTER(
        "classifier", hidden_layer_sizes=2, warm_start=True, random_state=42, tol=1e-2, max_iter=5
    )
    with _quiet():
        clf.fit(X_IRIS, Y_IRIS)
        clf.fit(X_IRIS, Y_IRIS)
        clf.fit(X_IRIS, y3)  # the same three classes in other proportions
    for other in (np.array([0] * 75 + [1] * 75), np.array([0] * 50 + [1] * 50 + [3] * 50)):
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
            with _quiet():
                clf.fit(X_IRIS, other)


@both
def test_each_warm_fit_runs_max_iter_epochs(kind):
    est = ADAPTER(kind, hidden_layer_sizes=2, solver="sgd", warm_start=True, max_iter=3)
    y = _target(kind, Y_IRIS)
    with _quiet():
        est.fit(X_IRIS, y)
        assert est.n_iter_ == 3
        est.fit(X_IRIS, y)
        assert est.n_iter_ == 3


@pytest.mark.parametrize("patience", [2, 5, 10])
def test_n_iter_no_change_stops_after_that_many_epochs_without_improvement(patience):
    clf = ADAPTER("classifier", tol=0.01, max_iter=3000, solver="sgd", n_iter_no_change=patience)
    clf.fit(X_BINARY, Y_BINARY)
    assert clf.n_iter_ < 3000
    # scikit-learn's rule replayed on the loss curve: the count of epochs whose loss is not
    # below the best so far by tol first exceeds the patience at the last epoch
    best, count, exceeded = np.inf, 0, []
    for loss in clf.loss_curve_:
        count = count + 1 if loss > best - 0.01 else 0
        best = min(best, loss)
        exceeded.append(count > patience)
    assert exceeded[-1] and not any(exceeded[:-1])
    assert count == patience + 1


def test_an_infinite_patience_runs_to_max_iter():
    clf = ADAPTER("classifier", tol=1e9, max_iter=300, solver="sgd", n_iter_no_change=np.inf)
    with _quiet():
        clf.fit(X_BINARY, Y_BINARY)
    assert clf.n_iter_ == 300


def test_early_stopping_split_is_stratified():
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    with pytest.raises(ValueError, match=r"least populated classes in y have only 1 member"):
        ADAPTER("classifier", early_stopping=True).fit(X, y)


def test_early_stopping_with_string_labels():
    rng = np.random.RandomState(42)
    X = rng.normal(size=(200, 10))
    y = np.array(["class_a", "class_b", "class_c"], dtype=object)[rng.randint(0, 3, 200)]
    clf = ADAPTER("classifier", early_stopping=True, max_iter=50, random_state=42)
    with _quiet():
        clf.fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert np.isfinite(clf.validation_scores_).all()


@both
def test_float32_and_float64_inputs_predict_alike(kind):
    y = _target(kind, Y_DIGITS[:150])
    kw = dict(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=100, tol=1e-1)
    with _quiet():
        a = ADAPTER(kind, **kw).fit(X_DIGITS[:150], y)
        b = ADAPTER(kind, **kw).fit(X_DIGITS[:150].astype(np.float32), y)
    pa, pb = np.asarray(a.predict(X_DIGITS[150:])), np.asarray(b.predict(X_DIGITS[150:]))
    np.testing.assert_allclose(pa, pb, rtol=1e-4, atol=1e-5)


@both
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_dtype_parameter_sets_the_weights_and_predictions(kind, dtype):
    y = _target(kind, Y_DIGITS)
    with _quiet():
        est = ADAPTER(
            kind, alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=5, dtype=dtype
        ).fit(X_DIGITS, y)
    assert all(np.asarray(W).dtype == dtype for W in est.coefs_)
    assert all(np.asarray(b).dtype == dtype for b in est.intercepts_)
    if kind == "regressor":
        assert np.asarray(est.predict(X_DIGITS)).dtype == dtype


def test_a_pickled_model_keeps_learning_with_partial_fit():
    reg = ADAPTER(
        "regressor",
        hidden_layer_sizes=(42,),
        random_state=42,
        learning_rate_init=0.01,
        max_iter=200,
    )
    with _quiet():
        reg.fit([[2.0]], [4.0])
    again = pickle.loads(pickle.dumps(reg))
    for _ in range(200):
        again.partial_fit([[2.0]], [1.0])
    np.testing.assert_allclose(np.asarray(again.predict([[2.0]])), [1.0], rtol=1e-3)


@both
def test_warm_start_with_early_stopping_adds_validation_scores(kind):
    y = _target(kind, Y_IRIS)
    est = ADAPTER(kind, max_iter=10, random_state=0, warm_start=True, early_stopping=True)
    with _quiet():
        est.fit(X_IRIS, y)
        before = len(est.validation_scores_)
        est.set_params(max_iter=20)
        est.fit(X_IRIS, y)
    assert len(est.validation_scores_) > before


@both
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_warm_fit_that_does_not_converge_stops_at_max_iter_and_warns(kind, solver):
    y = _target(kind, Y_IRIS)
    est = ADAPTER(
        kind, solver=solver, warm_start=True, max_iter=10, n_iter_no_change=np.inf, random_state=0
    )
    with pytest.warns(ConvergenceWarning):
        est.fit(X_IRIS, y)
    assert est.n_iter_ == 10
    est.set_params(max_iter=20)
    with pytest.warns(ConvergenceWarning):
        est.fit(X_IRIS, y)
    assert est.n_iter_ == 20


@both
def test_partial_fit_after_an_early_stopping_fit_is_refused(kind):
    y = _target(kind, Y_IRIS)
    with _quiet():
        est = ADAPTER(kind, early_stopping=True, random_state=0).fit(X_IRIS, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        est.partial_fit(X_IRIS, y)


def test_sample_weights_of_one_change_nothing_with_early_stopping():
    X, y = make_regression(n_samples=100, n_features=2, n_informative=2, random_state=42)
    y = y / y.std()
    kw = dict(
        hidden_layer_sizes=10,
        solver="adam",
        early_stopping=True,
        tol=1e-2,
        learning_rate_init=0.01,
        batch_size=10,
        random_state=42,
    )
    with _quiet():
        weighted = ADAPTER("regressor", **kw).fit(X, y, sample_weight=np.ones_like(y))
        plain = ADAPTER("regressor", **kw).fit(X, y)
    np.testing.assert_allclose(
        np.asarray(weighted.predict(X)), np.asarray(plain.predict(X)), rtol=1e-6
    )


def test_a_too_small_validation_set_is_an_error():
    X, y = make_regression(n_samples=2, n_features=5, random_state=0)
    with pytest.raises(ValueError, match="The validation set is too small"):
        ADAPTER("regressor", early_stopping=True, random_state=0).fit(X, y)
