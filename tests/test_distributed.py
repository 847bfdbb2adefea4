"""xpnet.distributed: the communicator interface in one process, then real MPI jobs.

The MPI tests start ``mpiexec`` (the one installed next to the Python running
the tests, as the mpich wheel puts it) on the scripts in ``tests/mpi/`` and
check what each rank wrote against closed forms. They are skipped, with the
reason, when mpi4py or that ``mpiexec`` is missing. Every subprocess has a
timeout, and on a timeout its whole process group is killed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import to_np

import xpnet
from xpnet import distributed as d

MPI_SCRIPTS = Path(__file__).resolve().parent / "mpi"
SRC = Path(xpnet.__file__).resolve().parents[1]

# What a launcher (or a user's shell) may have set that would change what the jobs see.
_ENV_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "MV2_", "SLURM_", "HYDRA_", "MPIR_", "MPI_LOCAL")
_ENV_NAMES = (*d._THREAD_ENV, d.STAGING_ENV, "MPICH_GPU_SUPPORT_ENABLED")


def _clean_environ(monkeypatch) -> None:
    """Remove every launcher variable from this process's environment (restored afterwards)."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    for name in _ENV_NAMES:  # absent ones too, so that what the code sets is undone afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def _job_env() -> dict[str, str]:
    """The environment for a job: no launcher variables; this checkout's xpnet first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_ENV_PREFIXES) and k not in _ENV_NAMES
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return env


def _mpiexec() -> str:
    """The mpiexec next to sys.executable, or skip saying why there is none."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip(f"mpi4py is not installed; install the extra with {d.MPI_INSTALL_HINT}")
    exe = Path(sys.executable).parent / "mpiexec"
    if not exe.exists():
        pytest.skip(
            f"no mpiexec next to {Path(sys.executable).name} (the mpich wheel installs one); "
            f"install the extra with {d.MPI_INSTALL_HINT}"
        )
    return str(exe)


