"""One-thread twins of the fused kernels: the same code compiled without ``parallel``.

A kernel of :mod:`losslab._kernels._impl` is a ``prange`` loop over blocks compiled with
``parallel=True``; a call enters numba's threading layer (an OpenMP parallel region here) even
when it runs on one thread. Inside a PyTorch training step at 10^4 elements that cost about
7 microseconds more than the same loop compiled without ``parallel`` (focal, float32: 84
against 77 microseconds per step; 18 against 17 microseconds for the kernel alone). A call
that runs on one thread (:data:`losslab._kernels.MIN_PER_THREAD`, ``kernel_threads=1``)
therefore takes the kernel's twin: the kernel's own Python function compiled with
``parallel=False`` (``prange`` is then ``range``), under the name ``<kernel>_serial_<tag>``
(its own entry in numba's disk cache), with the block helper ``_block`` replaced by
:func:`_block_serial`, which puts the scratch slice of unwanted outputs at offset 0 instead of
asking the threading layer for a thread id (defined only inside a parallel region). The
results are bit-identical: the same element code in the same order per element
(``tests/test_kernels.py``).

``tag`` is a hash of :func:`_block_serial`'s bytecode: the twin inlines it, and numba's disk
cache is keyed by ``_impl.py`` (the kernel's file) only.
"""

from __future__ import annotations

import hashlib
import sys
from types import FunctionType
from typing import Any

import numpy as np
from numba import njit

from losslab._kernels import _impl
from losslab._kernels._impl import CHUNK

__all__ = ["twin"]

_OPTIONS = ("nogil", "fastmath", "error_model")
"""Options of the parallel kernel that its twin keeps (``parallel`` is dropped)."""


@njit(inline="always", error_model="numpy", fastmath=False)  # _impl._INLINE
def _block_serial(c: Any, n: Any, flags: Any) -> Any:
    """:func:`losslab._kernels._impl._block` for a loop on one thread: the scratch slice of
    the unwanted outputs is thread 0's."""
    start = c * CHUNK
    stop = min(start + CHUNK, n)
    slot = -start
    ov = 0 if flags & 1 else slot
    og = 0 if flags & 2 else slot
    oh = 0 if flags & 4 else slot
    return np.uint64(start), np.uint64(stop), np.uint64(ov), np.uint64(og), np.uint64(oh)


_TAG = hashlib.sha256(_block_serial.py_func.__code__.co_code).hexdigest()[:8]
_twins: dict[str, Any] = {}


def twin(name: str) -> Any:
    """The one-thread twin of the kernel ``name`` of :mod:`losslab._kernels._impl` (built
    once per process; compiled, or loaded from numba's disk cache, on its first call).

    Raises
    ------
    AttributeError
        ``name`` is not a kernel of :mod:`losslab._kernels._impl`.
    """
    compiled = _twins.get(name)
    if compiled is None:
        kernel = getattr(_impl, name)
        f = kernel.py_func
        serial_name = f"{f.__name__}_serial_{_TAG}"
        names = {"co_name": serial_name}
        if sys.version_info >= (3, 11):
            names["co_qualname"] = serial_name  # numba's cache names files by qualname
        code = f.__code__.replace(**names)
        env = dict(f.__globals__, _block=_block_serial)
        g = FunctionType(code, env, serial_name, f.__defaults__, f.__closure__)
        g.__qualname__ = serial_name
        g.__module__ = f.__module__
        g.__doc__ = f.__doc__
        options = {k: v for k, v in kernel.targetoptions.items() if k in _OPTIONS}
        compiled = _twins[name] = njit(parallel=False, cache=True, **options)(g)
    return compiled
