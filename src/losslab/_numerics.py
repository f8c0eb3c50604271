"""Numerically stable primitives on any array-API namespace.

Every loss is built from these: softplus, log-sigmoid, the sigmoid computed from the sign of its
argument, and ``sigmoid(x) ** gamma`` computed without ever forming ``1 - p``. All take the
namespace ``xp`` as a keyword, write nothing in place (JAX arrays are immutable) and keep both
branches of every piecewise formula finite, so that autodiff through them is NaN-free.

Notation: ``e = exp(-|x|)`` and ``L = log1p(e)``; then

* ``softplus(x) = max(x, 0) + L``,
* ``sigmoid(x) = 1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` for ``x < 0``,
* ``sigmoid(x) * sigmoid(-x) = e / (1 + e)**2``.

Reference: the stable forms of ``shared/golden/README.md`` ("Recommended numerically stable
forms"), which is also what optax and scikit-learn's ``_loss`` do.
"""

from __future__ import annotations

import math
from typing import Any

from losslab._array_api import Array

__all__ = [
    "SigmoidParts",
    "equals",
    "focal_margin",
    "log_sigmoid",
    "logit",
    "sigmoid",
    "sigmoid_parts",
    "sigmoid_pow",
    "softmax",
    "softplus",
    "times",
]


def _exp_threshold(xp: Any, dtype: Any) -> float:
    """45 % of -log(smallest normal) (320 in float64, 39 in float32).

    ``b = exp(-t)`` for ``t`` below it is a normal number whose square's reciprocal is finite,
    so ``pow(b, c)`` has finite first and second derivatives for any ``c >= 0``.
    """
    return 0.45 * -math.log(float(xp.finfo(dtype).smallest_normal))


class SigmoidParts:
    """The shared transcendental work for a logit ``x``: ``e``, ``L``, sigmoid(x), sigmoid(-x).

    Attributes: ``x``, ``e = exp(-|x|)``, ``log1p_e = log1p(e)``, ``p = sigmoid(x)``,
    ``q = sigmoid(-x)``. Computing them once lets the fused methods share one exp and one
    log1p per element.
    """

    __slots__ = ("e", "log1p_e", "nonneg", "p", "q", "x", "xp")

    def __init__(self, x: Array, *, xp: Any) -> None:
        self.xp = xp
        self.x = x
        # -|x| written as a branch, not abs(): autodiff then takes the x >= 0 formula at x = 0
        # instead of abs's zero subgradient, and the derivative at 0 is right.
        nonneg = x >= 0
        self.nonneg = nonneg
        self.e = xp.exp(xp.where(nonneg, -x, x))
        self.log1p_e = xp.log1p(self.e)
        one_plus = 1.0 + self.e
        big = 1.0 / one_plus
        small = self.e / one_plus
        self.p = xp.where(nonneg, big, small)
        self.q = xp.where(nonneg, small, big)

    def softplus(self) -> Array:
        """softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(e)."""
        return self.xp.where(self.nonneg, self.x, 0.0) + self.log1p_e

    def softplus_neg(self) -> Array:
        """softplus(-x) = -log sigmoid(x) = max(-x, 0) + log1p(e)."""
        return self.xp.where(self.nonneg, 0.0, -self.x) + self.log1p_e

    def pq(self) -> Array:
        """sigmoid(x) * sigmoid(-x) = e / (1 + e)^2 (the logistic Hessian)."""
        return self.p * self.q

    def p_pow(self, gamma: float) -> Array:
        """``sigmoid(x) ** gamma``, see :func:`sigmoid_pow`."""
        xp = self.xp
        if equals(gamma, 0):
            return xp.ones_like(self.e)
        tail = xp.exp(-gamma * self.log1p_e)
        head = _exp_pow(xp.where(self.nonneg, 0.0, self.x), gamma, xp=xp)
        return xp.where(self.nonneg, tail, head * tail)

    def q_pow(self, gamma: float) -> Array:
        """``sigmoid(-x) ** gamma`` (focal's ``(1 - p_t)^gamma`` at ``x = x_t``), see
        :func:`sigmoid_pow`."""
        xp = self.xp
        if equals(gamma, 0):
            return xp.ones_like(self.e)
        tail = xp.exp(-gamma * self.log1p_e)
        head = _exp_pow(xp.where(self.nonneg, -self.x, 0.0), gamma, xp=xp)
        return xp.where(self.nonneg, head * tail, tail)


