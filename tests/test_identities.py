"""Identities between losses: one loss is another one in a special case.

Each identity is checked for value, gradient and Hessian (the Hessian diagonal for
multiclass losses) on NumPy float64. Tolerances are a few ulps of the larger side; the
forms compared are computed by different formulas, so exact equality is not expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

import losslab
from _cases import logit, softplus, stable_sigmoid

RTOL = 1e-13
rng = np.random.default_rng(20240501)
Z = np.concatenate([np.linspace(-30.0, 30.0, 61), rng.normal(scale=4.0, size=40)])
Y_HARD = np.concatenate([np.zeros(Z.size), np.ones(Z.size)])
Z_HARD = np.concatenate([Z, Z])
# Dyadic soft labels, so that 1 - (1 - y) == y exactly in the symmetry identities.
Y_SOFT = np.round(rng.uniform(0.0, 1.0, size=Z.size) * 2**30) / 2**30


def _lgh(name: str, y: Any, z: Any, **params: Any) -> tuple[np.ndarray, ...]:
    return losslab.get_loss(name, **params).loss_gradient_hessian(y, z)


def _close(got: tuple[np.ndarray, ...], exp: tuple[np.ndarray, ...], rtol: float = RTOL) -> None:
    for what, a, b in zip(("value", "gradient", "hessian"), got, exp, strict=True):
        scale = np.maximum(np.abs(a), np.abs(b))
        err = np.abs(a - b)
        # Near zero (soft-label gradients sigmoid(z) - y), compare absolutely at a few ulps
        # of the O(1) terms that cancel.
        assert np.all(err <= rtol * scale + 1e-15), (
            f"{what}: max error {err.max():.3g} at {np.argmax(err - rtol * scale)}"
        )


# ------------------------------------------------------------------------- focal


@pytest.mark.parametrize("alpha", [None, 0.25, 0.6, 0.0, 1.0])
def test_focal_gamma_zero_is_alpha_t_times_log_loss(alpha: float | None) -> None:
    """FL(gamma=0) = alpha_t * CE, alpha_t = alpha * y + (1 - alpha) * (1 - y)."""
    for y, z in ((Y_HARD, Z_HARD), (Y_SOFT, Z)):
        a_t = np.ones_like(y) if alpha is None else alpha * y + (1 - alpha) * (1 - y)
        ce = _lgh("log_loss", y, z)
        fl = _lgh("focal", y, z, gamma=0.0, alpha=alpha)
        _close(fl, tuple(a_t * c for c in ce))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_label_symmetry(gamma: float, alpha: float | None) -> None:
    """FL_alpha(y, z) = FL_{1-alpha}(1 - y, -z): value and Hessian even, gradient odd."""
    flipped = None if alpha is None else 1 - alpha
    for y, z in ((Y_HARD, Z_HARD), (Y_SOFT, Z)):
        v, g, h = _lgh("focal", y, z, gamma=gamma, alpha=alpha)
        v2, g2, h2 = _lgh("focal", 1 - y, -z, gamma=gamma, alpha=flipped)
        _close((v, g, h), (v2, -g2, h2), rtol=1e-12)


def test_focal_hard_labels_match_lin_et_al() -> None:
    """FL = -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017) at moderate logits."""
    z = np.linspace(-8, 8, 33)
    for y in (0.0, 1.0):
        for gamma in (0.5, 1.0, 2.0, 5.0):
            x_t = z if y == 1 else -z
            p_t, q = stable_sigmoid(x_t), stable_sigmoid(-x_t)  # q = 1 - p_t, no cancellation
            a_t = 0.25 if y == 1 else 0.75
            ref = -a_t * q**gamma * np.log(p_t)
            got = losslab.get_loss("focal", gamma=gamma, alpha=0.25).loss(np.full_like(z, y), z)
            assert_allclose(got, ref, rtol=1e-12)


def test_log_loss_label_symmetry() -> None:
    """log_loss(y, z) = log_loss(1 - y, -z)."""
    for y, z in ((Y_HARD, Z_HARD), (Y_SOFT, Z)):
        v, g, h = _lgh("log_loss", y, z)
        v2, g2, h2 = _lgh("log_loss", 1 - y, -z)
        _close((v, g, h), (v2, -g2, h2))


def test_log_loss_closed_forms() -> None:
    """L = y softplus(-z) + (1 - y) softplus(z), gradient sigmoid(z) - y, Hessian p(1-p)."""
    for y, z in ((Y_HARD, Z_HARD), (Y_SOFT, Z)):
        p = stable_sigmoid(z)
        ref = (y * softplus(-z) + (1 - y) * softplus(z), p - y, p * stable_sigmoid(-z))
        _close(_lgh("log_loss", y, z), ref, rtol=1e-12)


@pytest.mark.parametrize(("gamma", "beta"), [(1.0, 0.0), (2.0, 1.0), (0.5, -1.0), (3.0, 0.25)])
def test_focal_star_is_log_loss_of_an_affine_logit(gamma: float, beta: float) -> None:
    """FL*(y, z) = log_loss(y, x) / gamma with x = gamma z + beta for y = 1 and
    x = gamma z - beta for y = 0 (RetinaNet appendix). Hence dFL*/dz = log_loss'(x) and
    d2FL*/dz2 = gamma * log_loss''(x). (gamma, beta) = (1, 0) is log_loss itself."""
    for y in (0.0, 1.0):
        yy = np.full_like(Z, y)
        x = gamma * Z + (beta if y == 1 else -beta)
        v, g, h = _lgh("log_loss", yy, x)
        _close(_lgh("focal_star", yy, Z, gamma=gamma, beta=beta), (v / gamma, g, gamma * h))
    if (gamma, beta) == (1.0, 0.0):
        _close(_lgh("focal_star", Y_SOFT, Z, gamma=1.0, beta=0.0), _lgh("log_loss", Y_SOFT, Z))


@pytest.mark.parametrize(("gamma", "beta"), [(2.0, 1.0), (0.5, -1.0)])
def test_focal_star_soft_labels_mix_the_two_terms(gamma: float, beta: float) -> None:
    """For soft y the value is y * FL*(1, z) + (1 - y) * FL*(0, z) (linear in y)."""
    one = _lgh("focal_star", np.ones_like(Z), Z, gamma=gamma, beta=beta)
    zero = _lgh("focal_star", np.zeros_like(Z), Z, gamma=gamma, beta=beta)
    mixed = tuple(Y_SOFT * a + (1 - Y_SOFT) * b for a, b in zip(one, zero, strict=True))
    _close(_lgh("focal_star", Y_SOFT, Z, gamma=gamma, beta=beta), mixed, rtol=1e-12)


# -------------------------------------------------------------------- regression


def test_pinball_half_is_half_absolute_error() -> None:
    """2 * pinball(quantile=0.5) = absolute_error (value, gradient and Hessian)."""
    y = rng.normal(size=200)
    z = np.concatenate([y[:100] + rng.normal(size=100), y[100:]])  # half on the kink
    pin = _lgh("pinball", y, z, quantile=0.5)
    ae = _lgh("absolute_error", y, z)
    for a, b in zip(pin, ae, strict=True):
        assert np.array_equal(2 * a, b)


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_huber_is_half_squared_error_inside_delta(delta: float) -> None:
    y = rng.normal(size=400)
    r = rng.uniform(-3 * delta, 3 * delta, size=400)
    z = y + r
    r = z - y
    hub = _lgh("huber", y, z, delta=delta)
    hse = _lgh("half_squared_error", y, z)
    inside = np.abs(r) <= delta
    assert inside.any()
    assert (~inside).any()
    for a, b in zip(hub, hse, strict=True):
        assert_allclose(a[inside], b[inside], rtol=1e-15, atol=0)
    out = ~inside
    assert_allclose(hub[0][out], delta * (np.abs(r[out]) - delta / 2), rtol=1e-15)
    assert_allclose(hub[1][out], delta * np.sign(r[out]), rtol=0)
    assert np.array_equal(hub[2][out], np.zeros(out.sum()))


def test_squared_error_is_twice_half_squared_error() -> None:
    y, z = rng.normal(size=100), rng.normal(size=100)
    for a, b in zip(_lgh("squared_error", y, z), _lgh("half_squared_error", y, z), strict=True):
        assert_allclose(a, 2 * b, rtol=1e-15)
    assert np.array_equal(_lgh("half_squared_error", y, z)[2], np.ones(100))


@pytest.mark.parametrize("delta", [0.3, 1.0, 5.0])
def test_pseudo_huber_limits(delta: float) -> None:
    """pseudo_huber ~ r^2 / 2 for |r| << delta and ~ delta * |r| for |r| >> delta."""
    y = np.zeros(4)
    small = delta * np.array([1e-9, -1e-9, 1e-7, -1e-7])
    assert_allclose(_lgh("pseudo_huber", y, small, delta=delta)[0], small**2 / 2, rtol=1e-12)
    big = delta * np.array([1e9, -1e9, 1e12, -1e12])
    assert_allclose(_lgh("pseudo_huber", y, big, delta=delta)[0], delta * np.abs(big), rtol=1e-8)


def test_log_cosh_closed_forms() -> None:
    y = rng.normal(size=100)
    z = y + rng.normal(scale=5.0, size=100)
    r = z - y
    v, g, h = _lgh("log_cosh", y, z)
    assert_allclose(v, np.logaddexp(r, -r) - np.log(2), rtol=1e-13, atol=1e-15)
    assert_allclose(g, np.tanh(r), rtol=1e-15)
    assert_allclose(h, 1 / np.cosh(r) ** 2, rtol=1e-13)


# -------------------------------------------------------------------- multiclass


def _two_class(z: np.ndarray) -> np.ndarray:
    return np.stack([np.zeros_like(z), z], axis=1)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25, 0.9])
def test_softmax_focal_two_classes_is_binary_focal(gamma: float, alpha: float | None) -> None:
    """K = 2, logits [0, z]: softmax_focal with class c equals binary focal at z with y = c,
    when the per-class alpha is [1 - alpha, alpha] (alpha weights class 1, the positive).

    Gradient: column 1 is the binary gradient, column 0 its negative. Hessian diagonal:
    both entries are the binary Hessian.
    """
    per_class = None if alpha is None else (1 - alpha, alpha)
    sf = losslab.get_loss("softmax_focal", gamma=gamma, alpha=per_class)
    z2 = _two_class(Z)
    for c in (0, 1):
        yi = np.full(Z.size, c)
        v, g, h = _lgh("focal", yi.astype(np.float64), Z, gamma=gamma, alpha=alpha)
        sv, sg, sh = sf.loss_gradient_hessian(yi, z2)
        _close((sv, sg[:, 1], sh[:, 1]), (v, g, h), rtol=1e-12)
        _close((sv, sg[:, 0], sh[:, 0]), (v, -g, h), rtol=1e-12)


def test_softmax_cross_entropy_two_classes_is_log_loss_of_the_difference() -> None:
    """softmax_cross_entropy(y, [z0, z1]) = log_loss(y, z1 - z0), for class indices and for
    probability targets [1 - y, y] (soft labels)."""
    z0 = rng.normal(scale=3.0, size=Z.size)
    z2 = np.stack([z0, z0 + Z], axis=1)
    d = z2[:, 1] - z2[:, 0]
    sce = losslab.get_loss("softmax_cross_entropy")
    for y in (np.zeros(Z.size, dtype=np.int64), np.ones(Z.size, dtype=np.int64)):
        v, g, h = _lgh("log_loss", y.astype(np.float64), d)
        sv, sg, sh = sce.loss_gradient_hessian(y, z2)
        _close((sv, sg[:, 1], sh[:, 1]), (v, g, h), rtol=1e-12)
        _close((sv, sg[:, 0], sh[:, 0]), (v, -g, h), rtol=1e-12)
    proba = np.stack([1 - Y_SOFT, Y_SOFT], axis=1)
    v, g, h = _lgh("log_loss", Y_SOFT, d)
    sv, sg, sh = sce.loss_gradient_hessian(proba, z2)
    _close((sv, sg[:, 1], sh[:, 1]), (v, g, h), rtol=1e-12)


@pytest.mark.parametrize("alpha", [None, (0.2, 0.3, 0.5)])
def test_softmax_focal_gamma_zero_is_weighted_cross_entropy(alpha: Any) -> None:
    z = rng.normal(scale=3.0, size=(60, 3))
    y = np.arange(60) % 3
    a_c = np.ones(60) if alpha is None else np.asarray(alpha)[y]
    ce = _lgh("softmax_cross_entropy", y, z)
    fl = _lgh("softmax_focal", y, z, gamma=0.0, alpha=alpha)
    _close(fl, (a_c * ce[0], a_c[:, None] * ce[1], a_c[:, None] * ce[2]))


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "softmax_focal"])
def test_softmax_losses_are_shift_invariant(name: str) -> None:
    z = rng.normal(scale=3.0, size=(60, 3))
    y = np.arange(60) % 3
    shift = rng.integers(-8, 8, size=(60, 1)).astype(np.float64)  # exact in float64
    a = _lgh(name, y, z)
    b = _lgh(name, y, z + shift)
    for u, v in zip(a, b, strict=True):
        assert_allclose(u, v, rtol=1e-12, atol=1e-14)


def test_softmax_focal_is_binary_focal_of_the_margin() -> None:
    """Value of softmax focal = binary focal (y = 1) at x_t = z_c - logsumexp(z_{-c})."""
    z = rng.normal(scale=3.0, size=(60, 4))
    y = np.arange(60) % 4
    others = np.where(np.eye(4, dtype=bool)[y], -np.inf, z)
    m = z[np.arange(60), y] - np.log(np.exp(others).sum(axis=1))
    for gamma in (0.5, 2.0):
        got = losslab.get_loss("softmax_focal", gamma=gamma).loss(y, z)
        ref = losslab.get_loss("focal", gamma=gamma, alpha=None).loss(np.ones(60), m)
        assert_allclose(got, ref, rtol=1e-12)


def test_fit_intercept_only_closed_forms() -> None:
    """The documented constants: mean, median, quantile, logit of the mean."""
    y = rng.normal(size=101)
    w = rng.uniform(0.5, 2.0, size=101)
    assert losslab.get_loss("half_squared_error").fit_intercept_only(y) == pytest.approx(
        y.mean(), rel=1e-14
    )
    assert losslab.get_loss("squared_error").fit_intercept_only(
        y, sample_weight=w
    ) == pytest.approx(np.average(y, weights=w), rel=1e-14)
    assert losslab.get_loss("absolute_error").fit_intercept_only(y) == np.median(y)
    assert losslab.get_loss("pinball", quantile=0.9).fit_intercept_only(y) == pytest.approx(
        np.quantile(y, 0.9, method="inverted_cdf")
    )
    yb = (rng.uniform(size=101) < 0.3).astype(np.float64)
    assert losslab.get_loss("log_loss").fit_intercept_only(yb) == pytest.approx(
        logit(yb.mean()), rel=1e-13
    )
