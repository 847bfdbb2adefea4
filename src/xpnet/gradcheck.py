"""Check analytic gradients against central finite differences, on any backend.

``gradcheck`` works on any function of a nest of arrays (lists and tuples of
arrays, such as an MLP's params, or ``(params, X)`` to check dR/dX too). The
function is evaluated in float64 in the arrays' own namespace and device; each
element is perturbed by +-eps in turn.

Example:
    >>> import numpy, xpnet
    >>> from xpnet import functional as F
    >>> f = lambda p: (F.sq_l2_norm(p[0]), [F.sq_l2_norm_grad(p[0])])
    >>> xpnet.gradcheck(f, [numpy.asarray([1.0, -2.0])]).ok
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import array_api_extra as xpx
from array_api_compat import array_namespace, device

from .tree import flatten, unflatten

Array = Any

__all__ = ["gradcheck", "GradcheckReport"]


@dataclass
class GradcheckReport:
    """The outcome of ``gradcheck``.

    Attributes:
        errors: per leaf (in ``flatten`` order), ``||g - g_fd|| / ||g_fd||``,
            or ``||g - g_fd||`` where ``||g_fd||`` is below ``tiny``.
        ok: every error is below ``rtol``.
        rtol: the threshold used.
        numeric: the finite-difference gradients (float64, the leaves' namespace).
        analytic: the analytic gradients in float64.
    """

    errors: list[float]
    ok: bool
    rtol: float
    numeric: list = field(repr=False, default_factory=list)
    analytic: list = field(repr=False, default_factory=list)

    @property
    def max_error(self) -> float:
        return max(self.errors, default=0.0)

    def __str__(self) -> str:
        rows = ", ".join(f"{e:.2e}" for e in self.errors)
        verdict = "ok" if self.ok else "MISMATCH"
        return f"gradcheck {verdict}: max error {self.max_error:.2e} (rtol {self.rtol:g}); per array: {rows}"


def gradcheck(
    value_and_grad: Callable[[Any], tuple[Any, Any]],
    params: Any,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    tiny: float = 1e-10,
) -> GradcheckReport:
    """Compare ``value_and_grad``'s gradients with central finite differences.

    Args:
        value_and_grad: ``f(params) -> (value, grads)``; ``value`` a scalar or
            0-d array, ``grads`` with the structure of ``params`` (a None
            gradient counts as zeros).
        params: a nest of lists/tuples of arrays of one namespace; converted to
            float64 before any evaluation.
        eps: finite-difference step.
        rtol: largest acceptable normwise relative error.
        tiny: below this numerical-gradient norm the error is absolute.

    Returns:
        A ``GradcheckReport``; nothing is raised on a mismatch.

    Near a kink (relu at 0, |x| at 0, an L1 penalty on a zero weight) the
    derivative is a subgradient and finite differences disagree: keep inputs
    at least ``eps`` away from such points.
    """
    leaves, spec = flatten(params)
    xp = array_namespace(*[leaf for leaf in leaves if leaf is not None])
    leaves64 = [xp.astype(leaf, xp.float64) for leaf in leaves]
    _, grads = value_and_grad(unflatten(spec, leaves64))
    grad_leaves, _ = flatten(grads)
    if len(grad_leaves) != len(leaves64):
        raise ValueError(
            f"value_and_grad: returned {len(grad_leaves)} gradient arrays for {len(leaves64)} "
            "parameter arrays; grads must have the structure of params"
        )

    def value_at(i: int, replacement: Array) -> float:
        trial = list(leaves64)
        trial[i] = replacement
        return float(value_and_grad(unflatten(spec, trial))[0])

    errors, numeric_all, analytic_all = [], [], []
    for i, leaf in enumerate(leaves64):
        flat = xp.reshape(leaf, (-1,))
        numeric = []
        for j in range(flat.shape[0]):
            plus = value_at(i, xp.reshape(xpx.at(flat, j).add(eps, copy=True), leaf.shape))
            minus = value_at(i, xp.reshape(xpx.at(flat, j).subtract(eps, copy=True), leaf.shape))
            numeric.append((plus - minus) / (2.0 * eps))
        g_fd = xp.reshape(xp.asarray(numeric, dtype=xp.float64, device=device(flat)), leaf.shape)
        g = grad_leaves[i]
        g = xp.zeros_like(leaf) if g is None else xp.astype(g, xp.float64)
        if tuple(g.shape) != tuple(leaf.shape):
            raise ValueError(
                f"value_and_grad: gradient {i} has shape {g.shape}, expected {leaf.shape}"
            )
        diff = float(xp.sqrt(xp.sum((g - g_fd) ** 2)))
        scale = float(xp.sqrt(xp.sum(g_fd**2)))
        errors.append(diff / scale if scale > tiny else diff)
        numeric_all.append(g_fd)
        analytic_all.append(g)
    ok = all(math.isfinite(e) and e < rtol for e in errors)
    return GradcheckReport(errors, ok, rtol, numeric_all, analytic_all)
