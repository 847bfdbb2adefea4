"""Data sets on the host: moons (generated), digits (embedded), MNIST IDX files, npz and csv.

Everything here is host-side NumPy: every loader returns ``numpy.ndarray``
features ``X`` of shape ``(n, d)`` as float64 and labels ``y`` of shape ``(n,)``
(int64 when the labels are integers, else the label strings). Moving data to a
device is the estimator's business, not this module's.

No file is unpickled (``allow_pickle=False`` throughout), and bad data raises a
``ValueError`` or ``TypeError`` that names the file and what was wrong with it.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import struct
import zipfile
import zlib
from importlib import resources
from typing import Any

import numpy as np

from . import validation
from .backend import host_rng

__all__ = [
    "load",
    "load_csv",
    "load_digits",
    "load_idx",
    "load_mnist",
    "load_mnist_dir",
    "load_npz",
    "make_moons",
    "train_test_split",
]

PathLike = str | os.PathLike


# ---------------------------------------------------------------- shared checks


def _check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def _labels(y: np.ndarray, source: str) -> np.ndarray:
    """Labels as int64 when they are integers (or integral floats), else as strings."""
    if y.dtype.kind in "US":
        return y
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{source}: y must hold integer class labels or strings, "
                f"but y[{i}] = {y[i]} is not an integer"
            )
        return y.astype(np.int64)
    raise TypeError(f"{source}: y must hold integers or strings, got dtype {y.dtype}")


def _validate_xy(
    X: np.ndarray,
    y: np.ndarray,
    source: str,
    columns: list[str] | None = None,
    task: str = "classification",
) -> tuple[np.ndarray, np.ndarray]:
    """Check a loaded data set and return it as (X float64 (n, d), y (n,)).

    y: int64 or str class labels, or float64 targets when ``task`` is
    ``"regression"``. ``columns`` names X's columns in error messages.
    """
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(
            f"{source}: X must be 2-D with at least one row and one column, got shape {X.shape}"
        )
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{source}: X must be numeric (bool, int or float), got dtype {X.dtype}")
    X = X.astype(np.float64)
    not_finite = ~np.isfinite(X)
    if not_finite.any():
        row, col = (int(i) for i in np.argwhere(not_finite)[0])
        name = repr(columns[col]) if columns is not None else str(col)
        raise ValueError(
            f"{source}: X must be finite, but row {row}, column {name} holds {X[row, col]}"
        )
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{source}: y must be 1-D with one label per row of X ({X.shape[0]}), "
            f"got shape {y.shape}"
        )
    if task == "regression":
        return X, _targets(y, source)
    return X, _labels(y, source)


def _check_task(task: Any) -> str:
    if task not in ("classification", "regression"):
        raise ValueError(f"task: expected 'classification' or 'regression', got {task!r}")
    return task


def _targets(y: np.ndarray, source: str) -> np.ndarray:
    """Regression targets as float64, finite."""
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{source}: y must hold numbers for a regression, got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"{source}: y must be finite, but y[{i}] = {y[i]}")
    return y


# ---------------------------------------------------------------- digits and moons


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits (UCI optdigits test set, as shipped with scikit-learn).

    Returns ``X`` float64 of shape (1797, 64), integer pixel values 0..16 with
    each row an 8x8 image in row-major order, and ``y`` int64 of shape (1797,),
    labels 0..9. Provenance and licence (CC BY 4.0): ``xpnet/data/README.md``.
    """
    resource = resources.files(__package__) / "data" / "digits.npz"
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as data:
        return data["X"].astype(np.float64), data["y"].astype(np.int64)


