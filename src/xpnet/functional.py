"""The seed's section 1: activations, their derivatives, softmax and norms.

Every function takes arrays of one array-API namespace and returns arrays of
that namespace, on the same device. Each accepts ``xp=`` to skip namespace
resolution in hot loops. All are numerically stable: for inputs of magnitude
1e4 in float32 or float64 they return finite values with no overflow warning.

Derivatives are named ``f_grad`` and return df/dx elementwise. Conventions
from the seed: ``relu_grad(0) = 0`` and ``abs_grad(0) = sign(0) = 0``.

Example:
    >>> import numpy
    >>> from xpnet import functional as F
    >>> F.sigmoid(numpy.asarray([0.0]))
    array([0.5])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from array_api_compat import array_namespace, device

Array = Any

__all__ = [
    "sigmoid",
    "sigmoid_grad",
    "log_sigmoid",
    "tanh",
    "tanh_grad",
    "softplus",
    "softplus_grad",
    "relu",
    "relu_grad",
    "rect",
    "rect_grad",
    "abs",
    "abs_grad",
    "identity",
    "identity_grad",
    "sign",
    "softmax",
    "log_softmax",
    "logsumexp",
    "l1_norm",
    "l1_norm_grad",
    "sq_l2_norm",
    "sq_l2_norm_grad",
    "Activation",
    "ACTIVATIONS",
    "get_activation",
]


def _ns(x: Array, xp: Any) -> Any:
    return array_namespace(x) if xp is None else xp


#: Small constant arrays the training step needs every time, by what they are and
#: where they live (see ``cached_constant``).
_CONSTANTS: dict = {}
_MAX_CONSTANTS = 256


def cached_constant(what: Any, dtype: Any, dev: Any, xp: Any, make: Callable[[], Array]) -> Array:
    """``make()``, kept for the next call with the same ``what``, dtype, device and namespace.

    For the few small constants of the hot loop (a 0-d zero, the class indices):
    making one costs a call on the CPU and a kernel launch on a GPU, every step.
    The arrays are never written to. Unhashable dtypes or devices are not kept.
    """
    try:
        key = (what, dtype, dev, id(xp))
        return _CONSTANTS[key]
    except KeyError:
        value = make()
        if len(_CONSTANTS) < _MAX_CONSTANTS:
            _CONSTANTS[key] = value
        return value
    except TypeError:
        return make()


def ones_vector(n: int, like: Array, xp: Any) -> Array:
    """n ones of ``like``'s dtype on its device, kept between calls.

    ``ones @ A`` sums the rows of A and ``A @ ones`` its columns in one
    matrix-vector product: on NumPy about three times cheaper than ``xp.sum``
    with an axis for the small arrays of a training step, and one kernel on a GPU.
    """
    dev = device(like)
    return cached_constant(
        ("ones", n), like.dtype, dev, xp, lambda: xp.ones(n, dtype=like.dtype, device=dev)
    )


def _zero(x: Array, xp: Any) -> Array:
    """A 0-d zero of x's dtype on x's device.

    Where a function of the namespace needs an array, a Python ``0.0`` becomes
    one on every call: for PyTorch on CUDA (array-api-compat's ``maximum``)
    that is a host-to-device copy, which waits for the device. A zero made
    there once waits for nothing.
    """
    dev = device(x)
    return cached_constant(
        "zero", x.dtype, dev, xp, lambda: xp.zeros((), dtype=x.dtype, device=dev)
    )


# ----------------------------------------------------------------------------- sigmoid family


def sigmoid(x: Array, xp: Any = None) -> Array:
    """Logistic sigmoid 1 / (1 + exp(-x)), computed from exp(-|x|) so it never overflows.

    Equal to (tanh(x/2) + 1) / 2 (seed 1.1), with full relative precision in both tails.
    """
    xp = _ns(x, xp)
    z = xp.exp(-xp.abs(x))  # in (0, 1]: no overflow for any x
    return xp.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def sigmoid_grad(x: Array, xp: Any = None) -> Array:
    """d sigmoid/dx = sigmoid(x) (1 - sigmoid(x))  (seed 1.3)."""
    s = sigmoid(x, xp)
    return s * (1.0 - s)


def softplus(x: Array, xp: Any = None) -> Array:
    """softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for any x."""
    xp = _ns(x, xp)
    return xp.maximum(x, _zero(x, xp)) + xp.log1p(xp.exp(-xp.abs(x)))


def softplus_grad(x: Array, xp: Any = None) -> Array:
    """d softplus/dx = sigmoid(x)."""
    return sigmoid(x, xp)


def log_sigmoid(x: Array, xp: Any = None) -> Array:
    """log sigmoid(x) = -softplus(-x)  (seed 1.2)."""
    return -softplus(-x, xp)


def tanh(x: Array, xp: Any = None) -> Array:
    """Hyperbolic tangent."""
    return _ns(x, xp).tanh(x)


def tanh_grad(x: Array, xp: Any = None) -> Array:
    """d tanh/dx = 1 - tanh(x)^2  (seed 1.4)."""
    t = _ns(x, xp).tanh(x)
    return 1.0 - t * t


# ----------------------------------------------------------------------------- piecewise linear


def sign(x: Array, xp: Any = None) -> Array:
    """sign(x) = 1{x>0} - 1{x<0}, so sign(0) = 0  (seed 1.5)."""
    return _ns(x, xp).sign(x)


def relu(x: Array, xp: Any = None) -> Array:
    """rect(x) = x for x > 0, else 0  (seed 1.7)."""
    xp = _ns(x, xp)
    return xp.maximum(x, _zero(x, xp))


def relu_grad(x: Array, xp: Any = None) -> Array:
    """rect'(x) = 1{x>0}; rect'(0) = 0  (seed 1.7)."""
    xp = _ns(x, xp)
    return xp.astype(x > 0, x.dtype)


rect = relu
rect_grad = relu_grad


def abs(x: Array, xp: Any = None) -> Array:  # noqa: A001 - the seed's name
    """|x|."""
    return _ns(x, xp).abs(x)


def abs_grad(x: Array, xp: Any = None) -> Array:
    """abs'(x) = sign(x), with abs'(0) = 0  (seed 1.6)."""
    return _ns(x, xp).sign(x)


def identity(x: Array, xp: Any = None) -> Array:
    """x itself (a linear layer)."""
    return x


def identity_grad(x: Array, xp: Any = None) -> Array:
    """1 everywhere."""
    return _ns(x, xp).ones_like(x)


# ----------------------------------------------------------------------------- softmax family


def logsumexp(x: Array, xp: Any = None) -> Array:
    """log(sum(exp(x))) along the last axis, max-shifted so it never overflows.

    Shape: (..., m) -> (...).
    """
    xp = _ns(x, xp)
    top = xp.max(x, axis=-1, keepdims=True)
    return xp.log(xp.sum(xp.exp(x - top), axis=-1)) + top[..., 0]


def log_softmax(x: Array, xp: Any = None) -> Array:
    """log softmax(x) along the last axis: x - logsumexp(x). Shape kept."""
    xp = _ns(x, xp)
    shifted = x - xp.max(x, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def softmax(x: Array, xp: Any = None) -> Array:
    """softmax along the last axis (seed 2.3): positive, rows sum to 1. Shape kept."""
    xp = _ns(x, xp)
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- norms


def l1_norm(x: Array, xp: Any = None) -> Array:
    """||x||_1 = sum |x_i| over every element (a 0-d array)."""
    xp = _ns(x, xp)
    return xp.sum(xp.abs(x))


def l1_norm_grad(x: Array, xp: Any = None) -> Array:
    """d||x||_1/dx = sign(x)  (seed 1.9)."""
    return _ns(x, xp).sign(x)


def sq_l2_norm(x: Array, xp: Any = None) -> Array:
    """||x||_2^2 = sum x_i^2 over every element (a 0-d array)."""
    return _ns(x, xp).sum(x * x)


def sq_l2_norm_grad(x: Array, xp: Any = None) -> Array:
    """d||x||_2^2/dx = 2x  (seed 1.8)."""
    return 2.0 * x


# ----------------------------------------------------------------------------- registry


class Activation(NamedTuple):
    """An activation for the hidden layers.

    Attributes:
        name: canonical name.
        fn: act(h_a) -> h_s.
        grad: act'(h_a), elementwise.
        backprop: (grad_out, h_a, h_s, xp) -> grad_out * act'(h_a), computed
            from whichever of h_a / h_s is cheaper (seed 2.13 for any act).
    """

    name: str
    fn: Callable[..., Array]
    grad: Callable[..., Array]
    backprop: Callable[..., Array]


def _bp_relu(g: Array, pre: Array, out: Array, xp: Any) -> Array:
    # 1{h_a > 0}, and h_s > 0 exactly when h_a > 0; a product with the 0/1 mask
    # is several times faster than where() on NumPy and the same on GPUs
    return g * xp.astype(out > 0, g.dtype)


def _bp_tanh(g: Array, pre: Array, out: Array, xp: Any) -> Array:
    return g * (1.0 - out * out)


def _bp_sigmoid(g: Array, pre: Array, out: Array, xp: Any) -> Array:
    return g * (out * (1.0 - out))


def _bp_softplus(g: Array, pre: Array, out: Array, xp: Any) -> Array:
    return g * sigmoid(pre, xp)


def _bp_abs(g: Array, pre: Array, out: Array, xp: Any) -> Array:
    return g * xp.sign(pre)


def _bp_identity(g: Array, pre: Array, out: Array, xp: Any) -> Array:
    return g


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", relu, relu_grad, _bp_relu),
    "tanh": Activation("tanh", tanh, tanh_grad, _bp_tanh),
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_grad, _bp_sigmoid),
    "softplus": Activation("softplus", softplus, softplus_grad, _bp_softplus),
    "abs": Activation("abs", abs, abs_grad, _bp_abs),
    "identity": Activation("identity", identity, identity_grad, _bp_identity),
}
_ACTIVATION_ALIASES = {"rect": "relu", "logistic": "sigmoid"}

#: Every accepted activation name, aliases included.
ACTIVATION_NAMES = tuple(sorted(set(ACTIVATIONS) | set(_ACTIVATION_ALIASES)))


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name (``relu``/``rect``, ``tanh``, ``sigmoid``/``logistic``,
    ``softplus``, ``abs``, ``identity``) or pass an ``Activation`` through."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation: expected a name, got {type(name).__name__}")
    key = _ACTIVATION_ALIASES.get(name, name)
    try:
        return ACTIVATIONS[key]
    except KeyError:
        raise ValueError(
            f"activation: unknown activation {name!r}; expected one of {', '.join(ACTIVATION_NAMES)}"
        ) from None
