"""The communicator for data-parallel training: allreduce, broadcast, rank, size.

Data-parallel training runs K copies of the same model, one per process
("rank"). Every rank holds identical parameters, computes the gradient of its
share of the global minibatch, and between the gradient half and the update
half of each step the gradients are summed across ranks
(``Communicator.allreduce_sum``); every rank then applies the same update, so
the parameters stay identical without ever being sent.

The interface (``Communicator``) is small so that another transport (NCCL)
can be added without touching the training loop. Two implementations live
here:

* ``SingleProcess``: one rank, no MPI; every collective is the identity.
* ``MPICommunicator``: MPI through mpi4py, imported only when one is made
  (``import xpnet`` never imports mpi4py).

``get_communicator(spec)`` turns the estimator's ``distributed=`` argument
(None, ``"mpi"`` or a ``Communicator``) into one.

The process-level helpers keep a job from going wrong quietly:

* ``refuse_unrequested_launch`` stops a run that a launcher (``mpiexec``,
  ``srun``) started as several processes when distributed training was not
  asked for: each would train alone and write the same files.
* ``abort_on_error`` / ``install_abort_on_error`` turn an exception on one
  rank into the end of the whole job (``MPI_Abort``) instead of leaving the
  other ranks waiting forever in a collective.
* ``limit_threads`` keeps ranks-per-node x BLAS/OpenMP threads within the cores.
* ``device_for_local_rank`` gives each rank on a node its own GPU.
* ``measure_allreduce`` estimates the allreduce latency and bandwidth.

Arrays cross MPI through host memory (``staging == "host"``) unless the MPI
library is CUDA-aware, in which case CuPy and PyTorch CUDA arrays are handed
to MPI where they are (``staging == "device"``). The device path is written
but not verified by this project's tests, which run on CPU-only machines.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend, BackendUnavailableError, get_backend, to_numpy

__all__ = [
    "AllreduceTiming",
    "Communicator",
    "DesyncError",
    "MPICommunicator",
    "SingleProcess",
    "abort_on_error",
    "device_for_local_rank",
    "get_communicator",
    "install_abort_on_error",
    "launcher_rank",
    "launcher_world_size",
    "limit_threads",
    "measure_allreduce",
    "refuse_unrequested_launch",
]

MPI_INSTALL_HINT = 'pip install mpi4py mpich threadpoolctl (from a clone: pip install -e ".[mpi]")'

#: Set to ``"host"`` or ``"device"`` to override the CUDA-aware detection.
STAGING_ENV = "XPNET_MPI_STAGING"

# The variables a launcher sets in each process it starts: (size variable, rank variable).
# The MPI launchers come first: under `srun -n 1 mpiexec -n 4 ...` they are the truth.
_LAUNCHER_VARS = (
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),  # Open MPI (mpirun / prterun)
    ("PMI_SIZE", "PMI_RANK"),  # MPICH Hydra, Intel MPI, srun --mpi=pmi2
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),  # MVAPICH2
    # Slurm: only inside a job step (srun). A batch script is one process even though
    # SLURM_NTASKS (the allocation's task count) is set there, so that one is not read.
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
)

# Thread-count variables set for libraries that are not loaded yet.
_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

# numpy dtypes MPI reduces; float16 is summed in float32 and cast back.
_REDUCE_DTYPE = {"e": np.dtype(np.float32)}
_REDUCIBLE_KINDS = "iufc"


class DesyncError(RuntimeError):
    """The ranks of a data-parallel job no longer hold identical parameters."""


# ----------------------------------------------------------------------------- the interface


class Communicator(ABC):
    """What the data-parallel training loop needs from a transport.

    Attributes:
        rank: this process's index, 0 .. size - 1.
        size: number of ranks in the job.
        local_rank: this process's index among the ranks on the same node.
        local_size: number of ranks on this node.
        staging: how ``allreduce_sum`` moves GPU arrays: ``"host"`` (copied to
            host memory, reduced there, copied back) or ``"device"`` (handed
            to the transport where they are; for ``SingleProcess`` nothing
            moves at all).
        staging_reason: why ``staging`` was chosen, for logging.
        name: ``"single"``, ``"mpi"``, ...

    Every method is a collective unless it says otherwise: all ranks call it,
    in the same order, with arrays of the same shapes and dtypes, or the job
    hangs or fails.
    """

    rank: int
    size: int
    local_rank: int
    local_size: int
    staging: str
    staging_reason: str
    name: str

    @property
    def is_root(self) -> bool:
        """True on rank 0, the rank that reads checkpoints, prints and writes files."""
        return self.rank == 0

    @abstractmethod
    def allreduce_sum(self, arrays: Sequence[Any], backend: Backend | None = None) -> list:
        """Elementwise sums across ranks of a list of arrays, in one reduction.

        The arrays are packed into one contiguous buffer per dtype (one in
        practice: all float32 or all float64), reduced with one allreduce and
        split back.

        Args:
            arrays: the arrays of this rank (e.g. the leaves of the gradient,
                ``xpnet.tree.flatten(grads)[0]``), of any shapes, all of one
                backend: NumPy, CuPy, PyTorch, JAX, array-api-strict. Every
                rank passes the same number of arrays with the same shapes
                and dtypes in the same order.
            backend: the ``Backend`` the arrays live on; None resolves it from
                each array.

        Returns:
            A new list: for each input array, the sum over ranks of it, with
            its shape, dtype and device. With one rank the inputs themselves.

        Raises:
            TypeError: ``arrays`` is not a sequence of arrays, or an array's
                dtype cannot be summed (bool, object).
        """

    @abstractmethod
    def allreduce_scalars(self, values: Sequence[float], op: str = "sum") -> list[float]:
        """Reduce host numbers across ranks, in float64 (per-epoch metrics, flags).

        Args:
            values: numbers of this rank, the same count on every rank.
            op: ``"sum"``, ``"max"`` or ``"min"``.

        Returns:
            One float per value, the same on every rank.
        """

    @abstractmethod
    def allgather(self, obj: Any) -> list:
        """Every rank's ``obj`` (picklable), as a list indexed by rank, on every rank."""

    @abstractmethod
    def broadcast(self, obj: Any, root: int = 0) -> Any:
        """``obj`` of rank ``root`` (pickled), returned on every rank.

        Meant for small Python objects such as a checkpoint's contents read by
        rank 0. The pickle comes from a rank of this same job, so unpickling
        it is as trusted as the job itself; never broadcast data read from an
        untrusted source without validating it on the root first.
        """

    @abstractmethod
    def barrier(self) -> None:
        """Wait until every rank has called ``barrier``."""

    @abstractmethod
    def abort(self, code: int = 1) -> None:
        """End the whole job now, every rank, with exit status ``code`` (not a collective)."""

    def check_identical(self, arrays: Sequence[Any], what: str = "parameters") -> None:
        """Check that every rank holds bitwise identical ``arrays``; cheap, once per epoch.

        Each rank computes, per array, the sum and a position-weighted sum of
        its bit patterns as 64-bit integers (exact, so independent of the CPU
        and of summation order) plus a float64 sum for the message; the
        checksums (a few numbers per array) are gathered and compared. The
        arrays are read on the host: one device-to-host copy of them per call.

        Args:
            arrays: this rank's arrays (e.g. ``xpnet.tree.flatten(params)[0]``).
            what: what the arrays are, for the message.

        Raises:
            DesyncError: some rank's arrays differ from rank 0's; the message
                names the ranks and the arrays.
        """
        sums = _checksums(arrays)
        if self.size > 1:
            _compare_checksums(self.allgather(sums), what)

    def describe(self) -> str:
        """One line: the transport, this rank, the size and the staging (not a collective)."""
        return (
            f"{self.name}: rank {self.rank} of {self.size} "
            f"(local rank {self.local_rank} of {self.local_size}); "
            f"staging {self.staging} ({self.staging_reason})"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} rank={self.rank} size={self.size}>"


