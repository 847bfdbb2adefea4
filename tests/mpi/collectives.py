"""Exercise xpnet.distributed under ``mpiexec -n K`` (or alone, as an MPI singleton).

Usage: python collectives.py OUT_DIR [--torch]

Each rank writes ``OUT_DIR/rank<r>.json`` (metadata, messages, timings) and
``OUT_DIR/rank<r>.npz`` (the arrays it received); tests/test_distributed.py
checks them against closed forms. Any failure on a rank ends the whole job
with a non-zero status (``install_abort_on_error``).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from xpnet import distributed as d


def rank_arrays(r: int) -> dict[str, np.ndarray]:
    """Rank r's arrays; their sums over r = 0..K-1 have closed forms (see the test)."""
    return {
        "f32": (r + 1) * np.arange(12, dtype=np.float32).reshape(3, 4),
        "f64": np.arange(5, dtype=np.float64) + 0.5 * (r + 1),
        "i64": np.asarray(7 * r, dtype=np.int64),
        "f16": np.full((2, 2), r + 1, dtype=np.float16),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "f32b": np.full((2, 1, 3), -float(r), dtype=np.float32),
    }


def main() -> None:
    out, flags = sys.argv[1], sys.argv[2:]
    result: dict = {
        "launcher_size": d.launcher_world_size(),
        "launcher_rank": d.launcher_rank(),
        "pid": os.getpid(),
    }
    try:
        d.refuse_unrequested_launch(None)
        result["refused"] = ""
    except ValueError as e:
        result["refused"] = str(e)
    d.refuse_unrequested_launch("mpi")  # requested: never refuses

    comm = d.get_communicator("mpi")
    d.install_abort_on_error(comm)
    assert d.get_communicator("mpi") is comm
    r, k = comm.rank, comm.size
    result.update(
        rank=r,
        size=k,
        local_rank=comm.local_rank,
        local_size=comm.local_size,
        is_root=comm.is_root,
        staging=comm.staging,
        staging_reason=comm.staging_reason,
        describe=comm.describe(),
    )
    arrays: dict[str, np.ndarray] = {}

    names = list(rank_arrays(r))
    summed = comm.allreduce_sum(list(rank_arrays(r).values()))
    assert len(summed) == len(names)
    result["numpy_types"] = [type(a).__name__ for a in summed]
    for name, a in zip(names, summed, strict=True):
        arrays[f"numpy_{name}"] = a

    if "--torch" in flags:
        try:
            import torch
        except Exception as e:
            result["torch"] = f"not importable: {type(e).__name__}: {e}"
        else:
            ins = [torch.from_numpy(np.array(a)) for a in rank_arrays(r).values()]
            outs = comm.allreduce_sum(ins)
            result["torch"] = "ok"
            result["torch_dtypes"] = [str(t.dtype) for t in outs]
            result["torch_devices"] = [str(t.device) for t in outs]
            result["torch_types"] = [type(t).__name__ for t in outs]
            for name, t in zip(names, outs, strict=True):
                arrays[f"torch_{name}"] = t.numpy()

    result["scalars_sum"] = comm.allreduce_scalars([r, 1.0, 0.25 * r])
    result["scalars_max"] = comm.allreduce_scalars([r, -r], op="max")
    result["scalars_min"] = comm.allreduce_scalars([r, -r], op="min")
    result["allgather"] = comm.allgather(r * 10)

    obj = {"epoch": 3, "note": "from the root", "w": np.arange(4.0)} if comm.is_root else None
    got = comm.broadcast(obj, root=0)
    result["broadcast"] = {"epoch": got["epoch"], "note": got["note"], "w": got["w"].tolist()}
    result["broadcast_last"] = comm.broadcast(r if r == k - 1 else None, root=k - 1)

    # identical parameters pass; a one-ulp change on rank 1 is caught on every rank
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(4)]
    comm.check_identical(params, "parameters")
    if r == 1:
        params[1][2] = np.nextafter(params[1][2], np.inf)
    try:
        comm.check_identical(params, "parameters")
        result["desync"] = ""
    except d.DesyncError as e:
        result["desync"] = str(e)
    comm.barrier()

    result["threads"] = d.limit_threads(comm, verbose=True)
    result["threads_again"] = d.limit_threads(comm)  # its own OMP_NUM_THREADS is not the user's
    from threadpoolctl import threadpool_info

    result["threadpool_threads"] = [lib["num_threads"] for lib in threadpool_info()]
    result["omp_env"] = os.environ.get("OMP_NUM_THREADS")
    result["cpus"] = len(os.sched_getaffinity(0))

    timing = d.measure_allreduce(comm, sizes_bytes=(8, 65536, 1 << 20), repeats=20)
    result["timing"] = {
        "sizes": list(timing.sizes_bytes),
        "seconds": list(timing.seconds),
        "alpha": timing.alpha,
        "beta": timing.beta,
        "ranks": timing.ranks,
    }
    result["device_numpy"] = d.device_for_local_rank("numpy", comm.local_rank)
    result["device_cupy4"] = d.device_for_local_rank("cupy", comm.local_rank, device_count=4)

    np.savez(os.path.join(out, f"rank{r}.npz"), **arrays)
    with open(os.path.join(out, f"rank{r}.json"), "w") as f:
        json.dump(result, f)
    print(f"rank {r} of {k} done", flush=True)


if __name__ == "__main__":
    main()
