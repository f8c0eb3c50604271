"""Fused, multi-threaded CPU kernels for the element-wise losses (numba, optional).

A loss points at its kernel (:attr:`losslab.Loss.kernel`, the name of a function in
:mod:`losslab._kernels._impl`, and the float arguments it takes from the loss's
hyperparameters, :meth:`losslab.Loss._kernel_args`); this module knows no loss. :func:`try_fused`
is what :class:`losslab.losses._base.Loss` calls: it computes value, gradient and Hessian in one
parallel pass over the data and returns them, or returns None so that the generic array-API
path runs. It runs for NumPy float32/float64 arrays and for CPU torch tensors that autograd is
not recording (zero-copy views both ways; never while ``torch.compile`` traces), and returns
None when

* numba is not installed, or the kernels are switched off (``losslab.set_config(
  use_kernels=False)``, ``losslab.config_context(use_kernels=False)`` or the environment
  variable ``LOSSLAB_USE_KERNELS=0``);
* the input has fewer than ``get_config()["kernel_min_size"]`` elements (default 10 000);
* the arrays are not native-endian float32/float64 arrays of one shape and dtype;
* the process was forked after a kernel ran under GNU OpenMP (not fork-safe).

Importing this package does not import numba; :mod:`losslab._kernels._impl` is imported, and
each kernel compiled (about a second per kernel and dtype, cached on disk next to the module
by numba), on the first call that needs it.

Kernels: ``log_loss``, ``focal``, ``focal_star``, ``squared`` (``p0`` = 1 for
the half squared error), ``linear`` (pinball with quantile ``p0``; absolute error is
``p0 = 0.5, p1 = 1``), ``huber``, ``pseudo_huber``, ``log_cosh``, the GLM family
(``half_poisson``, ``half_gamma``, ``half_tweedie``, ``exponential``) and the detection family
(``varifocal``, ``quality_focal``, ``poly1``, ``poly1_focal`` and ``asymmetric``, the last two
with three parameters). Each compiles once per dtype (float32 inputs are computed in float64,
with exp/log1p accurate to float32's needs where that suffices, and rounded once, except
focal's hard labels, computed in float32 arithmetic, ``focal_f32``); focal and
Poly-1 focal compile two more for non-integer ``gamma`` and for soft labels, focal_star one
more for soft labels, and log loss one without the value (for
``gradient``/``hessian``/``gradient_hessian``), on first use.
Results agree with the generic path to a few ulps (``tests/test_kernels.py`` measures and
bounds the difference). Inputs may be non-contiguous (they are copied) or read-only;
Fortran-ordered inputs keep their order. A call uses ``get_config()["kernel_threads"]`` threads
(default: numba's, one per core) but at most one per :data:`MIN_PER_THREAD` elements; a call
on one thread runs the kernel's twin compiled without ``parallel``
(:mod:`losslab._kernels._serial`: no parallel region to enter, bit-identical results), except
for the kernels of :data:`_NO_TWIN`. What a ``(kernel, args, need, dtype)`` runs is looked up
once (:func:`_plan`); :func:`try_fused_flat` is the lean entry of ``losslab.torch``'s
training step.

A kernel that fails to compile (a numba typing or lowering error) is not tried again in this
process; any other failure falls back to the generic path for that call only, with a warning.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np

from losslab._config import _state as _config_state

__all__ = [
    "MIN_PER_THREAD",
    "available",
    "import_kernels",
    "release_scratch",
    "try_fused",
    "try_fused_flat",
    "warmup",
]

Results = tuple[Any, Any, Any]
KernelArgs = tuple[float, ...]

_INT_GAMMAS = frozenset({0.0, 1.0, 2.0, 3.0, 4.0})
MIN_PER_THREAD = 1 << 16
"""Each thread gets at least this many elements (fewer threads for smaller inputs): below
it a thread's share takes less than about 0.1 ms, comparable to waking and joining a thread,
which on a busy machine can cost a scheduler time slice."""

_POWERS = {"focal": (0,), "poly1_focal": (0,), "quality_focal": (0,), "asymmetric": (0, 1)}
"""Kernel -> the positions of its arguments that are exponents: a variant for whole numbers
0..4 computes the powers as products (vectorised), ``<kernel>_general`` calls libm ``pow``."""

_FIXUPS = {
    "focal": "focal_soft",
    "focal_general": "focal_soft",
    "focal_f32": "focal_soft",
    "focal_star": "focal_star_soft",
    "poly1_focal": "poly1_focal_soft",
    "poly1_focal_general": "poly1_focal_soft",
}
"""Kernels whose return value counts elements that a second kernel must overwrite."""

_lock = threading.Lock()
_state: dict[str, Any] = {"impl": None, "failed": False, "pid": None, "broken": set()}
_scratch: dict[np.dtype[Any], np.ndarray[Any, Any]] = {}


def available() -> bool:
    """Whether numba is installed and the kernels have not failed to import."""
    return not _state["failed"] and importlib.util.find_spec("numba") is not None


def import_kernels(name: str, what: str, state: dict[str, Any]) -> Any:
    """The kernel module ``name`` (importing it imports numba), imported once and kept in
    ``state["impl"]``; None where that failed (``state["failed"]`` is then True): numba
    missing, silently, since the callers' generic paths stay correct; anything else with a
    warning that ``what`` (e.g. "fused kernels") is disabled."""
    impl = state["impl"]
    if impl is None and not state["failed"]:
        try:
            impl = importlib.import_module(name)
        except Exception as exc:  # numba missing or broken: the generic path stays correct
            state["failed"] = True
            if not isinstance(exc, ModuleNotFoundError):
                warnings.warn(
                    f"losslab's {what} disabled: importing {name} failed ({exc!r})",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return None
        state["impl"] = impl
    return impl


def _load_impl() -> Any:
    """Import :mod:`losslab._kernels._impl` (and numba) once; None if that fails."""
    return import_kernels("losslab._kernels._impl", "fused kernels are", _state)


def _variant(
    kernel: str, args: KernelArgs, need: tuple[bool, bool, bool], dtype: np.dtype[Any]
) -> str:
    """The compiled function that serves ``kernel``: the focused losses with a power other
    than 0..4 (:data:`_POWERS`), focal on float32 inputs (float32 arithmetic) and log loss
    without its value have their own."""
    powers = _POWERS.get(kernel, ())
    if any(args[i] not in _INT_GAMMAS for i in powers):
        return f"{kernel}_general"
    if kernel == "focal" and dtype == np.float32:
        return "focal_f32"
    if kernel == "log_loss" and not need[0]:
        return "log_loss_gh"  # gradient and Hessian need no log1p
    return kernel


def _flat(a: np.ndarray[Any, Any], order: str) -> np.ndarray[Any, Any]:
    """A read-only 1-D contiguous view (or copy, if ``a`` is not contiguous) in ``order``."""
    flat = np.ravel(a, order=order)  # type: ignore[call-overload]
    if not flat.flags.c_contiguous:  # pragma: no cover - ravel returns contiguous arrays
        flat = np.ascontiguousarray(flat)
    flat = flat.view()
    flat.flags.writeable = False
    return flat  # type: ignore[no-any-return]


def _numba() -> Any:
    """The numba module (imported on first use and kept: ``import_module`` on every kernel call
    was measurable at 10^4 elements; typed ``Any``: numba has no type stubs)."""
    numba = _state.get("numba")
    if numba is None:
        numba = _state["numba"] = importlib.import_module("numba")
    return numba


def _thread_control() -> tuple[Callable[[], int], Callable[[int], None], int]:
    """numba's getter and setter of this thread's number of threads, and
    ``NUMBA_NUM_THREADS``.

    Once numba's thread pool is up, its unchecked internals ``_get_num_threads`` and
    ``_set_num_threads`` (0.1 and 0.3 microseconds against 0.8 and 1.0 for the public
    functions, which check that the pool is launched and the count is valid: it is, here);
    the public functions where a numba release lacks them."""
    control = _state.get("threads")
    if control is None:
        numba = _numba()
        numba.get_num_threads()  # launches the thread pool
        parallel = getattr(getattr(numba, "np", None), "ufunc", None)
        parallel = getattr(parallel, "parallel", None)
        get = getattr(parallel, "_get_num_threads", None)
        put = getattr(parallel, "_set_num_threads", None)
        if not (callable(get) and callable(put)):
            get, put = numba.get_num_threads, numba.set_num_threads
        control = _state["threads"] = (get, put, int(numba.config.NUMBA_NUM_THREADS))
    return control


def _get_scratch(dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Two rows of ``CHUNK`` elements per numba thread, where unneeded outputs are written."""
    numba = _numba()
    size = _state["impl"].CHUNK * numba.config.NUMBA_NUM_THREADS
    buf = _scratch.get(dtype)
    if buf is None or buf.shape[1] < size:
        buf = _scratch[dtype] = np.empty((2, size), dtype=dtype)
    return buf


