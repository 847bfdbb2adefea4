"""The report: one row per contender, the GEMM floor, and the targets met or missed."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

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
    """One contender's summary."""

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


def summarize(worker: Worker, wl: Workload) -> Row:
    ready = worker.ready
    fits = [t.fit_s for t in worker.timings if t.fit_s is not None]
    losses = [t.loss for t in worker.timings if t.loss is not None]
    train = [t.train_s for t in worker.timings]
    return Row(
        worker.name,
        statistics.median(train) / wl.epochs,
        (max(train) - min(train)) / statistics.median(train),
        min(train) / wl.epochs,
        statistics.median(fits) if fits else None,
        losses[-1] if losses else None,
        ready["library"],
        bool(ready["gpu"]),
        bool(ready["extrapolated"]),
        ready.get("rise"),
        ready.get("device_peak"),
    )


def table_lines(rows: Sequence[Row], wl: Workload) -> list[str]:
    """The results table: one row per contender."""
    ref = next((r for r in rows if r.name == "xpnet-numpy"), None)
    any_gpu = any(r.gpu for r in rows)
    header = ["contender", "s/epoch", "spread", "fastest", "samples/s", "us/step", "fit s", "loss"]
    header.append("peak MB")
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
        rate = rates.get(r.library)
        if rate is None:
            continue
        fractions[r.name] = (flops / rate) / r.per_epoch
        lines.append(f"  {r.name:<24} {100 * fractions[r.name]:5.1f} %")
    return lines, fractions


@dataclass
class Target:
    """A goal from the performance issue and whether this run meets it."""

    what: str
    value: float | None
    limit: float
    higher_is_better: bool = False
    unit: str = ""
    why_missing: str = ""
    fastest: float | None = None  # the same ratio between the fastest runs, for noisy machines

    @property
    def status(self) -> str:
        if self.value is None:
            return "not measured" + (f" ({self.why_missing})" if self.why_missing else "")
        ok = self.value >= self.limit if self.higher_is_better else self.value <= self.limit
        if ok:
            return "met"
        return f"MISSED by {abs(self.value / self.limit - 1) * 100:.0f} %"

    def line(self) -> str:
        if self.value is None:
            return f"  {self.what}: {self.status}"
        sign = ">=" if self.higher_is_better else "<="
        if self.unit == "%":
            shown = f"{100 * self.value:.1f} % (target {sign} {100 * self.limit:.0f} %)"
        elif self.unit == "MB":
            shown = f"{self.value:.0f} MB (target {sign} {self.limit:.0f} MB)"
        else:
            shown = f"{self.value:.2f} (target {sign} {self.limit:.2f})"
        if self.fastest is not None:
            shown += f" [fastest runs: {self.fastest:.2f}]"
        return f"  {self.what} = {shown}: {self.status}"


#: CPU targets: xpnet-numpy's time per epoch over each peer's, at most.
CPU_TARGETS = {
    "mnist": {"sklearn": 0.70, "torch-eager:cpu": 0.80, "numpy-hand": 1.10},
    "digits": {"sklearn": 0.50, "torch-eager:cpu": 0.35, "numpy-hand": 1.5},
}


def speed_targets(
    rows: Sequence[Row], wl: Workload, fractions: dict[str, float], gpu_seen: bool
) -> list[Target]:
    by = {r.name: r for r in rows}

    def ratio(a: str, b: str) -> float | None:
        return by[a].per_epoch / by[b].per_epoch if a in by and b in by else None

    def fastest(a: str, b: str) -> float | None:
        return by[a].fastest / by[b].fastest if a in by and b in by else None

    def missing(*names: str) -> str:
        absent = [n for n in names if n not in by]
        return ", ".join(absent) + " not run" if absent else ""

    no_gpu = "" if gpu_seen else "no CUDA device"
    targets = []
    for peer, limit in CPU_TARGETS.get(wl.name, {}).items():
        targets.append(
            Target(
                f"{wl.name} CPU: xpnet-numpy / {peer}",
                ratio("xpnet-numpy", peer),
                limit,
                why_missing=missing("xpnet-numpy", peer),
                fastest=fastest("xpnet-numpy", peer),
            )
        )
    if wl.name == "mnist":
        targets.append(
            Target(
                "mnist GPU: xpnet-cupy / torch-eager:cuda",
                ratio("xpnet-cupy", "torch-eager:cuda"),
                1.5,
                why_missing=no_gpu or missing("xpnet-cupy", "torch-eager:cuda"),
                fastest=fastest("xpnet-cupy", "torch-eager:cuda"),
            )
        )
    if wl.name == "large":
        gpu_rows = [r.name for r in rows if r.gpu and r.name.startswith("xpnet-")]
        for name in gpu_rows or ["xpnet-cupy"]:
            targets.append(
                Target(
                    f"large GPU: {name}, fraction of the measured float32 matmul rate",
                    fractions.get(name),
                    0.80,
                    higher_is_better=True,
                    unit="%",
                    why_missing=no_gpu or missing(name),
                )
            )
            targets.append(
                Target(
                    f"large GPU: speed-up of {name} over xpnet-numpy (numpy extrapolated)",
                    ratio("xpnet-numpy", name),
                    10.0,
                    higher_is_better=True,
                    why_missing=no_gpu or missing(name, "xpnet-numpy"),
                )
            )
    return targets


def memory_target(rows: Sequence[Row], wl: Workload) -> Target | None:
    ref = next((r for r in rows if r.name == "xpnet-numpy"), None)
    if ref is None or ref.rise is None or ref.extrapolated:
        return None
    mb = 2**20
    return Target(
        f"memory: xpnet-numpy peak RSS rise over 'import xpnet' (limit 1.25 x "
        f"{wl.data_bytes / mb:.0f} MB data + 100 MB)",
        ref.rise / mb,
        (1.25 * wl.data_bytes + 100 * mb) / mb,
        unit="MB",
    )


def startup_targets(st: dict) -> list[Target]:
    heavy = st["heavy"]
    return [
        Target(
            f"start-up: 'import xpnet' / 'import numpy', whole process "
            f"({st['xpnet']:.3f} s / {st['numpy']:.3f} s)",
            st["xpnet"] / st["numpy"],
            1.5,
        ),
        Target(
            "start-up: heavy modules (torch, cupy, sklearn, matplotlib) loaded by 'import xpnet'"
            + (f" [{', '.join(heavy)}]" if heavy else ""),
            float(len(heavy)),
            0.0,
        ),
    ]
