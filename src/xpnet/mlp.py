"""The multilayer perceptron: parameters, forward pass, backprop, objective.

Section 2 of the derivation (the documentation's derivation page). Its
notation is kept, generalised to a minibatch (rows are samples) and to any
number of hidden layers. For one hidden layer::

    h_a = X W1^T + b1           (eq. (2.1), batched)
    h_s = act(h_a)
    o_a = h_s W2^T + b2         (eq. (2.2), batched)
    o_s = softmax(o_a)          (eq. (2.3))
    objective = mean_i L_i + sum_k (l1_k sum|W_k| + l2_k sum W_k^2)   (eq. (2.5), (2.18))

``params`` is a list of ``(W, b)`` pairs, one per layer, W of shape
(out, in) and b of shape (out,). Every function is pure and written against
the array API: it works on any backend's arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import backend as _backend
from .functional import Activation, HotConstants, get_activation, ones_of, sum_rows
from .losses import get_loss
from .regularizers import add_elastic_net, per_layer

Array = Any
Params = list  # [(W1, b1), (W2, b2), ...]

__all__ = ["init_params", "forward", "backward", "objective", "Cache", "layer_sizes"]


class Cache(NamedTuple):
    """What the backward pass needs from the forward pass.

    Attributes:
        X: the input, shape (n, d).
        h_a: pre-activations of each hidden layer, shapes (n, d_h) (eq. (2.1)).
        h_s: activations act(h_a) of each hidden layer, shapes (n, d_h).
        activation: the hidden-layer activation.
    """

    X: Array
    h_a: list
    h_s: list
    activation: Activation


def _init_bound(activation: str, fan_in: int, fan_out: int) -> float:
    """Half-width of the uniform initial weights, suited to the activation.

    relu / softplus / abs: He et al. (2015), sqrt(6 / fan_in).
    tanh / identity: Glorot & Bengio (2010), sqrt(6 / (fan_in + fan_out)).
    sigmoid: Glorot & Bengio's 4x scaling of the tanh range.
    """
    if activation in ("relu", "softplus", "abs"):
        return math.sqrt(6.0 / fan_in)
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return 4.0 * bound if activation == "sigmoid" else bound


def init_params(
    sizes: Sequence[int],
    activation: str = "relu",
    xp: Any = None,
    device: Any = None,
    dtype: Any = "float32",
    seed: Any = None,
    *,
    name: str = "sizes",
) -> Params:
    """Random initial parameters for layer sizes ``(d, h_1, ..., h_k, m)``.

    Weights are drawn uniformly on the host (``numpy.random.Generator``), so
    every backend starts from the same numbers; biases start at 0. The draws
    are float64 taken a block at a time and stored in the training dtype, so a
    float32 network never exists in float64; a network whose parameters alone
    exceed the machine's memory is refused before anything is allocated.

    Args:
        sizes: input size, hidden sizes, number of classes (at least two entries).
        activation: the hidden activation, which sets the scale of the weights.
        xp: target namespace (default: NumPy through array-api-compat).
        device: target device (default: the namespace's default).
        dtype: ``"float32"`` (default) or ``"float64"``, or a dtype of ``xp``.
        seed: int, None or a ``numpy.random.Generator``.
        name: what the sizes are called in error messages (the estimators pass
            ``"hidden_layer_sizes"``).

    Returns:
        ``[(W1, b1), ..., (Wk+1, bk+1)]`` with W of shape (out, in), b of shape (out,).

    Raises:
        ValueError: a size below 1, or a network too large for the memory (the
            message gives its parameter count and size).
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"{name}: expected at least two positive layer sizes, got {sizes}")
    act = get_activation(activation).name
    b = _backend.get_backend("numpy") if xp is None else _backend.backend_of(xp, device)
    dt = b.dtype(dtype)
    host_dtype = "float32" if dt == b.xp.float32 else "float64"  # the weights' host copy
    _check_network_size(sizes, host_dtype, name)
    rng = _backend.host_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = _init_bound(act, fan_in, fan_out)
        try:
            W = _backend.host_uniform(rng, bound, (fan_out, fan_in), host_dtype, _DRAW_BLOCK_VALUES)
        except MemoryError:
            raise ValueError(
                _size_message(sizes, host_dtype, name, "could not be allocated")
            ) from None
        params.append((b.asarray(W, dt), b.xp.zeros(fan_out, dtype=dt, device=b.device)))
        del W
    return params


#: float64 draws per block in ``init_params`` (at most 8 MiB of float64 at a time).
_DRAW_BLOCK_VALUES = 1 << 20
_ITEMSIZE = {"float32": 4, "float64": 8}


def _parameter_count(sizes: Sequence[int]) -> int:
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def _size_message(sizes: Sequence[int], dtype: str, name: str, why: str) -> str:
    n = _parameter_count(sizes)
    gib = n * _ITEMSIZE[dtype] / 2**30
    return (
        f"{name}: the network {tuple(sizes)} has {n:,} parameters, {gib:,.1f} GiB as "
        f"{dtype}, which {why}; choose smaller hidden layers"
    )


def _check_network_size(sizes: Sequence[int], dtype: str, name: str) -> None:
    """Refuse, before any allocation, a network whose parameters alone exceed the memory."""
    memory = _backend.physical_memory()
    if memory is not None and _parameter_count(sizes) * _ITEMSIZE[dtype] > memory:
        why = f"is more than this machine's {memory / 2**30:,.1f} GiB of memory"
        raise ValueError(_size_message(sizes, dtype, name, why))


