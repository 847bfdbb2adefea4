"""The minibatch training loop around one pure step: shuffling, evaluation, stopping, history.

The loop is backend-agnostic: it drives a ``step.Step`` built once per fit
(``build_step``; compiled where the backend can) and never touches the math.
Its contract with the device:

* the training set is moved to the backend's device once (by the caller) and
  minibatches are taken there (``take`` with an index vector moved once per
  epoch); when the data do not fit in the device's free memory they stay on
  the host and each minibatch is moved on its own (streaming);
* on JAX with ``compile="auto"`` an epoch's full-size minibatches run as one
  compiled loop (``lax.scan``), and the last, smaller one on its own;
* the loss and the metric are accumulated on the device and read once per
  epoch, never once per step; the per-batch callback gets counts only;
* training never computes dR/dX.

Randomness (the shuffling order) comes from a host ``numpy.random.Generator``
so every backend sees the same minibatches. With a communicator of several
processes (``distributed``), each process computes the gradient of its
contiguous share of every global minibatch and the gradients are summed
between ``grads_step`` and ``update``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .backend import (
    block_rows,
    gather_rows,
    host_arange,
    is_out_of_core,
    release_every_rows,
    release_host_pages,
)
from .optim import current_learning_rate, scale_learning_rate
from .step import Step, StepSpec

Array = Any

__all__ = [
    "DivergenceError",
    "TrainState",
    "TrainConfig",
    "Callbacks",
    "EpochData",
    "train",
    "evaluate",
    "history_keys",
    "check_history",
]

# The epoch's loss and metric are summed on the device every this many steps or rows.
_SUM_EVERY_STEPS = 256
_SUM_EVERY_ROWS = 1 << 20

#: Eval-set names that would collide with the history's own columns.
RESERVED_EVAL_NAMES = ("train", "val", "epoch", "learning_rate", "seconds")


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
        opt_state: the optimizer's ``OptimizerState``.
        epoch: epochs completed.
        rng_state: the host bit generator's state for the next epoch's shuffle.
        history: per-epoch lists (see ``train``).
        best_params: parameters with the best validation score so far (early stopping).
        best_score: best validation score, or best training loss without
            validation; None before the first epoch.
        no_improvement: scikit-learn's counter of epochs without an improvement
            larger than ``tol``.
        stopped: why training stopped (``""`` while it can go on).
    """

    params: Any
    opt_state: Any
    epoch: int = 0
    rng_state: dict | None = None
    history: dict = field(default_factory=dict)
    best_params: Any = None
    best_score: float | None = None
    no_improvement: int = 0
    stopped: str = ""


@dataclass
class EpochData:
    """A data set on one backend (or on the host, for streaming).

    Attributes:
        X: features (n, d).
        y: class indices (n,) or regression targets (n, k).
        w: sample weights (n,) on the same side as X, or None.
        on_host: X and y are NumPy arrays, moved a minibatch at a time.
        dtype: for host data, the dtype each minibatch of X gets on the device.
        w_host: the sample weights as a NumPy array (the minibatch totals are
            computed on the host), or None.
        ss_tot: for regression targets, sum over outputs of sum_i (y_i - mean)^2
            (the denominator of R^2).
    """

    X: Array
    y: Array
    w: Array | None = None
    on_host: bool = False
    dtype: Any = None
    w_host: Any = None
    ss_tot: float | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.y.shape[0])


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the step's spec and the loop's settings.

    Attributes:
        spec: the ``step.StepSpec`` (loss, activation, optimizer, penalties).
        batch_size: rows per global minibatch (the last one may be smaller).
        max_epochs: total epochs, counting those already in ``state.epoch``.
        shuffle: reshuffle the training rows each epoch.
        early_stopping: stop on the validation score (accuracy, or R^2 for a
            regressor) and restore the best parameters.
        n_iter_no_change: scikit-learn's patience (an int, or ``math.inf``).
        tol: the smallest improvement that counts.
        adaptive: scikit-learn's ``learning_rate="adaptive"``: when the patience
            runs out, divide the learning rate by 5 instead of stopping, until
            it is below 1e-6.
        on_divergence: ``"raise"`` or ``"halve_lr"``.
        max_halvings: how many times ``"halve_lr"`` may halve the rate in one epoch.
        compile: ``"none"`` or ``"jit"`` (resolved by ``Backend.compile_mode``).
    """

    spec: StepSpec
    batch_size: int
    max_epochs: int
    shuffle: bool = True
    early_stopping: bool = False
    n_iter_no_change: float = 10
    tol: float = 1e-4
    adaptive: bool = False
    on_divergence: str = "raise"
    max_halvings: int = 30
    compile: str = "none"

    def __post_init__(self) -> None:
        if self.on_divergence not in ("raise", "halve_lr"):
            raise ValueError(
                f"on_divergence: expected 'raise' or 'halve_lr', got {self.on_divergence!r}"
            )
        if self.compile not in ("none", "jit"):
            raise ValueError(f"compile: expected 'none' or 'jit' here, got {self.compile!r}")

    @property
    def metric(self) -> str:
        """``"error"`` (classifier) or ``"r2"`` (regressor): the history's metric."""
        return "error" if self.spec.loss.name == "softmax_cross_entropy" else "r2"


