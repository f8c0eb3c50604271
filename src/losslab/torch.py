"""PyTorch training losses: one ``torch.nn.Module`` per registered loss, NaN-free at any logit.

``losslab.torch.FocalLoss(gamma=0.5)`` and its siblings are declared from the registry
(``losslab.LOSSES``), so every loss the core knows is a module here too. Forward and backward
run losslab's analytic value and gradient through a custom ``torch.autograd.Function`` that
saves the two inputs (as ``binary_cross_entropy_with_logits`` does) and, where the fused
kernel computed it with the values, the gradient; the backward is itself
differentiable with the analytic Hessian, so ``torch.autograd.grad(..., create_graph=True)``
and Hessian-vector products are exact in eager mode. float16 and bfloat16 are computed in
float32 and returned in the input dtype.

How the work is done (``docs/training.md``):

* eager CPU tensors: the loss's fused multi-threaded kernel (numba) where it applies, else
  tensor code;
* ``torch.compile`` (any backend, inductor by default) and other devices (CUDA): plain tensor
  code without data-dependent branches or host synchronisation, which inductor fuses into one
  loop for the forward and one for the backward. Measured against the alternative, an opaque
  ``torch.library`` custom op around the kernel, the fused tensor code is 1.5 to 3.4 times
  faster under ``torch.compile`` on the CPU (``benchmarks/training_losses.py``);
* softmax losses: ``log_softmax`` feeds a per-row function (one gather for the value; the
  analytic slope ``dL/d(log p_c)`` scattered for the backward, which ``log_softmax``'s backward
  turns into the gradient), as ``F.cross_entropy`` feeds ``nll_loss``; plain cross-entropy
  (``softmax_cross_entropy``, ``softmax_focal`` with gamma 0 and no alpha, ``softmax_poly1``
  with epsilon 0) is ``F.cross_entropy`` itself;
* eager CPU tensors that need a gradient, at kernel size: the forward's kernel pass computes
  the values and the gradient together and saves the gradient for the backward (one kernel
  pass per step instead of two, for one saved tensor of the input's size more than
  BCE-with-logits saves: ``tests/test_torch_eager.py``);
* eager "sum" and "mean" without weights: the values, their sum and the division form one
  autograd node (per call, one Python-level node and one tensor of the input's size fewer).

Value checks (label domain, class indices, weights) read the data; the modules run them on
their first call only (``validate="once"``, the default), so a training loop pays no host
synchronisation per step. Types, dtypes and shapes are checked on every call from metadata.

Arguments follow PyTorch's order, ``module(input, target)``, unlike the core's
``loss(y_true, raw_prediction)``. Targets are never differentiated.

Also here: :func:`prior_bias`, the RetinaNet initialisation of the classification bias.
"""

from __future__ import annotations

import math
import types
from typing import Any, ClassVar, Literal

import array_api_compat.torch as _compat
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own idiom)

from losslab import _kernels
from losslab._numerics import focal_branchless
from losslab._torch_softmax import rows_kernel
from losslab.losses import LOSSES, Loss, get_loss
from losslab.losses import FocalLoss as CoreFocalLoss
from losslab.losses._reduce import check_reduction, reduce

__all__ = [
    "AbsoluteError",
    "AsymmetricLoss",
    "ExponentialLoss",
    "FocalLoss",
    "FocalStarLoss",
    "HalfGammaLoss",
    "HalfPoissonLoss",
    "HalfSquaredError",
    "HalfTweedieLoss",
    "HuberLoss",
    "LogCoshLoss",
    "LogLoss",
    "LosslabLoss",
    "PinballLoss",
    "Poly1FocalLoss",
    "Poly1Loss",
    "PseudoHuberLoss",
    "QualityFocalLoss",
    "RegisteredLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "SoftmaxPoly1Loss",
    "SquaredError",
    "Validate",
    "VarifocalLoss",
    "loss_function",
    "prior_bias",
]

# ---------------------------------------------------------------------------------------------
# The array-API namespace that the core's formulas see in traced code.


def _maximum(x1: Any, x2: Any, /) -> Any:
    """``maximum`` with a Python-number argument as ``clamp_min`` (NaN propagates)."""
    if isinstance(x2, (int, float)) and isinstance(x1, torch.Tensor):
        return torch.clamp_min(x1, x2)
    if isinstance(x1, (int, float)) and isinstance(x2, torch.Tensor):
        return torch.clamp_min(x2, x1)
    return _compat.maximum(x1, x2)


def _minimum(x1: Any, x2: Any, /) -> Any:
    """``minimum`` with a Python-number argument as ``clamp_max`` (NaN propagates)."""
    if isinstance(x2, (int, float)) and isinstance(x1, torch.Tensor):
        return torch.clamp_max(x1, x2)
    if isinstance(x1, (int, float)) and isinstance(x2, torch.Tensor):
        return torch.clamp_max(x2, x1)
    return _compat.minimum(x1, x2)


_xp = types.ModuleType(_compat.__name__, _compat.__doc__)
"""``array_api_compat.torch`` (same name, so the core recognises torch), except that
``maximum`` and ``minimum`` with a Python number do not go through array-api-compat's scalar
promotion, which calls ``torch.result_type`` (a non-tensor result: a graph break under
``torch.compile``)."""
_xp.__dict__.update({k: v for k, v in vars(_compat).items() if not k.startswith("__")})
_xp.maximum = _maximum  # type: ignore[attr-defined]
_xp.minimum = _minimum  # type: ignore[attr-defined]

# ---------------------------------------------------------------------------------------------
# Element-wise losses: value, gradient and Hessian tensors.

_NEED: tuple[tuple[bool, bool, bool], ...] = (
    (True, False, False),
    (False, True, False),
    (False, False, True),
)


def _branchless(loss: Loss) -> bool:
    """Focal and poly-1 focal losses (exactly those classes): the core picks a branch from
    the labels (all hard, all soft), which would read the data; losslab._numerics has a form
    without branches."""
    return isinstance(loss, CoreFocalLoss) and type(loss).name in ("focal", "poly1_focal")


