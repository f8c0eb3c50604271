"""scikit-learn's GLM losses: half Poisson, half Gamma and half Tweedie deviance (log link), and
the exponential (AdaBoost) loss (half-logit link).

Each is exactly scikit-learn's ``sklearn._loss.loss`` class of the same name (constant terms
dropped, as there), evaluated with the cancellation- and overflow-free forms of
``shared/golden/README.md`` ("Log-link families"): ``expm1`` where ``e^z`` meets ``y`` near
``z = 0``, ``y e^(-z)`` as ``(y e^(-z/2)) e^(-z/2)`` so that it is finite wherever the product
is, no ``0 * inf`` or ``inf - inf`` (their limits instead), and the limits at ``z = +-inf``.
An output overflows to inf only where its true value exceeds the range of the dtype (for
targets below about 1e300: where both terms overflow, the one with the larger exponent is taken
to win).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from losslab import _validate
from losslab._array_api import Array, concrete_bool
from losslab.links import HalfLogitLink, LogLink
from losslab.losses._base import Loss, Need, Results, register
from losslab.losses._params import param
from losslab.losses._policy import HessianPolicy

__all__ = ["ExponentialLoss", "HalfGammaLoss", "HalfPoissonLoss", "HalfTweedieLoss"]

_EPS10 = 10.0 * float(np.finfo(np.float64).eps)
"""scikit-learn's clip of the mean in ``fit_intercept_only``: the mean is kept in
``[10 eps, inf)`` (log link) or ``[10 eps, 1 - 10 eps]`` (half-logit link)."""


class TargetDomain(NamedTuple):
    """The targets a loss accepts: ``low <(=) y <(=) high`` (NaN passes: it propagates).

    Read by the target checks and by anything that needs valid targets (tests, plots).
    """

    low: float
    low_inclusive: bool
    high: float = math.inf
    high_inclusive: bool = False

    def describe(self) -> str:
        """``y >= 0``, ``y > 0``, ``0 <= y <= 1`` or ``finite y``."""
        lo_op = "<=" if self.low_inclusive else "<"
        hi_op = "<=" if self.high_inclusive else "<"
        lo = "" if self.low == -math.inf else f"{self.low:g} {lo_op} "
        hi = "" if self.high == math.inf else f" {hi_op} {self.high:g}"
        if not lo and not hi:
            return "finite y"
        if lo and not hi:  # "y >= 0" reads better than "0 <= y"
            return f"y {'>=' if self.low_inclusive else '>'} {self.low:g}"
        return f"{lo}y{hi}"

    def requirement(self) -> str:
        """What an error message asks for: ``finite and >= 0``, ``finite and > 0``, ``finite``
        or ``in [0, 1]``."""
        if self.low > -math.inf and self.high < math.inf:
            lb = "[" if self.low_inclusive else "("
            rb = "]" if self.high_inclusive else ")"
            return f"in {lb}{self.low:g}, {self.high:g}{rb}"
        if self.low > -math.inf:
            return f"finite and {'>=' if self.low_inclusive else '>'} {self.low:g}"
        if self.high < math.inf:
            return f"finite and {'<=' if self.high_inclusive else '<'} {self.high:g}"
        return "finite"

    def check(self, y: Array, name: str, *, xp: Any, what: str) -> None:
        """Raise ValueError naming ``name`` if a target lies outside (infinite ones included).

        Two reductions (min and max); the element-wise mask only when one of them is NaN.
        """
        lo, hi = xp.min(y), xp.max(y)

        def outside(a: Array, b: Array) -> Array:
            below = (a < self.low) if self.low_inclusive else (a <= self.low)
            above = (b > self.high) if self.high_inclusive else (b >= self.high)
            return below | above | (a == -math.inf) | (b == math.inf)

        bad = concrete_bool(outside(lo, hi))
        if not bad and concrete_bool(xp.isnan(lo) | xp.isnan(hi)):
            bad = concrete_bool(xp.any(outside(y, y)))
        if bad:
            raise ValueError(
                f"{name} must be {self.requirement()} ({what}); found values that are not"
            )


_NONNEGATIVE = TargetDomain(0.0, True)
_POSITIVE = TargetDomain(0.0, False)
_REAL = TargetDomain(-math.inf, False)
_UNIT = TargetDomain(0.0, True, 1.0, True)


def _mean_link(y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
    """log of the weighted mean, the mean clipped below at 10 eps (scikit-learn's rule)."""
    mean = float(np.average(y, weights=w))
    return math.log(max(mean, _EPS10))


# ------------------------------------------------------------------------- shared formulas
def _small(z: Array, xp: Any) -> tuple[Array, Array]:
    """(|z| < 1, z there and 0 elsewhere): the zone of the expm1 forms."""
    small = xp.abs(z) < 1.0
    return small, xp.where(small, z, 0.0)


def _poisson(y: Array, z: Array, need: Need, xp: Any) -> Results:
    """``e^z - y z``, ``e^z - y`` (``expm1(z) + (1 - y)`` for |z| < 1), ``e^z``.

    ``y z`` is 0 at y = 0 whatever z (the limit at z = -inf); where ``e^z`` overflows the value
    is +inf (it exceeds the range whatever ``y z`` is, for targets below about 1e305).
    """
    ez = xp.exp(z)
    value = grad = None
    if need[0]:
        yz = y * xp.where(y == 0, 0.0, z)
        over = xp.isinf(ez)
        value = ez - xp.where(over, 0.0 * y, yz)
    if need[1]:
        small, zs = _small(z, xp)
        grad = xp.where(small, xp.expm1(zs) + (1.0 - y), ez - y)
    return value, grad, ez + 0.0 * y if need[2] else None  # a NaN target: NaN Hessian too


def _gamma(y: Array, z: Array, need: Need, xp: Any) -> Results:
    """``z + t``, ``1 - t`` (``(1 - y) - y expm1(-z)`` for |z| < 1), ``t`` with
    ``t = y e^(-z) = (y e^(-z/2)) e^(-z/2)``: finite wherever t is (y = 0.3 at z = -709.79,
    y = 1e300 at z = 750), no premature overflow or underflow."""
    a = xp.exp(-0.5 * z)
    t = (y * a) * a
    value = grad = None
    if need[0]:
        value = xp.where(xp.isinf(t), 0.0, z) + t  # z = -inf: t = +inf wins (no -inf + inf)
    if need[1]:
        small, zs = _small(z, xp)
        grad = xp.where(small, (1.0 - y) - y * xp.expm1(-zs), 1.0 - t)
    return value, grad, t if need[2] else None


def _squared_log(y: Array, z: Array, need: Need, xp: Any) -> Results:
    """Tweedie power 0 (scikit-learn): ``(e^z - y)^2 / 2`` with ``d = e^z - y``
    (``expm1(z) + (1 - y)`` for |z| < 1): ``(d / 2) d``, ``e^z d``, ``e^z (e^z + d)``."""
    ez = xp.exp(z)
    small, zs = _small(z, xp)
    d = xp.where(small, xp.expm1(zs) + (1.0 - y), ez - y)
    return (
        (0.5 * d) * d if need[0] else None,
        ez * d if need[1] else None,
        ez * (ez + d) if need[2] else None,
    )


def _combine(a: float, h2: Array, b: float, y: Array, h1: Array, z: Array, xp: Any) -> Array:
    """``a e^(k2 z) - b y e^(k1 z)`` from the half exponentials ``h2 = e^(k2 z / 2)`` and
    ``h1 = e^(k1 z / 2)``, as ``(a h2) h2 - ((b y) h1) h1``.

    Each term overflows only where it exceeds the float64 range itself (``0.5 y e^(709.07)`` at
    y = 2.5 is finite, ``e^(709.07)`` times anything above 1.7 is not), ``y e^(k1 z)`` is 0 at
    y = 0 whatever the exponential (no ``0 * inf``), and where both terms overflow the one
    with the larger exponent wins (``e^(k2 z)`` for z > 0, ``e^(k1 z)`` for z < 0: the limit,
    never ``inf - inf``).
    """
    first = (a * h2) * h2
    h1 = xp.where(y == 0, 0.0, h1)
    second = ((b * y) * h1) * h1
    both = xp.isinf(first) & xp.isinf(second)
    first = xp.where(both & (z < 0), 0.0, first)
    second = xp.where(both & (z > 0), 0.0, second)
    return first - second


def _tweedie(y: Array, z: Array, need: Need, xp: Any, power: float) -> Results:
    """Tweedie power p not in {0, 1, 2}, ``k2 = 2 - p``, ``k1 = 1 - p``,
    ``E2 = e^(k2 z)``, ``E1 = e^(k1 z)``:

    * |z| >= 1: ``E2 / k2 - (y / k1) E1``, ``E2 - y E1``, ``k2 E2 - (k1 y) E1``, each term
      from half exponentials by :func:`_combine` (no overflow before the result, no
      ``inf - inf``);
    * |z| < 1, ``m = expm1(z)``: ``E1 (m / k2 + (1 / k2 - y / k1))``, ``E1 (m + (1 - y))``,
      ``E1 (k2 m + (k2 - k1 y))``: the cancellation of ``e^z`` against y is exact there.
    """
    k2, k1 = 2.0 - power, 1.0 - power
    h2 = xp.exp(0.5 * (k2 * z))
    h1 = xp.exp(0.5 * (k1 * z))
    small, zs = _small(z, xp)
    m = xp.expm1(zs)
    h1s = xp.where(small, h1, 0.0)
    e1s = h1s * h1s
    value = grad = hess = None
    if need[0]:
        near = e1s * (m / k2 + (1.0 / k2 - y / k1))
        value = xp.where(small, near, _combine(1.0 / k2, h2, 1.0 / k1, y, h1, z, xp))
    if need[1]:
        near = e1s * (m + (1.0 - y))
        grad = xp.where(small, near, _combine(1.0, h2, 1.0, y, h1, z, xp))
    if need[2]:
        near = e1s * (k2 * m + (k2 - k1 * y))
        hess = xp.where(small, near, _combine(k2, h2, k1, y, h1, z, xp))
    return value, grad, hess


class _LogLinkLoss(Loss):
    """Regression on the log link: targets checked against :attr:`target_domain`, intercept
    ``log(weighted mean of y)`` (the exact minimiser of every loss here; the mean clipped below
    at 10 eps as scikit-learn does, so an all-zero target gives log(10 eps) = -33.7)."""

    kind: ClassVar[Any] = "regression"
    link: ClassVar[LogLink] = LogLink()

    @property
    def target_domain(self) -> TargetDomain:
        """The targets this loss accepts."""
        return _NONNEGATIVE

    def _check_target_values(self, y: Array, z: Array, xp: Any) -> None:
        self.target_domain.check(y, "y_true", xp=xp, what=f"targets of {self.name}")

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return _mean_link(y, w)


@register
@dataclass(frozen=True)
class HalfPoissonLoss(_LogLinkLoss):
    """Half Poisson deviance with log link (scikit-learn ``HalfPoissonLoss``).

    ``L = e^z - y z``, gradient ``e^z - y``, Hessian ``e^z``, for counts or rates ``y >= 0``;
    the prediction is ``e^z`` (:class:`losslab.links.LogLink`). The constant
    ``y log y - y`` of the half deviance is dropped, as in scikit-learn (its
    ``constant_to_optimal_zero``). XGBoost ``count:poisson`` and LightGBM ``poisson`` have the
    same gradient; XGBoost's Hessian is ``e^(z + max_delta_step)`` (default 0.7).

    Raises ValueError for negative or infinite targets.
    """

    name: ClassVar[str] = "half_poisson"
    kernel: ClassVar[str | None] = "half_poisson"

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        return _poisson(y, z, need, xp)


@register
@dataclass(frozen=True)
class HalfGammaLoss(_LogLinkLoss):
    """Half Gamma deviance with log link (scikit-learn ``HalfGammaLoss``).

    ``L = z + y e^(-z)``, gradient ``1 - y e^(-z)``, Hessian ``y e^(-z)``, for ``y > 0``. The
    constant ``-log y - 1`` is dropped, as in scikit-learn. XGBoost ``reg:gamma`` and LightGBM
    ``gamma`` use the same gradient and Hessian.

    Raises ValueError for targets that are not positive and finite.
    """

    name: ClassVar[str] = "half_gamma"
    kernel: ClassVar[str | None] = "half_gamma"

    @property
    def target_domain(self) -> TargetDomain:
        """y > 0."""
        return _POSITIVE

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        return _gamma(y, z, need, xp)


@register
@dataclass(frozen=True)
class HalfTweedieLoss(_LogLinkLoss):
    """Half Tweedie deviance with log link (scikit-learn ``HalfTweedieLoss(power)``).

    For ``p = power`` not in {0, 1, 2}::

        L = e^((2-p) z) / (2-p) - y e^((1-p) z) / (1-p)
        dL/dz = e^((2-p) z) - y e^((1-p) z)
        d2L/dz2 = (2-p) e^((2-p) z) - (1-p) y e^((1-p) z)

    which is the half deviance without its constant ``max(y, 0)^(2-p) / ((1-p)(2-p))``
    (scikit-learn's ``constant_to_optimal_zero``; ``HalfTweedieLossIdentity`` is the other
    link). As in scikit-learn, ``p = 0``, 1 and 2 are ``(e^z - y)^2 / 2``,
    :class:`HalfPoissonLoss` and :class:`HalfGammaLoss`, each without its own constant, so the
    loss is not continuous in p. Targets: any finite y for ``p <= 0``, ``y >= 0`` for
    ``0 < p < 2``, ``y > 0`` for ``p >= 2``. Convex for ``1 <= p <= 2``; otherwise the Hessian
    is negative somewhere (``hessian_sign`` "indefinite"). ``0 < p < 1`` is no Tweedie
    distribution but a strictly consistent scoring function for the mean. XGBoost
    ``reg:tweedie`` and LightGBM ``tweedie`` (both ``1 <= p < 2``) use the same gradient and
    Hessian.

    Parameters
    ----------
    power : float, default 1.5
        The Tweedie power p, any finite number (compound Poisson-Gamma for 1 < p < 2).
    """

    name: ClassVar[str] = "half_tweedie"
    kernel: ClassVar[str | None] = "half_tweedie"
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"power": 3.0},
        {"power": 1.0},
        {"power": 2.0},
        {"power": 0.5},
    )
    power: float = param(1.5, doc="Tweedie power p (1: Poisson, 2: Gamma, 3: inverse Gaussian).")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.power, 0.0

    @property
    def convex(self) -> bool:
        """True for 1 <= power <= 2."""
        return 1.0 <= self.power <= 2.0

    @property
    def hessian_sign(self) -> Any:
        """ "positive" for 1 <= power <= 2, else "indefinite" (negative for large z when
        p > 2, for small z when p < 1 and y > 0)."""
        return "positive" if self.convex else "indefinite"

    @property
    def target_domain(self) -> TargetDomain:
        """Finite y for p <= 0, y >= 0 for 0 < p < 2, y > 0 for p >= 2."""
        if self.power <= 0:
            return _REAL
        return _NONNEGATIVE if self.power < 2 else _POSITIVE

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        p = self.power
        if p == 0:
            return _squared_log(y, z, need, xp)
        if p == 1:
            return _poisson(y, z, need, xp)
        if p == 2:
            return _gamma(y, z, need, xp)
        return _tweedie(y, z, need, xp, p)


