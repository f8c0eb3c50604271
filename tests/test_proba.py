"""Log loss on probabilities versus sigmoid cross-entropy on logits: one objective, two routes.

``LogLoss.loss_from_proba(y, sigmoid(z))`` equals ``LogLoss.loss(y, z)`` up to the rounding of
p = sigmoid(z), as long as that rounding does not reach 0 or 1; past that point the
probability route returns inf while the logit route stays finite. This file demonstrates
both facts and the documented behaviour at p = 0 and p = 1 and with ``clip``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

import losslab
from _cases import logit

EPS = 2.0**-53  # the float64 unit roundoff u (half of numpy's machine epsilon)
LOG_LOSS = losslab.get_loss("log_loss")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """p = sigmoid(z) as the library computes it (the link's inverse)."""
    return LOG_LOSS.link.inverse(z)


def _bound(y: np.ndarray, z: np.ndarray, value: np.ndarray, p: np.ndarray) -> np.ndarray:
    """4 eps |L| + 2 delta (y + (1 - y) exp(z)), delta = the relative rounding error of p.

    delta = eps for normal p; a subnormal p carries only an absolute precision of 2**-1075
    (half its spacing), so there delta = max(eps, 2**-1074 / p) (with a factor 2 to spare).
    """
    delta = np.maximum(EPS, np.ldexp(1.0, -1074) / p)
    with np.errstate(over="ignore"):
        growth = y + (1 - y) * np.exp(z)
    return 4 * EPS * np.abs(value) + 2 * delta * growth


def test_probability_route_equals_logit_route_up_to_rounding_of_p() -> None:
    r"""|loss_from_proba(y, fl(sigmoid(z))) - loss(y, z)| <= 4 eps |L| + 2 eps (y + (1-y) e^z)
    wherever fl(sigmoid(z)) is neither 0 nor 1, with eps = u = 2**-53, the float64 unit
    roundoff.

    First-order error analysis. Let p = sigmoid(z) exactly and p^ = p (1 + d) the computed
    probability (correctly rounded: |d| <= u). Then

        -log p^       = -log p       - d          + O(d^2)
        -log(1 - p^)  = -log(1 - p)  + d p/(1-p)  + O(d^2),   and p / (1 - p) = e^z,

    so the exact log loss at p^ differs from L = y softplus(-z) + (1-y) softplus(z) by
    |d| (y + (1 - y) e^z) to first order. The factor 2 covers a sigmoid that is not quite
    correctly rounded (a few tenths of an ulp more) and the higher-order terms: with
    x = d e^z, |log(1 - x)| <= 2|x| for x <= 1/2 and <= |x| for x < 0, and x > 1/2 would need
    p^ > p with 1 - p^ < (1 - p) / 2, impossible for a p^ < 1 rounded from p.
    The term 4 eps |L| is the rounding of the two evaluations themselves: each route sums
    non-negative terms (no cancellation), each term from a log / log1p / softplus and a
    product with y or 1 - y, about 2u relative to |L| per route. The probability route
    must take log(1 - p^) as log1p(-p^): the subtraction 1 - p^ has an absolute error of u,
    which for y = 0 and z << 0, where L ~ e^z, is far above the bound.

    For subnormal p^ (z < -708) the relative rounding error is 2**-1075 / p, not u; the
    bound uses that instead (see ``_bound``), in the same formula.
    """
    z = np.concatenate(
        [
            np.linspace(-745.0, 40.0, 7851),
            -np.geomspace(1e-300, 700.0, 400),
            np.geomspace(1e-300, 36.0, 400),
            [0.0, -0.0],
        ]
    )
    z = np.sort(z)
    p = _sigmoid(z)
    inside = (p > 0) & (p < 1)
    assert inside.sum() > 8000
    z, p = z[inside], p[inside]
    for y_value in (0.0, 1.0, 0.3, 0.999, 1e-3):
        y = np.full_like(z, y_value)
        via_logit = LOG_LOSS.loss(y, z)
        via_proba = LOG_LOSS.loss_from_proba(y, p)
        assert np.all(np.isfinite(via_proba))
        diff = np.abs(via_proba - via_logit)
        bound = _bound(y, z, via_logit, p)
        bad = diff > bound
        assert not np.any(bad), (
            f"y={y_value}: z={z[bad][:5]}, diff={diff[bad][:5]}, bound={bound[bad][:5]}"
        )


def _first_saturating_z(dtype: Any) -> float:
    """Smallest z (in ``dtype``) with sigmoid(z) == 1, by bisection on floats."""
    lo, hi = dtype(0.0), dtype(100.0)
    one = dtype(1.0)
    assert _sigmoid(np.asarray([lo]))[0] < one
    assert _sigmoid(np.asarray([hi]))[0] == one
    while True:
        mid = dtype((lo + hi) / 2)
        if mid in (lo, hi):  # lo and hi are neighbouring floats
            break
        if _sigmoid(np.asarray([mid]))[0] == one:
            hi = mid
        else:
            lo = mid
    assert np.nextafter(lo, hi) == hi
    return float(hi)


@pytest.mark.parametrize(
    ("dtype", "about"),
    [(np.float64, 36.7), (np.float32, 16.6)],
    ids=["float64", "float32"],
)
def test_probability_route_breaks_where_sigmoid_rounds_to_one(dtype: Any, about: float) -> None:
    """The smallest z with sigmoid(z) == 1.0 is about 36.7 in float64 (53 ln 2 ~ 36.74) and
    16.6 in float32 (24 ln 2 ~ 16.64). From there on loss_from_proba(0, sigmoid(z)) is inf
    while loss(0, z) = softplus(z) ~ z stays finite. Just below it both routes are finite."""
    z_star = _first_saturating_z(dtype)
    assert abs(z_star - about) < 0.15, z_star
    below = np.nextafter(dtype(z_star), dtype(0.0))
    for z in (z_star, 2 * z_star, 1e3, 1e30):
        zz = np.asarray([z], dtype=dtype)
        p = _sigmoid(zz)
        assert p.dtype == dtype
        assert p[0] == 1.0
        zero = np.zeros(1, dtype=dtype)
        assert LOG_LOSS.loss_from_proba(zero, p)[0] == np.inf
        logit_route = LOG_LOSS.loss(zero, zz)
        assert logit_route.dtype == dtype
        assert np.isfinite(logit_route[0])
        assert_allclose(logit_route, zz, rtol=float(np.finfo(dtype).eps))
        # y = 1 is still fine on both routes: -log(1) = 0 ~ softplus(-z).
        assert LOG_LOSS.loss_from_proba(np.ones(1, dtype=dtype), p)[0] == 0.0
    pb = _sigmoid(np.asarray([below]))
    assert pb[0] < 1.0
    assert np.isfinite(LOG_LOSS.loss_from_proba(np.zeros(1, dtype=dtype), pb)[0])


def test_probability_route_breaks_where_sigmoid_rounds_to_zero() -> None:
    """Symmetric failure for y = 1 at very negative z: p underflows to 0."""
    z = np.array([-746.0, -800.0, -1e4])
    p = _sigmoid(z)
    assert np.all(p == 0.0)
    assert np.all(LOG_LOSS.loss_from_proba(np.ones(3), p) == np.inf)
    assert_allclose(LOG_LOSS.loss(np.ones(3), z), -z, rtol=EPS)


# ---------------------------------------------------------------- p = 0 and p = 1


def test_loss_from_proba_at_zero_and_one() -> None:
    """No silent clipping: inf where a term with positive label weight has log 0; a term
    whose label weight is exactly 0 is dropped (0 * log 0 = 0)."""
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.3])
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    got = LOG_LOSS.loss_from_proba(y, p)
    assert np.array_equal(got, [0.0, 0.0, np.inf, np.inf, np.inf, np.inf])


