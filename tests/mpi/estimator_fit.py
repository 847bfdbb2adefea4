"""The estimators with ``distributed="mpi"`` under ``mpiexec -n K`` (see tests/test_distributed.py).

Usage:
    python estimator_fit.py fit OUT            both estimators; rank r also saves to OUT/rank<r>.npz
    python estimator_fit.py fail CKPT RANK     the classifier with a checkpoint; RANK raises in epoch 2
    python estimator_fit.py resume CKPT OUT    resume the classifier from CKPT to the end
    python estimator_fit.py resume-other CKPT  resume it on other data of the same shape
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_problem import classifier, data, regressor  # noqa: E402

from xpnet import distributed  # noqa: E402


def main() -> None:
    mode, *rest = sys.argv[1:]
    comm = distributed.get_communicator("mpi")
    X, y, Y = data()
    warnings.simplefilter("ignore")
    if mode == "fit":
        out = Path(rest[0])
        clf = classifier(distributed="mpi").fit(X, y)
        reg = regressor(distributed="mpi").fit(X, Y)
        clf.save(out / "classifier.npz")
        reg.save(out / "regressor.npz")
        clf.save(out / f"rank{comm.rank}.npz")  # only rank 0's may appear
    elif mode == "fail":
        failing = int(rest[1])

        def on_epoch(epoch: int, row: dict) -> None:
            if epoch == 2 and comm.rank == failing:
                raise RuntimeError(f"rank {comm.rank} fails in epoch {epoch}")

        classifier(distributed="mpi").fit(X, y, checkpoint=rest[0], on_epoch=on_epoch)
    elif mode == "resume":
        clf = classifier(distributed="mpi").fit(X, y, checkpoint=rest[0], resume=True)
        clf.save(Path(rest[1]) / "resumed.npz")
    elif mode == "resume-other":  # the same shape, other values: refused on every rank
        classifier(distributed="mpi").fit(X + 1.0, y, checkpoint=rest[0], resume=True)


if __name__ == "__main__":
    main()