@dataclass(frozen=True)
class Callbacks:
    """What the loop calls; none of them is given device arrays to read.

    Attributes:
        on_batch: ``(batch_index, n_batches)`` after each step (after each
            compiled epoch when the epoch runs as one loop).
        on_epoch: ``(epoch, row)`` after each epoch, ``row`` being that epoch's
            history row.
        on_checkpoint: ``(state)`` at each epoch end (write it to disk).
    """

    on_batch: Callable[[int, int], None] | None = None
    on_epoch: Callable[[int, dict], None] | None = None
    on_checkpoint: Callable[[TrainState], None] | None = None


# ----------------------------------------------------------------------------- data access


def _take_rows(data: EpochData, rows: Any, backend: Any, xp: Any) -> tuple[Array, Array, Any]:
    """Rows of X, y and w: a device ``take`` with an index array, or a slice."""
    if data.on_host:
        X, y = gather_rows(data.X, rows), data.y[rows]
        w = None if data.w is None else backend.asarray(data.w[rows], data.dtype)
        return backend.asarray(X, data.dtype), backend.asarray(y, _host_target_dtype(data)), w
    if isinstance(rows, slice):
        w = None if data.w is None else data.w[rows]
        return data.X[rows, ...], data.y[rows, ...], w
    w = None if data.w is None else xp.take(data.w, rows, axis=0)
    return xp.take(data.X, rows, axis=0), xp.take(data.y, rows, axis=0), w


def _host_target_dtype(data: EpochData) -> Any:
    """Regression targets get the features' dtype; class indices keep theirs."""
    return data.dtype if data.y.dtype.kind == "f" else None


def evaluate(
    params: Any,
    data: EpochData,
    spec: StepSpec,
    backend: Any,
    chunk: int = 8192,
    step: Step | None = None,
) -> tuple[Array, Array]:
    """The mean data loss (no penalty) and the metric sum of ``params`` on ``data``.

    Computed in chunks of ``chunk`` rows to bound memory (with ``step``'s
    compiled evaluation where it has one); returns 0-d device arrays and
    reads nothing back.
    """
    from .step import make_evaluate

    xp = backend.xp
    n = data.n
    run = step.evaluate if step is not None and step.evaluate is not None else None
    run = run or make_evaluate(spec, xp)
    loss_sum: Any = 0.0
    metric_sum: Any = 0.0
    if data.on_host and is_out_of_core(data.X):  # a memory map: blocks within the page budget
        chunk = min(chunk, block_rows(data.X))
    for start in range(0, n, chunk):
        Xb, yb, _ = _take_rows(data, slice(start, min(start + chunk, n)), backend, xp)
        if data.on_host:
            release_host_pages(data.X)  # a memory-mapped X does not stay resident
        chunk_loss, chunk_metric = run(params, Xb, yb)
        loss_sum, metric_sum = loss_sum + chunk_loss, metric_sum + chunk_metric
    return loss_sum * spec.loss.report_scale / n, metric_sum


def _metric_value(metric: str, total: float, data: EpochData) -> float:
    """The history's value: the error rate, or R^2 = 1 - SS_res / SS_tot."""
    if metric == "error":
        return total / data.n
    if not data.ss_tot:
        return 1.0 if total == 0 else 0.0  # constant targets: scikit-learn's r2_score rule
    return 1.0 - total / data.ss_tot


