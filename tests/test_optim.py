"""Optimizers as pure (init, update) pairs: hand-computed recurrences on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_np

from xpnet import optim

STEPS = 4
TOL = {"float64": 1e-12, "float32": 1e-5}


def _host_problem(seed=0):
    """Params [(W, b)] and one gradient per step (the gradients change every step)."""
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(3, 2)), rng.normal(size=3))]
    grads = [[(rng.normal(size=(3, 2)), rng.normal(size=3))] for _ in range(STEPS)]
    return params, grads


def _to(backend, tree, dtype):
    return [(backend.asarray(W, dtype), backend.asarray(b, dtype)) for W, b in tree]


def _leaves(tree):
    return [leaf for pair in tree for leaf in pair]


def _run(backend, dtype, opt, host_params, host_grads):
    """Run ``opt`` for every gradient; check purity on the way; return host leaves per step."""
    params = _to(backend, host_params, dtype)
    state = opt.init(params)
    history = []
    for step_grads in host_grads:
        grads = _to(backend, step_grads, dtype)
        before_params = [to_np(p) for p in _leaves(params)]
        before_grads = [to_np(g) for g in _leaves(grads)]
        new_params, state = opt.update(grads, state, params)
        # the update is pure: neither the old params nor the grads were written to
        for old, copy in zip(_leaves(params), before_params, strict=True):
            np.testing.assert_array_equal(to_np(old), copy)
        for g, copy in zip(_leaves(grads), before_grads, strict=True):
            np.testing.assert_array_equal(to_np(g), copy)
        assert isinstance(new_params, list) and isinstance(new_params[0], tuple)
        for p in _leaves(new_params):
            assert p.dtype == backend.dtype(dtype)
        params = new_params
        history.append([to_np(p).astype(np.float64) for p in _leaves(params)])
    assert state.count == len(host_grads)
    return history


def _rounded(backend, tree, dtype):
    """The float64 values the backend holds for ``tree`` in ``dtype``."""
    return [to_np(x).astype(np.float64) for x in _leaves(_to(backend, tree, dtype))]


def _compare(history, expected, dtype):
    for step, (got, want) in enumerate(zip(history, expected, strict=True)):
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            err = np.linalg.norm(g - w) / np.linalg.norm(w)
            assert err < TOL[dtype], f"step {step + 1}, array {k}: relative error {err:.2e}"


# ----------------------------------------------------------------------------- SGD


def test_plain_sgd_is_theta_minus_eta_g(backend, dtype):
    host_params, host_grads = _host_problem(1)
    lr = 0.1
    history = _run(backend, dtype, optim.sgd(learning_rate=lr), host_params, host_grads)
    theta = _rounded(backend, host_params, dtype)
    expected = []
    for step_grads in host_grads:
        g = _rounded(backend, step_grads, dtype)
        theta = [t - lr * gi for t, gi in zip(theta, g, strict=True)]  # eq. (2.6)
        expected.append(theta)
    _compare(history, expected, dtype)


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_momentum_sgd_follows_the_velocity_recurrence(backend, dtype, nesterov):
    host_params, host_grads = _host_problem(2)
    lr, mu = 0.05, 0.9
    opt = optim.sgd(learning_rate=lr, momentum=mu, nesterov=nesterov)
    history = _run(backend, dtype, opt, host_params, host_grads)
    theta = _rounded(backend, host_params, dtype)
    velocity = [np.zeros_like(t) for t in theta]
    expected = []
    for step_grads in host_grads:
        g = _rounded(backend, step_grads, dtype)
        velocity = [mu * v - lr * gi for v, gi in zip(velocity, g, strict=True)]
        if nesterov:
            theta = [t + mu * v - lr * gi for t, v, gi in zip(theta, velocity, g, strict=True)]
        else:
            theta = [t + v for t, v in zip(theta, velocity, strict=True)]
        expected.append(theta)
    _compare(history, expected, dtype)


def test_nesterov_differs_from_classical_momentum():
    host_params, host_grads = _host_problem(3)
    from conftest import resolve_backend

    b = resolve_backend("numpy")
    classic = _run(b, "float64", optim.sgd(0.1, momentum=0.9), host_params, host_grads)
    nesterov = _run(b, "float64", optim.sgd(0.1, 0.9, nesterov=True), host_params, host_grads)
    assert np.linalg.norm(classic[-1][0] - nesterov[-1][0]) > 1e-3


def test_sgd_follows_a_schedule(backend):
    host_params, host_grads = _host_problem(4)
    schedule = optim.inverse_scaling(0.2, power_t=0.5)
    history = _run(backend, "float64", optim.sgd(learning_rate=schedule), host_params, host_grads)
    theta = _rounded(backend, host_params, "float64")
    expected = []
    for t, step_grads in enumerate(host_grads):
        lr = 0.2 / math.sqrt(1 + t)  # the first update uses t = 0
        theta = [
            p - lr * g for p, g in zip(theta, _rounded(backend, step_grads, "float64"), strict=True)
        ]
        expected.append(theta)
    _compare(history, expected, "float64")


def test_lr_scale_multiplies_the_step(backend):
    host_params, host_grads = _host_problem(5)
    opt = optim.sgd(learning_rate=0.1)
    params = _to(backend, host_params, "float64")
    state = optim.scale_learning_rate(opt.init(params), 0.5)
    assert optim.current_learning_rate(opt, state) == pytest.approx(0.05)
    new, state = opt.update(_to(backend, host_grads[0], "float64"), state, params)
    expected = host_params[0][0] - 0.05 * host_grads[0][0][0]
    np.testing.assert_allclose(to_np(new[0][0]), expected, rtol=1e-13)
    assert state.lr_scale == 0.5


# ----------------------------------------------------------------------------- Adam


def test_adam_follows_kingma_and_ba(backend, dtype):
    host_params, host_grads = _host_problem(6)
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-8
    opt = optim.adam(learning_rate=lr, b1=b1, b2=b2, eps=eps)
    history = _run(backend, dtype, opt, host_params, host_grads)
    theta = _rounded(backend, host_params, dtype)
    m = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    expected = []
    for t, step_grads in enumerate(host_grads, start=1):
        g = _rounded(backend, step_grads, dtype)
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g, strict=True)]
        v = [b2 * vi + (1 - b2) * gi**2 for vi, gi in zip(v, g, strict=True)]
        # Kingma & Ba, end of section 2: bias corrections folded into the step size
        step = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        theta = [p - step * mi / (np.sqrt(vi) + eps) for p, mi, vi in zip(theta, m, v, strict=True)]
        expected.append(theta)
    _compare(history, expected, dtype)
    # and, eps aside, the textbook form with m_hat and v_hat
    m_hat = [mi / (1 - b1**STEPS) for mi in m]
    v_hat = [vi / (1 - b2**STEPS) for vi in v]
    assert np.allclose(
        history[-1][0],
        expected[-2][0] - lr * m_hat[0] / np.sqrt(v_hat[0]),
        rtol=1e-4 if dtype == "float32" else 1e-6,
    )


def test_adam_first_step_moves_every_weight_by_about_the_learning_rate(backend):
    host_params, host_grads = _host_problem(7)
    opt = optim.adam(learning_rate=0.01)
    params = _to(backend, host_params, "float64")
    new, _ = opt.update(_to(backend, host_grads[0], "float64"), opt.init(params), params)
    moved = to_np(new[0][0]) - host_params[0][0]
    g = host_grads[0][0][0]
    # after one step m = (1 - b1) g and v = (1 - b2) g^2; with the bias corrections folded
    # into the step size, eps acts as eps / sqrt(1 - b2): move = -lr g / (|g| + eps / sqrt(1 - b2))
    np.testing.assert_allclose(moved, -0.01 * g / (np.abs(g) + 1e-8 / math.sqrt(0.001)), rtol=1e-9)
    np.testing.assert_allclose(moved, -0.01 * np.sign(g), rtol=1e-3)


def test_matches_scikit_learn_optimizers():
    sk = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    host_params, host_grads = _host_problem(8)
    leaves = [p.copy() for p in _leaves(host_params)]
    cases = [
        (
            optim.sgd(0.05, momentum=0.9),
            sk.SGDOptimizer(leaves, 0.05, momentum=0.9, nesterov=False),
        ),
        (
            optim.sgd(0.05, 0.9, nesterov=True),
            sk.SGDOptimizer(leaves, 0.05, momentum=0.9, nesterov=True),
        ),
        (optim.adam(0.01), sk.AdamOptimizer(leaves, 0.01)),
    ]
    for ours, theirs in cases:
        params = [(W.copy(), b.copy()) for W, b in host_params]
        state = ours.init(params)
        sk_params = [p.copy() for p in leaves]
        for step_grads in host_grads:
            params, state = ours.update(step_grads, state, params)
            for p, u in zip(sk_params, theirs._get_updates(_leaves(step_grads)), strict=True):
                p += u
        for got, want in zip(_leaves(params), sk_params, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12)


# ----------------------------------------------------------------------------- schedules


def test_constant_schedule():
    schedule = optim.constant(0.3)
    assert [schedule(t) for t in (0, 1, 10, 1000)] == [0.3] * 4


@pytest.mark.parametrize("power_t,transition_steps", [(0.5, 1), (0.25, 10), (1.0, 3)])
def test_inverse_scaling_closed_form(power_t, transition_steps):
    schedule = optim.inverse_scaling(0.1, power_t=power_t, transition_steps=transition_steps)
    for t in (0, 1, 2, 7, 100):
        assert schedule(t) == pytest.approx(0.1 / (1 + t / transition_steps) ** power_t, rel=1e-14)
    assert schedule(0) == 0.1


@pytest.mark.parametrize("decay_rate,transition_steps", [(0.5, 1), (0.9, 10), (1.0, 5)])
def test_exponential_decay_closed_form(decay_rate, transition_steps):
    schedule = optim.exponential_decay(0.2, decay_rate, transition_steps)
    for t in (0, 1, 5, 10, 33):
        assert schedule(t) == pytest.approx(0.2 * decay_rate ** (t / transition_steps), rel=1e-14)
    if decay_rate == 0.5 and transition_steps == 1:
        assert [schedule(t) for t in range(4)] == [0.2, 0.1, 0.05, 0.025]


def test_current_learning_rate_follows_the_schedule_and_count():
    opt = optim.sgd(optim.exponential_decay(1.0, 0.5, 1))
    params = [np.ones(2)]
    state = opt.init(params)
    rates = []
    for _ in range(3):
        rates.append(optim.current_learning_rate(opt, state))
        params, state = opt.update([np.ones(2)], state, params)
    assert rates == [1.0, 0.5, 0.25]
    np.testing.assert_allclose(params[0], 1.0 - 1.75)


# ----------------------------------------------------------------------------- bad hyperparameters


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: optim.sgd(learning_rate=0.0), "learning_rate"),
        (lambda: optim.sgd(learning_rate=-0.1), "learning_rate"),
        (lambda: optim.sgd(learning_rate=float("nan")), "learning_rate"),
        (lambda: optim.sgd(learning_rate=float("inf")), "learning_rate"),
        (lambda: optim.sgd(momentum=1.0), "momentum"),
        (lambda: optim.sgd(momentum=-0.5), "momentum"),
        (lambda: optim.sgd(momentum=True), "momentum"),
        (lambda: optim.adam(learning_rate=-1.0), "learning_rate"),
        (lambda: optim.adam(b1=1.0), "b1"),
        (lambda: optim.adam(b1=-0.1), "b1"),
        (lambda: optim.adam(b2=1.5), "b2"),
        (lambda: optim.adam(eps=0.0), "eps"),
        (lambda: optim.adam(eps=-1e-8), "eps"),
        (lambda: optim.constant(0.0), "learning_rate"),
        (lambda: optim.inverse_scaling(0.1, power_t=-0.5), "power_t"),
        (lambda: optim.inverse_scaling(0.1, transition_steps=0), "transition_steps"),
        (lambda: optim.inverse_scaling(-0.1), "learning_rate"),
        (lambda: optim.exponential_decay(0.1, 0.0, 1), "decay_rate"),
        (lambda: optim.exponential_decay(0.1, 1.5, 1), "decay_rate"),
        (lambda: optim.exponential_decay(0.1, 0.5, 0), "transition_steps"),
        (lambda: optim.exponential_decay(0.0, 0.5, 1), "learning_rate"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()
