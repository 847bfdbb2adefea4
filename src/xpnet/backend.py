"""Which arrays: resolve a backend spec to an array-API namespace and a device.

This is the only math-side module that names a concrete array library. Every
other module receives ``xp`` (an array-api-compat namespace) and a device from
here, or reads them off the arrays it is given.

Specs (see ``get_backend``): ``"auto"``, ``"numpy"``, ``"cupy"`` / ``"cupy:N"``,
``"torch"`` / ``"torch:cpu"`` / ``"torch:cuda"`` / ``"torch:cuda:N"``,
``"jax"`` / ``"jax:cpu"`` / ``"jax:gpu"`` / ``"jax:cuda:N"``,
``"array_api_strict"`` (or ``"array_api_strict:device1"``, ...), a module, an
array, or a ``Backend``. A backend's ``name`` is a spec again:
``get_backend(b.name).name == b.name``.

Importing this module imports no optional backend: CuPy, PyTorch and JAX are
imported only when a spec asks for them; ``"auto"`` probes the GPU ones only
when an NVIDIA driver is present.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "available_backends",
    "get_backend",
    "host_rng",
    "to_numpy",
    "BACKEND_NAMES",
]

#: The backend libraries xpnet knows by name, in the order ``"auto"`` tries the GPU ones.
BACKEND_NAMES = ("numpy", "cupy", "torch", "jax", "array_api_strict")

INSTALL_HINTS = {
    "numpy": "pip install numpy",
    "cupy": "pip install cupy-cuda12x (CUDA 12 driver) or cupy-cuda13x (CUDA 13 driver), "
    'on a machine with an NVIDIA GPU and driver (from a clone: pip install -e ".[cuda12]")',
    "torch": "pip install torch (CPU only: add --index-url https://download.pytorch.org/whl/cpu; "
    'for a GPU, the CUDA build from pytorch.org; from a clone: pip install -e ".[torch]")',
    "jax": 'pip install "jax[cpu]" (for a GPU, "jax[cuda12]"; from a clone: pip install -e ".[jax]")',
    "array_api_strict": 'pip install array-api-strict (from a clone: pip install -e ".[strict]")',
}

_ALIASES = {
    "np": "numpy",
    "numpy": "numpy",
    "cupy": "cupy",
    "cp": "cupy",
    "torch": "torch",
    "pytorch": "torch",
    "jax": "jax",
    "array_api_strict": "array_api_strict",
    "array-api-strict": "array_api_strict",
    "strict": "array_api_strict",
}


class BackendUnavailableError(RuntimeError):
    """A known backend cannot be used here (not installed, no device, broken driver)."""


@dataclass(frozen=True)
class Backend:
    """A resolved backend: the array-API namespace and the device arrays live on.

    Attributes:
        name: canonical spec, e.g. ``"numpy"``, ``"cupy:0"``, ``"torch:cpu"``,
            ``"torch:cuda:1"``, ``"array_api_strict"``.
        xp: the array-api-compat namespace (array_api_strict is its own).
        device: the device object to pass as ``device=`` to creation functions.
        library: ``"numpy"``, ``"cupy"``, ``"torch"``, ``"array_api_strict"``
            or the module name of another array-API library.
        note: how the spec was resolved (for ``"auto"``: why the GPU backends
            were passed over), for logging.
    """

    name: str
    xp: Any = field(repr=False)
    device: Any = field(repr=False)
    library: str = field(repr=False)
    note: str = field(default="", repr=False, compare=False)

    @property
    def is_gpu(self) -> bool:
        """True when arrays live on a CUDA device."""
        return self.library == "cupy" or self.name.startswith(("torch:cuda", "jax:cuda"))

    # ------------------------------------------------------------------ compiling the step

    def compile_mode(self, mode: Any = "auto") -> str:
        """``"none"`` or ``"jit"``: what ``compile=mode`` means on this backend.

        Raises:
            ValueError: an unknown mode, or ``"jit"`` where the backend cannot compile.
        """
        from . import compile as _compile

        return _compile.resolve_mode(self.library, mode)

    def compile_step(self, fn: Any, donate_argnums: tuple[int, ...] = ()) -> Any:
        """``fn`` captured by this backend's compiler (``jax.jit``, ``torch.compile``)."""
        from . import compile as _compile

        return _compile.jit(self.library, fn, donate_argnums)

    def compile_epoch(self, step: Any, has_weights: bool) -> Any:
        """An epoch of equal minibatches as one compiled loop (JAX only; see ``compile.scan_epoch``)."""
        from . import compile as _compile

        if self.library != "jax":
            raise ValueError(f"compile_epoch: {self.name} has no compiled loop")
        return _compile.scan_epoch(step, has_weights)

    def copy_tree(self, tree: Any) -> Any:
        """A copy of the arrays of ``tree`` where compiled steps donate their buffers."""
        from . import compile as _compile

        return _compile.copy_tree(self.library, tree)

    def state_arrays(self, opt_state: Any, dtype: Any) -> Any:
        """The optimizer state with its count and learning-rate scale as 0-d device arrays."""
        from . import compile as _compile

        return _compile.to_state_arrays(self.library, opt_state, self.device, dtype)

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Move ``x`` (host data or another backend's array) here, as ``dtype``.

        ``dtype`` is a name (``"float32"``) or a dtype of this namespace. An
        array already here with the right dtype is returned without a copy.
        """
        xp = self.xp
        dt = self.dtype(dtype) if dtype is not None else None
        if _same_place(x, self):
            return x if dt is None or x.dtype == dt else xp.astype(x, dt)
        host = to_numpy(x)
        if self.library == "numpy":
            return np.asarray(host, dtype=dt)
        if self.library == "cupy":
            import cupy

            with cupy.cuda.Device(self.device.id):
                return cupy.asarray(host, dtype=dt)
        if self.library == "torch":
            import torch

            # ascontiguousarray turns a 0-d array into shape (1,): restore the shape
            t = torch.from_numpy(np.ascontiguousarray(host).reshape(host.shape))
            return t.to(device=self.device, dtype=dt)
        if self.library == "jax":
            return self._jax_asarray(host, dt)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"cannot move an array of dtype {host.dtype} to {self.name}")
        arr = xp.asarray(host, device=self.device)
        return arr if dt is None or arr.dtype == dt else xp.astype(arr, dt)

    def _jax_asarray(self, host: np.ndarray, dt: Any) -> Any:
        import jax

        x64 = _jax_x64()
        if dt is None:
            if host.dtype == np.float64 and not x64:
                raise ValueError(_X64_MESSAGE.format(name=self.name))
            dt = host.dtype
        dt = np.dtype(dt)
        if dt.kind in "iu" and dt.itemsize == 8 and not x64:
            dt = np.dtype(np.int32 if dt.kind == "i" else np.uint32)  # see Backend.dtype
        if dt.kind in "iu" and host.dtype.kind in "iu" and host.size:
            info = np.iinfo(dt)
            if host.min() < info.min or host.max() > info.max:
                raise ValueError(
                    f"cannot move integers in [{host.min()}, {host.max()}] to {self.name} as "
                    f"{dt}; with JAX_ENABLE_X64=1 it holds 64-bit integers"
                )
        return jax.device_put(host.astype(dt, copy=False), self.device)

    def dtype(self, dtype: Any) -> Any:
        """This namespace's dtype for a name like ``"float32"`` (or a dtype object).

        On JAX without 64-bit mode, ``"float64"`` raises ``ValueError`` saying how
        to enable it (never a silent float32 run), and ``"int64"`` is int32.
        """
        if isinstance(dtype, np.dtype) or (
            isinstance(dtype, type) and issubclass(dtype, np.generic)
        ):
            dtype = np.dtype(dtype).name
        if isinstance(dtype, str):
            if self.library == "jax" and not _jax_x64():
                if dtype == "float64":
                    raise ValueError(_X64_MESSAGE.format(name=self.name))
                # labels and indices: JAX's own 32-bit default, checked for range on the way in
                dtype = {"int64": "int32", "uint64": "uint32"}.get(dtype, dtype)
            try:
                return getattr(self.xp, dtype)
            except AttributeError:
                raise ValueError(f"dtype: unknown dtype name {dtype!r} for {self.name}") from None
        return dtype

    def sync(self) -> None:
        """Block until all queued device work is done (a no-op on the CPU)."""
        if self.library == "cupy":
            import cupy

            cupy.cuda.Device(self.device.id).synchronize()
        elif self.library == "jax":
            import jax

            # work runs in order on a device: waiting for a new result waits for the rest
            jax.block_until_ready(jax.device_put(0.0, self.device) + 0.0)
        elif self.is_gpu:
            import torch

            torch.cuda.synchronize(self.device)

    def free_memory(self) -> int | None:
        """Free bytes on the device, or None where the figure is not known (CPU)."""
        try:
            if self.library == "cupy":
                import cupy

                with cupy.cuda.Device(self.device.id):
                    return int(cupy.cuda.runtime.memGetInfo()[0])
            if self.library == "jax":
                if not self.is_gpu:
                    return None
                stats = self.device.memory_stats() or {}
                if "bytes_limit" not in stats:
                    return None
                return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
            if self.is_gpu:
                import torch

                return int(torch.cuda.mem_get_info(self.device)[0])
        except Exception:  # a query failure is not a reason to stop training
            return None
        return None

    def set_tf32(self, allow: bool) -> None:
        """Allow (or forbid) TF32 tensor-core matmuls for float32 on this backend.

        Only meaningful on CUDA devices; ignored elsewhere.
        """
        if self.library == "torch" and self.is_gpu:
            import torch

            torch.backends.cuda.matmul.allow_tf32 = bool(allow)
        elif self.library == "cupy":
            import cupy

            # CuPy reads CUPY_TF32 once, at the first float32 matmul of the process, and
            # keeps the compute type it chose (get_compute_type in
            # cupy/_core/_routines_linalg.pyx); get_backend's probe has already run a
            # matmul, so the variable alone comes too late: set the kept type as well.
            os.environ["CUPY_TF32"] = "1" if allow else "0"
            try:
                from cupy._core import _routines_linalg as linalg

                set_type = linalg.set_compute_type
                tf32, default = linalg.COMPUTE_TYPE_TF32, linalg.COMPUTE_TYPE_DEFAULT
            except (ImportError, AttributeError):  # another CuPy layout: the variable is all
                return
            device = cupy.cuda.Device(self.device.id)
            supported = int(device.compute_capability) >= 80  # Ampere and later
            with device:
                set_type(cupy.float32, tf32 if allow and supported else default)

    def describe(self) -> str:
        """A one-line summary: backend, device and, for GPUs, the device name."""
        detail = ""
        try:
            if self.library == "cupy":
                import cupy

                props = cupy.cuda.runtime.getDeviceProperties(self.device.id)
                detail = f" ({props['name'].decode()}, {props['totalGlobalMem'] / 2**30:.1f} GiB)"
            elif self.library == "jax":
                detail = f" ({self.device.device_kind})" if self.is_gpu else ""
            elif self.is_gpu:
                import torch

                detail = f" ({torch.cuda.get_device_name(self.device)})"
        except Exception:
            detail = ""
        return f"{self.name} on {self.device}{detail}"


def _same_place(x: Any, b: Backend) -> bool:
    """True when ``x`` is already an array of ``b``'s library on ``b``'s device."""
    if not array_api_compat.is_array_api_obj(x) or isinstance(x, (int, float, bool)):
        return False
    lib = _library_of_array(x)
    if lib != b.library:
        return False
    if lib == "numpy":
        return True
    return array_api_compat.device(x) == b.device


def _library_of_array(x: Any) -> str:
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if array_api_compat.is_jax_array(x):
        return "jax"
    mod = type(x).__module__.split(".")[0]
    return mod


# ----------------------------------------------------------------------------- probes


@functools.cache
def _numpy_backend() -> Backend:
    import array_api_compat.numpy as xnp

    return Backend("numpy", xnp, "cpu", "numpy")


@functools.cache
def _cupy_backend(index: int | None) -> Backend:
    try:
        import cupy
    except Exception as e:  # not installed, or a broken install
        raise BackendUnavailableError(
            f"cupy: not importable ({type(e).__name__}: {e}); install with {INSTALL_HINTS['cupy']}"
        ) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, driver too old, no device
        raise BackendUnavailableError(
            f"cupy: imported, but CUDA is not usable ({type(e).__name__}: {e}); "
            "check the NVIDIA driver (nvidia-smi) or use backend='numpy'"
        ) from e
    if count == 0:
        raise BackendUnavailableError("cupy: imported, but no CUDA device is visible")
    idx = 0 if index is None else index
    if not 0 <= idx < count:
        raise BackendUnavailableError(
            f"cupy:{idx}: no such device; {count} CUDA device(s) visible (cupy:0..cupy:{count - 1})"
        )
    try:
        with cupy.cuda.Device(idx):
            probe = cupy.arange(4, dtype=cupy.float32)
            float((probe @ probe).get())
    except Exception as e:
        raise BackendUnavailableError(
            f"cupy:{idx}: the device is visible but a test computation failed "
            f"({type(e).__name__}: {e})"
        ) from e
    import array_api_compat.cupy as xcp

    return Backend(f"cupy:{idx}", xcp, cupy.cuda.Device(idx), "cupy")


def _import_torch():
    try:
        import torch
    except Exception as e:
        raise BackendUnavailableError(
            f"torch: not importable ({type(e).__name__}: {e}); install with {INSTALL_HINTS['torch']}"
        ) from e
    return torch


@functools.cache
def _torch_backend(kind: str, index: int | None) -> Backend:
    torch = _import_torch()
    import array_api_compat.torch as xtorch

    if kind == "cpu":
        return Backend("torch:cpu", xtorch, torch.device("cpu"), "torch")
    try:
        ok = torch.cuda.is_available()
        count = torch.cuda.device_count() if ok else 0
    except Exception as e:
        raise BackendUnavailableError(
            f"torch:cuda: CUDA query failed ({type(e).__name__}: {e})"
        ) from e
    if not ok or count == 0:
        why = "this PyTorch build has no CUDA" if torch.version.cuda is None else "no CUDA device"
        raise BackendUnavailableError(
            f"torch:cuda: {why}; use 'torch:cpu', or install a CUDA build of PyTorch"
        )
    idx = 0 if index is None else index
    if not 0 <= idx < count:
        raise BackendUnavailableError(
            f"torch:cuda:{idx}: no such device; {count} CUDA device(s) visible"
        )
    dev = torch.device("cuda", idx)
    try:
        probe = torch.arange(4, dtype=torch.float32, device=dev)
        float(probe @ probe)
    except Exception as e:
        raise BackendUnavailableError(
            f"torch:cuda:{idx}: a test computation failed ({type(e).__name__}: {e})"
        ) from e
    return Backend(f"torch:cuda:{idx}", xtorch, dev, "torch")


_X64_MESSAGE = (
    "dtype: {name} holds float64 only with 64-bit mode on: set the environment variable "
    "JAX_ENABLE_X64=1 before starting Python, or call "
    "jax.config.update('jax_enable_x64', True) before creating any array; or use "
    "dtype='float32'"
)


def _jax_x64() -> bool:
    """Whether JAX's 64-bit mode is on (JAX is imported by then)."""
    import jax

    return bool(jax.config.read("jax_enable_x64"))


def _import_jax():
    try:
        import jax
    except Exception as e:
        raise BackendUnavailableError(
            f"jax: not importable ({type(e).__name__}: {e}); install with {INSTALL_HINTS['jax']}"
        ) from e
    return jax


def _jax_name(dev: Any) -> str:
    if dev.platform == "cpu":
        return "jax:cpu" if dev.id == 0 else f"jax:cpu:{dev.id}"
    platform = "cuda" if dev.platform in ("gpu", "cuda") else dev.platform
    return f"jax:{platform}:{dev.id}"


@functools.cache
def _jax_backend(platform: str | None, index: int | None) -> Backend:
    """JAX on its default device (platform None), on the CPU, or on GPU ``index``."""
    jax = _import_jax()
    try:
        devices = jax.devices() if platform is None else jax.devices(platform)
    except RuntimeError as e:  # no such platform in this jaxlib
        what = "GPU" if platform in ("gpu", "cuda") else repr(platform)
        raise BackendUnavailableError(
            f"jax:{platform}: this JAX has no {what} device ({e}); install a CUDA build of JAX "
            '(pip install "jax[cuda12]") on a machine with an NVIDIA GPU'
        ) from e
    idx = 0 if index is None else index
    if not 0 <= idx < len(devices):
        raise BackendUnavailableError(
            f"jax:{platform}:{idx}: no such device; {len(devices)} device(s) visible"
        )
    dev = devices[idx]
    import jax.numpy as jnp

    return Backend(_jax_name(dev), jnp, dev, "jax")


_STRICT_DEVICE_NAMES = ("CPU_DEVICE", "device1", "device2")


@functools.cache
def _strict_backend(device_name: str | None = None) -> Backend:
    try:
        import array_api_strict
    except Exception as e:
        raise BackendUnavailableError(
            f"array_api_strict: not importable ({type(e).__name__}: {e}); "
            f"install with {INSTALL_HINTS['array_api_strict']}"
        ) from e
    if device_name is None or device_name.upper() == "CPU_DEVICE":
        return Backend(
            "array_api_strict",
            array_api_strict,
            array_api_strict.asarray(0).device,
            "array_api_strict",
        )
    known = {d.lower(): d for d in _STRICT_DEVICE_NAMES}
    if device_name.lower() not in known:
        raise ValueError(
            f"backend: array_api_strict has devices {', '.join(_STRICT_DEVICE_NAMES)}, "
            f"got {device_name!r}"
        )
    name = known[device_name.lower()]
    dev = array_api_strict.Device(name)
    return Backend(f"array_api_strict:{name}", array_api_strict, dev, "array_api_strict")


def _strict_device_name(dev: Any) -> str | None:
    import array_api_strict

    for name in _STRICT_DEVICE_NAMES:
        if dev == array_api_strict.Device(name):
            return None if name == "CPU_DEVICE" else name
    return None


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver, found without importing any GPU library.

    Looks for the kernel driver (``/proc/driver/nvidia``, ``/dev/nvidia*``) and the
    user-space driver library (``libcuda``), as WSL exposes only the latter.
    """
    if os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl"):
        return True
    if os.path.exists("/usr/lib/wsl/lib/libcuda.so.1"):
        return True
    if sys.platform == "win32":
        import ctypes.util

        return ctypes.util.find_library("nvcuda") is not None
    return False


def _auto() -> Backend:
    env = os.environ.get("XPNET_BACKEND", "").strip()
    if env and env.lower() != "auto":
        b = get_backend(env)
        return _with_note(b, f"XPNET_BACKEND={env}")
    if not nvidia_driver_present():
        b = _numpy_backend()
        return _with_note(
            b,
            "auto: no NVIDIA driver on this machine (CuPy, PyTorch and JAX not probed); using numpy",
        )
    reasons: list[str] = []
    probes = (
        lambda: _cupy_backend(None),
        lambda: _torch_backend("cuda", None),
        lambda: _jax_backend("gpu", None),
    )
    for probe in probes:
        try:
            b = probe()
            return _with_note(b, "auto: " + "; ".join(reasons + [f"picked {b.name}"]))
        except BackendUnavailableError as e:
            reasons.append(str(e))
    b = _numpy_backend()
    return _with_note(b, "auto: no usable GPU backend (" + "; ".join(reasons) + "); using numpy")


def _with_note(b: Backend, note: str) -> Backend:
    return Backend(b.name, b.xp, b.device, b.library, note)


def _parse_index(text: str, spec: str) -> int:
    try:
        idx = int(text)
    except ValueError:
        raise ValueError(f"backend: bad device index {text!r} in {spec!r}") from None
    if idx < 0:
        raise ValueError(f"backend: device index must be >= 0 in {spec!r}")
    return idx


def _from_string(spec: str) -> Backend:
    text = spec.strip().lower()
    if text == "auto":
        return _auto()
    head, _, rest = text.partition(":")
    lib = _ALIASES.get(head)
    if lib is None and spec.strip() in _OTHER_BACKENDS:
        return _OTHER_BACKENDS[spec.strip()]
    if lib is None:
        raise ValueError(
            f"backend: unknown backend {spec!r}; expected 'auto', 'numpy', 'cupy[:N]', "
            "'torch[:cpu|:cuda[:N]]', 'jax[:cpu|:gpu|:cuda:N]' or 'array_api_strict[:DEVICE]'"
        )
    if lib == "numpy":
        if rest not in ("", "cpu"):
            raise ValueError(f"backend: numpy runs on the CPU only, got {spec!r}")
        return _numpy_backend()
    if lib == "array_api_strict":
        # device names are case-sensitive in array_api_strict: take them from the spec as given
        return _strict_backend(spec.strip().partition(":")[2] or None)
    if lib == "jax":
        if rest == "":
            return _jax_backend(None, None)
        kind, _, idx = rest.partition(":")
        if kind == "cpu":
            return _jax_backend("cpu", _parse_index(idx, spec) if idx else None)
        if kind in ("gpu", "cuda"):
            return _jax_backend("gpu", _parse_index(idx, spec) if idx else None)
        raise ValueError(f"backend: jax device must be 'cpu', 'gpu' or 'cuda[:N]', got {spec!r}")
    if lib == "cupy":
        return _cupy_backend(_parse_index(rest, spec) if rest else None)
    # torch
    if rest == "":
        try:
            return _torch_backend("cuda", None)
        except BackendUnavailableError as e:
            _import_torch()  # a missing torch is reported as such
            return _with_note(_torch_backend("cpu", None), f"torch: {e}; using torch:cpu")
    if rest == "cpu":
        return _torch_backend("cpu", None)
    kind, _, idx = rest.partition(":")
    if kind != "cuda":
        raise ValueError(f"backend: torch device must be 'cpu' or 'cuda[:N]', got {spec!r}")
    return _torch_backend("cuda", _parse_index(idx, spec) if idx else None)


#: Backends of other array-API libraries met through a module or an array, by name,
#: so that their names resolve again in this process.
_OTHER_BACKENDS: dict[str, Backend] = {}


def _from_module(mod: ModuleType) -> Backend:
    name = mod.__name__
    base = name.removeprefix("array_api_compat.").split(".")[0]
    if base in ("numpy", "cupy", "torch", "jax", "array_api_strict"):
        return _from_string(
            base if base != "torch" else "torch:cpu" if not _torch_cuda_ok() else "torch"
        )
    # any other array-API library: use its compat namespace when there is one
    probe = getattr(mod, "asarray", None)
    if probe is None:
        raise ValueError(f"backend: module {name!r} is not an array-API namespace")
    arr = probe(0.0)
    return _from_array(arr)


def _torch_cuda_ok() -> bool:
    try:
        _torch_backend("cuda", None)
        return True
    except BackendUnavailableError:
        return False


def _from_array(x: Any) -> Backend:
    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError as e:
        raise TypeError(f"backend: {type(x).__name__} is not an array of a known library") from e
    lib = _library_of_array(x)
    dev = array_api_compat.device(x)
    if lib == "numpy":
        return _numpy_backend()
    if lib == "array_api_strict":
        return _strict_backend(_strict_device_name(dev))
    if lib == "jax":
        return _jax_from_device(dev)
    if lib == "cupy":
        return _cupy_backend(int(dev.id))
    if lib == "torch":
        if dev.type == "cpu":
            return _torch_backend("cpu", None)
        if dev.type == "cuda":
            return _torch_backend("cuda", dev.index or 0)
        return _register(Backend(f"torch:{dev}", xp, dev, "torch"))
    return _register(Backend(f"{lib}:{dev}", xp, dev, lib))


def _register(b: Backend) -> Backend:
    return _OTHER_BACKENDS.setdefault(b.name, b)


def _jax_from_device(dev: Any) -> Backend:
    if dev.platform == "cpu":
        return _jax_backend("cpu", dev.id)
    return _jax_backend("gpu", dev.id)


def get_backend(spec: Any = "auto") -> Backend:
    """Resolve a backend spec to a ``Backend`` (name, array-API namespace, device).

    Args:
        spec: ``"auto"`` (CuPy if a CUDA device is usable, else PyTorch on
            CUDA, else JAX on a GPU, else NumPy; on a machine with no NVIDIA
            driver it answers without importing any of them; ``XPNET_BACKEND``
            overrides it), ``"numpy"``, ``"cupy"`` / ``"cupy:N"``, ``"torch"``
            (CUDA if available, else CPU) / ``"torch:cpu"`` / ``"torch:cuda[:N]"``,
            ``"jax"`` (its default device) / ``"jax:cpu"`` / ``"jax:gpu"`` (=
            ``"jax:cuda:0"``) / ``"jax:cuda:N"``, ``"array_api_strict"`` /
            ``"array_api_strict:device1"``, a module (``numpy``, ``torch``,
            ``jax.numpy``, an array-api-compat namespace, ...), an array (its
            namespace and device), or a ``Backend``. The result's ``name`` is
            canonical (``"numpy"``, ``"cupy:0"``, ``"torch:cpu"``,
            ``"torch:cuda:0"``, ``"jax:cpu"``, ``"jax:cuda:0"``,
            ``"array_api_strict"``, ...) and resolves to the same backend again.

    Raises:
        ValueError: unknown name or malformed spec.
        BackendUnavailableError: a known backend that cannot be used here; the
            message says why and how to install it.

    Example:
        >>> b = get_backend("numpy")
        >>> b.name, b.device
        ('numpy', 'cpu')
    """
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        spec = "auto"
    if isinstance(spec, str):
        return _from_string(spec)
    if isinstance(spec, ModuleType):
        return _from_module(spec)
    if array_api_compat.is_array_api_obj(spec):
        return _from_array(spec)
    raise TypeError(
        f"backend: expected a name such as 'auto', 'numpy', 'cupy', 'torch:cpu', a module or an "
        f"array, got {type(spec).__name__}"
    )


def available_backends() -> dict[str, bool | str]:
    """Map each backend name to True, or to the reason it cannot be used here.

    Keys: ``numpy``, ``cupy``, ``torch:cpu``, ``torch:cuda``, ``jax:cpu``,
    ``jax:gpu``, ``array_api_strict``. This imports each library to probe it.
    """
    out: dict[str, bool | str] = {}
    for name in (
        "numpy",
        "cupy",
        "torch:cpu",
        "torch:cuda",
        "jax:cpu",
        "jax:gpu",
        "array_api_strict",
    ):
        try:
            get_backend(name)
            out[name] = True
        except BackendUnavailableError as e:
            out[name] = str(e)
    return out


def to_numpy(x: Any) -> np.ndarray:
    """Copy any backend's array (or a scalar, or a list) to a host ``numpy.ndarray``."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float, complex, bool)):
        try:
            return np.from_dlpack(x)
        except Exception:
            # no DLPack on this array, or not on the CPU
            mod = sys.modules.get(type(x).__module__.split(".")[0])
            to_device = getattr(x, "to_device", None)
            if to_device is not None and mod is not None:
                try:
                    return np.from_dlpack(to_device("cpu"))
                except Exception:
                    pass
            return np.asarray(x)
    return np.asarray(x)


def host_rng(seed: Any = None) -> np.random.Generator:
    """The host random generator all of xpnet's randomness comes from.

    Numbers are drawn on the host and moved to the device, so every backend
    sees identical values for a given seed. ``seed`` may be an int, None (fresh
    entropy) or an existing ``numpy.random.Generator`` (returned as is).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed: expected an int, None or a numpy Generator, got {type(seed).__name__}"
        )
    return np.random.default_rng(seed)


def host_arange(n: int) -> np.ndarray:
    """0, 1, ..., n - 1 as a host int64 array (an unshuffled order of rows)."""
    return np.arange(n, dtype=np.int64)


def backend_of(xp: Any, device: Any = None) -> Backend:
    """The ``Backend`` for a namespace and a device (None: the namespace's default)."""
    name = getattr(xp, "__name__", "")
    base = name.removeprefix("array_api_compat.").split(".")[0]
    if base == "numpy":
        return _numpy_backend()
    if base == "array_api_strict":
        return _strict_backend(None if device is None else _strict_device_name(device))
    if base == "jax":
        return _jax_backend(None, None) if device is None else _jax_from_device(device)
    if base == "cupy":
        return _cupy_backend(None if device is None else int(getattr(device, "id", device)))
    if base == "torch":
        import torch

        dev = torch.device("cpu") if device is None else torch.device(device)
        if dev.type == "cuda":
            return _torch_backend("cuda", dev.index or 0)
        return _torch_backend("cpu", None)
    return _from_array(xp.asarray(0.0, device=device) if device is not None else xp.asarray(0.0))


# ----------------------------------------------------------------------------- data larger than memory

#: Bytes of a memory-mapped X's pages a pass may touch between two releases.
RELEASE_BUDGET_BYTES = 64 << 20

#: The window of cached pages one page fault maps in (Linux's default fault_around_bytes).
FAULT_AROUND_BYTES = 64 << 10


def host_uniform(
    rng: np.random.Generator, bound: float, shape: tuple[int, int], dtype: str, block_values: int
) -> np.ndarray:
    """U(-bound, bound) of ``shape`` as a host array of ``dtype``, drawn in float64 row blocks.

    The generator yields the same float64 stream as one ``rng.uniform(size=shape)``
    call, so the values do not depend on ``block_values`` (how many float64 draws
    exist at a time); the whole array exists only in ``dtype``. Raises
    ``MemoryError`` when the array cannot be allocated.
    """
    rows, cols = shape
    out = np.empty(shape, dtype=np.dtype(dtype))
    step = max(1, block_values // max(cols, 1))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        out[start:stop] = rng.uniform(-bound, bound, size=(stop - start, cols))
    return out


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def release_every_rows(x: Any) -> int:
    """Rows of ``x`` to read at random between two :func:`release_host_pages` calls.

    A page fault on a memory map also maps the cached pages around it (Linux's
    fault-around: an aligned window of ``FAULT_AROUND_BYTES``), so a row read at
    random can make resident every window it overlaps; the interval keeps what
    the rows between two releases can touch within ``RELEASE_BUDGET_BYTES``.
    """
    windows_per_row = -(-_row_bytes(x) // FAULT_AROUND_BYTES) + 1
    return max(1, RELEASE_BUDGET_BYTES // (windows_per_row * FAULT_AROUND_BYTES))


def gather_rows(x: Any, rows: Any) -> Any:
    """``x[rows]`` (an index array or a slice) as an array in memory.

    From a read-only ``.npy`` memory map the rows are read from the file with
    ``os.preadv``: nothing of the file is mapped into the process, so its
    resident memory does not grow with the pages read (the page cache keeps
    them, as it would for any file read). Other memory maps are indexed, their
    pages released every :func:`release_every_rows` rows.
    """
    if isinstance(rows, tuple) and len(rows) == 2 and rows[1] is Ellipsis:
        rows = rows[0]  # x[rows, ...]
    source = _file_rows(x)
    if source is not None:
        return _pread_rows(x, rows, *source)
    if isinstance(rows, slice):
        return x[rows, ...]  # the array API's spelling of a row slice
    if not is_out_of_core(x):
        return x[rows]
    rows = np.asarray(rows)
    step = release_every_rows(x)
    if rows.shape[0] <= step:
        return x[rows]
    out = np.empty((int(rows.shape[0]), *tuple(x.shape[1:])), dtype=x.dtype)
    for start in range(0, int(rows.shape[0]), step):
        out[start : start + step] = x[rows[start : start + step]]
        release_host_pages(x)
    return out


#: id(memory map) -> a file descriptor open on its file, closed with the map.
_OPEN_FILES: dict[int, int] = {}


def _close_file(key: int, fd: int) -> None:
    _OPEN_FILES.pop(key, None)
    try:
        os.close(fd)
    except OSError:
        pass


def _attach_file(x: np.memmap, fd: int) -> None:
    """Read ``x``'s rows through ``fd`` from now on (closed when ``x`` is collected)."""
    import weakref

    _OPEN_FILES[id(x)] = fd
    weakref.finalize(x, _close_file, id(x), fd)


def _file_rows(x: Any) -> tuple[int, int, int] | None:
    """(fd, file offset of row 0, bytes per row) of a read-only C-ordered ``.npy`` map."""
    import mmap

    if (
        not isinstance(x, np.memmap)
        or not isinstance(x.base, mmap.mmap)  # the map itself, not a view of it
        or x.mode != "r"
        or x.ndim < 1
        or not x.flags.c_contiguous
        or not hasattr(os, "preadv")
    ):
        return None
    fd = _OPEN_FILES.get(id(x))
    if fd is None:
        if not x.filename:
            return None
        try:
            fd = os.open(x.filename, os.O_RDONLY)
        except OSError:
            return None
        if os.fstat(fd).st_size < int(x.offset) + int(x.nbytes):  # not the file it maps
            os.close(fd)
            return None
        _attach_file(x, fd)
    return fd, int(x.offset), _row_bytes(x)


def _pread_rows(x: np.memmap, rows: Any, fd: int, offset: int, row_bytes: int) -> np.ndarray:
    n = int(x.shape[0])
    if isinstance(rows, slice):
        start, stop, stride = rows.indices(n)
        if stride == 1:
            out = np.empty((max(0, stop - start), *x.shape[1:]), dtype=x.dtype)
            if out.size:
                _pread_exactly(fd, out.reshape(-1).data.cast("B"), offset + start * row_bytes)
            return out
        rows = np.arange(start, stop, stride)
    index = np.asarray(rows)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        return np.asarray(x[rows])
    index = np.where(index < 0, index + n, index)
    if index.size and (index.min() < 0 or index.max() >= n):
        raise IndexError(f"row index out of range for {n} rows")
    out = np.empty((int(index.shape[0]), *x.shape[1:]), dtype=x.dtype)
    if out.size == 0:
        return out
    buffer = out.reshape(-1).data.cast("B")
    for j, i in enumerate(index.tolist()):
        _pread_exactly(fd, buffer[j * row_bytes : (j + 1) * row_bytes], offset + i * row_bytes)
    return out


def _pread_exactly(fd: int, buffer: memoryview, position: int) -> None:
    while len(buffer):
        got = os.preadv(fd, [buffer], position)
        if got <= 0:
            raise OSError(f"the memory-mapped file ended {len(buffer)} bytes early")
        buffer, position = buffer[got:], position + got


def _row_bytes(x: Any) -> int:
    row_bytes = int(np.dtype(getattr(x, "dtype", np.float64)).itemsize)
    for extent in getattr(x, "shape", ())[1:]:
        row_bytes *= int(extent)
    return max(1, row_bytes)


def block_rows(x: Any) -> int:
    """Rows of ``x`` in ``RELEASE_BUDGET_BYTES``: a block of a sequential pass."""
    return max(1, RELEASE_BUDGET_BYTES // _row_bytes(x))


def host_blocks(x: Any, rows: int | None = None) -> Any:
    """``x[i : i + rows]`` block by block; a memory map's pages are released after each.

    ``rows`` defaults to the rows of ``RELEASE_BUDGET_BYTES``, so a sequential pass
    over a memory map never holds more than that budget of its pages.
    """
    if rows is None:
        rows = block_rows(x)
    for start in range(0, int(x.shape[0]), rows):
        yield gather_rows(x, slice(start, start + rows))
        release_host_pages(x)


def is_dask_array(x: Any) -> bool:
    """True for a dask array (without importing dask)."""
    return "dask" in sys.modules and array_api_compat.is_dask_array(x)


def is_out_of_core(x: Any) -> bool:
    """True for data that stays on disk: a memory-mapped array, or rows of one."""
    return isinstance(x, (np.memmap, HostRows))


class HostRows:
    """Selected rows of a host array, read only when indexed.

    ``HostRows(X, rows)[key]`` is ``X[rows[key]]``: a validation split of a
    memory-mapped ``X`` reads its rows a minibatch at a time instead of
    copying them all.
    """

    def __init__(self, base: Any, rows: Any) -> None:
        self.base = base
        self.rows = np.asarray(rows, dtype=np.int64)
        self.shape = (int(self.rows.shape[0]), *tuple(base.shape[1:]))
        self.dtype = base.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(gather_rows(self.base, self.rows[key]))


def release_host_pages(x: Any) -> None:
    """Let the OS drop the pages of a read-only memory map that this process holds.

    Reading a memory-mapped file leaves its pages resident in the process; after
    this call they count against the page cache only, so the resident memory of a
    pass over a file larger than memory stays bounded. Does nothing for other data.
    """
    base = x.base if isinstance(x, HostRows) else x
    if not isinstance(base, np.memmap) or base.mode != "r":
        return
    mapped = getattr(base, "_mmap", None)
    advise = getattr(mapped, "madvise", None)
    import mmap

    dontneed = getattr(mmap, "MADV_DONTNEED", None)
    if advise is not None and dontneed is not None:
        try:
            advise(dontneed)
        except (OSError, ValueError):  # a closed map, or a platform that refuses: harmless
            pass


def spool_dask(X: Any, name: str = "X") -> np.memmap:
    """A dask array written once, block row by block row, to a temporary memory map.

    Each block of ``X`` is computed exactly once; training then reads the map a
    minibatch at a time, every epoch, without computing the graph again. The
    temporary file is unlinked at once (POSIX keeps it while mapped), so nothing
    is left behind, even after a crash; it needs ``X.nbytes`` of free space in the
    temporary directory (``TMPDIR``).
    """
    import math
    import tempfile

    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(f"{name}: expected a 2-D dask array (n_samples, n_features), got {shape}")
    band_rows = X.chunks[0]
    if any(not isinstance(c, int) and (c is None or math.isnan(c)) for c in band_rows):
        raise ValueError(
            f"{name}: the dask array's chunk sizes are unknown; call X.compute_chunk_sizes() first"
        )
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got a dask array of dtype {dtype}")
    handle, path = tempfile.mkstemp(prefix="xpnet-", suffix=".npy")
    try:
        with os.fdopen(handle, "wb") as f:  # written, not mapped: nothing stays resident
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
            np.lib.format.write_array_header_2_0(f, {**header, "shape": shape})
            start = 0
            for rows in band_rows:
                stop = start + int(rows)
                block = np.ascontiguousarray(np.asarray(X[start:stop].compute()), dtype=dtype)
                if block.shape != (stop - start, *shape[1:]):
                    raise ValueError(
                        f"{name}: a dask block of rows {start}:{stop} computed to shape "
                        f"{block.shape}, not its declared {(stop - start, *shape[1:])}"
                    )
                if block.size:
                    f.write(block.reshape(-1).data.cast("B"))
                start = stop
        spooled = np.load(path, mmap_mode="r")
        fd = os.open(path, os.O_RDONLY)  # rows are read through it once the name is gone
        _attach_file(spooled, fd)
    finally:
        try:
            os.unlink(path)
        except OSError:  # Windows keeps a mapped file: it goes with the temporary directory
            pass
    return spooled
