"""Data sets on the host: moons (generated), digits (embedded), MNIST IDX files, npz and csv.

Everything here is host-side NumPy: every loader returns ``numpy.ndarray``
features ``X`` of shape ``(n, d)`` as float64 and labels ``y`` of shape ``(n,)``
(int64 when the labels are integers, else the label strings). Moving data to a
device is the estimator's business, not this module's.

Every file is untrusted input: it is opened only if it is a regular file (no
directory, pipe or device), ``.npz`` files go through the one safe reader
:func:`xpnet.io.read_npz` (nothing unpickled, every size bounded by
:class:`xpnet.io.ReadLimits` before it is read), and an IDX file's header is
read and checked before its data, gzipped or not. Bad data raises a
``ValueError`` or ``TypeError`` that names the file and what was wrong with it.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import struct
import zlib
from importlib import resources
from typing import Any

import numpy as np

from . import validation
from .backend import host_rng
from .io import ReadLimitError, ReadLimits, _read_up_to, open_regular, read_npz

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


def _at(i: int, lines: list[int] | None) -> str:
    """`` (line N)`` for row ``i`` of a CSV file, else nothing."""
    return f" (line {lines[i]})" if lines is not None else ""


def _labels(y: np.ndarray, source: str, lines: list[int] | None = None) -> np.ndarray:
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
                f"but y[{i}] = {y[i]}{_at(i, lines)} is not an integer"
            )
        return y.astype(np.int64)
    raise TypeError(f"{source}: y must hold integers or strings, got dtype {y.dtype}")


def _validate_xy(
    X: np.ndarray,
    y: np.ndarray,
    source: str,
    columns: list[str] | None = None,
    task: str = "classification",
    lines: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Check a loaded data set and return it as (X float64 (n, d), y (n,)).

    y: int64 or str class labels, or float64 targets when ``task`` is
    ``"regression"``. ``columns`` names X's columns and ``lines`` the file's
    line number of each row (a CSV file's) in error messages.
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
        where = f"line {lines[row]}" if lines is not None else f"row {row}"
        raise ValueError(
            f"{source}: X must be finite, but {where}, column {name} holds {X[row, col]}"
        )
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{source}: y must be 1-D with one label per row of X ({X.shape[0]}), "
            f"got shape {y.shape}"
        )
    if task == "regression":
        return X, _targets(y, source, lines)
    return X, _labels(y, source, lines)


def _check_task(task: Any) -> str:
    if task not in ("classification", "regression"):
        raise ValueError(f"task: expected 'classification' or 'regression', got {task!r}")
    return task


def _targets(y: np.ndarray, source: str, lines: list[int] | None = None) -> np.ndarray:
    """Regression targets as float64, finite."""
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{source}: y must hold numbers for a regression, got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"{source}: y must be finite, but y[{i}] = {y[i]}{_at(i, lines)}")
    return y


# ---------------------------------------------------------------- digits and moons


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits (UCI optdigits test set, as shipped with scikit-learn).

    Returns ``X`` float64 of shape (1797, 64), integer pixel values 0..16 with
    each row an 8x8 image in row-major order, and ``y`` int64 of shape (1797,),
    labels 0..9. Provenance and licence (CC BY 4.0): ``xpnet/data/README.md``.
    """
    resource = resources.files(__package__) / "data" / "digits.npz"
    with resources.as_file(resource) as path:
        data = read_npz(path, expect=("X", "y"))
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
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
#: Deflate expands at most about 1032 times; a gzip file declaring more than this
#: many bytes per stored byte cannot hold them.
_MAX_GZIP_RATIO = 1100
_CHUNK = 16 * 2**20