def release_scratch() -> None:
    """Free the scratch arrays (128 KiB per numba thread and dtype) of unneeded outputs."""
    _scratch.clear()
    _plans.clear()  # they hold rows of the scratch arrays


def _launch_guard(impl: Any) -> bool:
    """False when a kernel must not run here: a forked child of a GNU-OpenMP parent."""
    pid = os.getpid()
    if _state["pid"] is None:
        _state["pid"] = pid
        return True
    if _state["pid"] == pid:
        return True
    try:
        layer = _numba().threading_layer()
    except ValueError:
        return True
    return bool(layer != "omp")


def try_fused(
    kernel: str,
    args: KernelArgs,
    y: Any,
    z: Any,
    sample_weight: Any,
    need: tuple[bool, bool, bool],
    out: tuple[Any, Any, Any] | None = None,
) -> Results | None:
    """Value, gradient and Hessian of an element-wise loss from one fused kernel, or None.

    Parameters
    ----------
    kernel : str
        The name of a kernel in :mod:`losslab._kernels._impl` (the loss's
        :attr:`losslab.Loss.kernel`).
    args : tuple of float
        The kernel's parameters (the loss's ``_kernel_args()``; two or three floats, as many
        as the kernel takes).
    y, z : numpy.ndarray or CPU torch.Tensor
        Targets and raw predictions: same shape, same dtype (float32 or float64), validated.
    sample_weight : array or None
        Same shape and dtype; multiplies every output.
    need : tuple of three bools
        Whether the value, the gradient and the Hessian are wanted.
    out : tuple of three (numpy.ndarray or None), optional
        Preallocated outputs (None where not wanted or to allocate), checked by the caller:
        z's shape and dtype, writeable, not overlapping the inputs. The kernel writes into
        them only when each is C-contiguous and z is too; otherwise this returns None.

    Returns
    -------
    tuple or None
        ``(value, gradient, hessian)``, arrays of z's type, shape and dtype (the ``out``
        arrays where given; None where ``need`` is False), each already multiplied by
        ``sample_weight``; or None when no kernel applies (see the module docstring): the
        caller then runs the generic path.

    Raises
    ------
    ValueError
        ``kernel`` names no kernel of :mod:`losslab._kernels._impl` (checked once numba is
        loaded).
    """
    if isinstance(z, np.ndarray):
        return _try_numpy(kernel, args, y, z, sample_weight, need, out)
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(z, torch.Tensor) or out is not None:
        return None
    return _try_torch(torch, kernel, args, y, z, sample_weight, need)