def sigmoid_parts(x: Array, *, xp: Any) -> SigmoidParts:
    """Return the :class:`SigmoidParts` of ``x``."""
    return SigmoidParts(x, xp=xp)


def softplus(x: Array, *, xp: Any) -> Array:
    """softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); exact to ~1 ulp."""
    return SigmoidParts(x, xp=xp).softplus()


def log_sigmoid(x: Array, *, xp: Any) -> Array:
    """log(sigmoid(x)) = -softplus(-x); finite for every finite ``x``."""
    return -softplus(-x, xp=xp)


def sigmoid(x: Array, *, xp: Any) -> Array:
    """sigmoid(x) = 1 / (1 + exp(-x)), from the sign of x so that nothing overflows."""
    return SigmoidParts(x, xp=xp).p


def logit(p: Array, *, xp: Any) -> Array:
    """logit(p) = log(p) - log1p(-p): -inf at 0, +inf at 1, accurate near both ends."""
    return xp.log(p) - xp.log1p(-p)


def softmax(z: Array, *, xp: Any, axis: int = -1) -> Array:
    """softmax along ``axis`` after subtracting the maximum (no overflow)."""
    t = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
    return t / xp.sum(t, axis=axis, keepdims=True)


def _exp_pow(u: Array, gamma: float, *, xp: Any) -> Array:
    """``exp(u) ** gamma`` for ``u <= 0``, accurate where ``exp(u)`` is subnormal or underflows.

    ``pow(exp(u / s), s * gamma)`` with ``s`` the smallest power of two for which ``exp(u / s)``
    is a normal number: dividing by a power of two is exact, so the base carries one rounding
    error and ``pow`` amplifies it by ``s * gamma``, about 5 at most wherever the result does not
    underflow. ``exp(gamma * u)`` would lose ``gamma * |u|`` ulps instead (the product rounds).
    """
    threshold = _exp_threshold(xp, u.dtype)
    magnitude = xp.minimum(-u, float(xp.finfo(u.dtype).max))
    scale = 2.0 ** xp.ceil(xp.log2(xp.maximum(magnitude, threshold) / threshold))
    return xp.pow(xp.exp(u / scale), scale * gamma)


def sigmoid_pow(x: Array, gamma: float, *, xp: Any, parts: SigmoidParts | None = None) -> Array:
    """``sigmoid(x) ** gamma`` to a few ulps for every finite ``x`` and ``gamma >= 0``.

    Formula, with ``e = exp(-|x|)``::

        x >= 0:  sigmoid(x)^gamma = exp(-gamma * log1p(e))
        x <  0:  sigmoid(x)^gamma = exp(x)^gamma * exp(-gamma * log1p(e))

    with ``exp(x)^gamma`` from :func:`_exp_pow` (no loss of accuracy where ``sigmoid(x)`` is
    subnormal or underflows, which ``pow(sigmoid(x), gamma)`` suffers, nor the ``gamma |x|``
    ulps of ``exp(-gamma * softplus(-x))``). Never forms ``1 - p``, gives ``1`` for
    ``gamma = 0`` (``0**0 = 1``) and has finite, correct derivatives everywhere, ``x = 0``
    included: the branch not taken is fed a harmless argument ("double where").

    In focal loss this is the modulating factor ``(1 - p_t)^gamma = sigmoid(-x_t)^gamma``
    (see :meth:`SigmoidParts.q_pow`).
    """
    if parts is None:
        parts = SigmoidParts(x, xp=xp)
    return parts.p_pow(gamma)