def test_loss_gradient_hessian_from_proba() -> None:
    """d/dp and d2/dp2 of -y log p - (1-y) log(1-p), and the chain rule back to z:
    dL/dz = dL/dp * p(1-p) = p - y, the logit-route gradient."""
    y = np.array([0.0, 1.0, 0.3, 0.3, 1.0, 0.0])
    p = np.array([0.2, 0.7, 0.3, 0.9, 1e-3, 1 - 1e-3])
    value, dp, d2p = LOG_LOSS.loss_gradient_hessian_from_proba(y, p)
    assert_allclose(value, LOG_LOSS.loss_from_proba(y, p), rtol=1e-15)
    assert_allclose(dp, (p - y) / (p * (1 - p)), rtol=1e-14, atol=1e-300)
    assert_allclose(d2p, y / p**2 + (1 - y) / (1 - p) ** 2, rtol=1e-14)
    z = np.array([logit(float(v)) for v in p])
    assert_allclose(dp * p * (1 - p), LOG_LOSS.gradient(y, z), rtol=1e-12, atol=1e-15)
    # At the edges (golden convention): y = 0, p = 0 -> (0, 1, 1); y > 0, p = 0 ->
    # (inf, -inf, inf); y < 1, p = 1 -> (inf, inf, inf); y = 1, p = 1 -> (0, -1, 1).
    y = np.array([0.0, 1.0, 0.3, 0.0, 0.3, 1.0])
    p = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    value, dp, d2p = LOG_LOSS.loss_gradient_hessian_from_proba(y, p)
    assert np.array_equal(value, [0.0, np.inf, np.inf, np.inf, np.inf, 0.0])
    assert np.array_equal(dp, [1.0, -np.inf, -np.inf, np.inf, np.inf, -1.0])
    assert np.array_equal(d2p, [1.0, np.inf, np.inf, np.inf, np.inf, 1.0])


