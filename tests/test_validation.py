"""Bad input at every public entry point raises ValueError/TypeError naming the argument.

One table of cases drives two tests: each case builds a call (with X as a
backend's arrays where that makes sense), names the exception it must raise and
the argument its message must name. Cases that touch a backend's arrays run on
every backend present; the others (constructor arguments, loaders) run once. The
entry points are the estimator's constructor arguments (checked by ``fit``),
``fit``, ``partial_fit``, ``predict``, ``predict_proba``,
``predict_log_proba``, ``score`` and the loaders in ``xpnet.datasets``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xpnet
from xpnet import datasets

N, D = 24, 3
_RNG = np.random.default_rng(0)
X_HOST = _RNG.normal(size=(N, D))
Y_HOST = np.arange(N) % 3  # classes 0, 1, 2

_FITTED: dict[str, xpnet.MLPClassifier] = {}


class Ctx:
    """What a case builds its call from: the backend, its arrays, a fitted model, files."""

    def __init__(self, backend: xpnet.Backend, tmp_path: Path):
        self.b = backend
        self.tmp = tmp_path
        self.X = backend.asarray(X_HOST)
        self.y = backend.asarray(Y_HOST)

    def arr(self, host: Any) -> Any:
        """Host data as this backend's array (dtype kept)."""
        return self.b.asarray(np.asarray(host))

    def with_value(self, value: float) -> Any:
        """X on this backend with one entry replaced by ``value``."""
        host = X_HOST.copy()
        host[N // 2, 1] = value
        return self.arr(host)

    def clf(self, **params: Any) -> xpnet.MLPClassifier:
        """A small estimator on this backend with ``params`` changed."""
        settings = dict(hidden_layer_sizes=(4,), max_iter=1, random_state=0, backend=self.b.name)
        settings.update(params)
        return xpnet.MLPClassifier(**settings)

    def fit_with(self, **params: Any) -> Callable[[], Any]:
        return lambda: self.clf(**params).fit(self.X, self.y)

    @property
    def fitted(self) -> xpnet.MLPClassifier:
        """One model per backend, fitted on (X, y) once for all prediction cases."""
        if self.b.name not in _FITTED:
            _FITTED[self.b.name] = self.clf().fit(self.X, self.y)
        return _FITTED[self.b.name]

    def npz(self, **arrays: Any) -> str:
        path = self.tmp / "data.npz"
        np.savez(path, **arrays)
        return str(path)

    def csv(self, text: str) -> str:
        path = self.tmp / "data.csv"
        path.write_text(text, encoding="utf-8")
        return str(path)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Ctx], Callable[[], Any]]  # ctx -> the call that must fail
    exc: type[BaseException]
    arg: str  # the argument the message must name


def _fit(X_of: Callable[[Ctx], Any], y_of: Callable[[Ctx], Any] | None = None, **kw: Any):
    """A builder for ``clf().fit(X, y, **kw)``; ``y`` defaults to the backend's labels."""
    return lambda c: lambda: c.clf().fit(X_of(c), c.y if y_of is None else y_of(c), **kw)


def _param(name: str, value: Any, exc: type = ValueError) -> Case:
    return Case(f"param-{name}={value!r}", lambda c: c.fit_with(**{name: value}), exc, name)


def _predict_cases(method: str) -> list[Case]:
    call = lambda X_of: lambda c: lambda: getattr(c.fitted, method)(X_of(c))  # noqa: E731
    return [
        Case(f"{method}-fewer-features", call(lambda c: c.X[:, :2]), ValueError, "X"),
        Case(f"{method}-1d", call(lambda c: c.X[0, :]), ValueError, "X"),
        Case(f"{method}-0-rows", call(lambda c: c.X[:0, :]), ValueError, "X"),
        Case(f"{method}-nan", call(lambda c: c.with_value(math.nan)), ValueError, "X"),
        Case(f"{method}-inf", call(lambda c: c.with_value(-math.inf)), ValueError, "X"),
        Case(f"{method}-strings", call(lambda c: X_HOST.astype(str)), TypeError, "X"),
    ]


