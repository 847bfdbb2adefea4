"""gradcheck: central finite differences against analytic gradients, on every backend."""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest
from conftest import rel_err, to_np

import xpnet
from xpnet import functional as F


def _params(backend, dtype="float64"):
    """A nest like an MLP's params: [(W, b)] with no entry near 0."""
    W = np.asarray([[1.0, -2.0, 0.5], [0.25, 3.0, -1.5]])
    b = np.asarray([0.75, -0.4])
    return [(backend.asarray(W, dtype), backend.asarray(b, dtype))]


def _quadratic(params):
    """f = sum W^2 + sum(b^3) / 3 (exact gradients 2W and b^2)."""
    ((W, b),) = params
    xp = backend_xp(W)
    value = F.sq_l2_norm(W) + xp.sum(b * b * b) / 3.0
    return value, [(2.0 * W, b * b)]


def backend_xp(x):
    return array_api_compat.array_namespace(x)


def test_right_gradient_passes(backend):
    report = xpnet.gradcheck(_quadratic, _params(backend))
    assert report.ok, str(report)
    assert len(report.errors) == 2
    assert report.max_error < 1e-8
    # the numeric gradients are float64 and equal the exact ones
    W = to_np(_params(backend)[0][0])
    b = to_np(_params(backend)[0][1])
    assert rel_err(report.numeric[0], 2.0 * W) < 1e-8
    assert rel_err(report.numeric[1], b * b) < 1e-8
    assert to_np(report.numeric[0]).dtype == np.float64
    assert to_np(report.analytic[1]).dtype == np.float64


def test_wrong_gradient_is_flagged_with_a_large_error(backend):
    def wrong(params):
        value, [(dW, db)] = _quadratic(params)
        return value, [(1.5 * dW, db)]  # dW off by 50 %

    report = xpnet.gradcheck(wrong, _params(backend))
    assert not report.ok
    assert math.isclose(report.errors[0], 0.5, rel_tol=1e-6)  # ||1.5g - g|| / ||g||
    assert report.errors[1] < 1e-8  # the right one is still reported as right
    assert "MISMATCH" in str(report)


def test_a_sign_error_on_one_element_is_flagged(backend):
    def one_wrong(params):
        value, [(dW, db)] = _quadratic(params)
        xp = backend_xp(db)
        flip = xp.asarray([1.0, -1.0], dtype=db.dtype, device=array_api_compat.device(db))
        return value, [(dW, db * flip)]

    report = xpnet.gradcheck(one_wrong, _params(backend))
    assert not report.ok
    assert report.errors[1] > 0.1


def test_float32_params_are_checked_in_float64(backend):
    seen = []

    def spy(params):
        seen.append(params[0][0].dtype)
        return _quadratic(params)

    report = xpnet.gradcheck(spy, _params(backend, "float32"))
    assert report.ok, str(report)
    assert all(dt == backend.xp.float64 for dt in seen)
    # eps = 1e-6 would be hopeless in float32: only float64 gives this precision
    assert report.max_error < 1e-8


def test_none_gradient_counts_as_zero(backend):
    def b_is_constant(params):
        ((W, b),) = params
        return F.sq_l2_norm(W), [(2.0 * W, None)]

    report = xpnet.gradcheck(b_is_constant, _params(backend))
    assert report.ok, str(report)
    assert report.errors[1] == 0.0

    def b_is_forgotten(params):
        value, [(dW, _)] = _quadratic(params)
        return value, [(dW, None)]

    report = xpnet.gradcheck(b_is_forgotten, _params(backend))
    assert not report.ok
    assert math.isclose(report.errors[1], 1.0, rel_tol=1e-6)  # ||0 - g|| / ||g||


def test_error_is_absolute_where_the_true_gradient_is_zero(backend):
    def claims_a_gradient_for_b(params):
        ((W, b),) = params
        return F.sq_l2_norm(W), [(2.0 * W, 0.5 * b)]  # the true db is 0

    params = _params(backend)
    report = xpnet.gradcheck(claims_a_gradient_for_b, params)
    expected = float(np.linalg.norm(0.5 * to_np(params[0][1])))
    assert math.isclose(report.errors[1], expected, rel_tol=1e-9)
    assert not report.ok

    def tiny_claim(params):
        ((W, b),) = params
        return F.sq_l2_norm(W), [(2.0 * W, 1e-9 * b)]

    report = xpnet.gradcheck(tiny_claim, params)
    assert report.ok, str(report)  # 1e-9 absolute is below rtol, not an infinite ratio
    assert report.errors[1] < 1e-8


def test_rtol_is_the_threshold(backend):
    def slightly_off(params):
        value, [(dW, db)] = _quadratic(params)
        return value, [(dW * (1 + 1e-4), db)]

    assert not xpnet.gradcheck(slightly_off, _params(backend)).ok
    report = xpnet.gradcheck(slightly_off, _params(backend), rtol=1e-3)
    assert report.ok and report.rtol == 1e-3


def test_checks_dx_through_a_params_and_input_nest(backend):
    X = backend.asarray(np.asarray([[0.3, -0.7, 1.1], [2.0, 0.4, -0.9]]), "float64")

    def linear_tanh(nest):
        (W, b), Xn = nest
        xp = backend_xp(W)
        out = xp.tanh(Xn @ W.T + b)
        g = 1.0 - out * out
        value = xp.sum(out)
        return value, ((g.T @ Xn, xp.sum(g, axis=0)), g @ W)

    report = xpnet.gradcheck(linear_tanh, (_params(backend)[0], X))
    assert report.ok, str(report)
    assert len(report.errors) == 3


def test_structure_mismatch_raises_value_error(backend):
    def too_few(params):
        value, [(dW, _)] = _quadratic(params)
        return value, [dW]

    with pytest.raises(ValueError, match="structure"):
        xpnet.gradcheck(too_few, _params(backend))

    def wrong_shape(params):
        value, [(dW, db)] = _quadratic(params)
        return value, [(dW.T, db)]

    with pytest.raises(ValueError, match="shape"):
        xpnet.gradcheck(wrong_shape, _params(backend))
