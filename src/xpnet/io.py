"""Model files and checkpoints (``.npz`` archives of plain arrays plus JSON metadata), and
the one safe reader every ``.npy`` / ``.npz`` the library opens goes through.

Nothing is ever unpickled. Every file is read as untrusted input by
:func:`read_npz` (:func:`read_npy` for a single array), bounded in every
dimension by :class:`ReadLimits`, each bound checked before the work it bounds:

* only a regular file is opened (no directory, pipe or device such as
  ``/dev/zero``; symbolic links are followed, then checked), of bounded size;
* the number of members is read from the zip's end record before the central
  directory is parsed; the members' declared uncompressed sizes are bounded
  together before anything is inflated, and no member is read past its size;
* each member's ``.npy`` header is read before its data: its length is
  bounded, object dtypes are refused, and a declared shape whose bytes exceed
  the limit or differ from the bytes stored is refused before any allocation;
* member names must be distinct once ``.npy`` is stripped.

Model files and checkpoints are then checked against their metadata: format
and version, member names, layer sizes that chain, dtypes, finiteness, the
number of classes.

Any failure raises ``ValueError`` naming the file and what is wrong; nothing
is modified by a failed load. Writes are atomic: a temporary file in the
same directory, flushed, then renamed over the target; a write that fails
removes its temporary file and raises :class:`WriteError` (an ``OSError``)
naming the file. A checkpoint path has one writer at a time
(:class:`CheckpointLock`), and a checkpoint holds the fingerprint of its
training data (:func:`data_fingerprint`).
"""

from __future__ import annotations

import ast
import errno
import hashlib
import json
import math
import os
import platform
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ._version import __version__
from .backend import gather_rows, to_numpy

if TYPE_CHECKING:
    from .train import TrainState

__all__ = [
    "MODEL_FORMAT",
    "CHECKPOINT_FORMAT",
    "FORMAT_VERSION",
    "MODEL_FORMAT_VERSION",
    "FileCheckError",
    "MissingFileError",
    "ReadLimitError",
    "ReadLimits",
    "open_regular",
    "read_npy",
    "map_npy",
    "read_npz",
    "write_archive",
    "WriteError",
    "CheckpointWriteError",
    "CheckpointLock",
    "CheckpointLockedError",
    "remove_stale_temporaries",
    "write_remedy",
    "data_fingerprint",
    "read_archive",
    "model_arrays",
    "check_model",
    "save_checkpoint",
    "load_checkpoint",
]

MODEL_FORMAT = "xpnet-model"
CHECKPOINT_FORMAT = "xpnet-checkpoint"
FORMAT_VERSION = 1
#: Model files: version 2 adds the input standardisation and the label column's name.
MODEL_FORMAT_VERSION = 2
_NEWEST_VERSION = {MODEL_FORMAT: MODEL_FORMAT_VERSION}
#: Files larger than this are refused before they are opened (bytes).
MAX_FILE_BYTES = 4 * 2**30
_META = "meta"
_FLOAT_DTYPES = ("float32", "float64")


