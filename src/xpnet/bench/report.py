"""The report: one row per contender (the table) and the GEMM floor; the targets are in ``targets``."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .contenders import Timing
from .worker import Worker
from .workloads import Workload


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.4f}" if s < 1 else f"{s:.3f}" if s < 100 else f"{s:.1f}"


def _fmt_mb(b: float | None) -> str:
    return "-" if b is None else f"{b / 2**20:.0f}"


@dataclass
class Row:
    """One contender's summary over its timed runs.

    Attributes:
        per_epoch: the steady-state seconds per epoch: in each run the median
            of the epochs after the first, then the median over the runs.
        spread: (slowest - fastest) / median of those per-run values.
        fastest: the smallest per-run value.
        compile_s: the first epoch of the worker's first run (the warm-up)
            minus ``per_epoch``: compilation and first-call set-up (None with
            one epoch per run).
        recompile_s: the same for the timed runs, median: what each later fit
            pays again (a compile that is not cached, ...).
        fit_s: the whole fit call from host NumPy arrays, median.
        loss: the last run's mean training loss of its last epoch.
        library, gpu, extrapolated, rise, device_peak: from the worker.
    """

    name: str
    per_epoch: float
    spread: float
    fastest: float
    fit_s: float | None
    loss: float | None
    library: str
    gpu: bool
    extrapolated: bool
    rise: int | None
    device_peak: int | None
    compile_s: float | None = None
    recompile_s: float | None = None


def summarize(worker: Worker, wl: Workload) -> Row:
    """The row of a worker that has run its timed rounds."""
    ready = worker.ready
    fits = [t.fit_s for t in worker.timings if t.fit_s is not None]
    losses = [t.loss for t in worker.timings if t.loss is not None]
    steady = [t.steady for t in worker.timings]
    per_epoch = statistics.median(steady)
    extras = [t.first_extra for t in worker.timings if t.first_extra is not None]
    warm_up = Timing(**ready["first"]) if ready.get("first") else None
    return Row(
        name=worker.name,
        per_epoch=per_epoch,
        spread=(max(steady) - min(steady)) / per_epoch,
        fastest=min(steady),
        fit_s=statistics.median(fits) if fits else None,
        loss=losses[-1] if losses else None,
        library=ready["library"],
        gpu=bool(ready["gpu"]),
        extrapolated=bool(ready["extrapolated"]),
        rise=ready.get("rise"),
        device_peak=ready.get("device_peak"),
        compile_s=(
            warm_up.epochs[0] - per_epoch
            if warm_up is not None and len(warm_up.epochs) > 1
            else None
        ),
        recompile_s=statistics.median(extras) if extras else None,
    )


def table_lines(rows: Sequence[Row], wl: Workload) -> list[str]:
    """The results table: one row per contender."""
    ref = next((r for r in rows if r.name == "xpnet-numpy"), None)
    any_gpu = any(r.gpu for r in rows)
    header = ["contender", "s/epoch", "spread", "fastest", "compile s", "recompile s"]
    header += ["samples/s", "us/step", "fit s", "loss", "peak MB"]
    if any_gpu:
        header.append("GPU MB")
    header.append("x xpnet-numpy")
    table = [header]
    for r in rows:
        cells = [
            r.name + (" *" if r.extrapolated else ""),
            _fmt_time(r.per_epoch),
            f"{100 * r.spread:.0f}%",
            _fmt_time(r.fastest),
            _fmt_time(r.compile_s),
            _fmt_time(r.recompile_s),
            f"{wl.n / r.per_epoch:,.0f}",
            f"{r.per_epoch / wl.steps_per_epoch * 1e6:,.0f}",
            _fmt_time(r.fit_s),
            "-" if r.loss is None else f"{r.loss:.4f}",
            _fmt_mb(r.rise),
        ]
        if any_gpu:
            cells.append(_fmt_mb(r.device_peak))
        cells.append("-" if ref is None else f"{r.per_epoch / ref.per_epoch:.2f}")
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for k, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells))
        if k == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def gemm_floor_lines(
    rows: Sequence[Row], wl: Workload, rates: dict[str, float], shape: tuple[int, int, int]
) -> tuple[list[str], dict[str, float]]:
    """The GEMM floor per library and each contender's achieved fraction of the matmul rate."""
    flops = wl.matmul_flops_per_epoch
    M, K, N = shape
    lines = [
        f"GEMM floor: {flops / 1e9:.3g} GFLOP of matmul per epoch (forward 2 GEMMs + backward 3, "
        f"no dX for the input layer), at the float32 rate of A({M} x {K}) @ W.T({K} x {N}) "
        "measured in this run:"
    ]
    for lib, rate in rates.items():
        lines.append(
            f"  {lib:<17} {rate / 1e9:9.1f} GFLOP/s   floor {_fmt_time(flops / rate)} s/epoch"
        )
    fractions: dict[str, float] = {}
    lines.append("achieved fraction of that matmul rate (floor / s per epoch):")
    for r in rows:
        lib_rate = rates.get(r.library)
        if lib_rate is None:
            continue
        fractions[r.name] = (flops / lib_rate) / r.per_epoch
        note = ""
        if fractions[r.name] > 1:  # faster than its matmuls alone: the rate came out too low
            note = f"  (above 100 %: the {r.library} rate was measured too low, on a busy machine?)"
        lines.append(f"  {r.name:<24} {100 * fractions[r.name]:5.1f} %{note}")
    return lines, fractions
