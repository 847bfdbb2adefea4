"""Train with ``xpnet.train`` under ``mpiexec -n K``: data-parallel over the ranks.

Usage: python train_loop.py OUT_DIR

Every rank gets the same data and seed; rank 0 writes ``OUT_DIR/<solver>.npz``
with the final parameters and the history's training loss, which
tests/test_distributed.py compares with the same training run in one process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xpnet import distributed as d

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problem import SOLVERS, run  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    comm = d.get_communicator("mpi")
    with d.abort_on_error(comm):
        for solver in SOLVERS:
            state = run(solver, comm)
            if comm.is_root:
                arrays = {f"p{i}": np.asarray(a) for i, a in enumerate(_leaves(state.params))}
                arrays["loss"] = np.asarray(state.history["train_loss"])
                arrays["error"] = np.asarray(state.history["train_error"])
                np.savez(out / f"{solver}.npz", **arrays)


def _leaves(params):
    return [leaf for pair in params for leaf in pair]


if __name__ == "__main__":
    main()