def _formula(loss: Loss, y: torch.Tensor, z: torch.Tensor, k: int) -> torch.Tensor:
    """Output ``k`` (0 value, 1 gradient, 2 Hessian) of an element-wise loss in tensor code.

    Plain torch operations without data-dependent branches or host synchronisation, which
    inductor fuses into one loop under ``torch.compile``: the core's ``_compute`` on the
    array-API namespace of torch, and for focal loss the branch-free form that serves hard and
    soft labels at once (:func:`losslab._numerics.focal_branchless`; the core picks a branch
    from the data).
    """
    if _branchless(loss):
        gamma, alpha = loss.gamma, loss.alpha  # type: ignore[attr-defined]
        eps = getattr(loss, "epsilon", 0.0)
        out = focal_branchless(y, z, gamma, alpha, _NEED[k], xp=_xp, epsilon=eps)[k]
    else:
        out = loss._compute(y, z, _NEED[k], _xp)[k]
    return out  # type: ignore[no-any-return]


def _elementwise(loss: Loss, y: torch.Tensor, z: torch.Tensor, k: int) -> torch.Tensor:
    """Output ``k`` of an element-wise loss in ``z``'s dtype (computed in at least float32).

    Eager CPU tensors take the loss's fused multi-threaded kernel where it applies
    (:func:`losslab._kernels.try_fused`: numba installed, kernels on, at least
    ``kernel_min_size`` elements); traced code (``torch.compile``) and other devices run
    :func:`_formula`.
    """
    return _elementwise_owned(loss, y, z, k)[0]


def _elementwise_owned(
    loss: Loss, y: torch.Tensor, z: torch.Tensor, k: int
) -> tuple[torch.Tensor, bool]:
    """:func:`_elementwise`, and whether the result is a fresh tensor that nothing else
    references (the kernel's output), which the caller may scale in place."""
    out_dtype = z.dtype
    if out_dtype not in (torch.float32, torch.float64):
        z = z.to(torch.float32)
    if y.dtype != z.dtype:
        y = y.to(z.dtype)
    if (
        loss.kernel is not None
        and z.device.type == "cpu"
        and y.device.type == "cpu"
        and not torch.compiler.is_compiling()
    ):
        # Zero-copy NumPy views (what try_fused makes of CPU tensors after checks that hold
        # here: a Function's forward or a backward without grad mode). try_fused reads the
        # configuration (use_kernels, kernel_min_size) itself and returns fresh arrays.
        need = _NEED[k]
        yn, zn = y.detach().numpy(), z.detach().numpy()
        fused = _kernels.try_fused(loss.kernel, loss._kernel_args(), yn, zn, None, need)
        if fused is not None:
            out = torch.from_numpy(fused[k])
            return (out, True) if out.dtype == out_dtype else (out.to(out_dtype), True)
    result = _formula(loss, y, z, k)
    return (result, False) if result.dtype == out_dtype else (result.to(out_dtype), True)


