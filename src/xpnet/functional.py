"""The derivation's section 1: activations, their derivatives, softmax and norms.

Every function takes arrays of one array-API namespace and returns arrays of
that namespace, on the same device. Each accepts ``xp=`` to skip namespace
resolution in hot loops. All are numerically stable: for inputs of magnitude
1e4 in float32 or float64 they return finite values with no overflow warning.

Derivatives are named ``f_grad`` and return df/dx elementwise. Conventions
from the derivation: ``relu_grad(0) = 0`` and ``abs_grad(0) = sign(0) = 0``.

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
    "sum_rows",
    "sum_cols",
    "HotConstants",
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


def sum_rows(A: Array, xp: Any = None, ones: Array | None = None) -> Array:
    """1^T A: the sum over the rows (the batch) of A, shape (n, k) -> (k,)  (eq. (2.10)).

    With ``ones`` (n ones of A's dtype on its device) it is one matrix-vector
    product: on NumPy about three times cheaper than ``xp.sum`` with an axis
    for the small arrays of a training step, and one kernel on a GPU.
    """
    if ones is not None:
        return ones @ A
    return _ns(A, xp).sum(A, axis=0)


def sum_cols(A: Array, xp: Any = None, ones: Array | None = None) -> Array:
    """A 1: the sum over the columns of A, shape (n, k) -> (n,); ``ones`` of length k."""
    if ones is not None:
        return A @ ones
    return _ns(A, xp).sum(A, axis=-1)


class HotConstants:
    """The few small arrays a training step needs every time: ones vectors, class indices.

    Made once, eagerly, when a step is built (never inside a trace, never in a
    global cache), and read by ``sum_rows`` / ``sum_cols`` and ``one_hot``:
    making them on every call costs an array call on the CPU and a kernel
    launch on a GPU, every step. A length that was not made gives None, and
    the functions then fall back to a plain ``xp.sum``.

    Args:
        xp: the namespace; where, dtype: the device and dtype of the ones.
        lengths: the vector lengths to make (batch sizes, layer widths).
        n_classes, label_dtype: also make ``arange(n_classes)`` of ``label_dtype``.
    """

    def __init__(
        self,
        xp: Any,
        where: Any,
        dtype: Any,
        lengths: Any = (),
        n_classes: int | None = None,
        label_dtype: Any = None,
    ):
        self._ones = {int(n): xp.ones(int(n), dtype=dtype, device=where) for n in set(lengths)}
        self.classes = (
            None
            if n_classes is None
            else xp.arange(int(n_classes), dtype=label_dtype, device=where)
        )

    def ones(self, n: int) -> Array | None:
        """n ones, or None when that length was not made."""
        return self._ones.get(n)


def ones_of(consts: HotConstants | None, n: int) -> Array | None:
    """``consts.ones(n)``, or None without constants."""
    return None if consts is None else consts.ones(n)


def _neg_abs(x: Array, xp: Any) -> Array:
    """-|x|, written so that autodiff gives -1 for x >= 0 and +1 for x < 0.

    The sigmoid and softplus formulas below pick their branch with ``x >= 0``;
    differentiating ``-abs(x)`` instead would give 0 at x = 0 (sign(0)), and
    with it a wrong derivative of sigmoid (0 instead of 1/4) at 0.
    """
    return xp.where(x >= 0, -x, x)


# ----------------------------------------------------------------------------- sigmoid family


def sigmoid(x: Array, xp: Any = None) -> Array:
    """Logistic sigmoid 1 / (1 + exp(-x)), computed from exp(-|x|) so it never overflows.

    Equal to (tanh(x/2) + 1) / 2 (eq. (1.1)), with full relative precision in both tails.
    """
    xp = _ns(x, xp)
    z = xp.exp(_neg_abs(x, xp))  # exp(-|x|) in (0, 1]: no overflow for any x
    return xp.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def sigmoid_grad(x: Array, xp: Any = None) -> Array:
    """d sigmoid/dx = sigmoid(x) (1 - sigmoid(x))  (eq. (1.3))."""
    return ACTIVATIONS["sigmoid"].grad(x, xp)


def softplus(x: Array, xp: Any = None) -> Array:
    """softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for any x."""
    xp = _ns(x, xp)
    # x >= 0: x + log1p(exp(-x)); x < 0: log1p(exp(x)); one branch per side, so autodiff
    # gives sigmoid(x) everywhere, sigmoid(0) = 1/2 included
    return xp.where(x >= 0, x, 0.0) + xp.log1p(xp.exp(_neg_abs(x, xp)))


def softplus_grad(x: Array, xp: Any = None) -> Array:
    """d softplus/dx = sigmoid(x)."""
    return ACTIVATIONS["softplus"].grad(x, xp)


def log_sigmoid(x: Array, xp: Any = None) -> Array:
    """log sigmoid(x) = -softplus(-x)  (eq. (1.2))."""
    return -softplus(-x, xp)


def tanh(x: Array, xp: Any = None) -> Array:
    """Hyperbolic tangent."""
    return _ns(x, xp).tanh(x)


def tanh_grad(x: Array, xp: Any = None) -> Array:
    """d tanh/dx = 1 - tanh(x)^2  (eq. (1.4))."""
    return ACTIVATIONS["tanh"].grad(x, xp)


# ----------------------------------------------------------------------------- piecewise linear


def sign(x: Array, xp: Any = None) -> Array:
    """sign(x) = 1{x>0} - 1{x<0}, so sign(0) = 0  (eq. (1.5))."""
    return _ns(x, xp).sign(x)


def relu(x: Array, xp: Any = None) -> Array:
    """rect(x) = x for x > 0, else 0  (eq. (1.7)).

    A ``where`` on x > 0 rather than ``maximum(x, 0)``: autodiff then gives
    rect'(0) = 0, the derivation's convention (``maximum`` splits it 1/2, 1/2).
    """
    xp = _ns(x, xp)
    return xp.where(x > 0, x, 0.0)


def relu_grad(x: Array, xp: Any = None) -> Array:
    """rect'(x) = 1{x>0}; rect'(0) = 0  (eq. (1.7))."""
    return ACTIVATIONS["relu"].grad(x, xp)


rect = relu
rect_grad = relu_grad


def abs(x: Array, xp: Any = None) -> Array:  # noqa: A001 - the derivation's name
    """|x| = x sign(x)  (eq. (1.6)).

    Written as the product so that autodiff gives sign(x), with abs'(0) = 0 as
    the derivation asks (JAX differentiates ``abs`` at 0 as 1).
    """
    xp = _ns(x, xp)
    return x * xp.sign(x)


def abs_grad(x: Array, xp: Any = None) -> Array:
    """abs'(x) = sign(x), with abs'(0) = 0  (eq. (1.6))."""
    return ACTIVATIONS["abs"].grad(x, xp)


def identity(x: Array, xp: Any = None) -> Array:
    """x itself (a linear layer)."""
    return x


def identity_grad(x: Array, xp: Any = None) -> Array:
    """1 everywhere."""
    return ACTIVATIONS["identity"].grad(x, xp)


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
    """softmax along the last axis (eq. (2.3)): positive, rows sum to 1. Shape kept."""
    xp = _ns(x, xp)
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- norms


def l1_norm(x: Array, xp: Any = None) -> Array:
    """||x||_1 = sum |x_i| over every element (a 0-d array)."""
    xp = _ns(x, xp)
    return xp.sum(x * xp.sign(x))  # x sign(x) = |x|, with the gradient sign(x) under autodiff


def l1_norm_grad(x: Array, xp: Any = None) -> Array:
    """d||x||_1/dx = sign(x)  (eq. (1.9))."""
    return _ns(x, xp).sign(x)


def sq_l2_norm(x: Array, xp: Any = None) -> Array:
    """||x||_2^2 = sum x_i^2 over every element (a 0-d array)."""
    return _ns(x, xp).sum(x * x)


def sq_l2_norm_grad(x: Array, xp: Any = None) -> Array:
    """d||x||_2^2/dx = 2x  (eq. (1.8))."""
    return 2.0 * x


# ----------------------------------------------------------------------------- registry


class Activation(NamedTuple):
    """An activation for the hidden layers.

    Attributes:
        name: canonical name.
        fn: act(h_a) -> h_s.
        derivative: ``(h_a, h_s, xp) -> act'(h_a)``, elementwise, from
            whichever of h_a / h_s is cheaper (e.g. 1 - h_s^2 for tanh): the one
            place each derivative is written. None for the identity (act' = 1).
        forward: a faster formula for act than ``fn`` where one exists, used by
            ``apply`` (the network's forward pass); None to use ``fn``.
    """

    name: str
    fn: Callable[..., Array]
    derivative: Callable[..., Array] | None
    forward: Callable[..., Array] | None = None

    def apply(self, h_a: Array, xp: Any) -> Array:
        """act(h_a) for the forward pass of a network, by the fastest formula.

        The backward pass uses ``derivative``, so this need not be
        autodiff-friendly: for relu it is ``maximum(h_a, 0)``, several times
        cheaper on NumPy than the ``where`` that ``fn`` uses for autodiff.
        """
        return (self.forward or self.fn)(h_a, xp)

    def grad(self, x: Array, xp: Any = None) -> Array:
        """act'(x), elementwise."""
        xp = _ns(x, xp)
        if self.derivative is None:
            return xp.ones_like(x)
        return self.derivative(x, self.fn(x, xp), xp)

    def backprop(self, grad_post: Array, h_a: Array, h_s: Array, xp: Any) -> Array:
        """dR/dh_a = dR/dh_s * act'(h_a)  (eq. (2.13), for any act)."""
        if self.derivative is None:
            return grad_post
        return grad_post * self.derivative(h_a, h_s, xp)


def _relu_derivative(h_a: Array, h_s: Array, xp: Any) -> Array:
    # 1{h_a > 0}, and h_s > 0 exactly when h_a > 0; a product with the 0/1 mask
    # is several times faster than where() on NumPy and the same on GPUs
    return xp.astype(h_s > 0, h_s.dtype)


def _relu_forward(h_a: Array, xp: Any) -> Array:
    # a 0-d zero made on h_a's device: a Python 0 would be a host-to-device copy on
    # PyTorch CUDA (array-api-compat's maximum), which waits for the device
    return xp.maximum(h_a, xp.zeros((), dtype=h_a.dtype, device=device(h_a)))


def _tanh_derivative(h_a: Array, h_s: Array, xp: Any) -> Array:
    return 1.0 - h_s * h_s  # eq. (1.4)


def _sigmoid_derivative(h_a: Array, h_s: Array, xp: Any) -> Array:
    return h_s * (1.0 - h_s)  # eq. (1.3)


def _softplus_derivative(h_a: Array, h_s: Array, xp: Any) -> Array:
    return sigmoid(h_a, xp)


def _abs_derivative(h_a: Array, h_s: Array, xp: Any) -> Array:
    return xp.sign(h_a)  # eq. (1.6)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", relu, _relu_derivative, _relu_forward),
    "tanh": Activation("tanh", tanh, _tanh_derivative),
    "sigmoid": Activation("sigmoid", sigmoid, _sigmoid_derivative),
    "softplus": Activation("softplus", softplus, _softplus_derivative),
    "abs": Activation("abs", abs, _abs_derivative),
    "identity": Activation("identity", identity, None),
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