# ----------------------------------------------------------------------------- one process


class SingleProcess(Communicator):
    """One rank and no MPI: every collective returns its input."""

    def __init__(self) -> None:
        self.rank = 0
        self.size = 1
        self.local_rank = 0
        self.local_size = 1
        self.staging = "device"
        self.staging_reason = "one process: arrays never move"
        self.name = "single"

    def allreduce_sum(self, arrays: Sequence[Any], backend: Backend | None = None) -> list:
        return list(_check_arrays(arrays))

    def allreduce_scalars(self, values: Sequence[float], op: str = "sum") -> list[float]:
        _check_op(op)
        return [float(v) for v in _check_values(values)]

    def allgather(self, obj: Any) -> list:
        return [obj]

    def broadcast(self, obj: Any, root: int = 0) -> Any:
        _check_root(root, 1)
        return obj

    def barrier(self) -> None:
        return None

    def abort(self, code: int = 1) -> None:
        _flush_std()
        os._exit(int(code))


# ----------------------------------------------------------------------------- MPI


def _import_mpi() -> Any:
    """mpi4py's ``MPI`` module (initialising MPI), or a ``BackendUnavailableError``."""
    try:
        from mpi4py import MPI
    except Exception as e:  # not installed, or no MPI library for it to load
        raise BackendUnavailableError(
            f"distributed='mpi': mpi4py is not usable ({type(e).__name__}: {e}); "
            f"install it with {MPI_INSTALL_HINT}, or build mpi4py against your cluster's MPI"
        ) from e
    return MPI


