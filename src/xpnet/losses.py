"""Softmax cross-entropy (negative log-likelihood) and its gradient (seed 2.4, 2.7).

For logits ``o_a`` of shape (n, m) and 0-based labels ``y`` of shape (n,):

    L_i = logsumexp(o_a[i]) - o_a[i, y_i]            (seed 2.4)
    R^  = (1/n) sum_i L_i                             (seed 2.5)
    dR^/do_a = (softmax(o_a) - onehot(y)) / n         (seed 2.7, batch mean)

Labels are trusted here (checking them would read the device); the estimator
validates them.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace, device

from .functional import cached_constant, log_softmax, ones_vector

Array = Any

__all__ = [
    "one_hot",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_with_grad",
]


def one_hot(y: Array, num_classes: int, dtype: Any, xp: Any = None) -> Array:
    """onehot_m(y): shape (n,) integer labels -> (n, m) array of ``dtype`` (seed 2.8)."""
    xp = array_namespace(y) if xp is None else xp
    dev = device(y)
    classes = cached_constant(
        ("arange", num_classes),
        y.dtype,
        dev,
        xp,
        lambda: xp.arange(num_classes, dtype=y.dtype, device=dev),
    )
    return xp.astype(y[:, None] == classes, dtype)


def softmax_cross_entropy(logits: Array, y: Array, xp: Any = None) -> Array:
    """Mean over the batch of logsumexp(o_a) - o_a[y]; a 0-d array (seed 2.4, 2.5)."""
    xp = array_namespace(logits) if xp is None else xp
    n, m = logits.shape
    log_probs = log_softmax(logits, xp)
    picked = xp.sum(log_probs * one_hot(y, m, logits.dtype, xp), axis=-1)
    return -xp.sum(picked) / n


def softmax_cross_entropy_grad(logits: Array, y: Array, xp: Any = None) -> Array:
    """dR^/d(logits) = (softmax(o_a) - onehot(y)) / n, shape (n, m) (seed 2.7)."""
    return softmax_cross_entropy_with_grad(logits, y, xp)[1]


def softmax_cross_entropy_with_grad(logits: Array, y: Array, xp: Any = None) -> tuple[Array, Array]:
    """The loss and its gradient from one softmax: ``(mean loss (0-d), dR^/d(logits))``.

    Shares the max shift, the exponentials and the normaliser between the two.
    """
    xp = array_namespace(logits) if xp is None else xp
    n, m = logits.shape
    shifted = logits - xp.max(logits, axis=-1, keepdims=True)
    exp_shifted = xp.exp(shifted)
    # sum_j exp(o_j - max), as a matrix-vector product with ones; shape (n, 1)
    normaliser = (exp_shifted @ ones_vector(m, logits, xp))[:, None]
    target = one_hot(y, m, logits.dtype, xp)
    # L_i = log sum_j exp(o_j) - o_y, with the shift cancelling (seed 2.4); the one-hot
    # row picks o_y and, summing to 1, log sum_j exp(o_j) once
    loss = xp.sum(target * (xp.log(normaliser) - shifted)) / n
    grad = (exp_shifted / normaliser - target) / n  # seed 2.7
    return loss, grad
