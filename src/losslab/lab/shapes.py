"""Synthetic detection images for the detector experiment: shapes on cluttered backgrounds.

Each image holds one or two objects of three classes (filled rectangle, ellipse, triangle) of
varied size, aspect ratio and colour, on a textured background (a smooth colour field, stripes
and pixel noise) with distractors (hollow outlines of the same shapes, lines, small blobs) that
are not objects. Ground-truth boxes are exact. NumPy only; everything comes from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CLASSES", "ShapeImages", "shape_images"]

#: Object classes, in the order of their class index (COCO category id = index + 1).
CLASSES: tuple[str, ...] = ("rectangle", "ellipse", "triangle")


@dataclass(frozen=True)
class ShapeImages:
    """``images`` (n, 3, S, S) float32 in [0, 1]; ``boxes[i]`` (m_i, 4) float32 boxes
    ``(x0, y0, x1, y1)`` in pixels; ``labels[i]`` (m_i,) int64 class indices into CLASSES."""

    images: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]

    @property
    def size(self) -> int:
        """Side length S of the (square) images in pixels."""
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _smooth_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """A (size, size, 3) colour field: random colours on a ``cells`` x ``cells`` grid, bilinearly
    interpolated."""
    grid = rng.uniform(0.15, 0.85, (cells, cells, 3))
    t = np.linspace(0, cells - 1, size)
    i0 = np.floor(t).astype(int).clip(0, cells - 2)
    f = (t - i0)[:, None]
    rows = grid[i0] * (1 - f[:, :, None]) + grid[i0 + 1] * f[:, :, None]  # (size, cells, 3)
    cols = rows[:, i0] * (1 - f[None, :, :]) + rows[:, i0 + 1] * f[None, :, :]
    return np.asarray(cols)


def _shape_mask(
    kind: int, yy: np.ndarray, xx: np.ndarray, box: np.ndarray, flip: bool
) -> np.ndarray:
    """Boolean mask of a filled shape of class ``kind`` exactly filling ``box`` (x0, y0, x1, y1)
    on pixel centres (yy, xx); a triangle points up, or down when ``flip``."""
    x0, y0, x1, y1 = box
    if kind == 0:
        return np.asarray((xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1))
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if kind == 1:
        return np.asarray(((xx - cx) / hw) ** 2 + ((yy - cy) / hh) ** 2 <= 1.0)
    # triangle: apex at the top (or bottom) centre, base on the opposite side
    v = (yy - y0) / (y1 - y0) if not flip else (y1 - yy) / (y1 - y0)
    return np.asarray((v >= 0) & (v <= 1) & (np.abs(xx - cx) <= hw * v))


def _outline(mask: np.ndarray) -> np.ndarray:
    """The one-to-two-pixel border of a boolean mask (mask minus its 4-neighbour erosion,
    twice)."""
    inner = mask.copy()
    for _ in range(2):
        e = inner.copy()
        e[1:, :] &= inner[:-1, :]
        e[:-1, :] &= inner[1:, :]
        e[:, 1:] &= inner[:, :-1]
        e[:, :-1] &= inner[:, 1:]
        inner = e
    return np.asarray(mask & ~inner)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


def _random_box(
    rng: np.random.Generator, size: int, side: tuple[float, float], aspect: tuple[float, float]
) -> np.ndarray:
    """A box of geometric-mean side log-uniform in ``side`` and aspect w/h log-uniform in
    ``aspect``, inside the image."""
    s = np.exp(rng.uniform(np.log(side[0]), np.log(side[1])))
    r = np.exp(rng.uniform(np.log(aspect[0]), np.log(aspect[1])))
    w, h = min(s * np.sqrt(r), size - 2.0), min(s / np.sqrt(r), size - 2.0)
    x0 = rng.uniform(0.0, size - w)
    y0 = rng.uniform(0.0, size - h)
    return np.array([x0, y0, x0 + w, y0 + h])


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random colour at least 0.45 away (L1, summed over RGB) from ``background`` (3,)."""
    for _ in range(50):
        c = rng.uniform(0.0, 1.0, 3)
        if np.abs(c - background).sum() >= 0.45:
            return c
    return 1.0 - background


