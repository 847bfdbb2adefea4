"""The benchmark and the performance contract it measures.

Nothing here asserts on time: the machines that run the tests are shared and
their timings mean nothing. The benchmark itself is checked for what it
prints (rows, columns, targets) and for training every contender on the same
problem (the same loss), on the ``tiny`` workload. The contract that makes
xpnet fast is checked by construction: ``import xpnet`` loads no heavy
library, TF32 is set where CuPy reads it, and the training loop never waits
for the GPU between epochs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import xpnet
from xpnet import bench

HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def table_rows(text: str) -> dict[str, list[str]]:
    """The results table of ``bench.main``'s output: contender -> its cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["contender", "s/epoch"])
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip() or not line.startswith("  ") or line.startswith("  *"):
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def tiny_report() -> str:
    """One run of the benchmark on the tiny workload, the peers that are installed included."""
    peers = ["hand"] + (["sklearn"] if HAVE_SKLEARN else []) + (["torch:cpu"] if HAVE_TORCH else [])
    cmd = [
        sys.executable,
        "-m",
        "xpnet.bench",
        "--workload",
        "tiny",
        "--repeats",
        "2",
        "--backends",
        "numpy",
        "--peers",
        ",".join(peers),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_tiny_benchmark_prints_one_row_per_contender_with_every_column(tiny_report):
    header = next(
        line for line in tiny_report.splitlines() if "contender" in line and "s/epoch" in line
    )
    columns = ("s/epoch", "spread", "fastest", "samples/s", "us/step", "fit s", "loss", "peak MB")
    for column in (*columns, "x xpnet-numpy"):
        assert column in header, column
    rows = table_rows(tiny_report)
    expected = ["xpnet-numpy", "numpy-hand"]
    expected += ["sklearn"] if HAVE_SKLEARN else []
    expected += ["torch-eager:cpu"] if HAVE_TORCH else []
    assert list(rows) == expected
    for name, cells in rows.items():
        per_epoch, spread, fastest, samples, _, _, loss, peak, ratio = cells
        assert spread.endswith("%") and 0 < float(fastest) <= float(per_epoch), name
        assert float(per_epoch) > 0 and float(samples.replace(",", "")) > 0, name
        assert np.isfinite(float(loss)), name
        assert peak == "-" or float(peak) >= 0, name
        float(ratio)
    assert rows["xpnet-numpy"][-1] == "1.00"


def test_tiny_benchmark_trains_the_same_network_on_the_same_batches_everywhere(tiny_report):
    # same data, initial weights, batches and learning rate: the same last-epoch loss,
    # up to float32 rounding in the different orders of summation
    losses = {name: float(cells[6]) for name, cells in table_rows(tiny_report).items()}
    reference = losses["xpnet-numpy"]
    for name, loss in losses.items():
        assert loss == pytest.approx(reference, rel=1e-3), name


def test_tiny_benchmark_reports_the_gemm_floor_and_the_targets(tiny_report):
    assert "GEMM floor:" in tiny_report
    assert "achieved fraction of that matmul rate" in tiny_report
    targets = tiny_report.split("targets:", 1)[1]
    assert "memory: xpnet-numpy peak RSS rise" in targets
    assert "start-up: 'import xpnet' / 'import numpy'" in targets
    assert "heavy modules" in targets


def test_bad_options_exit_with_status_2_before_starting_anything(capsys):
    assert bench.main(["--workload", "tiny", "--repeats", "0"]) == 2
    assert bench.main(["--workload", "tiny", "--peers", "tensorflow"]) == 2
    err = capsys.readouterr().err
    assert "--repeats must be >= 1" in err and "unknown peer 'tensorflow'" in err


def test_default_contenders_follow_the_workload():
    skipped: list[str] = []
    cpu = bench.contender_names(bench.WORKLOADS["mnist"], None, None, False, skipped)
    assert cpu[:4] == ["xpnet-numpy", "xpnet-torch:cpu", "xpnet-cupy", "xpnet-torch:cuda"]
    assert "numpy-hand" in cpu and "xpnet-array_api_strict" not in cpu
    large = bench.contender_names(bench.WORKLOADS["large"], None, None, False, skipped)
    assert "xpnet-torch:cpu" not in large and "numpy-hand" not in large
    assert "xpnet-numpy" in large  # timed on a minibatch and extrapolated
    everything = bench.contender_names(bench.WORKLOADS["tiny"], "all", "none", True, skipped)
    assert "xpnet-array_api_strict" in everything and "xpnet-numpy-loop" in everything


def test_gemm_flops_count_two_forward_and_three_backward_matmuls():
    # one hidden layer: X W1^T and h W2^T forward; dW2, dh and dW1 backward (no dX)
    wl = bench.Workload("t", n=7, d=5, hidden=(3,), classes=2, batch=2, epochs=1)
    n, d, h, m = 7, 5, 3, 2
    forward = 2 * n * d * h + 2 * n * h * m
    backward = 2 * n * h * m + 2 * n * m * h + 2 * n * d * h
    assert wl.matmul_flops_per_epoch == forward + backward == 2 * n * (2 * d * h + 3 * h * m)


def test_import_xpnet_loads_no_heavy_optional_library():
    code = (
        "import sys, xpnet; "
        "print(','.join(m for m in ('torch', 'cupy', 'sklearn', 'matplotlib') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "XPNET_BACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "", f"import xpnet imported {done.stdout.strip()}"


# ----------------------------------------------------------------------------- TF32


class _FakeDevice:
    def __init__(self, index: int, capability: str):
        self.id = index
        self.compute_capability = capability

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _fake_cupy(monkeypatch, capability: str) -> list:
    """A stand-in for CuPy's modules that records the compute types set for float32."""
    calls: list = []
    linalg = types.ModuleType("cupy._core._routines_linalg")
    linalg.COMPUTE_TYPE_DEFAULT, linalg.COMPUTE_TYPE_TF32 = 1, 7
    linalg.set_compute_type = lambda dtype, kind: calls.append((dtype, kind))
    core = types.ModuleType("cupy._core")
    core._routines_linalg = linalg
    cupy = types.ModuleType("cupy")
    cupy._core = core
    cupy.float32 = "float32"
    cupy.cuda = types.SimpleNamespace(Device=lambda index: _FakeDevice(index, capability))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy._core", core)
    monkeypatch.setitem(sys.modules, "cupy._core._routines_linalg", linalg)
    monkeypatch.delenv("CUPY_TF32", raising=False)
    return calls


@pytest.mark.parametrize("capability, allowed", [("90", 7), ("75", 1)], ids=["ampere+", "older"])
def test_set_tf32_on_cupy_sets_the_compute_type_cupy_has_already_chosen(
    monkeypatch, capability, allowed
):
    # CuPy reads CUPY_TF32 once, at its first float32 matmul, which the backend probe has
    # already run: the variable alone would change nothing
    calls = _fake_cupy(monkeypatch, capability)
    b = xpnet.Backend("cupy:0", None, _FakeDevice(0, capability), "cupy")
    b.set_tf32(True)
    assert calls[-1] == ("float32", allowed) and os.environ["CUPY_TF32"] == "1"
    b.set_tf32(False)
    assert calls[-1] == ("float32", 1) and os.environ["CUPY_TF32"] == "0"


def _usable(spec: str) -> xpnet.Backend:
    try:
        return xpnet.get_backend(spec)
    except xpnet.BackendUnavailableError as e:
        pytest.skip(f"{spec} unavailable: {e}")


def test_set_tf32_on_a_real_cupy_device_changes_its_float32_compute_type():
    b = _usable("cupy")
    import cupy
    from cupy._core import _routines_linalg as linalg

    before = linalg.get_compute_type(cupy.float32)
    try:
        b.set_tf32(True)
        expected = linalg.COMPUTE_TYPE_TF32
        if int(cupy.cuda.Device(b.device.id).compute_capability) < 80:
            expected = linalg.COMPUTE_TYPE_DEFAULT
        assert linalg.get_compute_type(cupy.float32) == expected
        b.set_tf32(False)
        assert linalg.get_compute_type(cupy.float32) == linalg.COMPUTE_TYPE_DEFAULT
    finally:
        linalg.set_compute_type(cupy.float32, before)


# ----------------------------------------------------------------------------- no per-step sync


def test_training_steps_on_cuda_never_wait_for_the_device(monkeypatch):
    # PyTorch raises on any synchronizing operation in "error" sync-debug mode; the
    # epoch loop must run without one (the epoch's loss is read after it returns)
    b = _usable("torch:cuda")
    import torch

    from xpnet import train as train_module

    run_epoch = train_module._run_epoch

    def guarded(*args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return run_epoch(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(train_module, "_run_epoch", guarded)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(16,),
        batch_size=32,
        max_iter=2,
        shuffle=False,
        backend=b.name,
        random_state=0,
    )
    clf.fit(X, y)
    assert clf.n_iter_ == 2 and np.isfinite(clf.loss_curve_).all()
