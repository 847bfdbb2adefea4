"""The training step: pure functions of (parameters, optimizer state, one minibatch).

Built once per fit from a loss, the hidden activation, the optimizer and the
penalty strengths, in two halves so that a reduction of the gradients across
processes (``distributed``) can sit between them:

* ``grads_step(params, Xb, yb, wb, scale) -> (grads, loss_sum, metric_sum)``:
  forward pass, loss, backprop (eq. (2.7)-(2.16)); ``grads`` is the gradient
  of ``scale * sum_i w_i L_i`` (``scale`` = 1 / the minibatch's total weight,
  its row count without sample weights; with several processes, the global
  minibatch's), ``loss_sum`` the reported objective summed over these rows
  (penalty included, once per minibatch, as eq. (2.18)), ``metric_sum`` the
  number of wrong predictions (classifier) or the residual sum of squares
  (regressor);
* ``update(grads, opt_state, params, scale) -> (params, opt_state)``: adds the
  penalty's gradient, which is the same on every process, then the optimizer.

Without a reduction the two are fused into one ``step``. The penalty is the
derivation's elastic net (``l1s``, ``l2s``, one strength per weight matrix)
plus scikit-learn's ``alpha``: ``alpha / (2 B) ||W||^2`` per minibatch of
total weight B, so its strength rides on ``scale``.

Nothing here names an array library: ``Backend.compile_step`` captures the
functions where the backend can (see ``compile``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .functional import Activation, HotConstants, l1_norm, ones_of, sq_l2_norm, sum_rows
from .losses import Loss
from .mlp import backward, forward
from .optim import Optimizer

Array = Any

__all__ = ["StepSpec", "Step", "build_step", "penalty_value", "add_penalty_grads"]


@dataclass(frozen=True)
class StepSpec:
    """What a training step computes.

    Attributes:
        loss: the ``losses.Loss``.
        activation: the hidden activation.
        optimizer: the ``optim.Optimizer``.
        l1s: L1 strengths, one per weight matrix (eq. (2.18)).
        l2s: squared-L2 strengths, one per weight matrix (eq. (2.18)).
        alpha: scikit-learn's L2 strength: alpha / (2 B) ||W||^2 per minibatch.
    """

    loss: Loss
    activation: Activation
    optimizer: Optimizer
    l1s: tuple[float, ...]
    l2s: tuple[float, ...]
    alpha: float = 0.0

    @property
    def penalised(self) -> bool:
        """Whether any penalty is on (otherwise its passes are skipped)."""
        return bool(self.alpha) or any(self.l1s) or any(self.l2s)


def penalty_value(spec: StepSpec, params: Any, scale: Any, xp: Any) -> Any:
    """sum_k l1_k ||W_k||_1 + (l2_k + alpha scale / 2) ||W_k||^2  (eq. (2.18)); 0.0 when off."""
    total: Any = 0.0
    half_alpha = 0.5 * spec.alpha
    for (W, _), l1, l2 in zip(params, spec.l1s, spec.l2s, strict=True):
        if l1:
            total = total + l1 * l1_norm(W, xp)
        if l2 or half_alpha:
            total = total + (l2 + half_alpha * scale) * sq_l2_norm(W, xp)
    return total


def add_penalty_grads(spec: StepSpec, grads: list, params: Any, scale: Any, xp: Any) -> list:
    """grads with l1_k sign(W_k) + 2 (l2_k + alpha scale / 2) W_k added to each dW_k."""
    out = []
    for (dW, db), (W, _), l1, l2 in zip(grads, params, spec.l1s, spec.l2s, strict=True):
        if l1:  # eq. (2.18): gradient of l1_k sum|W_k|
            dW = dW + l1 * xp.sign(W)
        if l2 or spec.alpha:  # eq. (2.18): gradient of l2_k sum W_k^2, and alpha's
            dW = dW + (2.0 * l2 + spec.alpha * scale) * W
        out.append((dW, db))  # biases are never penalised
    return out


def make_grads_step(spec: StepSpec, xp: Any, consts: HotConstants | None) -> Callable:
    """The gradient half: ``(params, Xb, yb, wb, scale) -> (grads, loss_sum, metric_sum)``."""
    loss, act = spec.loss, spec.activation
    report_scale = loss.report_scale

    def grads_step(params: Any, Xb: Array, yb: Array, wb: Array | None, scale: Any):
        logits, cache = forward(params, Xb, act, xp)
        loss_rows, grad_rows = loss.rows(logits, yb, xp, consts)  # eq. (2.4), (2.7)
        if wb is None:
            data_sum = sum_rows(loss_rows, xp, ones_of(consts, loss_rows.shape[0]))
            dlogits = grad_rows * scale
            weight = Xb.shape[0]
        else:
            data_sum = xp.sum(wb * loss_rows)
            dlogits = grad_rows * (wb * scale)[:, None]
            weight = xp.sum(wb)
        grads, _ = backward(params, cache, dlogits, False, xp, consts)
        loss_sum = data_sum if report_scale == 1 else report_scale * data_sum
        if spec.penalised:  # the penalty counts once per minibatch: weight * penalty / weight
            loss_sum = loss_sum + weight * penalty_value(spec, params, scale, xp)
        return grads, loss_sum, loss.metric(logits, yb, xp)

    return grads_step


def make_evaluate(spec: StepSpec, xp: Any) -> Callable:
    """``(params, Xb, yb) -> (sum of the rows' data losses, metric sum)``, for evaluation."""
    loss, act = spec.loss, spec.activation

    def evaluate(params: Any, Xb: Array, yb: Array):
        outputs, _ = forward(params, Xb, act, xp)
        loss_rows, _ = loss.rows(outputs, yb, xp)
        return xp.sum(loss_rows), loss.metric(outputs, yb, xp)

    return evaluate


def make_probe(xp: Any) -> Callable:
    """``params -> 0 + sum_k 0 * max|p_k|``: 0 while every parameter is finite, else NaN."""

    def probe(params: Any) -> Any:
        total: Any = 0.0
        for pair in params:
            for leaf in pair:
                total = total + xp.max(xp.abs(leaf)) * 0.0
        return total

    return probe


def make_update(spec: StepSpec, xp: Any) -> Callable:
    """The update half: ``(grads, opt_state, params, scale) -> (params, opt_state)``."""
    opt_update = spec.optimizer.update

    def update(grads: Any, opt_state: Any, params: Any, scale: Any):
        if spec.penalised:
            grads = add_penalty_grads(spec, grads, params, scale, xp)
        return opt_update(grads, opt_state, params)

    return update


@dataclass(frozen=True)
class Step:
    """A built training step: its functions, possibly compiled, and how to call them.

    Attributes:
        grads_step: the gradient half (see the module docstring).
        update: the update half.
        step: both fused: ``(params, opt_state, Xb, yb, wb, scale) -> (params,
            opt_state, loss_sum, metric_sum)``.
        epoch: a compiled loop over an epoch's full-size minibatches
            (``compile.scan_epoch``), or None.
        mode: ``"none"`` (eager) or ``"jit"``.
        library: the backend's library.
        donates: whether the compiled functions consume their params / state buffers.
        prepare: ``opt_state -> opt_state`` ready for these functions (count
            and lr_scale as device arrays when compiled).
        keep: ``tree -> tree`` safe to hold across steps (a copy when buffers are donated).
        evaluate: ``(params, Xb, yb) -> (data loss sum, metric sum)`` on a chunk
            (no penalty, no gradient), compiled like the step.
        probe: ``params -> 0-d array``: exactly 0 while every parameter is
            finite, NaN once one is not (sum of 0 * max|p|), compiled like the step.
    """

    grads_step: Callable
    update: Callable
    step: Callable
    epoch: Callable | None
    mode: str
    library: str
    donates: bool
    prepare: Callable[[Any], Any]
    keep: Callable[[Any], Any]
    evaluate: Callable | None = None
    probe: Callable | None = None


def build_step(
    spec: StepSpec,
    backend: Any,
    *,
    mode: str = "none",
    batch_sizes: tuple[int, ...] = (),
    hidden_sizes: tuple[int, ...] = (),
    n_classes: int | None = None,
    label_dtype: Any = None,
    dtype: Any = None,
    whole_epoch: bool = True,
    has_weights: bool = False,
) -> Step:
    """Build the step for ``spec`` on ``backend``, compiled when ``mode`` is ``"jit"``.

    Args:
        spec: what the step computes.
        backend: the ``Backend`` the arrays live on.
        mode: ``"none"`` or ``"jit"`` (already resolved: ``compile.resolve_mode``).
        batch_sizes: the minibatch row counts the fit uses (for the kept ones vectors).
        hidden_sizes, n_classes, label_dtype: likewise for the kept constants.
        dtype: the parameters' dtype (a dtype of ``backend.xp``).
        whole_epoch: also build a compiled loop over an epoch (JAX only; only
            when nothing needs the host between minibatches).
        has_weights: whether sample weights will be passed.
    """
    xp = backend.xp
    compiled = mode == "jit"
    consts = None
    if not compiled:
        # eager: the ones vectors and class indices are made once, here, not every step
        lengths = set(batch_sizes) | set(hidden_sizes)
        if n_classes is not None:
            lengths.add(n_classes)
        consts = HotConstants(
            xp,
            backend.device,
            dtype,
            sorted(lengths),
            n_classes if label_dtype else None,
            label_dtype,
        )
    grads_step = make_grads_step(spec, xp, consts)
    update = make_update(spec, xp)

    def fused(params, opt_state, Xb, yb, wb, scale):
        grads, loss_sum, metric_sum = grads_step(params, Xb, yb, wb, scale)
        params, opt_state = update(grads, opt_state, params, scale)
        return params, opt_state, loss_sum, metric_sum

    if not compiled:
        return Step(
            grads_step,
            update,
            fused,
            None,
            "none",
            backend.library,
            False,
            lambda s: s,
            lambda t: t,
            make_evaluate(spec, xp),
            make_probe(xp),
        )
    epoch = None
    if whole_epoch and backend.library == "jax":
        epoch = backend.compile_epoch(fused, has_weights)
    donates = backend.library == "jax"
    return Step(
        backend.compile_step(grads_step),
        backend.compile_step(update, donate_argnums=(0, 1, 2) if donates else ()),
        backend.compile_step(fused, donate_argnums=(0, 1) if donates else ()),
        epoch,
        "jit",
        backend.library,
        donates,
        lambda s: backend.state_arrays(s, dtype),
        backend.copy_tree if donates else (lambda t: t),
        backend.compile_step(make_evaluate(spec, xp)),
        backend.compile_step(make_probe(xp)),
    )
