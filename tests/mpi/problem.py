"""The training run that tests/test_distributed.py runs on one process and on K ranks."""

from __future__ import annotations

import numpy as np

import xpnet
from xpnet import optim
from xpnet.functional import get_activation
from xpnet.losses import CROSS_ENTROPY
from xpnet.step import StepSpec, build_step
from xpnet.train import EpochData, TrainConfig, TrainState, train

SOLVERS = ("sgd", "adam")
N_ROWS = 301  # batches of 64 split 21/21/22 over 3 ranks; the last batch has 45 rows
BATCH = 64


def run(solver: str, comm=None) -> TrainState:
    """Three epochs of float64 training on the digits, with every penalty on."""
    b = xpnet.get_backend("numpy")
    X, y = xpnet.datasets.load_digits()
    X, y = X[:N_ROWS] / 16.0, y[:N_ROWS]
    opt = optim.sgd(0.05, momentum=0.9, nesterov=True) if solver == "sgd" else optim.adam(0.01)
    spec = StepSpec(CROSS_ENTROPY, get_activation("tanh"), opt, (1e-4, 0.0), (1e-3, 1e-3), 1e-4)
    config = TrainConfig(spec, batch_size=BATCH, max_epochs=3, n_iter_no_change=100)
    params = xpnet.mlp.init_params((64, 16, 10), "tanh", b.xp, b.device, "float64", seed=5)
    data = EpochData(b.asarray(X, "float64"), b.asarray(y))
    step = build_step(spec, b, dtype=data.X.dtype)
    state = TrainState(params=params, opt_state=opt.init(params))
    return train(state, data, config, step, backend=b, rng=np.random.default_rng(11), comm=comm)