def write_archive(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and the JSON ``meta`` to ``path`` atomically; return the path.

    The archive is written to a temporary file ``.NAME.xxxxxxxx.tmp`` beside the
    target, flushed and fsynced, then renamed over the target, so the target is
    always either the old file or the new one. A write that fails removes its
    temporary file and raises :class:`WriteError`.

    Args:
        path: target file; ``.npz`` is not appended.
        meta: JSON-serialisable metadata (stored as a uint8 array named ``meta``).
        arrays: name -> NumPy array of a numeric or fixed-width string dtype.

    Raises:
        TypeError: an array of Python objects (it cannot be saved without pickle).
        WriteError: the file could not be written (a full disk, a read-only file
            system, ...); an ``OSError`` naming the path and the reason.
    """
    path = Path(path)
    payload = {_META: np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.hasobject:
            raise TypeError(f"{name}: object arrays cannot be saved without pickle")
        payload[name] = arr
    directory = path.parent if str(path.parent) else Path(".")
    tmp_name = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)  # type: ignore[arg-type]  # numpy types the arrays as a bool
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600): give it the mode a plain open() would
        os.chmod(tmp_name, path.stat().st_mode & 0o777 if path.exists() else _default_mode())
        os.replace(tmp_name, path)
    except BaseException as e:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(path, e) from e
        raise
    _fsync_directory(directory)  # the rename itself survives a crash
    return path


class WriteError(OSError):
    """A file could not be written; ``filename`` is the target, ``strerror`` the reason.

    Its ``errno`` is the underlying error's (``errno.ENOSPC`` for a full disk,
    ``errno.EROFS`` for a read-only file system, ...). The target is untouched:
    it still holds what it held before the write.
    """

    def __init__(self, path: str | os.PathLike, error: OSError):
        reason = error.strerror or str(error) or type(error).__name__
        super().__init__(error.errno, reason, str(path))

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def write_remedy(code: int | None) -> str:
    """What to do about a failed write with this ``errno``, as a phrase ("free space")."""
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)):
        return "free space"
    if code == errno.EROFS:
        return "make the file system writable (or choose another path)"
    if code in (errno.EACCES, errno.EPERM):
        return "make the directory writable (or choose another path)"
    return "fix that"


class CheckpointWriteError(WriteError):
    """A checkpoint could not be written during ``fit``.

    ``epoch`` is the epoch the checkpoint file still holds (None when no
    checkpoint of this run was written yet); the message says how to resume.
    """

    def __init__(self, path: str | os.PathLike, error: OSError, epoch: int | None, hint: str):
        super().__init__(path, error)
        self.epoch = epoch
        self.hint = hint

    def __str__(self) -> str:
        return f"cannot write checkpoint {self.filename}: {self.strerror}; {self.hint}"


#: How ``write_archive`` names its temporary files (``tempfile.mkstemp``'s 8 random characters).
_TEMPORARY = r"\.{name}\.[a-z0-9_]{{8}}\.tmp"


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that interrupted writes of ``path`` left behind.

    Only names of the exact form ``write_archive`` gives them
    (``.NAME.xxxxxxxx.tmp`` beside ``NAME``) are removed; call it only while
    holding ``path``'s :class:`CheckpointLock` (or knowing that no other process
    writes ``path``), since a live writer's temporary file has the same form.

    Returns:
        the paths removed.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(_TEMPORARY.format(name=re.escape(path.name)))
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


class CheckpointLockedError(BlockingIOError):
    """Another live process holds the lock of the checkpoint this run would write."""


class CheckpointLock:
    """An exclusive lock on one checkpoint path: the file ``NAME.lock`` beside it.

    The lock is ``fcntl.flock`` on that file, which holds the owner's process id
    and host name. The operating system releases a ``flock`` when its process
    ends, however it ends (``kill -9`` included), so a lock file left by a dead
    process is simply taken over; a live holder makes ``acquire()`` raise
    :class:`CheckpointLockedError` naming the lock file and the holder. On a
    platform without ``fcntl`` (Windows) nothing is locked. ``release`` removes
    the lock file. ``flock`` locks are not reliable on every network file
    system; on a local disk they are.
    """

    def __init__(self, path: str | os.PathLike):
        target = Path(path)
        self.path = target.with_name(target.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> CheckpointLock:
        try:
            import fcntl
        except ImportError:  # Windows
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, _default_mode())
            except OSError as e:
                raise WriteError(self.path, e) from e
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = _read_holder(fd)
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise WriteError(self.path, e) from e
                raise CheckpointLockedError(
                    errno.EWOULDBLOCK,
                    f"the checkpoint is in use: {self.path} is locked by {holder}; "
                    "wait for that run to end (or stop it), or write another checkpoint path",
                    str(self.path),
                ) from None
            # the holder before us may have removed the file after we opened it: lock the file
            # that is at the path now, not an orphan
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if not same:
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"pid {os.getpid()} on {platform.node()}\n".encode())
            except OSError as e:
                os.close(fd)
                raise WriteError(self.path, e) from e
            self._fd = fd
            return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self.path)  # still holding the lock: nobody else owns this file
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> CheckpointLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "another process"


#: Training data of at most this many bytes (X in the training dtype, the targets and
#: the weights) is fingerprinted in full; larger data by a sample of its blocks.
FINGERPRINT_FULL_BYTES = 256 * 2**20
#: Beyond ``FINGERPRINT_FULL_BYTES``: the number of row blocks hashed (the first, the
#: last, and evenly spaced ones between them).
FINGERPRINT_SAMPLED_BLOCKS = 64
#: Rows are hashed in blocks of about this many bytes (the peak extra memory).
_FINGERPRINT_BLOCK_BYTES = 4 * 2**20


def data_fingerprint(X: Any, y: Any, sample_weight: Any = None, *, dtype: Any = None) -> str:
    """A fingerprint of training data: blake2b over its shapes, dtypes and values.

    The rows are hashed in blocks of about 4 MiB, each copied to the host on its
    own, so the extra memory stays small whatever the size of the data and
    wherever it lives (NumPy, a memory map, a device array). Data of at most
    ``FINGERPRINT_FULL_BYTES`` (256 MiB) is hashed in full. Larger data is
    hashed by a deterministic sample: its shape and dtype, and
    ``FINGERPRINT_SAMPLED_BLOCKS`` (64) row blocks, the first, the last and
    evenly spaced ones between them, so a change confined to the rows between
    sampled blocks goes unnoticed. Which rule applies depends only on the
    data's shape and dtype, never on where it lives, so an array and a memory
    map of it have one fingerprint.

    Args:
        X: features (n, d), any backend's array or a NumPy memory map.
        y: targets, one row per sample (class indices, or numbers).
        sample_weight: one weight per sample, or None.
        dtype: the dtype X is trained in (X's blocks are cast to it before hashing,
            so float64 data trained in float32 hashes as the float32 it trains on).

    Returns:
        ``"blake2b:"`` and 32 hexadecimal digits.
    """
    x_dtype = np.dtype(dtype) if dtype is not None else np.dtype(str(getattr(X, "dtype", "")))
    n = int(X.shape[0])
    parts = [("X", X, x_dtype)]
    y_host = np.asarray(to_numpy(y))
    if y_host.shape[:1] != (n,):
        raise ValueError(f"y: expected {n} rows, got shape {y_host.shape}")
    y_dtype = np.dtype(np.int64) if y_host.dtype.kind in "iub" else y_host.dtype
    if y_dtype.kind == "f":
        y_dtype = np.dtype(np.float64)
    parts.append(("y", y_host, y_dtype))
    if sample_weight is not None:
        parts.append(("sample_weight", np.asarray(to_numpy(sample_weight)), np.dtype(np.float64)))
    row_bytes = 0
    h = hashlib.blake2b(digest_size=16)
    for name, arr, dt in parts:
        shape = tuple(int(s) for s in arr.shape)
        row_bytes += dt.itemsize * math.prod(shape[1:])
        h.update(f"{name} {shape} {dt.newbyteorder('<').str};".encode())
    rows = max(1, _FINGERPRINT_BLOCK_BYTES // max(row_bytes, 1))
    n_blocks = -(-n // rows)
    if n * row_bytes <= FINGERPRINT_FULL_BYTES or n_blocks <= FINGERPRINT_SAMPLED_BLOCKS:
        blocks: Iterable[int] = range(n_blocks)
        h.update(b"full;")
    else:
        spaced = np.linspace(0, n_blocks - 1, FINGERPRINT_SAMPLED_BLOCKS)
        blocks = np.unique(np.round(spaced).astype(np.int64)).tolist()
        h.update(f"sampled {FINGERPRINT_SAMPLED_BLOCKS} of {n_blocks} blocks of {rows};".encode())
    for k in blocks:
        start, stop = k * rows, min(n, (k + 1) * rows)
        for _, arr, dt in parts:
            block = np.asarray(to_numpy(gather_rows(arr, slice(start, stop))))  # a map: preadv
            block = np.ascontiguousarray(block, dtype=dt.newbyteorder("<"))
            h.update(block.data.cast("B"))
    return "blake2b:" + h.hexdigest()


def _default_mode() -> int:
    """0o666 less the process's umask (the mode ``open(path, "w")`` creates files with)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_directory(directory: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):  # Windows: renames are not fsynced through a directory
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the safe reader
#
# Every .npy / .npz the library reads (model files, checkpoints, data files, the
# command's inputs) goes through ``read_npz`` / ``read_npy``; IDX and CSV files
# are opened through ``open_regular``. Each bound is checked before the work it
# bounds: the member count from the zip's end record before the central
# directory is parsed, the declared sizes before anything is inflated, each
# array's header before its data is allocated.


