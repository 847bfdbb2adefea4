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
import re
import statistics
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import xpnet
import xpnet.estimator
from xpnet import bench
from xpnet.bench import contenders
from xpnet.bench import targets as bench_targets
from xpnet.bench.environment import HEAVY_MODULES
from xpnet.bench.report import Row, summarize, table_lines
from xpnet.bench.workloads import initial_params, make_data

HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_TOML = bench_targets._toml_module() is not None
REPO_TARGETS = Path(__file__).resolve().parents[1] / "benchmarks" / "targets.toml"
needs_toml = pytest.mark.skipif(not HAVE_TOML, reason="reading TOML needs Python >= 3.11 or tomli")


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The results table of ``bench.main``'s output: contender -> {column: cell}.

    Columns are two or more spaces apart (a header such as ``fit s`` has one).
    """
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["contender", "s/epoch"])
    header = re.split(r" {2,}", lines[start].strip())
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip() or not line.startswith("  ") or line.startswith("  *"):
            break
        cells = re.split(r" {2,}", line.strip())
        assert len(cells) == len(header), line
        rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


#: The compiled variants the tiny run asks for: rows, or skipped with a reason.
TINY_VARIANTS = ["jax-jit", "jax-eager"]


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
        ",".join(["numpy", *TINY_VARIANTS]),
        "--peers",
        ",".join(peers),
        "--targets",
        str(REPO_TARGETS),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_tiny_benchmark_prints_one_row_per_contender_with_every_column(tiny_report):
    rows = table_rows(tiny_report)
    columns = ["s/epoch", "spread", "fastest", "compile s", "recompile s", "samples/s"]
    columns += ["us/step", "fit s", "loss", "peak MB", "x xpnet-numpy"]
    assert all(list(cells) == columns for cells in rows.values())
    expected = ["xpnet-numpy"]
    expected += [f"xpnet-{v}" for v in TINY_VARIANTS if f"xpnet-{v}" in rows]
    expected += ["numpy-hand"]
    expected += ["sklearn"] if HAVE_SKLEARN else []
    expected += ["torch-eager:cpu"] if HAVE_TORCH else []
    assert list(rows) == expected
    for name, cell in rows.items():
        assert cell["spread"].endswith("%"), name
        assert 0 < float(cell["fastest"]) <= float(cell["s/epoch"]), name
        assert float(cell["samples/s"].replace(",", "")) > 0, name
        # tiny runs 2 epochs: the first one's extra time is a number (it may be < 0)
        assert np.isfinite(float(cell["compile s"])) and np.isfinite(float(cell["recompile s"]))
        assert float(cell["fit s"]) >= float(cell["s/epoch"]), name
        assert np.isfinite(float(cell["loss"])), name
        assert cell["peak MB"] == "-" or float(cell["peak MB"]) >= 0, name
        float(cell["x xpnet-numpy"])
    assert rows["xpnet-numpy"]["x xpnet-numpy"] == "1.00"


def test_each_compiled_variant_runs_or_is_skipped_with_the_reason(tiny_report):
    rows = table_rows(tiny_report)
    skipped = {
        line.split(":", 1)[0].removeprefix("  skipped "): line.split(":", 1)[1].strip()
        for line in tiny_report.splitlines()
        if line.startswith("  skipped ")
    }
    for variant in TINY_VARIANTS:
        name = f"xpnet-{variant}"
        assert (name in rows) != (name in skipped), name
        if name in skipped:  # JAX absent, or an xpnet without backend="jax:cpu" / compile=
            assert skipped[name], name


def test_tiny_benchmark_trains_the_same_network_on_the_same_batches_everywhere(tiny_report):
    # same data, initial weights, batches and learning rate: the same last-epoch loss,
    # up to float32 rounding in the different orders of summation
    losses = {name: float(cells["loss"]) for name, cells in table_rows(tiny_report).items()}
    reference = losses["xpnet-numpy"]
    for name, loss in losses.items():
        assert loss == pytest.approx(reference, rel=1e-3), name


def test_tiny_benchmark_reports_the_gemm_floor_and_the_targets(tiny_report):
    assert "GEMM floor:" in tiny_report
    assert "achieved fraction of that matmul rate" in tiny_report
    assert "start-up (whole process" in tiny_report
    if not HAVE_TOML:
        assert "targets: skipped: reading" in tiny_report and "Python >= 3.11" in tiny_report
        return
    targets = tiny_report.split("targets:", 1)[1]
    # the memory and the two start-up targets apply to tiny; met or not depends on the machine
    counts = re.match(r" (\d+) met, (\d+) missed, (\d+) not measured", targets)
    assert counts is not None, targets
    met, missed, not_measured = (int(c) for c in counts.groups())
    assert met + missed == 3 and not_measured == 0
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
    assert "xpnet-jax-jit-loop" not in everything  # no loop rows for the compiled variants


def test_the_compiled_variants_are_default_contenders_or_skipped_as_not_installed():
    skipped: list[str] = []
    cpu = bench.contender_names(bench.WORKLOADS["digits"], None, None, False, skipped)
    for name, library in [
        ("xpnet-jax-jit", "jax"),
        ("xpnet-jax-eager", "jax"),
        ("xpnet-torch-compiled", "torch"),
    ]:
        if importlib.util.find_spec(library) is not None:
            assert name in cpu, name
        else:
            assert name not in cpu and any(s.startswith(f"{name}: ") for s in skipped), name
    assert not any(n.startswith("torch-compiled") for n in cpu)  # a peer only when asked for
    asked = bench.contender_names(
        bench.WORKLOADS["digits"], "numpy", "torch-compiled:cpu", False, []
    )
    assert asked == ["xpnet-numpy"] + (["torch-compiled:cpu"] if HAVE_TORCH else [])


def test_epochs_and_threads_must_be_positive(capsys):
    assert bench.main(["--workload", "tiny", "--epochs", "0"]) == 2
    assert bench.main(["--workload", "tiny", "--threads", "0"]) == 2
    err = capsys.readouterr().err
    assert "--epochs must be >= 1" in err and "--threads must be >= 1" in err


# ----------------------------------------------------------------------------- epoch times


def test_steady_state_is_the_median_epoch_after_the_first_and_compile_the_first_s_excess():
    t = contenders.Timing(epochs=[5.0, 1.0, 3.0, 2.0], fit_s=11.5, loss=0.1)
    assert t.steady == 2.0 and t.first_extra == 3.0 and t.train_s == 11.0
    one = contenders.Timing(epochs=[4.0], fit_s=None, loss=None)
    assert one.steady == 4.0 and one.first_extra is None


def test_a_row_summarizes_the_steady_state_of_each_run_and_the_warm_up_apart():
    def timing(*epochs: float) -> dict:
        return {"epochs": list(epochs), "fit_s": sum(epochs) + 0.5, "loss": 0.25}

    worker = types.SimpleNamespace(
        name="xpnet-jax-jit",
        ready={
            "library": "jax:cpu",
            "gpu": False,
            "extrapolated": False,
            "first": timing(30.0, 1.0, 1.0),  # the warm-up: compiled in its first epoch
        },
        timings=[
            contenders.Timing(**timing(2.0, 1.0, 1.2)),
            contenders.Timing(**timing(2.5, 0.9, 1.1)),
            contenders.Timing(**timing(2.2, 1.4, 1.6)),
        ],
    )
    row = summarize(worker, bench.WORKLOADS["tiny"])
    # per-run steady states 1.1, 1.0, 1.5: median 1.1, fastest 1.0, spread 0.5 / 1.1
    assert row.per_epoch == pytest.approx(1.1) and row.fastest == pytest.approx(1.0)
    assert row.spread == pytest.approx(0.5 / 1.1)
    assert row.compile_s == pytest.approx(30.0 - 1.1)
    assert row.recompile_s == pytest.approx(statistics.median([0.9, 1.5, 0.7]))
    assert row.fit_s == pytest.approx(5.0) and row.loss == 0.25  # median of 4.7, 5.0, 5.7
    line = next(x for x in table_lines([row], bench.WORKLOADS["tiny"]) if "xpnet-jax-jit" in x)
    assert line.split()[1:6] == ["1.100", "45%", "1.000", "28.900", "0.9000"]


def _tiny_problem(epochs: int):
    wl = bench.WORKLOADS["tiny"]
    X, y = make_data(wl)
    return X, y, initial_params(wl), wl, epochs


def test_the_hand_loop_and_scikit_learn_time_each_epoch_apart():
    for run in (contenders._run_hand,) + ((contenders._run_sklearn,) if HAVE_SKLEARN else ()):
        t = run(*_tiny_problem(3))
        assert len(t.epochs) == 3 and all(s > 0 for s in t.epochs), run.__name__
        assert t.train_s <= t.fit_s and np.isfinite(t.loss), run.__name__
        # scikit-learn's epochs come from a private per-epoch hook: an even split of the
        # fit would mean that the hook no longer fires
        assert len(set(t.epochs)) == 3, run.__name__


def test_a_compiled_variant_passes_compile_to_the_estimator_and_reads_its_epoch_clock(
    monkeypatch,
):
    seen: dict = {}
    real = xpnet.estimator.MLPClassifier

    def with_compile(*, compile, backend, **kwargs):  # an estimator that takes compile=
        seen.update(compile=compile, backend=backend)
        return real(backend="numpy", **kwargs)

    monkeypatch.setattr(xpnet.estimator, "MLPClassifier", with_compile)
    run = contenders._estimator_run("jax:cpu", False, lambda: None, compile="jit")
    t = run(*_tiny_problem(3))
    assert seen == {"compile": "jit", "backend": "jax:cpu"}
    assert len(t.epochs) == 3 and t.fit_s >= t.train_s > 0 and np.isfinite(t.loss)


def test_an_estimator_without_compile_fails_with_an_error_the_worker_reports_as_skipped(
    monkeypatch,
):
    def without_compile(**kwargs):
        raise TypeError("MLPClassifier.__init__() got an unexpected keyword argument 'compile'")

    monkeypatch.setattr(xpnet.estimator, "MLPClassifier", without_compile)
    run = contenders._estimator_run("jax:cpu", False, lambda: None, compile="none")
    with pytest.raises(contenders.UNSUPPORTED):
        run(*_tiny_problem(2))


def test_gemm_flops_count_two_forward_and_three_backward_matmuls():
    # one hidden layer: X W1^T and h W2^T forward; dW2, dh and dW1 backward (no dX)
    wl = bench.Workload("t", n=7, d=5, hidden=(3,), classes=2, batch=2, epochs=1)
    n, d, h, m = 7, 5, 3, 2
    forward = 2 * n * d * h + 2 * n * h * m
    backward = 2 * n * h * m + 2 * n * m * h + 2 * n * d * h
    assert wl.matmul_flops_per_epoch == forward + backward == 2 * n * (2 * d * h + 3 * h * m)


def test_import_xpnet_loads_no_heavy_optional_library():
    heavy = HEAVY_MODULES
    assert {"torch", "cupy", "jax", "sklearn", "matplotlib"} <= set(heavy)
    code = f"import sys, xpnet; print(','.join(m for m in {heavy!r} if m in sys.modules))"
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


# ----------------------------------------------------------------------------- targets


def _row(name: str, per_epoch: float, gpu: bool = False, fastest: float | None = None) -> Row:
    return Row(
        name=name,
        per_epoch=per_epoch,
        spread=0.0,
        fastest=per_epoch if fastest is None else fastest,
        fit_s=None,
        loss=None,
        library="torch:cuda" if gpu else "numpy",
        gpu=gpu,
        extrapolated=False,
        rise=None,
        device_peak=None,
    )


def _spec(**entry) -> bench_targets.TargetSpec:
    return bench_targets.parse_targets({"version": 1, "target": [{"why": "because", **entry}]})[0]


@needs_toml
def test_the_repository_targets_file_follows_the_schema_and_holds_the_project_goals():
    read = bench_targets.load_targets(REPO_TARGETS)
    goals = {
        (s.workload, s.kind, s.numerator or s.contender, s.denominator): s.limit for s in read.specs
    }
    assert all(s.why.strip() for s in read.specs)
    assert goals[("digits", "ratio", "xpnet-*", "numpy-hand")] == 0.50
    assert goals[("mnist", "ratio", "xpnet-*", "numpy-hand")] == 1.00
    assert goals[("mnist", "ratio", "xpnet-numpy", "numpy-hand")] == 1.10
    assert goals[("digits", "ratio", "xpnet-numpy", "numpy-hand")] == 1.5
    assert goals[("mnist", "ratio", "xpnet-numpy", "sklearn")] == 0.70
    assert goals[("large", "gemm_fraction", "xpnet-cupy", None)] == 0.80
    assert {s.kind for s in read.specs} == set(bench_targets._KEYS)


def test_targets_are_found_in_the_current_directory_before_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_targets, "repository_targets", lambda: tmp_path / "nowhere.toml")
    assert bench_targets.find_targets() is None
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "targets.toml").write_text("version = 1\n")
    assert bench_targets.find_targets() == tmp_path / "benchmarks" / "targets.toml"
    assert bench_targets.find_targets(REPO_TARGETS) == REPO_TARGETS
    with pytest.raises(bench_targets.TargetsError, match="no such file"):
        bench_targets.find_targets(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"numerator": "a", "denominator": "b", "max": 1, "maxx": 2}, "unknown key"),
        ({"numerator": "a", "max": 1}, "missing denominator"),
        ({"numerator": "a", "denominator": "b", "max": 1, "min": 0.5}, "exactly one of max"),
        ({"numerator": "a", "denominator": "b"}, "exactly one of max"),
        ({"numerator": "a", "denominator": "b", "max": "1"}, "must be a number"),
        ({"numerator": "a", "denominator": "b", "max": -1}, ">= 0"),
        ({"numerator": "a", "denominator": "b", "max": 1, "on": "tpu"}, "'cpu' or 'gpu'"),
        ({"kind": "speed", "max": 1}, "unknown kind 'speed'"),
        ({"kind": "memory", "contender": "x", "data_factor": 1}, "missing extra_mb"),
    ],
)
def test_a_target_that_breaks_the_schema_is_rejected_naming_it(entry, message):
    with pytest.raises(bench_targets.TargetsError, match=message):
        bench_targets.parse_targets({"version": 1, "target": [{"why": "w", **entry}]})


def test_a_targets_file_needs_a_version_and_each_target_a_reason():
    with pytest.raises(bench_targets.TargetsError, match="version = 1"):
        bench_targets.parse_targets({"target": []})
    with pytest.raises(bench_targets.TargetsError, match="missing why"):
        bench_targets.parse_targets(
            {"version": 1, "target": [{"numerator": "a", "denominator": "b", "max": 1}]}
        )


def test_a_glob_stands_for_the_fastest_matching_contender_on_its_device():
    spec = _spec(
        workload="digits", on="cpu", numerator="xpnet-*", denominator="numpy-hand", max=0.5
    )
    rows = [
        _row("xpnet-numpy", 4.0, fastest=3.0),
        _row("xpnet-torch:cpu", 2.0, fastest=1.9),
        _row("xpnet-cupy", 0.5, gpu=True),  # on the GPU: not a CPU path
        _row("numpy-hand", 3.0, fastest=2.0),
    ]
    wl = bench.WORKLOADS["digits"]
    (t,) = bench_targets.evaluate([spec], rows, wl, {}, gpu_seen=True, startup=None)
    assert t.value == pytest.approx(2.0 / 3.0) and t.fastest == pytest.approx(1.9 / 2.0)
    assert "[xpnet-torch:cpu]" in t.what and t.status.startswith("MISSED by 33")
    assert t.lines()[1].strip() == "why it matters: because"
    assert bench_targets.evaluate([spec], rows, bench.WORKLOADS["mnist"], {}, True, None) == []


def test_a_target_whose_contenders_did_not_run_says_why_it_is_not_measured():
    wl = bench.WORKLOADS["mnist"]
    gpu = _spec(needs="gpu", numerator="xpnet-cupy", denominator="torch-eager:cuda", max=1.5)
    named = _spec(numerator="xpnet-numpy", denominator="sklearn", max=0.7)
    glob = _spec(on="cpu", numerator="xpnet-jax-*", denominator="numpy-hand", max=1)
    rows = [_row("xpnet-numpy", 1.0), _row("numpy-hand", 1.0)]
    got = bench_targets.evaluate([gpu, named, glob], rows, wl, {}, gpu_seen=False, startup=None)
    assert [t.status for t in got] == [
        "not measured (no CUDA device)",
        "not measured (sklearn not run)",
        "not measured (nothing matching xpnet-jax-* on CPU ran)",
    ]
    assert all(t.met is None and len(t.lines()) == 1 for t in got)


def test_a_gemm_fraction_above_one_is_not_taken_for_a_target_met():
    spec = _spec(kind="gemm_fraction", workload="large", contender="xpnet-cupy", min=0.8)
    rows = [_row("xpnet-cupy", 1.0, gpu=True)]
    wl = bench.WORKLOADS["large"]
    (good,) = bench_targets.evaluate([spec], rows, wl, {"xpnet-cupy": 0.85}, True, None)
    (bad,) = bench_targets.evaluate([spec], rows, wl, {"xpnet-cupy": 3.0}, True, None)
    assert good.met is True and good.line().endswith("85.0 % (target >= 80 %): met")
    assert bad.met is None and "measured too low" in bad.status


def test_start_up_targets_are_left_out_without_the_measurement_and_judged_with_it():
    specs = [_spec(kind="import_time", max=1.5), _spec(kind="heavy_imports", max=0)]
    wl = bench.WORKLOADS["tiny"]
    assert bench_targets.evaluate(specs, [], wl, {}, False, None) == []
    st = {"numpy": 0.1, "xpnet": 0.2, "runs": 7, "probed": ["torch"], "heavy": ["torch"]}
    slow, heavy = bench_targets.evaluate(specs, [], wl, {}, False, st)
    assert slow.value == pytest.approx(2.0) and slow.status == "MISSED by 33 %"
    assert heavy.value == 1 and heavy.status == "MISSED" and "[torch]" in heavy.what


def test_without_tomllib_the_targets_are_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(bench_targets, "_toml_module", lambda: None)
    read = bench_targets.load_targets(REPO_TARGETS)
    assert read.specs == [] and "Python >= 3.11" in read.note


def test_a_missing_or_broken_targets_file_fails_before_any_timing(tmp_path, capsys):
    assert bench.main(["--workload", "tiny", "--targets", str(tmp_path / "no.toml")]) == 2
    if HAVE_TOML:
        broken = tmp_path / "t.toml"
        broken.write_text("version = 1\n[[target]]\nnumerator = 'a'\n")
        assert bench.main(["--workload", "tiny", "--targets", str(broken)]) == 2
    captured = capsys.readouterr()
    assert "no such file" in captured.err
    assert not HAVE_TOML or "missing denominator" in captured.err
    assert "starting" not in captured.out


def test_without_a_targets_file_the_benchmark_prints_the_tables_alone(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # no benchmarks/ here; the worker still imports this xpnet
    monkeypatch.setattr(bench_targets, "repository_targets", lambda: tmp_path / "nowhere.toml")
    argv = ["--workload", "tiny", "--repeats", "1", "--backends", "numpy", "--peers", "none"]
    assert bench.main([*argv, "--no-startup"]) == 0
    out = capsys.readouterr().out
    assert list(table_rows(out)) == ["xpnet-numpy"]
    last = out.strip().splitlines()[-1]
    assert last.startswith("targets: no benchmarks/targets.toml"), last


# ----------------------------------------------------------------------------- scaling


def test_ring_allreduce_model_is_the_closed_form():
    from xpnet.bench.scaling import GPU_CLUSTER, project, ring_allreduce_seconds
    from xpnet.bench.workloads import WORKLOADS

    assert ring_allreduce_seconds(1, 1e6, 1e-5, 1e9) == 0.0
    # p = 4: 6 latency terms and 2 * 3/4 of the bytes over the link
    assert ring_allreduce_seconds(4, 8e6, 1e-5, 1e9) == pytest.approx(6e-5 + 1.5 * 8e-3)
    wl = WORKLOADS["mnist"]
    row = project(wl, 64)
    gradient_bytes = 4 * (784 * 256 + 256 + 256 * 10 + 10)
    alpha, bandwidth = GPU_CLUSTER.link(64)
    assert row["comm_s"] == pytest.approx(
        ring_allreduce_seconds(64, gradient_bytes, alpha, bandwidth)
    )
    flops_per_row = 2 * (2 * 784 * 256 + 3 * 256 * 10)
    assert row["compute_s"] == pytest.approx(2 * flops_per_row / GPU_CLUSTER.rate)
    # at the smallest per-rank batch, communication is at most 20 % of the step
    rows = row["min_rows_per_rank"]
    compute = rows * flops_per_row / GPU_CLUSTER.rate
    assert row["comm_s"] / (row["comm_s"] + compute) <= 0.2 + 1e-12
    compute_less = (rows - 1) * flops_per_row / GPU_CLUSTER.rate
    assert row["comm_s"] / (row["comm_s"] + compute_less) > 0.2


def test_bench_ranks_two_trains_the_same_model_on_both(tmp_path):
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists() or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("the mpi extra (mpi4py, mpiexec) is not installed")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "xpnet.bench",
            "--workload",
            "tiny",
            "--ranks",
            "2",
            "--epochs",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:1] in ("1", "2")]
    assert [r[0] for r in rows[:2]] == ["1", "2"]
    assert rows[0][-1] == rows[1][-1]  # the same final loss on 1 and 2 ranks
    assert "latency" in done.stdout and "bandwidth" in done.stdout