def _try_torch(
    torch: Any,
    kernel: str,
    args: KernelArgs,
    y: Any,
    z: Any,
    w: Any,
    need: tuple[bool, bool, bool],
) -> Results | None:
    """The NumPy kernel on zero-copy views of CPU tensors that autograd is not recording."""
    arrays = (y, z) if w is None else (y, z, w)
    if not all(isinstance(a, torch.Tensor) and a.device.type == "cpu" for a in arrays):
        return None
    if torch.compiler.is_compiling():
        return None  # traced code: the generic formulas, which inductor can fuse
    if torch.is_grad_enabled() and any(a.requires_grad for a in arrays):
        return None  # autodiff through the generic formulas was asked for
    wn = None if w is None else w.detach().numpy()
    result = _try_numpy(kernel, args, y.detach().numpy(), z.detach().numpy(), wn, need, None)
    if result is None:
        return None
    return tuple(None if r is None else torch.from_numpy(r) for r in result)  # type: ignore[return-value]


def _try_numpy(
    kernel: str,
    args: KernelArgs,
    y: Any,
    z: np.ndarray[Any, Any],
    sample_weight: Any,
    need: tuple[bool, bool, bool],
    out: tuple[Any, Any, Any] | None,
) -> Results | None:
    if not isinstance(y, np.ndarray):
        return None
    dtype = z.dtype
    if dtype not in (np.float32, np.float64) or not dtype.isnative or y.dtype != dtype:
        return None
    if y.shape != z.shape or z.size == 0:
        return None
    if sample_weight is not None and not (
        isinstance(sample_weight, np.ndarray)
        and sample_weight.dtype == dtype
        and sample_weight.shape == z.shape
    ):
        return None
    plan = _plan(kernel, args, need, dtype, z.size)
    if plan is None:
        return None
    if not any(need):
        return None, None, None

    order: Literal["C", "F"] = "F" if (z.flags.f_contiguous and not z.flags.c_contiguous) else "C"
    given = (None, None, None) if out is None else out
    if any(o is not None for o in given) and (
        order != "C" or not all(o is None or o.flags.c_contiguous for o in given)
    ):
        return None  # a flat view of a non-contiguous out would be a copy
    y1, z1 = _flat(y, order), _flat(z, order)
    w1 = None if sample_weight is None else _flat(sample_weight, order)
    results = [
        (given[i] if given[i] is not None else np.empty(z.shape, dtype=dtype, order=order))
        if k
        else None
        for i, k in enumerate(need)
    ]
    outs = [None if r is None else r.reshape(-1, order=order) for r in results]
    if not _launch(plan, y1, z1, w1, outs):
        return None
    return results[0], results[1], results[2]


