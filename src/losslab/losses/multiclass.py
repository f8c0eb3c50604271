"""Multiclass losses on logits of shape (n, K): softmax cross-entropy and softmax focal loss.

Targets are class indices of shape (n,) (integers, or floats with integral values) or class
probabilities of shape (n, K). ``loss`` returns (n,), ``gradient`` (n, K) and ``hessian`` the
DIAGONAL of each row's K x K Hessian, (n, K). Probabilities are ``softmax(z)`` (SoftmaxLink).

Accuracy comes from never forming ``1 - p`` for the largest probability: with ``m`` the row
maximum and ``S`` the sum of ``exp(z_j - m)`` over the other classes,
``-log p_max = log1p(S)`` and ``1 - p_max = S / (1 + S)``. The focal loss of class ``c`` is the
binary focal loss of the margin ``x_t = z_c - logsumexp(z_{-c})`` (shared/golden/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from losslab import _validate
from losslab._array_api import Array, concrete_bool
from losslab._numerics import SigmoidParts, focal_margin, times
from losslab.links import SoftmaxLink
from losslab.losses._base import Focused, Loss, Need, Results, register
from losslab.losses._params import param

__all__ = ["SoftmaxCrossEntropy", "SoftmaxFocalLoss", "SoftmaxPoly1Loss"]


class _SoftmaxLoss(Loss):
    """Target conversion, checks and intercept placeholder shared by the softmax losses."""

    kind: ClassVar[Any] = "multiclass"
    link: ClassVar[SoftmaxLink] = SoftmaxLink()

    def _convert_targets(self, y: Any, z: Array, xp: Any, device: Any) -> Array:
        if not (hasattr(y, "shape") and hasattr(y, "dtype")):
            # Python lists: integers stay class indices, floats take raw_prediction's dtype.
            host = _validate.host_numbers(y, "y_true")
            if host.dtype.kind in "iub":
                y = xp.asarray(host, device=device)
            else:
                y = xp.asarray(host, dtype=z.dtype, device=device)
        n, k = z.shape
        if k < 2:
            raise ValueError(
                f"{self.name} needs at least 2 classes, got raw_prediction of shape "
                f"{tuple(z.shape)}"
            )
        if y.ndim == 1:
            if y.shape[0] != n:
                raise ValueError(
                    f"y_true class indices must have shape ({n},) to match raw_prediction "
                    f"{tuple(z.shape)}, got {tuple(y.shape)}"
                )
            if xp.isdtype(y.dtype, "real floating"):
                # Float indices stay floats (in z's dtype) so that a NaN index can make its
                # row NaN, as NaN does everywhere else; _compute adds 0 * y to the row.
                if concrete_bool(xp.any((y != xp.round(y)) & ~xp.isnan(y))):
                    raise ValueError("y_true class indices must be whole numbers")
                return xp.astype(y, z.dtype) if y.dtype != z.dtype else y
            if not xp.isdtype(y.dtype, "integral"):
                raise TypeError(f"y_true class indices must be integers, got dtype {y.dtype}")
            return y
        if y.ndim == 2:
            _validate.check_same_shape(y, z, "y_true probabilities", "raw_prediction")
            if not xp.isdtype(y.dtype, "real floating"):
                y = xp.astype(y, z.dtype)
            return xp.astype(y, z.dtype) if y.dtype != z.dtype else y
        raise ValueError(
            f"y_true must be class indices (n,) or probabilities (n, K), got shape {tuple(y.shape)}"
        )

    def _compute_rows(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        raise NotImplementedError

    def _compute(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        value, grad, hess = self._compute_rows(y, z, need, xp)
        if y.ndim == 1 and xp.isdtype(y.dtype, "real floating"):
            # A NaN class index matches no class; adding 0 * y makes its row NaN.
            nan0 = 0.0 * y
            value = None if value is None else value + nan0
            grad = None if grad is None else grad + nan0[:, None]
            hess = None if hess is None else hess + nan0[:, None]
        return value, grad, hess

    def _check_target_values(self, y: Array, z: Array, xp: Any) -> None:
        k = z.shape[1]
        if y.ndim == 1:
            if concrete_bool(xp.any((y < 0) | (y >= k))):
                raise ValueError(f"y_true class indices must lie in [0, {k}); found values outside")
        else:
            _validate.check_in_unit_interval(y, "y_true", xp=xp, what="class probabilities")

    def _intercept_raw_placeholder(self, y: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if y.ndim == 2:
            return np.zeros(y.shape, dtype=np.float64)
        k = int(np.nanmax(y)) + 1 if y.size else 2
        alpha = getattr(self, "alpha", None)
        k = max(k, 2, len(alpha) if alpha is not None else 0)
        return np.zeros((y.shape[0], k), dtype=np.float64)

    def _class_frequencies(
        self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any], k: int
    ) -> np.ndarray[Any, Any]:
        if y.ndim == 1:
            freq = np.bincount(y.astype(np.int64), weights=w, minlength=k)
        else:
            freq = np.sum(w[:, None] * y, axis=0)
        return np.asarray(freq / np.sum(w), dtype=np.float64)

    def _k_for_intercept(self, y: np.ndarray[Any, Any]) -> int:
        return int(self._intercept_raw_placeholder(y).shape[1])


def _log_softmax_parts(z: Array, xp: Any) -> tuple[Array, Array, Array]:
    """Return ``(-log p, p, 1 - p)`` of ``p = softmax(z)`` row-wise, all accurate.

    The row maximum's ``-log p`` is ``log1p(S)`` and its ``1 - p`` is ``S / (1 + S)`` where
    ``S = sum_{j != argmax} exp(z_j - max)``; the others have ``p <= 1/2``. Infinite logits
    give the limits: a ``-inf`` logit (a masked class) has ``p = 0`` and ``-log p = inf``;
    logits tied at the maximum, ``+inf`` included, share it (:func:`_shifted`).
    """
    k = z.shape[1]
    classes = xp.arange(k, device=_device(z))
    is_max = classes[None, :] == xp.argmax(z, axis=1)[:, None]
    # The maximum picked by argmax (not xp.max): autodiff then follows one index at ties.
    zmax = xp.sum(xp.where(is_max, z, 0.0), axis=1, keepdims=True)
    diff = _shifted(z, zmax, xp)
    t = xp.exp(diff)
    s_ex = xp.sum(xp.where(is_max, 0.0, t), axis=1, keepdims=True)
    log1p_s = xp.log1p(s_ex)
    total = 1.0 + s_ex
    fin = xp.isfinite(z) & xp.isfinite(zmax)
    exact = (xp.where(fin, zmax, 0.0) + log1p_s) - xp.where(fin, z, 0.0)
    neg_log_p = xp.where(is_max, log1p_s, xp.where(fin, exact, log1p_s - diff))
    p = t / total
    one_minus_p = xp.where(is_max, s_ex / total, 1.0 - p)
    return neg_log_p, p, one_minus_p


def _shifted(z: Array, m: Array, xp: Any) -> Array:
    """``z - m`` with 0 where ``z == m`` is infinite: never ``inf - inf``.

    ``m`` is the row maximum (or the maximum of the other classes), so a ``+inf`` logit is
    always tied with it and a ``-inf`` logit below a finite maximum gives ``-inf``
    (``exp`` of it is 0). A row whose logits are all ``-inf`` becomes the uniform limit of equal
    logits; NaN propagates.
    """
    same = (z == m) & xp.isinf(m)  # finite ties keep z - m, so autodiff sees both
    return xp.where(same, 0.0, z) - xp.where(same, 0.0, m)


def _device(x: Array) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def _one_hot_mask(y: Array, k: int, xp: Any, z: Array) -> Array:
    classes = xp.arange(k, dtype=y.dtype, device=_device(z))
    return classes[None, :] == y[:, None]


def _margin(z: Array, mask: Array, xp: Any) -> tuple[Array, Array, Array]:
    """Margin ``x_t = z_c - logsumexp(z_{-c})`` of the class in ``mask``, the softmax ``r`` of
    the other logits (``r_c = 0``) and ``1 - r`` computed without cancellation."""
    k = z.shape[1]
    zc = xp.sum(xp.where(mask, z, 0.0), axis=1)
    zo = xp.where(mask, -math.inf, z)
    classes = xp.arange(k, device=_device(z))
    is_max = classes[None, :] == xp.argmax(zo, axis=1)[:, None]
    m = xp.sum(xp.where(is_max, z, 0.0), axis=1, keepdims=True)
    t = xp.exp(xp.where(mask, -math.inf, _shifted(z, m, xp)))
    s_ex = xp.sum(xp.where(is_max, 0.0, t), axis=1, keepdims=True)
    total = 1.0 + s_ex
    # x_t = z_c - (m + log1p(S)); where z_c and m are the same infinity it is -log1p(S)
    m1, l1 = m[:, 0], xp.log1p(s_ex[:, 0])
    tie = (zc == m1) & xp.isinf(m1)
    xt = xp.where(tie, 0.0, zc) - (xp.where(tie, 0.0, m1) + l1)
    r = t / total
    one_minus_r = xp.where(is_max, s_ex / total, 1.0 - r)
    return xt, r, one_minus_r


@register
@dataclass(frozen=True)
class SoftmaxCrossEntropy(_SoftmaxLoss):
    """Softmax cross-entropy (multinomial log loss, scikit-learn's ``HalfMultinomialLoss``).

    ``L = -sum_k y_k log p_k`` with ``p = softmax(z)``; class-index targets use ``y = one_hot(c)``.
    Gradient ``p sum(y) - y`` (``S = sum(y)`` taken exactly: smoothed or two-hot targets
    need not sum to 1 in float64; for the class with ``p_k > 1/2`` it is computed as
    ``sum_{i != k} y_i - S (1 - p_k)``); Hessian diagonal ``p (1 - p) sum(y)`` (the full Hessian is
    ``sum(y) (diag(p) - p p^T)``). For class-index targets the target's gradient is
    ``-(1 - p_c)`` with ``1 - p_c`` computed without cancellation.
    """

    name: ClassVar[str] = "softmax_cross_entropy"

    def _compute_rows(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        neg_log_p, p, one_minus_p = _log_softmax_parts(z, xp)
        value = grad = hess = None
        if y.ndim == 1:
            mask = _one_hot_mask(y, z.shape[1], xp, z)
            if need[0]:
                value = xp.sum(xp.where(mask, neg_log_p, 0.0), axis=1)
            if need[1]:
                grad = xp.where(mask, -one_minus_p, p)
            if need[2]:
                hess = p * one_minus_p
            return value, grad, hess
        sy = xp.sum(y, axis=1, keepdims=True)
        if need[0]:
            value = xp.sum(times(y, neg_log_p, xp), axis=1)  # 0 log 0 = 0 (masked classes)
        if need[1]:
            # S p_k - y_k where p_k <= 1/2; for the one class above 1/2 (the row maximum),
            # sum_{i != k} y_i - S (1 - p_k), which does not cancel when p_k is near y_k.
            big = p > 0.5
            rest = xp.sum(xp.where(big, 0.0, y), axis=1, keepdims=True)
            grad = xp.where(big, rest - sy * one_minus_p, p * sy - y)
        if need[2]:
            hess = p * one_minus_p * sy
        return value, grad, hess

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        eps = float(np.finfo(np.float64).eps)
        freq = np.clip(self._class_frequencies(y, w, self._k_for_intercept(y)), eps, None)
        logf = np.log(freq)
        return np.asarray(logf - np.mean(logf))


@register
@dataclass(frozen=True)
class SoftmaxFocalLoss(Focused, _SoftmaxLoss):
    """Softmax focal loss: ``FL = -alpha_c (1 - p_c)^gamma log p_c`` with ``p = softmax(z)``.

    Equal to the binary focal loss of the margin ``x_t = z_c - logsumexp(z_{-c})`` (a positive
    with weight ``alpha_c``). With ``r`` the softmax of the other logits (``r_c = 0``),
    ``a = dx_t/dz`` (``a_c = 1``, ``a_j = -r_j``) and ``G``, ``H_b`` the binary derivatives at
    ``x_t``: gradient ``G a``; Hessian diagonal ``H_cc = H_b`` and
    ``H_jj = H_b r_j^2 - G r_j (1 - r_j)``. Probability targets: the loss is linear in ``y``,
    ``sum_c y_c FL_c`` (K passes). ``alpha`` gives one weight per class (``None``: all 1) —
    kornia's softmax focal uses ``1 - alpha`` for class 0 and mmcv's one alpha for every
    sample; pass the per-class list that reproduces them. With K = 2, logits ``[0, z]`` and
    ``alpha=[1 - a, a]`` it is the binary :class:`FocalLoss` with ``alpha=a``.

    Parameters
    ----------
    gamma : float, default 2.0
        Focusing parameter, >= 0.
    alpha : sequence of float or None, default None
        Per-class weights >= 0 (length K, checked at call time).
    background_class : int or None, default None
        The class that is not a "positive" for ``reduction="positives"``.
    """

    name: ClassVar[str] = "softmax_focal"
    supports_positives: ClassVar[bool] = True
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"gamma": 2.0, "alpha": (0.25, 0.5, 0.25)},
        {"gamma": 0.5, "background_class": 0},
    )
    gamma: float = param(2.0, low=0.0, doc="Focusing parameter.")
    alpha: tuple[float, ...] | None = param(
        None, kind="optional_weights", doc="One weight per class (None: all 1)."
    )
    background_class: int | None = param(
        None, kind="optional_index", doc='The class that is not a "positive".'
    )

    def _check_target_values(self, y: Array, z: Array, xp: Any) -> None:
        super()._check_target_values(y, z, xp)
        self._alpha_array(z, xp)
        b, k = self.background_class, z.shape[1]
        if b is not None and b >= k:
            raise ValueError(
                f"background_class={b} is not a class of raw_prediction with {k} classes"
            )

    def _alpha_array(self, z: Array, xp: Any) -> Array | None:
        if self.alpha is None:
            return None
        k = z.shape[1]
        if len(self.alpha) != k:
            raise ValueError(
                f"alpha has {len(self.alpha)} class weights but raw_prediction has {k} classes"
            )
        return xp.asarray(self.alpha, dtype=z.dtype, device=_device(z))

    def _positives(self, y: Array, z: Array, xp: Any) -> Array:
        b = self.background_class
        if b is None:
            raise ValueError("reduction='positives' needs background_class set on softmax_focal")
        if y.ndim == 1:
            return xp.astype(y != b, z.dtype)
        return 1.0 - y[:, b]

    def _hard(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        mask = _one_hot_mask(y, z.shape[1], xp, z)
        alpha = self._alpha_array(z, xp)
        at: Array | float = (
            1.0 if alpha is None else xp.sum(xp.where(mask, alpha[None, :], 0.0), axis=1)
        )
        xt, r, one_minus_r = _margin(z, mask, xp)
        value, g, hb = focal_margin(xt, self.gamma, at, (need[0], need[1] or need[2], need[2]), xp)
        grad = hess = None
        if need[1]:
            grad = xp.where(mask, g[:, None], -g[:, None] * r)
        if need[2]:
            gc, hc = g[:, None], hb[:, None]
            hess = xp.where(mask, hc, hc * (r * r) - gc * (r * one_minus_r))
        return value, grad, hess

    def _compute_rows(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        return _mix_classes(self._hard, y, z, need, xp)

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        k = self._k_for_intercept(y)
        alpha = np.ones(k) if self.alpha is None else np.asarray(self.alpha, dtype=np.float64)
        if alpha.size != k:
            raise ValueError(
                f"alpha has {alpha.size} class weights but the targets have {k} classes"
            )
        a = self._class_frequencies(y, w, k) * alpha
        p = _simplex_focal_minimiser(a, self.gamma)
        eps = float(np.finfo(np.float64).eps)
        logp = np.log(np.clip(p, eps, None))
        return np.asarray(logp - np.mean(logp))


def _mix_classes(
    hard: Callable[[Array, Array, Need, Any], Results], y: Array, z: Array, need: Need, xp: Any
) -> Results:
    """Class-index targets go to ``hard``; probability targets are ``sum_c y_c L_c`` (K calls
    of ``hard`` with every row's class set to c)."""
    if y.ndim == 1:
        return hard(y, z, need, xp)
    n, k = z.shape
    totals: list[Array | None] = [None, None, None]
    for c in range(k):
        yc = y[:, c]
        idx = xp.full((n,), c, device=_device(z))
        parts = hard(idx, z, need, xp)
        for i, part in enumerate(parts):
            if part is None:
                continue
            weighted = times(yc, part, xp) if i == 0 else yc[:, None] * part
            prev = totals[i]
            totals[i] = weighted if prev is None else prev + weighted
    return totals[0], totals[1], totals[2]


@register
@dataclass(frozen=True)
class SoftmaxPoly1Loss(_SoftmaxLoss):
    """Poly-1 softmax cross-entropy (Leng et al. 2022): ``-log p_c + eps (1 - p_c)``.

    ``p = softmax(z)``, ``c`` the target class (probability targets: ``sum_c y_c L_c``). With
    ``q = 1 - p_c`` (from the margin, no cancellation), ``p_j = q r_j`` and
    ``rr_j = sum_{i not in {j, c}} p_i``::

        grad_c = -q (1 + eps p_c),   grad_j = p_j (1 + eps p_c)
        H_cc = p_c q ((1 + eps) p_c + (1 - eps) q)            [= p_c q (1 + eps (p_c - q))]
        H_jj = p_j [rr_j + p_c ((1 - eps) p_j + (1 + eps)(p_c + rr_j))]

    ``hessian`` returns that diagonal. Positive for ``|eps| <= 1``. The intercept solves
    ``a_c (1 / p_c + eps) = mu`` on the simplex (``a`` the class frequencies).

    Parameters
    ----------
    epsilon : float, default 1.0
        Weight of the polynomial term, any finite number.
    """

    name: ClassVar[str] = "softmax_poly1"
    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"epsilon": 2.0}, {"epsilon": -1.0})
    epsilon: float = param(1.0, doc="Weight of the (1 - p_c) term.")

    @property
    def convex(self) -> bool:
        """Claimed only for epsilon = 0 (softmax cross-entropy)."""
        return self.epsilon == 0

    @property
    def hessian_sign(self) -> Any:
        """ "positive" (the diagonal) for |epsilon| <= 1, else "indefinite"."""
        return "positive" if abs(self.epsilon) <= 1.0 else "indefinite"

    def _hard(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        eps = self.epsilon
        mask = _one_hot_mask(y, z.shape[1], xp, z)
        xt, r, one_minus_r = _margin(z, mask, xp)
        s = SigmoidParts(xt, xp=xp)
        pc, q = s.p, s.q
        value = grad = hess = None
        if need[0]:
            value = s.softplus_neg() + eps * q
        if need[1] or need[2]:
            pc2, q2 = pc[:, None], q[:, None]
            pj = q2 * r
            if need[1]:
                grad = xp.where(mask, -q2 * (1.0 + eps * pc2), pj * (1.0 + eps * pc2))
            if need[2]:
                rr = q2 * one_minus_r
                # 1 + eps (p_c - q) and (1 - eps) + 2 eps (p_c + rr_j) written as sums of
                # terms that are non-negative for |eps| <= 1 (p_c + q = p_c + rr_j + p_j = 1)
                h_c = pc2 * q2 * ((1.0 + eps) * pc2 + (1.0 - eps) * q2)
                h_j = pj * (rr + pc2 * ((1.0 - eps) * pj + (1.0 + eps) * (pc2 + rr)))
                hess = xp.where(mask, h_c, h_j)
        return value, grad, hess

    def _compute_rows(self, y: Array, z: Array, need: Need, xp: Any) -> Results:
        return _mix_classes(self._hard, y, z, need, xp)

    def _intercept(self, y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        k = self._k_for_intercept(y)
        a = self._class_frequencies(y, w, k)
        eps = self.epsilon
        active = a > 0
        # sum_c a_c / (mu - eps a_c) = 1, decreasing in mu on (max eps a_c, inf)
        lo = float(np.max(eps * a[active]))
        hi = max(lo, 0.0) + float(np.sum(a)) * (1.0 + abs(eps)) + 1.0
        for _ in range(200):
            mid = lo + 0.5 * (hi - lo)
            if not lo < mid < hi:
                break
            with np.errstate(divide="ignore"):
                total = float(np.sum(a[active] / (mid - eps * a[active])))
            if total > 1.0:
                lo = mid
            else:
                hi = mid
        p = np.where(active, a / (hi - eps * a), 0.0)
        p = p / np.sum(p)
        floor = float(np.finfo(np.float64).eps)
        logp = np.log(np.clip(p, floor, None))
        return np.asarray(logp - np.mean(logp))


def _simplex_focal_minimiser(a: np.ndarray[Any, Any], gamma: float) -> np.ndarray[Any, Any]:
    """argmin over the probability simplex of ``sum_c a_c f(p_c)``, ``f(p) = -(1-p)^gamma log p``.

    The intercept-only softmax focal loss depends on the logits only through ``p = softmax(b)``
    and separates over classes. Stationarity: ``a_c g(p_c) = lam`` with
    ``g(p) = -f'(p) = (1-p)^gamma / p - gamma (1-p)^(gamma-1) log p``, decreasing in p; the
    inner bisection solves it per class on the logit scale, the outer one finds ``lam`` with
    ``sum_c p_c = 1``.
    """
    active = a > 0

    def g(t: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        # g at p = sigmoid(t), 1 - p = sigmoid(-t), written in t for relative accuracy.
        log_p = -np.logaddexp(0.0, -t)
        log_q = -np.logaddexp(0.0, t)
        first = np.exp(gamma * log_q - log_p)
        second = gamma * np.exp((gamma - 1.0) * log_q) * log_p if gamma != 0 else 0.0
        return np.asarray(first - second)

    def p_of(lam: float) -> np.ndarray[Any, Any]:
        lo = np.full(a.shape, -745.0)
        hi = np.full(a.shape, 745.0)
        for _ in range(64):  # 1490 / 2**64 < 1e-16: float64 resolution
            mid = 0.5 * (lo + hi)
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                too_small = a * g(mid) > lam  # g decreasing: p must grow
            lo = np.where(too_small, mid, lo)
            hi = np.where(too_small, hi, mid)
        t = 0.5 * (lo + hi)
        return np.where(active, 1.0 / (1.0 + np.exp(-t)), 0.0)

    lo_l, hi_l = -700.0, 700.0  # bisection on log(lam): sum p decreases as lam grows
    for _ in range(64):  # 1490 / 2**64 < 1e-16: float64 resolution
        mid = 0.5 * (lo_l + hi_l)
        if float(np.sum(p_of(math.exp(mid)))) > 1.0:
            lo_l = mid
        else:
            hi_l = mid
    return p_of(math.exp(0.5 * (lo_l + hi_l)))
