"""Global switches of losslab: whether, and from what size, the fused CPU kernels are used.

The fused NumPy kernels (``losslab._kernels``) are chosen automatically for NumPy float32/float64
inputs of at least ``kernel_min_size`` elements when numba is installed. ``set_config(
use_kernels=False)``, the ``config_context`` context manager, or the environment variable
``LOSSLAB_USE_KERNELS=0`` turn them off, so that every call takes the generic array-API path
(the reference implementation).

Keys (thread-local; defaults from the environment at import):

``use_kernels`` (bool, ``LOSSLAB_USE_KERNELS``, default on)
    Use the fused kernels where they apply.
``kernel_min_size`` (int >= 0, ``LOSSLAB_KERNEL_MIN_SIZE``, default 10_000)
    Arrays with fewer elements take the generic path. Below this size the generic path costs
    tens of microseconds, and a process that only ever sees small arrays never compiles a
    kernel (a first compilation costs about a second per loss and dtype; compiled kernels are
    cached on disk).
``kernel_threads`` (int >= 1 or None, ``LOSSLAB_KERNEL_THREADS``, default None)
    Threads of a kernel call; None uses numba's default (``NUMBA_NUM_THREADS``, the number of
    CPU cores).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["config_context", "get_config", "set_config"]


def _env_int(name: str, default: int | None, low: int) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw or raw.lower() == "none":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < low:
        raise ValueError(f"environment variable {name} must be >= {low}, got {value}")
    return value


_DEFAULTS: dict[str, Any] = {
    "use_kernels": os.environ.get("LOSSLAB_USE_KERNELS", "1").strip().lower()
    not in {"0", "false", "no", "off"},
    "kernel_min_size": _env_int("LOSSLAB_KERNEL_MIN_SIZE", 10_000, 0),
    "kernel_threads": _env_int("LOSSLAB_KERNEL_THREADS", None, 1),
}
_local = threading.local()
_UNSET: Any = object()


def _state() -> dict[str, Any]:
    if not hasattr(_local, "config"):
        _local.config = dict(_DEFAULTS)
    config: dict[str, Any] = _local.config
    return config


def get_config() -> dict[str, Any]:
    """Return a copy of the current (thread-local) configuration.

    Keys: ``use_kernels`` (bool): use the fused CPU kernels where they apply;
    ``kernel_min_size`` (int): the smallest number of elements that takes a kernel;
    ``kernel_threads`` (int or None): threads per kernel call (None: numba's default).
    """
    return dict(_state())


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def set_config(
    *,
    use_kernels: bool | None = None,
    kernel_min_size: int | None = None,
    kernel_threads: int | None = _UNSET,
) -> None:
    """Set configuration values for the current thread; an omitted key is left unchanged.

    ``kernel_threads=None`` restores numba's default thread count (for the other keys
    ``None`` means "unchanged").

    Raises
    ------
    TypeError
        If ``use_kernels`` is not a bool.
    ValueError
        If ``kernel_min_size`` is not an integer >= 0 or ``kernel_threads`` not an integer
        >= 1 (or None).
    """
    updates: dict[str, Any] = {}
    if use_kernels is not None:
        if not isinstance(use_kernels, bool):
            raise TypeError(f"use_kernels must be a bool, got {type(use_kernels).__name__}")
        updates["use_kernels"] = use_kernels
    if kernel_min_size is not None:
        updates["kernel_min_size"] = _check_int("kernel_min_size", kernel_min_size, 0)
    if kernel_threads is not _UNSET:
        updates["kernel_threads"] = (
            None if kernel_threads is None else _check_int("kernel_threads", kernel_threads, 1)
        )
    _state().update(updates)


@contextmanager
def config_context(
    *,
    use_kernels: bool | None = None,
    kernel_min_size: int | None = None,
    kernel_threads: int | None = _UNSET,
) -> Iterator[None]:
    """Temporarily change the configuration inside a ``with`` block (thread-local)."""
    old = get_config()
    set_config(
        use_kernels=use_kernels, kernel_min_size=kernel_min_size, kernel_threads=kernel_threads
    )
    try:
        yield
    finally:
        _state().update(old)
