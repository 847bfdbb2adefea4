"""The minibatch training loop: shuffling, evaluation, early stopping, history, checkpoints.

The loop is written against the array API like the rest of the math. Its
contract with the device:

* the training set is moved to the backend's device once (by the caller) and
  minibatches are taken there (``take`` with an index vector moved once per
  epoch); when the data do not fit in the device's free memory they stay on
  the host and each minibatch is moved on its own (streaming);
* the loss and error are accumulated on the device and read once per epoch,
  never once per step; the per-batch callback gets counts only;
* training never computes dR/dX.

Randomness (the shuffling order) comes from a host ``numpy.random.Generator``
so every backend sees the same minibatches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .mlp import value_and_grads
from .optim import Optimizer, current_learning_rate

Array = Any

__all__ = ["DivergenceError", "TrainState", "EpochData", "train", "evaluate"]

# The epoch's loss and error are summed on the device every this many steps or rows.
_SUM_EVERY_STEPS = 256
_SUM_EVERY_ROWS = 1 << 20


class DivergenceError(FloatingPointError):
    """The training loss became NaN or inf.

    Attributes:
        state: the ``TrainState`` restored to the start of the diverged epoch
            (its params are the last good ones), or None.
    """

    def __init__(self, message: str, state: TrainState | None = None):
        super().__init__(message)
        self.state = state


@dataclass
class TrainState:
    """Everything that determines the rest of a run; saved in checkpoints.

    Attributes:
        params: the current parameters.
        opt_state: the optimizer's state (``count``, ``lr_scale``, ``slots``).
        epoch: epochs completed.
        rng_state: the host bit generator's state for the next epoch's shuffle.
        history: per-epoch lists (see ``train``).
        best_params: parameters with the best validation score so far (early stopping).
        best_score: best validation accuracy, or best training loss without validation.
        no_improvement: epochs in a row without an improvement larger than ``tol``.
        stopped: why training stopped (``""`` while it can go on).
    """

    params: Any
    opt_state: dict
    epoch: int = 0
    rng_state: dict | None = None
    history: dict = field(default_factory=dict)
    best_params: Any = None
    best_score: float | None = None
    no_improvement: int = 0
    stopped: str = ""


@dataclass
class EpochData:
    """A labelled data set on one backend (or on the host, for streaming)."""

    X: Array
    y: Array
    on_host: bool = False
    dtype: Any = None  # for host data: the dtype each minibatch gets on the device


def _take_rows(data: EpochData, rows: Any, backend: Any, xp: Any) -> tuple[Array, Array]:
    """Rows of X and y: a device ``take`` with an index array, or a slice."""
    if data.on_host:
        X, y = data.X[rows], data.y[rows]
        return backend.asarray(X, data.dtype), backend.asarray(y)
    if isinstance(rows, slice):
        return data.X[rows, ...], data.y[rows]
    return xp.take(data.X, rows, axis=0), xp.take(data.y, rows, axis=0)


def evaluate(
    params: Any,
    data: EpochData,
    activation: Any,
    backend: Any,
    chunk: int = 8192,
) -> tuple[Array, Array]:
    """Mean cross-entropy and the number of errors of ``params`` on ``data`` (0-d device arrays).

    Computed in chunks of ``chunk`` rows to bound memory; nothing is read back.
    """
    from .losses import softmax_cross_entropy
    from .mlp import forward

    xp = backend.xp
    n = data.y.shape[0]
    loss_sum: Any = 0.0
    wrong: Any = 0
    for start in range(0, n, chunk):
        Xb, yb = _take_rows(data, slice(start, min(start + chunk, n)), backend, xp)
        logits, _ = forward(params, Xb, activation, xp)
        loss_sum = loss_sum + softmax_cross_entropy(logits, yb, xp) * yb.shape[0]
        wrong = wrong + xp.count_nonzero(xp.argmax(logits, axis=-1) != yb)
    return loss_sum / n, wrong


def train(
    state: TrainState,
    train_data: EpochData,
    *,
    activation: Any,
    optimizer: Optimizer,
    l1s: tuple[float, ...],
    l2s: tuple[float, ...],
    batch_size: int,
    max_epochs: int,
    rng: Any,
    backend: Any,
    shuffle: bool = True,
    validation: EpochData | None = None,
    eval_sets: Mapping[str, EpochData] | None = None,
    early_stopping: bool = False,
    n_iter_no_change: int = 10,
    tol: float = 1e-4,
    on_divergence: str = "raise",
    max_halvings: int = 30,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Run epochs from ``state`` until ``max_epochs`` or convergence; return the final state.

    Args:
        state: where to start (a fresh ``TrainState`` or one loaded from a checkpoint).
        train_data: the training set, on the device (or on the host when streaming).
        activation, l1s, l2s: as for ``mlp.objective`` (l1s / l2s already per layer).
        optimizer: an ``optim.Optimizer``; ``state.opt_state`` is its state.
        batch_size: rows per minibatch (the last one may be smaller).
        max_epochs: total epochs, counting those already in ``state.epoch``.
        rng: the host ``numpy.random.Generator`` that shuffles; its state is
            set from ``state.rng_state`` when that is given.
        backend: the ``Backend`` the arrays live on.
        validation: a held-out set whose accuracy drives early stopping.
        eval_sets: more sets to report loss / error on each epoch (e.g. a test set).
        early_stopping: stop when the validation accuracy has not improved by
            more than ``tol`` for ``n_iter_no_change`` epochs, and restore the
            best parameters. Without it (scikit-learn's rule) training stops
            when the training loss has not improved by ``tol`` for that long.
        on_divergence: ``"raise"`` (``DivergenceError``, parameters restored to
            the start of the epoch) or ``"halve_lr"`` (retry the epoch from
            there with half the learning rate, at most ``max_halvings`` times).
        on_batch: ``(batch_index, n_batches)`` after each step; reads nothing
            from the device.
        on_epoch: ``(epoch, metrics)`` after each epoch, metrics being that
            epoch's row of the history.
        on_checkpoint: called with the state at each epoch end (write it to disk).

    History keys: ``epoch``, ``train_loss`` (R~ averaged over the epoch's
    minibatches, penalty included, as they were trained), ``train_error``
    (running error of those minibatches), ``val_loss`` / ``val_error`` (with a
    validation set; mean cross-entropy, no penalty), ``<name>_loss`` /
    ``<name>_error`` for each eval set, ``learning_rate``, ``seconds``.
    """
    if on_divergence not in ("raise", "halve_lr"):
        raise ValueError(f"on_divergence: expected 'raise' or 'halve_lr', got {on_divergence!r}")
    xp = backend.xp
    n = int(train_data.y.shape[0])
    eval_sets = dict(eval_sets or {})
    if state.rng_state is not None:
        rng.bit_generator.state = state.rng_state
    history = state.history
    _ensure_history_keys(history, validation is not None, eval_sets)
    n_batches = math.ceil(n / batch_size)

    while state.epoch < max_epochs and not state.stopped:
        start_params, start_opt = state.params, state.opt_state  # pure updates: no copy needed
        start_rng = rng.bit_generator.state
        halvings = 0
        while True:
            t0 = time.perf_counter()
            lr = current_learning_rate(optimizer, state.opt_state)
            params, opt_state, loss_sum, wrong = _run_epoch(
                state.params,
                state.opt_state,
                train_data,
                n,
                batch_size,
                n_batches,
                shuffle,
                rng,
                backend,
                xp,
                activation,
                optimizer,
                l1s,
                l2s,
                on_batch,
            )
            # the epoch's one read of the device; the probe adds exactly 0 while every
            # parameter is finite, NaN once one is not (a last step can overflow them)
            train_loss = float(loss_sum + _nonfinite_probe(params, xp)) / n
            if math.isfinite(train_loss):
                break
            what = "a parameter" if math.isfinite(float(loss_sum)) else "the loss"
            # seed 2.6 went wrong: roll back to the start of the epoch
            state.params, state.opt_state = start_params, start_opt
            rng.bit_generator.state = start_rng
            if on_divergence == "raise" or halvings >= max_halvings:
                state.rng_state = start_rng
                raise DivergenceError(
                    f"training diverged in epoch {state.epoch + 1}: {what} became {train_loss} "
                    f"with learning rate {lr:g}; parameters are restored to the start of that epoch. "
                    "Lower the learning rate, scale the inputs, or pass on_divergence='halve_lr'",
                    state,
                )
            halvings += 1
            state.opt_state = dict(start_opt, lr_scale=start_opt["lr_scale"] * 0.5)
            start_opt = state.opt_state
        state.params, state.opt_state = params, opt_state
        state.epoch += 1
        row: dict[str, Any] = {
            "epoch": state.epoch,
            "train_loss": train_loss,
            "train_error": float(wrong) / n,
        }
        if validation is not None:
            v_loss, v_err = evaluate(state.params, validation, activation, backend)
            row["val_loss"], row["val_error"] = float(v_loss), float(v_err) / validation.y.shape[0]
        for name, data in eval_sets.items():
            e_loss, e_err = evaluate(state.params, data, activation, backend)
            row[f"{name}_loss"] = float(e_loss)
            row[f"{name}_error"] = float(e_err) / data.y.shape[0]
        row["learning_rate"] = lr
        row["seconds"] = time.perf_counter() - t0
        for key, value in row.items():
            history[key].append(value)
        _update_stopping(state, row, validation is not None, early_stopping, n_iter_no_change, tol)
        state.rng_state = rng.bit_generator.state
        if on_checkpoint is not None:
            on_checkpoint(state)
        if on_epoch is not None:
            on_epoch(state.epoch, row)
    if early_stopping and validation is not None and state.best_params is not None:
        state.params = state.best_params
    return state