class MPICommunicator(Communicator):
    """A communicator over an mpi4py communicator (default ``MPI.COMM_WORLD``).

    Creating one is a collective (it splits off the node-local communicator).
    Started without a launcher it is a world of one rank (MPI singleton).

    Args:
        comm: an ``mpi4py.MPI.Comm``; None for ``MPI.COMM_WORLD``.

    Raises:
        BackendUnavailableError: mpi4py (or the MPI library under it) is missing.
    """

    def __init__(self, comm: Any = None) -> None:
        MPI = _import_mpi()
        self._MPI = MPI
        self._comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = int(self._comm.Get_rank())
        self.size = int(self._comm.Get_size())
        self._local = self._comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = int(self._local.Get_rank())
        self.local_size = int(self._local.Get_size())
        device, self.staging_reason = _cuda_aware(MPI)
        self.staging = "device" if device else "host"
        self.name = "mpi"
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    @property
    def comm(self) -> Any:
        """The underlying ``mpi4py.MPI.Comm``."""
        return self._comm

    def library_version(self) -> str:
        """The MPI library's version line (not a collective)."""
        return " ".join(self._MPI.Get_library_version().strip().splitlines()[0].split())

    def allreduce_sum(self, arrays: Sequence[Any], backend: Backend | None = None) -> list:
        arrays = _check_arrays(arrays)
        if self.size == 1 or not arrays:
            return list(arrays)
        backends = [backend or get_backend(a) for a in arrays]
        if self.staging == "device" and _device_path_ok(arrays, backends):
            return self._allreduce_device(arrays, backends[0])
        return _allreduce_host(arrays, backends, self._sum_in_place)

    def _sum_in_place(self, buf: Any) -> None:
        self._comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)

    def _allreduce_device(self, arrays: list, backend: Backend) -> list:
        """CUDA-aware path: concatenate on the device, reduce in place there, split.

        Not verified by the test suite (no CUDA-aware MPI on its machines).
        """
        xp = backend.xp
        flat = xp.concat([xp.reshape(a, (-1,)) for a in arrays])
        backend.sync()  # MPI reads the buffer outside the library's stream
        self._sum_in_place(flat)
        out, start = [], 0
        for a in arrays:
            n = math.prod(a.shape)
            out.append(xp.reshape(flat[start : start + n], a.shape))
            start += n
        return out

    def allreduce_scalars(self, values: Sequence[float], op: str = "sum") -> list[float]:
        _check_op(op)
        buf = np.array(_check_values(values), dtype=np.float64)
        if self.size > 1 and buf.size:
            self._comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._ops[op])
        return [float(v) for v in buf]

    def allgather(self, obj: Any) -> list:
        return list(self._comm.allgather(obj))

    def broadcast(self, obj: Any, root: int = 0) -> Any:
        _check_root(root, self.size)
        return self._comm.bcast(obj, root=root)

    def barrier(self) -> None:
        self._comm.Barrier()

    def abort(self, code: int = 1) -> None:
        _flush_std()
        self._comm.Abort(int(code))

    def describe(self) -> str:
        return f"{super().describe()}; {self.library_version()}"


def _cuda_aware(MPI: Any) -> tuple[bool, str]:
    """Whether the MPI library takes CUDA device buffers, and how that was decided."""
    forced = os.environ.get(STAGING_ENV, "").strip().lower()
    if forced in ("host", "device"):
        return forced == "device", f"{STAGING_ENV}={forced}"
    if forced:
        raise ValueError(f"{STAGING_ENV}: expected 'host' or 'device', got {forced!r}")
    query = getattr(MPI, "Query_cuda_support", None)  # a future mpi4py
    if query is not None:
        try:
            ok = bool(query())
            return ok, f"MPI.Query_cuda_support() = {int(ok)}"
        except Exception:
            pass
    found = _mpix_query_cuda_support()
    if found is not None:
        return found, f"MPIX_Query_cuda_support() = {int(found)}"
    for var in ("MPICH_GPU_SUPPORT_ENABLED", "MV2_USE_CUDA"):  # Cray MPICH, MVAPICH2
        if os.environ.get(var, "").strip() == "1":
            return True, f"{var}=1"
    return False, "no sign of CUDA support in the MPI library"


