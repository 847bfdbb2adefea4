"""Gradient-descent optimizers as (init, update) pairs of pure functions.

The derivation's gradient descent, eq. (2.6), theta <- theta - eta dR/dtheta,
applied to minibatches, with momentum, Nesterov momentum, and Adam. Modelled
on optax: ``state = opt.init(params)`` then ``params, state =
opt.update(grads, state, params)``. Nothing is modified in place, so it works
on backends whose arrays are immutable, and the previous params stay valid
(the training loop keeps them to roll back a diverged epoch).

An optimizer is a chain of small gradient transforms (optax's
``chain(scale_by_adam(), scale_by_learning_rate())``):

* ``sgd``  = ``scale_by_learning_rate`` then ``trace`` (momentum), which is
  scikit-learn's ``v <- mu v - eta g``;
* ``adam`` = ``scale_by_adam`` then ``scale_by_learning_rate``.

A transform maps ``(updates, factor)`` to new ones, where ``factor`` is a
scalar that multiplies every update and has not been applied yet: scaling by
the learning rate only changes the factor, and the factor is applied once,
by the transform that needs the real values (``trace``) or by the final
``params + factor * updates``. So a chain costs no more array operations than
a hand-fused update.

The state is an ``OptimizerState``: ``count`` (steps taken), ``lr_scale`` (a
factor on the learning rate: halved after a divergence, divided by 5 by the
adaptive schedule) and ``inner``, one named state per transform
(``TraceState(velocity)``, ``ScaleByAdamState(mu, nu)``), whose fields are
lists of arrays in ``tree.flatten`` order. ``count`` and ``lr_scale`` start
as Python numbers; every formula on them is written with operators only, so
``update`` works unchanged when they are arrays, under ``jax.jit`` (where
they are traced) or ``torch.compile``. ``state_to_dict`` / ``state_from_dict``
give the flat form checkpoints store.

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

Schedule = Callable[[Any], Any]

__all__ = [
    "Optimizer",
    "OptimizerState",
    "TraceState",
    "ScaleByAdamState",
    "GradientTransform",
    "chain",
    "trace",
    "scale_by_adam",
    "scale_by_learning_rate",
    "sgd",
    "adam",
    "constant",
    "inverse_scaling",
    "exponential_decay",
    "current_learning_rate",
    "scale_learning_rate",
    "state_to_dict",
    "state_from_dict",
]


# ----------------------------------------------------------------------------- states


class OptimizerState(NamedTuple):
    """The state of a chained optimizer.

    Attributes:
        count: steps taken (an int, or a 0-d integer array under compilation).
        lr_scale: factor on the scheduled learning rate (a float or a 0-d array).
        inner: one state per transform of the chain, in order.
    """

    count: Any
    lr_scale: Any
    inner: tuple


class TraceState(NamedTuple):
    """Momentum's state: one velocity array per parameter array."""

    velocity: list


class ScaleByAdamState(NamedTuple):
    """Adam's state: first (``mu``) and second (``nu``) moment estimates per parameter array."""

    mu: list
    nu: list


class EmptyState(NamedTuple):
    """The state of a transform that keeps none."""


class GradientTransform(NamedTuple):
    """One link of a chain.

    Attributes:
        init: ``param_leaves -> state``.
        update: ``(leaves, factor, state, count, lr) -> (leaves, factor, state)``:
            the updates so far (their true values are ``factor * leaves``), the
            step count before this step and the learning rate of this step.
        slots: names of the state's fields (what checkpoints store).
    """

    init: Callable[[list], Any]
    update: Callable[..., tuple[list, Any, Any]]
    slots: tuple[str, ...] = ()


class Optimizer(NamedTuple):
    """A pair of pure functions and the settings that built them.

    Attributes:
        init: ``params -> OptimizerState``.
        update: ``(grads, state, params) -> (new_params, new_state)``.
        name: ``"sgd"`` or ``"adam"``.
        schedule: ``count -> learning rate`` before ``lr_scale``.
        hyperparams: the constructor's arguments.
        transforms: the chain's links.
    """

    init: Callable[[Any], OptimizerState]
    update: Callable[[Any, OptimizerState, Any], tuple[Any, OptimizerState]]
    name: str
    schedule: Schedule
    hyperparams: dict
    transforms: tuple = ()

    @property
    def slots(self) -> tuple[str, ...]:
        """Every state field name of the chain, e.g. ``("mu", "nu")`` for Adam."""
        return tuple(name for t in self.transforms for name in t.slots)


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


def current_learning_rate(opt: Optimizer, state: OptimizerState) -> float:
    """The learning rate the next ``update`` will use (reads the device when it is an array)."""
    return float(opt.schedule(state.count)) * float(state.lr_scale)


def scale_learning_rate(state: OptimizerState, factor: float) -> OptimizerState:
    """The same state with ``lr_scale`` multiplied by ``factor`` (e.g. 0.5 after a divergence)."""
    return state._replace(lr_scale=state.lr_scale * factor)


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


def _check_unit_interval(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name}: expected a float in [0, 1), got {value!r}")