def _nonfinite_probe(params: Any, xp: Any) -> Any:
    """0 on the device when every parameter is finite, else NaN: sum of 0 * max|p|."""
    probe: Any = 0.0
    for pair in params:
        for leaf in pair:
            probe = probe + xp.max(xp.abs(leaf)) * 0.0
    return probe


def _run_epoch(
    params,
    opt_state,
    data,
    n,
    batch_size,
    n_batches,
    shuffle,
    rng,
    backend,
    xp,
    activation,
    optimizer,
    l1s,
    l2s,
    on_batch,
):
    """One pass over the data; returns new params, optimizer state and device sums."""
    if shuffle:
        order = rng.permutation(n)
        order = order if data.on_host else backend.asarray(order)  # one move per epoch
    loss_sum: Any = 0.0
    wrong: Any = 0
    # per step only a list append and one argmax: the losses of the full minibatches and
    # the predictions are summed on the device every few hundred steps, not step by step
    full_losses: list = []
    predicted: list = []
    labels: list = []
    pending_rows = 0
    update = optimizer.update
    for b in range(n_batches):
        start = b * batch_size
        stop = min(start + batch_size, n)
        rows = order[start:stop] if shuffle else slice(start, stop)
        Xb, yb = _take_rows(data, rows, backend, xp)
        value, grads, _, logits = value_and_grads(params, Xb, yb, activation, l1s, l2s, False, xp)
        params, opt_state = update(grads, opt_state, params)
        if stop - start == batch_size:
            full_losses.append(value)
        else:  # the last, smaller minibatch
            loss_sum = loss_sum + value * (stop - start)
        predicted.append(xp.argmax(logits, axis=-1))
        labels.append(yb)
        pending_rows += stop - start
        if len(predicted) >= _SUM_EVERY_STEPS or pending_rows >= _SUM_EVERY_ROWS or stop == n:
            if full_losses:
                loss_sum = loss_sum + xp.sum(xp.stack(full_losses)) * batch_size
            wrong = wrong + xp.count_nonzero(xp.concat(predicted) != xp.concat(labels))
            full_losses, predicted, labels, pending_rows = [], [], [], 0
        if on_batch is not None:
            on_batch(b, n_batches)
    return params, opt_state, loss_sum, wrong


