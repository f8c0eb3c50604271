"""The classification losses of one-stage detectors and multi-label classifiers since focal loss.

Varifocal loss (VarifocalNet; RT-DETR), Quality Focal loss (GFL; the YOLO family), Poly-1 and
Poly-1 focal (PolyLoss) and the Asymmetric loss (ASL), all on the logit ``z`` with
``p = sigmoid(z)`` and targets in [0, 1]. Each has an exact value, gradient and Hessian in z,
written in the cancellation-free forms of ``shared/golden/README.md`` ("Families added later")
from :mod:`losslab._numerics`, finite wherever the true value is finite. Notation:
``v = p (1 - p)``, ``CE(y, z) = y softplus(-z) + (1 - y) softplus(z)``, ``m = 1 - p_t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from losslab._array_api import Array
from losslab._numerics import SigmoidParts, equals, focal_margin, times
from losslab.losses._base import Focused, Need, NonConvex, Results, register
from losslab.losses._params import param
from losslab.losses._policy import HessianPolicy
from losslab.losses.binary import FocalLoss, _BinaryLoss

__all__ = [
    "AsymmetricLoss",
    "Poly1FocalLoss",
    "Poly1Loss",
    "QualityFocalLoss",
    "VarifocalLoss",
]

_SERIES_TERMS = 20
_LOG_TENTH = math.log(0.1)


def _poly_series(t: Array, eps: Array | float, scale: Array | float = 1.0) -> Array:
    """``sum_{k>=1} (-1)^(k+1) (scale / k + eps) t^k`` for ``0 <= t <= 0.1`` (Horner, 20 terms).

    With ``scale = 1`` it is ``log1p(t) + eps t / (1 + t) = softplus(x) + eps sigmoid(x)`` at
    ``t = e^x``, without the cancellation of the two terms when ``eps`` is near -1 (README: at
    ``eps = -1`` the sum starts at ``t^2 / 2``). Truncation is below ``t^21 / 21``.
    """
    acc: Array | float = 0.0
    for k in range(_SERIES_TERMS, 0, -1):
        coef = (1.0 if k % 2 else -1.0) * (scale / k + eps)
        acc = coef + t * acc
    return t * acc


def _positive_indicator(y: Array, z: Array, xp: Any) -> Array:
    return xp.astype(y > 0, z.dtype)


@register
@dataclass(frozen=True)
class VarifocalLoss(Focused, _BinaryLoss):
    """Varifocal loss (Zhang et al. 2021, VarifocalNet), as mmdet's ``VarifocalLoss(
    use_sigmoid=True, iou_weighted=True)``.

    The target ``q`` in [0, 1] is the IoU-aware classification score of the anchor:

    * ``q > 0``: ``L = q CE(q, z)``, gradient ``q (p - q)``, Hessian ``q v`` (alpha and gamma
      play no role);
    * ``q = 0``: ``L = alpha p^gamma softplus(z)``, the binary focal loss of a negative with
      ``alpha`` as its weight (alpha weights the **negatives** here, unlike ``focal``).

    ``reduction="positives"`` divides by the number of anchors with ``q > 0``. The exact
    Hessian is negative for hard negatives when gamma > 0 ("indefinite").

    Parameters
    ----------
    alpha : float, default 0.75
        Weight of the negatives (q = 0), >= 0.
    gamma : float, default 2.0
        Focusing parameter of the negatives, >= 0.
    """

    name: ClassVar[str] = "varifocal"
    supports_positives: ClassVar[bool] = True
    kernel: ClassVar[str | None] = "varifocal"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"alpha": 0.25, "gamma": 0.5},)
    alpha: float = param(0.75, low=0.0, doc="Weight of the negatives (q = 0).")
    gamma: float = param(2.0, low=0.0, doc="Focusing parameter of the negatives.")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.alpha, self.gamma

    def _positives(self, y: Array, z: Array, xp: Any) -> Array:
        return _positive_indicator(y, z, xp)

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        s = SigmoidParts(z, xp=xp)
        pos = y != 0  # NaN takes the q > 0 branch, which propagates it
        vn, gn, hn = focal_margin(-z, self.gamma, self.alpha, need, xp)
        value = grad = hess = None
        if need[0]:
            ce = times(y, s.softplus_neg(), xp) + times(1.0 - y, s.softplus(), xp)
            value = xp.where(pos, times(y, ce, xp), vn)
        if need[1]:
            grad = xp.where(pos, y * ((1.0 - y) * s.p - y * s.q), -gn)
        if need[2]:
            hess = xp.where(pos, y * s.pq(), hn)
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._solve_intercept(y, w)


@register
@dataclass(frozen=True)
class QualityFocalLoss(NonConvex, _BinaryLoss):
    """Quality Focal loss (Li et al. 2020, Generalized Focal Loss): ``|y - p|^beta CE(y, z)``.

    ``y`` in [0, 1] is the quality (IoU) target of the anchor, 0 for the background. With
    ``d = p - y`` (computed without cancellation: ``(1/2 - y) + tanh(z/2)/2`` for |z| < 1) and
    ``s = sign(d)``::

        grad = s |d|^(beta-1) (beta v CE + d^2)
        hess = v [beta (beta-1) |d|^(beta-2) v CE + beta s |d|^(beta-1) (1-2p) CE
                  + (2 beta + 1) |d|^beta]

    At ``p = y`` exactly the gradient is 0 (the minimum-norm subgradient for beta = 1); the
    Hessian is ``2 v^2 CE`` for beta = 2, 0 for beta > 2 and does not exist for beta < 2
    (returned as inf). ``reduction="positives"`` divides by the number of anchors with y > 0.

    Parameters
    ----------
    beta : float, default 2.0
        Exponent of the quality gap, >= 1.
    """

    name: ClassVar[str] = "quality_focal"
    supports_positives: ClassVar[bool] = True
    kernel: ClassVar[str | None] = "quality_focal"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"beta": 1.0}, {"beta": 3.0})
    beta: float = param(2.0, low=1.0, doc="Exponent of the quality gap |y - p|.")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.beta, 0.0

    def _positives(self, y: Array, z: Array, xp: Any) -> Array:
        return _positive_indicator(y, z, xp)

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        beta = self.beta
        s = SigmoidParts(z, xp=xp)
        th = xp.tanh(0.5 * xp.where(xp.abs(z) < 1.0, z, 0.0))
        d = xp.where(
            xp.abs(z) < 1.0,
            (0.5 - y) + 0.5 * th,
            xp.where(z <= -1.0, s.p - y, (1.0 - y) - s.q),
        )
        d = xp.where(y == 0, s.p, xp.where(y == 1, -s.q, d))
        ad = xp.abs(d)
        ce = times(y, s.softplus_neg(), xp) + times(1.0 - y, s.softplus(), xp)
        value = grad = hess = None
        if need[0]:
            value = times(xp.pow(ad, beta), ce, xp)
        if need[1] or need[2]:
            nz = ad != 0  # NaN stays on the nonzero branch and propagates
            sa = xp.where(nz, ad, 1.0)
            sgn = xp.sign(d)
            p1 = xp.pow(sa, beta - 1.0)
            v = s.pq()
            vce = times(v, ce, xp)  # v = 0 at z = +-inf, where ce may be inf
            if need[1]:
                grad = xp.where(nz, sgn * p1 * (beta * vce + d * d), 0.0)
            if need[2]:
                one_m2p = -xp.tanh(0.5 * z)
                h_nz = (
                    beta * sgn * p1 * times(v * one_m2p, ce, xp)
                    + (2.0 * beta + 1.0) * xp.pow(ad, beta) * v
                )
                if beta != 1.0:  # the first term vanishes at beta = 1 (|d|^-1 may overflow)
                    h_nz = h_nz + (beta * (beta - 1.0)) * (xp.pow(sa, beta - 2.0) * (vce * v))
                if beta == 2.0:
                    h0 = 2.0 * v * vce
                else:  # d == 0 because p underflowed with v (|z| > 745): the limit is 0
                    at_kink = xp.full_like(v, 0.0 if beta > 2.0 else math.inf)
                    h0 = xp.where(v > 0, at_kink, xp.zeros_like(v))
                hess = xp.where(nz, h_nz, h0)
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._solve_intercept(y, w)


@register
@dataclass(frozen=True)
class Poly1Loss(_BinaryLoss):
    """Poly-1 loss (Leng et al. 2022, PolyLoss), binary sigmoid form: ``CE(y, z) + eps m``.

    ``m = 1 - p_t = y (1 - p) + (1 - y) p``. Written ``L = y H(-z) + (1 - y) H(z)`` with
    ``H(x) = softplus(x) + eps sigmoid(x)``, ``H'(x) = s(x) (s(x) + (1 + eps) s(-x))`` and
    ``H''(x) = s(x) s(-x) ((1 - eps) s(x) + (1 + eps) s(-x))``; for eps < 0 and ``e^x <= 0.1``
    ``H`` is the series ``sum (-1)^(k+1) (1/k + eps) e^(kx)`` (at eps = -1 the two terms of H
    cancel completely). Convex with a positive Hessian for ``|eps| <= 1``.

    Parameters
    ----------
    epsilon : float, default 1.0
        Weight of the first polynomial term, any finite number.
    """

    name: ClassVar[str] = "poly1"
    kernel: ClassVar[str | None] = "poly1"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"epsilon": -1.0}, {"epsilon": 2.0})
    epsilon: float = param(1.0, doc="Weight of the (1 - p_t) term.")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.epsilon, 0.0

    @property
    def convex(self) -> bool:
        """Convex for |epsilon| <= 1."""
        return abs(self.epsilon) <= 1.0

    @property
    def hessian_sign(self) -> Any:
        """ "positive" for |epsilon| <= 1, else "indefinite"."""
        return "positive" if abs(self.epsilon) <= 1.0 else "indefinite"

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        eps = self.epsilon
        s = SigmoidParts(z, xp=xp)
        p, q = s.p, s.q
        value = grad = hess = None
        if need[0]:
            h_pos = s.softplus() + eps * p  # H(z)
            h_neg = s.softplus_neg() + eps * q  # H(-z)
            if not isinstance(eps, (int, float)) or eps < 0:  # a traced eps: both, selected
                negative = eps < 0
                series = _poly_series(xp.where(s.e <= 0.1, s.e, 0.0), eps)
                h_pos = xp.where((z <= _LOG_TENTH) & negative, series, h_pos)
                h_neg = xp.where((-z <= _LOG_TENTH) & negative, series, h_neg)
            value = times(y, h_neg, xp) + times(1.0 - y, h_pos, xp)
        if need[1]:
            grad = (1.0 - y) * (p * (p + (1.0 + eps) * q)) - y * (q * (q + (1.0 + eps) * p))
        if need[2]:
            pq = s.pq()
            hess = pq * (
                y * ((1.0 - eps) * q + (1.0 + eps) * p)
                + (1.0 - y) * ((1.0 - eps) * p + (1.0 + eps) * q)
            )
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._solve_intercept(y, w)


@register
@dataclass(frozen=True)
class Poly1FocalLoss(NonConvex, FocalLoss):
    """Poly-1 focal loss (Leng et al. 2022): ``FL + eps m^(gamma+1)``, ``m = 1 - p_t``.

    ``FL`` is exactly :class:`FocalLoss` (``alpha_t CE m^gamma``); ``alpha_t`` multiplies FL
    only, not the eps term, as in the paper's code listing. For hard labels, with
    ``x_t = (2y - 1) z``, ``q = s(-x_t)``, ``p_t = s(x_t)``, ``l = softplus(-x_t)``,
    ``U = alpha_t l + eps q`` (a series where eps < 0 and ``q`` is small, so that the two terms
    do not cancel), ``V = (alpha_t + eps) - eps q`` and
    ``C = (2 gamma + 1)(alpha_t + eps) - 2 (gamma + 1) eps q``::

        L = q^gamma U,  dL/dz = -(2y - 1) q^gamma (gamma p_t U + q V),
        d2L/dz2 = p_t q^gamma (gamma U (gamma p_t - q) + q C)

    Soft labels add ``eps m^G`` (G = gamma + 1) to the soft focal forms. With eps < 0 the loss
    can be negative for confident correct predictions (it follows from the formula).

    Parameters
    ----------
    gamma : float, default 2.0
        Focusing parameter, >= 0.
    alpha : float or None, default 0.25
        Weight of the positives in FL, or None.
    epsilon : float, default 1.0
        Weight of the polynomial term, any finite number.
    """

    name: ClassVar[str] = "poly1_focal"
    kernel: ClassVar[str | None] = "poly1_focal"
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"gamma": 0.5, "alpha": None, "epsilon": -1.0},
    )
    epsilon: float = param(1.0, doc="Weight of the (1 - p_t)^(gamma+1) term.")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.gamma, -1.0 if self.alpha is None else self.alpha, self.epsilon

    @property
    def hessian_policies(self) -> tuple[HessianPolicy, ...]:
        """As derived (Gauss-Newton first), except that with eps < 0 and an alpha the loss is
        concave in p for easy examples, where Gauss-Newton would be clipped to 0 on about half
        the logit range: then ``floor`` comes first."""
        offered = super().hessian_policies
        if self.epsilon >= 0 or self.alpha is None:
            return offered
        floor = next(p for p in offered if p.name == "floor")
        return (floor, *(p for p in offered if p.name != "floor"))

    def _hard(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        gamma, eps = self.gamma, self.epsilon
        sign = 2.0 * y - 1.0
        xt = sign * z
        s = SigmoidParts(xt, xp=xp)
        at: Any = 1.0 if self.alpha is None else self.alpha * y + (1.0 - self.alpha) * (1.0 - y)
        q, pt = s.q, s.p
        u = at * s.softplus_neg() + eps * q
        if not isinstance(eps, (int, float)) or eps < 0:
            # q = e^(-x_t) / (1 + e^(-x_t)): the series in t = e^(-x_t) for t <= 0.1
            t = xp.where(s.e <= 0.1, s.e, 0.0)
            u = xp.where((-xt <= _LOG_TENTH) & (eps < 0), _poly_series(t, eps, at), u)
        qg = s.q_pow(gamma)
        value = grad = hess = None
        if need[0]:
            value = qg * u
        if need[1] or need[2]:
            pt_u = times(pt, u, xp)  # 0 at x_t = -inf, where U is inf
            if need[1]:
                vv = (at + eps) - eps * q
                grad = -sign * qg * (gamma * pt_u + q * vv)
            if need[2]:
                cc = (2.0 * gamma + 1.0) * (at + eps) - 2.0 * (gamma + 1.0) * eps * q
                hess = qg * (gamma * pt_u * (gamma * pt - q) + pt * q * cc)
        return value, grad, hess

    def _soft(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        value, grad, hess = super()._soft(y, z, need, xp)
        eps, big_g = self.epsilon, self.gamma + 1.0
        s = SigmoidParts(z, xp=xp)
        m = y * s.q + (1.0 - y) * s.p  # >= min(y, 1 - y) > 0
        mg1 = xp.pow(m, big_g - 1.0)
        if need[0]:
            value = value + eps * (mg1 * m)
        if need[1] or need[2]:
            v = s.pq()
            dm = (1.0 - 2.0 * y) * v
            if need[1]:
                grad = grad + eps * big_g * mg1 * dm
            if need[2]:
                d2m = dm * -xp.tanh(0.5 * z)
                mg2 = xp.pow(m, big_g - 2.0)
                hess = hess + eps * big_g * ((big_g - 1.0) * mg2 * dm * dm + mg1 * d2m)
        return value, grad, hess


@register
@dataclass(frozen=True)
class AsymmetricLoss(NonConvex, _BinaryLoss):
    """Asymmetric loss (Ridnik et al. 2021, ASL) for multi-label classification.

    ``L = y (1 - p)^gamma_pos softplus(-z) + (1 - y) p_m^gamma_neg (-log(1 - p_m))`` with the
    shifted probability ``p_m = max(p - clip, 0)`` (``1 - p_m = min(s(-z) + clip, 1)``): easy
    negatives (``p <= clip``) are discarded, the rest are focused. Soft labels combine the two
    parts linearly. The positive part is the focal loss of a positive (gamma_pos, no alpha);
    the negative part, with ``u = p - clip``, ``w = 1 / (s(-z) + clip)`` and ``v = p (1 - p)``,
    is ``N = P l`` with ``P = u^gamma_neg``, ``l = -log1p(-u)``, ``l' = v w``,
    ``l'' = v w^2 (s(-z)^2 + clip (1 - 2p))`` (the textbook form cancels),
    ``P' = gamma_neg u^(gamma_neg - 1) v``, and the product rule. The derivatives are those of
    the whole expression (the official code's option to detach the focusing weight is not
    modelled). Not convex.

    Parameters
    ----------
    gamma_pos : float, default 0.0
        Focusing parameter of the positives, >= 0.
    gamma_neg : float, default 4.0
        Focusing parameter of the negatives, >= 0.
    clip : float, default 0.05
        Probability margin below which negatives are discarded, in [0, 1).
    """

    name: ClassVar[str] = "asymmetric"
    kernel: ClassVar[str | None] = "asymmetric"
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"gamma_pos": 1.0, "gamma_neg": 2.0, "clip": 0.0},
    )
    gamma_pos: float = param(0.0, low=0.0, doc="Focusing parameter of the positives.")
    gamma_neg: float = param(4.0, low=0.0, doc="Focusing parameter of the negatives.")
    clip: float = param(
        0.05, low=0.0, high=1.0, high_inclusive=False, doc="Probability shift of the negatives."
    )

    def _kernel_args(self) -> tuple[float, ...]:
        return self.gamma_pos, self.gamma_neg, self.clip

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        vp, gp, hp = focal_margin(z, self.gamma_pos, 1.0, need, xp)
        vn, gn, hn = self._negative(z, need, xp)
        return (
            None if vp is None else times(y, vp, xp) + times(1.0 - y, vn, xp),
            None if gp is None else y * gp + (1.0 - y) * gn,
            None if hp is None else y * hp + (1.0 - y) * hn,
        )

    def _negative(self, z: Array, need: Need, xp: Any) -> Results:
        """The negative part and its derivatives in z."""
        gamma, clip = self.gamma_neg, self.clip
        if equals(clip, 0):  # p^gamma softplus(z): the focal loss of a negative
            v0, g0, h0 = focal_margin(-z, gamma, 1.0, need, xp)
            return v0, None if g0 is None else -g0, h0
        s = SigmoidParts(z, xp=xp)
        p, q = s.p, s.q
        u = xp.where(z > 0, (1.0 - clip) - q, p - clip)
        act = u > 0
        ua = xp.where(act, u, 0.5)
        sc = q + clip
        w = 1.0 / sc
        ell = xp.where(ua >= 0.5, -xp.log(sc), -xp.log1p(-xp.where(ua >= 0.5, 0.0, ua)))
        plain = equals(gamma, 0)  # False for a traced gamma: the general formula
        pw = xp.ones_like(ua) if plain else xp.pow(ua, gamma)
        zero = xp.zeros_like(u)
        value = grad = hess = None
        if need[0]:
            value = xp.where(act, pw * ell, zero)
        if need[1] or need[2]:
            v = s.pq()
            ell1 = v * w
            p1 = zero if plain else gamma * xp.pow(ua, gamma - 1.0) * v
            if need[1]:
                grad = xp.where(act, p1 * ell + pw * ell1, zero)
            if need[2]:
                one_m2p = -xp.tanh(0.5 * z)
                ell2 = ell1 * w * (q * q + clip * one_m2p)
                if not plain:
                    p2 = gamma * (gamma - 1.0) * xp.pow(ua, gamma - 2.0) * (v * v) + gamma * xp.pow(
                        ua, gamma - 1.0
                    ) * (v * one_m2p)
                else:
                    p2 = zero
                hess = xp.where(act, p2 * ell + 2.0 * p1 * ell1 + pw * ell2, zero)
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._solve_intercept(y, w)