# ----------------------------------------------------------------------------- the loop


def train(
    state: TrainState,
    train_data: EpochData,
    config: TrainConfig,
    step: Step,
    *,
    backend: Any,
    rng: Any,
    validation: EpochData | None = None,
    eval_sets: Mapping[str, EpochData] | None = None,
    callbacks: Callbacks | None = None,
    comm: Any = None,
) -> TrainState:
    """Run epochs from ``state`` until ``config.max_epochs`` or convergence; return the state.

    Args:
        state: where to start (a fresh ``TrainState`` or one loaded from a checkpoint).
        train_data: the training set, on the device (or on the host when streaming).
        config: the ``TrainConfig``.
        step: the ``Step`` built for ``config.spec`` on ``backend``.
        backend: the ``Backend`` the arrays live on.
        rng: the host generator that shuffles; its state is set from
            ``state.rng_state`` when that is given.
        validation: a held-out set whose score drives early stopping.
        eval_sets: more sets to report loss and metric on each epoch (e.g. a test set).
        callbacks: per-batch, per-epoch and checkpoint hooks.
        comm: a ``distributed.Communicator``, or None. With several processes,
            every process passes the same arguments (the whole training set and
            the same seed); each computes the gradient of its contiguous share of
            every global minibatch of ``config.batch_size`` rows, the gradients
            are summed, and every decision (divergence, stopping) is taken on the
            summed epoch totals, so the processes stay identical (checked once
            per epoch: ``distributed.DesyncError``).

    History keys: ``epoch``, ``train_loss`` (the objective averaged over the
    epoch's minibatches, penalty included, as they were trained),
    ``train_error`` (running error of those minibatches; ``train_r2`` for a
    regressor), ``val_loss`` / ``val_error`` (``val_r2``) with a validation
    set (mean data loss, no penalty), ``<name>_loss`` / ``<name>_error``
    (``<name>_r2``) for each eval set, ``learning_rate``, ``seconds``.

    Raises:
        DivergenceError: the loss became NaN or inf and ``on_divergence`` could
            not recover; ``error.state`` holds the parameters of the epoch's start.
    """
    callbacks = callbacks or Callbacks()
    eval_sets = dict(eval_sets or {})
    check_eval_names(eval_sets)
    if state.rng_state is not None:
        rng.bit_generator.state = state.rng_state
    history = state.history
    metric = config.metric
    for key in history_keys(validation is not None, eval_sets, metric):
        history.setdefault(key, [])
    state.opt_state = step.prepare(state.opt_state)
    n = train_data.n

    previous: _EpochStart | None = None  # the last epoch's start, to go back to (see below)
    while state.epoch < config.max_epochs and not state.stopped:
        # the epoch's start, kept to roll back to (copies where the step donates buffers)
        start_params, start_opt = step.keep(state.params), step.keep(state.opt_state)
        start_rng = rng.bit_generator.state
        record = (
            state.epoch,
            len(history.get("epoch", [])),
            state.best_score,
            state.best_params,
            state.no_improvement,
        )
        halvings = 0
        failed_epoch = state.epoch + 1
        start_checked = False
        while True:
            t0 = time.perf_counter()
            lr = current_learning_rate(config.spec.optimizer, state.opt_state)
            try:
                params, opt_state, loss_sum, metric_sum = _run_epoch(
                    step,
                    state.params,
                    state.opt_state,
                    train_data,
                    config,
                    rng,
                    backend,
                    callbacks.on_batch,
                    comm,
                )
            except BaseException:
                state.params, state.opt_state = start_params, start_opt  # interrupted: as it was
                raise
            # the epoch's one read of the device; the probe adds exactly 0 while every
            # parameter is finite, NaN once one is not (a last step can overflow them)
            probe = (
                step.probe(params)
                if step.probe is not None
                else _nonfinite_probe(params, backend.xp)
            )
            totals = [float(loss_sum + probe), float(metric_sum)]
            if comm is not None and comm.size > 1:
                totals = comm.allreduce_scalars(totals)
            train_loss = totals[0] / n
            if math.isfinite(train_loss):
                break
            what = "a parameter" if math.isfinite(float(loss_sum)) else "the loss"
            # eq. (2.6) went wrong: roll back to the start of the epoch
            state.params, state.opt_state = start_params, start_opt
            rng.bit_generator.state = start_rng
            note = ""
            if not start_checked:
                start_checked = True
                if not _predicts_finite(start_params, train_data, config, backend, step):
                    # the last epoch's final step left parameters that are finite but predict
                    # NaN or inf on the training data (|p| ~ 1e19): that epoch diverged too, and
                    # no smaller rate for this one can help; go back to the last epoch's start
                    if previous is not None and _predicts_finite(
                        previous.params, train_data, config, backend, step
                    ):
                        _rewind(state, previous)
                        start_params, start_opt = previous.params, previous.opt_state
                        start_rng = previous.rng_state
                        rng.bit_generator.state = start_rng
                        state.params, state.opt_state = start_params, start_opt
                        record = previous.record
                        previous = None
                        if callbacks.on_checkpoint is not None:  # the file follows the rewind
                            callbacks.on_checkpoint(state)
                    else:
                        note = (
                            " (they predict NaN or inf on the training data: there were no "
                            "earlier ones to go back to)"
                        )
            if config.on_divergence == "raise" or halvings >= config.max_halvings:
                state.rng_state = start_rng
                raise DivergenceError(
                    f"training diverged in epoch {failed_epoch}: {what} became {train_loss} "
                    f"with learning rate {lr:g}; parameters are restored to the start of epoch "
                    f"{state.epoch + 1}{note}. Lower the learning rate, scale the inputs, or "
                    "pass on_divergence='halve_lr'",
                    state,
                )
            halvings += 1
            start_opt = scale_learning_rate(start_opt, 0.5)
            state.params, state.opt_state = step.keep(start_params), step.keep(start_opt)
        state.params, state.opt_state = params, opt_state
        if comm is not None and comm.size > 1:
            # every rank must hold the same parameters: one cheap check an epoch
            comm.check_identical([leaf for pair in state.params for leaf in pair])
        state.epoch += 1
        row: dict[str, Any] = {
            "epoch": state.epoch,
            "train_loss": train_loss,
            f"train_{metric}": _metric_value(metric, totals[1], train_data),
        }
        if validation is not None:
            v_loss, v_metric = evaluate(state.params, validation, config.spec, backend, step=step)
            row["val_loss"] = float(v_loss)
            row[f"val_{metric}"] = _metric_value(metric, float(v_metric), validation)
        for name, data in eval_sets.items():
            e_loss, e_metric = evaluate(state.params, data, config.spec, backend, step=step)
            row[f"{name}_loss"] = float(e_loss)
            row[f"{name}_{metric}"] = _metric_value(metric, float(e_metric), data)
        row["learning_rate"] = lr
        row["seconds"] = time.perf_counter() - t0
        for key, value in row.items():
            history[key].append(value)
        _update_stopping(state, row, config, validation is not None, step)
        previous = _EpochStart(start_params, start_opt, start_rng, record)
        state.rng_state = rng.bit_generator.state
        if callbacks.on_checkpoint is not None:
            callbacks.on_checkpoint(state)
        if callbacks.on_epoch is not None:
            callbacks.on_epoch(state.epoch, row)
    if config.early_stopping and validation is not None and state.best_params is not None:
        state.params = state.best_params
    return state


