"""The one reduction of loss values, shared by the core, ``losslab.torch`` and ``losslab.jax``.

Every backend turns ``w * L`` into a number here, so ``mean``, ``sum``, ``none`` and
``positives`` give the same value (and, through autodiff, the same gradient) on NumPy, PyTorch,
JAX and Dask:

* ``"none"``: the element-wise ``w * L``;
* ``"sum"``: ``sum(w * L)``;
* ``"mean"``: ``sum(w * L) / sum(w)``, the plain mean ``sum(L) / n`` without weights;
* ``"positives"``: ``sum(w * L) / max(n_pos, 1)`` where ``n_pos`` counts the positives (the
  foreground: label mass of the positive class, or rows whose class is not the background)
  among the elements of non-zero weight, as RetinaNet normalises by the number of anchors
  assigned to an object. Ignored and zero-weight elements are not counted.

Empty denominator: when every element is ignored or the weights sum to 0, ``sum(w * L)`` is 0
and ``"mean"`` returns 0 (the denominator is replaced by 1), with a zero gradient: a training
step on a batch with nothing to learn from is a no-op, as in PyTorch's and kornia's losses
with ``ignore_index`` (no NaN). ``"positives"`` already divides by at least 1. The core's
``Loss.__call__`` with ``validate=True`` raises instead, because a direct call whose weights sum
to 0 is almost always a mistake (``docs/conventions.md``).

Accumulation is in at least float32 whatever the input dtype (a float16 sum of 10^5 terms, or
a float16 count of 10^5 elements, overflows); the result is cast back to the values' dtype.
"""

from __future__ import annotations

from typing import Any, Literal

from losslab._array_api import Array

__all__ = ["REDUCTIONS", "Reduction", "check_reduction", "reduce"]

Reduction = Literal["mean", "sum", "none", "positives"]
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none", "positives")


def check_reduction(reduction: object, loss: Any) -> None:
    """Raise ValueError for an unknown reduction, or ``"positives"`` on a loss without
    positives (``loss.supports_positives`` False)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "positives" and not loss.supports_positives:
        raise ValueError(
            f"reduction='positives' is only defined for losses with a foreground class "
            f"(focal family), not {loss.name}"
        )


def reduce(
    values: Array,
    reduction: str,
    *,
    xp: Any,
    weight: Array | None = None,
    positives: Array | None = None,
) -> Array:
    """Reduce weighted element-wise loss values (see the module docstring).

    Parameters
    ----------
    values : array
        ``w * L`` per element, or per row for the softmax losses; already weighted.
    reduction : {"mean", "sum", "none", "positives"}
        Checked by :func:`check_reduction` beforehand.
    xp : namespace
        The array-API namespace of ``values``.
    weight : array or None
        The weights (0 for ignored elements) of the same shape as ``values``; None means 1.
    positives : array or None
        Required for ``"positives"``: the foreground mass of each element (label of the
        positive class, 1 for a foreground row), same shape as ``values``.

    Returns
    -------
    array
        ``values`` for ``"none"``, else a 0-d array of ``values``' dtype.
    """
    if reduction == "none":
        return values
    out_dtype = values.dtype
    acc = values if out_dtype in (xp.float32, xp.float64) else xp.astype(values, xp.float32)
    total = xp.sum(acc)
    if reduction == "sum":
        result = total
    elif reduction == "mean":
        if weight is None:
            result = total / float(_size(acc))
        else:
            denom = xp.sum(_as(weight, acc.dtype, xp))
            result = total / xp.where(denom > 0, denom, xp.ones_like(denom))
    else:
        if positives is None:
            raise ValueError("reduction='positives' needs the positives of each element")
        pos = _as(positives, acc.dtype, xp)
        if weight is not None:
            pos = xp.where(weight > 0, pos, xp.zeros_like(pos))
        result = total / xp.maximum(xp.sum(pos), xp.ones_like(total))
    return result if result.dtype == out_dtype else xp.astype(result, out_dtype)


def _as(x: Array, dtype: Any, xp: Any) -> Array:
    return x if x.dtype == dtype else xp.astype(x, dtype)


def _size(x: Array) -> int:
    n = 1
    for s in x.shape:
        n *= int(s)
    return n
