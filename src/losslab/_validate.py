"""Input checks with messages that name the problem: type, shape, domain or parameter.

The cheap structural checks (dtype, shape, emptiness) always run; the value checks that read the
data (label domain, probabilities, weights) run at the public entry points when
``validate=True`` and are skipped inside training loops that pass ``validate=False``.
Value checks are also skipped for JAX tracers, which have no value yet.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from losslab._array_api import Array, concrete_bool

__all__ = [
    "check_finite_nonnegative",
    "check_in_unit_interval",
    "check_no_inf",
    "check_nonempty",
    "check_raw_prediction_dtype",
    "check_real_param",
    "check_same_shape",
    "check_weights",
    "host_numbers",
]


def check_real_param(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in the range.

    Raises
    ------
    ValueError
        Naming ``name``, the allowed range and the value received (also for bools, strings,
        NaN and infinities).
    """
    lo = "(-inf" if low is None else ("[" if low_inclusive else "(") + repr(low)
    hi = "inf)" if high is None else repr(high) + ("]" if high_inclusive else ")")
    allowed = f"{lo}, {hi}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number in {allowed}, got {value!r}")
    v = float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v <= high if high_inclusive else v < high
    if not ok:
        raise ValueError(f"{name} must be a finite number in {allowed}, got {value!r}")
    return v


def check_weight_vector(name: str, value: Sequence[float] | Any) -> tuple[float, ...]:
    """Return a tuple of finite non-negative floats (one weight per class)."""
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"{name} must be None or a sequence of one weight per class, got {value!r}"
        )
    try:
        items = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be None or a sequence of one weight per class, got {value!r}"
        ) from None
    if not items or not all(math.isfinite(v) and v >= 0 for v in items):
        raise ValueError(
            f"{name} must be a non-empty sequence of finite weights >= 0, got {value!r}"
        )
    return tuple(items)


def check_raw_prediction_dtype(z: Array, *, xp: Any, name: str = "raw_prediction") -> None:
    """Raise TypeError unless ``raw_prediction`` (or ``name``) has a real floating dtype."""
    if not xp.isdtype(z.dtype, "real floating"):
        raise TypeError(
            f"{name} must be a real floating array (float16/32/64), got dtype {z.dtype}"
        )


def check_same_shape(a: Array, b: Array, a_name: str, b_name: str) -> None:
    """Raise ValueError unless the shapes are identical (no broadcasting of (n, 1) vs (n,))."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)} (losslab never broadcasts)"
        )


def check_nonempty(z: Array, name: str = "raw_prediction") -> None:
    """Raise ValueError for an input with no elements."""
    if any(s == 0 for s in z.shape):
        raise ValueError(f"{name} is empty (shape {tuple(z.shape)}); nothing to evaluate")


def _any(mask: Array, *, xp: Any) -> bool:
    result = concrete_bool(xp.any(mask))
    return bool(result)


def check_in_unit_interval(x: Array, name: str, *, xp: Any, what: str = "values") -> None:
    """Raise ValueError if any element lies outside [0, 1] (NaN passes: it propagates).

    Two reductions (min and max) instead of an element-wise mask: a third of the time of a
    fused loss call at 10^7 elements. A NaN makes min or max NaN, which compares False, so
    the mask is then checked as well.
    """
    lo, hi = xp.min(x), xp.max(x)
    bad = concrete_bool((lo < 0) | (hi > 1))
    if not bad and concrete_bool(xp.isnan(lo) | xp.isnan(hi)):
        bad = _any((x < 0) | (x > 1), xp=xp)
    if bad:
        raise ValueError(f"{name} must lie in [0, 1] ({what}); found values outside it")


def check_no_inf(x: Array, name: str, *, xp: Any) -> None:
    """Raise ValueError if any element is +-inf (NaN passes: it propagates). Two reductions;
    the element-wise mask only when a NaN hides the answer."""
    lo, hi = xp.min(x), xp.max(x)
    bad = concrete_bool(xp.isinf(lo) | xp.isinf(hi))
    if not bad and concrete_bool(xp.isnan(lo) | xp.isnan(hi)):
        bad = _any(xp.isinf(x), xp=xp)
    if bad:
        raise ValueError(f"{name} must be finite (NaN propagates); found inf")


def check_finite_nonnegative(x: Array, name: str, *, xp: Any) -> None:
    """Raise ValueError if any element is negative, NaN or infinite."""
    if _any(~xp.isfinite(x), xp=xp):
        raise ValueError(f"{name} must be finite; found NaN or inf")
    if _any(x < 0, xp=xp):
        raise ValueError(f"{name} must be >= 0; found negative values")


def check_weights(w: Array, expected_shape: tuple[int, ...], *, xp: Any, validate: bool) -> None:
    """Check the shape of ``sample_weight`` always, and its values when ``validate``."""
    if tuple(w.shape) != tuple(expected_shape):
        raise ValueError(
            f"sample_weight must have shape {tuple(expected_shape)}, got {tuple(w.shape)}"
        )
    if validate:
        check_finite_nonnegative(w, "sample_weight", xp=xp)


_NOT_NUMBERS = (str, bytes, bytearray, dict, set, frozenset)


def host_numbers(value: Any, name: str) -> Any:
    """A NumPy array of the real numbers in a Python scalar, list or nested list.

    The one conversion of non-array inputs (``y_true``, ``raw_prediction``, ``y_proba``,
    ``sample_weight``): ``None``, strings, mappings, sets, ragged lists and lists of objects
    that are not numbers raise instead of becoming NaN or an object array.

    Raises
    ------
    TypeError
        ``None``, a string, a mapping or set, or elements that are not real numbers (the
        message names ``name`` and what it got).
    ValueError
        A ragged nested list (rows of different lengths).
    """
    import numpy as np

    if value is None:
        raise TypeError(f"{name} must be an array or a number, got None")
    if isinstance(value, _NOT_NUMBERS):
        raise TypeError(f"{name} must be an array or a number, got {type(value).__name__}")
    try:
        host = np.asarray(value)
    except ValueError as exc:
        raise ValueError(
            f"{name} must be a rectangular array; got a ragged nested sequence ({exc})"
        ) from None
    if host.dtype.kind not in "biuf":
        what = "strings" if host.dtype.kind in "SU" else f"dtype {host.dtype}"
        raise TypeError(f"{name} must hold real numbers, got {what}")
    return host