class _Hessian(torch.autograd.Function):
    """z -> d2L/dz2 for element-wise losses (third derivatives are not provided)."""

    @staticmethod
    def forward(ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return _elementwise(loss, y, z, 2)

    @staticmethod
    def backward(ctx: Any, h_out: torch.Tensor) -> tuple[None, None, None]:
        raise RuntimeError("losslab.torch provides first and second derivatives, not third ones")


class _Gradient(torch.autograd.Function):
    """z -> dL/dz, whose own backward applies the Hessian (so double backward is exact)."""

    @staticmethod
    def forward(ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        ctx.loss = loss
        ctx.save_for_backward(y, z)
        return _elementwise(loss, y, z, 1)

    @staticmethod
    def backward(ctx: Any, g_out: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        y, z = ctx.saved_tensors
        hess: torch.Tensor = _Hessian.apply(ctx.loss, y, z)  # type: ignore[no-untyped-call]
        return None, None, g_out * hess


def _value_and_gradient(
    loss: Loss, y: torch.Tensor, z: torch.Tensor, keep: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The values of an element-wise loss and, where the fused kernel applies (eager CPU
    float32/float64 tensors of at least ``kernel_min_size`` elements), its gradient from the
    same pass (None elsewhere: the backward computes it); both times ``keep`` (0/1 weights of
    z's shape and dtype, contiguous like z) where given."""
    if (
        loss.kernel is not None
        and z.is_cpu
        and y.is_cpu
        and z.dtype in (torch.float32, torch.float64)
        and not torch.compiler.is_compiling()
    ):
        if y.dtype != z.dtype:
            y = y.to(z.dtype)
        yn = (y.detach() if y.requires_grad else y).numpy()
        zn = z.detach().numpy()
        wn = None if keep is None else keep.numpy()
        if (
            y.is_contiguous()
            and z.is_contiguous()
            and y.shape == z.shape
            and (keep is None or keep.is_contiguous())
        ):
            fused = _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), yn, zn, _VG, wn)
        else:
            fused = _kernels.try_fused(loss.kernel, loss._kernel_args(), yn, zn, wn, _VG)
        if fused is not None:
            return torch.from_numpy(fused[0]), torch.from_numpy(fused[1])
    values = _elementwise(loss, y, z, 0)
    return (values if keep is None else values * keep), None


_VG = (True, True, False)


def _save(
    ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """Forward of :class:`_Value`, :class:`_ValueSum` and :class:`_KeptSum`: the values (times
    the 0/1 weights ``keep`` where given), saving y, z, ``keep`` and, when z needs a gradient
    and the kernel ran, the gradient from the same kernel pass."""
    ctx.loss = loss
    if ctx.needs_input_grad[2]:
        value, grad = _value_and_gradient(loss, y, z, keep)
    else:
        value = _elementwise(loss, y, z, 0)
        value, grad = (value if keep is None else value * keep), None
    ctx.save_for_backward(y, z, grad, keep)
    return value


def _saved_gradient(ctx: Any, scale: torch.Tensor) -> Any:
    """``scale * keep * dL/dz`` for the backward of :class:`_Value`, :class:`_ValueSum` and
    :class:`_KeptSum` (``keep`` 1 for the first two).

    With grad mode on (``create_graph=True``), a gradient whose own backward applies the
    Hessian. Otherwise the gradient the forward saved, scaled (out of place: a retained graph
    may be differentiated again; in place measured no faster), or computed now, scaled in
    place when it is the kernel's fresh output."""
    y, z, grad, keep = ctx.saved_tensors
    loss = ctx.loss
    if torch.is_grad_enabled() and not torch.compiler.is_compiling():
        g: torch.Tensor = _Gradient.apply(loss, y, z)  # type: ignore[no-untyped-call]
        return (scale if keep is None else scale * keep) * g
    if grad is not None:
        return scale * grad
    # A plain backward (and traced code: torch.compile has no double backward).
    if keep is not None:
        return scale * (_elementwise(loss, y, z, 1) * keep)
    grad, owned = _elementwise_owned(loss, y, z, 1)
    if owned and scale.dtype == grad.dtype:
        return grad.mul_(scale)
    return scale * grad


class _Value(torch.autograd.Function):
    """z -> L(y, z) element-wise, saving y and z (and the kernel's gradient, see :func:`_save`)
    for the backward."""

    @staticmethod
    def forward(ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return _save(ctx, loss, y, z)

    @staticmethod
    def backward(ctx: Any, v_out: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, _saved_gradient(ctx, v_out)


class _ValueSum(torch.autograd.Function):
    """z -> sum of L(y, z), or its mean (``divisor`` n), for unweighted "sum" and "mean" in
    eager mode: the values, their sum and the division in one autograd node, so the backward
    receives the 0-d scale and multiplies the gradient by it in place. The same operations as
    :class:`_Value` followed by :func:`losslab.losses._reduce.reduce` (the sum in the values'
    dtype, float32 or float64, divided by ``float(n)``), so the results are identical."""

    @staticmethod
    def forward(
        ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor, divisor: float | None
    ) -> torch.Tensor:
        ctx.divisor = divisor
        total = torch.sum(_save(ctx, loss, y, z))
        return total if divisor is None else total.div_(divisor)

    @staticmethod
    def backward(ctx: Any, out: torch.Tensor) -> tuple[None, None, torch.Tensor, None]:
        scale = out if ctx.divisor is None else out / ctx.divisor
        return None, None, _saved_gradient(ctx, scale), None


class _KeptSum(torch.autograd.Function):
    """z -> ``sum(keep * L(y, z)) / divisor`` (``divisor`` a 0-d tensor, or None for the sum)
    for an element-wise loss with ``ignore_index`` or ``"positives"`` in eager mode: the
    operations of :class:`_Value`, the multiplication by the 0/1 weights ``keep`` and
    :func:`losslab.losses._reduce.reduce` in one autograd node, with ``keep`` applied in the
    kernel's pass where it runs. Since ``keep`` is 0 or 1, its products are exact and the
    results are those of the general path (``tests/test_torch_eager.py``)."""

    @staticmethod
    def forward(
        ctx: Any,
        loss: Loss,
        y: torch.Tensor,
        z: torch.Tensor,
        keep: torch.Tensor,
        divisor: torch.Tensor | None,
    ) -> torch.Tensor:
        ctx.divisor = divisor
        total = torch.sum(_save(ctx, loss, y, z, keep))
        return total if divisor is None else total / divisor

    @staticmethod
    def backward(ctx: Any, out: torch.Tensor) -> tuple[None, None, torch.Tensor, None, None]:
        scale = out if ctx.divisor is None else out / ctx.divisor
        return None, None, _saved_gradient(ctx, scale), None, None


# ---------------------------------------------------------------------------------------------
# Softmax losses: log_softmax-based value and gradient.


def _class_index(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Integer class indices, and for float indices ``0 * y`` (NaN where the index is NaN, to
    add to the row's outputs: a NaN index matches no class and makes its row NaN)."""
    if not y.dtype.is_floating_point:
        return y.long(), None
    nan = torch.isnan(y)
    return torch.where(nan, 0.0, y).long(), 0.0 * y


_ALPHA_CACHE: dict[tuple[Any, ...], torch.Tensor] = {}


def _class_weights(loss: Loss, z: torch.Tensor) -> torch.Tensor | None:
    """softmax_focal's ``alpha`` as a (K,) tensor on z's device (None: all 1).

    Eager calls reuse one tensor per (alpha, dtype, device), so a training step on an
    accelerator copies nothing from the host; traced code makes it a graph constant.
    """
    alpha = getattr(loss, "alpha", None)
    if alpha is None:
        return None
    k = z.shape[1]
    if len(alpha) != k:
        raise ValueError(f"alpha has {len(alpha)} class weights but raw_prediction has {k} classes")
    if torch.compiler.is_compiling():
        return torch.tensor(alpha, dtype=z.dtype, device=z.device)
    key = (tuple(alpha), z.dtype, z.device)
    weights = _ALPHA_CACHE.get(key)
    if weights is None:
        if len(_ALPHA_CACHE) > 64:
            _ALPHA_CACHE.clear()
        weights = _ALPHA_CACHE[key] = torch.tensor(alpha, dtype=z.dtype, device=z.device)
    return weights


def _term_and_slope(
    loss: Loss, lp: torch.Tensor, at: torch.Tensor | None, value: bool, slope: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The per-class loss ``f(log p)`` of a softmax loss and its slope ``D = df/d(log p)``
    (each where asked, else None), sharing the work between them.

    The gradient in the logits of ``f(log p_c)`` is ``D (onehot_c - p)``. With
    ``l = -log p``, ``q = 1 - p = -expm1(log p)`` (accurate for ``p`` near 1):

    * cross-entropy: ``f = l``, ``D = -1``;
    * focal: ``f = at q^gamma l``, ``D = -at q^gamma (gamma p (l / q) + 1)``; where ``q``
      rounds to 0 the limits ``f = 0`` and ``D = -at`` (gamma = 0) or 0, the other branch fed
      ``q = 1`` ("double where"), so autodiff of ``D`` (double backward) stays finite;
    * poly-1: ``f = l + eps q``, ``D = -(1 + eps p)``.
    """
    name = loss.name
    f = d = None
    if name == "softmax_poly1":
        eps = float(loss.epsilon)  # type: ignore[attr-defined]
        f = eps * -torch.expm1(lp) - lp if value else None
        d = -(1.0 + eps * torch.exp(lp)) if slope else None
    else:
        gamma = float(getattr(loss, "gamma", 0.0))
        if gamma == 0:
            f = -lp if value else None
            d = -torch.ones_like(lp) if slope else None
        else:
            q = -torch.expm1(lp)
            zero = q == 0  # not "q <= 0": a NaN log p (NaN logits) stays NaN, as in the core
            q_safe = torch.where(zero, 1.0, q)
            qg = torch.pow(q_safe, gamma)
            if value:
                f = torch.where(zero, 0.0, qg * -lp)
            if slope:
                main = -qg * (gamma * torch.exp(lp) * (-lp / q_safe) + 1.0)
                d = torch.where(zero, 0.0, main)
    if at is not None:
        f = None if f is None else at * f
        d = None if d is None else at * d
    return f, d


_NATIVE_SOFTMAX = frozenset({"softmax_cross_entropy", "softmax_focal", "softmax_poly1"})

_NO_IGNORE = torch.iinfo(torch.int64).min
"""``ignore_index`` for ``F.cross_entropy``, whose default (-100) would silently ignore a
class index that losslab reports as out of range."""


def _is_cross_entropy(loss: Loss) -> bool:
    """Plain softmax cross-entropy: ``softmax_cross_entropy``, and ``softmax_focal`` with
    ``gamma = 0`` and no ``alpha`` or ``softmax_poly1`` with ``epsilon = 0``, whose value and
    slope are exactly cross-entropy's (:func:`_term_and_slope`)."""
    name = loss.name
    if name == "softmax_cross_entropy":
        return True
    if name == "softmax_focal":
        return float(loss.gamma) == 0.0 and loss.alpha is None  # type: ignore[attr-defined]
    if name == "softmax_poly1":
        return float(loss.epsilon) == 0.0  # type: ignore[attr-defined]
    return False


def _softmax_rows(loss: Loss, y: torch.Tensor, lp: torch.Tensor) -> torch.Tensor:
    """Per-row loss ``sum_c w_c f(log p_c)`` from ``lp = log_softmax(z)``, ``w`` the one-hot
    class index or the target probabilities."""
    alpha = _class_weights(loss, lp)
    if y.ndim == 1:
        idx, nan0 = _class_index(y)
        lp_c = lp.gather(1, idx[:, None])
        at = None if alpha is None else alpha[idx][:, None]
        f, _ = _term_and_slope(loss, lp_c, at, True, False)
        assert f is not None
        return f[:, 0] if nan0 is None else f[:, 0] + nan0
    at = None if alpha is None else alpha[None, :]
    f, _ = _term_and_slope(loss, lp, at, True, False)
    assert f is not None
    return torch.sum(y * f, dim=1)


def _scatter_slopes(
    y: torch.Tensor, lp: torch.Tensor, d: torch.Tensor, v_out: torch.Tensor
) -> torch.Tensor:
    """``d/d(log p)`` of ``v_out . rows`` for class indices: the (N, 1) slopes ``d`` of the
    target classes times ``v_out`` ((N,), or 0-d for a sum), zero elsewhere (NaN in the rows of
    NaN indices)."""
    idx, nan0 = _class_index(y)
    scale = v_out.to(lp.dtype)
    scaled = d * (scale[:, None] if scale.ndim else scale)
    # In place on fresh zeros: an out-of-place scatter allocates (and faults in) a second
    # (N, K) buffer, ten times the cost at 10^6 elements.
    out = torch.zeros_like(lp).scatter_(1, idx[:, None], scaled)
    return out if nan0 is None else out + nan0[:, None]


def _softmax_row_slopes(
    loss: Loss, y: torch.Tensor, lp: torch.Tensor, v_out: torch.Tensor
) -> torch.Tensor:
    """``d/d(log p)`` of ``v_out . rows``: ``v_out w D`` (N, K), zero off the target class
    for class indices. ``log_softmax``'s own backward turns it into ``D (onehot - p)``."""
    alpha = _class_weights(loss, lp)
    if y.ndim == 1:
        idx, _ = _class_index(y)
        lp_c = lp.gather(1, idx[:, None])
        at = None if alpha is None else alpha[idx][:, None]
        _, d = _term_and_slope(loss, lp_c, at, False, True)
        assert d is not None
        return _scatter_slopes(y, lp, _flush_tiny(d), v_out)
    at = None if alpha is None else alpha[None, :]
    _, d = _term_and_slope(loss, lp, at, False, True)
    assert d is not None
    return y * _flush_tiny(d) * v_out.to(lp.dtype)[:, None]


def _flush_tiny(d: torch.Tensor) -> torch.Tensor:
    """Slopes below ``eps^2`` of the dtype (1.4e-14 in float32, 4.9e-32 in float64) as 0.

    Focal's slope of a confidently right row is ``q^gamma`` with ``q = 1 - p_c`` accurate down
    to 1e-38, so it can be tiny or subnormal; ``log_softmax``'s backward multiplies it into the
    whole row by probabilities that may be small too, and subnormal arithmetic is tens of times
    slower on CPUs (a focal step at 10^6 logits took 3 times cross-entropy's). Such a row's
    gradient is below ``eps^2`` of a row that is not confidently right: below the resolution
    of any sum it enters, and below Adam's ``eps`` however it is scaled.
    """
    tiny = torch.finfo(d.dtype).eps ** 2
    return torch.where(d.abs() < tiny, 0.0, d)


class _SoftmaxRows(torch.autograd.Function):
    """``log p`` (N, K) -> per-row softmax loss (N,), with the analytic slope as backward.

    Fed by ``torch.log_softmax(z)``, whose backward completes the gradient in the logits
    (``D (onehot - p)``) and which saves ``log p`` itself, as ``F.cross_entropy`` does: this
    function saves the same tensor and the target, nothing more. The backward is written in
    differentiable torch operations, so double backward (Hessian-vector products) is autograd
    of the analytic slope and of ``log_softmax``. Probability targets, and class indices in
    traced code; eager class indices take :class:`_RowsOfCrossEntropy`.
    """

    @staticmethod
    def forward(ctx: Any, loss: Loss, y: torch.Tensor, lp: torch.Tensor) -> torch.Tensor:
        ctx.loss = loss
        ctx.save_for_backward(y, lp)
        return _softmax_rows(loss, y, lp)

    @staticmethod
    def backward(ctx: Any, v_out: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        y, lp = ctx.saved_tensors
        return None, None, _softmax_row_slopes(ctx.loss, y, lp, v_out)


class _RowsOfCrossEntropy(torch.autograd.Function):
    """The rows' cross-entropy ``ce = -log p_c`` (N,) -> per-row softmax loss ``f(log p_c)``
    (N,), or its sum, or its mean (``divisor`` N), for class indices in eager mode.

    Fed by ``F.cross_entropy(z, c, reduction="none")``, whose own backward (``nll_loss``'s
    scatter and ``log_softmax``'s backward, in C++) turns ``dL/dce = -D`` into the gradient in
    the logits, ``D (onehot - p)``: the operations of :class:`_SoftmaxRows` without its gather
    and scatter in Python, so the same results. The forward computes the values and the
    slopes ``D`` (flushed as :func:`_flush_tiny` says) from one pass over the N rows and saves
    ``ce`` and ``D`` (two N-vectors beside ``F.cross_entropy``'s ``log p``); under
    ``create_graph=True`` the backward recomputes ``D`` in differentiable operations, so double
    backward is autograd of the analytic slope and of ``F.cross_entropy``.
    ``at`` holds ``alpha`` of each row's class (or is None), ``nan0`` is 0, or NaN in the rows
    of NaN class indices (:func:`_class_index`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        loss: Loss,
        ce: torch.Tensor,
        at: torch.Tensor | None,
        nan0: torch.Tensor | None,
        reduction: str,
    ) -> torch.Tensor:
        f, d = _term_and_slope(loss, -ce, at, True, True)
        assert f is not None
        assert d is not None
        values = f if nan0 is None else f + nan0
        ctx.loss = loss
        ctx.reduction = reduction
        ctx.save_for_backward(ce, _flush_tiny(d), at, nan0)
        if reduction == "none":
            return values
        total = torch.sum(values)
        return total if reduction == "sum" else total / float(values.shape[0])

    @staticmethod
    def backward(ctx: Any, out: torch.Tensor) -> tuple[None, torch.Tensor, None, None, None]:
        ce, d, at, nan0 = ctx.saved_tensors
        scale = out / float(ce.shape[0]) if ctx.reduction == "mean" else out
        if torch.is_grad_enabled():  # create_graph=True: differentiable slopes
            _, d = _term_and_slope(ctx.loss, -ce, at, False, True)
            assert d is not None
            d = _flush_tiny(d)
        grad = -d * scale
        return None, (grad if nan0 is None else grad + nan0), None, None, None


def _rows_of_cross_entropy(
    loss: Loss, y: torch.Tensor, z: torch.Tensor, reduction: str
) -> torch.Tensor:
    """Eager softmax focal / poly-1 with class indices ``y`` (N,) and logits ``z`` (N, K):
    :class:`_RowsOfCrossEntropy` on ``F.cross_entropy``; ``reduction`` "none", "sum" or
    "mean" (unweighted)."""
    idx, nan0 = _class_index(y)
    ce = F.cross_entropy(z, idx, reduction="none", ignore_index=_NO_IGNORE)
    alpha = _class_weights(loss, z)
    at = None if alpha is None else alpha[idx]
    return _RowsOfCrossEntropy.apply(loss, ce, at, nan0, reduction)  # type: ignore[no-any-return,no-untyped-call]


def _softmax_values(loss: Loss, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-row values of a softmax loss, differentiable in ``z`` (computed in at least
    float32, returned in ``z``'s dtype).

    Plain cross-entropy (:func:`_is_cross_entropy`) with integer class indices or probability
    targets is ``F.cross_entropy(reduction="none")`` itself (one ATen call, the same operations:
    ``log_softmax`` and the target's ``-log p``); the other softmax losses run
    :class:`_RowsOfCrossEntropy` on it (class indices, eager) or :class:`_SoftmaxRows` on
    ``log_softmax(z)``.
    """
    z32 = z if z.dtype in (torch.float32, torch.float64) else z.to(torch.float32)
    y32 = y.to(z32.dtype) if (y.dtype.is_floating_point and y.dtype != z32.dtype) else y
    values: torch.Tensor
    if y32.ndim == 2 and _is_cross_entropy(loss):
        values = F.cross_entropy(z32, y32, reduction="none")
    elif not y32.dtype.is_floating_point and _is_cross_entropy(loss):
        values = F.cross_entropy(z32, y32.long(), reduction="none", ignore_index=_NO_IGNORE)
    elif loss.name in _NATIVE_SOFTMAX and y32.ndim == 1 and not torch.compiler.is_compiling():
        fast = rows_kernel(loss, y32, z32, "none")
        values = fast if fast is not None else _rows_of_cross_entropy(loss, y32, z32, "none")
    elif loss.name in _NATIVE_SOFTMAX:
        lp = torch.log_softmax(z32, dim=1)
        values = _SoftmaxRows.apply(loss, y32, lp)  # type: ignore[no-untyped-call]
    else:  # a softmax loss without a torch form: autograd of the core's generic formulas
        values = loss.loss(y32, z32, validate=False)
    return values if values.dtype == z.dtype else values.to(z.dtype)


# ---------------------------------------------------------------------------------------------
# Checks: structure always (metadata only), values without a host synchronisation per call.


def _check_structure(
    loss: Loss,
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    mask: torch.Tensor | None,
) -> None:
    """Types, dtypes and shapes (no data is read, so nothing synchronises or breaks a graph).

    Raises
    ------
    TypeError
        Not tensors, non-floating ``input``, non-numeric ``target``.
    ValueError
        A differentiable ``target``; shapes that differ (element-wise losses never broadcast);
        softmax ``input`` not (N, K) with K >= 2, ``target`` neither (N,) nor (N, K), ``alpha``
        or ``background_class`` that do not fit K; ``weight`` or ``mask`` of the wrong shape.
    """
    if not isinstance(input, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError("input and target must be torch tensors")
    if not input.dtype.is_floating_point:
        raise TypeError(
            f"input (raw_prediction) must be a real floating tensor, got dtype {input.dtype}"
        )
    if target.dtype.is_complex:
        raise TypeError(f"target must be a real tensor, got dtype {target.dtype}")
    if target.requires_grad:
        raise ValueError("losslab.torch losses do not differentiate with respect to the target")
    if input.numel() == 0:
        raise ValueError(f"input is empty (shape {tuple(input.shape)}); nothing to evaluate")
    if loss.is_multiclass:
        if input.ndim != 2 or input.shape[1] < 2:
            raise ValueError(
                f"{loss.name} needs input of shape (N, K) with K >= 2 classes, "
                f"got {tuple(input.shape)}"
            )
        n, k = input.shape
        if target.shape not in ((n,), (n, k)):
            raise ValueError(
                f"target must be class indices of shape ({n},) or class probabilities of shape "
                f"{(n, k)} for input {tuple(input.shape)}, got {tuple(target.shape)}"
            )
        if target.ndim == 2 and not target.dtype.is_floating_point:
            raise TypeError(f"target probabilities must be floating, got dtype {target.dtype}")
        alpha = getattr(loss, "alpha", None)
        if alpha is not None and len(alpha) != k:
            raise ValueError(f"alpha has {len(alpha)} class weights but input has {k} classes")
        b = getattr(loss, "background_class", None)
        if b is not None and b >= k:
            raise ValueError(f"background_class={b} is not a class of input with {k} classes")
        rows: tuple[int, ...] = (n,)
    else:
        if target.shape != input.shape:
            raise ValueError(
                f"input and target must have the same shape, got {tuple(input.shape)} and "
                f"{tuple(target.shape)} (losslab never broadcasts)"
            )
        rows = tuple(input.shape)
    if weight is not None and tuple(weight.shape) != rows:
        raise ValueError(f"weight must have shape {rows}, got {tuple(weight.shape)}")
    if mask is not None and tuple(mask.shape) != rows:
        raise ValueError(f"mask must have shape {rows}, got {tuple(mask.shape)}")


def _check_values(
    loss: Loss, input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None
) -> None:
    """The core's value checks (label domain, class indices, weights): they read the data, so
    on an accelerator they wait for it (one host synchronisation)."""
    loss._prepare(
        target.detach(), input.detach(), None if weight is None else weight.detach(), True
    )


# ---------------------------------------------------------------------------------------------
# The public function and modules.

Validate = bool | Literal["once"]
"""``True``: check values on every call; ``"once"``: on the first call (per module);
``False``: never."""


def loss_function(
    loss: Loss,
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    ignore_index: float | None = None,
    reduction: str = "mean",
    validate: bool = True,
) -> torch.Tensor:
    """Evaluate ``loss`` on torch tensors with losslab's analytic derivatives.

    Parameters
    ----------
    loss : losslab.Loss
        Any registered loss object.
    input : Tensor
        Raw predictions (logits), real floating; (N, K) for the softmax losses, or
        (N, K, d1, ..., dk) as ``F.cross_entropy`` takes them (segmentation, dense detection
        heads); any shape for the element-wise losses.
    target : Tensor
        Labels (binary losses: in [0, 1]), class indices (N,) / (N, d1, ..., dk) or
        probabilities of the logits' shape (softmax), or regression targets; same shape as
        ``input`` for element-wise losses. Weights and masks of a softmax loss have the
        target's per-position shape; ``reduction="none"`` returns that shape.
    weight : Tensor, optional
        Non-negative per-element (per-row for softmax) weights.
    mask : Tensor of bool, optional
        False marks elements (rows) to ignore, e.g. anchors between IoU thresholds.
    ignore_index : number, optional
        Targets equal to it are ignored, like ``CrossEntropyLoss(ignore_index=...)``
        (e.g. -1 for "ignore" anchors in dense detection).
    reduction : {"mean", "sum", "none", "positives"}
        "mean" is ``sum(w L) / sum(w)`` over the kept elements; "positives" (focal losses)
        divides the sum by ``max(number of positives, 1)`` among the kept elements of non-zero
        weight, as RetinaNet normalises by the number of foreground anchors. "none" returns
        ``w * L`` with 0 at ignored elements. The reduction is the core's (one implementation,
        :mod:`losslab.losses._reduce`): when every element is ignored or the weights sum to
        0, "mean" returns 0 with a zero gradient (no NaN), and sums accumulate in at least
        float32.
    validate : bool, default True
        Also check the values (label domain, class indices, weights) with the core's checks.
        They read the data: on an accelerator that is a host synchronisation, so a training
        loop passes False (the modules check their first call only, ``validate="once"``).
        Skipped while ``torch.compile`` traces. Types, dtypes and shapes are always checked.

    Returns
    -------
    Tensor
        0-d (or element-wise for "none") in ``input``'s dtype.

    Raises
    ------
    ValueError, TypeError
        See :func:`_check_structure`; with ``validate``, the core's value errors (labels
        outside [0, 1], class indices outside [0, K), negative or non-finite weights); an
        unknown reduction.
    """
    check_reduction(reduction, loss)
    spatial = None
    if loss.is_multiclass and isinstance(input, torch.Tensor) and input.ndim > 2:
        input, target, weight, mask, spatial = _rows_of(input, target, weight, mask)
    _check_structure(loss, input, target, weight, mask)
    keep = None if mask is None else mask.to(torch.bool)
    if ignore_index is not None:
        not_ignored = target != ignore_index
        if loss.is_multiclass and target.ndim == 2:
            not_ignored = not_ignored.all(dim=1)
        keep = not_ignored if keep is None else keep & not_ignored
    if keep is not None:
        # Ignored targets are replaced by a valid one and weighted 0.
        k_t = keep[:, None] if (loss.is_multiclass and target.ndim == 2) else keep
        target = torch.where(k_t, target, torch.zeros((), dtype=target.dtype, device=target.device))
        w_keep = keep.to(input.dtype)
        weight = w_keep if weight is None else weight * w_keep
    if validate and not torch.compiler.is_compiling():
        _check_values(loss, input, target, weight)
    y = target.detach()
    if (
        weight is None
        and reduction in ("sum", "mean")
        and input.dtype in (torch.float32, torch.float64)
    ):
        plain = _plain_reduced(loss, y, input, reduction)
        if plain is not None:
            return plain
    values: torch.Tensor = (
        _softmax_values(loss, y, input) if loss.is_multiclass else _Value.apply(loss, y, input)  # type: ignore[no-untyped-call]
    )
    if weight is not None:
        weight = weight.to(values.dtype)
        values = values * weight
    if (
        weight is None
        and reduction in ("sum", "mean")
        and values.dtype in (torch.float32, torch.float64)
    ):
        # reduce()'s operations without the array-API layer: the sum, over float(n) for "mean"
        total = torch.sum(values)
        return total if reduction == "sum" else total / float(values.numel())
    positives = loss._positives(y, input.detach(), _xp) if reduction == "positives" else None
    out: torch.Tensor = reduce(values, reduction, xp=_xp, weight=weight, positives=positives)
    return out if spatial is None or reduction != "none" else out.reshape(spatial)


def _plain_reduced(
    loss: Loss, y: torch.Tensor, input: torch.Tensor, reduction: str
) -> torch.Tensor | None:
    """Unweighted "sum" or "mean" of float32/float64 logits in one step, or None.

    Plain softmax cross-entropy (:func:`_is_cross_entropy`) with integer class indices or
    probability targets is ``F.cross_entropy`` with that reduction (one ATen call; its sum may
    round differently from ``reduce``'s in the last place); softmax focal and poly-1 with
    class indices run the softmax kernel (:func:`losslab._torch_softmax.rows_kernel`: eager
    CPU float32/float64 logits, integer indices) or else :class:`_RowsOfCrossEntropy`, also
    under ``torch.compile`` (at 10^7 logits it compiled to 1.1 times ``F.cross_entropy``
    where :class:`_SoftmaxRows`' scatter into zeros took 1.5 to 1.6 times); in eager mode,
    element-wise losses run :class:`_ValueSum` (values, sum and division in one autograd node).
    """
    if loss.is_multiclass:
        if not _is_cross_entropy(loss):
            if loss.name not in _NATIVE_SOFTMAX or y.ndim != 1:
                return None
            fast = rows_kernel(loss, y, input, reduction)
            if fast is not None:
                return fast
            if y.dtype.is_floating_point and y.dtype != input.dtype:
                y = y.to(input.dtype)  # float indices: their NaN rows in the logits' dtype
            return _rows_of_cross_entropy(loss, y, input, reduction)
        if y.ndim == 2:
            return F.cross_entropy(input, y.to(input.dtype), reduction=reduction)
        if y.dtype.is_floating_point:
            return None  # float indices: NaN marks a row (_class_index)
        return F.cross_entropy(input, y.long(), reduction=reduction, ignore_index=_NO_IGNORE)
    if torch.compiler.is_compiling():
        return None
    divisor = None if reduction == "sum" else float(input.numel())
    return _ValueSum.apply(loss, y, input, divisor)  # type: ignore[no-any-return,no-untyped-call]


def _plain_elementwise(
    loss: Loss, input: Any, target: Any, reduction: str, ignore_index: float | None = None
) -> torch.Tensor | None:
    """:func:`loss_function` without weight, mask or value checks, for the case a training
    step of an element-wise loss is: eager, "sum", "mean" or "positives", plain
    float32/float64 tensors of one shape and dtype, a target without gradient. Without
    ``ignore_index``, "sum" and "mean" are the :class:`_ValueSum` call that
    :func:`loss_function` makes; with it, or for "positives", one :class:`_KeptSum` node does
    what :func:`loss_function` does in several (the kept targets, their 0/1 weights, the
    values, and :func:`losslab.losses._reduce.reduce`'s operations), with the same results.
    The checks are :func:`_check_structure`'s for this case; None for everything else (the
    full path then runs, and raises where the input is wrong)."""
    if not (
        type(input) is torch.Tensor
        and type(target) is torch.Tensor
        and not loss.is_multiclass
        and input.dtype == target.dtype
        and (input.dtype == torch.float32 or input.dtype == torch.float64)
        and not target.requires_grad
        and input.shape == target.shape
        and input.numel() > 0
        and not torch.compiler.is_compiling()
    ):
        return None
    if ignore_index is None and (reduction == "mean" or reduction == "sum"):
        divisor = None if reduction == "sum" else float(input.numel())
        return _ValueSum.apply(loss, target, input, divisor)  # type: ignore[no-any-return,no-untyped-call]
    if reduction not in ("mean", "sum", "positives"):
        return None
    if ignore_index is None:
        y, keep = target, torch.ones_like(input)
    else:
        kept = target != ignore_index
        y = torch.where(kept, target, torch.zeros((), dtype=target.dtype, device=target.device))
        keep = kept.to(input.dtype)
    one = torch.ones((), dtype=input.dtype, device=input.device)
    by: torch.Tensor | None = None
    if reduction == "mean":  # reduce(): the weights' sum, 1 where it is 0
        denom = torch.sum(keep)
        by = torch.where(denom > 0, denom, one)
    elif reduction == "positives":  # reduce(): the kept positives, at least 1
        pos = loss._positives(y, input.detach(), _xp)
        if ignore_index is not None:  # reduce()'s where(keep > 0, pos, 0): pos is 0 there
            pos = pos * keep
        by = torch.maximum(torch.sum(pos), one)
    return _KeptSum.apply(loss, y, input, keep, by)  # type: ignore[no-any-return,no-untyped-call]


def _rows_of(
    input: torch.Tensor,
    target: Any,
    weight: Any,
    mask: Any,
) -> tuple[torch.Tensor, Any, Any, Any, tuple[int, ...]]:
    """``(N, C, d1, ..., dk)`` logits, as ``torch.nn.functional.cross_entropy`` takes them, as
    ``(N d1 ... dk, C)`` rows: class-index targets (and weights, masks) of shape
    ``(N, d1, ..., dk)`` flattened alike, probability targets of the logits' shape moved the
    same way. Returns the rows, target, weight, mask and the per-position shape.

    Raises
    ------
    ValueError
        A target, weight or mask of another shape (the message names both shapes).
    """
    c = int(input.shape[1])
    positions = (int(input.shape[0]), *(int(d) for d in input.shape[2:]))
    rows = input.movedim(1, -1).reshape(-1, c)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch tensor, got {type(target).__name__}")
    if tuple(target.shape) == tuple(input.shape):
        target = target.movedim(1, -1).reshape(-1, c)
    elif tuple(target.shape) == positions:
        target = target.reshape(-1)
    else:
        raise ValueError(
            f"target must have shape {positions} (class indices) or {tuple(input.shape)} "
            f"(probabilities) for input of shape {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    flat = []
    for name, extra in (("weight", weight), ("mask", mask)):
        if extra is not None:
            if not isinstance(extra, torch.Tensor) or tuple(extra.shape) != positions:
                got = tuple(extra.shape) if isinstance(extra, torch.Tensor) else type(extra)
                raise ValueError(f"{name} must have shape {positions}, got {got}")
            extra = extra.reshape(-1)
        flat.append(extra)
    return rows, target, flat[0], flat[1], positions


class LosslabLoss(torch.nn.Module):
    """A ``torch.nn.Module`` around any losslab loss.

    ``LosslabLoss("focal", gamma=2.0, alpha=0.25, reduction="positives")`` or a loss object;
    the per-loss subclasses (``losslab.torch.FocalLoss`` ...) fix the name. ``forward(input,
    target, weight=None, mask=None)`` as :func:`loss_function`. Hyperparameters are plain
    attributes (not tensors), so ``state_dict()`` is empty and pickling keeps them.

    ``validate``: ``"once"`` (default) runs the value checks (label domain, class indices,
    weights) on the first call and, once a call has passed them, never again (``checked``
    becomes True), so a training step pays no host synchronisation; ``True`` checks every
    call, ``False`` never. Calls traced by ``torch.compile`` never check values. Types, dtypes
    and shapes are checked on every call.
    """

    def __init__(
        self,
        loss: Loss | str,
        *,
        reduction: str = "mean",
        ignore_index: float | None = None,
        validate: Validate = "once",
        **params: Any,
    ) -> None:
        super().__init__()
        if isinstance(loss, str):
            loss = get_loss(loss, **params)
        elif params:
            raise TypeError("pass hyperparameters either in the loss object or as keywords")
        check_reduction(reduction, loss)
        if validate not in (True, False, "once"):
            raise ValueError(f"validate must be True, False or 'once', got {validate!r}")
        self.loss = loss
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.validate = validate
        self.checked = False

    def forward(
        self,
        input: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The reduced loss of ``input`` (raw predictions) against ``target``."""
        check = self.validate is True or (self.validate == "once" and not self.checked)
        if not check and weight is None and mask is None:
            # A training step after the first call: the lean routes, which return None for
            # anything else (the full path then checks and raises where input is wrong).
            fast: torch.Tensor | None = None
            if not self.loss.is_multiclass:
                fast = _plain_elementwise(
                    self.loss, input, target, self.reduction, self.ignore_index
                )
            elif self.ignore_index is None:
                fast = rows_kernel(self.loss, target, input, self.reduction)
            if fast is not None:
                return fast
        out = loss_function(
            self.loss,
            input,
            target,
            weight=weight,
            mask=mask,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            validate=check,
        )
        if check and not torch.compiler.is_compiling():
            self.checked = True  # the values of a call passed the checks
        return out

    def extra_repr(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.loss.params.items())
        extra = f"reduction={self.reduction!r}"
        if self.ignore_index is not None:
            extra += f", ignore_index={self.ignore_index!r}"
        return f"{params}, {extra}" if params else extra


class RegisteredLoss(LosslabLoss):
    """A module bound to one registry name (``loss_name``): keyword hyperparameters as
    ``losslab.get_loss(loss_name, ...)``, ``reduction``, ``ignore_index`` and ``forward`` as
    :class:`LosslabLoss`. One subclass per registered loss, named as the core class."""

    loss_name: ClassVar[str]

    def __init__(
        self,
        *,
        reduction: str = "mean",
        ignore_index: float | None = None,
        validate: Validate = "once",
        **params: Any,
    ) -> None:
        super().__init__(
            self.loss_name,
            reduction=reduction,
            ignore_index=ignore_index,
            validate=validate,
            **params,
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        core = LOSSES.get(cls.loss_name)
        where = f" (:class:`losslab.{core.__name__}`)" if core is not None else ""
        cls.__doc__ = (
            f"``torch.nn.Module`` for losslab's ``{cls.loss_name}`` loss{where}.\n\n"
            f"Keyword hyperparameters as ``losslab.get_loss({cls.loss_name!r}, ...)``; "
            "``reduction``, ``ignore_index`` and ``forward(input, target, weight=None, "
            "mask=None)`` as :class:`LosslabLoss`.\n"
        )


# One module per registered loss, declared so that type checkers and IDEs see them
# (tests/test_torch.py checks that every registry name has one, named as its core class).
class AbsoluteError(RegisteredLoss):
    loss_name = "absolute_error"


class AsymmetricLoss(RegisteredLoss):
    loss_name = "asymmetric"


class ExponentialLoss(RegisteredLoss):
    loss_name = "exponential"


class FocalLoss(RegisteredLoss):
    loss_name = "focal"


class FocalStarLoss(RegisteredLoss):
    loss_name = "focal_star"


class HalfGammaLoss(RegisteredLoss):
    loss_name = "half_gamma"


class HalfPoissonLoss(RegisteredLoss):
    loss_name = "half_poisson"


class HalfSquaredError(RegisteredLoss):
    loss_name = "half_squared_error"


class HalfTweedieLoss(RegisteredLoss):
    loss_name = "half_tweedie"


class HuberLoss(RegisteredLoss):
    loss_name = "huber"


class LogCoshLoss(RegisteredLoss):
    loss_name = "log_cosh"


class LogLoss(RegisteredLoss):
    loss_name = "log_loss"


class PinballLoss(RegisteredLoss):
    loss_name = "pinball"


class Poly1Loss(RegisteredLoss):
    loss_name = "poly1"


class Poly1FocalLoss(RegisteredLoss):
    loss_name = "poly1_focal"


class PseudoHuberLoss(RegisteredLoss):
    loss_name = "pseudo_huber"


class QualityFocalLoss(RegisteredLoss):
    loss_name = "quality_focal"


class SoftmaxCrossEntropy(RegisteredLoss):
    loss_name = "softmax_cross_entropy"


class SoftmaxFocalLoss(RegisteredLoss):
    loss_name = "softmax_focal"


class SoftmaxPoly1Loss(RegisteredLoss):
    loss_name = "softmax_poly1"


class SquaredError(RegisteredLoss):
    loss_name = "squared_error"


class VarifocalLoss(RegisteredLoss):
    loss_name = "varifocal"


def prior_bias(pi: float = 0.01) -> float:
    """RetinaNet's prior initialisation of the final classification bias.

    ``b = -log((1 - pi) / pi)``, so that every anchor starts with foreground probability ``pi``
    (Lin et al. 2017, section 4.1); without it the loss of the many background anchors
    dominates, and destabilises, the first iterations.

    Raises
    ------
    ValueError
        ``pi`` outside (0, 1).
    """
    if not 0.0 < float(pi) < 1.0:
        raise ValueError(f"pi must lie in (0, 1), got {pi!r}")
    return -math.log((1.0 - pi) / pi)
