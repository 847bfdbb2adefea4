"""Data-parallel scaling: the workload on 1 and K MPI ranks, and a model of larger jobs.

``xpnet bench --ranks K`` starts ``mpiexec -n 1`` and ``mpiexec -n K`` on this
module's worker, which trains the workload with ``xpnet.train`` and the MPI
communicator, times every allreduce, and measures the allreduce's latency and
bandwidth (``distributed.measure_allreduce``). The report gives, per rank
count, the steady-state time per epoch, the time in communication and its
share, and then projects larger jobs from the ring-allreduce model:

    T_allreduce(p, S) = 2 (p - 1) alpha + 2 (p - 1) / p * S / bandwidth

for S bytes of gradients on p ranks (each of the 2 (p - 1) ring steps pays the
latency alpha once and moves S / p bytes), and the compute of one step on
b rows per rank

    T_compute(b) = b * flops_per_row / rate.

A step takes T_compute + T_allreduce (no overlap: xpnet reduces after the
whole backward pass); communication stays under 20 % of a step when
T_compute >= 4 T_allreduce, i.e. b >= 4 T_allreduce rate / flops_per_row.
The GPU figures are assumptions stated in ``GPU_CLUSTER``, not measurements.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .workloads import LEARNING_RATE, SEED, WORKLOADS, Workload, initial_params, make_data

__all__ = ["GPU_CLUSTER", "ring_allreduce_seconds", "project", "main"]


@dataclass(frozen=True)
class Cluster:
    """What the projection assumes about a GPU cluster."""

    rate: float  # sustained float32 matmul FLOP/s of one GPU
    node_gpus: int  # GPUs per node, joined by the fast link
    node_alpha: float  # latency of one ring step inside a node, s
    node_bandwidth: float  # bytes/s per GPU inside a node
    net_alpha: float  # latency of one ring step between nodes, s
    net_bandwidth: float  # bytes/s per GPU between nodes

    def link(self, ranks: int) -> tuple[float, float]:
        """(alpha, bandwidth) of the slowest link a ring over ``ranks`` GPUs crosses."""
        if ranks <= self.node_gpus:
            return self.node_alpha, self.node_bandwidth
        return self.net_alpha, self.net_bandwidth


#: H100-class nodes of 8 GPUs: half of the 67 TFLOP/s float32 peak of NVIDIA's H100 SXM
#: datasheet sustained on these GEMMs; NVLink 4 inside a node (450 GB/s each way per GPU
#: on the datasheet, taken at 300 GB/s achieved, 5 us a step); one 400 Gb/s InfiniBand
#: NDR port per GPU between nodes (50 GB/s, taken at 40 GB/s achieved, 10 us a step).
GPU_CLUSTER = Cluster(33.5e12, 8, 5e-6, 300e9, 10e-6, 40e9)


def ring_allreduce_seconds(ranks: int, nbytes: float, alpha: float, bandwidth: float) -> float:
    """The ring model above; 0 for one rank."""
    if ranks <= 1:
        return 0.0
    return 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * nbytes / bandwidth


def _gradient_bytes(wl: Workload) -> int:
    sizes = wl.sizes
    return 4 * sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def _flops_per_row(wl: Workload) -> float:
    return wl.matmul_flops_per_epoch / wl.n


def project(wl: Workload, ranks: int, cluster: Cluster = GPU_CLUSTER) -> dict[str, float]:
    """Time per step of ``wl``'s global minibatch on ``ranks`` GPUs, and the per-rank batch
    from which communication stays under 20 % of a step."""
    alpha, bandwidth = cluster.link(ranks)
    comm = ring_allreduce_seconds(ranks, _gradient_bytes(wl), alpha, bandwidth)
    rows = wl.batch / ranks
    compute = rows * _flops_per_row(wl) / cluster.rate
    min_rows = math.ceil(4 * comm * cluster.rate / _flops_per_row(wl)) if comm else 0
    return {
        "ranks": ranks,
        "rows_per_rank": rows,
        "compute_s": compute,
        "comm_s": comm,
        "step_s": compute + comm,
        "comm_share": comm / (compute + comm),
        "min_rows_per_rank": min_rows,
    }


# ----------------------------------------------------------------------------- the MPI worker


class _TimedComm:
    """A communicator that adds up the seconds spent in ``allreduce_sum``."""

    def __init__(self, comm: Any):
        self._comm = comm
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._comm, name)

    def allreduce_sum(self, arrays: Any, backend: Any = None) -> list:
        t0 = time.perf_counter()
        out = self._comm.allreduce_sum(arrays, backend)
        self.seconds += time.perf_counter() - t0
        return out


def _worker(workload: str, epochs: int, out: str) -> int:
    from .. import distributed, optim
    from ..backend import get_backend
    from ..functional import get_activation
    from ..losses import CROSS_ENTROPY
    from ..step import StepSpec, build_step
    from ..train import Callbacks, EpochData, TrainConfig, TrainState, train

    comm = distributed.get_communicator("mpi")
    with distributed.abort_on_error(comm):
        distributed.limit_threads(comm)
        wl = WORKLOADS[workload]
        b = get_backend("numpy")
        X, y = make_data(wl)
        data = EpochData(b.asarray(X, "float32"), b.asarray(y))
        params = [(b.asarray(W), b.asarray(c)) for W, c in initial_params(wl)]
        opt = optim.sgd(LEARNING_RATE)
        zeros = (0.0,) * len(params)
        spec = StepSpec(CROSS_ENTROPY, get_activation("relu"), opt, zeros, zeros)
        config = TrainConfig(
            spec,
            batch_size=wl.batch,
            max_epochs=epochs,
            shuffle=False,
            n_iter_no_change=epochs + 1,
            tol=0.0,
        )
        step = build_step(spec, b, dtype=data.X.dtype)
        timed = _TimedComm(comm)
        comm_per_epoch: list[float] = []

        def on_epoch(epoch: int, row: dict) -> None:
            comm_per_epoch.append(timed.seconds - sum(comm_per_epoch))

        state = TrainState(params=params, opt_state=opt.init(params))
        state = train(
            state,
            data,
            config,
            step,
            backend=b,
            rng=np.random.default_rng(SEED),
            callbacks=Callbacks(on_epoch=on_epoch),
            comm=timed,
        )
        timing = distributed.measure_allreduce(comm) if comm.size > 1 else None
        if comm.is_root:
            result = {
                "ranks": comm.size,
                "seconds": state.history["seconds"],
                "comm_seconds": comm_per_epoch,
                "loss": state.history["train_loss"][-1],
                "alpha": None if timing is None else timing.alpha,
                "bandwidth": None if timing is None else timing.bandwidth,
                "describe": comm.describe(),
            }
            Path(out).write_text(json.dumps(result))
    return 0


# ----------------------------------------------------------------------------- the report


def _mpiexec() -> str:
    exe = Path(sys.executable).parent / "mpiexec"
    if exe.exists():
        return str(exe)
    from shutil import which

    found = which("mpiexec")
    if found is None:
        raise FileNotFoundError(
            'mpiexec not found: install the mpi extra (pip install -e ".[mpi]"), which brings one'
        )
    return found


def _run(ranks: int, workload: str, epochs: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [
            _mpiexec(),
            "-n",
            str(ranks),
            sys.executable,
            "-m",
            "xpnet.bench.scaling",
            workload,
            str(epochs),
            out,
        ]
        subprocess.run(cmd, check=True, timeout=timeout)
        return json.loads(Path(out).read_text())


def main(workload: str, ranks: int, epochs: int = 3, timeout: float = 1200.0) -> int:
    """``xpnet bench --ranks K``: measure 1 and K ranks, then print the projection."""
    import dataclasses

    wl = dataclasses.replace(WORKLOADS[workload], epochs=epochs)
    print(f"data-parallel scaling, {wl.describe()}, float32, NumPy on each rank")
    runs = [_run(k, workload, epochs, timeout) for k in sorted({1, ranks})]
    print(f"  {'ranks':>5}  {'s/epoch':>8}  {'comm s/epoch':>12}  {'comm share':>10}  {'loss':>7}")
    for r in runs:
        later = slice(1, None) if len(r["seconds"]) > 1 else slice(None)
        epoch = float(np.median(r["seconds"][later]))
        comm = float(np.median(r["comm_seconds"][later]))
        print(
            f"  {r['ranks']:>5}  {epoch:8.3f}  {comm:12.3f}  {comm / epoch:10.1%}  {r['loss']:7.4f}"
        )
    measured = runs[-1]
    if measured["alpha"] is not None:
        print(
            f"allreduce on {measured['ranks']} ranks here: latency {measured['alpha'] * 1e6:.1f} us, "
            f"bandwidth {measured['bandwidth'] / 1e9:.2f} GB/s ({measured['describe']})"
        )
    print("projection (ring allreduce model, assumed H100-class cluster; see xpnet.bench.scaling):")
    print(
        f"  {'workload':>8}  {'GPUs':>5}  {'rows/GPU':>8}  {'step ms':>8}  {'comm share':>10}  "
        f"{'rows/GPU for comm < 20 %':>24}"
    )
    for name in ("mnist", "large"):
        for p in (8, 64, 512):
            row = project(WORKLOADS[name], p)
            print(
                f"  {name:>8}  {p:>5}  {row['rows_per_rank']:8.2f}  {row['step_s'] * 1e3:8.3f}  "
                f"{row['comm_share']:10.1%}  {row['min_rows_per_rank']:>24,}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
