"""``xpnet bench``: start one worker per contender, time them round-robin, print the report."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .contenders import Timing, contender_names
from .environment import environment_lines, measure_startup, startup_line
from .report import gemm_floor_lines, summarize, table_lines
from .targets import TargetsError, evaluate, load_targets
from .worker import THREAD_VARIABLES, Worker, worker_main
from .workloads import WORKLOADS

#: Seconds between two timed runs, so the last worker's threads stop spinning first.
PAUSE_S = 0.2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xpnet bench",
        description="Time the same MLP training in xpnet (each backend, compiled and eager), a "
        "hand-written NumPy loop, scikit-learn and PyTorch; print a table and the performance "
        "targets.",
    )
    p.add_argument(
        "--workload",
        choices=sorted(WORKLOADS),
        default="digits",
        help="mnist: 60,000 x 784, hidden 256, batch 128, 2 epochs; digits: 1,797 x 64, "
        "hidden 100, batch 32, 20 epochs; large: 8,192 x 4,096, hidden 4,096, batch 4,096, "
        "2 epochs (GPU); tiny: for tests (default: digits)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per run, instead of the workload's (the first of each run is reported "
        "apart, as compile time; more epochs give a steadier median)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed rounds after the warm-up; the median is reported (default: 11 for digits, "
        "5 for mnist and large, 3 for tiny)",
    )
    p.add_argument(
        "--backends",
        default=None,
        help="xpnet backends and compiled variants, comma-separated (default: numpy, "
        "torch:cpu, cupy, torch:cuda, jax-jit, jax-eager, torch-compiled, those that run here; "
        "for large: numpy, timed on one minibatch, cupy, torch:cuda); 'all' adds "
        "array_api_strict (slow)",
    )
    p.add_argument(
        "--peers",
        default=None,
        help="comma-separated from hand, sklearn, torch (eager, CPU and CUDA), torch:cpu, "
        "torch:cuda, torch-compiled (torch.compile; also :cpu, :cuda); or 'none' (default: "
        "hand, sklearn, torch; for large: torch:cuda)",
    )
    p.add_argument(
        "--tf32", action="store_true", help="allow TF32 matmuls on CUDA (all contenders)"
    )
    p.add_argument(
        "--loop",
        action="store_true",
        help="also time xpnet.train.train called directly on device data (rows '-loop')",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for every contender (sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, "
        "MKL_NUM_THREADS in the workers; default: each library's own choice)",
    )
    p.add_argument("--no-startup", action="store_true", help="skip the import-time measurement")
    p.add_argument(
        "--targets",
        metavar="PATH",
        default=None,
        help="the performance targets to check, a TOML file (default: benchmarks/targets.toml "
        "in the current directory, else in the repository checkout xpnet runs from; "
        "without one only the tables are printed)",
    )
    p.add_argument(
        "--ranks",
        type=int,
        default=None,
        metavar="K",
        help="instead of the contenders: train the workload on 1 and K MPI ranks (mpiexec; "
        "the mpi extra), print time per epoch, the share in communication, the allreduce's "
        "latency and bandwidth, and a projection to 8, 64 and 512 GPUs",
    )
    p.add_argument("--worker", metavar="CONTENDER", help=argparse.SUPPRESS)
    return p


def _shown(path: Path | None) -> str:
    """``path`` relative to the current directory where it is under it."""
    if path is None:
        return "-"
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; returns the exit status.

    0 when it ran (whether or not the targets are met: nothing here asserts on
    time), 1 when no contender could run, 2 for bad arguments.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    wl = WORKLOADS[args.workload]
    if args.epochs is not None and args.epochs >= 1:  # < 1 is refused below
        wl = dataclasses.replace(wl, epochs=args.epochs)
    if args.worker:
        return worker_main(args.worker, wl, args.tf32)
    if args.ranks is not None:
        if args.ranks < 1:
            print("xpnet bench: error: --ranks must be >= 1", file=sys.stderr)
            return 2
        from .scaling import main as scaling_main

        return scaling_main(args.workload, args.ranks, epochs=args.epochs or 3)
    repeats = wl.repeats if args.repeats is None else args.repeats
    checks = [(repeats, "--repeats")]
    checks += [
        (v, o) for v, o in ((args.threads, "--threads"), (args.epochs, "--epochs")) if v is not None
    ]
    for value, option in checks:
        if value < 1:
            parser.print_usage(sys.stderr)
            print(f"xpnet bench: error: {option} must be >= 1", file=sys.stderr)
            return 2
    skipped: list[str] = []
    try:
        names = contender_names(wl, args.backends, args.peers, args.loop, skipped)
    except ValueError as e:
        parser.print_usage(sys.stderr)
        print(f"xpnet bench: error: {e}", file=sys.stderr)
        return 2
    try:  # read before minutes of timing, so that a broken file fails at once
        targets_read = load_targets(args.targets)
    except TargetsError as e:
        print(f"xpnet bench: error: {e}", file=sys.stderr)
        return 2

    def out(line: str = "") -> None:
        print(line, flush=True)

    out(f"xpnet bench -- workload {wl.describe()}")
    for line in environment_lines():
        out(line)
    out(f"TF32 on CUDA: {'allowed (--tf32)' if args.tf32 else 'off (exact float32)'}")
    if args.threads is not None:
        out(f"threads: {args.threads} per contender ({', '.join(THREAD_VARIABLES)})")
    out(f"starting {len(names)} worker(s), one at a time; each trains once (warm-up + memory)")

    workers: list[Worker] = []
    try:
        for name in names:
            w = Worker(name, wl, args.tf32, args.threads, args.epochs)
            if "error" in w.ready:
                default_gpu = args.backends is None and name in ("xpnet-cupy", "xpnet-torch:cuda")
                why = w.ready["error"]
                skipped.append(f"{name}: {why.split(';')[0] if default_gpu else why}")
                w.close()
                continue
            out(f"  {name}: {w.ready['about']}")
            workers.append(w)
        for line in skipped:
            out(f"  skipped {line}")
        if not workers:
            out("nothing could run")
            return 1
        gpu_seen = any(w.ready["gpu"] for w in workers)
        if wl.gpu_only and not gpu_seen:
            out("note: 'large' is a GPU workload and no CUDA device is usable here")
        out(
            f"timing: {repeats} round(s), round-robin (each starts with the next contender), median reported"
        )
        for r in range(repeats):
            shift = r % len(workers)
            for w in [*workers[shift:], *workers[:shift]]:
                if "error" in w.ready:
                    continue
                time.sleep(PAUSE_S)
                got = w.ask("run")
                if "error" in got:
                    w.ready = {"error": got["error"]}
                    out(f"  {w.name} failed: {got['error']}")
                else:
                    w.timings.append(Timing(**got))
            out(f"  round {r + 1}/{repeats} done")
        workers = [w for w in workers if "error" not in w.ready and w.timings]
        rows = [summarize(w, wl) for w in workers]
        shape = (wl.batch, wl.d, wl.hidden[0])
        rates: dict[str, float] = {}
        for w, row in zip(workers, rows, strict=True):
            if row.library not in rates:
                got = w.ask("rate {} {} {}".format(*shape))
                if "rate" in got:
                    rates[row.library] = float(got["rate"])
    finally:
        for w in workers:
            w.close()

    out()
    out(
        f"results ({wl.epochs} epochs per run, each epoch timed alone): s/epoch = steady state, "
        "the median of each run's epochs after the first, median over runs; spread = (slowest "
        "- fastest) / median of those per-run values; fastest = the fastest run's; compile s "
        "= the first epoch of the warm-up run minus s/epoch (compilation, first-call set-up); "
        "recompile s = the same for the timed runs, median (what each new fit pays again); "
        "fit s = the whole fit call from host NumPy data, median; loss = mean training loss of "
        "the last epoch; peak MB = rise of peak RSS over the RSS after imports, data creation "
        f"({wl.data_bytes / 2**20:.1f} MB float32 X) included"
        + ("; GPU MB = device memory at the peak" if gpu_seen else "")
    )
    for line in table_lines(rows, wl):
        out(line)
    if any(r.extrapolated for r in rows):
        out(
            f"  * timed on {wl.cpu_steps} of the epoch's {wl.steps_per_epoch} minibatches and "
            "extrapolated to the epoch (a CPU contender on a GPU workload)"
        )
    out()
    floor_lines, fractions = gemm_floor_lines(rows, wl, rates, shape)
    for line in floor_lines:
        out(line)

    startup = None
    if not args.no_startup:
        startup = measure_startup()
        out()
        out(startup_line(startup))

    out()
    if targets_read.path is None or not targets_read.specs:
        out(f"targets: {targets_read.note or f'none in {_shown(targets_read.path)}'}")
        return 0
    targets = evaluate(targets_read.specs, rows, wl, fractions, gpu_seen, startup)
    if not targets:
        out(f"targets: none for this workload in {_shown(targets_read.path)}")
        return 0
    met = sum(t.met is True for t in targets)
    missed = sum(t.met is False for t in targets)
    out(
        f"targets: {met} met, {missed} missed, {len(targets) - met - missed} not measured "
        f"(from {_shown(targets_read.path)})"
    )
    for t in targets:
        for line in t.lines():
            out(line)
    return 0