CASES: list[Case] = [
    # ---- fit: X
    Case("fit-X-1d", _fit(lambda c: c.X[:, 0]), ValueError, "X"),
    Case("fit-X-3d", _fit(lambda c: c.arr(X_HOST[:, :, None])), ValueError, "X"),
    Case("fit-X-scalar", _fit(lambda c: 3.0), ValueError, "X"),
    Case("fit-X-none", _fit(lambda c: None), TypeError, "X"),
    Case("fit-X-0-samples", _fit(lambda c: c.X[:0, :], lambda c: c.y[:0]), ValueError, "X"),
    Case("fit-X-0-features", _fit(lambda c: c.X[:, :0]), ValueError, "X"),
    Case("fit-X-nan", _fit(lambda c: c.with_value(math.nan)), ValueError, "X"),
    Case("fit-X-inf", _fit(lambda c: c.with_value(math.inf)), ValueError, "X"),
    Case("fit-X-beyond-float32", _fit(lambda c: c.with_value(1e300)), ValueError, "X"),
    Case("fit-X-strings", _fit(lambda c: X_HOST.astype(str)), TypeError, "X"),
    Case("fit-X-objects", _fit(lambda c: np.array([[object()] * D] * N)), TypeError, "X"),
    Case("fit-X-bytes", _fit(lambda c: X_HOST.astype("S8")), TypeError, "X"),
    Case("fit-X-datetimes", _fit(lambda c: X_HOST.astype("datetime64[s]")), TypeError, "X"),
    Case(
        "fit-X-complex",
        _fit(lambda c: c.b.xp.asarray(X_HOST + 1j) if c.b.library != "numpy" else X_HOST + 1j),
        ValueError,
        "X",
    ),
    Case("fit-X-ragged-list", _fit(lambda c: [[1.0, 2.0], [3.0]] * (N // 2)), ValueError, "X"),
    # ---- fit: y
    Case("fit-y-fewer-samples", _fit(lambda c: c.X, lambda c: c.y[:5]), ValueError, "y"),
    Case("fit-y-more-samples", _fit(lambda c: c.X[:5, :]), ValueError, "y"),
    Case("fit-y-2d", _fit(lambda c: c.X, lambda c: c.arr(np.c_[Y_HOST, Y_HOST])), ValueError, "y"),
    Case("fit-y-3d", _fit(lambda c: c.X, lambda c: c.arr(Y_HOST[:, None, None])), ValueError, "y"),
    Case("fit-y-none", _fit(lambda c: c.X, lambda c: None), ValueError, "y"),
    Case("fit-y-fractions", _fit(lambda c: c.X, lambda c: c.arr(Y_HOST + 0.5)), ValueError, "y"),
    Case(
        "fit-y-nan",
        _fit(lambda c: c.X, lambda c: c.arr(np.where(Y_HOST == 0, np.nan, Y_HOST))),
        ValueError,
        "y",
    ),
    Case("fit-y-objects", _fit(lambda c: c.X, lambda c: np.array([object()] * N)), TypeError, "y"),
    Case(
        "fit-y-mixed-array",
        _fit(lambda c: c.X, lambda c: np.array([1, "a", 2.5] * (N // 3), dtype=object)),
        TypeError,
        "y",
    ),
    Case("fit-y-mixed-list", _fit(lambda c: c.X, lambda c: [1, "a"] * (N // 2)), TypeError, "y"),
    Case("fit-y-complex", _fit(lambda c: c.X, lambda c: Y_HOST + 1j), TypeError, "y"),
    Case("fit-y-one-class", _fit(lambda c: c.X, lambda c: c.arr(Y_HOST * 0)), ValueError, "y"),
    # ---- fit: eval sets, checkpoint and hooks
    Case(
        "fit-eval-unseen-label",
        _fit(lambda c: c.X, eval_sets={"test": (X_HOST, Y_HOST + 7)}),
        ValueError,
        "eval_sets",
    ),
    Case(
        "fit-eval-feature-count",
        _fit(lambda c: c.X, eval_sets={"test": (X_HOST[:, :2], Y_HOST)}),
        ValueError,
        "eval_sets",
    ),
    Case(
        "fit-eval-sample-count",
        _fit(lambda c: c.X, eval_sets={"test": (X_HOST, Y_HOST[:4])}),
        ValueError,
        "eval_sets",
    ),
    Case(
        "fit-eval-nan",
        _fit(lambda c: c.X, eval_sets={"test": (np.full((2, D), np.nan), [0, 1])}),
        ValueError,
        "eval_sets",
    ),
    Case(
        "fit-eval-not-a-pair",
        _fit(lambda c: c.X, eval_sets={"test": X_HOST}),
        TypeError,
        "eval_sets",
    ),
    Case(
        "fit-eval-not-a-dict",
        _fit(lambda c: c.X, eval_sets=[(X_HOST, Y_HOST)]),
        TypeError,
        "eval_sets",
    ),
    Case("fit-checkpoint-type", _fit(lambda c: c.X, checkpoint=3), TypeError, "checkpoint"),
    Case("fit-resume-needs-checkpoint", _fit(lambda c: c.X, resume=True), ValueError, "resume"),
    Case("fit-resume-type", _fit(lambda c: c.X, resume="yes"), TypeError, "resume"),
    Case("fit-on-batch-type", _fit(lambda c: c.X, on_batch=5), TypeError, "on_batch"),
    Case(
        "fit-sample-weight-negative",
        _fit(lambda c: c.X, sample_weight=-np.ones(N)),
        ValueError,
        "sample_weight",
    ),
    Case(
        "fit-sample-weight-count",
        _fit(lambda c: c.X, sample_weight=np.ones(N - 1)),
        ValueError,
        "sample_weight",
    ),
    Case(
        "fit-sample-weight-zeros",
        _fit(lambda c: c.X, sample_weight=np.zeros(N)),
        ValueError,
        "sample_weight",
    ),
    Case(
        "fit-validation-too-small",
        lambda c: (
            lambda: xpnet.MLPRegressor(early_stopping=True, backend=c.b.name).fit(
                c.X[:4, :], Y_HOST[:4] * 1.5
            )
        ),
        ValueError,
        "validation_fraction",
    ),
    Case(
        "partial_fit-early-stopping",
        lambda c: lambda: c.clf(early_stopping=True).partial_fit(c.X, c.y, classes=[0, 1, 2]),
        ValueError,
        "early_stopping",
    ),
    Case(
        "regressor-y-strings",
        lambda c: lambda: xpnet.MLPRegressor(max_iter=1, backend=c.b.name).fit(c.X, ["a"] * N),
        TypeError,
        "y",
    ),
    Case(
        "regressor-y-nan",
        lambda c: (
            lambda: xpnet.MLPRegressor(max_iter=1, backend=c.b.name).fit(
                c.X, np.where(Y_HOST == 0, np.nan, 1.0)
            )
        ),
        ValueError,
        "y",
    ),
    # ---- partial_fit
    Case(
        "partial_fit-label-not-in-classes",
        lambda c: lambda: c.clf().partial_fit(c.X, c.y, classes=[0, 1]),
        ValueError,
        "y",
    ),
    Case(
        "partial_fit-no-classes-first-call",
        lambda c: lambda: c.clf().partial_fit(c.X, c.y),
        ValueError,
        "classes",
    ),
    Case(
        "partial_fit-classes-scalar",
        lambda c: lambda: c.clf().partial_fit(c.X, c.y, classes=3),
        ValueError,
        "classes",
    ),
    Case(
        "partial_fit-classes-fractions",
        lambda c: lambda: c.clf().partial_fit(c.X, c.y, classes=[0.5, 1.0, 2.0]),
        ValueError,
        "classes",
    ),
    Case(
        "partial_fit-later-new-label",
        lambda c: (
            lambda: (
                c.clf().partial_fit(c.X, c.y, classes=[0, 1, 2]).partial_fit(c.X, c.arr(Y_HOST + 1))
            )
        ),
        ValueError,
        "y",
    ),
    Case(
        "partial_fit-later-feature-count",
        lambda c: (
            lambda: c.clf().partial_fit(c.X, c.y, classes=[0, 1, 2]).partial_fit(c.X[:, :2], c.y)
        ),
        ValueError,
        "X",
    ),
    Case(
        "partial_fit-X-nan",
        lambda c: lambda: c.clf().partial_fit(c.with_value(math.nan), c.y, classes=[0, 1, 2]),
        ValueError,
        "X",
    ),
    # ---- prediction and scoring
    *_predict_cases("predict"),
    *_predict_cases("predict_proba"),
    *_predict_cases("predict_log_proba"),
    Case("score-y-count", lambda c: lambda: c.fitted.score(c.X, c.y[:3]), ValueError, "y"),
    Case(
        "score-y-strings-vs-numbers",
        lambda c: lambda: c.fitted.score(c.X, ["a"] * N),
        TypeError,
        "y",
    ),
    Case("score-X-features", lambda c: lambda: c.fitted.score(c.X[:, :1], c.y), ValueError, "X"),
    # ---- constructor arguments: names
    _param("activation", "swish"),
    _param("activation", 3, TypeError),
    _param("solver", "lbfgs"),
    _param("solver", "newton"),
    _param("alpha", -1.0),
    _param("alpha", math.nan),
    _param("n_iter_no_change", -math.inf, TypeError),
    _param("learning_rate", "optimal"),
    _param("dtype", "float16"),
    _param("on_divergence", "ignore"),
    _param("backend", "tensorflow"),
    _param("backend", 3, TypeError),
    _param("backend", "numpy:1"),
    _param("backend", "cupy:99", xpnet.BackendUnavailableError),
    _param("backend", "torch:cuda:99", xpnet.BackendUnavailableError),
    # ---- constructor arguments: every numeric one, negative and non-finite
    *[
        _param(name, value)
        for name in ("learning_rate_init", "momentum", "tol", "validation_fraction", "beta_1")
        for value in (-0.5, math.nan, math.inf)
    ],
    *[
        _param(name, value)
        for name in ("beta_2", "epsilon", "power_t", "l1", "l2")
        for value in (-0.5, math.nan, -math.inf)
    ],
    _param("learning_rate_init", 0.0),
    _param("momentum", 1.0),
    _param("validation_fraction", 1.0),
    _param("epsilon", 0.0),
    _param("learning_rate_init", "fast", TypeError),
    *[_param(name, -1) for name in ("max_iter", "n_iter_no_change", "batch_size")],
    *[_param(name, 0) for name in ("max_iter", "n_iter_no_change", "batch_size")],
    *[_param(name, 2.5, TypeError) for name in ("max_iter", "n_iter_no_change", "batch_size")],
    *[_param(name, math.nan, TypeError) for name in ("max_iter", "n_iter_no_change")],
    _param("random_state", -1),
    _param("random_state", 1.5),
    _param("hidden_layer_sizes", (-1,)),
    _param("hidden_layer_sizes", (4, 0)),
    _param("hidden_layer_sizes", "4", TypeError),
    _param("l1", [0.1]),  # one hidden layer: two weight matrices
    _param("l2", [0.1, 0.1, 0.1]),
    _param("l1", [0.1, math.nan]),
    _param("l2", [0.1, -1.0]),
    _param("l1", "strong", TypeError),
    _param("shuffle", "yes", TypeError),
    _param("early_stopping", 1.5, TypeError),
    # ---- loaders
    Case(
        "load_npz-X-1d",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.zeros(4), y=np.zeros(4))),
        ValueError,
        "X",
    ),
    Case(
        "load_npz-X-0-rows",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.zeros((0, 2)), y=np.zeros(0))),
        ValueError,
        "X",
    ),
    Case(
        "load_npz-X-0-features",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.zeros((3, 0)), y=np.zeros(3))),
        ValueError,
        "X",
    ),
    Case(
        "load_npz-X-nan",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.full((2, 2), np.nan), y=[0, 1])),
        ValueError,
        "X",
    ),
    Case(
        "load_npz-X-strings",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.full((2, 2), "a"), y=[0, 1])),
        TypeError,
        "X",
    ),
    Case(
        "load_npz-X-complex",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.ones((2, 2)) * 1j, y=[0, 1])),
        TypeError,
        "X",
    ),
    Case(
        "load_npz-y-count",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.ones((3, 2)), y=[0, 1])),
        ValueError,
        "y",
    ),
    Case(
        "load_npz-y-fractions",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.ones((2, 2)), y=[0.5, 1.0])),
        ValueError,
        "y",
    ),
    Case(
        "load_npz-y-objects",
        lambda c: (
            lambda: datasets.load_npz(
                c.npz(X=np.ones((2, 2)), y=np.array([0, {"a": 1}], dtype=object))
            )
        ),
        ValueError,  # the safe reader refuses an object member before reading it
        "'y.npy' holds Python objects",
    ),
    Case(
        "load_npz-y-missing",
        lambda c: lambda: datasets.load_npz(c.npz(X=np.ones((2, 2)))),
        ValueError,
        "y",
    ),
    Case(
        "load_csv-not-a-number",
        lambda c: lambda: datasets.load_csv(c.csv("a,b,label\n1,2,0\n3,x,1\n")),
        ValueError,
        "b",
    ),
    Case(
        "load_csv-inf",
        lambda c: lambda: datasets.load_csv(c.csv("a,b,label\n1,2,0\n3,inf,1\n")),
        ValueError,
        "X",
    ),
    Case(
        "load_csv-no-label-column",
        lambda c: lambda: datasets.load_csv(c.csv("a,b\n1,2\n")),
        ValueError,
        "label",
    ),
    Case(
        "load_csv-y-fractions",
        lambda c: lambda: datasets.load_csv(c.csv("a,label\n1,0.5\n2,1\n")),
        ValueError,
        "y",
    ),
    Case(
        "load_csv-no-rows",
        lambda c: lambda: datasets.load_csv(c.csv("a,label\n")),
        ValueError,
        "data.csv",
    ),
    Case(
        "load_csv-not-utf8",
        lambda c: (
            lambda: datasets.load_csv(
                (c.tmp / "latin.csv").write_bytes(b"a,label\n\xff,1\n") and c.tmp / "latin.csv"
            )
        ),
        ValueError,
        "latin.csv",
    ),
    Case("load-unknown-spec", lambda c: lambda: datasets.load("iris"), ValueError, "spec"),
    Case("load-spec-type", lambda c: lambda: datasets.load(3), TypeError, "spec"),
    Case(
        "make_moons-n_samples",
        lambda c: lambda: datasets.make_moons(n_samples=-1),
        ValueError,
        "n_samples",
    ),
    Case(
        "make_moons-noise",
        lambda c: lambda: datasets.make_moons(noise=math.nan),
        ValueError,
        "noise",
    ),
    Case(
        "train_test_split-test_size",
        lambda c: lambda: datasets.train_test_split(X_HOST, Y_HOST, test_size=1.5),
        ValueError,
        "test_size",
    ),
    Case(
        "train_test_split-y-count",
        lambda c: lambda: datasets.train_test_split(X_HOST, Y_HOST[:3]),
        ValueError,
        "y",
    ),
    Case(
        "load_mnist-kind", lambda c: lambda: datasets.load_mnist(c.tmp, "val"), ValueError, "kind"
    ),
]

