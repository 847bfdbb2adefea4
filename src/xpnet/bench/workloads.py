"""The benchmark's problems: synthetic data sets of given sizes, and the weights every contender starts from."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import backend as _backend

#: Seed of the data, the teacher labelling it and the initial weights.
SEED = 0
#: The learning rate every contender uses.
LEARNING_RATE = 0.01


@dataclass(frozen=True)
class Workload:
    """One benchmark problem.

    Attributes:
        name: the ``--workload`` name.
        n, d: samples and features of the synthetic data.
        hidden: hidden layer sizes.
        classes: number of classes.
        batch: minibatch size.
        epochs: epochs per timed run; at least 2 for a steady state apart from
            the first epoch (which holds compilation, first-call set-up).
        repeats: default number of timed rounds.
        gpu_only: CPU contenders are left out by default, except xpnet-numpy,
            which is timed on ``cpu_steps`` minibatches and extrapolated.
        cpu_steps: minibatches a sub-sampled CPU run times.
    """

    name: str
    n: int
    d: int
    hidden: tuple[int, ...]
    classes: int
    batch: int
    epochs: int
    repeats: int = 3
    gpu_only: bool = False
    cpu_steps: int = 1

    @property
    def sizes(self) -> tuple[int, ...]:
        """``(d, h_1, ..., m)``."""
        return (self.d, *self.hidden, self.classes)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch)

    @property
    def data_bytes(self) -> int:
        """Bytes of the float32 feature matrix."""
        return self.n * self.d * 4

    @property
    def matmul_flops_per_epoch(self) -> int:
        """Matmul FLOPs of one epoch: per layer 2 GEMMs (forward, dW) plus dX above the first.

        For one hidden layer that is forward 2 GEMMs + backward 3 GEMMs (no dX for
        the input layer): ``2 n (2 d h + 3 h m)``.
        """
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        per_sample = 2 * sum(i * o for i, o in pairs) + sum(i * o for i, o in pairs[1:])
        return 2 * self.n * per_sample

    def describe(self) -> str:
        arch = " -> ".join(str(s) for s in self.sizes)
        epochs = f"{self.epochs} epoch" + ("s" if self.epochs > 1 else "")
        return (
            f"{self.name}: {self.n:,} x {self.d:,} float32, {arch}, batch {self.batch}, "
            f"{epochs} ({self.steps_per_epoch} steps/epoch), SGD lr {LEARNING_RATE}"
        )


WORKLOADS = {
    "tiny": Workload("tiny", 600, 20, (16,), 3, 64, 2),
    "digits": Workload("digits", 1797, 64, (100,), 10, 32, 20, repeats=11),
    "mnist": Workload("mnist", 60_000, 784, (256,), 10, 128, 2, repeats=5),
    "large": Workload("large", 8192, 4096, (4096,), 10, 4096, 2, repeats=5, gpu_only=True),
}


def make_data(wl: Workload) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic float32 features (standard normal) and int64 labels from a random linear teacher."""
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((wl.n, wl.d), dtype=np.float32)
    teacher = rng.standard_normal((wl.d, wl.classes), dtype=np.float32)
    y = np.argmax(X @ teacher, axis=1).astype(np.int64)
    y[: wl.classes] = np.arange(wl.classes)  # every class present
    return X, y


def initial_params(wl: Workload) -> list:
    """The initial weights every contender starts from: those of ``MLPClassifier(random_state=SEED)``."""
    from ..mlp import init_params

    params = init_params(wl.sizes, "relu", dtype="float32", seed=SEED)
    return [(_backend.to_numpy(W), _backend.to_numpy(b)) for W, b in params]
