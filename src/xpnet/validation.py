"""Argument and data checks shared by the estimators and the data loaders.

* A declarative table of parameter constraints, in the spirit of
  scikit-learn's ``_parameter_constraints``: ``validate_params`` checks every
  constructor argument against its list of accepted forms and raises a
  ``TypeError`` (no form has the value's type) or a ``ValueError`` (the type
  is right, the value is not), naming the argument and what it accepts.
* ``check_X``: features, 2-D, numeric, finite, on any array-API backend.
* ``check_labels`` / ``check_targets`` / ``check_sample_weight``: the
  classifier's labels, the regressor's targets and sample weights, all as
  host NumPy arrays.
* ``encode_labels``: labels to 0-based class indices.
* ``stratified_split``: the one random split used by the estimators' early
  stopping and by ``datasets.train_test_split``.
* ``feature_names`` / ``check_feature_names``: DataFrame column names, with
  scikit-learn's rules at predict time.

Nothing here imports scikit-learn, pandas or any array library beyond NumPy.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "Interval",
    "Options",
    "StrOptions",
    "Boolean",
    "Verbose",
    "RandomState",
    "HiddenSizes",
    "PerLayer",
    "Anything",
    "validate_params",
    "check_X",
    "check_labels",
    "check_targets",
    "check_sample_weight",
    "encode_labels",
    "stratified_split",
    "n_test_samples",
    "feature_names",
    "check_feature_names",
]


# ----------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (``numbers.Integral`` or ``numbers.Real``) in an interval.

    ``closed``: ``"left"``, ``"right"``, ``"both"`` or ``"neither"``; a bound of
    None is unbounded. Reals must be finite.
    """

    kind: type
    low: float | None
    high: float | None
    closed: str = "left"

    def type_ok(self, value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, self.kind)

    def accepts(self, value: Any) -> bool:
        if not self.type_ok(value) or not math.isfinite(float(value)):
            return False
        v = float(value)
        left = self.closed in ("left", "both")
        right = self.closed in ("right", "both")
        if self.low is not None and (v < self.low if left else v <= self.low):
            return False
        if self.high is not None and (v > self.high if right else v >= self.high):
            return False
        return True

    def describe(self) -> str:
        what = "an int" if self.kind is numbers.Integral else "a finite number"
        if self.low is None and self.high is None:
            return what
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "[" if self.closed in ("left", "both") and self.low is not None else "("
        right = "]" if self.closed in ("right", "both") and self.high is not None else ")"
        return f"{what} in {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (e.g. ``{math.inf}``)."""

    values: frozenset

    def type_ok(self, value: Any) -> bool:
        return self.accepts(value)

    def accepts(self, value: Any) -> bool:
        try:
            return not isinstance(value, bool) and value in self.values
        except TypeError:
            return False

    def describe(self) -> str:
        return " or ".join(repr(v) for v in sorted(self.values, key=repr))


@dataclass(frozen=True)
class StrOptions:
    """One of these strings; ``refused`` maps known but unsupported ones to the reason."""

    values: tuple[str, ...]
    refused: tuple[tuple[str, str], ...] = ()

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, str)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class Boolean:
    """True or False (Python or NumPy bools)."""

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    accepts = type_ok

    def describe(self) -> str:
        return "True or False"


class Verbose:
    """A bool or an int >= 0."""

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_, numbers.Integral))

    def accepts(self, value: Any) -> bool:
        return self.type_ok(value) and int(value) >= 0

    def describe(self) -> str:
        return "a bool or an int >= 0"


class RandomState:
    """None, an int in [0, 2**32), a ``numpy.random.RandomState`` or a ``Generator``."""

    def type_ok(self, value: Any) -> bool:
        return value is None or isinstance(
            value, (numbers.Real, np.random.RandomState, np.random.Generator)
        )

    def accepts(self, value: Any) -> bool:
        if value is None or isinstance(value, (np.random.RandomState, np.random.Generator)):
            return True
        return (
            isinstance(value, numbers.Integral)
            and not isinstance(value, bool)
            and 0 <= int(value) < 2**32
        )

    def describe(self) -> str:
        return "None, an int in [0, 2**32), a numpy RandomState or a numpy Generator"