_IDS = [case.id for case in CASES]
assert len(set(_IDS)) == len(_IDS), "case ids must be unique"


def _names(arg: str, message: str) -> bool:
    """True when ``arg`` appears in ``message`` as a word of its own (not inside another)."""
    return re.search(rf"(?<![\w.]){re.escape(arg)}(?![\w])", message) is not None


#: Cases that never touch a backend's arrays: run once, on NumPy.
_BACKEND_FREE = ("param-", "load", "make_moons", "train_test_split")
ON_EVERY_BACKEND = [case for case in CASES if not case.id.startswith(_BACKEND_FREE)]
ONCE = [case for case in CASES if case.id.startswith(_BACKEND_FREE)]


@pytest.mark.parametrize("case", ON_EVERY_BACKEND, ids=[c.id for c in ON_EVERY_BACKEND])
def test_bad_input_raises_a_documented_error_naming_the_argument(case, backend, tmp_path):
    _check(case, Ctx(backend, tmp_path))


@pytest.mark.parametrize("case", ONCE, ids=[c.id for c in ONCE])
def test_bad_arguments_and_files_raise_a_documented_error_naming_them(case, tmp_path):
    _check(case, Ctx(xpnet.get_backend("numpy"), tmp_path))


def test_lbfgs_is_refused_with_the_solvers_that_work():
    with pytest.raises(ValueError, match="solver='lbfgs' is not supported.*'adam'"):
        xpnet.MLPClassifier(solver="lbfgs").fit(X_HOST, Y_HOST)


def test_a_column_y_is_ravelled_with_a_data_conversion_warning():
    from xpnet.exceptions import DataConversionWarning

    kw = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0, backend="numpy")
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = xpnet.MLPClassifier(**kw).fit(X_HOST, Y_HOST[:, None])
    flat = xpnet.MLPClassifier(**kw).fit(X_HOST, Y_HOST)
    np.testing.assert_array_equal(column.predict_proba(X_HOST), flat.predict_proba(X_HOST))


def test_numpy_inf_patience_is_accepted():
    xpnet.MLPClassifier(n_iter_no_change=np.inf, max_iter=2, backend="numpy").fit(X_HOST, Y_HOST)


def _check(case: Case, ctx: Ctx) -> None:
    call = case.build(ctx)
    with pytest.raises(case.exc) as caught:
        call()
    message = str(caught.value)
    assert _names(case.arg, message), f"message does not name {case.arg!r}: {message!r}"
    # the rest of the message says what was expected or given, beyond the name
    assert len(message) > len(case.arg) + 15, f"message too terse: {message!r}"
