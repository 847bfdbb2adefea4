"""A job whose rank 1 fails while rank 0 waits in a collective.

Usage: python fail.py OUT_DIR MODE, MODE one of
    context: rank 1 raises inside ``abort_on_error``;
    hook:    rank 1 raises an uncaught exception (``install_abort_on_error``);
    kill:    rank 1 sends itself SIGKILL.

Rank 1 writes the time just before it fails to ``OUT_DIR/failed_at``; rank 0
prints "rank 0 finished" only if its collective ever returns (it must not).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

from xpnet import distributed as d


def fail(out: str, mode: str) -> None:
    with open(os.path.join(out, "failed_at"), "w") as f:
        f.write(repr(time.time()))
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError(f"deliberate failure on rank 1 ({mode})")


def main() -> None:
    out, mode = sys.argv[1], sys.argv[2]
    comm = d.get_communicator("mpi")
    if mode == "hook":
        d.install_abort_on_error(comm)
    comm.barrier()  # both ranks are up; rank 0 then blocks in the allreduce below
    if comm.rank == 1:
        time.sleep(0.2)
        if mode == "context":
            with d.abort_on_error(comm):
                fail(out, mode)
        fail(out, mode)
    with d.abort_on_error(comm):
        comm.allreduce_sum([np.ones(3)])
    print(f"rank {comm.rank} finished", flush=True)


if __name__ == "__main__":
    main()
