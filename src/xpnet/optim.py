"""Gradient-descent optimizers as (init, update) pairs of pure functions.

The seed's gradient descent (2.6), theta <- theta - eta dR/dtheta, applied to
minibatches, with momentum, Nesterov momentum, and Adam. Modelled on optax:
``state = opt.init(params)`` then ``params, state = opt.update(grads, state,
params)``. Nothing is modified in place, so it works on backends whose arrays
are immutable, and the previous params stay valid (the training loop keeps
them to roll back a diverged epoch).

The state is a plain dict: ``count`` (steps taken), ``lr_scale`` (a factor on
the learning rate, e.g. halved after a divergence) and ``slots`` (lists of
arrays, one per parameter array, in ``tree.flatten`` order). It can be saved
and restored as it is.

Example:
    >>> import numpy
    >>> from xpnet import optim
    >>> opt = optim.sgd(learning_rate=0.1)
    >>> params = [numpy.asarray([1.0])]
    >>> state = opt.init(params)
    >>> params, state = opt.update([numpy.asarray([2.0])], state, params)
    >>> params[0]
    array([0.8])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from .tree import flatten, unflatten

Schedule = Callable[[int], float]

__all__ = [
    "Optimizer",
    "sgd",
    "adam",
    "constant",
    "inverse_scaling",
    "exponential_decay",
    "current_learning_rate",
]


class Optimizer(NamedTuple):
    """A pair of pure functions and the settings that built them.

    Attributes:
        init: ``params -> state``.
        update: ``(grads, state, params) -> (new_params, new_state)``.
        name: ``"sgd"`` or ``"adam"``.
        schedule: ``count -> learning rate`` before ``lr_scale``.
        hyperparams: the constructor's arguments.
    """

    init: Callable[[Any], dict]
    update: Callable[[Any, dict, Any], tuple[Any, dict]]
    name: str
    schedule: Schedule
    hyperparams: dict


# ----------------------------------------------------------------------------- schedules


def constant(learning_rate: float) -> Schedule:
    """eta_t = learning_rate."""
    _check_positive(learning_rate, "learning_rate")
    return lambda count: learning_rate


def inverse_scaling(
    learning_rate: float, power_t: float = 0.5, transition_steps: int = 1
) -> Schedule:
    """eta_t = learning_rate / (1 + t / transition_steps) ** power_t."""
    _check_positive(learning_rate, "learning_rate")
    _check_nonnegative(power_t, "power_t")
    if transition_steps < 1:
        raise ValueError(f"transition_steps: expected an int >= 1, got {transition_steps!r}")
    return lambda count: learning_rate / (1.0 + count / transition_steps) ** power_t


def exponential_decay(learning_rate: float, decay_rate: float, transition_steps: int) -> Schedule:
    """eta_t = learning_rate * decay_rate ** (t / transition_steps)."""
    _check_positive(learning_rate, "learning_rate")
    if not 0 < decay_rate <= 1:
        raise ValueError(f"decay_rate: expected a float in (0, 1], got {decay_rate!r}")
    if transition_steps < 1:
        raise ValueError(f"transition_steps: expected an int >= 1, got {transition_steps!r}")
    return lambda count: learning_rate * decay_rate ** (count / transition_steps)


def _as_schedule(learning_rate: float | Schedule) -> Schedule:
    return learning_rate if callable(learning_rate) else constant(learning_rate)


def current_learning_rate(opt: Optimizer, state: dict) -> float:
    """The learning rate the next ``update`` will use."""
    return float(opt.schedule(state["count"])) * state["lr_scale"]


def _check_positive(value: Any, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}: expected a finite float > 0, got {value!r}")


def _check_nonnegative(value: Any, name: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name}: expected a finite float >= 0, got {value!r}")


#: Namespaces by array type: ``update`` runs every step and resolves one per call.
_NAMESPACES: dict[type, Any] = {}


def _namespace(x: Any) -> Any:
    """``array_namespace(x)``, looked up once per array type."""
    xp = _NAMESPACES.get(type(x))
    if xp is None:
        xp = _NAMESPACES[type(x)] = array_namespace(x)
    return xp


#: ``_flatten``'s spec for an MLP's ``[(W1, b1), (W2, b2), ...]``.
_LAYER_PAIRS = object()


def _flatten(tree: Any) -> tuple[list, Any]:
    """``tree.flatten``, with a fast path for a list of ``(W, b)`` pairs (once per step)."""
    if type(tree) is list and all(
        type(pair) is tuple
        and len(pair) == 2
        and not isinstance(pair[0], (list, tuple))
        and not isinstance(pair[1], (list, tuple))
        for pair in tree
    ):
        return [leaf for pair in tree for leaf in pair], _LAYER_PAIRS
    return flatten(tree)


def _leaves_like(tree: Any, spec: Any) -> list:
    """The leaves of ``tree``, which has the structure ``spec`` describes (the grads)."""
    if spec is _LAYER_PAIRS:
        return [leaf for pair in tree for leaf in pair]
    return flatten(tree)[0]


def _unflatten(spec: Any, leaves: list) -> Any:
    """Inverse of ``_flatten``."""
    if spec is _LAYER_PAIRS:
        return [(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
    return unflatten(spec, leaves)


def _zeros_like_leaves(params: Any) -> list:
    leaves, _ = _flatten(params)
    return [array_namespace(p).zeros_like(p) for p in leaves]


# ----------------------------------------------------------------------------- SGD


def sgd(
    learning_rate: float | Schedule = 0.01, momentum: float = 0.0, nesterov: bool = False
) -> Optimizer:
    """Minibatch gradient descent (seed 2.6), with optional (Nesterov) momentum.

    With momentum mu and learning rate eta (scikit-learn's convention):
        v <- mu v - eta g;  theta <- theta + v                 (classical)
        v <- mu v - eta g;  theta <- theta + mu v - eta g      (Nesterov)

    Args:
        learning_rate: a float or a schedule ``count -> float``.
        momentum: mu in [0, 1).
        nesterov: use Nesterov's momentum.
    """
    schedule = _as_schedule(learning_rate)
    if (
        isinstance(momentum, bool)
        or not isinstance(momentum, (int, float))
        or not 0 <= momentum < 1
    ):
        raise ValueError(f"momentum: expected a float in [0, 1), got {momentum!r}")
    if nesterov and momentum == 0:
        nesterov = False  # Nesterov with no momentum is plain SGD
    use_velocity = momentum > 0

    def init(params: Any) -> dict:
        slots = {"velocity": _zeros_like_leaves(params)} if use_velocity else {}
        return {"count": 0, "lr_scale": 1.0, "slots": slots}

    def update(grads: Any, state: dict, params: Any) -> tuple[Any, dict]:
        lr = float(schedule(state["count"])) * state["lr_scale"]
        p_leaves, spec = _flatten(params)
        g_leaves = _leaves_like(grads, spec)
        if not use_velocity:
            new = [p - lr * g for p, g in zip(p_leaves, g_leaves, strict=True)]
            slots = state["slots"]
        else:
            new, velocity = [], []
            for p, g, v in zip(p_leaves, g_leaves, state["slots"]["velocity"], strict=True):
                step = lr * g
                v = momentum * v - step
                new.append(p + (momentum * v - step) if nesterov else p + v)
                velocity.append(v)
            slots = {"velocity": velocity}
        return _unflatten(spec, new), {
            "count": state["count"] + 1,
            "lr_scale": state["lr_scale"],
            "slots": slots,
        }

    hyper = {"learning_rate": learning_rate, "momentum": momentum, "nesterov": nesterov}
    return Optimizer(init, update, "sgd", schedule, hyper)


# ----------------------------------------------------------------------------- Adam


def adam(
    learning_rate: float | Schedule = 0.001, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> Optimizer:
    """Adam (Kingma & Ba, 2015, Algorithm 1, with the bias corrections folded into the step).

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    eta_t = eta sqrt(1 - b2^t) / (1 - b1^t);  theta <- theta - eta_t m / (sqrt(v) + eps)
    """
    schedule = _as_schedule(learning_rate)
    for value, name in ((b1, "b1"), (b2, "b2")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name}: expected a float in [0, 1), got {value!r}")
    _check_positive(eps, "eps")

    def init(params: Any) -> dict:
        return {
            "count": 0,
            "lr_scale": 1.0,
            "slots": {"mu": _zeros_like_leaves(params), "nu": _zeros_like_leaves(params)},
        }

    def update(grads: Any, state: dict, params: Any) -> tuple[Any, dict]:
        t = state["count"] + 1
        lr = float(schedule(state["count"])) * state["lr_scale"]
        step_size = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        p_leaves, spec = _flatten(params)
        g_leaves = _leaves_like(grads, spec)
        xp = _namespace(p_leaves[0]) if p_leaves else None
        new, mus, nus = [], [], []
        for p, g, m, v in zip(
            p_leaves, g_leaves, state["slots"]["mu"], state["slots"]["nu"], strict=True
        ):
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * (g * g)
            new.append(p - step_size * m / (xp.sqrt(v) + eps))
            mus.append(m)
            nus.append(v)
        state = {"count": t, "lr_scale": state["lr_scale"], "slots": {"mu": mus, "nu": nus}}
        return _unflatten(spec, new), state

    hyper = {"learning_rate": learning_rate, "b1": b1, "b2": b2, "eps": eps}
    return Optimizer(init, update, "adam", schedule, hyper)