@register
@dataclass(frozen=True)
class ExponentialLoss(Loss):
    """Exponential loss, the AdaBoost loss (scikit-learn ``ExponentialLoss``).

    ``L = y e^(-z) + (1 - y) e^z`` for labels ``y`` in [0, 1] (soft labels allowed; for
    ``y`` in {0, 1} it is ``exp(-(2y - 1) z)``), gradient ``(1 - y) e^z - y e^(-z)``, Hessian
    ``L``. Its link is the half logit: ``P(y = 1) = sigmoid(2 z)``
    (:class:`losslab.links.HalfLogitLink`; Friedman, Hastie and Tibshirani 2000). With
    ``e = e^(-|z|/2)`` the growing term is ``(c / e) / e`` and the decaying one ``(c e) e``, so
    nothing overflows before the result does; for |z| < 1 the gradient is
    ``(1 - 2y) cosh z + sinh z`` (exact cancellation at the minimiser). The intercept is
    ``logit(mean) / 2``, the mean clipped to [10 eps, 1 - 10 eps] as in scikit-learn.
    """

    name: ClassVar[str] = "exponential"
    kind: ClassVar[Any] = "binary"
    link: ClassVar[HalfLogitLink] = HalfLogitLink()
    kernel: ClassVar[str | None] = "exponential"

    @property
    def target_domain(self) -> TargetDomain:
        """0 <= y <= 1."""
        return _UNIT

    @property
    def hessian_policies(self) -> tuple[HessianPolicy, ...]:
        """``exact`` (positive: the Hessian equals the loss), ``floor``, ``constant``; no
        ``gauss_newton``, whose formula assumes the logit link ``sigmoid(z)``."""
        return (HessianPolicy("exact"), HessianPolicy("floor"), HessianPolicy("constant"))

    def _check_target_values(self, y: Array, z: Array, xp: Any) -> None:
        _validate.check_in_unit_interval(y, "y_true", xp=xp, what=f"labels of {self.name}")

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        nonneg = z >= 0
        e = xp.exp(-0.5 * xp.abs(z))
        ym = 1.0 - y
        c_grow = xp.where(nonneg, ym, y)  # coefficient of e^|z|
        c_decay = xp.where(nonneg, y, ym)  # coefficient of e^-|z|
        big = xp.where(c_grow == 0, 0.0, 1.0 / e)  # no 0 * inf where e underflows
        grow = (c_grow * big) * big
        decay = (c_decay * e) * e
        value = grow + decay
        grad = None
        if need[1]:
            small, zs = _small(z, xp)
            near = (1.0 - 2.0 * y) * xp.cosh(zs) + xp.sinh(zs)
            grad = xp.where(small, near, xp.where(nonneg, grow - decay, decay - grow))
        return value if need[0] else None, grad, value if need[2] else None

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        mean = min(max(float(np.average(y, weights=w)), _EPS10), 1.0 - _EPS10)
        return 0.5 * (math.log(mean) - math.log1p(-mean))