def _one_image(
    rng: np.random.Generator,
    size: int,
    side: tuple[float, float],
    aspect: tuple[float, float],
    max_objects: int,
    distractors: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    img = _smooth_field(rng, size, 4)
    # stripes of a random orientation and period
    theta, period = rng.uniform(0, np.pi), rng.uniform(5.0, 14.0)
    stripes = np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
    img = img + rng.uniform(0.05, 0.15) * stripes[:, :, None] * rng.uniform(-1, 1, 3)
    # distractors: hollow outlines of the object shapes, lines and small blobs
    for _ in range(int(rng.integers(distractors[0], distractors[1] + 1))):
        colour = rng.uniform(0.0, 1.0, 3)
        kind = int(rng.integers(0, 3))
        if kind == 0:  # an outline of an object shape
            box = _random_box(rng, size, side, aspect)
            m = _outline(
                _shape_mask(int(rng.integers(0, 3)), yy, xx, box, bool(rng.random() < 0.5))
            )
        elif kind == 1:  # a line of width 1-3 px
            p = rng.uniform(0, size, 2)
            ang = rng.uniform(0, np.pi)
            length = rng.uniform(0.3, 1.0) * size
            d = np.array([np.cos(ang), np.sin(ang)])
            t = (xx - p[0]) * d[0] + (yy - p[1]) * d[1]
            dist = np.abs(-(xx - p[0]) * d[1] + (yy - p[1]) * d[0])
            m = (dist <= rng.uniform(0.5, 1.5)) & (np.abs(t) <= length / 2)
        else:  # a small filled blob, below the smallest object size
            box = _random_box(rng, size, (3.0, 0.6 * side[0]), (0.7, 1.4))
            m = _shape_mask(int(rng.integers(0, 3)), yy, xx, box, bool(rng.random() < 0.5))
        img[m] = colour
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            box = _random_box(rng, size, side, aspect)
            if all(_iou(box, b) < 0.2 for b in boxes):
                break
        else:
            continue
        kind = int(rng.integers(0, len(CLASSES)))
        m = _shape_mask(kind, yy, xx, box, bool(rng.random() < 0.5))
        if not m.any():
            continue
        # the exact box of the pixels drawn (pixel edges), so the ground truth is what is seen
        ys, xs = np.nonzero(m)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
        cy, cx = (
            int(np.clip((box[1] + box[3]) / 2, 0, size - 1)),
            int(np.clip((box[0] + box[2]) / 2, 0, size - 1)),
        )
        img[m] = _contrasting_colour(rng, img[cy, cx])
        boxes.append(box)
        labels.append(kind)
    img = img + rng.normal(0.0, 0.04, img.shape)
    out = np.clip(img, 0.0, 1.0).astype(np.float32).transpose(2, 0, 1)
    return (
        out,
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64),
    )


def shape_images(
    rng: np.random.Generator,
    n: int,
    *,
    size: int = 96,
    side: tuple[float, float] | None = None,
    aspect: tuple[float, float] = (0.5, 2.0),
    max_objects: int = 2,
    distractors: tuple[int, int] = (4, 8),
) -> ShapeImages:
    """``n`` images of ``size`` x ``size`` pixels with 1 to ``max_objects`` objects each.

    Objects: a class drawn uniformly from :data:`CLASSES`, a box of geometric-mean side
    log-uniform in ``side`` (default ``(0.14 size, 0.45 size)``) and aspect ratio w/h
    log-uniform in ``aspect``, overlapping earlier objects by IoU < 0.2, filled with a colour
    that differs from the background under its centre by at least 0.45 (L1 over RGB). The box
    is the exact extent of the drawn pixels. Background: a 4 x 4 smooth colour field, stripes
    of random orientation, period 5-14 px and amplitude 0.05-0.15, and a number of
    ``distractors`` (uniform in the inclusive range) drawn beneath the objects: outlines of
    object shapes, lines and blobs smaller than the smallest object; then N(0, 0.04^2) pixel
    noise, clipped to [0, 1].

    Raises ValueError for ``n < 0``, ``size < 16`` or ``max_objects < 1``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    if max_objects < 1:
        raise ValueError(f"max_objects must be >= 1, got {max_objects}")
    side = side if side is not None else (0.14 * size, 0.45 * size)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    boxes, labels = [], []
    for i in range(n):
        images[i], b, lab = _one_image(rng, size, side, aspect, max_objects, distractors)
        boxes.append(b)
        labels.append(lab)
    return ShapeImages(images, boxes, labels)
