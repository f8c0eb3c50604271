"""Property-based tests (hypothesis): finiteness over the whole float range, signs and bounds
of values and derivatives, symmetries, and the algebra of weights and reductions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import losslab

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)
N_CLASSES = 3
SIZE = st.integers(1, 8)

# Finite inputs, the whole float64 range the library promises (|z| up to 1e300).
WIDE = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)
MODERATE = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)
LABEL = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
GAMMA_FOCAL = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 5.0]), st.floats(1e-3, 0.999))
ALPHA = st.one_of(st.none(), st.floats(0.0, 1.0))


@st.composite
def binary_loss(draw: Any) -> Any:
    name = draw(st.sampled_from(["log_loss", "focal", "focal_star"]))
    if name == "focal":
        return losslab.get_loss(name, gamma=draw(GAMMA_FOCAL), alpha=draw(ALPHA))
    if name == "focal_star":
        gamma = draw(st.one_of(st.floats(1e-2, 0.999), st.floats(1.0, 5.0)))
        return losslab.get_loss(name, gamma=gamma, beta=draw(st.floats(-5.0, 5.0)))
    return losslab.get_loss(name)


REGRESSION = [
    "absolute_error",
    "half_squared_error",
    "huber",
    "log_cosh",
    "pinball",
    "pseudo_huber",
    "squared_error",
]


@st.composite
def regression_loss(draw: Any) -> Any:
    name = draw(st.sampled_from(REGRESSION))
    if name in ("huber", "pseudo_huber"):
        return losslab.get_loss(name, delta=draw(st.floats(1e-3, 1e3)))
    if name == "pinball":
        return losslab.get_loss(name, quantile=draw(st.floats(1e-3, 0.999)))
    return losslab.get_loss(name)


@st.composite
def multiclass_loss(draw: Any) -> Any:
    name = draw(st.sampled_from(["softmax_cross_entropy", "softmax_focal"]))
    if name == "softmax_focal":
        alpha = draw(st.one_of(st.none(), st.lists(st.floats(0.0, 4.0), min_size=3, max_size=3)))
        return losslab.get_loss(name, gamma=draw(GAMMA_FOCAL), alpha=alpha)
    return losslab.get_loss(name)


def _arrays(draw: Any, elements: Any, n: int) -> np.ndarray:
    return np.asarray(draw(st.lists(elements, min_size=n, max_size=n)), dtype=np.float64)


def _all_finite(*arrays: np.ndarray) -> bool:
    return all(bool(np.all(np.isfinite(a))) for a in arrays)


# ------------------------------------------------------------------------ finiteness


@SETTINGS
@given(loss=binary_loss(), data=st.data(), n=SIZE)
def test_binary_losses_are_finite_for_finite_logits(loss: Any, data: Any, n: int) -> None:
    """Finite value, gradient and Hessian for |z| up to 1e300, any label in [0, 1]."""
    y = _arrays(data.draw, LABEL, n)
    z = _arrays(data.draw, st.one_of(WIDE, MODERATE), n)
    value, grad, hess = loss.loss_gradient_hessian(y, z)
    assert _all_finite(value, grad, hess), (y, z, value, grad, hess)
    assert np.all(value >= 0)


@SETTINGS
@given(loss=binary_loss(), data=st.data(), n=SIZE)
def test_binary_losses_float32_finite_up_to_1e4(loss: Any, data: Any, n: int) -> None:
    y = _arrays(data.draw, LABEL, n).astype(np.float32)
    z = _arrays(data.draw, st.floats(-1e4, 1e4, width=32), n).astype(np.float32)
    out = loss.loss_gradient_hessian(y, z)
    assert all(a.dtype == np.float32 for a in out)
    assert _all_finite(*out), (y, z, out)


@SETTINGS
@given(loss=multiclass_loss(), data=st.data(), n=SIZE)
def test_multiclass_losses_are_finite_for_finite_logits(loss: Any, data: Any, n: int) -> None:
    z = _arrays(data.draw, st.one_of(WIDE, MODERATE), n * N_CLASSES).reshape(n, N_CLASSES)
    y = np.asarray(data.draw(st.lists(st.integers(0, N_CLASSES - 1), min_size=n, max_size=n)))
    value, grad, hess = loss.loss_gradient_hessian(y, z)
    assert _all_finite(value, grad, hess), (y, z, value, grad, hess)
    assert np.all(value >= 0)
    z32 = np.clip(z, -1e4, 1e4).astype(np.float32)
    out = loss.loss_gradient_hessian(y, z32)
    assert all(a.dtype == np.float32 for a in out)
    assert _all_finite(*out), (y, z32, out)


@SETTINGS
@given(loss=regression_loss(), data=st.data(), n=SIZE)
def test_regression_losses_are_finite_where_the_value_is(loss: Any, data: Any, n: int) -> None:
    """|y|, |z| <= 1e300 gives a finite residual; only the squared losses can overflow
    there (their true value exceeds the float64 range), so they get |r| <= 1e150."""
    bound = 1e150 if "squared" in loss.name else 1e300
    y = _arrays(data.draw, st.floats(-bound / 2, bound / 2), n)
    z = _arrays(data.draw, st.floats(-bound / 2, bound / 2), n)
    value, grad, hess = loss.loss_gradient_hessian(y, z)
    assert _all_finite(value, grad, hess), (y, z, value, grad, hess)
    assert np.all(value >= 0)
    y32 = np.clip(y, -1e4, 1e4).astype(np.float32)
    z32 = np.clip(z, -1e4, 1e4).astype(np.float32)
    out = loss.loss_gradient_hessian(y32, z32)
    assert all(a.dtype == np.float32 for a in out)
    assert _all_finite(*out), (y32, z32, out)


# ---------------------------------------------------------------- signs and bounds


@SETTINGS
@given(y=LABEL, z=st.one_of(WIDE, MODERATE))
def test_log_loss_derivative_bounds(y: float, z: float) -> None:
    loss = losslab.get_loss("log_loss")
    _, g, h = loss.loss_gradient_hessian(np.array([y]), np.array([z]))
    assert -1.0 <= g[0] <= 1.0
    assert 0.0 <= h[0] <= 0.25
    assert_allclose(g, loss.link.inverse(np.array([z])) - y, rtol=1e-13, atol=1e-15)


@SETTINGS
@given(loss=regression_loss(), data=st.data(), n=SIZE)
def test_regression_gradient_sign_and_bounds(loss: Any, data: Any, n: int) -> None:
    y = _arrays(data.draw, MODERATE, n)
    z = _arrays(data.draw, MODERATE, n)
    r = z - y
    value, grad, hess = loss.loss_gradient_hessian(y, z)
    # Zero at r = 0, non-negative elsewhere (r^2 may underflow), gradient with the sign of r.
    assert np.all(value[r == 0] == 0)
    assert np.all(value >= 0)
    assert np.array_equal(np.sign(grad), np.sign(r))
    assert np.all(hess >= 0)
    if loss.name in ("absolute_error", "log_cosh"):
        assert np.all(np.abs(grad) <= 1)
    if loss.name in ("huber", "pseudo_huber"):
        assert np.all(np.abs(grad) <= loss.delta)
    if loss.name == "pinball":
        tau = loss.quantile
        expected = np.where(r > 0, 1 - tau, np.where(r < 0, -tau, 0.0))
        assert_allclose(grad, expected, rtol=1e-15)


@SETTINGS
@given(loss=regression_loss(), y=st.lists(MODERATE, min_size=1, max_size=8))
def test_regression_minimum_at_the_target(loss: Any, y: list[float]) -> None:
    arr = np.asarray(y)
    value, grad, _ = loss.loss_gradient_hessian(arr, arr.copy())
    assert np.all(value == 0)
    assert np.all(grad == 0)


@SETTINGS
@given(loss=binary_loss(), z1=MODERATE, z2=MODERATE)
def test_binary_losses_decrease_in_the_logit_for_positives(loss: Any, z1: float, z2: float) -> None:
    lo, hi = sorted((z1, z2))
    slack = 1e-14  # rounding may reorder values of neighbouring floats
    value = loss.loss(np.ones(2), np.array([lo, hi]))
    assert value[0] >= value[1] * (1 - slack)
    value = loss.loss(np.zeros(2), np.array([lo, hi]))
    assert value[0] <= value[1] * (1 + slack)


@SETTINGS
@given(loss=multiclass_loss(), data=st.data(), n=SIZE)
def test_softmax_gradient_rows_sum_to_zero(loss: Any, data: Any, n: int) -> None:
    """d/dc of L(z + c 1) = 0: gradient rows sum to 0 (softmax shift invariance)."""
    z = _arrays(data.draw, MODERATE, n * N_CLASSES).reshape(n, N_CLASSES)
    y = np.asarray(data.draw(st.lists(st.integers(0, N_CLASSES - 1), min_size=n, max_size=n)))
    grad = loss.gradient(y, z)
    scale = np.abs(grad).sum(axis=1) + 1e-300
    assert np.all(np.abs(grad.sum(axis=1)) <= 1e-12 * scale)


@SETTINGS
@given(loss=st.one_of(binary_loss(), regression_loss()), data=st.data(), n=SIZE)
def test_declared_hessian_sign(loss: Any, data: Any, n: int) -> None:
    y = _arrays(data.draw, LABEL if loss.link.__class__.__name__ == "LogitLink" else MODERATE, n)
    z = _arrays(data.draw, MODERATE, n)
    hess = loss.hessian(y, z)
    if loss.hessian_sign in ("positive", "nonnegative"):
        assert np.all(hess >= 0)
    elif loss.hessian_sign == "zero":
        assert np.all(hess == 0)


# ---------------------------------------------------------- symmetries and algebra


@SETTINGS
@given(y=st.lists(LABEL, min_size=1, max_size=8), data=st.data(), gamma=GAMMA_FOCAL)
def test_focal_label_flip_symmetry(y: list[float], data: Any, gamma: float) -> None:
    """FL_alpha(y, z) = FL_{1 - alpha}(1 - y, -z) (alpha None maps to None)."""
    yy = np.round(np.asarray(y) * 2**20) / 2**20  # dyadic: 1 - (1 - y) == y exactly
    z = _arrays(data.draw, MODERATE, yy.size)
    alpha = data.draw(ALPHA)
    if alpha is not None:
        alpha = round(alpha * 2**20) / 2**20  # dyadic: 1 - (1 - alpha) == alpha exactly
    a = losslab.get_loss("focal", gamma=gamma, alpha=alpha)
    b = losslab.get_loss("focal", gamma=gamma, alpha=None if alpha is None else 1 - alpha)
    v1, g1, h1 = a.loss_gradient_hessian(yy, z)
    v2, g2, h2 = b.loss_gradient_hessian(1 - yy, -z)
    assert_allclose(v1, v2, rtol=1e-12, atol=1e-300)
    # Soft-label gradients cancel O(1) terms: compare absolutely at their scale.
    assert_allclose(g1, -g2, rtol=1e-12, atol=1e-14)
    assert_allclose(h1, h2, rtol=1e-11, atol=1e-14)


@SETTINGS
@given(
    loss=st.one_of(binary_loss(), regression_loss()),
    data=st.data(),
    n=SIZE,
    c=st.floats(1e-3, 1e3),
)
def test_weights_scale_sum_and_cancel_in_mean(loss: Any, data: Any, n: int, c: float) -> None:
    is_binary = loss.link.__class__.__name__ == "LogitLink"
    y = _arrays(data.draw, LABEL if is_binary else MODERATE, n)
    z = _arrays(data.draw, MODERATE, n)
    w = _arrays(data.draw, st.floats(1e-3, 10.0), n)
    s1 = loss(y, z, sample_weight=w, reduction="sum")
    s2 = loss(y, z, sample_weight=c * w, reduction="sum")
    assert_allclose(s2, c * s1, rtol=1e-13, atol=1e-300)
    m1 = loss(y, z, sample_weight=w, reduction="mean")
    m2 = loss(y, z, sample_weight=c * w, reduction="mean")
    assert_allclose(m2, m1, rtol=1e-13, atol=1e-300)
    # Integer weights are repetitions.
    k = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    if k.sum() > 0:
        rep = loss(np.repeat(y, k), np.repeat(z, k), reduction="mean")
        assert_allclose(loss(y, z, sample_weight=k.astype(float)), rep, rtol=1e-13, atol=1e-300)