@dataclass
class _EpochStart:
    """An epoch's starting point: parameters, optimizer state, shuffling state, and
    ``record``: (epoch, history rows, best_score, best_params, no_improvement) before it."""

    params: Any
    opt_state: Any
    rng_state: Any
    record: tuple


def _predicts_finite(params: Any, data: EpochData, config: TrainConfig, backend: Any, step) -> bool:
    """Whether ``params`` give a finite loss on every row of ``data`` (one evaluation pass),
    and a finite penalty: parameters whose objective overflows cannot be trained on.

    Run only when an epoch diverged, never on the way of a good epoch. Every
    process holds the whole training set, so all of them decide alike.
    """
    from .step import penalty_value

    loss, _ = evaluate(params, data, config.spec, backend, step=step)
    if config.spec.penalised:
        loss = loss + penalty_value(config.spec, params, 1.0, backend.xp)
    return math.isfinite(float(loss))


def _rewind(state: TrainState, start: _EpochStart) -> None:
    """Undo the last epoch: back to ``start``, its history row and stopping record removed."""
    epoch, rows, best_score, best_params, no_improvement = start.record
    state.epoch = epoch
    for values in state.history.values():
        del values[rows:]
    state.best_score, state.best_params = best_score, best_params
    state.no_improvement = no_improvement
    state.rng_state = start.rng_state


