"""Numbers that do not fit are a ValueError naming the argument, never an OverflowError.

The limits are NumPy's own (``np.iinfo(np.int64)``, ``np.finfo(np.float64)``);
each refusal is checked against what Python or NumPy says about the same
number, and the values just inside the limits are checked to pass unchanged.
Numeric strings held as objects get what the same strings in a string array
get.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet.validation import check_labels, check_sample_weight, check_targets, check_X

INT64 = np.iinfo(np.int64)
F64_MAX = np.finfo(np.float64).max
WIDE = np.finfo(np.longdouble).max > F64_MAX  # longdouble wider than float64 here
N = 12


def _X(n: int = N) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 2))


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y, **kw)


def _clf(backend) -> xpnet.MLPClassifier:
    return xpnet.MLPClassifier(
        (3,), max_iter=1, backend=backend.name, random_state=0, compile="none"
    )


def _reg(backend) -> xpnet.MLPRegressor:
    return xpnet.MLPRegressor(
        (3,), max_iter=1, backend=backend.name, random_state=0, compile="none"
    )


def _overflows_float(v) -> bool:
    """Python's own verdict: float(v) overflows."""
    try:
        float(v)
    except OverflowError:
        return True
    return False


# ----------------------------------------------------------------------------- ints in X


@pytest.mark.parametrize(
    "big, where",
    [(10**400, (0, 0)), (-(10**309), (5, 1)), (2**1024, (N - 1, 0)), (10**5000, (3, 1))],
    ids=["1e400", "-1e309", "2^1024", "1e5000"],
)
@pytest.mark.parametrize("form", ["list", "object"])
def test_python_ints_beyond_float64_in_X_are_a_value_error_naming_the_cell(
    backend, big, where, form
):
    assert _overflows_float(big)  # the reference: Python cannot make a float64 of it
    rows = _X().tolist()
    rows[where[0]][where[1]] = big
    X = rows if form == "list" else np.array(rows, dtype=object)
    y = np.arange(N) % 2
    with pytest.raises(ValueError, match=rf"X: row {where[0]}, column {where[1]} .*float64 range"):
        _fit(_clf(backend), X, y)
    with pytest.raises(ValueError, match="float64 range"):
        check_X(X)


def test_ints_just_inside_float64_pass_and_are_the_floats_python_makes(backend):
    top = int(F64_MAX)  # exactly representable: the largest float64, as an int
    X = _X().tolist()
    X[0][0], X[1][1], X[2][0] = top, -top, 2**70
    got = check_X(np.array(X, dtype=object))
    assert got.dtype == np.float64
    assert got[0, 0] == float(top) == F64_MAX and got[1, 1] == -F64_MAX
    assert got[2, 0] == float(2**70)
    # a float32 model names what it cannot hold instead of computing with inf
    est = xpnet.MLPRegressor((3,), max_iter=1, backend=backend.name, dtype="float32")
    with pytest.raises(ValueError, match="float32 range"):  # beyond float32: named, not inf
        _fit(est, np.array(X, dtype=object), np.zeros(N))


# ----------------------------------------------------------------------------- integer labels