def layer_sizes(params: Params) -> tuple[int, ...]:
    """``(d, h_1, ..., m)`` read off the parameter shapes."""
    return (params[0][0].shape[1],) + tuple(W.shape[0] for W, _ in params)


def forward(
    params: Params, X: Array, activation: Any = "relu", xp: Any = None
) -> tuple[Array, Cache]:
    """Logits o_a of shape (n, m) and the cache for ``backward``.

    Args:
        params: ``[(W, b), ...]``.
        X: inputs, shape (n, d), the dtype of the parameters.
        activation: hidden activation name or ``Activation``.
    """
    xp = array_namespace(X) if xp is None else xp
    act = get_activation(activation)
    pre_activations, activations = [], []
    h_s = X
    for W, b in params[:-1]:
        h_a = h_s @ W.T + b  # eq. (2.1): h_a = b1 + W1 x, one row per sample
        h_s = act.apply(h_a, xp)
        pre_activations.append(h_a)
        activations.append(h_s)
    W_out, b_out = params[-1]
    logits = h_s @ W_out.T + b_out  # eq. (2.2): o_a = b2 + W2 h_s
    return logits, Cache(X, pre_activations, activations, act)


def backward(
    params: Params,
    cache: Cache,
    dlogits: Array,
    input_grad: bool = True,
    xp: Any = None,
    consts: HotConstants | None = None,
) -> tuple[Params, Array | None]:
    """Backprop dR/d(o_a) through the network.

    Args:
        params: the parameters used in ``forward``.
        cache: from ``forward``.
        dlogits: dR/d(o_a), shape (n, m) (already divided by n for a batch mean).
        input_grad: also return dR/dX (eq. (2.17)); training passes False and
            saves a whole matmul with the largest weight matrix.
        consts: kept ones vectors for the bias sums (the training step's), or None.

    Returns:
        ``(grads, dX)``: grads with the structure of ``params``; dX of shape
        (n, d), or None when ``input_grad`` is False.
    """
    xp = array_namespace(dlogits) if xp is None else xp
    act = cache.activation
    grads: list = [None] * len(params)
    grad_pre = dlogits  # dR/do_a, then dR/dh_a of each hidden layer going down
    ones = ones_of(consts, dlogits.shape[0])
    dX = None
    for k in range(len(params) - 1, -1, -1):
        W, _ = params[k]
        layer_in = cache.X if k == 0 else cache.h_s[k - 1]
        # eq. (2.10) / (2.16): dW = grad_pre^T layer_in, db = sum over the batch = 1^T grad_pre
        grads[k] = (grad_pre.T @ layer_in, sum_rows(grad_pre, xp, ones))
        if k == 0:
            if input_grad:
                dX = grad_pre @ W  # eq. (2.17): dL/dx_l = sum_j dL/dh_a_j W1_jl
            break
        grad_post = grad_pre @ W  # eq. (2.12): dL/dh_s = W2^T (o_s - onehot(y))
        # eq. (2.13): dL/dh_a = dL/dh_s * act'(h_a)
        grad_pre = act.backprop(grad_post, cache.h_a[k - 1], cache.h_s[k - 1], xp)
    return grads, dX


def objective(
    params: Params,
    X: Array,
    y: Array,
    activation: Any = "relu",
    l1: Any = 0.0,
    l2: Any = 0.0,
    input_grad: bool = True,
    xp: Any = None,
    loss: Any = "softmax_cross_entropy",
) -> tuple[Array, Params, Array | None]:
    """The penalised objective of a batch (eq. (2.18)), its gradients and its gradient in X.

    Args:
        params: ``[(W, b), ...]``.
        X: inputs (n, d).
        y: integer class indices (n,), 0..m-1, for the cross-entropy; targets
            (n, k) of X's dtype for ``loss="squared_error"`` (trusted: not
            validated here).
        activation: hidden activation.
        l1, l2: elastic-net strengths, one float or one per weight matrix (eq. (2.18)).
        input_grad: also compute the objective's gradient in X (eq. (2.17)).
        loss: ``"softmax_cross_entropy"`` (eq. (2.4)) or ``"squared_error"``
            (eq. (2.19)), or a ``losses.Loss``.

    Returns:
        ``(value, grads, dX)``: value a 0-d array on the backend (no host
        sync); grads like ``params``; dX of shape (n, d) (row i is eq. (2.17)
        for sample i, divided by n) or None.
    """
    xp = array_namespace(X) if xp is None else xp
    n_weights = len(params)
    l1s = per_layer(l1, n_weights, "l1")
    l2s = per_layer(l2, n_weights, "l2")
    the_loss = get_loss(loss, params[-1][0].shape[0])
    logits, cache = forward(params, X, activation, xp)
    n = X.shape[0]
    loss_rows, grad_rows = the_loss.rows(logits, y, xp)
    value = xp.sum(loss_rows) / n
    grads, dX = backward(params, cache, grad_rows / n, input_grad, xp)
    if any(l1s) or any(l2s):
        value = add_elastic_net(value, grads, params, l1s, l2s, xp)
    return value, grads, dX