def try_fused_flat(
    kernel: str,
    args: KernelArgs,
    y: np.ndarray[Any, Any],
    z: np.ndarray[Any, Any],
    need: tuple[bool, bool, bool],
    w: np.ndarray[Any, Any] | None = None,
) -> Results | None:
    """:func:`try_fused` for the hot path of a training step, or None.

    ``y``, ``z`` and the sample weights ``w`` (or None) must be C-contiguous, native-endian
    NumPy arrays of one shape and of dtype float32 or float64 (the caller guarantees it: these
    are not checked). Returns fresh arrays of z's shape for the outputs that ``need`` asks for,
    as :func:`try_fused` does, with less Python per call (a few microseconds against about
    25): what the kernel, its parameters and flags are is looked up once per (kernel, args,
    need, dtype) (:func:`_plan`)."""
    size = z.size
    plan = None if size == 0 else _plan(kernel, args, need, z.dtype, size)
    if plan is None:
        return None
    dtype = z.dtype
    shape = z.shape
    v: Any = np.empty(shape, dtype) if need[0] else None
    g: Any = np.empty(shape, dtype) if need[1] else None
    h: Any = np.empty(shape, dtype) if need[2] else None
    if len(shape) != 1:
        y, z = y.reshape(-1), z.reshape(-1)
        w = None if w is None else w.reshape(-1)
        outs = [None if a is None else a.reshape(-1) for a in (v, g, h)]
    else:
        outs = [v, g, h]
    if not _launch(plan, y, z, w, outs):
        return None
    return v, g, h


_NO_TWIN = frozenset({"focal", "half_tweedie"})
"""Kernels that run on one thread as their parallel selves, not as their twins
(:mod:`losslab._kernels._serial`): compiled without ``parallel``, LLVM vectorised their loops
without unrolling them, 1.2 (focal in float64) and 2 (half_tweedie) times slower at 10^4 and
10^6 elements (AVX-512; every other twin measured 0.8 to 1.0 times its parallel kernel)."""


