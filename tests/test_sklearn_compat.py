"""MLPClassifier as a scikit-learn estimator: its estimator checks, Pipeline, GridSearchCV, clone.

Skipped without scikit-learn (>= 1.6, the version with estimator tags).

Expected failures of ``check_estimator``, each by design (``EXPECTED_FAILED_CHECKS``):

* ``check_supervised_y_2d``: a column-vector ``y`` of shape (n, 1) is refused
  with a ValueError that says to use ``y.ravel()``; scikit-learn's own
  estimators warn and ravel it. xpnet's rule (DESIGN.md) is that bad input
  gets a clear error rather than being coerced.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from xpnet import datasets  # noqa: E402
from xpnet.estimator import MLPClassifier  # noqa: E402

EXPECTED_FAILED_CHECKS = {
    "check_supervised_y_2d": (
        "a column-vector y (n, 1) is refused with a ValueError saying to use y.ravel(), "
        "where scikit-learn warns and ravels: xpnet does not coerce bad input (DESIGN.md)"
    ),
}


def small_classifier(**params) -> MLPClassifier:
    """Small and fast, yet accurate enough for check_classifiers_train (> 83 % on blobs)."""
    defaults = dict(
        hidden_layer_sizes=(10,),
        max_iter=50,
        batch_size=32,
        learning_rate_init=0.1,
        backend="numpy",
        random_state=0,
    )
    return MLPClassifier(**{**defaults, **params})


# MLPClassifier is duck-typed on purpose (scikit-learn is not a dependency): not a BaseEstimator
_NOT_BASE_ESTIMATOR = ".*does not inherit from.*BaseEstimator"

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=_NOT_BASE_ESTIMATOR)
    _all_checks = parametrize_with_checks(
        [small_classifier()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
    )


@_all_checks
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOT_BASE_ESTIMATOR)
        check(estimator)


@pytest.fixture(scope="module")
def moons():
    X, y = datasets.make_moons(150, 0.2, seed=0)
    return X * [3.0, 0.2] + [10.0, -4.0], y  # badly scaled: a scaler matters


def test_works_as_the_last_step_of_a_pipeline(moons):
    X, y = moons
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, 0.3, 0, stratify=True)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", small_classifier())])
    pipe.fit(X_train, y_train)
    # reference: the same two steps by hand
    scaler = StandardScaler().fit(X_train)
    by_hand = small_classifier().fit(scaler.transform(X_train), y_train)
    expected = np.asarray(by_hand.predict(scaler.transform(X_test)))
    np.testing.assert_array_equal(pipe.predict(X_test), expected)
    assert pipe.score(X_test, y_test) == pytest.approx(np.mean(expected == y_test))
    assert pipe.score(X_test, y_test) > 0.8


def test_grid_search_over_hidden_layer_sizes_matches_manual_cross_validation(moons):
    X, y = moons
    X = StandardScaler().fit_transform(X)
    grid = [(2,), (16,), (8, 8)]
    search = GridSearchCV(small_classifier(), {"hidden_layer_sizes": grid}, cv=3)
    search.fit(X, y)
    folds = list(StratifiedKFold(3).split(X, y))
    for hidden, mean_score in zip(grid, search.cv_results_["mean_test_score"], strict=True):
        scores = [
            np.mean(
                small_classifier(hidden_layer_sizes=hidden).fit(X[tr], y[tr]).predict(X[te])
                == y[te]
            )
            for tr, te in folds
        ]
        assert mean_score == pytest.approx(np.mean(scores)), hidden
    best = grid[int(np.argmax(search.cv_results_["mean_test_score"]))]
    assert search.best_params_ == {"hidden_layer_sizes": best}
    assert search.best_estimator_.hidden_layer_sizes == best
    assert search.best_estimator_.n_features_in_ == 2


def test_clone_copies_the_parameters_and_not_the_fit(moons):
    X, y = moons
    clf = small_classifier(l2=(0.001, 0.0), activation="tanh").fit(X, y)
    copy = clone(clf)
    assert copy is not clf
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "params_") or copy.params_ is None
    with pytest.raises(NotFittedError):
        copy.predict(X)
    check_is_fitted(clf)


@pytest.mark.parametrize("labels", ["ints", "strings"])
def test_score_is_sklearn_accuracy_score(moons, labels):
    X, y = moons
    X = StandardScaler().fit_transform(X)
    if labels == "strings":
        y = np.array(["upper", "lower"])[y]
    clf = small_classifier(max_iter=5).fit(X, y)  # a few epochs: some errors left to count
    assert clf.score(X, y) == accuracy_score(y, clf.predict(X))


def test_unfitted_predict_raises_sklearns_not_fitted_error(moons):
    X, _ = moons
    for method in ("predict", "predict_proba", "predict_log_proba"):
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(small_classifier(), method)(X)


def test_a_pickled_model_predicts_the_same(moons):
    X, y = moons
    clf = small_classifier().fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X))
    again.partial_fit(X, y)  # and it can go on training


def test_the_estimator_does_not_import_sklearn_itself():
    code = (
        "import sys, numpy as np; from xpnet import MLPClassifier, datasets; "
        "X, y = datasets.make_moons(40, seed=0); "
        "clf = MLPClassifier((4,), max_iter=2, backend='numpy', random_state=0).fit(X, y); "
        "clf.predict(X); clf.score(X, y); "
        "assert not [m for m in sys.modules if m.startswith('sklearn')], 'sklearn was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
