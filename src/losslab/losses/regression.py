"""Regression losses on the residual r = raw_prediction - y_true, from square to absolute.

Square loss converges fast but is pulled by outliers; absolute loss resists them but its
gradient never shrinks; Huber, pseudo-Huber and log-cosh sit between them (quadratic near 0,
linear far away); pinball is the asymmetric absolute loss of quantile regression. The link is
the identity. Each piecewise formula keeps both branches finite ("double where").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from losslab import _validate
from losslab._array_api import Array, supports_float64
from losslab.losses._base import Loss, Need, Results, register
from losslab.losses._intercept import bisect_increasing, weighted_quantile
from losslab.losses._params import param
from losslab.losses._policy import HessianPolicy

__all__ = [
    "AbsoluteError",
    "HalfSquaredError",
    "HuberLoss",
    "LogCoshLoss",
    "PinballLoss",
    "PseudoHuberLoss",
    "SquaredError",
]

_LOG2 = math.log(2.0)

_MAJORISED = (
    HessianPolicy("constant", value=1.0),
    HessianPolicy("exact"),
    HessianPolicy("floor"),
)
"""Pseudo-Huber and log-cosh: positive Hessians that decay far from the optimum, so boosting
defaults to the constant 1, their supremum (a majoriser; ``docs/boosting.md``)."""


def _constant(r: Array, c: float, xp: Any) -> Array:
    """An array of ``c`` shaped like ``r``, NaN where ``r`` is NaN (NaN touches every output)."""
    return xp.where(xp.isnan(r), r, xp.full_like(r, c))


class _RegressionLoss(Loss):
    """Shared pieces: the residual and a bisection intercept between min(y) and max(y)."""

    kind: ClassVar[Any] = "regression"

    def _check_target_values(self, y: Array, z: Array, xp: Any) -> None:
        _validate.check_no_inf(y, "y_true", xp=xp)

    def _bisect_intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        def summed_gradient(c: float) -> float:
            return float(np.sum(w * self.gradient(y, np.full(y.shape, c), validate=False)))

        return bisect_increasing(summed_gradient, float(np.min(y)), float(np.max(y)))

    def _weighted_mean(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return float(np.sum(w * y) / np.sum(w))


@register
@dataclass(frozen=True)
class SquaredError(_RegressionLoss):
    """Squared error ``r^2`` (torch ``mse_loss``, Keras): gradient ``2 r``, Hessian 2.

    See :class:`HalfSquaredError` for ``r^2 / 2``, the convention of XGBoost, LightGBM and
    scikit-learn.
    """

    name: ClassVar[str] = "squared_error"
    constant_hessian: ClassVar[bool] = True
    kernel: ClassVar[str | None] = "squared"

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        r = z - y
        return (
            r * r if need[0] else None,
            2.0 * r if need[1] else None,
            _constant(r, 2.0, xp) if need[2] else None,
        )

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._weighted_mean(y, w)


@register
@dataclass(frozen=True)
class HalfSquaredError(_RegressionLoss):
    """Half squared error ``r^2 / 2``: gradient ``r``, Hessian 1 (XGBoost ``reg:squarederror``,
    LightGBM ``regression``, scikit-learn ``HalfSquaredError``).

    The value is computed as ``(0.5 r) r``, one rounding, finite up to |r| = 1.9e154.
    """

    name: ClassVar[str] = "half_squared_error"
    constant_hessian: ClassVar[bool] = True
    kernel: ClassVar[str | None] = "squared"

    def _kernel_args(self) -> tuple[float, ...]:
        return 1.0, 0.0  # the half

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        r = z - y
        return (
            (0.5 * r) * r if need[0] else None,
            r if need[1] else None,
            _constant(r, 1.0, xp) if need[2] else None,
        )

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._weighted_mean(y, w)


@register
@dataclass(frozen=True)
class AbsoluteError(_RegressionLoss):
    """Absolute error ``|r|``: gradient ``sign(r)`` (0 at r = 0, the minimum-norm
    subgradient), Hessian 0 (exact almost everywhere: boosting needs a policy).
    """

    name: ClassVar[str] = "absolute_error"
    differentiable: ClassVar[bool] = False
    kernel: ClassVar[str | None] = "linear"

    def _kernel_args(self) -> tuple[float, ...]:
        return 0.5, 1.0  # 2 * pinball(0.5)

    def kinks(self) -> tuple[float, ...]:
        """The gradient jumps at r = 0."""
        return (0.0,)

    @property
    def hessian_sign(self) -> Any:
        """ "zero": the exact Hessian is 0 almost everywhere."""
        return "zero"

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        r = z - y
        return (
            xp.abs(r) if need[0] else None,
            xp.sign(r) if need[1] else None,
            _constant(r, 0.0, xp) if need[2] else None,
        )

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return weighted_quantile(y, w, 0.5)


@register
@dataclass(frozen=True)
class HuberLoss(_RegressionLoss):
    """Huber loss (Huber 1964; torch ``HuberLoss(delta)``).

    ``L = r^2 / 2`` for ``|r| <= delta`` and ``delta (|r| - delta / 2)`` otherwise; gradient
    ``r`` or ``delta sign(r)`` (continuous, not doubled at the kink); Hessian 1 for
    ``|r| <= delta`` and 0 beyond (the second derivative jumps at ``|r| = delta``).
    torch's ``SmoothL1Loss(beta)`` is ``HuberLoss(delta=beta) / beta``.

    Parameters
    ----------
    delta : float, default 1.0
        Where the quadratic turns linear, > 0.
    """

    name: ClassVar[str] = "huber"
    kernel: ClassVar[str | None] = "huber"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"delta": 0.5},)
    delta: float = param(1.0, low=0.0, low_inclusive=False, doc="Where the quadratic turns linear.")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.delta, 0.0

    def kinks(self) -> tuple[float, ...]:
        """The Hessian jumps at r = -delta and r = delta."""
        return (-self.delta, self.delta)

    @property
    def hessian_sign(self) -> Any:
        """ "nonnegative": 1 inside the quadratic zone, 0 outside."""
        return "nonnegative"

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        d = self.delta
        r = z - y
        inner = xp.abs(r) <= d
        if z.dtype == xp.float32 and supports_float64(xp, z):
            # Which side of the kink: decided on the exact residual (z - y is exact in float64
            # for float32 inputs), as the fused kernels decide it; the float32 difference can
            # round onto |r| = delta.
            r64 = xp.astype(z, xp.float64) - xp.astype(y, xp.float64)
            inner = xp.abs(r64) <= d
        value = grad = hess = None
        if need[0]:
            r_in = xp.where(inner, r, 0.0)
            value = xp.where(inner, (0.5 * r_in) * r_in, d * (xp.abs(r) - 0.5 * d))
        if need[1]:
            grad = xp.where(inner, r, d * xp.sign(r))
        if need[2]:
            hess = xp.where(xp.isnan(r), r, xp.astype(inner, r.dtype))
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._bisect_intercept(y, w)


@register
@dataclass(frozen=True)
class PseudoHuberLoss(_RegressionLoss):
    """Pseudo-Huber loss (Charbonnier): ``delta^2 (sqrt(1 + (r / delta)^2) - 1)``.

    Gradient ``r / sqrt(1 + (r / delta)^2)``, Hessian ``(1 + (r / delta)^2)^(-3/2)``: smooth,
    quadratic near 0 and linear with slope delta far away. Evaluated without cancellation:
    for ``|r| <= delta`` with ``h = hypot(1, r / delta)``: value ``r (r / (h + 1))``, gradient
    ``r / h``, Hessian ``(1 / h)^3``; beyond, with ``w = delta / |r|`` and ``s = hypot(1, w)``:
    value ``|r| delta / (s + w)``, gradient ``sign(r) delta / s``, Hessian ``(w / s)^3`` (so
    ``r / delta`` never overflows).

    Parameters
    ----------
    delta : float, default 1.0
        Scale of the quadratic zone, > 0.
    """

    name: ClassVar[str] = "pseudo_huber"
    kernel: ClassVar[str | None] = "pseudo_huber"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"delta": 0.3},)
    delta: float = param(1.0, low=0.0, low_inclusive=False, doc="Scale of the quadratic zone.")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.delta, 0.0

    @property
    def hessian_policies(self) -> tuple[HessianPolicy, ...]:
        return _MAJORISED

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        d = self.delta
        r = z - y
        a = xp.abs(r)
        inner = a <= d
        r_in = xp.where(inner, r, 0.0)
        a_out = xp.where(inner, d, a)
        h = xp.hypot(xp.ones_like(r_in), r_in / d)
        w = d / a_out
        s = xp.hypot(xp.ones_like(w), w)
        value = grad = hess = None
        if need[0]:
            value = xp.where(inner, r_in * (r_in / (h + 1.0)), a_out * (d / (s + w)))
        if need[1]:
            grad = xp.where(inner, r_in / h, xp.sign(r) * (d / s))
        if need[2]:
            ih = 1.0 / h
            ws = w / s
            hess = xp.where(inner, ih * ih * ih, ws * ws * ws)
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._bisect_intercept(y, w)


@register
@dataclass(frozen=True)
class LogCoshLoss(_RegressionLoss):
    """Log-cosh loss ``log(cosh(r))``: gradient ``tanh(r)``, Hessian ``sech(r)^2``.

    Quadratic (``r^2 / 2``) near 0 and ``|r| - log 2`` far away, without overflow:
    ``log1p(2 sinh(r / 2)^2)`` for ``|r| <= 1`` and ``|r| - log 2 + log1p(exp(-2|r|))``
    otherwise; Hessian ``4 e / (1 + e)^2`` with ``e = exp(-2|r|)``.
    """

    name: ClassVar[str] = "log_cosh"
    kernel: ClassVar[str | None] = "log_cosh"

    @property
    def hessian_policies(self) -> tuple[HessianPolicy, ...]:
        return _MAJORISED

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        r = z - y
        a = xp.abs(r)
        e = xp.exp(-2.0 * a)
        value = grad = hess = None
        if need[0]:
            small = a <= 1.0
            r_in = xp.where(small, r, 0.0)
            sh = xp.sinh(0.5 * r_in)
            value = xp.where(small, xp.log1p(2.0 * (sh * sh)), (a - _LOG2) + xp.log1p(e))
        if need[1]:
            grad = xp.tanh(r)
        if need[2]:
            one_e = 1.0 + e
            hess = 4.0 * e / (one_e * one_e)
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._bisect_intercept(y, w)


@register
@dataclass(frozen=True)
class PinballLoss(_RegressionLoss):
    """Pinball (quantile) loss of quantile regression (Koenker and Bassett 1978).

    With ``u = y - z``: ``L = tau u`` for ``u >= 0`` and ``(tau - 1) u`` for ``u < 0``, tau the
    ``quantile``. Gradient with respect to z: ``-tau`` where ``y > z``, ``1 - tau`` where
    ``y < z`` and 0 at ``y == z`` (the minimum-norm subgradient); Hessian 0 almost everywhere.
    ``2 * pinball(0.5) == absolute_error``. The intercept is the weighted tau-quantile.

    Parameters
    ----------
    quantile : float, default 0.5
        tau in (0, 1).
    """

    name: ClassVar[str] = "pinball"
    differentiable: ClassVar[bool] = False
    kernel: ClassVar[str | None] = "linear"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"quantile": 0.1}, {"quantile": 0.9})
    quantile: float = param(
        0.5,
        low=0.0,
        high=1.0,
        low_inclusive=False,
        high_inclusive=False,
        doc="The quantile tau.",
    )

    def _kernel_args(self) -> tuple[float, ...]:
        return self.quantile, 0.0

    def kinks(self) -> tuple[float, ...]:
        """The gradient jumps at r = 0."""
        return (0.0,)

    @property
    def hessian_sign(self) -> Any:
        """ "zero": the exact Hessian is 0 almost everywhere."""
        return "zero"

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        tau = self.quantile
        r = z - y
        over = r > 0
        value = grad = hess = None
        if need[0]:
            value = xp.where(over, (1.0 - tau) * r, tau * -r)
        if need[1]:
            grad = xp.where(over, 1.0 - tau, xp.where(r < 0, -tau, _constant(r, 0.0, xp)))
            grad = xp.astype(grad, r.dtype) if grad.dtype != r.dtype else grad
        if need[2]:
            hess = _constant(r, 0.0, xp)
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return weighted_quantile(y, w, self.quantile)
