"""MLPClassifier and MLPRegressor as scikit-learn estimators: every estimator check, Pipeline,
GridSearchCV, clone, pickling, scikit-learn's exception classes.

Skipped without scikit-learn (>= 1.6, the version with estimator tags). No check is expected
to fail. The array API checks (``array_api_support`` is declared) run for every namespace
and device scikit-learn knows and has here (NumPy, array-api-strict and its devices,
PyTorch on the CPU, ...); SciPy's array API mode is switched on in conftest.py.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from conftest import resolve_backend  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

import xpnet  # noqa: E402
from xpnet import MLPClassifier, MLPRegressor, datasets  # noqa: E402
from xpnet.exceptions import ConvergenceWarning  # noqa: E402


def small_classifier(**params) -> MLPClassifier:
    """Small and fast, accurate enough for check_classifiers_train; full-batch on the
    checks' small data sets (batch "auto"), so weights of 2 equal repeated rows exactly."""
    defaults = dict(
        hidden_layer_sizes=(10,),
        max_iter=100,
        learning_rate_init=0.05,
        dtype="float64",
        backend="numpy",
        random_state=0,
    )
    return MLPClassifier(**{**defaults, **params})


def small_regressor(**params) -> MLPRegressor:
    defaults = dict(
        hidden_layer_sizes=(10,),
        max_iter=100,
        learning_rate_init=0.05,
        dtype="float64",
        backend="numpy",
        random_state=0,
    )
    return MLPRegressor(**{**defaults, **params})


# duck-typed on purpose (scikit-learn is not a dependency): not a BaseEstimator
_NOT_BASE_ESTIMATOR = ".*does not inherit from.*BaseEstimator"

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=_NOT_BASE_ESTIMATOR)
    _all_checks = parametrize_with_checks([small_classifier(), small_regressor()])


def _skip_unusable_device(check) -> None:
    """scikit-learn runs its array-API checks for every importable namespace; CuPy imports
    without a GPU (CI installs it for the fallback tests), so skip, with the reason, a
    namespace or device that cannot run here."""
    keywords = getattr(check, "keywords", {}) or {}
    namespace, device = keywords.get("array_namespace"), keywords.get("device_name")
    if namespace == "cupy":
        resolve_backend("cupy")
    elif namespace == "torch" and device == "cuda":
        resolve_backend("torch:cuda")


@_all_checks
def test_sklearn_estimator_checks(estimator, check):
    _skip_unusable_device(check)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOT_BASE_ESTIMATOR)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        check(estimator)


def test_array_api_support_is_declared_and_its_checks_are_among_them():
    from sklearn.utils import get_tags
    from sklearn.utils.estimator_checks import check_array_api_input

    for est in (small_classifier(), small_regressor()):
        assert get_tags(est).array_api_support is True
    names = {getattr(c, "func", c).__name__ for _, c in _all_checks.args[1]}  # type: ignore[attr-defined]
    assert check_array_api_input.__name__ in names


@pytest.fixture(scope="module")
def moons():
    X, y = datasets.make_moons(150, 0.2, seed=0)
    return X * [3.0, 0.2] + [10.0, -4.0], y  # badly scaled: a scaler matters


def test_works_as_the_last_step_of_a_pipeline(moons):
    X, y = moons
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, 0.3, 0, stratify=True)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", small_classifier())])
    pipe.fit(X_train, y_train)
    scaler = StandardScaler().fit(X_train)
    by_hand = small_classifier().fit(scaler.transform(X_train), y_train)
    expected = np.asarray(by_hand.predict(scaler.transform(X_test)))
    np.testing.assert_array_equal(pipe.predict(X_test), expected)
    assert pipe.score(X_test, y_test) == pytest.approx(np.mean(expected == y_test))
    assert pipe.score(X_test, y_test) > 0.8