def history_keys(has_validation: bool, eval_sets: Mapping) -> list[str]:
    """The columns of the history for a run with (or without) validation and these eval sets."""
    keys = ["epoch", "train_loss", "train_error"]
    if has_validation:
        keys += ["val_loss", "val_error"]
    for name in eval_sets:
        keys += [f"{name}_loss", f"{name}_error"]
    return keys + ["learning_rate", "seconds"]


def _ensure_history_keys(history: dict, has_validation: bool, eval_sets: Mapping) -> None:
    for key in history_keys(has_validation, eval_sets):
        history.setdefault(key, [])


def _update_stopping(
    state: TrainState,
    row: dict,
    has_validation: bool,
    early_stopping: bool,
    n_iter_no_change: int,
    tol: float,
) -> None:
    """scikit-learn's stopping rules, on validation accuracy or on the training loss."""
    if early_stopping and has_validation:
        score = 1.0 - row["val_error"]
        if state.best_score is None or score > state.best_score:
            improved_enough = state.best_score is None or score > state.best_score + tol
            state.best_score = score
            state.best_params = state.params
        else:
            improved_enough = False
        state.no_improvement = 0 if improved_enough else state.no_improvement + 1
        if state.no_improvement >= n_iter_no_change:
            state.stopped = (
                f"validation accuracy did not improve by more than tol={tol:g} "
                f"for {n_iter_no_change} consecutive epochs"
            )
    else:
        loss = row["train_loss"]
        if state.best_score is not None and loss > state.best_score - tol:
            state.no_improvement += 1
        else:
            state.no_improvement = 0
        if state.best_score is None or loss < state.best_score:
            state.best_score = loss
        if state.no_improvement >= n_iter_no_change:
            state.stopped = (
                f"training loss did not improve by more than tol={tol:g} "
                f"for {n_iter_no_change} consecutive epochs"
            )
