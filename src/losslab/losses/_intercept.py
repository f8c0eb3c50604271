"""Helpers for ``fit_intercept_only``: weighted quantiles and a safeguarded 1-D root finder.

The intercept-only model is the constant raw prediction c minimising sum_i w_i L(y_i, c). For
losses without a closed form it is the root of the summed gradient, which is increasing in c for
the convex losses and, for focal loss, changes sign once between the bracket ends (negative at
c -> -inf where only positives pull, positive at c -> +inf).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["LOGIT_BOUND", "bisect_increasing", "weighted_quantile"]

LOGIT_BOUND = float(np.log1p(-np.finfo(np.float64).eps) - np.log(np.finfo(np.float64).eps))
"""logit(1 - eps) for float64 eps, about 36.04: binary intercepts are clipped to +-LOGIT_BOUND."""


def weighted_quantile(y: np.ndarray[Any, Any], w: np.ndarray[Any, Any], q: float) -> float:
    """The smallest y with weighted CDF F(y) = sum(w[y_i <= y]) / sum(w) >= q.

    This minimises sum_i w_i * pinball_q(y_i - c) (q = 0.5: a weighted median).
    """
    order = np.argsort(y, kind="stable")
    ys = y[order]
    cw = np.cumsum(w[order])
    idx = int(np.searchsorted(cw, q * cw[-1], side="left"))
    return float(ys[min(idx, ys.size - 1)])


def bisect_increasing(
    f: Callable[[float], float], lo: float, hi: float, *, max_iter: int = 2000
) -> float:
    """Root of an increasing function on [lo, hi] by bisection down to adjacent floats.

    Returns an end point when f does not change sign there (the minimiser of a convex loss
    lies at the boundary then). Bisection never leaves the bracket, whatever f's curvature.
    """
    flo, fhi = f(lo), f(hi)
    if flo >= 0:
        return lo
    if fhi <= 0:
        return hi
    for _ in range(max_iter):
        mid = lo + 0.5 * (hi - lo)
        if not lo < mid < hi:
            break
        fm = f(mid)
        if fm == 0:
            return mid
        if fm < 0:
            lo, flo = mid, fm
        else:
            hi, fhi = mid, fm
    return lo if abs(flo) <= abs(fhi) else hi
