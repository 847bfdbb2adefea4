"""The fits tests/test_distributed.py runs on one process and on several ranks."""

from __future__ import annotations

import numpy as np

import xpnet

EPOCHS = 4


def data():
    X, y = xpnet.datasets.load_digits()
    X, y = X[:250] / 16.0, y[:250]
    Y = np.stack([X[:, :32].mean(axis=1), X[:, 32:].std(axis=1)], axis=1)  # two targets
    return X, y, Y


def classifier(**kw):
    return xpnet.MLPClassifier(
        hidden_layer_sizes=(12,),
        solver="sgd",
        learning_rate_init=0.05,
        batch_size=64,
        max_iter=EPOCHS,
        dtype="float64",
        backend="numpy",
        random_state=3,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=100,
        **kw,
    )


def regressor(**kw):
    return xpnet.MLPRegressor(
        hidden_layer_sizes=(8,),
        solver="adam",
        learning_rate_init=0.01,
        batch_size=50,
        max_iter=EPOCHS,
        dtype="float64",
        backend="numpy",
        random_state=4,
        **kw,
    )