class HiddenSizes:
    """An int >= 1 or a sequence of ints >= 1 (the hidden layers' widths)."""

    def type_ok(self, value: Any) -> bool:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return True
        return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str)

    def accepts(self, value: Any) -> bool:
        if not self.type_ok(value):
            return False
        sizes = [value] if isinstance(value, numbers.Integral) else list(value)
        return all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and int(s) >= 1
            for s in sizes
        )

    def describe(self) -> str:
        return "an int >= 1 or a sequence of ints >= 1, such as (100,) or (100, 50)"


class PerLayer:
    """A finite number >= 0, or a sequence of them (one per weight matrix: checked at fit)."""

    def type_ok(self, value: Any) -> bool:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return True
        return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str)

    def accepts(self, value: Any) -> bool:
        if not self.type_ok(value):
            return False
        values = [value] if isinstance(value, numbers.Real) else list(value)
        return all(
            isinstance(v, numbers.Real)
            and not isinstance(v, bool)
            and math.isfinite(float(v))
            and float(v) >= 0
            for v in values
        )

    def describe(self) -> str:
        return "a finite number >= 0, or one per weight matrix"


class Anything:
    """Any value (checked elsewhere, e.g. the backend when it is resolved)."""

    def type_ok(self, value: Any) -> bool:
        return True

    accepts = type_ok

    def describe(self) -> str:
        return "anything"


def validate_params(constraints: dict, params: dict, owner: str) -> None:
    """Check ``params`` against ``constraints`` (``{name: [constraint, ...]}``).

    A value passes when one of its constraints accepts it. Otherwise the error
    is a ``TypeError`` when no constraint takes a value of its type, else a
    ``ValueError``; either names the parameter, what it accepts and what it got.
    """
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if any(c.accepts(value) for c in allowed):
            continue
        for c in allowed:
            for refused, reason in getattr(c, "refused", ()):
                if value == refused:
                    raise ValueError(f"{owner}: {name}={value!r} is not supported: {reason}")
        expected = "; or ".join(c.describe() for c in allowed)
        exc = ValueError if any(c.type_ok(value) for c in allowed) else TypeError
        raise exc(
            f"{owner}: the {name!r} parameter must be {expected}; got {value!r} "
            f"({type(value).__name__})"
        )


# ----------------------------------------------------------------------------- numbers that fit

_FLOAT64_MAX = float(np.finfo(np.float64).max)
_INT64 = np.iinfo(np.int64)


def _where(index: tuple) -> str:
    """'row 3' or 'row 3, column 1' for an index into a 1-D or 2-D array."""
    if not index:
        return "its value"
    return f"row {index[0]}" + (f", column {index[1]}" if len(index) > 1 else "")


