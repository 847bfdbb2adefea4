"""The losses and their gradients: softmax cross-entropy (the classifier) and squared error.

For outputs ``o_a`` of shape (n, m):

* softmax cross-entropy (negative log-likelihood) with 0-based labels ``y`` (n,)::

      L_i = logsumexp(o_a[i]) - o_a[i, y_i]            eq. (2.4)
      R^  = (1/n) sum_i L_i                             eq. (2.5)
      dR^/do_a = (softmax(o_a) - onehot(y)) / n         eq. (2.7), batch mean

* squared error with targets ``y`` of shape (n, k) (the regressor, identity output)::

      L_i = 1/2 ||o_a[i] - y_i||^2                      eq. (2.19)
      R^  = (1/n) sum_i L_i,   dR^/do_a = (o_a - y) / n eq. (2.20)

A ``Loss`` is what the training step needs of one: per-row values and their
gradients, the metric the history reports, and the output function used to
predict. Labels and targets are trusted here (checking them would read the
device); the estimators validate them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from array_api_compat import array_namespace, device

from .functional import HotConstants, log_softmax, ones_of, softmax, sum_cols

Array = Any

__all__ = [
    "Loss",
    "one_hot",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_with_grad",
    "softmax_cross_entropy_rows",
    "squared_error",
    "squared_error_grad",
    "squared_error_rows",
    "CROSS_ENTROPY",
    "get_loss",
]


class Loss(NamedTuple):
    """A loss for the training step.

    Attributes:
        name: ``"softmax_cross_entropy"`` or ``"squared_error"``.
        rows: ``(outputs (n, m), target, xp, consts) -> (L (n,), dL_i/do_a (n, m))``:
            each row's loss and its gradient with respect to that row's outputs
            (not divided by n). ``consts``: a ``functional.HotConstants`` or None.
        metric: ``(outputs, target, xp) -> 0-d array``: the number of wrong
            predictions (classifier) or the residual sum of squares (regressor).
        output: outputs -> predictions (softmax probabilities, or the identity).
        report_scale: factor on the data term of the reported loss:
            1, or 1/k for k regression outputs (scikit-learn's ``loss_`` divides
            by the number of outputs; the gradient does not).
    """

    name: str
    rows: Callable[..., tuple[Array, Array]]
    metric: Callable[..., Array]
    output: Callable[..., Array]
    report_scale: float = 1.0


def one_hot(
    y: Array, num_classes: int, dtype: Any, xp: Any = None, classes: Array | None = None
) -> Array:
    """onehot_m(y): shape (n,) integer labels -> (n, m) array of ``dtype`` (eq. (2.8)).

    ``classes``: ``arange(num_classes)`` of y's dtype on its device, when one is kept.
    """
    xp = array_namespace(y) if xp is None else xp
    if classes is None:
        classes = xp.arange(num_classes, dtype=y.dtype, device=device(y))
    return xp.astype(y[:, None] == classes, dtype)


# ----------------------------------------------------------------------------- cross-entropy


def softmax_cross_entropy_rows(
    logits: Array, y: Array, xp: Any = None, consts: HotConstants | None = None
) -> tuple[Array, Array]:
    """Per-row cross-entropy L_i (n,) and dL_i/do_a = softmax(o_a) - onehot(y) (n, m).

    Shares the max shift, the exponentials and the normaliser between the two.
    """
    xp = array_namespace(logits) if xp is None else xp
    m = logits.shape[-1]
    shifted = logits - xp.max(logits, axis=-1, keepdims=True)
    exp_shifted = xp.exp(shifted)
    ones = ones_of(consts, m)
    normaliser = sum_cols(exp_shifted, xp, ones)  # sum_j exp(o_j - max), shape (n,)
    target = one_hot(y, m, logits.dtype, xp, None if consts is None else consts.classes)
    # eq. (2.4): L_i = log sum_j exp(o_j) - o_y, with the shift cancelling; the one-hot
    # row picks o_y
    loss_rows = xp.log(normaliser) - sum_cols(target * shifted, xp, ones)
    grad_rows = exp_shifted / normaliser[:, None] - target  # eq. (2.7), times n
    return loss_rows, grad_rows


def softmax_cross_entropy(logits: Array, y: Array, xp: Any = None) -> Array:
    """Mean over the batch of logsumexp(o_a) - o_a[y]; a 0-d array (eq. (2.4), (2.5))."""
    xp = array_namespace(logits) if xp is None else xp
    n, m = logits.shape
    log_probs = log_softmax(logits, xp)
    picked = xp.sum(log_probs * one_hot(y, m, logits.dtype, xp), axis=-1)
    return -xp.sum(picked) / n


def softmax_cross_entropy_grad(logits: Array, y: Array, xp: Any = None) -> Array:
    """dR^/d(logits) = (softmax(o_a) - onehot(y)) / n, shape (n, m) (eq. (2.7))."""
    return softmax_cross_entropy_with_grad(logits, y, xp)[1]


def softmax_cross_entropy_with_grad(logits: Array, y: Array, xp: Any = None) -> tuple[Array, Array]:
    """The loss and its gradient from one softmax: ``(mean loss (0-d), dR^/d(logits))``."""
    xp = array_namespace(logits) if xp is None else xp
    n = logits.shape[0]
    loss_rows, grad_rows = softmax_cross_entropy_rows(logits, y, xp)
    return xp.sum(loss_rows) / n, grad_rows / n


def _count_wrong(logits: Array, y: Array, xp: Any) -> Array:
    """The number of rows whose largest logit is not the label's, as a 0-d float array."""
    return xp.astype(xp.count_nonzero(xp.argmax(logits, axis=-1) != y), logits.dtype)