def _mpix_query_cuda_support() -> bool | None:
    """``MPIX_Query_cuda_support()`` of the loaded MPI library (MPICH, Open MPI), or None."""
    import ctypes
    import ctypes.util

    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if "/" in line else ""
                if os.path.basename(path).startswith(("libmpi", "libmpich")) and path not in paths:
                    paths.append(path)
    except OSError:  # not Linux
        found = ctypes.util.find_library("mpi")
        paths = [found] if found else []
    for path in paths:
        try:
            fn = ctypes.CDLL(path).MPIX_Query_cuda_support
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = ctypes.c_int, []
        return bool(fn())
    return None


def _device_path_ok(arrays: list, backends: list[Backend]) -> bool:
    """True when every array is a CuPy / PyTorch CUDA array of one float dtype on one device."""
    first = backends[0]
    if not first.is_gpu or first.library not in ("cupy", "torch"):
        return False
    dtype = arrays[0].dtype
    return all(b.name == first.name for b in backends) and all(a.dtype == dtype for a in arrays)


# ----------------------------------------------------------------------------- host packing


def _check_arrays(arrays: Any) -> list:
    if isinstance(arrays, (str, bytes)) or not isinstance(arrays, Sequence):
        raise TypeError(
            f"arrays: expected a list of arrays (e.g. xpnet.tree.flatten(grads)[0]), "
            f"got {type(arrays).__name__}"
        )
    for i, a in enumerate(arrays):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise TypeError(f"arrays[{i}]: expected an array, got {type(a).__name__}")
    return list(arrays)


def _check_values(values: Any) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"values: expected a list of numbers, got {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise TypeError(f"values[{i}]: expected a real number, got {v!r}") from None
    return out


def _check_op(op: Any) -> None:
    if op not in ("sum", "max", "min"):
        raise ValueError(f"op: expected 'sum', 'max' or 'min', got {op!r}")


def _check_root(root: Any, size: int) -> None:
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < size:
        raise ValueError(f"root: expected a rank in 0..{size - 1}, got {root!r}")


def _allreduce_host(arrays: list, backends: list[Backend], sum_in_place: Any) -> list:
    """Pack the arrays into one host buffer per dtype, reduce each in place, unpack.

    Args:
        arrays: the arrays, any shapes.
        backends: ``backends[i]`` is where ``arrays[i]`` lives and its sum goes back to.
        sum_in_place: ``f(buffer)`` replacing a contiguous 1-d NumPy buffer by
            its sum over ranks.

    Returns:
        The reduced arrays, each with its input's shape, dtype and backend.
    """
    hosts = [to_numpy(a) for a in arrays]
    groups: dict[np.dtype, list[int]] = {}
    for i, h in enumerate(hosts):
        if h.dtype.kind not in _REDUCIBLE_KINDS:
            raise TypeError(
                f"arrays[{i}]: cannot sum arrays of dtype {h.dtype} across ranks; "
                "expected an integer, float or complex dtype"
            )
        groups.setdefault(_REDUCE_DTYPE.get(h.dtype.char, h.dtype), []).append(i)
    out: list = [None] * len(arrays)
    for dtype, members in groups.items():
        sizes = [hosts[i].size for i in members]
        buf = np.empty(sum(sizes), dtype=dtype)
        start = 0
        for i, n in zip(members, sizes, strict=True):
            buf[start : start + n] = hosts[i].reshape(-1)
            start += n
        sum_in_place(buf)
        start = 0
        for i, n in zip(members, sizes, strict=True):
            piece = buf[start : start + n].reshape(hosts[i].shape)
            start += n
            if piece.dtype != hosts[i].dtype:
                piece = piece.astype(hosts[i].dtype)
            out[i] = backends[i].asarray(piece)
    return out


# ----------------------------------------------------------------------------- identical params


