"""Capturing the training step: what names a library's compiler (jax.jit, lax.scan, torch.compile).

The math (``step``) is written once against the array API; this module, like
``backend``, is allowed to name concrete libraries. ``Backend.compile_step``
and ``Backend.compile_epoch`` call it.

Modes (the estimators' ``compile=``):

* ``"none"``: eager, every array call dispatched on its own;
* ``"jit"``: JAX: ``jax.jit`` with buffer donation; PyTorch: ``torch.compile``;
  another backend raises ``ValueError``;
* ``"auto"``: ``"jit"`` on JAX (and, when nothing needs the host between
  batches, a whole epoch of full-size batches as one ``lax.scan``), eager
  elsewhere. CuPy and PyTorch stay eager under ``"auto"`` until a captured
  path has been verified on a real GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["COMPILE_MODES", "resolve_mode", "jit", "scan_epoch", "copy_tree", "to_state_arrays"]

#: The accepted values of ``compile=``.
COMPILE_MODES = ("auto", "none", "jit")

#: Libraries that can capture a step.
_COMPILERS = {"jax": "jax.jit", "torch": "torch.compile"}


def resolve_mode(library: str, mode: Any, name: str = "compile") -> str:
    """``"none"`` or ``"jit"`` for ``mode`` on a backend of ``library``.

    Raises:
        ValueError: an unknown mode, or ``"jit"`` on a backend that cannot compile.
    """
    if mode not in COMPILE_MODES:
        raise ValueError(
            f"{name}: expected one of {', '.join(map(repr, COMPILE_MODES))}, got {mode!r}"
        )
    if mode == "none":
        return "none"
    if mode == "auto":
        return "jit" if library == "jax" else "none"
    if library not in _COMPILERS:
        raise ValueError(
            f"{name}='jit': the {library} backend cannot compile a training step (only JAX, "
            "with jax.jit, and PyTorch, with torch.compile, can); use compile='auto' or "
            "'none', or backend='jax'"
        )
    return "jit"


def jit(library: str, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
    """``fn`` compiled by ``library``'s compiler (arguments named by ``donate_argnums`` donated on JAX)."""
    if library == "jax":
        import jax

        return jax.jit(fn, donate_argnums=donate_argnums)
    if library == "torch":
        import torch

        # dynamic=False: the shapes of a fit are few (the batch, the last batch)
        return torch.compile(fn, dynamic=False, fullgraph=False)
    raise ValueError(f"compile: the {library} backend cannot compile a step")


def scan_epoch(step: Callable, has_weights: bool) -> Callable:
    """A whole epoch of equal minibatches as one compiled loop (JAX ``lax.scan``).

    Args:
        step: ``(params, opt_state, Xb, yb, wb, scale) -> (params, opt_state,
            loss_sum, metric_sum)``, written against the array API.
        has_weights: whether sample weights are passed.

    Returns:
        ``epoch(params, opt_state, X, y, w, order, scales) -> (params, opt_state,
        loss_sum, metric_sum)``, jitted with params and optimizer state donated:
        ``order`` (n_batches, batch) holds the row indices of each minibatch and
        ``scales`` (n_batches,) each one's 1 / (sum of weights).
    """
    import jax
    import jax.numpy as jnp

    def epoch(params, opt_state, X, y, w, order, scales):
        def body(carry, batch):
            params, opt_state, loss_sum, metric_sum = carry
            rows, scale = batch
            Xb = jnp.take(X, rows, axis=0)
            yb = jnp.take(y, rows, axis=0)
            wb = jnp.take(w, rows, axis=0) if has_weights else None
            params, opt_state, loss, metric = step(params, opt_state, Xb, yb, wb, scale)
            return (params, opt_state, loss_sum + loss, metric_sum + metric), None

        zero = jnp.zeros((), dtype=X.dtype)
        init = (params, opt_state, zero, zero)
        (params, opt_state, loss_sum, metric_sum), _ = jax.lax.scan(body, init, (order, scales))
        return params, opt_state, loss_sum, metric_sum

    return jax.jit(epoch, donate_argnums=(0, 1))


def copy_tree(library: str, tree: Any) -> Any:
    """A copy of every array leaf of ``tree`` (lists, tuples, named tuples, dicts).

    Needed only where buffers are donated: the roll-back of a diverged epoch
    and early stopping keep parameters that the next step would otherwise consume.
    """
    if library == "jax":
        return _jax_copier()(tree)
    return tree


_COPIER: list = []


def _jax_copier() -> Callable:
    """One compiled function that copies a whole tree (one dispatch, not one per leaf)."""
    if not _COPIER:
        import jax
        import jax.numpy as jnp

        _COPIER.append(jax.jit(lambda tree: jax.tree_util.tree_map(jnp.copy, tree)))
    return _COPIER[0]


def to_state_arrays(library: str, opt_state: Any, device: Any, dtype: Any) -> Any:
    """The optimizer state with ``count`` and ``lr_scale`` as 0-d device arrays.

    A compiler would otherwise treat the Python numbers as constants (one
    compilation per step on PyTorch) or retrace when they turn into arrays.
    """
    count, lr_scale = opt_state.count, opt_state.lr_scale
    if library == "jax":
        import jax.numpy as jnp

        count = jnp.asarray(count, dtype=jnp.int32)
        lr_scale = jnp.asarray(lr_scale, dtype=dtype)
        import jax

        count, lr_scale = jax.device_put((count, lr_scale), device)
    elif library == "torch":
        import torch

        count = torch.as_tensor(count, dtype=torch.int64, device=device)
        lr_scale = torch.as_tensor(lr_scale, dtype=dtype, device=device)
    return opt_state._replace(count=count, lr_scale=lr_scale)
