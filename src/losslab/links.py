"""Link functions: the map between predictions (means, probabilities) and raw predictions.

A loss is evaluated on the raw prediction (a logit for classification, the prediction itself
for regression); its ``link`` turns a prediction into a raw prediction and ``link.inverse``
turns raw predictions back into predictions or probabilities, as scikit-learn's
``sklearn._loss.link`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from losslab import _numerics
from losslab._array_api import Array, get_namespace

__all__ = ["HalfLogitLink", "IdentityLink", "Link", "LogLink", "LogitLink", "SoftmaxLink"]


def _ns(x: Any) -> tuple[Any, Array]:
    xp, device = get_namespace(x)
    if not hasattr(x, "dtype") or not xp.isdtype(x.dtype, "real floating"):
        x = xp.asarray(x, dtype=xp.float64, device=device)
    return xp, x


@dataclass(frozen=True)
class Link:
    """Base class: ``link(prediction) -> raw``, ``inverse(raw) -> prediction``."""

    name: ClassVar[str] = "link"

    def link(self, prediction: Array) -> Array:
        """Map predictions (means or probabilities) to raw predictions."""
        raise NotImplementedError

    def inverse(self, raw_prediction: Array) -> Array:
        """Map raw predictions to predictions (means or probabilities)."""
        raise NotImplementedError


@dataclass(frozen=True)
class IdentityLink(Link):
    """raw = prediction (regression)."""

    name: ClassVar[str] = "identity"

    def link(self, prediction: Array) -> Array:
        """Return the prediction unchanged (converted to a floating array)."""
        return _ns(prediction)[1]

    def inverse(self, raw_prediction: Array) -> Array:
        """Return the raw prediction unchanged (converted to a floating array)."""
        return _ns(raw_prediction)[1]


@dataclass(frozen=True)
class LogitLink(Link):
    """raw = logit(p) = log(p / (1 - p)); inverse = sigmoid (binary classification)."""

    name: ClassVar[str] = "logit"

    def link(self, prediction: Array) -> Array:
        """logit(p) = log(p) - log1p(-p); -inf at p = 0 and +inf at p = 1."""
        xp, p = _ns(prediction)
        return _numerics.logit(p, xp=xp)

    def inverse(self, raw_prediction: Array) -> Array:
        """sigmoid(z), computed from the sign of z (no overflow)."""
        xp, z = _ns(raw_prediction)
        return _numerics.sigmoid(z, xp=xp)


@dataclass(frozen=True)
class SoftmaxLink(Link):
    """Multinomial logit over the last axis: raw (n, K) -> probabilities (n, K) rows summing to 1.

    ``link`` is the symmetric inverse ``log(p) - mean(log(p))`` (raw predictions are defined up
    to a constant per row; this picks the one with zero row mean).
    """

    name: ClassVar[str] = "softmax"

    def link(self, prediction: Array) -> Array:
        """log(p) minus its row mean."""
        xp, p = _ns(prediction)
        logp = xp.log(p)
        return logp - xp.mean(logp, axis=-1, keepdims=True)

    def inverse(self, raw_prediction: Array) -> Array:
        """softmax over the last axis."""
        xp, z = _ns(raw_prediction)
        return _numerics.softmax(z, xp=xp, axis=-1)


@dataclass(frozen=True)
class LogLink(Link):
    """raw = log(mean); inverse = exp (Poisson, Gamma and Tweedie regression).

    scikit-learn's ``LogLink``: predictions (means) are positive, ``link(0) = -inf`` and
    ``inverse`` overflows to inf where ``exp`` does (raw > 709.78 in float64).
    """

    name: ClassVar[str] = "log"

    def link(self, prediction: Array) -> Array:
        """log(mean); -inf at 0, NaN for negative means."""
        xp, mu = _ns(prediction)
        return xp.log(mu)

    def inverse(self, raw_prediction: Array) -> Array:
        """exp(raw)."""
        xp, z = _ns(raw_prediction)
        return xp.exp(z)


@dataclass(frozen=True)
class HalfLogitLink(Link):
    """raw = logit(p) / 2; inverse = sigmoid(2 raw) (the exponential loss).

    scikit-learn's ``HalfLogitLink``: the exponential loss ``y e^(-z) + (1 - y) e^z`` is
    minimised at ``z = logit(p) / 2`` (Friedman, Hastie and Tibshirani 2000).
    """

    name: ClassVar[str] = "half_logit"

    def link(self, prediction: Array) -> Array:
        """logit(p) / 2 = (log(p) - log1p(-p)) / 2; -inf at 0, +inf at 1."""
        xp, p = _ns(prediction)
        return 0.5 * _numerics.logit(p, xp=xp)

    def inverse(self, raw_prediction: Array) -> Array:
        """sigmoid(2 raw), computed from the sign (no overflow, also not of 2 raw)."""
        xp, z = _ns(raw_prediction)
        bound = float(xp.finfo(z.dtype).max) / 4  # sigmoid(+-2 bound) is already 0 or 1
        return _numerics.sigmoid(2.0 * xp.clip(z, -bound, bound), xp=xp)