class _Plan:
    """What one ``(kernel, args, need, dtype)`` runs: the compiled variant's name, function
    and the kernel that overwrites the elements it counts (or None), their one-thread twins
    (:mod:`losslab._kernels._serial`, built on first use), and the arguments that do not change
    between calls: the float parameters, the flags of the wanted outputs and, for the unwanted
    ones, rows of the scratch array (:func:`_get_scratch`)."""

    __slots__ = ("fixup", "flags", "function", "name", "params", "spare", "twins")

    def __init__(
        self, name: str, fixup: str | None, params: tuple[float, ...], need: Any, dtype: Any
    ) -> None:
        impl = _state["impl"]
        self.name = name
        self.function = getattr(impl, name)
        self.fixup = None if fixup is None else getattr(impl, fixup)
        self.twins: tuple[Any, Any] | None = None
        self.params = params
        self.flags = sum(bit for bit, k in zip((1, 2, 4), need, strict=True) if k)
        rows = iter(_get_scratch(dtype)) if not all(need) else iter(())
        self.spare = tuple(None if k else next(rows) for k in need)

    def serial(self) -> tuple[Any, Any]:
        """The one-thread twins of the kernel and of its fixup (None where it has none)."""
        twins = self.twins
        if twins is None:
            from losslab._kernels import _serial

            fixup = _FIXUPS.get(self.name)
            twins = self.twins = (
                _serial.twin(self.name),
                None if fixup is None else _serial.twin(fixup),
            )
        return twins

    def call(
        self,
        function: Callable[..., int],
        y: np.ndarray[Any, Any],
        z: np.ndarray[Any, Any],
        w: np.ndarray[Any, Any] | None,
        outs: list[np.ndarray[Any, Any] | None],
    ) -> int:
        """``function`` (the kernel, its fixup or a twin) on flat arrays; ``outs`` None where
        not wanted (written to the scratch rows)."""
        v, g, h = (s if o is None else o for o, s in zip(outs, self.spare, strict=True))
        if w is None:
            return int(function(y, z, z, v, g, h, *self.params, self.flags))
        return int(function(y, z, w, v, g, h, *self.params, self.flags | 8))


_plans: dict[tuple[Any, ...], _Plan] = {}
_MAX_PLANS = 256


def _plan(
    kernel: str, args: KernelArgs, need: tuple[bool, bool, bool], dtype: Any, size: int
) -> _Plan | None:
    """The plan for a call of ``size`` elements, or None where the configuration, a failed
    import, a kernel broken earlier or a forked OpenMP parent rule the kernels out.

    Raises
    ------
    ValueError
        ``kernel`` names no kernel of :mod:`losslab._kernels._impl`.
    """
    config = _config_state()
    if not config["use_kernels"] or _state["failed"] or size < config["kernel_min_size"]:
        return None
    key = (kernel, args, need, dtype)
    plan = _plans.get(key)
    if plan is None:
        name = _variant(kernel, args, need, dtype)
        if name in _state["broken"]:
            return None
        impl = _load_impl()
        if impl is None:
            return None
        if kernel not in impl.__all__ or not callable(getattr(impl, kernel)):
            raise ValueError(f"unknown fused kernel {kernel!r}; kernels: {impl.__all__}")
        plan = _Plan(name, _FIXUPS.get(name), tuple(float(a) for a in args), need, dtype)
        if len(_plans) >= _MAX_PLANS:  # many distinct hyperparameters: start afresh
            _plans.clear()
        _plans[key] = plan
    if _state["pid"] != os.getpid() and not _launch_guard(_state["impl"]):
        return None
    return plan