def _describe(value: Any) -> str:
    """A number for a message, even one too long to print (10**5000)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        v = int(value)
        if v.bit_length() > 64:
            return f"an integer of about {int(v.bit_length() * math.log10(2)) + 1} digits"
        return str(v)
    if isinstance(value, np.floating):
        return np.format_float_scientific(value, precision=3)
    return repr(value)


def _refuse_strings(host: np.ndarray, name: str, what: str) -> None:
    """Objects that are strings get the TypeError a string array gets (never parsed)."""
    for index, v in np.ndenumerate(host):
        if isinstance(v, (str, bytes)):
            raise TypeError(
                f"{name}: expected {what}, got strings (dtype object, e.g. {v!r} at "
                f"{_where(index)}); convert them to numbers first"
            )


def _objects_to_float64(host: np.ndarray, name: str, what: str) -> np.ndarray:
    """An object array of numbers as float64; strings a TypeError, overflow a ValueError."""
    _refuse_strings(host, name, what)
    try:
        return host.astype(np.float64)
    except OverflowError:
        for index, v in np.ndenumerate(host):
            try:
                float(v)
            except OverflowError:
                raise ValueError(
                    f"{name}: {_where(index)} holds {_describe(v)}, beyond the float64 range "
                    f"(+-{_FLOAT64_MAX:.3g}); scale it down or drop it"
                ) from None
        raise
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{name}: expected {what}, got dtype object holding a non-number ({e})"
        ) from e


def _check_float64_range(host: np.ndarray, name: str) -> None:
    """Floats wider than float64 (``longdouble``) must fit in it: they are computed in it."""
    if host.dtype.kind != "f" or host.dtype.itemsize <= 8 or host.size == 0:
        return
    big = np.abs(host) > _FLOAT64_MAX  # compared in the wide type: no overflow here
    if big.any():
        index = np.unravel_index(int(np.argmax(big)), host.shape)
        raise ValueError(
            f"{name}: {_where(index)} holds {_describe(host[index])}, beyond the float64 "
            f"range (+-{_FLOAT64_MAX:.3g}) it is computed in; scale it down or drop it"
        )


def _to_float64(host: np.ndarray, name: str, what: str) -> np.ndarray:
    """Numbers of any NumPy dtype (objects included) as float64, refusing what does not fit."""
    if host.dtype.kind == "O":
        return _objects_to_float64(host, name, what)
    if host.dtype.kind in "USa":
        raise TypeError(
            f"{name}: expected {what}, got strings (dtype {host.dtype}); convert them to "
            "numbers first"
        )
    _check_float64_range(host, name)
    return host.astype(np.float64)


# ----------------------------------------------------------------------------- data: X

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _all_finite_host(X: np.ndarray, rows: int | None = None) -> bool:
    """True when no element of X is NaN or inf; checked in blocks of rows."""
    from .backend import host_blocks  # a memory-mapped X read once does not stay resident

    return all(bool(np.isfinite(block).all()) for block in host_blocks(X, rows))


def _max_abs_host(X: np.ndarray, rows: int | None = None) -> float:
    """max |X|, in blocks of rows (a memory-mapped X is never loaded whole)."""
    from .backend import host_blocks

    return max(float(np.max(np.abs(block))) for block in host_blocks(X, rows))


def _detach(X: Any) -> Any:
    """A torch tensor that requires grad, detached (prediction and training need no graph)."""
    if array_api_compat.is_torch_array(X) and getattr(X, "requires_grad", False):
        return X.detach()
    return X


def check_X(X: Any, name: str = "X", float32: bool = False) -> Any:
    """Validate features: 2-D, numeric, non-empty, finite.

    Args:
        X: an array of any array-API library, a DataFrame, or nested lists.
        name: how error messages call it.
        float32: also refuse values beyond float32's range (the model computes in it).

    Returns:
        The array itself (on its device) when it is an array-API array, else
        a NumPy array. Torch tensors that require grad come back detached.
    """
    X = _detach(X)
    if not array_api_compat.is_array_api_obj(X) or isinstance(X, (int, float, complex)):
        if X is None:
            raise TypeError(f"{name}: expected a 2-D array of numbers, got None")
        if type(X).__module__.startswith("scipy.sparse"):
            raise TypeError(
                f"{name}: sparse input ({type(X).__name__}) is not supported; "
                "convert it to a dense array first, e.g. X.toarray()"
            )
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}: could not be read as a 2-D numeric array ({e})") from e
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(
            f"{name}: expected a 2-D array (n_samples, n_features), got {len(shape)}-D shape "
            f"{shape}. Reshape your data: X.reshape(1, -1) for a single sample, "
            "X.reshape(-1, 1) for a single feature"
        )
    if shape[0] == 0:
        raise ValueError(
            f"{name}: found 0 sample(s) (shape={shape}) while a minimum of 1 is required."
        )
    if shape[1] == 0:
        raise ValueError(
            f"{name}: found 0 feature(s) (shape={shape}) while a minimum of 1 is required."
        )
    xp = array_api_compat.array_namespace(X)
    dtype = X.dtype
    if isinstance(X, np.ndarray):
        if dtype.kind == "c":
            raise ValueError(
                f"{name}: Complex data not supported; expected real numbers, got dtype {dtype}"
            )
        if dtype.kind == "O":  # numbers held as Python objects (e.g. from a DataFrame)
            X = _objects_to_float64(X, name, "numeric data (ints or floats)")
            dtype = X.dtype
        _check_float64_range(X, name)
        if dtype.kind not in "biuf":
            got = f"strings (dtype {dtype})" if dtype.kind in "US" else f"dtype {dtype}"
            raise TypeError(
                f"{name}: expected numeric data (ints or floats), got {got}; "
                "convert them to numbers first"
            )
        if dtype.kind == "b":
            X = X.astype(np.float64)
        finite = _all_finite_host(X) if dtype.kind == "f" else True
    else:
        if not (
            xp.isdtype(dtype, "real floating") or xp.isdtype(dtype, "integral") or dtype == xp.bool
        ):
            if xp.isdtype(dtype, "complex floating"):
                raise ValueError(
                    f"{name}: Complex data not supported; expected real numbers, got dtype {dtype}"
                )
            raise TypeError(f"{name}: expected numeric data, got dtype {dtype}")
        if dtype == xp.bool:
            X = xp.astype(X, xp.float32)
        finite = bool(xp.all(xp.isfinite(X))) if xp.isdtype(X.dtype, "real floating") else True
    if not finite:
        raise ValueError(
            f"{name}: contains NaN or infinity; remove or impute those values (or, if they "
            "overflowed a float32 conversion, keep them in float64 or scale them down)"
        )
    if float32:
        _check_float32_range(X, xp, name)
    return X


def _check_float32_range(X: Any, xp: Any, name: str) -> None:
    """Wider floats beyond float32's range would turn into inf on the device: refuse them."""
    if isinstance(X, np.ndarray):
        if X.dtype.kind != "f" or X.dtype.itemsize <= 4:
            return
        biggest = _max_abs_host(X)
    else:
        if X.dtype != getattr(xp, "float64", None):
            return
        biggest = float(xp.max(xp.abs(X)))
    if biggest > _FLOAT32_MAX:
        raise ValueError(
            f"{name}: holds values up to {biggest:g}, beyond the float32 range "
            f"(+-{_FLOAT32_MAX:.3g}) this model computes in; scale them down or use "
            "dtype='float64'"
        )