def equals(value: Any, number: float) -> bool:
    """``value == number`` for a concrete Python number; False for a traced value (a JAX
    hyperparameter under ``jit``/``vmap``/``grad``), which then takes the general formula
    instead of the shortcut the comparison would select."""
    return isinstance(value, (int, float)) and value == number


def times(c: Array | float, x: Array, xp: Any) -> Array:
    """``c * x`` with a term of weight exactly 0 dropped: ``0 * inf = 0``.

    The losses are sums of label-weighted terms such as ``y softplus(-z) + (1 - y) softplus(z)``;
    at an infinite logit one term is infinite and its label weight may be 0, and the loss's
    limit is the other term (log loss at ``z = -inf`` with ``y = 0`` is 0). A NaN weight still
    gives NaN.
    """
    return c * xp.where(c == 0, 0.0, x)  # never forms 0 * inf (no 'invalid' warning)


def focal_margin(
    xt: Array, gamma: float, at: Array | float, need: tuple[bool, bool, bool], xp: Any
) -> tuple[Any, Any, Any]:
    """Focal loss of a positive example with margin ``x_t`` and its derivatives in ``x_t``.

    With ``p_t = sigmoid(x_t)``, ``q = sigmoid(-x_t)`` and ``l = softplus(-x_t) = -log p_t``::

        FL   = at q^gamma l
        G    = dFL/dx_t   = -at q^gamma (gamma p_t l + q)
        H    = d2FL/dx_t2 = at q^gamma [gamma (p_t l)(gamma p_t - q) + (2 gamma + 1) q p_t]

    ``p_t l`` is formed first (it is at most 1/e, whereas ``l`` alone can be 1e308). Shared by
    the binary focal loss (``x_t = (2y - 1) z``) and the softmax focal loss (``x_t`` the margin
    of the target logit over the log-sum-exp of the others).
    """
    s = SigmoidParts(xt, xp=xp)
    qg = at * s.q_pow(gamma)
    pt, q = s.p, s.q
    ell = s.softplus_neg()
    value = grad = hess = None
    if need[0]:
        value = qg * ell
    if need[1] or need[2]:
        pt_ell = times(pt, ell, xp)  # the limit 0 at x_t = -inf, where l is inf
        if need[1]:
            grad = -qg * (gamma * pt_ell + q)
        if need[2]:
            hess = qg * (gamma * pt_ell * (gamma * pt - q) + (2.0 * gamma + 1.0) * (q * pt))
    return value, grad, hess


# ---------------------------------------------------------------------------------------------
# Training-loop helpers (losslab.torch and losslab.jax): one formula for hard and soft labels
# without data-dependent branches, and hyperparameters that may be traced values.