# ----------------------------------------------------------------------------- pytrees

#: ``_flatten``'s spec for an MLP's ``[(W1, b1), (W2, b2), ...]``.
_LAYER_PAIRS = "layer pairs"


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
    if spec == _LAYER_PAIRS:
        return [leaf for pair in tree for leaf in pair]
    return flatten(tree)[0]


def _unflatten(spec: Any, leaves: list) -> Any:
    """Inverse of ``_flatten``."""
    if spec == _LAYER_PAIRS:
        return [(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
    return unflatten(spec, leaves)


#: Namespaces by array type (no arrays kept): ``update`` runs every step.
_NAMESPACES: dict[type, Any] = {}


def _namespace(x: Any) -> Any:
    """``array_namespace(x)``, looked up once per array type."""
    xp = _NAMESPACES.get(type(x))
    if xp is None:
        xp = _NAMESPACES[type(x)] = array_namespace(x)
    return xp


def _zeros_like(leaves: list) -> list:
    return [array_namespace(p).zeros_like(p) for p in leaves]


def _like(value: Any, leaf: Any) -> Any:
    """A scalar array ``value`` in ``leaf``'s dtype (Python numbers stay as they are).

    A traced step count makes the learning rate and Adam's correction arrays,
    whose dtype would otherwise follow the count's (float64 from an integer
    under JAX's 64-bit mode) and promote float32 parameters.
    """
    if isinstance(value, (int, float)) or leaf is None:
        return value
    return _namespace(leaf).astype(value, leaf.dtype)


def _materialize(leaves: list, factor: Any) -> list:
    """``factor * leaves``, skipping the product when the factor is the Python number 1."""
    if isinstance(factor, (int, float)) and factor == 1:
        return leaves
    return [factor * u for u in leaves]


# ----------------------------------------------------------------------------- transforms


def scale_by_learning_rate() -> GradientTransform:
    """Multiply the updates by -eta_t (the descent direction of eq. (2.6))."""

    def update(leaves: list, factor: Any, state: Any, count: Any, lr: Any):
        return leaves, factor * -lr, state

    return GradientTransform(lambda params: EmptyState(), update)


def trace(momentum: float, nesterov: bool = False) -> GradientTransform:
    """Momentum: v <- mu v + u; the update is v, or mu v + u for Nesterov's momentum.

    After ``scale_by_learning_rate`` (u = -eta g) this is scikit-learn's
    ``v <- mu v - eta g``, with ``theta <- theta + v`` (classical) or
    ``theta <- theta + mu v - eta g`` (Nesterov).
    """
    _check_unit_interval(momentum, "momentum")

    def init(params: list) -> TraceState:
        return TraceState(_zeros_like(params))

    def update(leaves: list, factor: Any, state: TraceState, count: Any, lr: Any):
        updates = _materialize(leaves, factor)
        velocity = [momentum * v + u for v, u in zip(state.velocity, updates, strict=True)]
        if nesterov:
            out = [momentum * v + u for v, u in zip(velocity, updates, strict=True)]
        else:
            out = velocity
        return out, 1.0, TraceState(velocity)

    return GradientTransform(init, update, ("velocity",))


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransform:
    """Adam's direction m / (sqrt(v) + eps), with the bias correction folded into the factor.

    The recurrences (Kingma & Ba, 2015, section 2)::

        m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
        direction sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

    Args:
        b1: decay of the first moment, in [0, 1).
        b2: decay of the second moment, in [0, 1).
        eps: added to sqrt(v), > 0.
    """
    _check_unit_interval(b1, "b1")
    _check_unit_interval(b2, "b2")
    _check_positive(eps, "eps")

    def init(params: list) -> ScaleByAdamState:
        return ScaleByAdamState(_zeros_like(params), _zeros_like(params))

    def update(leaves: list, factor: Any, state: ScaleByAdamState, count: Any, lr: Any):
        grads = _materialize(leaves, factor)
        t = count + 1
        mus, nus, out = [], [], []
        xp: Any = _namespace(grads[0]) if grads else None
        for g, m, v in zip(grads, state.mu, state.nu, strict=True):
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * (g * g)
            out.append(m / (xp.sqrt(v) + eps))
            mus.append(m)
            nus.append(v)
        # ** 0.5, not math.sqrt: t may be a traced array
        correction = (1.0 - b2**t) ** 0.5 / (1.0 - b1**t)
        return out, _like(correction, out[0] if out else None), ScaleByAdamState(mus, nus)

    return GradientTransform(init, update, ("mu", "nu"))


def chain(
    *transforms: GradientTransform,
    learning_rate: float | Schedule,
    name: str,
    hyperparams: dict | None = None,
) -> Optimizer:
    """An ``Optimizer`` that applies ``transforms`` in order, then ``params + updates``.

    Args:
        transforms: the links, e.g. ``scale_by_adam(), scale_by_learning_rate()``.
        learning_rate: a float or a schedule ``count -> float`` (written with
            operators only, so that it also takes a traced count).
        name: what the optimizer is called (``"sgd"``, ``"adam"``, ...).
        hyperparams: the settings that built it, for display and model files.
    """
    schedule = _as_schedule(learning_rate)
    links = tuple(transforms)

    def init(params: Any) -> OptimizerState:
        leaves, _ = _flatten(params)
        return OptimizerState(0, 1.0, tuple(t.init(leaves) for t in links))

    def update(grads: Any, state: OptimizerState, params: Any) -> tuple[Any, OptimizerState]:
        count = state.count
        p_leaves, spec = _flatten(params)
        lr = _like(schedule(count) * state.lr_scale, p_leaves[0] if p_leaves else None)
        leaves = _leaves_like(grads, spec)
        factor: Any = 1.0
        inner = []
        for link, link_state in zip(links, state.inner, strict=True):
            leaves, factor, link_state = link.update(leaves, factor, link_state, count, lr)
            inner.append(link_state)
        if isinstance(factor, (int, float)) and factor == 1:
            new = [p + u for p, u in zip(p_leaves, leaves, strict=True)]
        else:
            new = [p + factor * u for p, u in zip(p_leaves, leaves, strict=True)]
        return _unflatten(spec, new), OptimizerState(count + 1, state.lr_scale, tuple(inner))

    hyper = dict(hyperparams or {}, learning_rate=learning_rate)
    return Optimizer(init, update, name, schedule, hyper, links)


# ----------------------------------------------------------------------------- the two solvers


def sgd(
    learning_rate: float | Schedule = 0.01, momentum: float = 0.0, nesterov: bool = False
) -> Optimizer:
    """Minibatch gradient descent (eq. (2.6)), with optional (Nesterov) momentum.

    With momentum mu and learning rate eta (scikit-learn's convention)::

        v <- mu v - eta g;  theta <- theta + v                 (classical)
        v <- mu v - eta g;  theta <- theta + mu v - eta g      (Nesterov)

    Args:
        learning_rate: a float or a schedule ``count -> float``.
        momentum: mu in [0, 1).
        nesterov: use Nesterov's momentum.
    """
    _check_unit_interval(momentum, "momentum")
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov: expected True or False, got {nesterov!r}")
    if nesterov and momentum == 0:
        nesterov = False  # Nesterov with no momentum is plain SGD
    links = [scale_by_learning_rate()]
    if momentum > 0:
        links.append(trace(momentum, nesterov))
    hyper = {"momentum": momentum, "nesterov": nesterov}
    return chain(*links, learning_rate=learning_rate, name="sgd", hyperparams=hyper)


def adam(
    learning_rate: float | Schedule = 0.001, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> Optimizer:
    """Adam (Kingma & Ba, 2015, Algorithm 1, with the bias corrections folded into the step).

    The recurrences::

        m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
        eta_t = eta sqrt(1 - b2^t) / (1 - b1^t);  theta <- theta - eta_t m / (sqrt(v) + eps)

    Args:
        learning_rate: eta, a float or a schedule ``count -> float``.
        b1: decay of the first moment, in [0, 1).
        b2: decay of the second moment, in [0, 1).
        eps: added to sqrt(v), > 0.
    """
    hyper = {"b1": b1, "b2": b2, "eps": eps}
    return chain(
        scale_by_adam(b1, b2, eps),
        scale_by_learning_rate(),
        learning_rate=learning_rate,
        name="adam",
        hyperparams=hyper,
    )


# ----------------------------------------------------------------------------- flat form


def state_to_dict(state: OptimizerState) -> dict:
    """``{"count": int, "lr_scale": float, "slots": {name: [leaf, ...]}}`` for files.

    The slot names are the inner states' field names (``velocity``, ``mu``,
    ``nu``). Reads ``count`` and ``lr_scale`` to the host; the leaves are
    returned as they are.
    """
    slots: dict[str, list] = {}
    for link_state in state.inner:
        for slot in link_state._fields:
            slots[slot] = list(getattr(link_state, slot))
    return {"count": int(state.count), "lr_scale": float(state.lr_scale), "slots": slots}


def state_from_dict(opt: Optimizer, flat: dict, convert: Callable[[Any], Any] | None = None):
    """Rebuild an ``OptimizerState`` for ``opt`` from ``state_to_dict``'s form.

    Args:
        opt: the optimizer the state is for.
        flat: ``{"count", "lr_scale", "slots"}``.
        convert: applied to every leaf (e.g. move it to a backend).

    Raises:
        ValueError: the slots are not the ones ``opt`` keeps (another solver's state).
    """
    slots = flat["slots"]
    if set(slots) != set(opt.slots):
        raise ValueError(
            f"optimizer state: has slots {sorted(slots)}, but {opt.name} with these settings "
            f"keeps {sorted(opt.slots)}; the solver or its momentum changed since the state "
            "was saved"
        )
    convert = convert or (lambda leaf: leaf)
    inner = []
    for link in opt.transforms:
        fields = [[convert(leaf) for leaf in slots[slot]] for slot in link.slots]
        kind = type(link.init([]))
        inner.append(kind(*fields))
    return OptimizerState(int(flat["count"]), float(flat["lr_scale"]), tuple(inner))