# ----------------------------------------------------------------------------- data: y


def _host(y: Any) -> np.ndarray | None:
    """An array-API array (any device) or a pandas object as NumPy; None for other input."""
    from .backend import to_numpy

    y = _detach(y)
    if array_api_compat.is_array_api_obj(y):
        return to_numpy(y)
    if hasattr(y, "to_numpy") and hasattr(y, "dtype"):  # a pandas Series or DataFrame
        return np.asarray(y.to_numpy())
    return None


def check_labels(
    y: Any, n: int, name: str = "y", owner: str = "MLPClassifier", ravel_column: bool = True
) -> np.ndarray:
    """Class labels as a host 1-D NumPy array of length ``n`` (numbers or strings).

    A column of shape (n, 1) is ravelled with a ``DataConversionWarning`` (as
    scikit-learn does) when ``ravel_column``; any other shape is a ValueError.
    """
    if y is None:
        raise ValueError(f"{name}: {owner} requires y to be passed, but the target y is None")
    host = _host(y)
    if host is None:
        try:
            host = np.asarray(y)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}: could not be read as a 1-D array of labels ({e})") from e
        if host.dtype.kind in "US" and host.ndim == 1:
            host = np.asarray(y, dtype=object)  # [1, "a"]: mixed types must not pass
        elif host.dtype.kind == "f" and host.size and np.abs(host).max() >= 2.0**63:
            host = np.asarray(y, dtype=object)  # [2**63, 1] read as floats: look at the ints
    if host.ndim == 2 and host.shape[1] == 1 and ravel_column:
        from .exceptions import data_conversion_warning

        warnings.warn(
            data_conversion_warning(
                f"A column-vector y was passed when a 1d array was expected ({name} has shape "
                f"{host.shape}). Please change the shape of y to (n_samples, ), for example "
                "using ravel()."
            ),
            stacklevel=3,
        )
        host = host[:, 0]
    if host.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of labels, got shape {host.shape}")
    if host.shape[0] != n:
        raise ValueError(
            f"{name}: has {host.shape[0]} labels but X has {n} samples; they must match"
        )
    if host.dtype.kind == "O":
        kinds = {type(v) for v in host}
        if all(issubclass(k, str) for k in kinds):
            host = host.astype(str)
        elif all(issubclass(k, (numbers.Integral, np.bool_)) for k in kinds):
            _check_int64_labels(host, name)
            host = host.astype(np.int64)
        elif all(issubclass(k, numbers.Real) for k in kinds):
            host = host.astype(np.float64)  # checked for fractions below
        else:
            raise TypeError(
                f"{name}: labels must all be numbers or all strings, got types "
                f"{sorted(k.__name__ for k in kinds)}"
            )
    if host.dtype.kind not in "biufU":
        raise TypeError(f"{name}: labels must be integers or strings, got dtype {host.dtype}")
    if host.dtype.kind == "u" and host.dtype.itemsize == 8:
        _check_int64_labels(host, name)
        host = host.astype(np.int64)
    if host.dtype.kind == "f" and host.dtype.itemsize > 8:
        _check_float64_range(host, name)
        wide, host = host, host.astype(np.float64)
        if not np.all(host == wide):
            index = int(np.argmax(host != wide))
            raise ValueError(
                f"{name}: the label at row {index} ({_describe(wide[index])}) has more digits "
                "than float64 holds, so distinct labels could merge; pass integer or string "
                "labels"
            )
    if host.dtype.kind == "f":
        if not np.isfinite(host).all():
            raise ValueError(f"{name}: labels contain NaN or infinity")
        if not np.all(host == np.round(host)):
            raise ValueError(
                f"{name}: Unknown label type: continuous. The labels are floats with "
                "fractional parts (a regression target?); a classifier needs class labels, "
                "MLPRegressor fits continuous targets"
            )
    return host


