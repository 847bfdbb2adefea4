"""Property: whatever data comes in, xpnet fails only with its documented exceptions.

Hypothesis generates shapes (0 rows and 0 columns included), dtypes (ints,
floats, bools, complex, strings, Python objects) and values (NaN, inf, huge,
tiny) for X and y, and drives ``MLPClassifier.fit`` / ``predict`` on NumPy and
the ``load_npz`` / ``load_csv`` loaders on files written from the same data.
Anything other than ValueError, TypeError, DivergenceError or
BackendUnavailableError is a bug; on success the outputs have the promised
shapes and dtypes, and predictions are known classes.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # a test extra; absent on some GPU hosts

import hypothesis.extra.numpy as hnp  # noqa: E402
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import xpnet
from xpnet import datasets

DOCUMENTED = (ValueError, TypeError, xpnet.DivergenceError, xpnet.BackendUnavailableError)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ------------------------------------------------------------------ strategies

SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, 1e300, -1e300, 3e38, 5e-324, 1e-310, 0.0, -0.0]


def _floats(width: int, special: bool) -> st.SearchStrategy:
    """Floats of ``width`` bits: moderate ones, plus (when ``special``) NaN, inf, huge, tiny."""
    finite = st.floats(-1e3, 1e3, allow_nan=False, width=width)
    if not special:
        return finite
    with np.errstate(over="ignore", under="ignore"):  # 1e300 is inf in float32: fine
        odd = st.sampled_from(
            [np.float64(v).astype(f"float{width}").item() for v in SPECIAL_FLOATS]
        )
    return st.one_of(finite, odd)


@st.composite
def numeric_array(draw, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    kind = np.dtype(dtype).kind
    special = draw(st.booleans())  # half the arrays hold odd values, half only tame ones
    if kind == "f":
        elements = _floats(np.dtype(dtype).itemsize * 8, special)
    elif kind == "c":
        part = _floats(np.dtype(dtype).itemsize * 4, special)
        elements = st.builds(complex, part, part)
    elif kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        tame = st.integers(max(info.min, -3), min(info.max, 3))
        elements = st.one_of(tame, st.sampled_from([info.min, info.max])) if special else tame
    return draw(hnp.arrays(dtype, shape, elements=elements))


_OBJECTS = st.one_of(
    st.integers(-3, 3),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.none(),
    st.just(object()),
)

NUMERIC_DTYPES = ["int8", "int64", "uint8", "bool", "float16", "float32", "float64"]
ODD_DTYPES = ["complex64", "complex128", "str", "object"]


@st.composite
def array_of(draw, shape: tuple[int, ...], dtypes: list[str]) -> np.ndarray:
    dtype = draw(st.sampled_from(dtypes))
    if dtype == "str":
        return draw(
            hnp.arrays(
                np.dtype("U4"),
                shape,
                elements=st.text(st.characters(exclude_characters="\x00"), max_size=4),
            )
        )
    if dtype == "object":
        return draw(hnp.arrays(object, shape, elements=_OBJECTS))
    return draw(numeric_array(dtype, shape))


@st.composite
def data_sets(draw, n_features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): half well-formed (numeric, 2-D, labels to match), half anything at all.

    ``n_features``: the feature count well-formed X get (default: 1..4).
    """
    if draw(st.booleans()):  # well-formed shapes and dtypes; values may still be odd
        n = draw(st.integers(2, 12))
        d = draw(st.integers(1, 4)) if n_features is None else n_features
        X = draw(array_of((n, d), NUMERIC_DTYPES))
        labels = st.sampled_from([0, 1, 2]) if draw(st.booleans()) else st.sampled_from("abc")
        y = np.array(draw(st.lists(labels, min_size=n, max_size=n)))
        return X, y
    n = draw(st.integers(0, 12))
    d = draw(st.integers(0, 4))
    x_shape = draw(st.sampled_from([(n, d), (n,), (n, d, 1)]))
    X = draw(array_of(x_shape, NUMERIC_DTYPES + ODD_DTYPES))
    n_y = draw(st.sampled_from([n, max(n - 1, 0), n + 1]))
    y = draw(array_of((n_y,), NUMERIC_DTYPES + ODD_DTYPES))
    return X, y