def _threads(size: int) -> int:
    """The threads of a kernel call on ``size`` elements: ``kernel_threads`` (default: numba's
    ``NUMBA_NUM_THREADS``), at most one per :data:`MIN_PER_THREAD` elements, at least 1."""
    most = _thread_control()[2]
    return min(_config_state()["kernel_threads"] or most, most, size // MIN_PER_THREAD) or 1


def _launch(
    plan: _Plan,
    y: np.ndarray[Any, Any],
    z: np.ndarray[Any, Any],
    w: np.ndarray[Any, Any] | None,
    outs: list[np.ndarray[Any, Any] | None],
) -> bool:
    """Run ``plan`` on flat arrays with :func:`_threads` threads (one thread: the kernel's
    twin, without a parallel region); False (with a warning) when the kernel failed and the
    caller must take the generic path."""
    try:
        threads = _threads(z.size)
        if threads == 1 and plan.name not in _NO_TWIN:
            function, fixup = plan.serial()
            if plan.call(function, y, z, w, outs) and fixup is not None:
                plan.call(fixup, y, z, w, outs)
            return True
        get_threads, set_threads, _ = _thread_control()
        before = get_threads()
        if threads == before:
            _dispatch(plan, y, z, w, outs)
        else:
            set_threads(threads)
            try:
                _dispatch(plan, y, z, w, outs)
            finally:
                set_threads(before)
    except Exception as exc:  # fall back to the generic path and say so
        _failed(plan, exc)
        return False
    return True


def _failed(plan: _Plan, exc: Exception) -> None:
    """Warn that ``plan``'s kernel failed (the caller takes the generic path); a compilation
    error (deterministic) also keeps this kernel from being tried again in this process."""
    compile_error = isinstance(exc, _numba().core.errors.NumbaError)
    if compile_error:
        _state["broken"].add(plan.name)
        _plans.clear()
    warnings.warn(
        f"losslab's fused kernel {plan.name!r} failed ({exc!r}); using the generic path"
        + (" from now on" if compile_error else " for this call"),
        RuntimeWarning,
        stacklevel=6,
    )


def _dispatch(
    plan: _Plan,
    y: np.ndarray[Any, Any],
    z: np.ndarray[Any, Any],
    w: np.ndarray[Any, Any] | None,
    outs: list[np.ndarray[Any, Any] | None],
) -> None:
    serial = _needs_serial_launch()
    if serial:
        _lock.acquire()
    try:
        count = plan.call(plan.function, y, z, w, outs)
        if plan.fixup is not None and count:  # elements for the second, general pass
            plan.call(plan.fixup, y, z, w, outs)
    finally:
        if serial:
            _lock.release()


def _needs_serial_launch() -> bool:
    """numba's fallback ``workqueue`` threading layer must not be entered by two threads."""
    layer = _state.get("layer")
    if layer is None:
        try:
            layer = _numba().threading_layer()
        except ValueError:  # no parallel region has run yet: be safe this once
            return True
        _state["layer"] = layer
    return bool(layer == "workqueue")


def warmup(
    kernels: Iterable[tuple[str, KernelArgs]],
    dtypes: tuple[Any, ...] = (np.float64, np.float32),
) -> dict[str, float]:
    """Compile (or load from numba's disk cache) ``kernels`` for ``dtypes``: the variant that
    computes value, gradient and Hessian, its soft-label fixup, and the one-thread twins of
    both (:mod:`losslab._kernels._serial`; calls on one thread run them).

    ``kernels`` holds ``(kernel, args)`` pairs, e.g. ``(loss.kernel, loss._kernel_args())`` for
    the registered losses (:func:`losslab.losses.warmup_kernels` does exactly that). Returns the
    seconds each ``"<kernel>/<dtype>"`` took. Useful before timing, and to pay the compilation
    once in a CI job. Raises ``RuntimeError`` when the kernels are unavailable.
    """
    import time

    from losslab._config import config_context

    if _load_impl() is None:
        raise RuntimeError("losslab's fused kernels are unavailable (is numba installed?)")
    timings: dict[str, float] = {}
    for kernel, args in kernels:
        for dt in dtypes:
            y = np.zeros(4, dtype=dt)
            z = np.zeros(4, dtype=dt)
            t0 = time.perf_counter()
            with config_context(use_kernels=True, kernel_min_size=0):
                plan = _plan(kernel, args, (True, True, True), np.dtype(dt), z.size)
            if plan is None:
                raise RuntimeError(f"no fused kernel ran for {kernel} ({np.dtype(dt).name})")
            pairs = [(plan.function, plan.fixup)]
            if plan.name not in _NO_TWIN:
                pairs.append(plan.serial())
            outs: list[np.ndarray[Any, Any] | None] = [np.empty(4, dt) for _ in range(3)]
            for function, fixup in pairs:  # hard labels: the fixups change nothing here
                for f in (function, fixup):
                    if f is not None:
                        plan.call(f, y, z, None, outs)
            timings[f"{kernel}/{np.dtype(dt).name}"] = time.perf_counter() - t0
    return timings