def _check_int64_labels(host: np.ndarray, name: str) -> None:
    """Integer labels (Python ints or uint64) must fit in int64, the type classes are kept in."""
    if host.dtype.kind == "u":
        if not (host > _INT64.max).any():
            return
    else:
        try:
            host.astype(np.int64)
            return
        except OverflowError:
            pass
    for index, v in np.ndenumerate(host):
        if not _INT64.min <= int(v) <= _INT64.max:
            raise ValueError(
                f"{name}: the label at {_where(index)} is {_describe(v)}, beyond the int64 range "
                f"[{_INT64.min}, {_INT64.max}] integer labels are kept in; pass such labels as "
                "strings (e.g. y.astype(str))"
            )


def check_targets(
    y: Any, n: int, name: str = "y", owner: str = "MLPRegressor", float32: bool = False
) -> np.ndarray:
    """Regression targets as a host float64 array of shape (n,) or (n, k), finite.

    ``float32``: also refuse targets beyond float32's range (the model computes in it).
    """
    if y is None:
        raise ValueError(f"{name}: {owner} requires y to be passed, but the target y is None")
    host = _host(y)
    if host is None:
        try:
            host = np.asarray(y)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}: could not be read as an array of numbers ({e})") from e
    if host.dtype.kind == "O":
        host = _objects_to_float64(host, name, "numeric targets")
    if host.dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported; expected real targets")
    if host.dtype.kind in "US":
        raise TypeError(
            f"{name}: expected numeric targets, got strings (dtype {host.dtype}); convert "
            "them to numbers first"
        )
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric targets, got dtype {host.dtype}")
    _check_float64_range(host, name)
    if host.ndim not in (1, 2):
        raise ValueError(f"{name}: expected shape (n,) or (n, n_outputs), got {host.shape}")
    if host.shape[0] != n:
        raise ValueError(
            f"{name}: has {host.shape[0]} targets but X has {n} samples; they must match"
        )
    if host.ndim == 2 and host.shape[1] == 0:
        raise ValueError(f"{name}: has 0 outputs (shape {host.shape}); expected at least 1")
    host = host.astype(np.float64)
    if not np.isfinite(host).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    if float32:
        _check_float32_range(host, np, name)
    return host


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """Sample weights as a host float64 array of shape (n,), finite and >= 0; None passes."""
    if sample_weight is None:
        return None
    name = "sample_weight"
    host = _host(sample_weight)
    if host is None:
        if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
            host = np.full(
                n, float(_to_float64(np.asarray(sample_weight, dtype=object), name, "numbers"))
            )
        else:
            try:
                host = np.asarray(sample_weight)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{name}: could not be read as numbers ({e})") from e
    if host.ndim == 0:
        host = np.full(n, float(_to_float64(host, name, "numbers")))
    if host.dtype.kind == "O":
        host = _objects_to_float64(host, name, "numbers")
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got dtype {host.dtype}")
    _check_float64_range(host, name)
    if host.ndim != 1 or host.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n},) (one weight per sample), got {host.shape}")
    host = host.astype(np.float64)
    if not np.isfinite(host).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    if (host < 0).any():
        raise ValueError(f"{name}: negative values are not allowed; got min {host.min():g}")
    if not host.sum() > 0:
        raise ValueError(
            f"{name}: the sample weights are all zero (they sum to 0); at least one must be "
            "positive"
        )
    return host