def _quiet(fn, *args):
    """Call ``fn``; NumPy's overflow warnings on odd values are expected, not failures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args)


# ------------------------------------------------------------------ the estimator


@SETTINGS
@given(data_sets())
def test_fit_and_predict_fail_only_with_documented_errors(data):
    X, y = data
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(3,), max_iter=2, batch_size=4, backend="numpy", random_state=0
    )
    try:
        _quiet(clf.fit, X, y)
    except DOCUMENTED as e:
        event(f"fit raised {type(e).__name__}")
        return
    event("fit succeeded")
    n = X.shape[0]
    assert X.ndim == 2 and n >= 1 and X.shape[1] >= 1, "fit accepted a malformed X"
    assert len(clf.classes_) >= 2
    pred = _quiet(clf.predict, X)
    assert isinstance(pred, np.ndarray) and pred.shape == (n,)
    assert np.isin(pred, clf.classes_).all(), "predict returned a label it never saw"
    proba = _quiet(clf.predict_proba, X)
    assert proba.shape == (n, len(clf.classes_))
    assert _quiet(clf.predict_log_proba, X).shape == (n, len(clf.classes_))
    assert all(np.isfinite(xpnet.to_numpy(a)).all() for pair in clf.params_ for a in pair)


@SETTINGS
@given(data_sets(n_features=3))
def test_predict_on_any_input_fails_only_with_documented_errors(other):
    """A fitted model, then predict on arbitrary data: same rule."""
    X_train = np.random.default_rng(0).normal(size=(12, 3))
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, backend="numpy", random_state=0)
    clf.fit(X_train, np.arange(12) % 3)
    X = other[0]
    for method in (clf.predict, clf.predict_proba, clf.predict_log_proba):
        try:
            out = _quiet(method, X)
        except DOCUMENTED as e:
            event(f"predict raised {type(e).__name__}")
            continue
        event("predict succeeded")
        assert X.ndim == 2 and X.shape[0] >= 1 and X.shape[1] == 3
        assert out.shape[0] == X.shape[0]
        if method == clf.predict:
            assert np.isin(out, clf.classes_).all()


# ------------------------------------------------------------------ the loaders


def _check_loaded(X, y, n: int, d: int) -> None:
    assert X.dtype == np.float64 and X.shape == (n, d) and n >= 1 and d >= 1
    assert np.isfinite(X).all()
    assert y.shape == (n,) and (y.dtype == np.int64 or y.dtype.kind == "U")


@SETTINGS
@given(data_sets())
def test_load_npz_fails_only_with_documented_errors(tmp_path: Path, data):
    X, y = data
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)  # object arrays are pickled here: the loader must refuse them
    try:
        Xl, yl = _quiet(datasets.load_npz, path)
    except DOCUMENTED as e:
        event(f"load_npz raised {type(e).__name__}")
        return
    event("load_npz succeeded")
    assert X.ndim == 2
    _check_loaded(Xl, yl, *X.shape)
    np.testing.assert_array_equal(Xl, X.astype(np.float64))


def _cell(value) -> str:
    return repr(value) if isinstance(value, (float, np.floating)) else str(value)


@SETTINGS
@given(data_sets(), st.booleans())
def test_load_csv_fails_only_with_documented_errors(tmp_path: Path, data, label_first):
    X, y = data
    X2 = X[:, None] if X.ndim == 1 else X[..., 0] if X.ndim == 3 else X
    d = X2.shape[1]
    names = [f"f{j}" for j in range(d)]
    header = ["label", *names] if label_first else [*names, "label"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for i in range(max(X2.shape[0], y.shape[0])):
        row = [_cell(v) for v in X2[i]] if i < X2.shape[0] else []
        label = _cell(y[i]) if i < y.shape[0] else ""
        writer.writerow([label, *row] if label_first else [*row, label])
    path = tmp_path / "data.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    try:
        Xl, yl = _quiet(datasets.load_csv, path)
    except DOCUMENTED as e:
        event(f"load_csv raised {type(e).__name__}")
        return
    event("load_csv succeeded")
    _check_loaded(Xl, yl, Xl.shape[0], d)


@pytest.mark.parametrize("payload", [b"", b"\x00" * 10, b"PK\x03\x04junk", b"\x93NUMPY"])
def test_loaders_refuse_junk_files(tmp_path: Path, payload: bytes):
    for name, loader in (("junk.npz", datasets.load_npz), ("junk.csv", datasets.load_csv)):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises((ValueError, TypeError), match=name.replace(".", r"\.")):
            loader(path)