@pytest.mark.parametrize("clip", [1e-15, 1e-7, 0.01])
def test_clip_is_explicit(clip: float) -> None:
    y = np.array([1.0, 0.0, 0.3, 1.0, 0.0, 0.5])
    p = np.array([0.0, 1.0, 0.0, 0.5, 1e-300, 1.0 - 1e-17])
    got = LOG_LOSS.loss_from_proba(y, p, clip=clip)
    ref = LOG_LOSS.loss_from_proba(y, np.clip(p, clip, 1 - clip))
    assert_allclose(got, ref, rtol=1e-15)
    assert np.all(np.isfinite(got))
    assert got[0] == pytest.approx(-np.log(clip), rel=1e-14)
    # Without clip the same input is inf: clipping happens only when asked.
    assert LOG_LOSS.loss_from_proba(y, p)[0] == np.inf


def test_focal_from_proba_matches_logits_where_well_conditioned() -> None:
    focal = losslab.get_loss("focal", gamma=2.0, alpha=0.25)
    z = np.linspace(-10.0, 10.0, 201)  # 1 - p keeps >= 1e-11 relative accuracy here
    for y_value in (0.0, 1.0, 0.3):
        y = np.full_like(z, y_value)
        assert_allclose(
            focal.loss_from_proba(y, _sigmoid(z)), focal.loss(y, z), rtol=1e-9, atol=1e-300
        )
    assert focal.loss_from_proba(np.zeros(1), np.ones(1))[0] == np.inf
    assert focal.loss_from_proba(np.ones(1), np.ones(1))[0] == 0.0
    assert focal.loss_from_proba(np.zeros(1), np.zeros(1))[0] == 0.0


def test_from_proba_namespace_and_dtype() -> None:
    y = np.array([0.0, 1.0, 0.3], dtype=np.float32)
    p = np.array([0.2, 0.7, 0.5], dtype=np.float32)
    got = LOG_LOSS.loss_from_proba(y, p)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float32
    ref = LOG_LOSS.loss_from_proba(y.astype(np.float64), p.astype(np.float64))
    assert_allclose(got, ref, rtol=1e-6)