class FileCheckError(ValueError):
    """A file the safe reader refuses: the message names the file, what is wrong and the fix."""

    def __init__(self, path: Any, what: str) -> None:
        super().__init__(f"{os.fspath(path)}: {what}")
        self.path = os.fspath(path)


class MissingFileError(FileCheckError, FileNotFoundError):
    """The file does not exist (both ``except ValueError`` and ``except FileNotFoundError`` catch it)."""


class ReadLimitError(FileCheckError):
    """The file exceeds one of the bounds in :class:`ReadLimits`.

    ``limit`` names the field, ``value`` is what the file declares or holds.
    """

    def __init__(
        self, path: Any, what: str, limit: str, value: int, allowed: int, unit: str = "byte"
    ) -> None:
        super().__init__(
            path,
            f"{what} {value} {unit}s, more than the {allowed}-{unit} limit "
            f"(ReadLimits.{limit}); if the file is genuine, pass a larger limit",
        )
        self.limit = limit
        self.value = value
        self.allowed = allowed


@dataclass(frozen=True)
class ReadLimits:
    """The bounds the safe reader enforces; every one is checked before the work it bounds.

    Attributes:
        max_file_bytes: the file's size on disk.
        max_members: members of a zip archive, counted from its end record before
            the central directory is parsed.
        max_total_bytes: the uncompressed bytes of all members together, checked
            from the central directory's declared sizes and again while inflating.
        max_array_bytes: one array's data (its header's shape times its itemsize),
            checked before the array is allocated; also one IDX file's data.
        max_header_bytes: one ``.npy`` header.
    """

    max_file_bytes: int = 4 * 2**30
    max_members: int = 4096
    max_total_bytes: int = 2**30
    max_array_bytes: int = 2**30
    max_header_bytes: int = 10_000

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ReadLimits.{field.name}: expected an int >= 0, got {value!r}")


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_EOCD = b"PK\x05\x06"
_ZIP_EOCD64_LOCATOR = b"PK\x06\x07"
_ZIP_EOCD64 = b"PK\x06\x06"
_ZIP_CENTRAL = b"PK\x01\x02"
_CHUNK = 16 * 2**20
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _check_regular(name: str, info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
    link = f" (a symbolic link to {os.path.realpath(name)})" if os.path.islink(name) else ""
    raise FileCheckError(name, f"is {kind}{link}, not a regular file; give the path of a file")


def open_regular(path: str | os.PathLike, *, limits: ReadLimits | None = None) -> BinaryIO:
    """Open ``path`` for reading in binary mode, refusing anything but a regular file.

    Symbolic links are followed, then the target is checked: directories, named
    pipes, devices (``/dev/zero``) and sockets are refused at once, before they
    are opened for reading (a pipe is opened without blocking and checked again).
    The file's size must not exceed ``limits.max_file_bytes``.

    Raises:
        MissingFileError: no such file.
        FileCheckError: not a regular file, or it cannot be opened.
        ReadLimitError: the file is too large.
    """
    limits = ReadLimits() if limits is None else limits
    name = os.fspath(path)
    try:
        _check_regular(name, os.stat(name))
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise MissingFileError(name, "no such file") from None
    except OSError as error:
        raise FileCheckError(name, f"cannot be opened ({error.strerror or error})") from None
    try:
        info = os.fstat(fd)
        _check_regular(name, info)  # replaced between the check and the open
        if info.st_size > limits.max_file_bytes:
            raise ReadLimitError(
                name, "file is", "max_file_bytes", info.st_size, limits.max_file_bytes
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_up_to(stream: Any, n: int) -> bytes:
    """At most ``n`` bytes from ``stream`` (fewer only at its end)."""
    parts, got = [], 0
    while got < n:
        part = stream.read(min(n - got, _CHUNK))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _parse_npy_header(text: str, where: str, path: str) -> tuple[tuple, bool, np.dtype]:
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        raise FileCheckError(path, f"{where} has an unreadable .npy header ({error})") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise FileCheckError(
            path, f"{where} has a bad .npy header: expected descr, fortran_order and shape"
        )
    shape, fortran = header["shape"], header["fortran_order"]
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise FileCheckError(path, f"{where} has a bad .npy shape {shape!r:.80}")
    if not isinstance(fortran, bool):
        raise FileCheckError(path, f"{where} has a bad .npy fortran_order {fortran!r:.80}")
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as error:
        raise FileCheckError(path, f"{where} has a bad .npy dtype ({error})") from None
    return shape, fortran, dtype


def _check_npy_header(
    stream: Any, stored: int, where: str, path: str, limits: ReadLimits
) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Read and check a ``.npy`` header from ``stream``: (shape, fortran order, dtype, bytes)."""
    prefix = _read_up_to(stream, 10)
    if len(prefix) < 10 or not prefix.startswith(_NPY_MAGIC):
        raise FileCheckError(path, f"{where} is not a .npy array (no .npy magic bytes)")
    major = prefix[6]
    if major == 1:
        (header_len,), start = struct.unpack("<H", prefix[8:10]), 10
    elif major in (2, 3):
        (header_len,), start = struct.unpack("<I", prefix[8:10] + _read_up_to(stream, 2)), 12
    else:
        raise FileCheckError(path, f"{where} has an unsupported .npy version {major}.{prefix[7]}")
    if header_len > limits.max_header_bytes:
        raise ReadLimitError(
            path,
            f"{where} declares a .npy header of",
            "max_header_bytes",
            header_len,
            limits.max_header_bytes,
        )
    raw = _read_up_to(stream, header_len)
    if len(raw) < header_len:
        raise FileCheckError(path, f"{where} is truncated inside its .npy header")
    try:
        text = raw.decode("utf-8" if major == 3 else "latin-1")
    except UnicodeDecodeError as error:
        raise FileCheckError(path, f"{where} has an unreadable .npy header ({error})") from None
    shape, fortran, dtype = _parse_npy_header(text, where, path)
    if dtype.hasobject:
        raise FileCheckError(
            path, f"{where} holds Python objects; refused (nothing is ever unpickled)"
        )
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if dtype.itemsize == 0 and count:
        raise FileCheckError(path, f"{where} has a zero-width dtype {dtype}")
    if nbytes > limits.max_array_bytes:
        raise ReadLimitError(
            path,
            f"{where} declares shape {shape} of {dtype}:",
            "max_array_bytes",
            nbytes,
            limits.max_array_bytes,
        )
    if start + header_len + nbytes != stored:
        raise FileCheckError(
            path,
            f"{where} declares shape {shape} of {dtype} ({nbytes} bytes) but stores "
            f"{max(stored - start - header_len, 0)} bytes of data",
        )
    return shape, fortran, dtype, nbytes


def _read_npy_stream(
    stream: Any, stored: int, where: str, path: str, limits: ReadLimits
) -> np.ndarray:
    """One ``.npy`` array from ``stream``, which holds ``stored`` bytes: header checked first."""
    shape, fortran, dtype, nbytes = _check_npy_header(stream, stored, where, path, limits)
    data = bytearray(nbytes)
    view, got = memoryview(data), 0
    while got < nbytes:
        part = stream.read(min(nbytes - got, _CHUNK))
        if not part:
            raise FileCheckError(path, f"{where} is truncated: {got} of {nbytes} data bytes")
        view[got : got + len(part)] = part
        got += len(part)
    if stream.read(1):  # also makes zipfile check the member's CRC
        raise FileCheckError(path, f"{where} holds more bytes than its zip entry declares")
    array = np.frombuffer(data, dtype=dtype)
    if fortran:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def read_npy(path: str | os.PathLike, *, limits: ReadLimits | None = None) -> np.ndarray:
    """Read one ``.npy`` file through the safe reader (see :func:`read_npz`)."""
    limits = ReadLimits() if limits is None else limits
    name = os.fspath(path)
    with open_regular(name, limits=limits) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            return _read_npy_stream(f, size, "the array", name, limits)
        except OSError as error:
            raise FileCheckError(name, f"cannot be read ({error})") from None


def map_npy(path: str | os.PathLike, *, limits: ReadLimits | None = None) -> np.memmap:
    """A read-only memory map of a ``.npy`` file, its header checked by the safe reader.

    The header is read and checked as :func:`read_npy` checks it (version, size,
    no Python objects, data bytes equal to what the header declares) before the
    file is mapped. Nothing of the data is read, so ``limits.max_file_bytes`` and
    ``limits.max_array_bytes`` do not apply (a map of a file larger than memory
    is the point); the other limits do.
    """
    limits = ReadLimits() if limits is None else limits
    unbounded = replace(limits, max_file_bytes=2**63 - 1, max_array_bytes=2**63 - 1)
    name = os.fspath(path)
    with open_regular(name, limits=unbounded) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            shape, fortran, dtype, _ = _check_npy_header(f, size, "the array", name, unbounded)
        except OSError as error:
            raise FileCheckError(name, f"cannot be read ({error})") from None
    try:
        mapped = np.load(name, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise FileCheckError(name, f"cannot be memory-mapped ({error})") from None
    if not isinstance(mapped, np.memmap) or mapped.shape != shape or mapped.dtype != dtype:
        raise FileCheckError(name, "changed while it was being opened; try again")
    return mapped


def _count_members(f: BinaryIO, name: str, size: int, limits: ReadLimits, kind: str) -> None:
    """Refuse an archive with too many members, before ``zipfile`` parses its directory.

    The count comes from the end-of-central-directory record (zip64 too); then
    the central directory's entries are walked, without parsing them, up to
    the limit, since ``zipfile`` reads as many as the directory's size holds,
    whatever the record says.
    """
    not_zip = f"not {kind} (not a zip archive; it may be truncated)"
    f.seek(0)
    if f.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
        raise FileCheckError(name, f"holds a single .npy array, not {kind}")
    tail_len = min(size, 22 + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    # where zipfile looks: a record with no comment at the very end, else the last one
    at = len(tail) - 22 if tail[-22:-18] == _ZIP_EOCD and tail[-2:] == b"\0\0" else -1
    at = tail.rfind(_ZIP_EOCD) if at < 0 else at
    if at < 0 or len(tail) - at < 22:
        raise FileCheckError(name, not_zip)
    _, _, _, _, count, cd_size, _, _ = struct.unpack("<4s4H2LH", tail[at : at + 22])
    cd_end = size - tail_len + at
    if (
        cd_end >= 20 + 56
    ):  # a zip64 locator and record before it replace the numbers (as in zipfile)
        f.seek(cd_end - 20 - 56)
        record_and_locator = f.read(56 + 20)
        record, locator = record_and_locator[:56], record_and_locator[56:]
        if locator[:4] == _ZIP_EOCD64_LOCATOR and record[:4] == _ZIP_EOCD64:
            count, cd_size = struct.unpack("<2Q", record[32:48])
            cd_end -= 20 + 56
    if count > limits.max_members:
        raise ReadLimitError(
            name, "the archive holds", "max_members", count, limits.max_members, unit="member"
        )
    if cd_size > cd_end:
        raise FileCheckError(name, f"not {kind} (its zip directory is damaged)")
    start, pos, seen = cd_end - cd_size, 0, 0
    while pos + 46 <= cd_size:
        seen += 1
        if seen > limits.max_members:
            raise ReadLimitError(
                name,
                f"the archive's directory (its end record says {count}) holds at least",
                "max_members",
                seen,
                limits.max_members,
                unit="member",
            )
        f.seek(start + pos)
        entry = f.read(46)
        if len(entry) < 46 or entry[:4] != _ZIP_CENTRAL:
            return  # zipfile reports the damage
        name_len, extra_len, comment_len = struct.unpack("<3H", entry[28:34])
        pos += 46 + name_len + extra_len + comment_len


def _strip_npy(filename: str) -> str:
    return filename[: -len(".npy")] if filename.endswith(".npy") else filename


def read_npz(
    path: str | os.PathLike,
    *,
    limits: ReadLimits | None = None,
    expect: Iterable[str] | None = None,
    optional: Iterable[str] = (),
    kind: str = "an .npz archive",
    stored_only: bool = False,
    plain_names: bool = False,
) -> dict[str, np.ndarray]:
    """Read the arrays of an ``.npz`` file, treating it as untrusted input.

    This is the one reader for every ``.npz`` the library opens. Nothing is
    unpickled and every bound in ``limits`` is checked before the work it
    bounds: a regular file of bounded size (no directory, pipe or device);
    the number of members, from the zip's end record before the central
    directory is parsed; the members' declared uncompressed sizes, together,
    before anything is inflated, and again while inflating; each member's
    ``.npy`` header (its length, no object dtype, its shape times its itemsize
    within ``max_array_bytes`` and equal to the bytes stored) before its data
    is allocated. Member names must be distinct once ``.npy`` is stripped
    (``X`` and ``X.npy`` in one file are refused, not one silently chosen).

    Args:
        path: the file.
        limits: the bounds; ``ReadLimits()`` (the defaults) when None.
        expect: names (without ``.npy``) that must be present; only these and
            ``optional`` are read. None reads every member.
        optional: names read when present.
        kind: what the file should be, for messages ("an .npz archive").
        stored_only: refuse compressed members (xpnet's own files store them plain).
        plain_names: every member must be ``NAME.npy`` with no ``/`` in NAME.

    Returns:
        name (``.npy`` stripped) -> NumPy array, in the archive's order.

    Raises:
        MissingFileError: no such file (a ``ValueError`` and a ``FileNotFoundError``).
        ReadLimitError: a bound in ``limits`` is exceeded; names the field.
        FileCheckError: anything else wrong; names the file and the member.
    """
    limits = ReadLimits() if limits is None else limits
    name = os.fspath(path)
    with open_regular(name, limits=limits) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            _count_members(f, name, size, limits, kind)
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                return _read_members(zf, name, limits, expect, optional, stored_only, plain_names)
        except (
            zipfile.BadZipFile,
            zlib.error,
            OSError,
            EOFError,
            KeyError,
            RuntimeError,
            NotImplementedError,
            struct.error,
        ) as error:
            raise FileCheckError(
                name, f"damaged archive ({type(error).__name__}: {error})"
            ) from None


def _read_members(
    zf: zipfile.ZipFile,
    name: str,
    limits: ReadLimits,
    expect: Iterable[str] | None,
    optional: Iterable[str],
    stored_only: bool,
    plain_names: bool,
) -> dict[str, np.ndarray]:
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in zf.infolist():
        filename = info.filename
        if plain_names and (not filename.endswith(".npy") or "/" in filename):
            raise FileCheckError(
                name, f"unexpected member {filename!r:.200} (expected NAME.npy members only)"
            )
        if info.flag_bits & 0x1:
            raise FileCheckError(name, f"member {filename!r:.200} is encrypted; refused")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileCheckError(
                name,
                f"member {filename!r:.200} uses zip compression method {info.compress_type}; "
                "only stored and deflated members are read (as numpy.savez writes them)",
            )
        if stored_only and info.compress_type != zipfile.ZIP_STORED:
            raise FileCheckError(
                name, f"member {filename!r:.200} is compressed; this file stores plain .npy members"
            )
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise FileCheckError(name, f"member {filename!r:.200} has inconsistent sizes")
        key = _strip_npy(filename)
        if key in members:
            raise FileCheckError(
                name,
                f"members {members[key].filename!r:.200} and {filename!r:.200} both name "
                f"the array {key!r:.200}; refused (one would shadow the other)",
            )
        members[key] = info
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ReadLimitError(
                name,
                "the members declare (uncompressed)",
                "max_total_bytes",
                total,
                limits.max_total_bytes,
            )
    if expect is None:
        wanted = list(members)
    else:
        required = list(expect)
        missing = [key for key in required if key not in members]
        if missing:
            shown = sorted(members)[:20]
            more = f" and {len(members) - 20} more" if len(members) > 20 else ""
            raise FileCheckError(
                name,
                f"missing array(s) {', '.join(missing)}; expected {', '.join(required)}, "
                f"the file has {shown}{more}",
            )
        wanted = required + [key for key in optional if key in members and key not in required]
    arrays, inflated = {}, 0
    for key in wanted:
        info = members[key]
        inflated += info.file_size  # the stream stops at the declared size
        if inflated > limits.max_total_bytes:
            raise ReadLimitError(
                name, "the members read hold", "max_total_bytes", inflated, limits.max_total_bytes
            )
        with zf.open(info) as member:
            arrays[key] = _read_npy_stream(
                member, info.file_size, f"member {info.filename!r:.200}", name, limits
            )
    return arrays


def _bad(path: Any, what: str) -> ValueError:
    return ValueError(f"{path}: {what}")


def read_archive(
    path: str | os.PathLike,
    expected_format: str,
    max_bytes: int | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and sanity-check an archive written by ``write_archive``.

    Returns:
        ``(meta, arrays)``; ``meta["format"]`` equals ``expected_format`` and
        its ``format_version`` is one this version reads.

    The file goes through :func:`read_npz` (members stored plain, named
    ``NAME.npy``; every byte bound is ``max_bytes``).

    Raises:
        ValueError: missing, oversized, not a zip, corrupted, object arrays,
            declared sizes that do not match the data, bad metadata.
    """
    path = Path(path)
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    # members are stored plain, so no member can hold more than the file: every
    # byte bound is the file's
    limits = ReadLimits(max_file_bytes=limit, max_total_bytes=limit, max_array_bytes=limit)
    arrays = read_npz(path, limits=limits, kind="an xpnet file", stored_only=True, plain_names=True)
    if _META not in arrays:
        raise _bad(path, "no metadata ('meta' array): not an xpnet file")
    raw = arrays.pop(_META)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _bad(path, "metadata must be a 1-D uint8 array of JSON text")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _bad(path, f"metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise _bad(path, "metadata must be a JSON object")
    fmt = meta.get("format")
    if fmt != expected_format:
        raise _bad(path, f"format is {fmt!r}, expected {expected_format!r}")
    version = meta.get("format_version")
    newest = _NEWEST_VERSION.get(expected_format, FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= newest:
        raise _bad(
            path,
            f"format_version {version!r} is not one this xpnet ({__version__}) reads "
            f"(1..{newest}); upgrade xpnet or re-save the model",
        )
    return meta, arrays


def model_arrays(params: list, prefix: str = "") -> dict[str, np.ndarray]:
    """``[(W, b), ...]`` of NumPy arrays -> ``{"W0": ..., "b0": ..., ...}`` (with a prefix)."""
    out = {}
    for k, (W, b) in enumerate(params):
        out[f"{prefix}W{k}"] = W
        out[f"{prefix}b{k}"] = b
    return out


def params_from_arrays(
    path: Any, arrays: dict[str, np.ndarray], sizes: list[int], dtype: str, prefix: str = ""
) -> list:
    """Pop ``W0, b0, ...`` (with ``prefix``) from ``arrays``, checked against ``sizes``/``dtype``."""
    params = []
    for k in range(len(sizes) - 1):
        pair = []
        for name, shape in (
            (f"{prefix}W{k}", (sizes[k + 1], sizes[k])),
            (f"{prefix}b{k}", (sizes[k + 1],)),
        ):
            if name not in arrays:
                raise _bad(path, f"array {name!r} is missing")
            arr = arrays.pop(name)
            if arr.shape != shape:
                raise _bad(
                    path,
                    f"array {name!r} has shape {arr.shape}, expected {shape} from the layer sizes {sizes}",
                )
            if arr.dtype != np.dtype(dtype):  # also refuses a foreign byte order
                raise _bad(path, f"array {name!r} has dtype {arr.dtype}, expected {dtype}")
            if not np.all(np.isfinite(arr)):
                raise _bad(path, f"array {name!r} holds NaN or inf")
            pair.append(arr)
        params.append(tuple(pair))
    return params


def check_sizes(path: Any, meta: dict, key: str = "layer_sizes") -> list[int]:
    """``meta[key]``: a list of at least two positive ints (bounded), or ValueError."""
    sizes = meta.get(key)
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 2**31 for s in sizes
        )
    ):
        raise _bad(
            path, f"metadata {key!r} must be a list of at least two positive ints, got {sizes!r}"
        )
    return sizes


def check_model(path: Any, meta: dict, arrays: dict[str, np.ndarray]) -> tuple[list, np.ndarray]:
    """Validate a model archive's content against its metadata.

    Returns:
        ``(params, classes)``: NumPy ``[(W, b), ...]`` and the class labels.
    """
    from .functional import ACTIVATION_NAMES

    arrays = dict(arrays)
    sizes = check_sizes(path, meta)
    dtype = meta.get("dtype")
    if dtype not in _FLOAT_DTYPES:
        raise _bad(path, f"metadata 'dtype' must be one of {_FLOAT_DTYPES}, got {dtype!r}")
    activation = meta.get("activation")
    if activation not in ACTIVATION_NAMES:
        raise _bad(path, f"unknown activation {activation!r}; expected one of {ACTIVATION_NAMES}")
    params = params_from_arrays(path, arrays, sizes, dtype)
    if "classes" not in arrays:
        raise _bad(path, "array 'classes' is missing")
    classes = _check_classes(path, arrays.pop("classes"), sizes[-1])
    if arrays:
        raise _bad(path, f"unexpected arrays {sorted(arrays)} in a model file")
    return params, classes


def _check_classes(path: Any, classes: np.ndarray, n_outputs: int) -> np.ndarray:
    """The class labels: one per output, integers or strings, distinct; in native byte order."""
    if classes.ndim != 1 or classes.shape[0] != n_outputs:
        raise _bad(
            path,
            f"'classes' has shape {classes.shape}, expected ({n_outputs},) (one label per output)",
        )
    if classes.dtype.kind not in "biuU":
        raise _bad(path, f"'classes' has dtype {classes.dtype}; expected integers or strings")
    classes = classes.astype(classes.dtype.newbyteorder("="))  # native order for every backend
    if len(np.unique(classes)) != classes.shape[0]:
        raise _bad(path, "'classes' holds duplicate labels")
    return classes


def save_checkpoint(
    path: str | os.PathLike, state: TrainState, meta: dict, classes: np.ndarray
) -> Path:
    """Write a training checkpoint to ``path`` atomically; return the path.

    Args:
        path: target file.
        state: the loop state; its arrays may live on any backend (copied to the host).
        meta: the model's metadata (``layer_sizes``, ``dtype``, ``hyperparams``, the
            seed, ...); the format and the loop state's fields are added after it.
        classes: the class labels (NumPy, numbers or fixed-width strings).
    """
    arrays = model_arrays([(to_numpy(W), to_numpy(b)) for W, b in state.params])
    if state.best_params is not None:
        arrays.update(
            model_arrays([(to_numpy(W), to_numpy(b)) for W, b in state.best_params], prefix="best.")
        )
    slot_names = {}
    for slot, leaves in state.opt_state["slots"].items():
        slot_names[slot] = len(leaves)
        for i, leaf in enumerate(leaves):
            arrays[f"opt.{slot}.{i}"] = to_numpy(leaf)
    arrays["classes"] = classes
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        **meta,
        "epoch": state.epoch,
        "rng_state": _jsonable_rng_state(state.rng_state),
        "history": state.history,
        "best_score": state.best_score,
        "no_improvement": state.no_improvement,
        "stopped": state.stopped,
        "opt_count": int(state.opt_state["count"]),
        "opt_lr_scale": float(state.opt_state["lr_scale"]),
        "opt_slots": slot_names,
        "has_best": state.best_params is not None,
    }
    return write_archive(path, meta, arrays)


def load_checkpoint(path: str | os.PathLike) -> tuple[TrainState, dict, np.ndarray | None]:
    """Read and check a checkpoint written by ``save_checkpoint``.

    Only the file itself is checked here (layer sizes, dtypes, finiteness, the
    optimizer's slots, the loop state's types); whether it fits a given run is
    for the caller to decide.

    Returns:
        ``(state, meta, classes)``: a ``TrainState`` of NumPy arrays, the metadata,
        and the stored class labels (None when the file holds none).

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    from .train import TrainState

    meta, arrays = read_archive(path, CHECKPOINT_FORMAT)
    sizes = check_sizes(path, meta)
    dtype = meta.get("dtype")
    if dtype not in _FLOAT_DTYPES:
        raise _bad(path, f"metadata 'dtype' must be one of {_FLOAT_DTYPES}, got {dtype!r}")
    params = params_from_arrays(path, arrays, sizes, dtype)
    best = (
        params_from_arrays(path, arrays, sizes, dtype, prefix="best.")
        if meta.get("has_best")
        else None
    )
    classes = arrays.pop("classes", None)
    if classes is not None and classes.shape == (0,):
        classes = None  # a regressor's checkpoint: it has no labels
    if classes is not None:
        classes = _check_classes(path, classes, sizes[-1])
    leaf_shapes = [a.shape for pair in params for a in pair]
    slots = _check_opt_slots(path, meta, arrays, leaf_shapes, dtype)
    epoch = _meta_int(path, meta, "epoch", required=True)
    history = meta.get("history")
    if not isinstance(history, dict) or not all(
        isinstance(name, str)
        and isinstance(column, list)
        and len(column) == epoch
        and all(_is_finite_number(v) for v in column)
        for name, column in history.items()
    ):
        raise _bad(path, f"metadata 'history' must map names to lists of {epoch} finite numbers")
    _check_loop_meta(path, meta)
    state = TrainState(
        params=params,
        opt_state={
            "count": int(meta.get("opt_count", 0)),
            "lr_scale": float(meta.get("opt_lr_scale", 1.0)),
            "slots": slots,
        },
        epoch=epoch,
        rng_state=meta.get("rng_state"),
        history=history,
        best_params=best,
        best_score=meta.get("best_score"),
        no_improvement=meta.get("no_improvement", 0),
        stopped=meta.get("stopped", ""),
    )
    return state, meta, classes


#: The optimizer slots a checkpoint may hold (``optim``'s state field names).
OPTIMIZER_SLOTS = ("velocity", "mu", "nu")
#: Integers in the loop state stay below this (JSON readers beyond Python lose them).
_MAX_COUNT = 2**53


def _is_finite_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (not isinstance(value, int) or abs(value) < _MAX_COUNT)
    )


def _meta_int(
    path: Any,
    meta: dict,
    key: str,
    default: int = 0,
    required: bool = False,
    high: int = _MAX_COUNT,
) -> int:
    """``meta[key]`` as an int in [0, high), or ValueError naming the file and the field."""
    if key not in meta and required:
        raise _bad(path, f"metadata {key!r} is missing")
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < high:
        raise _bad(path, f"metadata {key!r} must be an int in [0, {high}), got {value!r:.80}")
    return value


def _check_opt_slots(
    path: Any, meta: dict, arrays: dict[str, np.ndarray], leaf_shapes: list, dtype: str
) -> dict[str, list]:
    """The optimizer's arrays, popped from ``arrays``: each slot one array per parameter,
    of the parameter's shape and the model's dtype, finite."""
    opt_slots = meta.get("opt_slots", {})
    if not isinstance(opt_slots, dict):
        raise _bad(path, f"metadata 'opt_slots' must be an object, got {type(opt_slots).__name__}")
    slots: dict[str, list] = {}
    for slot, count in opt_slots.items():
        if slot not in OPTIMIZER_SLOTS:
            raise _bad(
                path, f"metadata 'opt_slots' names {slot!r:.80}; expected some of {OPTIMIZER_SLOTS}"
            )
        if isinstance(count, bool) or count != len(leaf_shapes) or not isinstance(count, int):
            raise _bad(
                path,
                f"metadata 'opt_slots': slot {slot!r} must hold {len(leaf_shapes)} arrays (one per parameter "
                f"array), metadata says {count!r:.80}",
            )
        leaves = []
        for i in range(count):
            name = f"opt.{slot}.{i}"
            leaf = arrays.pop(name, None)
            if leaf is None:
                raise _bad(path, f"optimizer array {name!r} is missing")
            if leaf.dtype != np.dtype(dtype):  # strings, complex, dates, structures, byte order
                raise _bad(
                    path, f"optimizer array {name!r} has dtype {leaf.dtype}, expected {dtype}"
                )
            if leaf.shape != leaf_shapes[i]:
                raise _bad(
                    path,
                    f"optimizer array {name!r} has shape {leaf.shape}, expected {leaf_shapes[i]}",
                )
            if not np.all(np.isfinite(leaf)):
                raise _bad(path, f"optimizer array {name!r} holds NaN or inf")
            leaves.append(leaf)
        slots[slot] = leaves
    stray = sorted(k for k in arrays if k.startswith("opt."))
    if stray:
        raise _bad(path, f"optimizer arrays {stray[:5]} belong to no slot in 'opt_slots'")
    return slots


def _check_rng_state(path: Any, state: Any) -> None:
    """A PCG64 state as ``save_checkpoint`` writes it, checked field by field."""
    field = "metadata 'rng_state'"
    if state is None:
        return
    if not isinstance(state, dict) or set(state) != {
        "bit_generator",
        "state",
        "has_uint32",
        "uinteger",
    }:
        raise _bad(
            path, f"{field} must be an object with bit_generator, state, has_uint32, uinteger"
        )
    if state["bit_generator"] != "PCG64":
        raise _bad(
            path, f"{field}: bit_generator must be 'PCG64', got {state['bit_generator']!r:.80}"
        )
    inner = state["state"]
    if not isinstance(inner, dict) or set(inner) != {"state", "inc"}:
        raise _bad(path, f"{field}: 'state' must be an object with 'state' and 'inc'")
    for key, high in (("state", 2**128), ("inc", 2**128)):
        value = inner[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < high:
            raise _bad(
                path, f"{field}: state.{key} must be an int in [0, 2**128), got {value!r:.80}"
            )
    if inner["inc"] % 2 != 1:
        raise _bad(path, f"{field}: state.inc must be odd (a PCG64 increment)")
    if state["has_uint32"] not in (0, 1) or isinstance(state["has_uint32"], bool):
        raise _bad(path, f"{field}: has_uint32 must be 0 or 1")
    value = state["uinteger"]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise _bad(path, f"{field}: uinteger must be an int in [0, 2**32), got {value!r:.80}")


def _check_loop_meta(path: Any, meta: dict) -> None:
    """The loop-state fields of a checkpoint's metadata, or ValueError naming the file and field."""
    _meta_int(path, meta, "opt_count")
    scale = meta.get("opt_lr_scale", 1.0)
    if not _is_finite_number(scale) or scale <= 0:
        raise _bad(path, f"metadata 'opt_lr_scale' must be a finite number > 0, got {scale!r:.80}")
    best = meta.get("best_score")
    if best is not None and not _is_finite_number(best):
        raise _bad(path, f"metadata 'best_score' must be a finite number or null, got {best!r:.80}")
    _meta_int(path, meta, "no_improvement")
    if "seed" in meta:
        _meta_int(path, meta, "seed", required=True, high=2**63)
    if "n_samples" in meta:
        _meta_int(path, meta, "n_samples")
    stopped = meta.get("stopped", "")
    if not isinstance(stopped, str) or len(stopped) > 10_000:
        raise _bad(path, "metadata 'stopped' must be a string")
    if not isinstance(meta.get("has_best", False), bool):
        raise _bad(path, "metadata 'has_best' must be true or false")
    _check_rng_state(path, meta.get("rng_state"))
    fingerprint = meta.get("data_fingerprint")
    if fingerprint is not None and (
        not isinstance(fingerprint, str) or not re.fullmatch(r"blake2b:[0-9a-f]{32}", fingerprint)
    ):
        raise _bad(
            path,
            f"metadata 'data_fingerprint' must be 'blake2b:' and 32 hex digits, "
            f"got {fingerprint!r:.80}",
        )


def _jsonable_rng_state(state: Any) -> Any:
    """The bit generator state as JSON (ints and strings only; numpy ints converted)."""
    if isinstance(state, dict):
        return {k: _jsonable_rng_state(v) for k, v in state.items()}
    if isinstance(state, np.integer):
        return int(state)
    if isinstance(state, np.ndarray):
        return state.tolist()
    return state