def _nonfinite_probe(params: Any, xp: Any) -> Any:
    """0 on the device when every parameter is finite, else NaN: sum of 0 * max|p|."""
    probe: Any = 0.0
    for pair in params:
        for leaf in pair:
            probe = probe + xp.max(xp.abs(leaf)) * 0.0
    return probe


def _batch_scales(data: EpochData, order: Any, batch: int) -> list[float]:
    """1 / (total weight) of each global minibatch, computed on the host (0 for a weightless one)."""
    n = data.n
    starts = range(0, n, batch)
    if data.w_host is None:
        return [1.0 / (min(start + batch, n) - start) for start in starts]
    weights = data.w_host if order is None else data.w_host[order]
    totals = [float(weights[start : start + batch].sum(dtype="float64")) for start in starts]
    return [1.0 / total if total > 0 else 0.0 for total in totals]


def _run_epoch(step, params, opt_state, data, config, rng, backend, on_batch, comm):
    """One pass over the data; returns new params, optimizer state and device sums."""
    xp = backend.xp
    n, batch = data.n, config.batch_size
    n_batches = math.ceil(n / batch)
    order = rng.permutation(n) if config.shuffle else None
    scales = _batch_scales(data, order, batch)
    distributed = comm is not None and comm.size > 1
    if step.epoch is not None and not data.on_host and not distributed:
        return _run_epoch_compiled(
            step, params, opt_state, data, order, scales, batch, backend, on_batch
        )
    if order is not None and not data.on_host and not distributed:
        order = backend.asarray(order)  # one move per epoch
    loss_sum: Any = 0.0
    metric_sum: Any = 0.0
    # per step only list appends: the sums are taken on the device every few hundred steps
    losses: list = []
    metrics: list = []
    pending_rows = 0
    release_batches = max(1, release_every_rows(data.X) // batch) if data.on_host else 1
    for b in range(n_batches):
        start = b * batch
        stop = min(start + batch, n)
        if distributed:
            rows = _local_share(order, start, stop, comm.rank, comm.size)
            Xb, yb, wb = _take_rows(data, rows, backend, xp)
            grads, loss, metric_b = step.grads_step(params, Xb, yb, wb, float(scales[b]))
            grads = _allreduce_grads(comm, grads, backend)
            params, opt_state = step.update(grads, opt_state, params, float(scales[b]))
        else:
            rows = order[start:stop] if order is not None else slice(start, stop)
            Xb, yb, wb = _take_rows(data, rows, backend, xp)
            params, opt_state, loss, metric_b = step.step(
                params, opt_state, Xb, yb, wb, float(scales[b])
            )
        if data.on_host and (b + 1) % release_batches == 0:
            release_host_pages(data.X)  # a memory-mapped X does not stay resident
        losses.append(loss)
        metrics.append(metric_b)
        pending_rows += stop - start
        if len(losses) >= _SUM_EVERY_STEPS or pending_rows >= _SUM_EVERY_ROWS or stop == n:
            loss_sum = loss_sum + xp.sum(xp.stack([xp.asarray(v) for v in losses]))
            metric_sum = metric_sum + xp.sum(xp.stack(metrics))
            losses, metrics, pending_rows = [], [], 0
        if on_batch is not None:
            on_batch(b, n_batches)
    return params, opt_state, loss_sum, metric_sum


def _run_epoch_compiled(step, params, opt_state, data, order, scales, batch, backend, on_batch):
    """The full-size minibatches as one compiled loop, then the last, smaller one."""
    xp = backend.xp
    n = data.n
    n_full = n // batch
    n_batches = math.ceil(n / batch)
    if order is None:
        order = host_arange(n)
    loss_sum: Any = 0.0
    metric_sum: Any = 0.0
    if n_full:
        rows = backend.asarray(order[: n_full * batch].reshape(n_full, batch))
        batch_scales = backend.asarray(scales[:n_full], data.X.dtype)
        params, opt_state, loss_sum, metric_sum = step.epoch(
            params, opt_state, data.X, data.y, data.w, rows, batch_scales
        )
        if on_batch is not None:
            on_batch(n_full - 1, n_batches)
    if n_full * batch < n:
        rows = backend.asarray(order[n_full * batch :])
        Xb, yb, wb = _take_rows(data, rows, backend, xp)
        params, opt_state, loss, metric_b = step.step(
            params, opt_state, Xb, yb, wb, float(scales[-1])
        )
        loss_sum, metric_sum = loss_sum + loss, metric_sum + metric_b
        if on_batch is not None:
            on_batch(n_batches - 1, n_batches)
    return params, opt_state, loss_sum, metric_sum


def _local_share(order: Any, start: int, stop: int, rank: int, size: int) -> Any:
    """This process's contiguous share of the global minibatch rows [start, stop)."""
    count = stop - start
    lo = start + (count * rank) // size
    hi = start + (count * (rank + 1)) // size
    return order[lo:hi] if order is not None else slice(lo, hi)


def _allreduce_grads(comm: Any, grads: list, backend: Any) -> list:
    """Sum the gradients over the processes (one buffer) and rebuild ``[(dW, db), ...]``."""
    leaves = [leaf for pair in grads for leaf in pair]
    summed = comm.allreduce_sum(leaves, backend)
    return [(summed[i], summed[i + 1]) for i in range(0, len(summed), 2)]


# ----------------------------------------------------------------------------- history, stopping


def history_keys(has_validation: bool, eval_sets: Mapping, metric: str = "error") -> list[str]:
    """The history's columns for a run with (or without) validation and these eval sets."""
    keys = ["epoch", "train_loss", f"train_{metric}"]
    if has_validation:
        keys += ["val_loss", f"val_{metric}"]
    for name in eval_sets:
        keys += [f"{name}_loss", f"{name}_{metric}"]
    return keys + ["learning_rate", "seconds"]


def check_history(history: Mapping, has_validation: bool, eval_sets: Mapping, metric: str) -> bool:
    """Whether ``history`` has exactly the columns of such a run (a resumed run must)."""
    return set(history) == set(history_keys(has_validation, eval_sets, metric))


def check_eval_names(eval_sets: Mapping) -> None:
    """Refuse eval-set names that would overwrite the history's own columns."""
    for name in eval_sets:
        if not isinstance(name, str) or not name:
            raise TypeError(f"eval_sets: names must be non-empty strings, got {name!r}")
        if name in RESERVED_EVAL_NAMES:
            raise ValueError(
                f"eval_sets: the name {name!r} is taken by the history's own columns "
                f"({', '.join(RESERVED_EVAL_NAMES)}); choose another, e.g. 'test'"
            )


def _update_stopping(
    state: TrainState, row: dict, config: TrainConfig, has_validation: bool, step: Step
) -> None:
    """scikit-learn's stopping rule (``_update_no_improvement_count``), counted as it counts.

    With early stopping: the counter grows when the validation score is below
    best + tol; the best parameters are kept when it is above the best. Without:
    the counter grows when the training loss is above best - tol. Training stops
    when the counter exceeds ``n_iter_no_change`` (or, with ``adaptive``, the
    learning rate is divided by 5 and the counter reset, until it is <= 1e-6).
    """
    tol = config.tol
    if config.early_stopping and has_validation:
        metric = config.metric
        score = 1.0 - row["val_error"] if metric == "error" else row["val_r2"]
        best = -math.inf if state.best_score is None else state.best_score
        state.no_improvement = state.no_improvement + 1 if score < best + tol else 0
        if score > best:
            state.best_score = score
            state.best_params = step.keep(state.params)
        what = "validation score"
    else:
        loss = row["train_loss"]
        best = math.inf if state.best_score is None else state.best_score
        state.no_improvement = state.no_improvement + 1 if loss > best - tol else 0
        if loss < best:
            state.best_score = loss
        what = "training loss"
    if state.no_improvement > config.n_iter_no_change:
        if config.adaptive and row["learning_rate"] > 1e-6:
            state.opt_state = scale_learning_rate(state.opt_state, 0.2)
            state.no_improvement = 0
            return
        state.stopped = (
            f"{what} did not improve more than tol={tol:g} "
            f"for {config.n_iter_no_change} consecutive epochs"
        )
