"""Binary classification losses on logits: log loss, focal loss and FL* (RetinaNet appendix).

All three take labels ``y`` in [0, 1] (soft labels allowed) and the logit ``z``; the
probability of the positive class is ``sigmoid(z)`` (``LogitLink``). Derivatives are with
respect to ``z``. The formulas are the cancellation-free forms of ``shared/golden/README.md``,
built from :mod:`losslab._numerics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from losslab import _validate
from losslab._array_api import Array, concrete_bool, is_lazy_namespace
from losslab._numerics import SigmoidParts, equals, focal_margin, times
from losslab.links import LogitLink
from losslab.losses._base import Focused, Loss, Need, Results, register
from losslab.losses._intercept import LOGIT_BOUND, bisect_increasing
from losslab.losses._params import param
from losslab.losses._policy import HessianPolicy

__all__ = ["FocalLoss", "FocalStarLoss", "LogLoss"]


class _BinaryLoss(Loss):
    """Shared target checks and proba helpers for losses on labels in [0, 1]."""

    kind: ClassVar[Any] = "binary"
    link: ClassVar[LogitLink] = LogitLink()

    def _check_target_values(self, y: Array, z: Array, xp: Any) -> None:
        _validate.check_in_unit_interval(y, "y_true", xp=xp, what=f"labels of {self.name}")

    def _solve_intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        """Bisection on the summed gradient. Hard labels are summarised by their total weights
        first (``sum w g(y, c) = W1 g(1, c) + W0 g(0, c)`` plus the soft labels' terms), so each
        step costs O(number of soft labels): 10^7 hard labels take one pass, not 60."""
        is1, is0 = y == 1, y == 0
        soft = ~(is1 | is0)
        ys = np.concatenate([[1.0, 0.0], y[soft]])
        ws = np.concatenate([[float(np.sum(w[is1])), float(np.sum(w[is0]))], w[soft]])

        def summed_gradient(c: float) -> float:
            g = self.gradient(ys, np.full(ys.shape, c), validate=False)
            return float(np.sum(ws * g))

        return bisect_increasing(summed_gradient, -LOGIT_BOUND, LOGIT_BOUND)

    def _proba_inputs(
        self, y_true: Any, y_proba: Any, clip: float | None, validate: bool
    ) -> tuple[Any, Array, Array, Any]:
        if clip is not None:
            clip = _validate.check_real_param(
                "clip", clip, low=0.0, high=0.5, low_inclusive=False, high_inclusive=False
            )
        p = self._prepare(y_true, y_proba, None, validate, z_name="y_proba")
        xp, y, proba = p.xp, p.y, p.z
        if validate:
            _validate.check_in_unit_interval(proba, "y_proba", xp=xp, what="probabilities")
        if clip is not None:
            proba = xp.clip(proba, clip, 1.0 - clip)
        return xp, y, proba, p.out_dtype


def _log_loss_proba_value(y: Array, p: Array, xp: Any, pos_weight: float = 1.0) -> Array:
    """-w y log p - (1 - y) log(1 - p), a term with label weight 0 dropped (0 log 0 = 0)."""
    pos, neg = y > 0, y < 1
    wy = y if pos_weight == 1.0 else pos_weight * y
    term1 = xp.where(pos, wy * -xp.log(xp.where(pos, p, 1.0)), 0.0)
    term0 = xp.where(neg, (1.0 - y) * -xp.log1p(-xp.where(neg, p, 0.0)), 0.0)
    return term1 + term0 + 0.0 * y  # a NaN label (neither > 0 nor < 1) gives NaN


def _alpha_t(y: Array, alpha: float | None) -> Array | float:
    """alpha_t = alpha * y + (1 - alpha) * (1 - y): alpha weights the positives."""
    if alpha is None:
        return 1.0
    return alpha * y + (1.0 - alpha) * (1.0 - y)


@register
@dataclass(frozen=True)
class LogLoss(_BinaryLoss):
    """Log loss (binary cross-entropy) on the logit: the half binomial deviance.

    ``L(y, z) = y * softplus(-z) + (1 - y) * softplus(z) = log(1 + e^z) - y z``,
    gradient ``sigmoid(z) - y = (1 - y) sigmoid(z) - y sigmoid(-z)``, Hessian
    ``sigmoid(z) sigmoid(-z)``. With ``pos_weight = w`` the positive term is weighted, as in
    torch's ``BCEWithLogitsLoss(pos_weight=w)``: ``L = w y softplus(-z) + (1 - y) softplus(z)``,
    gradient ``(1 - y) sigmoid(z) - w y sigmoid(-z)``, Hessian
    ``(w y + 1 - y) sigmoid(z) sigmoid(-z)``; the intercept is the logit of
    ``w sum(y) / (w sum(y) + sum(1 - y))``. Labels ``y`` in [0, 1] (soft labels allowed). The
    written form is a convex combination of two softplus terms that never cancel, so relative
    accuracy holds for y near 1 and z >> 0 too. It equals scikit-learn's ``HalfBinomialLoss``
    and torch's ``binary_cross_entropy_with_logits``.

    The same objective on probabilities is :meth:`loss_from_proba` (log loss on
    ``p = sigmoid(z)``); it agrees with :meth:`loss` up to the rounding of ``p`` and breaks where
    ``sigmoid(z)`` rounds to 1 (``z`` > 36.7 in float64, > 16.6 in float32).

    Parameters
    ----------
    pos_weight : float, default 1.0
        Weight of the positive term, > 0.

    Example
    -------
    >>> import numpy as np, losslab
    >>> float(losslab.get_loss("log_loss").loss(np.array(1.0), np.array(0.0)))
    0.6931471805599453
    """

    name: ClassVar[str] = "log_loss"
    kernel: ClassVar[str | None] = "log_loss"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"pos_weight": 3.0}, {"pos_weight": 0.2})
    pos_weight: float = param(
        1.0,
        low=0.0,
        low_inclusive=False,
        doc="Weight of the positive term (torch's BCEWithLogitsLoss pos_weight).",
    )

    def _kernel_args(self) -> tuple[float, ...]:
        return self.pos_weight, 0.0

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        s = SigmoidParts(z, xp=xp)
        unit = equals(self.pos_weight, 1.0)  # False for a traced pos_weight (general formula)
        wy = y if unit else self.pos_weight * y
        value = grad = hess = None
        if need[0]:  # times: a term of label weight 0 is dropped (finite limits at z = +-inf)
            value = times(wy, s.softplus_neg(), xp) + times(1.0 - y, s.softplus(), xp)
        if need[1]:
            grad = (1.0 - y) * s.p - wy * s.q
        if need[2]:  # 0 * y: a NaN label makes its Hessian NaN too
            hess = s.pq() + 0.0 * y if unit else (wy + (1.0 - y)) * s.pq()
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        # sum w [(1 - y) sigmoid(c) - pos_weight y sigmoid(-c)] = 0
        eps = float(np.finfo(np.float64).eps)
        pos = self.pos_weight * float(np.sum(w * y))
        neg = float(np.sum(w * (1.0 - y)))
        mean = float(np.clip(pos / (pos + neg), eps, 1.0 - eps))
        return float(np.log(mean) - np.log1p(-mean))

    def loss_from_proba(
        self, y_true: Any, y_proba: Any, *, clip: float | None = None, validate: bool = True
    ) -> Array:
        """Log loss on probabilities: ``-w y log p - (1 - y) log(1 - p)`` (``w`` the
        ``pos_weight``).

        No clipping unless asked: ``p = 0`` with ``y > 0`` and ``p = 1`` with ``y < 1`` give
        ``inf`` (the true loss); a term whose label weight is exactly 0 is dropped
        (``0 * log 0 = 0``), so ``y = 0, p = 0`` gives 0. ``clip=eps`` replaces ``p`` by
        ``clip(p, eps, 1 - eps)`` first, the Keras/scikit-learn practice, which caps the loss
        at ``-log(eps)`` and the gradient of a confidently wrong example.

        Raises
        ------
        ValueError
            ``y_proba`` outside [0, 1], labels outside [0, 1], ``clip`` outside (0, 0.5).
        """
        xp, y, p, out_dtype = self._proba_inputs(y_true, y_proba, clip, validate)
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            value = _log_loss_proba_value(y, p, xp, self.pos_weight)
        return value if value.dtype == out_dtype else xp.astype(value, out_dtype)

    def loss_gradient_hessian_from_proba(
        self, y_true: Any, y_proba: Any, *, validate: bool = True
    ) -> tuple[Array, Array, Array]:
        """Value, d/dp and d^2/dp^2 of the log loss on probabilities (no clipping).

        ``d/dp = (p - y) / (p (1 - p))`` (exact near the optimum: ``p - y`` is exact there),
        ``d^2/dp^2 = (y / p) / p + ((1 - y) / (1 - p)) / (1 - p)`` (no premature underflow of
        ``p^2``). Terms with label weight 0 are dropped: ``y = 0`` gives ``1 / (1 - p)`` and
        ``1 / (1 - p)^2`` even at ``p = 0``. Infinite where the true derivative is. With a
        ``pos_weight`` ``w``, ``d/dp = (1 - y) / (1 - p) - w y / p`` and the ``y`` terms of the
        second derivative are multiplied by ``w``.
        """
        xp, y, p, out_dtype = self._proba_inputs(y_true, y_proba, None, validate)
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            return self._lgh_from_proba(xp, y, p, out_dtype, self.pos_weight)

    @staticmethod
    def _lgh_from_proba(
        xp: Any, y: Array, p: Array, out_dtype: Any, pos_weight: float = 1.0
    ) -> tuple[Array, Array, Array]:
        value = _log_loss_proba_value(y, p, xp, pos_weight)
        is0, is1 = y == 0, y == 1
        pos, neg = y > 0, y < 1
        p_pos = xp.where(pos, p, 1.0)
        p_neg = xp.where(neg, p, 0.0)
        if pos_weight == 1.0:
            y_mid = xp.where(is0 | is1, 0.5, y)
            grad_mid = (p - y_mid) / (p * (1.0 - p))
            grad = xp.where(is0, 1.0 / (1.0 - p), xp.where(is1, -1.0 / p, grad_mid))
        else:
            grad = xp.where(neg, (1.0 - y) / (1.0 - p_neg), 0.0) - xp.where(
                pos, pos_weight * y / p_pos, 0.0
            )
        wy = y if pos_weight == 1.0 else pos_weight * y
        hess = xp.where(pos, (wy / p_pos) / p_pos, 0.0) + xp.where(
            neg, ((1.0 - y) / (1.0 - p_neg)) / (1.0 - p_neg), 0.0
        )
        hess = hess + 0.0 * y  # a NaN label: NaN, not 0
        out = (value, grad, hess)
        if value.dtype == out_dtype:
            return out
        return xp.astype(value, out_dtype), xp.astype(grad, out_dtype), xp.astype(hess, out_dtype)


@register
@dataclass(frozen=True)
class FocalLoss(Focused, _BinaryLoss):
    """Sigmoid focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection", Eq. 5).

    ``FL = -alpha_t (1 - p_t)^gamma log(p_t)`` with ``p = sigmoid(z)``,
    ``p_t = p`` for ``y = 1`` and ``1 - p`` for ``y = 0``, ``alpha_t = alpha`` for ``y = 1``
    and ``1 - alpha`` for ``y = 0`` (alpha weights the positives, as in the paper, torchvision
    and optax; ``alpha=None`` means no weighting, torchvision's ``alpha < 0``). Soft labels use
    the torchvision generalisation ``alpha_t * CE(y, z) * (1 - p_t)^gamma`` with
    ``p_t = p y + (1 - p)(1 - y)`` and ``alpha_t = alpha y + (1 - alpha)(1 - y)``.

    With the margin ``x_t = (2y - 1) z``, ``q = sigmoid(-x_t) = 1 - p_t`` and
    ``l = softplus(-x_t) = -log p_t`` (hard labels)::

        FL      = alpha_t q^gamma l
        dFL/dz  = -(2y - 1) alpha_t q^gamma (gamma p_t l + q)              (paper, Eq. 10)
        d2FL/dz2 = alpha_t q^gamma [gamma (p_t l)(gamma p_t - q) + (2 gamma + 1) q p_t]

    ``q^gamma`` comes from :func:`losslab._numerics.sigmoid_pow`, never from ``1 - p_t``, so the
    loss, gradient and Hessian stay finite and accurate for every finite z and gamma >= 0
    (gamma < 1 included), and autodiff through :meth:`loss` is NaN-free. The exact Hessian is
    negative for hard examples (p_t below about 0.058 at gamma = 2): ``hessian_sign`` is
    "indefinite" for gamma > 0. ``gamma = 0`` is alpha-balanced log loss.

    Parameters
    ----------
    gamma : float, default 2.0
        Focusing parameter, >= 0.
    alpha : float or None, default 0.25
        Weight of the positives in [0, 1], or None for no weighting.
    """

    name: ClassVar[str] = "focal"
    supports_positives: ClassVar[bool] = True
    kernel: ClassVar[str | None] = "focal"
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"gamma": 0.0, "alpha": None},
        {"gamma": 0.0, "alpha": 0.25},
        {"gamma": 0.5, "alpha": None},
        {"gamma": 0.5, "alpha": 0.25},
        {"gamma": 2.0, "alpha": None},
    )
    gamma: float = param(2.0, low=0.0, doc="Focusing parameter.")
    alpha: float | None = param(
        0.25, kind="optional_real", low=0.0, high=1.0, doc="Weight of the positives."
    )

    def _kernel_args(self) -> tuple[float, ...]:
        return self.gamma, -1.0 if self.alpha is None else self.alpha

    def _positives(self, y: Array, z: Array, xp: Any) -> Array:
        return y

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        hard = (y == 0) | (y == 1)
        if not is_lazy_namespace(xp):
            # Eager arrays: one branch when the labels are all hard (the common case) or all
            # soft. Under jax.jit the answer is not known (None) and both branches run.
            if concrete_bool(xp.all(hard)):
                return self._hard(y, z, need, xp)
            if concrete_bool(xp.all(~hard)):
                return self._soft(y, z, need, xp)
        # Both branches, each fed safe inputs where it is not selected ("double where").
        rh = self._hard(xp.where(hard, y, 1.0), z, need, xp)
        rs = self._soft(xp.where(hard, 0.5, y), z, need, xp)
        return tuple(  # type: ignore[return-value]
            None if a is None else xp.where(hard, a, b) for a, b in zip(rh, rs, strict=True)
        )

    def _hard(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        sign = 2.0 * y - 1.0
        value, g, hess = focal_margin(sign * z, self.gamma, _alpha_t(y, self.alpha), need, xp)
        return value, None if g is None else sign * g, hess

    def _soft(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        # m = 1 - p_t = y sigmoid(-z) + (1 - y) sigmoid(z) >= min(y, 1 - y) > 0, and
        # rho = m'/m = (1 - 2y) s(1 - s) / m with |rho| <= 1: derivatives as in the golden
        # README's soft-label forms, rewritten with rho so nothing divides by a tiny m.
        gamma = self.gamma
        s = SigmoidParts(z, xp=xp)
        at = _alpha_t(y, self.alpha)
        m = y * s.q + (1.0 - y) * s.p
        mg = at * (xp.pow(m, gamma) if gamma != 0 else xp.ones_like(m))
        ce = times(y, s.softplus_neg(), xp) + times(1.0 - y, s.softplus(), xp)
        value = grad = hess = None
        if need[0]:
            value = mg * ce
        if need[1] or need[2]:
            pq = s.pq()
            ce1 = (1.0 - y) * s.p - y * s.q
            t = gamma * ((1.0 - 2.0 * y) * pq / m)
            tce = times(t, ce, xp)  # t = 0 where p q underflows: the limit at z = +-inf
            if need[1]:
                grad = mg * (ce1 + tce)
            if need[2]:
                rho = (1.0 - 2.0 * y) * pq / m
                hess = mg * (pq + 2.0 * t * ce1 + tce * ((gamma - 1.0) * rho - xp.tanh(0.5 * z)))
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._solve_intercept(y, w)

    def loss_from_proba(
        self, y_true: Any, y_proba: Any, *, clip: float | None = None, validate: bool = True
    ) -> Array:
        """Focal loss on probabilities ``p = P(y = 1)``: ``alpha_t * CE(y, p) * (1 - p_t)^gamma``.

        ``CE(y, p)`` is :meth:`LogLoss.loss_from_proba` (inf where the true loss is infinite,
        0 log 0 = 0) and ``1 - p_t = y (1 - p) + (1 - y) p``. ``clip`` as there.
        """
        xp, y, p, out_dtype = self._proba_inputs(y_true, y_proba, clip, validate)
        m = y * (1.0 - p) + (1.0 - y) * p
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            mg = xp.pow(m, self.gamma) if self.gamma != 0 else xp.ones_like(m)
            value = _alpha_t(y, self.alpha) * _log_loss_proba_value(y, p, xp) * mg
        return value if value.dtype == out_dtype else xp.astype(value, out_dtype)


@register
@dataclass(frozen=True)
class FocalStarLoss(_BinaryLoss):
    """FL*, the focal-loss variant of the RetinaNet paper's appendix A (Lin et al. 2017).

    With ``x_t = (2y - 1) z`` and ``p*_t = sigmoid(gamma x_t + beta)``,
    ``FL* = -log(p*_t) / gamma = softplus(-(gamma x_t + beta)) / gamma``. Soft labels
    interpolate linearly between the two binary cases::

        FL*      = [y softplus(-(gamma z + beta)) + (1 - y) softplus(gamma z - beta)] / gamma
                 (each softplus(x) / gamma as max(x / gamma, 0) + log1p(e^-|x|) / gamma, so
                 that nothing overflows where gamma |z| exceeds the largest float)
        dFL*/dz  = -y sigmoid(-(gamma z + beta)) + (1 - y) sigmoid(gamma z - beta)
        d2FL*/dz2 = gamma [y s(a) s(-a) + (1 - y) s(b) s(-b)]

    with ``a = gamma z + beta``, ``b = gamma z - beta`` and ``s`` the sigmoid.

    Convex in z. ``gamma = 1, beta = 0`` is log loss. Its minimiser is not ``logit(y)``, so
    ``sigmoid(z)`` is a score rather than a calibrated probability.

    Parameters
    ----------
    gamma : float, default 2.0
        Sharpness, > 0.
    beta : float, default 1.0
        Shift, any finite number.
    """

    name: ClassVar[str] = "focal_star"
    kernel: ClassVar[str | None] = "focal_star"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"gamma": 0.5, "beta": -1.0},)
    gamma: float = param(2.0, low=0.0, low_inclusive=False, doc="Sharpness.")
    beta: float = param(1.0, doc="Shift.")

    def _kernel_args(self) -> tuple[float, ...]:
        return self.gamma, self.beta

    @property
    def hessian_policies(self) -> tuple[HessianPolicy, ...]:
        """As derived, without ``gauss_newton`` where FL* is not convex in p, so that the
        Gauss-Newton value would be clipped: gamma < 1 with beta != 0, and gamma = 1 with
        beta < 0 (measured on z in [-40, 40]: -0.26 at gamma = 0.5, beta = -1; never negative
        for gamma > 1)."""
        offered = super().hessian_policies
        g, b = self.gamma, self.beta
        if b == 0 or g > 1 or (g == 1 and b >= 0):
            return offered
        return tuple(p for p in offered if p.name != "gauss_newton")

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        gz = self.gamma * z
        a = SigmoidParts(gz + self.beta, xp=xp)
        b = SigmoidParts(gz - self.beta, xp=xp)
        value = grad = hess = None
        if need[0]:
            # softplus(x) / gamma = max(x / gamma, 0) + log1p(e^-|x|) / gamma with x / gamma
            # written as +-z - beta / gamma: finite where gamma z overflows
            inv, bg = 1.0 / self.gamma, self.beta / self.gamma
            spn_a = xp.maximum(-z - bg, 0.0) + a.log1p_e * inv
            sp_b = xp.maximum(z - bg, 0.0) + b.log1p_e * inv
            value = times(y, spn_a, xp) + times(1.0 - y, sp_b, xp)
        if need[1]:
            grad = (1.0 - y) * b.p - y * a.q
        if need[2]:
            hess = self.gamma * (y * a.pq() + (1.0 - y) * b.pq())
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> float:
        return self._solve_intercept(y, w)