def _softmax_output(logits: Array, xp: Any = None) -> Array:
    return softmax(logits, xp)


CROSS_ENTROPY = Loss(
    "softmax_cross_entropy", softmax_cross_entropy_rows, _count_wrong, _softmax_output
)


# ----------------------------------------------------------------------------- squared error


def squared_error_rows(
    outputs: Array, y: Array, xp: Any = None, consts: HotConstants | None = None
) -> tuple[Array, Array]:
    """Per-row 1/2 ||o_a - y||^2 (n,) and its gradient o_a - y (n, k)  (eq. (2.19), (2.20))."""
    xp = array_namespace(outputs) if xp is None else xp
    residual = outputs - y
    ones = ones_of(consts, outputs.shape[-1])
    return 0.5 * sum_cols(residual * residual, xp, ones), residual


def squared_error(outputs: Array, y: Array, xp: Any = None) -> Array:
    """(1/2n) sum_i ||o_a[i] - y_i||^2, a 0-d array (eq. (2.19))."""
    xp = array_namespace(outputs) if xp is None else xp
    residual = outputs - y
    return 0.5 * xp.sum(residual * residual) / outputs.shape[0]


def squared_error_grad(outputs: Array, y: Array, xp: Any = None) -> Array:
    """d/do_a of ``squared_error``: (o_a - y) / n, shape (n, k) (eq. (2.20))."""
    return (outputs - y) / outputs.shape[0]


def _residual_sum_of_squares(outputs: Array, y: Array, xp: Any) -> Array:
    residual = outputs - y
    return xp.sum(residual * residual)


def _identity_output(outputs: Array, xp: Any = None) -> Array:
    return outputs


def squared_error_loss(n_outputs: int) -> Loss:
    """The regressor's ``Loss`` for ``n_outputs`` targets per row."""
    return Loss(
        "squared_error",
        squared_error_rows,
        _residual_sum_of_squares,
        _identity_output,
        1.0 / int(n_outputs),
    )


def get_loss(name: str | Loss, n_outputs: int = 1) -> Loss:
    """A ``Loss`` by name: ``"softmax_cross_entropy"`` or ``"squared_error"`` (or a ``Loss``)."""
    if isinstance(name, Loss):
        return name
    if name == "softmax_cross_entropy":
        return CROSS_ENTROPY
    if name == "squared_error":
        return squared_error_loss(n_outputs)
    raise ValueError(
        f"loss: unknown loss {name!r}; expected 'softmax_cross_entropy' or 'squared_error'"
    )
