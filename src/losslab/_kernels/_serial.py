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
(``tests/test_kernel_twins.py``). Two kernels keep their parallel self on one thread
(:data:`losslab._kernels._NO_TWIN`: their twins were slower).

``tag`` is a hash of :func:`_block_serial`'s bytecode: the twin inlines it, and numba's disk
cache is keyed by ``_impl.py`` (the kernel's file) only. :func:`tagged` does the renaming, for
the twins and for the softmax kernel (:mod:`losslab._kernels._softmax`, which inlines
``_impl.py``'s primitives and is named after :data:`IMPL_TAG`, a hash of that file).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import FunctionType
from typing import Any

import numpy as np
from numba import njit

from losslab._kernels import _impl
from losslab._kernels._impl import CHUNK

__all__ = ["IMPL_TAG", "tagged", "twin"]

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
IMPL_TAG = hashlib.sha256(Path(_impl.__file__).read_bytes()).hexdigest()[:8]
"""A hash of ``_impl.py``, for kernels of other files that inline its primitives
(:func:`tagged`)."""
_twins: dict[str, Any] = {}


def tagged(function: Any, name: str, tag: str, options: dict[str, Any]) -> Any:
    """``njit(**options)`` of ``function`` renamed ``<name>_<tag>``.

    numba's disk cache names a compiled function's files by its qualified name and checks
    only the stamp of the file that defines it: a function that inlines code of another file
    is renamed with a ``tag`` that changes with that code, so that an edit there compiles it
    afresh (the old files are left unused). Used for the twins (:func:`twin`) and
    :func:`losslab._kernels._softmax.softmax_rows`."""
    new_name = f"{name}_{tag}"
    names = {"co_name": new_name}
    if sys.version_info >= (3, 11):
        names["co_qualname"] = new_name
    code = function.__code__.replace(**names)
    g = FunctionType(
        code, function.__globals__, new_name, function.__defaults__, function.__closure__
    )
    g.__qualname__ = new_name
    g.__module__ = function.__module__
    g.__doc__ = function.__doc__
    return njit(**options)(g)


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
        env = dict(f.__globals__, _block=_block_serial)
        g = FunctionType(f.__code__, env, f.__name__, f.__defaults__, f.__closure__)
        options = {k: v for k, v in kernel.targetoptions.items() if k in _OPTIONS}
        compiled = _twins[name] = tagged(
            g, f"{f.__name__}_serial", _TAG, {**options, "parallel": False, "cache": True}
        )
    return compiled