def make_moons(
    n_samples: int = 200, noise: float = 0.1, seed: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, shuffled: a small data set no line can separate.

    Class 0 is the upper moon ``(cos t, sin t)``, class 1 the lower one
    ``(1 - cos t, 0.5 - sin t)``, with ``t`` evenly spaced over [0, pi];
    class 0 gets ``n_samples // 2`` points, class 1 the rest. Gaussian noise
    of standard deviation ``noise`` is added to every coordinate.

    Returns ``X`` float64 of shape (n_samples, 2) and ``y`` int64 of shape
    (n_samples,). ``seed``: an int, None or a ``numpy.random.Generator``.
    """
    n_samples = _check_int(n_samples, "n_samples", 2)
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)):
        raise TypeError(f"noise: expected a number, got {type(noise).__name__}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise: expected a finite number >= 0, got {noise!r}")
    rng = host_rng(seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_lower)
    X = np.concatenate(
        [
            np.column_stack([np.cos(t_upper), np.sin(t_upper)]),
            np.column_stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)]),
        ]
    )
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n_lower, np.int64)])
    if noise > 0:
        X += rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n_samples)
    return X[order], y[order]


# ---------------------------------------------------------------- splitting


def train_test_split(
    X: Any, y: Any, test_size: float | int = 0.2, seed: Any = None, stratify: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split (X, y) at random into a training part and a test part.

    ``X``: array-like with n rows (any trailing shape); ``y``: shape (n,).
    ``test_size``: a fraction in (0, 1) (the test count is rounded up) or an
    int count. ``stratify=True`` splits each class separately so both parts
    keep the class proportions (each class within one sample of its exact
    share). ``seed``: an int, None or a ``numpy.random.Generator``.

    Returns ``X_train, X_test, y_train, y_test`` as NumPy arrays, rows in
    random order.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 1:
        raise ValueError(f"X: expected an array with one row per sample, got shape {X.shape}")
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of labels, got shape {y.shape}")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y: has {y.shape[0]} labels but X has {n} rows; they must match")
    if n < 2:
        raise ValueError(f"X: need at least 2 samples to split, got {n}")
    n_test = validation.n_test_samples(test_size, n)
    rng = host_rng(seed)
    # the estimators' early-stopping split is this one too
    train, test = validation.stratified_split(n, n_test, rng, y if stratify else None)
    return X[train], X[test], y[train], y[test]


# ---------------------------------------------------------------- IDX (MNIST)

#: IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_maybe_gzipped(path: PathLike) -> bytes:
    """The file's bytes, decompressed if its name ends in .gz or it starts with 1f 8b."""
    with open(path, "rb") as f:
        raw = f.read()
    if not (os.fspath(path).endswith(".gz") or raw.startswith(_GZIP_MAGIC)):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{os.fspath(path)}: not a readable gzip file ({error})") from error


def load_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or not, into a NumPy array.

    The header is two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B
    int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions
    (1..4), then each dimension as a big-endian uint32; the values follow,
    big-endian. Returns an array of that shape and type in native byte order.
    Raises ValueError, naming the file, for a bad header or when the data is
    shorter or longer than the header declares.
    """
    name = os.fspath(path)
    data = _read_maybe_gzipped(path)
    if len(data) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero0, zero1, type_code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0 or type_code not in IDX_DTYPES:
        codes = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise ValueError(
            f"{name}: not an IDX file: magic bytes {data[:4].hex(' ')}, expected "
            f"00 00, then a type code ({codes}), then the number of dimensions"
        )
    if not 1 <= ndim <= 4:
        raise ValueError(f"{name}: IDX number of dimensions must be 1..4, got {ndim}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header_size} bytes, "
            f"the file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        problem = "truncated" if actual < expected else "trailing bytes"
        raise ValueError(
            f"{name}: {problem}: the header declares shape {shape} of {dtype.name} "
            f"= {expected} data bytes, but the file holds {actual}"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


_MNIST_PREFIX = {"train": "train", "test": "t10k"}


def _find_mnist_file(directory: PathLike, kind: str, what: str, idx: str) -> str:
    """The path of one MNIST file, trying both spellings, each plain or gzipped."""
    prefix = _MNIST_PREFIX[kind]
    names = [f"{prefix}-{what}-{idx}-ubyte{gz}" for gz in ("", ".gz")] + [
        f"{prefix}-{what}.{idx}-ubyte{gz}" for gz in ("", ".gz")
    ]
    for candidate in names:
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{os.fspath(directory)}: no MNIST {kind} {what} file; expected one of {', '.join(names)}"
    )


def load_mnist(directory: PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST training or test set from its four IDX files in ``directory``.

    ``kind``: ``"train"`` (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``)
    or ``"test"`` (``t10k-...``); each file may be gzipped (``.gz``) and may be
    spelled ``train-images.idx3-ubyte``. Returns ``X`` float64 of shape
    (n, rows * cols) -- (n, 784) for MNIST -- with pixel values 0..255, and
    ``y`` int64 of shape (n,), labels 0..9.
    """
    if kind not in _MNIST_PREFIX:
        raise ValueError(f"kind: expected 'train' or 'test', got {kind!r}")
    images_path = _find_mnist_file(directory, kind, "images", "idx3")
    labels_path = _find_mnist_file(directory, kind, "labels", "idx1")
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    for path, array, ndim in ((images_path, images, 3), (labels_path, labels, 1)):
        if array.dtype != np.uint8:
            raise ValueError(f"{path}: expected unsigned bytes (type 0x08), got {array.dtype}")
        if array.ndim != ndim:
            raise ValueError(f"{path}: expected {ndim}-D data, got shape {array.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{labels_path}: holds {labels.shape[0]} labels but {images_path} "
            f"holds {images.shape[0]} images"
        )
    if labels.size and labels.max() > 9:
        i = int(np.argmax(labels > 9))
        raise ValueError(f"{labels_path}: labels must be 0..9, but label {i} is {labels[i]}")
    return images.reshape(images.shape[0], -1).astype(np.float64), labels.astype(np.int64)


def load_mnist_dir(directory: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load both MNIST sets from ``directory``: ``X_train, y_train, X_test, y_test``.

    Shapes and dtypes as in ``load_mnist``: X float64 (n, 784), y int64 (n,).
    """
    return (*load_mnist(directory, "train"), *load_mnist(directory, "test"))


# ---------------------------------------------------------------- npz and csv


def load_npz(path: PathLike, task: str = "classification") -> tuple[np.ndarray, np.ndarray]:
    """Load a data set from a ``.npz`` file holding the arrays ``X`` and ``y``.

    ``X``: numeric, finite, shape (n, d) with n, d >= 1; ``y``: shape (n,),
    integers (or integral floats) or strings. Nothing is unpickled. Returns
    ``X`` float64 (n, d) and ``y`` (n,), int64 when integral, else strings;
    with ``task="regression"``, y is float64 targets.
    """
    _check_task(task)
    name = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{name}: not a readable .npz file ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{name}: expected a .npz archive with arrays X and y, got a single array")
    with archive:
        missing = [key for key in ("X", "y") if key not in archive.files]
        if missing:
            raise ValueError(
                f"{name}: missing array(s) {', '.join(missing)}; an .npz data set needs "
                f"X and y, the file has {sorted(archive.files)}"
            )
        try:
            _check_npz_members(name, archive)
            X, y = archive["X"], archive["y"]
        except ValueError as error:
            if str(error).startswith(name):
                raise
            if "pickle" in str(error):  # object arrays would need pickle
                raise TypeError(
                    f"{name}: X and y must be plain arrays, not objects ({error})"
                ) from error
            raise ValueError(f"{name}: damaged array X or y ({error})") from error
        except (
            OSError,
            EOFError,
            zipfile.BadZipFile,
            zlib.error,
            RuntimeError,
            NotImplementedError,
        ) as error:
            raise ValueError(f"{name}: damaged array X or y ({error})") from error
    return _validate_xy(X, y, name, task=task)


def _check_npz_members(name: str, archive: Any) -> None:
    """Read the headers of X and y first: objects and declared sizes beyond the data are refused.

    A crafted header declaring, say, shape (10**12,) would otherwise make NumPy
    allocate terabytes before it notices the data are missing.
    """
    zf = archive.zip
    for key in ("X", "y"):
        member_name = f"{key}.npy" if f"{key}.npy" in zf.namelist() else key
        info = zf.getinfo(member_name)
        with zf.open(info) as member:
            version = np.lib.format.read_magic(member)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(member)
        if dtype.hasobject:
            raise TypeError(f"{name}: {key} must be a plain array, not objects (never unpickled)")
        declared = math.prod(shape) * dtype.itemsize
        if declared > info.file_size:
            raise ValueError(
                f"{name}: {key} declares shape {shape} of {dtype} ({declared} bytes) "
                f"but stores only {info.file_size} bytes"
            )


def _parse_labels(cells: list[str]) -> np.ndarray:
    """Label cells as int64 if they all read as ints, float64 if as numbers, else str."""
    for convert, dtype in ((int, np.int64), (float, np.float64)):
        try:
            return np.array([convert(cell) for cell in cells], dtype=dtype)
        except ValueError:
            pass
    return np.array(cells, dtype=str)


def _parse_features(rows: list[list[str]], columns: list[str], source: str) -> np.ndarray:
    """Feature cells as float64 (n, d); a cell that is not a number is an error naming it."""
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    except ValueError as error:
        numpy_error = error
    for i, row in enumerate(rows):  # find the first bad cell, to name it
        for column, cell in zip(columns, row, strict=True):
            try:
                float(cell)
            except ValueError:
                raise ValueError(
                    f"{source}: row {i}, column {column!r}: {cell!r} is not a number"
                ) from None
    raise ValueError(f"{source}: {numpy_error}")


def load_csv(
    path: PathLike, label: str = "label", task: str = "classification"
) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set from a CSV file with a header row and one label column.

    The column named ``label`` holds the class labels (ints or strings); every
    other column is a numeric feature. Rows are counted from 0 after the
    header in error messages. Returns ``X`` float64 (n, d) and ``y`` (n,),
    int64 when the labels are integers, else strings; with ``task="regression"``
    the column holds numeric targets and ``y`` is float64.
    """
    _check_task(task)
    name = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row]  # skip blank lines
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{name}: not a readable UTF-8 CSV file ({error})") from error
    if not rows:
        raise ValueError(f"{name}: empty file; expected a header row and data rows")
    header, body = [cell.strip() for cell in rows[0]], rows[1:]
    if header.count(label) != 1:
        found = "is missing" if label not in header else "appears more than once"
        raise ValueError(f"{name}: label column {label!r} {found}; the header is {header}")
    if len(header) < 2:
        raise ValueError(f"{name}: no feature columns besides the label column {label!r}")
    if not body:
        raise ValueError(f"{name}: no data rows after the header")
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(
                f"{name}: row {i} has {len(row)} cells but the header has {len(header)} columns"
            )
    label_at = header.index(label)
    columns = header[:label_at] + header[label_at + 1 :]
    labels = [row[label_at].strip() for row in body]
    if "" in labels:
        raise ValueError(f"{name}: row {labels.index('')}, column {label!r}: empty label")
    X = _parse_features([row[:label_at] + row[label_at + 1 :] for row in body], columns, name)
    return _validate_xy(X, _parse_labels(labels), name, columns, task)


# ---------------------------------------------------------------- one spec for the command line

_SPEC_FORMS = "'digits', 'moons', 'mnist:DIR', or a path ending in .npz or .csv"


def load(
    spec: PathLike, label: str = "label", task: str = "classification"
) -> dict[str, np.ndarray]:
    """Load the data set a command-line spec names.

    ``spec``: ``"digits"`` (embedded), ``"moons"`` (200 points, noise 0.1,
    seed 0), ``"mnist:DIR"`` (the four IDX files in DIR), or a path ending in
    ``.npz`` or ``.csv`` (``label`` names the CSV's label column). Returns a
    dict with ``X`` float64 (n, d) and ``y`` (n,), plus ``X_test`` and
    ``y_test`` where the source has a fixed test split (MNIST).
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"spec: expected a string or a path, got {type(spec).__name__}")
    text = os.fspath(spec)
    if text == "digits":
        X, y = load_digits()
    elif text == "moons":
        X, y = make_moons(seed=0)
    elif text.startswith("mnist:") and len(text) > len("mnist:"):
        X, y, X_test, y_test = load_mnist_dir(text[len("mnist:") :])
        return {"X": X, "y": y, "X_test": X_test, "y_test": y_test}
    elif text.lower().endswith(".npz"):
        X, y = load_npz(text, task=task)
    elif text.lower().endswith(".csv"):
        X, y = load_csv(text, label=label, task=task)
    else:
        raise ValueError(f"spec: unknown data set {text!r}; expected {_SPEC_FORMS}")
    return {"X": X, "y": y}