def load_idx(path: PathLike, *, limits: ReadLimits | None = None) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or not, into a NumPy array.

    The header is two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B
    int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions
    (1..4), then each dimension as a big-endian uint32; the values follow,
    big-endian. Returns an array of that shape and type in native byte order.

    The header is read and checked first (from the gzip stream for a gzipped
    file, which is never decompressed whole): the data it declares must be
    within ``limits.max_array_bytes`` (``xpnet.io.ReadLimits``, the defaults
    when None), and fit the file (exactly, for a plain file; within what
    deflate can expand to, for a gzipped one); then exactly that many bytes
    are read. Raises ValueError, naming the file, for a path that is not a
    regular file, a bad header, or data shorter or longer than the header
    declares.
    """
    limits = ReadLimits() if limits is None else limits
    name = os.fspath(path)
    with open_regular(name, limits=limits) as f:
        size = os.fstat(f.fileno()).st_size
        gzipped = name.endswith(".gz") or f.read(2) == _GZIP_MAGIC
        f.seek(0)
        if not gzipped:
            return _read_idx(f, name, size, None, limits)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _read_idx(stream, name, size, size, limits)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{name}: not a readable gzip file ({error})") from error


def _read_idx(
    stream: Any, name: str, size: int, gzip_size: int | None, limits: ReadLimits
) -> np.ndarray:
    """The IDX array in ``stream``: header, then the declared bytes and no more."""
    head = _read_up_to(stream, 4)
    if len(head) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(head)} bytes)")
    zero0, zero1, type_code, ndim = head
    if zero0 != 0 or zero1 != 0 or type_code not in IDX_DTYPES:
        codes = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise ValueError(
            f"{name}: not an IDX file: magic bytes {head.hex(' ')}, expected "
            f"00 00, then a type code ({codes}), then the number of dimensions"
        )
    if not 1 <= ndim <= 4:
        raise ValueError(f"{name}: IDX number of dimensions must be 1..4, got {ndim}")
    header_size = 4 + 4 * ndim
    dims = _read_up_to(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header_size} bytes, "
            f"the file has {4 + len(dims)}"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    declared = f"the header declares shape {shape} of {dtype.name} = {expected} data bytes"
    if expected > limits.max_array_bytes:
        raise ReadLimitError(
            name,
            f"the header declares shape {shape} of {dtype.name}:",
            "max_array_bytes",
            expected,
            limits.max_array_bytes,
        )
    if gzip_size is None:
        actual = size - header_size
        if actual != expected:
            problem = "truncated" if actual < expected else "trailing bytes"
            raise ValueError(f"{name}: {problem}: {declared}, but the file holds {actual}")
    elif expected > _MAX_GZIP_RATIO * gzip_size + 2**16:
        raise ValueError(
            f"{name}: truncated: {declared}, more than a gzip file of {gzip_size} bytes can hold"
        )
    data = bytearray(expected)
    view, got = memoryview(data), 0
    while got < expected:
        part = stream.read(min(expected - got, _CHUNK))
        if not part:
            raise ValueError(f"{name}: truncated: {declared}, but the file holds {got}")
        view[got : got + len(part)] = part
        got += len(part)
    extra = len(_read_up_to(stream, 2**20))  # bounded: the rest may be a bomb
    if extra:
        holds = f"{expected + extra}" if extra < 2**20 else f"more than {expected + extra}"
        raise ValueError(f"{name}: trailing bytes: {declared}, but the file holds {holds}")
    values = np.frombuffer(data, dtype=dtype).reshape(shape)
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
        if os.path.lexists(path):  # what it is (a pipe, a device, a link) is checked on reading
            return path
    raise FileNotFoundError(
        f"{os.fspath(directory)}: no MNIST {kind} {what} file; expected one of {', '.join(names)}"
    )


def load_mnist(
    directory: PathLike, kind: str = "train", *, limits: ReadLimits | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST training or test set from its four IDX files in ``directory``.

    ``kind``: ``"train"`` (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``)
    or ``"test"`` (``t10k-...``); each file may be gzipped (``.gz``) and may be
    spelled ``train-images.idx3-ubyte``. Returns ``X`` float64 of shape
    (n, rows * cols) -- (n, 784) for MNIST -- with pixel values 0..255, and
    ``y`` int64 of shape (n,), labels 0..9. Each file is read by ``load_idx``
    (``limits``: its bounds); a set with no images is refused.
    """
    if kind not in _MNIST_PREFIX:
        raise ValueError(f"kind: expected 'train' or 'test', got {kind!r}")
    images_path = _find_mnist_file(directory, kind, "images", "idx3")
    labels_path = _find_mnist_file(directory, kind, "labels", "idx1")
    images = load_idx(images_path, limits=limits)
    labels = load_idx(labels_path, limits=limits)
    for path, array, ndim in ((images_path, images, 3), (labels_path, labels, 1)):
        if array.dtype != np.uint8:
            raise ValueError(f"{path}: expected unsigned bytes (type 0x08), got {array.dtype}")
        if array.ndim != ndim:
            raise ValueError(f"{path}: expected {ndim}-D data, got shape {array.shape}")
    if images.shape[0] == 0 or 0 in images.shape[1:]:
        raise ValueError(
            f"{images_path}: holds no images (shape {images.shape}); an MNIST set needs at least one"
        )
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


