"""The one array-API code path: namespace lookup, conversion of inputs and working dtypes.

Every loss is written once against the Python array API; this module finds the namespace of
the caller's arrays (NumPy, PyTorch, JAX, Dask, CuPy, array-api-strict through
``array_api_compat``), converts Python scalars and lists into it, and picks the dtype the
computation runs in (at least float32).
"""

from __future__ import annotations

import sys
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "Array",
    "concrete_bool",
    "get_namespace",
    "is_lazy_namespace",
    "is_numpy_namespace",
    "supports_float64",
    "to_numpy",
]

Array = Any
"""Any array of an array-API namespace (kept as ``Any``: the standard has no static type)."""


def _is_array(x: object) -> bool:
    return bool(array_api_compat.is_array_api_obj(x))


def get_namespace(*values: object) -> tuple[Any, Any]:
    """Return ``(xp, device)`` for the arrays among ``values``.

    Python scalars, lists and ``None`` are ignored; when no value is an array the namespace is
    NumPy's (through ``array_api_compat``). NumPy scalars count as NumPy arrays.

    Raises
    ------
    TypeError
        If the arrays come from different array libraries.
    """
    arrays = [v for v in values if v is not None and _is_array(v)]
    if not arrays:
        return array_api_compat.array_namespace(np.empty(0)), "cpu"
    try:
        xp = array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrays})
        raise TypeError(f"inputs mix array libraries ({', '.join(kinds)}); use one") from exc
    return xp, array_api_compat.device(arrays[-1])


def is_numpy_namespace(xp: Any) -> bool:
    """True for NumPy (plain or wrapped by ``array_api_compat``)."""
    return bool(array_api_compat.is_numpy_namespace(xp))


def is_lazy_namespace(xp: Any) -> bool:
    """True for Dask, whose values are only known after ``compute()``."""
    return bool(array_api_compat.is_dask_namespace(xp))


def to_numpy(x: Array) -> np.ndarray[Any, Any]:
    """Copy or view any supported array as a NumPy array on the host (computes Dask arrays)."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_torch_array(x):
        return np.asarray(x.detach().cpu().numpy())
    if array_api_compat.is_dask_array(x):
        return np.asarray(x.compute())  # type: ignore[no-untyped-call, unused-ignore]
    if array_api_compat.is_cupy_array(x):
        return np.asarray(x.get())
    return np.asarray(x)


def supports_float64(xp: Any, x: Array) -> bool:
    """Whether ``x``'s library and device compute in float64 (JAX only with ``jax_enable_x64``;
    not torch's MPS device). Reads the array's type, not array-api-compat's namespace tests,
    so that ``torch.compile`` traces it without a warning."""
    module = type(x).__module__
    if module.startswith("jax"):
        return bool(sys.modules["jax"].config.read("jax_enable_x64"))
    if module.startswith("torch"):
        return bool(x.device.type != "mps")
    return hasattr(xp, "float64")


def concrete_bool(x: Array) -> bool | None:
    """``bool(x)`` for a 0-d boolean array, or None when the value is not known yet.

    JAX tracers (inside ``jax.jit``, ``vmap``, ``grad``) have no concrete value: value checks
    are skipped there, as documented for ``validate=True``. Dask arrays are computed.
    """
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.core.Tracer):
        return None
    if array_api_compat.is_dask_array(x):
        return bool(x.compute())  # type: ignore[no-untyped-call, unused-ignore]
    return bool(x)
