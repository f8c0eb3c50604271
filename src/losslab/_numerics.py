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
    "log_sigmoid",
    "logit",
    "sigmoid",
    "sigmoid_parts",
    "sigmoid_pow",
    "softmax",
    "softplus",
]


def _exp_threshold(xp: Any, dtype: Any) -> float:
    """95 % of -log(smallest normal): exp(-t) for t below it is a normal number."""
    return 0.95 * -math.log(float(xp.finfo(dtype).smallest_normal))


class SigmoidParts:
    """The shared transcendental work for a logit ``x``: ``e``, ``L``, sigmoid(x), sigmoid(-x).

    Attributes: ``x``, ``e = exp(-|x|)``, ``log1p_e = log1p(e)``, ``p = sigmoid(x)``,
    ``q = sigmoid(-x)``. Computing them once lets the fused methods share one exp and one
    log1p per element.
    """

    __slots__ = ("e", "log1p_e", "p", "q", "x", "xp")

    def __init__(self, x: Array, *, xp: Any) -> None:
        self.xp = xp
        self.x = x
        self.e = xp.exp(-xp.abs(x))
        self.log1p_e = xp.log1p(self.e)
        one_plus = 1.0 + self.e
        big = 1.0 / one_plus
        small = self.e / one_plus
        nonneg = x >= 0
        self.p = xp.where(nonneg, big, small)
        self.q = xp.where(nonneg, small, big)

    def softplus(self) -> Array:
        """softplus(x) = log(1 + exp(x))."""
        return self.xp.maximum(self.x, 0.0) + self.log1p_e

    def softplus_neg(self) -> Array:
        """softplus(-x) = -log sigmoid(x)."""
        return self.xp.maximum(-self.x, 0.0) + self.log1p_e

    def pq(self) -> Array:
        """sigmoid(x) * sigmoid(-x) = e / (1 + e)^2 (the logistic Hessian)."""
        return self.p * self.q


def sigmoid_parts(x: Array, *, xp: Any) -> SigmoidParts:
    """Return the :class:`SigmoidParts` of ``x``."""
    return SigmoidParts(x, xp=xp)


def softplus(x: Array, *, xp: Any) -> Array:
    """softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); exact to ~1 ulp."""
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


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


def sigmoid_pow(x: Array, gamma: float, *, xp: Any, parts: SigmoidParts | None = None) -> Array:
    """``sigmoid(x) ** gamma`` to a few ulps for every finite ``x`` and ``gamma >= 0``.

    Formula, with ``e = exp(-|x|)``::

        x >= 0:  sigmoid(x)^gamma = exp(-gamma * log1p(e))
        x <  0:  sigmoid(x)^gamma = pow(exp(x / s), s * gamma) * exp(-gamma * log1p(e))

    where ``s`` is the smallest power of two for which ``exp(x / s)`` is a normal number.
    Dividing by a power of two is exact, so the base carries one rounding error and ``pow``
    amplifies it by ``s * gamma``, which stays below about 3 wherever the result does not
    underflow. The textbook ``exp(-gamma * softplus(-x))`` loses ``gamma * |x|`` ulps instead,
    and ``pow(sigmoid(x), gamma)`` loses everything once ``sigmoid(x)`` is subnormal. Never forms
    ``1 - p``, gives ``1`` for ``gamma = 0`` (``0**0 = 1``) and has finite derivatives: the
    ``x >= 0`` branch feeds ``pow`` a base of 1 ("double where").

    In focal loss this is the modulating factor ``(1 - p_t)^gamma = sigmoid(-x_t)^gamma``.
    """
    if parts is None:
        parts = SigmoidParts(x, xp=xp)
    tail = xp.exp(-gamma * parts.log1p_e)
    if gamma == 0:
        return xp.ones_like(tail)
    neg = x < 0
    x_neg = xp.where(neg, x, 0.0)
    threshold = _exp_threshold(xp, x.dtype)
    magnitude = xp.minimum(-x_neg, float(xp.finfo(x.dtype).max))
    scale = 2.0 ** xp.ceil(xp.log2(xp.maximum(magnitude, threshold) / threshold))
    head = xp.pow(xp.exp(x_neg / scale), scale * gamma)
    return head * tail
