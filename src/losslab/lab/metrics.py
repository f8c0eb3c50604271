"""Ranking metrics for the lab, in NumPy (no scikit-learn): average precision."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["average_precision"]


def average_precision(y_true: ArrayLike, score: ArrayLike) -> float:
    """Average precision: the area under the precision-recall step curve,

        AP = sum_k (R_k - R_{k-1}) P_k,

    over the distinct score thresholds in decreasing order (tied scores enter together, so the
    result does not depend on the order of ties), with P_k and R_k the precision and recall of
    predicting positive for every score >= the k-th threshold. This is the non-interpolated
    definition used by scikit-learn's ``average_precision_score``.

    Shapes: y_true (n,) in {0, 1} (bool or numeric), score (n,) real. Returns a float in [0, 1].
    Raises ValueError for mismatched shapes, labels other than 0/1, NaN scores, or no positive.
    """
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(
            f"y_true and score must be 1-D of the same shape, got {y.shape} and {s.shape}"
        )
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must contain only 0 and 1")
    if np.any(np.isnan(s)):
        raise ValueError("score contains NaN")
    y = y.astype(np.float64)
    n_pos = y.sum()
    if n_pos == 0:
        raise ValueError("average precision is undefined without a positive example")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # last index of each group of tied scores
    distinct = np.flatnonzero(np.diff(s_sorted) != 0)
    ends = np.concatenate([distinct, [s.size - 1]])
    tp = np.cumsum(y_sorted)[ends]
    fp = (ends + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    d_recall = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(d_recall * precision))