def _run(cmd: list[str], timeout: float) -> tuple[int, str, str, float]:
    """Run ``cmd`` in its own session; (status, stdout, stderr, seconds). Kill it all on timeout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=_job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        pytest.fail(
            f"{' '.join(cmd[-4:])} did not end within {timeout} s\n"
            f"stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
        )
    return proc.returncode, out, err, time.perf_counter() - t0


# ----------------------------------------------------------------------------- one process


def test_single_process_interface():
    comm = d.get_communicator(None)
    assert isinstance(comm, d.SingleProcess) and isinstance(comm, d.Communicator)
    assert (comm.rank, comm.size, comm.local_rank, comm.local_size) == (0, 1, 0, 1)
    assert comm.is_root and comm.staging == "device"
    x = np.arange(6.0).reshape(2, 3)
    out = comm.allreduce_sum([x])
    assert isinstance(out, list) and out[0] is x
    assert comm.allreduce_scalars([1, 2.5], op="max") == [1.0, 2.5]
    assert comm.allgather("a") == ["a"]
    obj = {"epoch": 2}
    assert comm.broadcast(obj) is obj
    comm.barrier()
    comm.check_identical([x, np.ones(2, dtype=np.float32)])
    assert "rank 0 of 1" in comm.describe()
    with pytest.raises(ValueError, match="root"):
        comm.broadcast(obj, root=1)
    with pytest.raises(ValueError, match="op"):
        comm.allreduce_scalars([1.0], op="mean")
    with pytest.raises(TypeError, match=r"values\[1\]"):
        comm.allreduce_scalars([1.0, "x"])
    with pytest.raises(TypeError, match="arrays"):
        comm.allreduce_sum(x)
    with pytest.raises(TypeError, match=r"arrays\[1\]"):
        comm.allreduce_sum([x, 3.0])


def test_allreduce_host_packing(backend):
    """The host path preserves shapes, dtypes and the backend; the reduction sees one buffer."""
    xp = backend.xp
    ins = [
        backend.asarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        backend.asarray(np.asarray(2.5, dtype=np.float32)),
        backend.asarray(np.arange(5, dtype=np.float64)),
        backend.asarray(np.zeros((0, 2), dtype=np.float32)),
        backend.asarray(np.array([1, -2, 3], dtype=np.int64)),
    ]
    buffers = []

    def triple(buf):
        buffers.append((buf.dtype, buf.size, buf.flags.c_contiguous))
        buf *= 3

    out = d._allreduce_host(ins, [backend] * len(ins), triple)
    # one buffer per dtype, in the order the dtypes first appear
    assert buffers == [(np.float32, 12 + 1 + 0, True), (np.float64, 5, True), (np.int64, 3, True)]
    for a, b in zip(ins, out, strict=True):
        assert type(b) is type(a) and b.dtype == a.dtype and tuple(b.shape) == tuple(a.shape)
        assert xpnet.get_backend(b).name == backend.name
        np.testing.assert_array_equal(to_np(b), 3 * to_np(a))
    assert xp is backend.xp


def test_allreduce_host_float16_and_bad_dtypes():
    b = xpnet.get_backend("numpy")
    x = np.full((2, 2), 1.5, dtype=np.float16)
    seen = []
    (out,) = d._allreduce_host([x], [b], lambda buf: (seen.append(buf.dtype), buf.__imul__(2)))
    assert seen == [np.float32] and out.dtype == np.float16
    np.testing.assert_array_equal(out, np.full((2, 2), 3.0))
    with pytest.raises(TypeError, match=r"arrays\[0\].*bool"):
        d._allreduce_host([np.ones(2, dtype=bool)], [b], lambda buf: None)


def test_checksums_catch_any_change():
    rng = np.random.default_rng(1)
    params = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(5)]
    same = [p.copy() for p in params]
    d._compare_checksums([d._checksums(params), d._checksums(same)], "parameters")

    ulp = [p.copy() for p in params]
    ulp[1][3] = np.nextafter(ulp[1][3], np.inf)
    swapped = [p.copy() for p in params]
    swapped[0][0, [0, 1]] = swapped[0][0, [1, 0]]  # same plain sum, different positions
    reshaped = [params[0].reshape(3, 4), params[1]]
    for other, index in ((ulp, 1), (swapped, 0), (reshaped, 0)):
        gathered = [d._checksums(params), d._checksums(same), d._checksums(other)]
        with pytest.raises(
            d.DesyncError, match=rf"rank 2 differs from rank 0 in weights\[{index}\]"
        ):
            d._compare_checksums(gathered, "weights")
    with pytest.raises(d.DesyncError, match="rank 1 holds 1 arrays, rank 0 holds 2"):
        d._compare_checksums([d._checksums(params), d._checksums(params[:1])], "parameters")
    assert issubclass(d.DesyncError, RuntimeError)


def test_get_communicator_specs(monkeypatch):
    one = d.SingleProcess()
    assert d.get_communicator(one) is one
    with pytest.raises(ValueError, match="distributed: unknown transport 'nccl'"):
        d.get_communicator("nccl")
    with pytest.raises(TypeError, match="distributed: expected None, 'mpi' or a Communicator"):
        d.get_communicator(2)
    # mpi4py missing: a BackendUnavailableError with the install hint (the world
    # communicator is kept once made, by `xpnet info` in this process for one: forget it)
    d._mpi_world.cache_clear()
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    try:
        with pytest.raises(xpnet.BackendUnavailableError, match=r'pip install -e "\.\[mpi\]"'):
            d.get_communicator(" MPI ")
    finally:
        d._mpi_world.cache_clear()


def test_import_xpnet_does_not_import_mpi4py():
    code = (
        "import sys, xpnet, xpnet.distributed as d\n"
        "d.get_communicator(None); d.launcher_world_size()\n"
        "assert 'mpi4py' not in sys.modules, 'mpi4py imported'\n"
        "print(xpnet.__file__)"
    )
    rc, out, err, _ = _run([sys.executable, "-c", code], timeout=60)
    assert rc == 0, err
    assert Path(out.strip()).resolve() == (SRC / "xpnet" / "__init__.py")


@pytest.mark.parametrize(
    "env, size, rank",
    [
        ({}, 1, 0),
        ({"PMI_SIZE": "4", "PMI_RANK": "3"}, 4, 3),
        ({"OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_RANK": "1"}, 3, 1),
        ({"MV2_COMM_WORLD_SIZE": "2", "MV2_COMM_WORLD_RANK": "1"}, 2, 1),
        ({"PMIX_RANK": "2"}, 3, 2),
        # a Slurm batch script: the allocation has 4 tasks, this is one process
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_JOB_ID": "7"}, 1, 0),
        ({"SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "2"}, 4, 2),
        # mpiexec inside a one-task srun step: the MPI launcher is the truth
        (
            {"SLURM_STEP_NUM_TASKS": "1", "SLURM_PROCID": "0", "PMI_SIZE": "2", "PMI_RANK": "1"},
            2,
            1,
        ),
        ({"PMI_SIZE": "1", "PMI_RANK": "0"}, 1, 0),
        ({"PMI_SIZE": "garbage"}, 1, 0),
    ],
)
def test_launcher_world_size(monkeypatch, env, size, rank):
    _clean_environ(monkeypatch)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert d.launcher_world_size() == size
    assert d.launcher_rank() == rank
    if size > 1:
        with pytest.raises(ValueError, match="distributed='mpi'.*--distributed mpi") as info:
            d.refuse_unrequested_launch(None)
        assert f"rank {rank} of {size}" in str(info.value)
    else:
        d.refuse_unrequested_launch(None)
    d.refuse_unrequested_launch("mpi")


class _FakeRanks(d.SingleProcess):
    """A SingleProcess that claims two ranks and records aborts instead of exiting."""

    def __init__(self):
        super().__init__()
        self.size = 2
        self.aborted: list[int] = []

    def abort(self, code: int = 1) -> None:
        self.aborted.append(code)


def test_abort_on_error_calls_abort_only_when_needed(capsys):
    one = d.SingleProcess()
    with pytest.raises(KeyError), d.abort_on_error(one):
        raise KeyError("single process: propagated unchanged")
    fake = _FakeRanks()
    with pytest.raises(RuntimeError), d.abort_on_error(fake):
        raise RuntimeError("boom")
    assert fake.aborted == [1]
    assert "rank 0 of 2 failed with RuntimeError" in capsys.readouterr().err
    with pytest.raises(SystemExit), d.abort_on_error(fake):
        sys.exit(0)  # a clean exit is not a failure
    with pytest.raises(SystemExit), d.abort_on_error(fake):
        sys.exit(3)
    assert fake.aborted == [1, 3]
    with d.abort_on_error(fake) as c:
        assert c is fake
    assert fake.aborted == [1, 3]


def test_install_abort_on_error(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: calls.append(a[0]))
    before = sys.excepthook
    assert d.install_abort_on_error(d.SingleProcess()) is before and sys.excepthook is before
    fake = _FakeRanks()
    assert d.install_abort_on_error(fake) is before
    hook = sys.excepthook
    assert hook is not before
    d.install_abort_on_error(fake)
    assert sys.excepthook is hook  # installed once
    try:
        raise ValueError("uncaught")
    except ValueError as e:
        sys.excepthook(type(e), e, e.__traceback__)
    assert calls == [ValueError] and fake.aborted == [1]
    assert "uncaught ValueError" in capsys.readouterr().err


@pytest.mark.parametrize(
    "own, node, ranks, threads",
    [(2, 2, 2, 1), (8, 8, 2, 4), (4, 8, 2, 4), (2, 16, 2, 2), (8, 8, 3, 2), (1, 2, 3, 1)],
)
def test_threads_per_rank(own, node, ranks, threads):
    assert d._threads_per_rank(own, node, ranks) == threads


def test_limit_threads_keeps_the_users_choice(monkeypatch, capsys):
    _clean_environ(monkeypatch)
    monkeypatch.setattr(d, "_THREADS_SET", [None])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    try:
        assert d.limit_threads(d.SingleProcess(), verbose=True) == 1
    finally:
        for limiter in d._THREAD_LIMITERS:
            limiter.restore_original_limits()
        d._THREAD_LIMITERS.clear()
        if torch is not None:
            torch.set_num_threads(torch_threads)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS=1 set by the user is kept" in capsys.readouterr().out


def test_device_for_local_rank():
    assert d.device_for_local_rank("numpy", 3) == "numpy"
    assert d.device_for_local_rank("torch:cpu", 3, device_count=4) == "torch:cpu"
    assert d.device_for_local_rank("cupy", 5, device_count=4) == "cupy:1"
    assert d.device_for_local_rank("torch", 2, device_count=4) == "torch:cuda:2"
    assert d.device_for_local_rank("torch:cuda", 6, device_count=4) == "torch:cuda:2"
    assert d.device_for_local_rank("jax", 3, device_count=2) == "jax:cuda:1"
    assert d.device_for_local_rank("cupy:1", 0, device_count=4) == "cupy:1"  # pinned: kept
    assert d.device_for_local_rank("cupy", 1, device_count=0) == "cupy"  # get_backend says why
    with pytest.raises(ValueError, match="local_rank"):
        d.device_for_local_rank("cupy", -1)
    with pytest.raises(ValueError, match="device_count"):
        d.device_for_local_rank("cupy", 0, device_count=-2)
    with pytest.raises(TypeError, match="library"):
        d.device_for_local_rank(None, 0)


def test_cuda_aware_detection(monkeypatch):
    _clean_environ(monkeypatch)
    assert d._cuda_aware(types.SimpleNamespace(Query_cuda_support=lambda: 1))[0] is True
    assert d._cuda_aware(types.SimpleNamespace(Query_cuda_support=lambda: 0))[0] is False
    monkeypatch.setattr(d, "_mpix_query_cuda_support", lambda: None)
    assert d._cuda_aware(types.SimpleNamespace()) == (
        False,
        "no sign of CUDA support in the MPI library",
    )
    monkeypatch.setenv("MPICH_GPU_SUPPORT_ENABLED", "1")
    assert d._cuda_aware(types.SimpleNamespace()) == (True, "MPICH_GPU_SUPPORT_ENABLED=1")
    monkeypatch.setenv(d.STAGING_ENV, "host")
    assert d._cuda_aware(types.SimpleNamespace(Query_cuda_support=lambda: 1))[0] is False
    monkeypatch.setenv(d.STAGING_ENV, "gpu")
    with pytest.raises(ValueError, match=d.STAGING_ENV):
        d._cuda_aware(types.SimpleNamespace())


def test_measure_allreduce_single_process():
    t = d.measure_allreduce(d.SingleProcess(), sizes_bytes=(8, 4096, 1 << 16), repeats=5)
    assert t.sizes_bytes == (8, 4096, 65536) and t.ranks == 1
    assert all(s > 0 and math.isfinite(s) for s in t.seconds)
    assert t.alpha >= 0 and t.bandwidth > 0
    with pytest.raises(ValueError, match="sizes_bytes"):
        d.measure_allreduce(d.SingleProcess(), sizes_bytes=(8, 8))
    with pytest.raises(ValueError, match="repeats"):
        d.measure_allreduce(d.SingleProcess(), repeats=0)


# ----------------------------------------------------------------------------- MPI jobs

# (how it is started, ranks, exercise torch); the first two check the refusal's absence
WORLDS = {
    "alone": ("alone", 1, False),
    "n1": ("mpiexec", 1, False),
    "n2": ("mpiexec", 2, True),
    "n3": ("mpiexec", 3, True),
}


@pytest.fixture(scope="module", params=list(WORLDS), ids=str)
def world(request, tmp_path_factory):
    """One job of tests/mpi/collectives.py: (ranks, what each rank wrote, its arrays, stdout)."""
    how, k, with_torch = WORLDS[request.param]
    cmd = [sys.executable, str(MPI_SCRIPTS / "collectives.py")]
    if how == "mpiexec":
        cmd = [_mpiexec(), "-n", str(k), *cmd]
    elif importlib.util.find_spec("mpi4py") is None:
        pytest.skip(f"mpi4py is not installed; install the extra with {d.MPI_INSTALL_HINT}")
    out = tmp_path_factory.mktemp(f"mpi-{request.param}")
    cmd += [str(out)] + (["--torch"] if with_torch else [])
    rc, stdout, stderr, seconds = _run(cmd, timeout=90)
    assert rc == 0, f"exit status {rc}\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
    results = [json.loads((out / f"rank{r}.json").read_text()) for r in range(k)]
    arrays = []
    for r in range(k):
        with np.load(out / f"rank{r}.npz") as f:
            arrays.append({name: f[name] for name in f.files})
    return types.SimpleNamespace(
        k=k, how=how, torch=with_torch, results=results, arrays=arrays, stdout=stdout
    )


def _expected_sums(k: int) -> dict[str, np.ndarray]:
    """Closed forms of the sums over ranks r = 0..k-1 of collectives.rank_arrays(r)."""
    tri = k * (k + 1) // 2  # sum of (r + 1)
    low = k * (k - 1) // 2  # sum of r
    return {
        "f32": (tri * np.arange(12, dtype=np.float64).reshape(3, 4)).astype(np.float32),
        "f64": k * np.arange(5, dtype=np.float64) + 0.5 * tri,
        "i64": np.asarray(7 * low, dtype=np.int64),
        "f16": np.full((2, 2), tri, dtype=np.float16),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "f32b": np.full((2, 1, 3), -float(low), dtype=np.float32),
    }


def test_mpi_ranks_and_sizes(world):
    k = world.k
    assert [res["rank"] for res in world.results] == list(range(k))
    for res in world.results:
        assert res["size"] == k and res["local_size"] == k  # one node
        assert res["is_root"] == (res["rank"] == 0)
        assert res["staging"] == "host", res["staging_reason"]  # the mpich wheel is not CUDA-aware
    assert sorted(res["local_rank"] for res in world.results) == list(range(k))
    assert world.stdout.count(" done") == k


def test_mpi_refuses_unrequested_launch(world):
    for res in world.results:
        if world.k > 1:
            assert res["launcher_size"] == world.k and res["launcher_rank"] == res["rank"]
            assert f"rank {res['rank']} of {world.k}" in res["refused"]
            assert "distributed='mpi'" in res["refused"]
        else:
            assert res["launcher_size"] == 1 and res["refused"] == ""


def _check_sums(world, library: str) -> None:
    expected = _expected_sums(world.k)
    for r, arrays in enumerate(world.arrays):
        for name, want in expected.items():
            got = arrays[f"{library}_{name}"]
            assert got.dtype == want.dtype, (r, library, name, got.dtype)
            assert got.shape == want.shape, (r, library, name, got.shape)
            np.testing.assert_array_equal(got, want, err_msg=f"rank {r}: {library} {name}")


def test_mpi_allreduce_sum_numpy(world):
    for res in world.results:
        assert res["numpy_types"] == ["ndarray"] * 6
    _check_sums(world, "numpy")


@pytest.mark.parametrize("world", ["n2", "n3"], indirect=True)
def test_mpi_allreduce_sum_torch(world):
    status = world.results[0]["torch"]
    if status != "ok":
        pytest.skip(f"torch:cpu {status}")
    for res in world.results:
        assert res["torch_types"] == ["Tensor"] * 6 and set(res["torch_devices"]) == {"cpu"}
        assert res["torch_dtypes"] == [
            "torch.float32",
            "torch.float64",
            "torch.int64",
            "torch.float16",
            "torch.float32",
            "torch.float32",
        ]
    _check_sums(world, "torch")


def test_mpi_scalars_gather_broadcast(world):
    k = world.k
    low = k * (k - 1) // 2
    for res in world.results:
        assert res["scalars_sum"] == [low, k, 0.25 * low]
        assert res["scalars_max"] == [k - 1, 0] and res["scalars_min"] == [0, -(k - 1)]
        assert res["allgather"] == [10 * r for r in range(k)]
        assert res["broadcast"] == {"epoch": 3, "note": "from the root", "w": [0.0, 1.0, 2.0, 3.0]}
        assert res["broadcast_last"] == k - 1


def test_mpi_check_identical(world):
    for res in world.results:
        if world.k == 1:
            assert res["desync"] == ""  # nothing to compare with
        else:  # rank 1 moved one float64 by one ulp: every rank raises, naming it
            assert "ranks drifted apart" in res["desync"]
            assert (
                "rank 1 differs from rank 0 in parameters[1] (shape (4,), float64" in res["desync"]
            )
            assert "rank 2 differs" not in res["desync"]


def test_mpi_limit_threads_and_timing(world):
    for res in world.results:
        want = max(1, res["cpus"] // world.k)  # the ranks inherit one affinity mask here
        assert res["threads"] == want == res["threads_again"] and res["omp_env"] == str(want)
        assert set(res["threadpool_threads"]) == {want}
        t = res["timing"]
        assert t["ranks"] == world.k and t["sizes"] == [8, 65536, 1 << 20]
        assert all(s > 0 for s in t["seconds"]) and t["alpha"] >= 0
        if world.k > 1:  # with one rank an allreduce is the identity: no size dependence
            assert t["seconds"][2] > t["seconds"][0] and t["beta"] > 0
        assert res["device_numpy"] == "numpy"
        assert res["device_cupy4"] == f"cupy:{res['local_rank'] % 4}"
    assert world.stdout.count("BLAS/OpenMP thread(s) per rank") == 1  # local rank 0 only


@pytest.mark.parametrize("mode", ["context", "hook", "kill"])
def test_mpi_failing_rank_ends_the_job(mode, tmp_path):
    """Rank 1 fails while rank 0 waits in an allreduce: the job must end, non-zero, promptly."""
    cmd = [_mpiexec(), "-n", "2", sys.executable, str(MPI_SCRIPTS / "fail.py"), str(tmp_path), mode]
    rc, stdout, stderr, seconds = _run(cmd, timeout=30)
    failed_at = float((tmp_path / "failed_at").read_text())
    after = time.time() - failed_at
    print(f"{mode}: the job ended {after:.3f} s after rank 1 failed ({seconds:.2f} s in all)")
    assert rc != 0, f"exit status 0\nstdout:\n{stdout}\nstderr:\n{stderr[-3000:]}"
    assert "rank 0 finished" not in stdout  # rank 0 never got past the collective
    assert after < 30, f"the job ended {after:.1f} s after rank 1 failed"
    if mode == "kill":
        assert rc == 9 or rc == -signal.SIGKILL or "Killed" in stdout + stderr, (rc, stderr[-2000:])
    else:
        assert f"RuntimeError: deliberate failure on rank 1 ({mode})" in stderr
        assert "rank 1 of 2" in stderr and "ending the whole job" in stderr
        assert rc == 1, rc


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("ranks", [2, 3])
def test_training_on_k_ranks_equals_one_process(ranks, tmp_path):
    """Data-parallel SGD (Nesterov) and Adam, every penalty on, batches that split
    unevenly over the ranks and a smaller last batch: K ranks equal one process up to
    the order of floating-point sums (float64)."""
    exe = _mpiexec()
    script = Path(__file__).parent / "mpi" / "train_loop.py"
    done = subprocess.run(
        [exe, "-n", str(ranks), sys.executable, str(script), str(tmp_path)],
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sys.path.insert(0, str(script.parent))
    try:
        from problem import SOLVERS, run
    finally:
        sys.path.pop(0)
    for solver in SOLVERS:
        alone = run(solver)
        got = np.load(tmp_path / f"{solver}.npz")
        leaves = [leaf for pair in alone.params for leaf in pair]
        for i, leaf in enumerate(leaves):
            ref = np.asarray(leaf)
            err = np.linalg.norm(got[f"p{i}"] - ref) / np.linalg.norm(ref)
            assert err < 1e-10, f"{solver}: array {i} differs by {err:.2e}"
        np.testing.assert_allclose(got["loss"], alone.history["train_loss"], rtol=1e-10)
        np.testing.assert_array_equal(got["error"], alone.history["train_error"])


# ----------------------------------------------------------------------------- the estimators


def _job(ranks: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    script = Path(__file__).parent / "mpi" / "estimator_fit.py"
    return subprocess.run(
        [_mpiexec(), "-n", str(ranks), sys.executable, str(script), *args],
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _problem():
    sys.path.insert(0, str(Path(__file__).parent / "mpi"))
    try:
        import estimator_problem
    finally:
        sys.path.pop(0)
    return estimator_problem


def _max_rel(a, b) -> float:
    return max(
        float(np.linalg.norm(np.asarray(p) - np.asarray(q)) / np.linalg.norm(np.asarray(q)))
        for (W, c), (Wr, cr) in zip(a.params_, b.params_, strict=True)
        for p, q in ((W, Wr), (c, cr))
    )


@pytest.mark.parametrize("ranks", [2, 3])
def test_estimators_on_k_ranks_equal_one_process_and_only_rank_0_writes(ranks, tmp_path):
    done = _job(ranks, "fit", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    problem = _problem()
    X, y, Y = problem.data()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = problem.classifier().fit(X, y)
        reg = problem.regressor().fit(X, Y)
    got_clf = xpnet.MLPClassifier.load(tmp_path / "classifier.npz", backend="numpy")
    got_reg = xpnet.MLPRegressor.load(tmp_path / "regressor.npz", backend="numpy")
    assert _max_rel(got_clf, clf) < 1e-10  # early stopping's validation split included
    assert _max_rel(got_reg, reg) < 1e-10
    assert (tmp_path / "rank0.npz").exists()
    assert not any((tmp_path / f"rank{r}.npz").exists() for r in range(1, ranks))


def test_a_failing_rank_ends_the_job_and_the_run_resumes_on_another_rank_count(tmp_path):
    ckpt = tmp_path / "run.npz"
    started = time.monotonic()
    done = _job(3, "fail", str(ckpt), "1")
    elapsed = time.monotonic() - started
    assert done.returncode != 0 and "rank 1 fails in epoch 2" in done.stderr
    assert elapsed < 60
    state, _, _ = xpnet.io.load_checkpoint(ckpt)  # intact: epoch 1 or 2
    assert state.epoch in (1, 2)
    # a rank killed while rank 0 writes may leave rank 0's temporary file (.run.npz.*.tmp)
    # beside the intact checkpoint: the resume removes it
    (tmp_path / ".run.npz.0a1b2c3d.tmp").write_bytes(b"an interrupted write")
    done = _job(2, "resume", str(ckpt), str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(tmp_path.glob(".run.npz.*.tmp"))
    problem = _problem()
    X, y, _ = problem.data()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = problem.classifier().fit(X, y)
    resumed = xpnet.MLPClassifier.load(tmp_path / "resumed.npz", backend="numpy")
    assert _max_rel(resumed, alone) < 1e-10
    # other data of the same shape: rank 0 compares the fingerprint, and the job ends
    started = time.monotonic()
    other = _job(2, "resume-other", str(ckpt))
    assert other.returncode != 0, other.stderr[-2000:]
    assert "checkpoint was written for other data" in other.stderr
    assert time.monotonic() - started < 60


def test_the_command_on_two_ranks_writes_the_model_of_one_process(tmp_path):
    exe = _mpiexec()
    xpnet_cmd = [
        sys.executable,
        "-m",
        "xpnet",
        "train",
        "--data",
        "digits",
        "--solver",
        "sgd",
        "--batch-size",
        "64",
        "--dtype",
        "float64",
        "--seed",
        "0",
        "--epochs",
        "3",
        "--quiet",
    ]
    two = subprocess.run(
        [exe, "-n", "2", *xpnet_cmd, "--distributed", "mpi", "--out", str(tmp_path / "D2")],
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    one = subprocess.run(
        [*xpnet_cmd, "--out", str(tmp_path / "D1")],
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    a = xpnet.MLPClassifier.load(tmp_path / "D2" / "model.npz", backend="numpy")
    b = xpnet.MLPClassifier.load(tmp_path / "D1" / "model.npz", backend="numpy")
    assert _max_rel(a, b) < 1e-10
    refused = subprocess.run(
        [exe, "-n", "2", *xpnet_cmd, "--out", str(tmp_path / "D3")],
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "--distributed mpi" in refused.stderr
    assert not (tmp_path / "D3" / "model.npz").exists()
    # an error on rank 0 alone (only it checks the checkpoint path) ends the whole job
    (tmp_path / "a-file").write_text("")
    started = time.monotonic()
    alone = subprocess.run(
        [exe, "-n", "2", *xpnet_cmd, "--distributed", "mpi", "--out", str(tmp_path / "D4")]
        + ["--checkpoint", str(tmp_path / "a-file" / "run.npz")],
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode != 0 and "error: --checkpoint" in alone.stderr
    assert time.monotonic() - started < 60  # not left waiting in a collective