@pytest.mark.parametrize(
    "label, form",
    [
        (2**63, "list"),
        (-(2**63) - 1, "list"),
        (10**30, "object"),
        (np.iinfo(np.uint64).max, "uint64"),
        (2**63, "uint64"),
    ],
    ids=["2^63-list", "-2^63-1-list", "1e30-object", "uint64-max", "2^63-uint64"],
)
def test_integer_labels_beyond_int64_are_a_value_error_naming_y(backend, label, form):
    assert not INT64.min <= label <= INT64.max  # the reference: NumPy's int64 range
    labels = [0, 1] * (N // 2)
    labels[7] = label
    if form == "list":
        y = labels
    elif form == "object":
        y = np.array(labels, dtype=object)
    else:
        y = np.array(labels, dtype=np.uint64)
    with pytest.raises(ValueError, match=r"y: the label at row 7 .*int64 range.*as strings"):
        _fit(_clf(backend), _X(), y)
    # partial_fit's classes are labels too
    with pytest.raises(ValueError, match="classes: the label at row 2 .*int64"):
        _clf(backend).partial_fit(_X(), [0, 1] * (N // 2), classes=[0, 1, label])


def test_labels_at_the_int64_limits_are_kept_exactly(backend):
    """Distinct labels 2**63 - 1 and 2**63 - 2 are two classes (float64 would merge them)."""
    top, bottom = int(INT64.max), int(INT64.min)
    assert float(top) == float(top - 1)  # what a float conversion would do to them
    y = [top, top - 1, bottom] * (N // 3)
    clf = _fit(_clf(backend), _X(), y)
    assert clf.classes_.dtype == np.int64
    assert clf.classes_.tolist() == sorted({top, top - 1, bottom})
    assert set(np.asarray(xpnet.to_numpy(clf.predict(_X()))).tolist()) <= {top, top - 1, bottom}
    # as strings, any size is a label
    big = [str(10**30), "0"] * (N // 2)
    assert _fit(_clf(backend), _X(), big).classes_.tolist() == ["0", str(10**30)]


# ----------------------------------------------------------------------------- longdouble


needs_wide = pytest.mark.skipif(not WIDE, reason="longdouble is float64 on this platform")


@needs_wide
@pytest.mark.parametrize("value", ["1e400", "-1e309", "1.2e4000"])
def test_longdouble_beyond_float64_is_a_value_error_not_inf_or_a_divergence(backend, value):
    big = np.longdouble(value)
    assert np.isfinite(big) and np.float64(big) in (np.inf, -np.inf)  # NumPy's verdict
    X = _X().astype(np.longdouble)
    X[4, 1] = big
    with pytest.raises(ValueError, match=r"X: row 4, column 1 holds .*float64 range"):
        _fit(_reg(backend), X, np.zeros(N))
    y = np.zeros(N, dtype=np.longdouble)
    y[2] = big
    with pytest.raises(ValueError, match=r"y: row 2 holds .*float64 range"):
        _fit(_reg(backend), _X(), y)
    w = np.ones(N, dtype=np.longdouble)
    w[9] = abs(big)
    with pytest.raises(ValueError, match=r"sample_weight: row 9 holds .*float64 range"):
        _fit(_reg(backend), _X(), np.zeros(N), sample_weight=w)
    labels = np.array([0, 1] * (N // 2), dtype=np.longdouble)
    labels[3] = big
    with pytest.raises(ValueError, match=r"y: row 3 holds .*float64 range"):
        _fit(_clf(backend), _X(), labels)


@needs_wide
def test_longdouble_inside_float64_passes_and_labels_that_would_merge_are_refused():
    top = np.longdouble(F64_MAX)
    X = _X().astype(np.longdouble)
    X[0, 0] = top
    assert check_X(X)[0, 0] == top
    assert check_targets(np.array([top, 1], dtype=np.longdouble), 2)[0] == F64_MAX
    # 1 + 2**-60 is a distinct longdouble label that float64 would merge with 1
    a = np.longdouble(1) + np.longdouble(2) ** -60
    assert a != 1 and np.float64(a) == 1
    with pytest.raises(ValueError, match="y: the label at row 0 .*more digits than float64"):
        check_labels(np.array([a, 1, 2], dtype=np.longdouble), 3)


# ----------------------------------------------------------------------------- other forms


@pytest.mark.parametrize("value", [10**400, [1, 10**400], np.array([10**309, 1], dtype=object)])
def test_sample_weights_that_do_not_fit_name_sample_weight(value):
    with pytest.raises(ValueError, match="sample_weight: .*float64 range"):
        check_sample_weight(value, 2)
    # Python ints that fit are numbers, not a dtype-object refusal
    np.testing.assert_array_equal(check_sample_weight([2**70, 1], 2), [float(2**70), 1.0])


@pytest.mark.parametrize("strings", [["1.5", "2"], ["3", "-4"], ["1e3", "nan"]])
def test_numeric_strings_as_objects_are_treated_like_a_string_array(backend, strings):
    """X and regression targets: the same TypeError for object and string arrays (never parsed);
    labels: the same string classes either way."""
    rows = np.array([strings] * N)
    as_objects = rows.astype(object)
    assert rows.dtype.kind == "U" and as_objects.dtype.kind == "O"
    for X in (rows, as_objects):
        with pytest.raises(TypeError, match="X: expected numeric data.*strings"):
            _fit(_reg(backend), X, np.zeros(N))
        with pytest.raises(TypeError, match="X: expected numeric data.*strings"):
            check_X(X)
    for y in (rows[:, 0], as_objects[:, 0]):
        with pytest.raises(TypeError, match="y: expected numeric targets, got strings"):
            _fit(_reg(backend), _X(), y)
    labels = [strings[0], strings[1]] * (N // 2)
    from_u = check_labels(np.array(labels), N)
    from_o = check_labels(np.array(labels, dtype=object), N)
    assert from_u.dtype == from_o.dtype and from_u.tolist() == from_o.tolist() == labels


@pytest.mark.parametrize("big", [1e39, -3.5e38, 1e300])
def test_regression_targets_beyond_float32_are_refused_by_a_float32_model(backend, big):
    """They would be inf on the device and end as a DivergenceError; float64 holds them."""
    assert np.isinf(np.float32(big)) and np.isfinite(np.float64(big))  # NumPy's verdict
    y = np.zeros(N)
    y[6] = big
    with pytest.raises(ValueError, match=r"y: holds values up to .*float32 range"):
        _fit(_reg(backend), _X(), y)
    with pytest.raises(ValueError, match=r"y: holds values up to .*float32 range"):
        _reg(backend).partial_fit(_X(), y)
    ok = y.copy()
    ok[6] = np.sign(big) * float(np.finfo(np.float32).max) / 2
    assert check_targets(ok, N, float32=True)[6] == ok[6]
