"""The eager CPU training step of softmax focal and poly-1 losses with class indices: one
numba kernel pass for the values and the gradient, one multiplication for the backward.

:func:`rows_kernel` is what :mod:`losslab.torch` tries first for these losses; it returns None
where the kernel does not apply and the tensor code then runs (``F.cross_entropy`` feeding
``losslab.torch._RowsOfCrossEntropy``). That tensor code costs about 20 small tensor operations
on N-vectors after ``F.cross_entropy``; at 10^4 logits the step was 4.4 times
``F.cross_entropy``'s, all Python and dispatch. Here the forward is one kernel call
(:func:`losslab._kernels._softmax.softmax_rows`) on zero-copy NumPy views, which computes
the per-row values and ``G = D (onehot_c - p)`` in one pass over each row; the backward is
``scale * G``. Under ``create_graph=True`` the backward's result has the kernel's values and
the derivatives of the tensor code (autograd of ``_rows_of_cross_entropy``), so double
backward and Hessian-vector products are those of the tensor code.

A class index outside ``[0, K)`` is never read: the kernel counts such rows and
:func:`rows_kernel` raises a ``ValueError`` that says how many (the modules check values on
their first call only, ``validate="once"``; this check costs nothing).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from losslab import _kernels
from losslab._config import _state as _config_state
from losslab.losses import Loss

__all__ = ["rows_kernel"]

_REDUCTIONS = frozenset({"none", "sum", "mean"})
_FLOATS = frozenset({torch.float32, torch.float64})
_INDICES = frozenset({torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8})
_state: dict[str, Any] = {"impl": None, "failed": False}


class _Plan:
    """What the kernel runs for one loss: the kind, its parameter, the class weights (float64,
    or a dummy) and the flags (:mod:`losslab._kernels._softmax`), and the numbers of classes
    the loss accepts (``background`` is ``background_class``, or -1)."""

    __slots__ = ("alpha", "classes", "flags", "kind", "param")

    def __init__(
        self, kind: int, param: float, alpha: np.ndarray[Any, Any] | None, background: int
    ) -> None:
        self.kind = kind
        self.param = param
        self.alpha = np.zeros(1) if alpha is None else alpha
        self.flags = 0 if alpha is None else 2  # HAS_ALPHA
        # the least and most K that the loss accepts: K >= 2, alpha's length, background < K
        least, most = (2, 2**62) if alpha is None else (alpha.shape[0], alpha.shape[0])
        self.classes = (max(least, background + 1), most)


_plans: dict[int, tuple[Loss, _Plan | None]] = {}
"""``id(loss)`` -> (the loss, kept so that the id is not reused, its plan)."""
_MAX_PLANS = 256


def _plan_of(loss: Loss) -> _Plan | None:
    """The plan for ``loss``, or None: not softmax focal / poly-1, or plain cross-entropy
    (``F.cross_entropy`` runs that)."""
    entry = _plans.get(id(loss))
    if entry is not None and entry[0] is loss:
        return entry[1]
    plan = None
    if loss.name == "softmax_focal":
        gamma = float(loss.gamma)  # type: ignore[attr-defined]
        alpha = loss.alpha  # type: ignore[attr-defined]
        if gamma != 0.0 or alpha is not None:
            weights = None if alpha is None else np.asarray(alpha, dtype=np.float64)
            background = loss.background_class  # type: ignore[attr-defined]
            plan = _Plan(0, gamma, weights, -1 if background is None else int(background))
    elif loss.name == "softmax_poly1":
        eps = float(loss.epsilon)  # type: ignore[attr-defined]
        if eps != 0.0:
            plan = _Plan(1, eps, None, -1)  # POLY1
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    _plans[id(loss)] = (loss, plan)
    return plan


_divisors: dict[tuple[int, torch.dtype], torch.Tensor] = {}


def _divisor(n: int, dtype: torch.dtype) -> torch.Tensor:
    """``float(n)`` as a 0-d tensor of ``dtype``, made once: dividing by it gives the bits of
    dividing by the Python float (which PyTorch rounds to ``dtype`` too) in half the time (a
    Python scalar costs a conversion per call: 4 against 1.5 microseconds, measured)."""
    key = (n, dtype)
    d = _divisors.get(key)
    if d is None:
        if len(_divisors) >= _MAX_PLANS:
            _divisors.clear()
        d = _divisors[key] = torch.tensor(float(n), dtype=dtype)
    return d


def _impl() -> Any:
    """:mod:`losslab._kernels._softmax` (imports numba), or None where that failed."""
    return _kernels.import_kernels("losslab._kernels._softmax", "softmax kernel is", _state)


def rows_kernel(
    loss: Loss, y: torch.Tensor, z: torch.Tensor, reduction: str
) -> torch.Tensor | None:
    """Softmax focal / poly-1 loss of logits ``z`` (N, K) and class indices ``y`` (N,) from the
    kernel: per-row values (``reduction="none"``), their sum or their mean (sum in the
    values' dtype over ``float(N)``), differentiable in ``z``; or None where the kernel does not
    apply and the caller runs the tensor code.

    It applies in eager mode (not while ``torch.compile`` traces) to plain CPU tensors (not
    subclasses): float32/float64 C-contiguous ``z`` with N >= 1 rows and K >= 2 classes,
    integer ``y`` (not float indices, whose NaN marks a row) of length N, ``reduction``
    "none", "sum" or "mean" (unweighted), ``softmax_focal`` with ``gamma > 0`` or ``alpha``
    (of length K; ``background_class`` below K) and ``softmax_poly1`` with ``epsilon != 0``,
    when the kernels are available and switched on (``losslab.get_config()["use_kernels"]``;
    any size: ``kernel_min_size`` does not apply, the tensor code is slower at every size).
    The call uses ``get_config()["kernel_threads"]`` threads (default: numba's), at most one
    per :data:`losslab._kernels.MIN_PER_THREAD` elements. Values are not validated, except
    that a class index outside ``[0, K)`` raises a ``ValueError``; every input that
    :func:`losslab.torch._check_structure` rejects gets None, so after a first call whose
    values passed the checks a module may try this before the checks of
    :func:`losslab.torch.loss_function` without hiding an error.
    """
    # Metadata only (about 2 microseconds in all); under torch.compile nothing past the first.
    if (
        torch.compiler.is_compiling()
        or type(z) is not torch.Tensor
        or type(y) is not torch.Tensor
        or z.dtype not in _FLOATS
        or y.dtype not in _INDICES
        or z.ndim != 2
        or y.ndim != 1
        or not z.is_cpu
        or not y.is_cpu
        or reduction not in _REDUCTIONS
        or not z.is_contiguous()
    ):
        return None
    n, k = z.shape
    if n == 0 or k == 0 or y.shape[0] != n or not _config_state()["use_kernels"]:
        return None
    plan = _plan_of(loss)
    if plan is None or not plan.classes[0] <= k <= plan.classes[1]:
        return None  # including K the loss does not accept: the caller raises
    impl = _state["impl"] or _impl()
    if impl is None:
        return None
    grad = z.requires_grad and torch.is_grad_enabled()
    zn = z.detach().numpy()
    idx = y if (y.dtype is torch.int64 and y.is_contiguous()) else y.to(torch.int64).contiguous()
    v = np.empty(n, dtype=zn.dtype)
    g = np.empty((n, k), dtype=zn.dtype) if grad else v
    flags = plan.flags | 1 if grad else plan.flags  # GRAD
    bad: int | None
    if zn.size < 2 * _kernels.MIN_PER_THREAD:  # one thread: called here, 1 microsecond less
        try:
            bad = impl.softmax_rows(
                zn, idx.numpy(), plan.alpha, v, g, plan.kind, plan.param, flags, 0
            )
        except Exception as exc:
            _failed(exc)
            return None
    else:
        bad = _run(impl, zn, idx.numpy(), plan, v, g, flags)
        if bad is None:
            return None
    if bad:
        raise ValueError(
            f"target must hold class indices in [0, {k}) for input with {k} classes; "
            f"{bad} of its {n} rows do not"
        )
    values = torch.from_numpy(v)
    divisor = _divisor(n, z.dtype) if reduction == "mean" else None
    if not grad:
        if reduction == "none":
            return values
        total = torch.sum(values)
        return total if divisor is None else total / divisor
    kernel = (idx, values, torch.from_numpy(g), divisor)
    out: torch.Tensor = _KernelRows.apply(z, loss, reduction, kernel)  # type: ignore[no-untyped-call]
    return out


def _run(
    impl: Any,
    zn: np.ndarray[Any, Any],
    cn: np.ndarray[Any, Any],
    plan: _Plan,
    v: np.ndarray[Any, Any],
    g: np.ndarray[Any, Any],
    flags: int,
) -> int | None:
    """One kernel call with the configured number of threads (the rows in a plain loop on this
    thread for one, or in a process forked after an OpenMP parent ran kernels): the number of
    rows with a class index outside ``[0, K)``, or None, with a warning, where the kernel
    failed. Inputs of fewer than ``2 MIN_PER_THREAD`` elements get
    one thread whatever the configuration: :func:`rows_kernel` calls the kernel itself."""
    try:
        get_threads, set_threads, most = _kernels._thread_control()
        threads = _kernels._threads(zn.size)
        forked = threads > 1 and _kernels._state["pid"] != os.getpid()
        if forked and not _kernels._launch_guard(impl):
            threads = 1
        if threads == 1:
            return int(impl.softmax_rows(zn, cn, plan.alpha, v, g, plan.kind, plan.param, flags, 0))
        serial = _kernels._needs_serial_launch()  # numba's workqueue layer: one caller
        if serial:
            _kernels._lock.acquire()
        before = get_threads()
        if threads != before:
            set_threads(threads)
        try:
            bad = impl.softmax_rows(zn, cn, plan.alpha, v, g, plan.kind, plan.param, flags, most)
        finally:
            if threads != before:
                set_threads(before)
            if serial:
                _kernels._lock.release()
    except Exception as exc:
        _failed(exc)
        return None
    return int(bad)


def _failed(exc: Exception) -> None:
    """After a kernel call raised ``exc``: the caller falls back to the tensor code (which stays
    correct) for this call, or from now on after a numba compilation error; a warning says so."""
    compile_error = isinstance(exc, _kernels._numba().core.errors.NumbaError)
    if compile_error:  # deterministic: not again in this process
        _state["failed"] = True
        _state["impl"] = None
    warnings.warn(
        f"losslab's softmax kernel failed ({exc!r}); using the tensor code"
        + (" from now on" if compile_error else " for this call"),
        RuntimeWarning,
        stacklevel=4,
    )


class _KernelRows(torch.autograd.Function):
    """Logits ``z`` (N, K) -> per-row values (N,), their sum or their mean, with the kernel's
    values and gradient ``G`` computed before the call (``kernel``: the class indices, the
    values, ``G`` and for "mean" N as a 0-d tensor; the forward only reduces the values).
    Backward: ``scale G`` (``scale`` 0-d for a sum or mean, (N, 1) per row); under
    ``create_graph=True`` a gradient with the same values whose derivatives are the tensor
    code's (``losslab.torch._rows_of_cross_entropy``), so double backward is exact."""

    @staticmethod
    def forward(
        ctx: Any,
        z: torch.Tensor,
        loss: Loss,
        reduction: str,
        kernel: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None],
    ) -> torch.Tensor:
        y, values, g, divisor = kernel
        ctx.info = (loss, reduction, divisor)
        ctx.save_for_backward(z, y, g)
        if reduction == "none":
            return values
        total = torch.sum(values)
        return total if divisor is None else total / divisor

    @staticmethod
    def backward(ctx: Any, out: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        z, y, g = ctx.saved_tensors
        loss, reduction, divisor = ctx.info
        if reduction == "none":
            scale = out[:, None]
        elif divisor is not None:
            scale = out / divisor
        else:
            scale = out
        grad = scale * g
        if torch.is_grad_enabled():  # create_graph=True: the tensor code's derivatives
            grad = grad + _differentiable_zero(loss, y, z, scale)
        return grad, None, None, None


def _differentiable_zero(
    loss: Loss, y: torch.Tensor, z: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """``t - t`` for ``t`` the tensor code's ``scale * dL/dz`` (``create_graph=True``): zero
    where ``t`` is finite, with the derivatives of ``t`` in ``z`` and ``scale``."""
    from losslab.torch import _rows_of_cross_entropy  # imports this module

    with torch.enable_grad():
        rows = _rows_of_cross_entropy(loss, y, z, "none")
        weights = scale[:, 0] if scale.ndim else scale.expand(rows.shape)
        (t,) = torch.autograd.grad(rows, z, grad_outputs=weights, create_graph=True)
    return t - t.detach()
