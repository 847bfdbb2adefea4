"""Model files and checkpoints: ``.npz`` archives of plain arrays plus JSON metadata.

Nothing is ever unpickled. A file is read as untrusted input:

* its size is bounded (``MAX_FILE_BYTES``) and it must be a zip archive of
  ``.npy`` members with the expected names;
* each member's header is read before its data: object dtypes are refused,
  and a declared shape larger than the member's bytes (a "huge declared
  size") is refused before any allocation;
* arrays are loaded with ``allow_pickle=False``, then checked against the
  metadata: format and version, layer sizes that chain, dtypes, finiteness,
  the number of classes.

Any failure raises ``ValueError`` naming the file and what is wrong; nothing
is modified by a failed load. Writes are atomic: a temporary file in the
same directory, flushed, then renamed over the target.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import __version__
from .backend import to_numpy

if TYPE_CHECKING:
    from .train import TrainState

__all__ = [
    "MODEL_FORMAT",
    "CHECKPOINT_FORMAT",
    "FORMAT_VERSION",
    "write_archive",
    "read_archive",
    "model_arrays",
    "check_model",
    "save_checkpoint",
    "load_checkpoint",
]

MODEL_FORMAT = "xpnet-model"
CHECKPOINT_FORMAT = "xpnet-checkpoint"
FORMAT_VERSION = 1
#: Files larger than this are refused before they are opened (bytes).
MAX_FILE_BYTES = 4 * 2**30
_META = "meta"
_FLOAT_DTYPES = ("float32", "float64")


def write_archive(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and the JSON ``meta`` to ``path`` atomically; return the path.

    Args:
        path: target file; ``.npz`` is not appended.
        meta: JSON-serialisable metadata (stored as a uint8 array named ``meta``).
        arrays: name -> NumPy array of a numeric or fixed-width string dtype.
    """
    path = Path(path)
    payload = {_META: np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.hasobject:
            raise TypeError(f"{name}: object arrays cannot be saved without pickle")
        payload[name] = arr
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600): give it the mode a plain open() would
        os.chmod(tmp_name, path.stat().st_mode & 0o777 if path.exists() else _default_mode())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    _fsync_directory(directory)  # the rename itself survives a crash
    return path


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

    Raises:
        ValueError: missing, oversized, not a zip, corrupted, object arrays,
            declared sizes that do not match the data, bad metadata.
    """
    path = Path(path)
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    size = path.stat().st_size
    if size > limit:
        raise _bad(path, f"file is {size} bytes, more than the {limit}-byte limit for a model file")
    if not zipfile.is_zipfile(path):
        raise _bad(path, "not an xpnet file (not an .npz zip archive); it may be truncated")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise _bad(path, "duplicate members in the archive")
            total = 0
            for info in infos:
                if not info.filename.endswith(".npy") or "/" in info.filename:
                    raise _bad(path, f"unexpected member {info.filename!r} in the archive")
                # write_archive stores members uncompressed and unencrypted, so no member
                # can claim more bytes than the file holds (no zip bomb, no huge allocation)
                if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                    raise _bad(
                        path,
                        f"member {info.filename!r} is compressed or encrypted; "
                        "xpnet files store plain .npy members",
                    )
                if info.file_size != info.compress_size:
                    raise _bad(path, f"member {info.filename!r} has inconsistent sizes")
                total += info.file_size
                if total > min(limit, size):
                    raise _bad(
                        path, f"members declare {total} bytes, more than the file's {size} bytes"
                    )
                with zf.open(info) as member:
                    _check_member_header(path, info, member)
            if _META + ".npy" not in names:
                raise _bad(path, "no metadata ('meta' array): not an xpnet file")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise _bad(path, f"corrupted or crafted archive ({e})") from e
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        KeyError,
        RuntimeError,
        NotImplementedError,
    ) as e:
        raise _bad(path, f"corrupted archive ({type(e).__name__}: {e})") from e
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
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= FORMAT_VERSION
    ):
        raise _bad(
            path,
            f"format_version {version!r} is not one this xpnet ({__version__}) reads "
            f"(1..{FORMAT_VERSION}); upgrade xpnet or re-save the model",
        )
    return meta, arrays


def _check_member_header(path: Path, info: zipfile.ZipInfo, member: Any) -> None:
    """Refuse object dtypes and declared shapes larger than the stored bytes."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ValueError as e:
        raise _bad(path, f"member {info.filename!r} has a bad .npy header ({e})") from e
    if dtype.hasobject:
        raise _bad(
            path, f"member {info.filename!r} holds Python objects; refused (never unpickled)"
        )
    count = math.prod(shape)
    if count * dtype.itemsize > info.file_size:
        raise _bad(
            path,
            f"member {info.filename!r} declares shape {shape} of {dtype} "
            f"({count * dtype.itemsize} bytes) but stores only {info.file_size} bytes",
        )


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


def _jsonable_rng_state(state: Any) -> Any:
    """The bit generator state as JSON (ints and strings only; numpy ints converted)."""
    if isinstance(state, dict):
        return {k: _jsonable_rng_state(v) for k, v in state.items()}
    if isinstance(state, np.integer):
        return int(state)
    if isinstance(state, np.ndarray):
        return state.tolist()
    return state
