"""The derivation's elastic net, eq. (2.18): per weight matrix L1 and squared L2, never on biases::

    penalty = sum_k ( l1_k * sum|W_k| + l2_k * sum W_k^2 )
    d penalty / dW_k = l1_k * sign(W_k) + 2 * l2_k * W_k
    d penalty / db_k = 0

``l1`` and ``l2`` are one float for every weight matrix or a sequence with one
value per weight matrix (the derivation's lambda_11, lambda_21, ... and
lambda_12, lambda_22, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

from .functional import l1_norm, l1_norm_grad, sq_l2_norm, sq_l2_norm_grad

Array = Any

__all__ = ["per_layer", "elastic_net", "elastic_net_grad", "add_elastic_net"]


def per_layer(strength: float | Sequence[float], n_layers: int, name: str) -> tuple[float, ...]:
    """Expand ``strength`` to one non-negative finite float per weight matrix.

    Raises:
        ValueError: a sequence of the wrong length, or a negative / non-finite value.
        TypeError: not a number or a sequence of numbers.
    """
    if isinstance(strength, (int, float)) and not isinstance(strength, bool):
        values = (float(strength),) * n_layers
    elif isinstance(strength, Sequence) and not isinstance(strength, str):
        values = tuple(strength)
        if len(values) != n_layers:
            raise ValueError(
                f"{name}: expected one float or {n_layers} values (one per weight matrix), "
                f"got {len(values)} values"
            )
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"{name}: expected numbers, got {type(v).__name__} {v!r}")
        values = tuple(float(v) for v in values)
    else:
        # numpy scalars and 0-d arrays (a string is not a number)
        try:
            if isinstance(strength, (str, bytes)):
                raise TypeError
            values = (float(strength),) * n_layers
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}: expected a float or a sequence of floats, got {type(strength).__name__}"
            ) from None
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"{name}: strengths must be finite and >= 0, got {v!r}")
    return values


def elastic_net(weights: Sequence[Array], l1: Any = 0.0, l2: Any = 0.0, xp: Any = None) -> Any:
    """The penalty sum_k l1_k ||W_k||_1 + l2_k ||W_k||_2^2 (a 0-d array, or 0.0 if all off)."""
    l1s = per_layer(l1, len(weights), "l1")
    l2s = per_layer(l2, len(weights), "l2")
    total: Any = 0.0
    for W, a, b in zip(weights, l1s, l2s, strict=True):
        ns = array_namespace(W) if xp is None else xp
        if a:
            total = total + a * l1_norm(W, ns)
        if b:
            total = total + b * sq_l2_norm(W, ns)
    return total


def elastic_net_grad(
    weights: Sequence[Array], l1: Any = 0.0, l2: Any = 0.0, xp: Any = None
) -> list:
    """Per weight matrix l1_k sign(W_k) + 2 l2_k W_k (None where both strengths are 0)."""
    l1s = per_layer(l1, len(weights), "l1")
    l2s = per_layer(l2, len(weights), "l2")
    grads: list = []
    for W, a, b in zip(weights, l1s, l2s, strict=True):
        ns = array_namespace(W) if xp is None else xp
        g = None
        if a:
            g = a * l1_norm_grad(W, ns)
        if b:
            term = b * sq_l2_norm_grad(W, ns)
            g = term if g is None else g + term
        grads.append(g)
    return grads


def add_elastic_net(
    value: Array, grads: list, params: Sequence, l1s: Sequence[float], l2s: Sequence[float], xp: Any
) -> Array:
    """Add the penalty to ``value`` and its gradient to the weight grads, in the hot loop.

    ``grads`` (a list of ``(dW, db)``) is updated in place with new arrays;
    ``l1s`` / ``l2s`` are already expanded by ``per_layer``. Returns the new value.
    """
    for k, ((W, _), a, b) in enumerate(zip(params, l1s, l2s, strict=True)):
        if not (a or b):
            continue
        dW, db = grads[k]
        if a:  # eq. (2.18): + l1_k sum|W_k|, gradient l1_k sign(W_k)
            value = value + a * l1_norm(W, xp)
            dW = dW + a * l1_norm_grad(W, xp)
        if b:  # eq. (2.18): + l2_k sum W_k^2, gradient 2 l2_k W_k
            value = value + b * sq_l2_norm(W, xp)
            dW = dW + b * sq_l2_norm_grad(W, xp)
        grads[k] = (dW, db)  # biases are never penalised
    return value