def test_grid_search_over_hidden_layer_sizes_matches_manual_cross_validation(moons):
    X, y = moons
    X = StandardScaler().fit_transform(X)
    grid = [(2,), (16,)]
    search = GridSearchCV(small_classifier(max_iter=30), {"hidden_layer_sizes": grid}, cv=3)
    search.fit(X, y)
    folds = list(StratifiedKFold(3).split(X, y))
    for hidden, mean_score in zip(grid, search.cv_results_["mean_test_score"], strict=True):
        scores = [
            np.mean(
                small_classifier(max_iter=30, hidden_layer_sizes=hidden)
                .fit(X[tr], y[tr])
                .predict(X[te])
                == y[te]
            )
            for tr, te in folds
        ]
        assert mean_score == pytest.approx(np.mean(scores)), hidden
    assert search.best_estimator_.n_features_in_ == 2


@pytest.mark.parametrize("make", [small_classifier, small_regressor])
def test_clone_and_pickle_with_a_backend_module(moons, make):
    X, y = moons
    X = StandardScaler().fit_transform(X)
    est = make(l2=(0.001, 0.0), activation="tanh", backend=np, max_iter=5).fit(X, y)
    copy = clone(est)
    assert (
        copy.get_params()["backend"] is np and copy.get_params().keys() == est.get_params().keys()
    )
    assert not copy.__sklearn_is_fitted__()
    with pytest.raises(NotFittedError):
        copy.predict(X)
    check_is_fitted(est)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    again.partial_fit(X, y)  # and it can go on training
    pickle.dumps(make(backend=np))  # unfitted too


@pytest.mark.parametrize("labels", ["ints", "strings"])
def test_score_is_sklearn_accuracy_score_with_and_without_weights(moons, labels):
    X, y = moons
    X = StandardScaler().fit_transform(X)
    if labels == "strings":
        y = np.array(["upper", "lower"])[y]
    clf = small_classifier(max_iter=3).fit(X, y)  # a few epochs: some errors left to count
    w = np.linspace(0.1, 2.0, y.shape[0])
    assert clf.score(X, y) == pytest.approx(accuracy_score(y, clf.predict(X)))
    assert clf.score(X, y, w) == pytest.approx(accuracy_score(y, clf.predict(X), sample_weight=w))


def test_regressor_score_is_sklearn_r2_score_with_several_outputs(moons):
    X, _ = moons
    X = StandardScaler().fit_transform(X)
    Y = np.c_[X[:, 0] ** 2, 3 * X[:, 1], X[:, 0] * 0 + 1.5]  # the last one constant
    reg = small_regressor(max_iter=20).fit(X, Y)
    pred = np.asarray(reg.predict(X))
    w = np.linspace(0.1, 2.0, X.shape[0])
    assert reg.score(X, Y) == pytest.approx(r2_score(Y, pred))
    assert reg.score(X, Y, w) == pytest.approx(r2_score(Y, pred, sample_weight=w))


def test_warnings_and_errors_are_scikit_learns_too(moons):
    X, y = moons
    with pytest.warns(SkConvergenceWarning) as record:
        small_classifier(max_iter=2).fit(X, y)
    assert any(isinstance(w.message, ConvergenceWarning) for w in record)
    for method in ("predict", "predict_proba", "predict_log_proba"):
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(small_classifier(), method)(X)
    with pytest.raises(xpnet.NotFittedError):
        small_regressor().predict(X)


def test_importing_xpnet_does_not_import_sklearn():
    code = (
        "import sys, numpy as np; import xpnet; from xpnet import MLPClassifier, MLPRegressor, "
        "datasets; X, y = datasets.make_moons(40, seed=0); "
        # the stopping rule ends the run at its last epoch: no ConvergenceWarning to build
        "clf = MLPClassifier((4,), max_iter=3, n_iter_no_change=1, tol=1e9, backend='numpy', "
        "random_state=0).fit(X, y); clf.predict(X); clf.score(X, y); "
        "assert not [m for m in sys.modules if m.startswith('sklearn')], 'sklearn was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