def load_npz(
    path: PathLike, task: str = "classification", *, limits: ReadLimits | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set from a ``.npz`` file holding the arrays ``X`` and ``y``.

    ``X``: numeric, finite, shape (n, d) with n, d >= 1; ``y``: shape (n,),
    integers (or integral floats) or strings. Returns ``X`` float64 (n, d) and
    ``y`` (n,), int64 when integral, else strings; with ``task="regression"``,
    y is float64 targets.

    The file is read by :func:`xpnet.io.read_npz` within ``limits``
    (``xpnet.io.ReadLimits``, the defaults when None): nothing is unpickled,
    and only ``X`` and ``y`` are read, each after its header is checked.
    A missing file raises ``xpnet.io.MissingFileError``, both a
    ``FileNotFoundError`` and a ``ValueError``.
    """
    _check_task(task)
    name = os.fspath(path)
    arrays = read_npz(
        name, limits=limits, expect=("X", "y"), kind="an .npz archive with arrays X and y"
    )
    return _validate_xy(arrays["X"], arrays["y"], name, task=task)


def _parse_labels(cells: list[str]) -> np.ndarray:
    """Label cells as int64 if they all read as ints, float64 if as numbers, else str."""
    for convert, dtype in ((int, np.int64), (float, np.float64)):
        try:
            return np.array([convert(cell) for cell in cells], dtype=dtype)
        except ValueError:
            pass
    return np.array(cells, dtype=str)


def _parse_features(
    rows: list[list[str]], columns: list[str], source: str, lines: list[int]
) -> np.ndarray:
    """Feature cells as float64 (n, d); a cell that is not a number is an error naming it."""
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    except ValueError as error:
        numpy_error = error
    for line, row in zip(lines, rows, strict=True):  # find the first bad cell, to name it
        for column, cell in zip(columns, row, strict=True):
            try:
                float(cell)
            except ValueError:
                raise ValueError(
                    f"{source}: line {line}, column {column!r}: {cell!r} is not a number"
                ) from None
    raise ValueError(f"{source}: {numpy_error}")


def _csv_rows(
    path: PathLike, limits: ReadLimits | None = None
) -> tuple[list[list[str]], list[int]]:
    """The non-blank rows of a UTF-8 CSV file and the line (1-based) each starts on.

    The file is opened by :func:`xpnet.io.open_regular` (a regular file of
    bounded size only).
    """
    name = os.fspath(path)
    rows, lines, line = [], [], 0
    with open_regular(name, limits=limits) as raw:
        try:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            for row in reader:
                if row:  # skip blank lines
                    rows.append(row)
                    lines.append(line + 1)
                line = reader.line_num
        except (UnicodeDecodeError, csv.Error) as error:
            raise ValueError(f"{name}: not a readable UTF-8 CSV file ({error})") from error
    return rows, lines


def _check_row_lengths(name: str, body: list[list[str]], lines: list[int], width: int) -> None:
    for line, row in zip(lines, body, strict=True):
        if len(row) != width:
            raise ValueError(
                f"{name}: line {line} has {len(row)} cells but the header has {width} columns"
            )


def load_csv(
    path: PathLike,
    label: str = "label",
    task: str = "classification",
    *,
    limits: ReadLimits | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set from a CSV file with a header row and one label column.

    The column named ``label`` holds the class labels (ints or strings); every
    other column is a numeric feature. Error messages give the file's line
    numbers (1-based, the header is line 1). Returns ``X`` float64 (n, d) and
    ``y`` (n,), int64 when the labels are integers, else strings; with
    ``task="regression"`` the column holds numeric targets and ``y`` is
    float64. Only a regular file is read, of at most
    ``limits.max_file_bytes`` (``xpnet.io.ReadLimits``, the defaults when None).
    """
    _check_task(task)
    name = os.fspath(path)
    rows, lines = _csv_rows(name, limits)
    if not rows:
        raise ValueError(f"{name}: empty file; expected a header row and data rows")
    header, body, lines = [cell.strip() for cell in rows[0]], rows[1:], lines[1:]
    if header.count(label) != 1:
        found = "is missing" if label not in header else "appears more than once"
        raise ValueError(f"{name}: label column {label!r} {found}; the header is {header}")
    if len(header) < 2:
        raise ValueError(f"{name}: no feature columns besides the label column {label!r}")
    if not body:
        raise ValueError(f"{name}: no data rows after the header")
    _check_row_lengths(name, body, lines, len(header))
    label_at = header.index(label)
    columns = header[:label_at] + header[label_at + 1 :]
    labels = [row[label_at].strip() for row in body]
    if "" in labels:
        line = lines[labels.index("")]
        raise ValueError(f"{name}: line {line}, column {label!r}: empty label")
    X = _parse_features(
        [row[:label_at] + row[label_at + 1 :] for row in body], columns, name, lines
    )
    return _validate_xy(X, _parse_labels(labels), name, columns, task, lines)


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