def _checksums(arrays: Sequence[Any]) -> list[tuple[tuple[int, ...], str, int, int, float]]:
    """Per array: shape, dtype, two exact 64-bit checksums of its bits, float64 sum."""
    out = []
    for a in _check_arrays(arrays):
        host = np.ascontiguousarray(to_numpy(a)).reshape(-1)
        if host.dtype.itemsize not in (1, 2, 4, 8):
            words = host.view(np.uint8)
        else:
            words = host.view(f"u{host.dtype.itemsize}")
        w = words.astype(np.uint64)
        weights = np.arange(1, w.size + 1, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
            plain = int(np.sum(w, dtype=np.uint64))
            weighted = int(np.sum(w * weights, dtype=np.uint64))
        try:
            total = float(np.sum(host, dtype=np.float64))
        except TypeError:
            total = math.nan
        shape = tuple(int(s) for s in a.shape)
        out.append((shape, str(host.dtype), plain, weighted, total))
    return out


def _compare_checksums(gathered: list, what: str) -> None:
    """Raise ``DesyncError`` when some rank's checksums differ from rank 0's."""
    reference = gathered[0]
    bad: dict[int, list[int]] = {}
    for r, sums in enumerate(gathered[1:], start=1):
        if len(sums) != len(reference):
            bad[r] = [-1]
            continue
        diff = [i for i, (a, b) in enumerate(zip(sums, reference, strict=True)) if a[:4] != b[:4]]
        if diff:
            bad[r] = diff
    if not bad:
        return
    lines = []
    for r, idx in bad.items():
        if idx == [-1]:
            lines.append(f"rank {r} holds {len(gathered[r])} arrays, rank 0 holds {len(reference)}")
            continue
        parts = [
            f"{what}[{i}] (shape {reference[i][0]}, {reference[i][1]}; float64 sum "
            f"{gathered[r][i][4]:.17g} vs {reference[i][4]:.17g})"
            for i in idx[:5]
        ]
        more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
        lines.append(f"rank {r} differs from rank 0 in " + ", ".join(parts) + more)
    raise DesyncError(
        f"{what}: the ranks drifted apart and no longer hold bitwise identical {what} ("
        + "; ".join(lines)
        + "). Every rank must start from the same values (broadcast from rank 0) and "
        "apply the same update to the same allreduced gradients; a rank-dependent "
        "random draw or a nondeterministic update breaks this"
    )


# ----------------------------------------------------------------------------- choosing one


@functools.cache
def _mpi_world() -> MPICommunicator:
    return MPICommunicator()


def get_communicator(spec: Any = None) -> Communicator:
    """The communicator for the estimator's ``distributed=`` argument.

    Args:
        spec: None (one process, no MPI), ``"mpi"`` (``MPI.COMM_WORLD`` through
            mpi4py; started without ``mpiexec`` it is one rank), or a
            ``Communicator`` (returned as is).

    Returns:
        A ``Communicator``; ``"mpi"`` gives the same object on every call.

    Raises:
        ValueError: an unknown name.
        TypeError: ``spec`` is neither None, a name nor a ``Communicator``.
        BackendUnavailableError: ``"mpi"`` without a usable mpi4py; the
            message says how to install it.
    """
    if spec is None:
        return SingleProcess()
    if isinstance(spec, Communicator):
        return spec
    if isinstance(spec, str):
        name = spec.strip().lower()
        if name == "mpi":
            return _mpi_world()
        raise ValueError(f"distributed: unknown transport {spec!r}; expected None or 'mpi'")
    raise TypeError(
        f"distributed: expected None, 'mpi' or a Communicator, got {type(spec).__name__}"
    )


# ----------------------------------------------------------------------------- the launcher


def _launcher() -> tuple[int, int, str]:
    """(world size, rank, the variable that told) from the launcher's environment."""
    for size_var, rank_var in _LAUNCHER_VARS:
        size = _env_int(size_var)
        if size is not None and size >= 1:
            return size, _env_int(rank_var) or 0, size_var
    rank = _env_int("PMIX_RANK")  # PMIx names the rank but not the size
    if rank is not None:
        return rank + 1, rank, "PMIX_RANK"
    return 1, 0, ""


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    try:
        return int(text) if text else None
    except ValueError:
        return None


def launcher_world_size() -> int:
    """How many processes the launcher started, read from its environment (no MPI import).

    Reads Open MPI's ``OMPI_COMM_WORLD_SIZE``, MPICH Hydra's (and Intel MPI's)
    ``PMI_SIZE``, MVAPICH2's ``MV2_COMM_WORLD_SIZE``, and Slurm's
    ``SLURM_STEP_NUM_TASKS`` (set inside ``srun`` only: a batch script's
    ``SLURM_NTASKS`` describes the allocation, not this process). Under PMIx
    alone only the rank is known, and ``PMIX_RANK + 1`` is a lower bound.

    Returns:
        The number of processes, 1 when no launcher variable is set.
    """
    return _launcher()[0]


def launcher_rank() -> int:
    """This process's rank according to the launcher's environment (0 without one)."""
    return _launcher()[1]


def refuse_unrequested_launch(distributed: Any = None) -> None:
    """Stop a run started as several processes when distributed training was not asked for.

    Call it before any training when ``distributed`` is None: under
    ``mpiexec -n 4`` (or ``srun -n 4``) without ``distributed="mpi"`` every
    rank would train its own model on all the data and write the same files.

    Args:
        distributed: the estimator's ``distributed=`` argument; anything but
            None means distributed training was requested and nothing is checked.

    Raises:
        ValueError: a launcher started more than one process and
            ``distributed`` is None.
    """
    if distributed is not None:
        return
    size, rank, var = _launcher()
    if size > 1:
        raise ValueError(
            f"distributed: this process is rank {rank} of {size} started by a launcher "
            f"({var}={os.environ.get(var)}), but distributed training was not requested: "
            "each rank would train alone and write the same files; pass distributed='mpi' "
            "(command line: --distributed mpi), or start a single process"
        )


# ----------------------------------------------------------------------------- failing ranks


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _report_and_abort(comm: Communicator, exc: BaseException, code: int) -> None:
    import traceback

    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(
        f"xpnet.distributed: rank {comm.rank} of {comm.size} failed with "
        f"{type(exc).__name__}; ending the whole job (abort, exit status {code}) "
        "so that the other ranks do not wait for it forever",
        file=sys.stderr,
    )
    comm.abort(code)


def _abort_code(exc: BaseException) -> int | None:
    """The exit status to abort with, or None for an exception that is a clean exit."""
    if isinstance(exc, SystemExit):
        if exc.code is None or exc.code == 0:
            return None
        return exc.code if isinstance(exc.code, int) else 1
    return 1


@contextlib.contextmanager
def abort_on_error(comm: Communicator) -> Iterator[Communicator]:
    """Around a fit: an exception on any rank ends the whole job instead of hanging it.

    With more than one rank, an exception (or ``SystemExit`` with a non-zero
    status) raised inside the block prints its traceback and calls
    ``comm.abort(1)``: the launcher then ends every rank with a non-zero
    exit status. With one rank the exception propagates unchanged.

    Args:
        comm: the job's communicator.

    Yields:
        ``comm``.

    Example:
        >>> with abort_on_error(SingleProcess()) as comm:
        ...     comm.size
        1
    """
    try:
        yield comm
    except BaseException as exc:
        code = _abort_code(exc)
        if comm.size > 1 and code is not None:
            _report_and_abort(comm, exc, code)
        raise


class _AbortHook:
    """``sys.excepthook`` of :func:`install_abort_on_error`: the previous hook, then abort."""

    def __init__(self, comm: Communicator, previous: Any) -> None:
        self.comm = comm
        self.previous = previous

    def __call__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        comm, previous = self.comm, self.previous
        code = _abort_code(exc) if isinstance(exc, BaseException) else 1
        if code is None:
            return previous(exc_type, exc, tb)
        try:
            previous(exc_type, exc, tb)
            print(
                f"xpnet.distributed: rank {comm.rank} of {comm.size} ended with an uncaught "
                f"{exc_type.__name__}; ending the whole job (abort, exit status {code})",
                file=sys.stderr,
            )
        finally:
            comm.abort(code)


def install_abort_on_error(comm: Communicator) -> Any:
    """Make an uncaught exception on any rank end the whole job (``sys.excepthook``).

    With more than one rank, the hook prints the traceback as usual and then
    calls ``comm.abort(1)``, so the launcher ends every rank with a non-zero
    exit status instead of the others waiting in a collective. With one rank
    nothing changes. Installing twice wraps once. (``python -m mpi4py
    script.py`` does the same for a whole script.)

    Args:
        comm: the job's communicator.

    Returns:
        The hook that was in place before; ``sys.excepthook = previous`` undoes this.
    """
    previous = sys.excepthook
    if comm.size <= 1 or (isinstance(previous, _AbortHook) and previous.comm is comm):
        return previous
    hook = _AbortHook(comm, previous)
    sys.excepthook = hook
    return previous


# ----------------------------------------------------------------------------- threads


def _threads_per_rank(own: int, node_cpus: int, ranks_on_node: int) -> int:
    """BLAS/OpenMP threads for one rank: its share of the node's CPUs, within its own CPUs.

    Args:
        own: CPUs this rank may run on (its affinity mask).
        node_cpus: distinct CPUs the ranks on this node may run on together.
        ranks_on_node: ranks on this node.
    """
    return max(1, min(own, node_cpus // max(1, ranks_on_node)))


_THREAD_LIMITERS: list = []  # keeps threadpoolctl's limiter alive for the process
_THREADS_SET: list = [None]  # the OMP_NUM_THREADS value limit_threads itself set, if any


def limit_threads(comm: Communicator, verbose: bool = False) -> int:
    """Limit this rank's BLAS/OpenMP threads so that the ranks on a node fit its cores.

    A collective (it gathers each rank's CPU affinity). The CPUs the ranks of
    a node may use together are divided among them; a rank bound to fewer
    CPUs gets no more threads than it has CPUs. An ``OMP_NUM_THREADS`` set by
    the user is respected. The limit is applied to the libraries already
    loaded (threadpoolctl when importable, and PyTorch's intra-op pool when
    PyTorch is imported) and put in the thread-count environment variables
    for those loaded later.

    Args:
        comm: the job's communicator.
        verbose: print what was chosen (on each node's local rank 0).

    Returns:
        The number of threads per rank now in effect.
    """
    own = _cpus()
    host = socket.gethostname()
    everyone = comm.allgather((host, sorted(own)))
    node = [cpus for h, cpus in everyone if h == host]
    node_cpus = len(set().union(*map(set, node)))
    threads = _threads_per_rank(len(own), node_cpus, len(node))
    user = _env_int("OMP_NUM_THREADS")
    how = f"{len(node)} rank(s) on {host} sharing {node_cpus} CPU(s)"
    if user is not None and user >= 1 and os.environ.get("OMP_NUM_THREADS") != _THREADS_SET[0]:
        threads = user
        how += f"; OMP_NUM_THREADS={user} set by the user is kept"
    for var in _THREAD_ENV:
        os.environ[var] = str(threads)
    _THREADS_SET[0] = str(threads)
    applied = ["environment"]
    try:
        from threadpoolctl import threadpool_limits

        _THREAD_LIMITERS[:] = [threadpool_limits(limits=threads)]
        applied.append("threadpoolctl")
    except ImportError:
        how += "; threadpoolctl is not installed, so BLAS libraries already loaded keep their count"
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            torch.set_num_threads(threads)
            applied.append("torch.set_num_threads")
    if verbose and comm.local_rank == 0:
        print(f"xpnet: {threads} BLAS/OpenMP thread(s) per rank ({how}; via {', '.join(applied)})")
    return threads


def _cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


# ----------------------------------------------------------------------------- devices


def _visible_gpus(library: str) -> int:
    """CUDA devices the library sees (0 when it or CUDA is missing)."""
    try:
        if library == "cupy":
            import cupy

            return int(cupy.cuda.runtime.getDeviceCount())
        if library == "torch":
            import torch

            return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
        if library == "jax":
            import jax

            return len(jax.devices("gpu"))
    except Exception:
        return 0
    return 0


def device_for_local_rank(library: str, local_rank: int, device_count: int | None = None) -> str:
    """The backend spec that gives each rank on a node its own GPU.

    Args:
        library: a backend spec without a device index: ``"cupy"``, ``"torch"``
            / ``"torch:cuda"``, ``"jax"`` / ``"jax:gpu"`` / ``"jax:cuda"``,
            ``"auto"`` (resolved first); CPU specs (``"numpy"``,
            ``"torch:cpu"``, ``"array_api_strict"``, ...) and specs that
            already name a device index are returned unchanged.
        local_rank: the rank's index on its node (``comm.local_rank``).
        device_count: visible CUDA devices; None asks the library.

    Returns:
        ``"cupy:N"``, ``"torch:cuda:N"`` or ``"jax:cuda:N"`` with
        ``N = local_rank % device_count``; the spec unchanged when it is a CPU
        one or no device is visible (``get_backend`` then says why).

    Raises:
        ValueError: a negative ``local_rank`` or ``device_count``.
        TypeError: ``library`` is not a string.
    """
    if not isinstance(library, str):
        raise TypeError(f"library: expected a backend spec string, got {type(library).__name__}")
    if (
        isinstance(local_rank, bool)
        or not isinstance(local_rank, (int, np.integer))
        or local_rank < 0
    ):
        raise ValueError(f"local_rank: expected an int >= 0, got {local_rank!r}")
    if device_count is not None and (
        isinstance(device_count, bool)
        or not isinstance(device_count, (int, np.integer))
        or device_count < 0
    ):
        raise ValueError(f"device_count: expected an int >= 0 or None, got {device_count!r}")
    spec = library.strip().lower()
    if spec == "auto":
        b = get_backend("auto")
        if not b.is_gpu:
            return library
        spec = "cupy" if b.library == "cupy" else "torch:cuda"
    kinds = {
        "cupy": ("cupy", "cupy:{}"),
        "cp": ("cupy", "cupy:{}"),
        "torch": ("torch", "torch:cuda:{}"),
        "torch:cuda": ("torch", "torch:cuda:{}"),
        "jax": ("jax", "jax:cuda:{}"),
        "jax:gpu": ("jax", "jax:cuda:{}"),
        "jax:cuda": ("jax", "jax:cuda:{}"),
    }
    if spec not in kinds:
        return library
    lib, pattern = kinds[spec]
    count = _visible_gpus(lib) if device_count is None else int(device_count)
    if count == 0:
        return library
    return pattern.format(int(local_rank) % count)


# ----------------------------------------------------------------------------- benchmark


@dataclass(frozen=True)
class AllreduceTiming:
    """Allreduce times and the fit ``t = alpha + beta * bytes``.

    Attributes:
        sizes_bytes: message sizes, shape (k,).
        seconds: mean time of one ``allreduce_sum`` per size (slowest rank), shape (k,).
        alpha: latency in seconds (the fit's intercept, at least 0).
        beta: seconds per byte (the fit's slope).
        ranks: ranks that took part.
    """

    sizes_bytes: tuple[int, ...]
    seconds: tuple[float, ...]
    alpha: float
    beta: float
    ranks: int

    @property
    def bandwidth(self) -> float:
        """Bytes per second, ``1 / beta`` (inf when beta is 0)."""
        return 1.0 / self.beta if self.beta > 0 else math.inf


def measure_allreduce(
    comm: Communicator,
    sizes_bytes: Sequence[int] = (8, 1024, 65536, 1 << 20, 1 << 22),
    backend: Any = None,
    repeats: int = 50,
) -> AllreduceTiming:
    """Time ``comm.allreduce_sum`` of float32 buffers of a few sizes; fit latency and bandwidth.

    A collective. Each size is timed over ``repeats`` calls (fewer for the
    large ones, at least 5) after a warm-up call, between barriers; the
    slowest rank's mean counts. The fit weighs every size by its relative
    error, so the small sizes fix ``alpha`` and the large ones ``beta``.

    Args:
        comm: the communicator.
        sizes_bytes: message sizes in bytes (rounded up to whole float32s), at
            least two distinct ones.
        backend: where the buffers live (a spec or ``Backend``); None: NumPy.
            A GPU backend includes the staging through the host, if any.
        repeats: calls per size for the small sizes.

    Returns:
        An ``AllreduceTiming``.

    Raises:
        ValueError: fewer than two distinct sizes, a size < 1, or ``repeats`` < 1.
    """
    sizes = sorted({int(s) for s in sizes_bytes})
    if len(sizes) < 2 or sizes[0] < 1:
        raise ValueError(
            f"sizes_bytes: expected at least two distinct sizes >= 1, got {sizes_bytes!r}"
        )
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: expected an int >= 1, got {repeats!r}")
    b = get_backend("numpy" if backend is None else backend)
    seconds = []
    for nbytes in sizes:
        n = max(1, math.ceil(nbytes / 4))
        buf = [b.asarray(np.ones(n, dtype=np.float32))]
        reps = max(5, min(repeats, int(repeats * (1 << 20) / max(nbytes, 1))))
        comm.allreduce_sum(buf, b)  # warm-up: connections, registration
        b.sync()
        comm.barrier()
        t0 = time.perf_counter()
        for _ in range(reps):
            comm.allreduce_sum(buf, b)
        b.sync()
        mean = (time.perf_counter() - t0) / reps
        seconds.append(comm.allreduce_scalars([mean], op="max")[0])
    x = np.array(sizes, dtype=np.float64)
    t = np.array(seconds, dtype=np.float64)
    beta, alpha = np.polyfit(x, t, 1, w=1.0 / np.maximum(t, 1e-12))
    return AllreduceTiming(
        tuple(sizes),
        tuple(float(s) for s in seconds),
        max(0.0, float(alpha)),
        float(beta),
        comm.size,
    )
