"""Synthetic data for the lab, generated from an explicit ``numpy.random.Generator`` (no downloads).

``linear_data`` and its contaminations feed the regression experiment; ``detection_data``
simulates the anchors of a dense detector (rare foreground, many easy and a few hard negatives)
for the focal-loss experiment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DetectionData",
    "LinearData",
    "add_leverage_points",
    "contaminate_targets",
    "detection_data",
    "linear_data",
]


@dataclass(frozen=True)
class LinearData:
    """X (n, d), y (n,), the true coefficients ``coef`` (d,), ``intercept`` and noise scale."""

    X: np.ndarray
    y: np.ndarray
    coef: np.ndarray
    intercept: float
    noise: float


def linear_data(
    rng: np.random.Generator,
    n: int,
    d: int,
    *,
    noise: float = 0.5,
    max_scale: float = 4.0,
    intercept: float = 1.0,
) -> LinearData:
    """Clean linear data ``y = X coef + intercept + noise * N(0, 1)``.

    Column j of X is N(0, s_j^2) with s geometrically spaced from 1 to ``max_scale``, so that the
    least-squares problem has condition number about ``max_scale**2`` (gradient descent then
    needs a visible number of iterations). coef ~ N(0, 1). Shapes: X (n, d), y (n,).
    """
    scales = np.geomspace(1.0, max_scale, d)
    X = rng.standard_normal((n, d)) * scales
    coef = rng.standard_normal(d)
    y = X @ coef + intercept + noise * rng.standard_normal(n)
    return LinearData(X, y, coef, float(intercept), float(noise))


def contaminate_targets(
    rng: np.random.Generator, data: LinearData, fraction: float, *, shift: float = 10.0
) -> tuple[LinearData, np.ndarray]:
    """Replace a random ``fraction`` of targets (with the same generator state, the rows chosen
    for a larger fraction include those for a smaller one) by gross, one-sided errors
    ``y_i + shift * (1 + 0.1 N(0, 1))`` (shift in units of the response's scale; the inputs are
    untouched). Returns the new data and the boolean mask (n,) of contaminated rows."""
    n = data.y.size
    k = round(fraction * n)
    order = rng.permutation(n)
    noise = rng.standard_normal(n)
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    y = data.y.copy()
    y[mask] += shift * (1.0 + 0.1 * noise[mask])
    return LinearData(data.X, y, data.coef, data.intercept, data.noise), mask


def add_leverage_points(
    rng: np.random.Generator, data: LinearData, fraction: float, *, distance: float = 10.0
) -> tuple[LinearData, np.ndarray]:
    """Replace a random ``fraction`` of rows by bad leverage points: inputs far from the bulk,
    ``x = distance * s * u + N(0, s^2) / 10`` along one random unit direction ``u`` (s: column
    scales), with targets that ignore x (``intercept + noise``), as a gross recording error
    would. Returns the new data and the boolean mask (n,) of replaced rows."""
    n, d = data.X.shape
    k = round(fraction * n)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    order = rng.permutation(n)
    x_noise = rng.standard_normal((n, d))
    y_noise = np.asarray(rng.standard_normal(n))
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    scales = data.X.std(axis=0)
    X = data.X.copy()
    X[mask] = distance * scales * u + 0.1 * scales * x_noise[mask]
    y = data.y.copy()
    y[mask] = data.intercept + data.noise * y_noise[mask]
    return LinearData(X, y, data.coef, data.intercept, data.noise), mask


@dataclass(frozen=True)
class DetectionData:
    """Anchors of a simulated dense detector.

    X (n, d) float features, y (n,) float labels in {0, 1}, ``image`` (n,) image index of each
    anchor, ``kind`` (n,) int8: 0 easy negative, 1 hard negative, 2 positive.
    """

    X: np.ndarray
    y: np.ndarray
    image: np.ndarray
    kind: np.ndarray


def detection_data(
    rng: np.random.Generator,
    n_images: int,
    *,
    anchors_per_image: int = 2000,
    positives_per_image: float = 2.0,
    hard_fraction: float = 0.02,
    d: int = 8,
) -> DetectionData:
    """Simulate ``n_images`` images of ``anchors_per_image`` anchors each.

    Per image: Poisson(``positives_per_image``) positives (foreground:background about
    1 : anchors_per_image / positives_per_image, 1:1000 by default), a ``hard_fraction`` of the
    negatives are hard (objects' parts, neighbours: features close to the positives'), the rest
    easy background.

    Features (d >= 4): an "objectness" pair (x0, x1) where background sits near the origin and
    objects on a ring of radius 3 (a non-linear boundary), two weak appearance cues x2, x3, and
    d - 4 noise columns. Hard negatives sit on the ring too but at a smaller radius and with
    weaker cues, so they overlap the positives. Shapes: X (n, d), y/image/kind (n,).
    Raises ValueError if d < 4 or a count is not positive.
    """
    if d < 4:
        raise ValueError(f"d must be >= 4, got {d}")
    if n_images < 1 or anchors_per_image < 2:
        raise ValueError("n_images must be >= 1 and anchors_per_image >= 2")
    n_pos = np.minimum(rng.poisson(positives_per_image, n_images), anchors_per_image // 2)
    n_hard = rng.binomial(anchors_per_image - n_pos, hard_fraction)
    n = n_images * anchors_per_image
    image = np.repeat(np.arange(n_images), anchors_per_image)
    offset = np.arange(n) - image * anchors_per_image
    kind = np.zeros(n, dtype=np.int8)
    kind[offset < (n_pos + n_hard)[image]] = 1
    kind[offset < n_pos[image]] = 2
    X = np.empty((n, d))
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(
        kind == 2,
        rng.normal(3.0, 0.45, n),
        np.where(kind == 1, rng.normal(2.2, 0.5, n), np.abs(rng.normal(0.0, 1.0, n))),
    )
    X[:, 0] = radius * np.cos(angle)
    X[:, 1] = radius * np.sin(angle)
    cue_mean = np.where(kind == 2, 1.0, np.where(kind == 1, 0.3, 0.0))
    X[:, 2] = rng.normal(cue_mean, 1.0)
    X[:, 3] = rng.normal(cue_mean, 1.0)
    X[:, 4:] = rng.standard_normal((n, d - 4))
    y = (kind == 2).astype(np.float64)
    return DetectionData(X, y, image, kind)