def encode_labels(y: np.ndarray, classes: np.ndarray, name: str = "y") -> np.ndarray:
    """Map labels to int64 indices into the sorted ``classes``; unknown labels raise ValueError."""
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, classes.shape[0] - 1)
    bad = classes[idx] != y
    if np.any(bad):
        unknown = np.unique(y[bad])[:5].tolist()
        raise ValueError(
            f"{name}: labels {unknown} are not among the classes {classes.tolist()[:20]}"
        )
    return idx.astype(np.int64)


# ----------------------------------------------------------------------------- splitting


def n_test_samples(test_size: Any, n: int, name: str = "test_size") -> int:
    """How many of ``n`` samples a fraction (rounded up) or an int count holds out."""
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        if not 1 <= test_size <= n - 1:
            raise ValueError(f"{name}: an int count must be in [1, {n - 1}], got {test_size}")
        return int(test_size)
    if isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        # round first so that 0.1 * 30 = 3.0000000000000004 gives 3, not 4
        return min(max(math.ceil(round(test_size * n, 9)), 1), n - 1)
    raise ValueError(f"{name}: expected a float in (0, 1) or an int count, got {test_size!r}")


def _stratified_counts(class_sizes: np.ndarray, n_test: int) -> np.ndarray:
    """Per-class held-out counts proportional to the class sizes, summing to ``n_test``.

    Largest-remainder rounding: each count is the floor or the ceiling of its
    exact share, so within one sample of it.
    """
    share = class_sizes * n_test / class_sizes.sum()
    counts = np.floor(share).astype(np.int64)
    short = n_test - int(counts.sum())
    by_remainder = np.argsort(-(share - counts), kind="stable")
    counts[by_remainder[:short]] += 1
    return counts


def stratified_split(
    n: int, n_test: int, rng: np.random.Generator, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, test) row indices, each class split in proportion when ``labels`` is given.

    Every class needs at least 2 members to appear on both sides. Rows come
    in random order.
    """
    if labels is None:
        order = rng.permutation(n)
        return order[n_test:], order[:n_test]
    classes, class_of, class_sizes = np.unique(labels, return_inverse=True, return_counts=True)
    if (class_sizes < 2).any():
        lonely = [str(c) for c in classes[class_sizes < 2].tolist()]
        raise ValueError(
            "stratify: The least populated classes in y have only 1 member, which is too few: "
            "every class needs at least 2 samples to appear on both sides of the split. "
            f"Classes with too few members are: {lonely}"
        )
    test_parts, train_parts = [], []
    for c, count in enumerate(_stratified_counts(class_sizes, n_test)):
        members = rng.permutation(np.flatnonzero(class_of == c))
        test_parts.append(members[:count])
        train_parts.append(members[count:])
    test = rng.permutation(np.concatenate(test_parts))
    train = rng.permutation(np.concatenate(train_parts))
    return train, test


# ----------------------------------------------------------------------------- feature names


def feature_names(X: Any) -> np.ndarray | None:
    """The column names of a DataFrame-like X when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or array_api_compat.is_array_api_obj(X):
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.shape[0] and all(isinstance(c, str) for c in names):
        return names
    return None


def check_feature_names(fitted: np.ndarray | None, X: Any, owner: str) -> None:
    """scikit-learn's rule at predict time: warn when names appear or vanish, raise on a mismatch."""
    names = feature_names(X)
    if fitted is None and names is None:
        return
    if names is not None and fitted is None:
        warnings.warn(
            f"X has feature names, but {owner} was fitted without feature names",
            UserWarning,
            stacklevel=3,
        )
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {owner} was fitted with feature names",
            UserWarning,
            stacklevel=3,
        )
        return
    if fitted is None:  # both None returned above; this says so to type checkers
        return
    if len(names) != len(fitted) or np.any(names != fitted):
        unseen = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))
        message = "X: The feature names should match those that were passed during fit.\n"
        if unseen:
            message += f"Feature names unseen at fit time:\n- {unseen}\n"
        if missing:
            message += f"Feature names seen at fit time, yet now missing:\n- {missing}\n"
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)
