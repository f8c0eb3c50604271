"""Global switches of losslab: whether the fused CPU kernels may be used.

The fused NumPy kernels (``losslab._kernels``) are chosen automatically for NumPy float32/float64
inputs when numba is installed. ``set_config(use_kernels=False)``, the ``config_context`` context
manager, or the environment variable ``LOSSLAB_USE_KERNELS=0`` turn them off, so that every call
takes the generic array-API path (the reference implementation).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS: dict[str, Any] = {
    "use_kernels": os.environ.get("LOSSLAB_USE_KERNELS", "1").strip().lower()
    not in {"0", "false", "no", "off"},
}
_local = threading.local()


def _state() -> dict[str, Any]:
    if not hasattr(_local, "config"):
        _local.config = dict(_DEFAULTS)
    config: dict[str, Any] = _local.config
    return config


def get_config() -> dict[str, Any]:
    """Return a copy of the current (thread-local) configuration.

    Keys: ``use_kernels`` (bool): use the fused CPU kernels where they apply.
    """
    return dict(_state())


def set_config(*, use_kernels: bool | None = None) -> None:
    """Set configuration values for the current thread; ``None`` leaves a value unchanged.

    Raises
    ------
    TypeError
        If ``use_kernels`` is not a bool.
    """
    if use_kernels is not None:
        if not isinstance(use_kernels, bool):
            raise TypeError(f"use_kernels must be a bool, got {type(use_kernels).__name__}")
        _state()["use_kernels"] = use_kernels


@contextmanager
def config_context(*, use_kernels: bool | None = None) -> Iterator[None]:
    """Temporarily change the configuration inside a ``with`` block (thread-local)."""
    old = get_config()
    set_config(use_kernels=use_kernels)
    try:
        yield
    finally:
        _state().update(old)