def small_int_power(gamma: Any) -> int | None:
    """``int(gamma)`` when ``gamma`` is a concrete whole number in [0, 4], else None.

    Such powers are computed by repeated multiplication (exact to an ulp per factor, no
    transcendental function); a traced ``gamma`` (JAX) or any other value takes
    ``exp(gamma * log m)``.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)):
        return None
    g = float(gamma)
    return int(g) if g.is_integer() and 0.0 <= g <= 4.0 else None


def focal_branchless(
    y: Array,
    z: Array,
    gamma: Any,
    alpha: Any,
    need: tuple[bool, bool, bool],
    *,
    xp: Any,
    epsilon: Any = 0.0,
) -> tuple[Any, Any, Any]:
    """Binary focal loss, gradient and Hessian in ``z`` for hard and soft labels in one formula.

    With ``p = sigmoid(z)``, ``q = sigmoid(-z)``, ``m = 1 - p_t = y q + (1 - y) p``,
    ``alpha_t = alpha y + (1 - alpha)(1 - y)`` (1 for ``alpha=None``),
    ``ce = y softplus(-z) + (1 - y) softplus(z)``, ``ce' = (1 - y) p - y q`` and
    ``rho = (log m)' = (1 - 2y) p q / m`` (``-p`` for ``y = 1``, ``q`` for ``y = 0``)::

        FL       = alpha_t m^gamma ce
        dFL/dz   = alpha_t m^gamma (ce' + t ce)                                   t = gamma rho
        d2FL/dz2 = alpha_t m^gamma (pq + 2 t ce' + t ce ((gamma - 1) rho - tanh(z / 2)))

    the soft-label forms of :class:`losslab.FocalLoss`, which hold for hard labels too.
    ``epsilon`` adds poly-1 focal's ``eps m^(gamma + 1)`` (not weighted by ``alpha_t``), whose
    derivatives are ``eps G m^G rho`` and ``eps G m^G rho (gamma rho - tanh(z / 2))`` with
    ``G = gamma + 1``. No branch depends on the data (``torch.compile`` traces it without a
    graph break and ``jax.jit`` with traced ``gamma``/``alpha``/``epsilon``): for hard labels
    ``m`` is ``q`` or ``p`` itself and ``log m`` is ``-softplus(+-z)`` (never ``log 0``); the
    soft branch is fed ``m = 1`` where the label is hard ("double where"). ``m^gamma`` is a
    product for whole ``gamma`` in [0, 4] (:func:`small_int_power`) and ``exp(gamma log m)``
    otherwise, which is within ``gamma |log m|`` ulps of the core's :func:`sigmoid_pow` (the
    core's focal loss remains the reference; tests bound the difference). Finite for every
    finite ``z``; at ``z = +-inf`` the limits, terms of label weight 0 dropped (:func:`times`).
    """
    s = SigmoidParts(z, xp=xp)
    p, q = s.p, s.q
    sp_pos, sp_neg = s.softplus(), s.softplus_neg()
    one_y = 1.0 - y
    m = y * q + one_y * p
    ce = times(y, sp_neg, xp) + times(one_y, sp_pos, xp)  # at z = +-inf: the limit, not NaN
    k = small_int_power(gamma)
    is1, is0 = y == 1.0, y == 0.0
    hard = is1 | is0
    m_soft = xp.where(hard, 1.0, m)
    if k is None:
        log_m = xp.where(is1, -sp_pos, xp.where(is0, -sp_neg, xp.log(m_soft)))
        # -inf (an infinite logit) as the most negative number: 0^gamma stays 1 for gamma = 0
        log_m = xp.maximum(log_m, -float(xp.finfo(log_m.dtype).max))
        mpow = xp.exp(gamma * log_m)
    elif k == 0:
        mpow = xp.ones_like(z)
    else:
        mpow = m
        for _ in range(k - 1):
            mpow = mpow * m
    mg = mpow if alpha is None else (alpha * y + (1.0 - alpha) * one_y) * mpow
    poly = not (isinstance(epsilon, (int, float)) and epsilon == 0)
    value = grad = hess = None
    if need[0]:
        value = times(mg, ce, xp)
        if poly:
            value = value + epsilon * (mpow * m)
    if need[1] or need[2]:
        pq = p * q
        ce1 = one_y * p - y * q
        rho = xp.where(is1, -p, xp.where(is0, q, (1.0 - 2.0 * y) * pq / m_soft))
        t = gamma * rho
        big_g = gamma + 1.0
        if need[1]:
            grad = mg * (ce1 + times(t, ce, xp))
            if poly:
                grad = grad + (epsilon * big_g) * (mpow * m) * rho
        if need[2]:
            th = xp.tanh(0.5 * z)
            hess = mg * (pq + 2.0 * t * ce1 + times(t, ce, xp) * ((gamma - 1.0) * rho - th))
            if poly:
                hess = hess + (epsilon * big_g) * (mpow * m) * (rho * (t - th))
    return value, grad, hess
