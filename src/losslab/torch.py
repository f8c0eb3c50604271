"""PyTorch training losses: one ``torch.nn.Module`` per registered loss, NaN-free at any logit.

``losslab.torch.FocalLoss(gamma=0.5)`` and its siblings are generated from the registry
(``losslab.LOSSES``), so every loss the core knows is a module here too. Forward and backward run
losslab's analytic value and gradient through a custom ``torch.autograd.Function`` that saves
only the two inputs (as ``binary_cross_entropy_with_logits`` does); the backward is itself
differentiable with the analytic Hessian, so ``torch.autograd.grad(..., create_graph=True)`` and
Hessian-vector products are exact. float16 and bfloat16 are computed in float32 and returned in
the input dtype.

Arguments follow PyTorch's order, ``module(input, target)``, unlike the core's
``loss(y_true, raw_prediction)``. Targets are never differentiated.

Also here: :func:`prior_bias`, the RetinaNet initialisation of the classification bias.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import array_api_compat
import torch

from losslab.losses import LOSSES, Loss, get_loss
from losslab.losses._reduce import check_reduction, reduce

__all__ = [
    "AbsoluteError",
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
    "PseudoHuberLoss",
    "RegisteredLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "SquaredError",
    "loss_function",
    "prior_bias",
]


class _Gradient(torch.autograd.Function):
    """z -> dL/dz, whose own backward applies the Hessian (so double backward is exact)."""

    @staticmethod
    def forward(ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        ctx.loss = loss
        ctx.save_for_backward(y, z)
        return loss.gradient(y, z, validate=False)  # type: ignore[no-any-return]

    @staticmethod
    def backward(ctx: Any, g_out: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        loss: Loss = ctx.loss
        y, z = ctx.saved_tensors
        if loss.is_multiclass:
            # The K x K Hessian of a row is not diagonal: a Hessian-vector product through
            # autograd of the generic (NaN-free) gradient formulas.
            with torch.enable_grad():
                zz = z.detach().requires_grad_(True)
                g = loss.gradient(y, zz, validate=False)
                (hvp,) = torch.autograd.grad(g, zz, g_out, create_graph=torch.is_grad_enabled())
            return None, None, hvp
        hess: torch.Tensor = _Hessian.apply(loss, y, z)  # type: ignore[no-untyped-call]
        return None, None, g_out * hess


class _Hessian(torch.autograd.Function):
    """z -> d2L/dz2 for element-wise losses (third derivatives are not provided)."""

    @staticmethod
    def forward(ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return loss.hessian(y, z, validate=False)  # type: ignore[no-any-return]

    @staticmethod
    def backward(ctx: Any, h_out: torch.Tensor) -> tuple[None, None, None]:
        raise RuntimeError("losslab.torch provides first and second derivatives, not third ones")


class _Value(torch.autograd.Function):
    """z -> L(y, z) element-wise, saving only y and z for the backward."""

    @staticmethod
    def forward(ctx: Any, loss: Loss, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        ctx.loss = loss
        ctx.save_for_backward(y, z)
        return loss.loss(y, z, validate=False)  # type: ignore[no-any-return]

    @staticmethod
    def backward(ctx: Any, v_out: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        loss: Loss = ctx.loss
        y, z = ctx.saved_tensors
        grad: torch.Tensor = _Gradient.apply(loss, y, z)  # type: ignore[no-untyped-call]
        scale = v_out[:, None] if loss.is_multiclass else v_out
        return None, None, scale * grad


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
        Raw predictions (logits), real floating; (N, K) for the softmax losses, any shape else.
    target : Tensor
        Labels (binary losses: in [0, 1]), class indices (N,) or probabilities (N, K)
        (softmax), or regression targets; same shape as ``input`` for element-wise losses.
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

    Returns
    -------
    Tensor
        0-d (or element-wise for "none") in ``input``'s dtype.

    Raises
    ------
    ValueError, TypeError
        As the core loss (shapes, dtypes, label domain, weights), an unknown reduction, or a
        target that requires grad.
    """
    check_reduction(reduction, loss)
    if not isinstance(input, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError("input and target must be torch tensors")
    if target.requires_grad:
        raise ValueError("losslab.torch losses do not differentiate with respect to the target")
    keep = None
    if mask is not None:
        keep = mask.to(torch.bool)
    if ignore_index is not None:
        not_ignored = target != ignore_index
        if loss.is_multiclass and target.ndim == 2:
            not_ignored = not_ignored.all(dim=1)
        keep = not_ignored if keep is None else keep & not_ignored
    if keep is not None:
        expected = input.shape[:1] if loss.is_multiclass else input.shape
        if keep.shape != expected:
            raise ValueError(f"mask must have shape {tuple(expected)}, got {tuple(keep.shape)}")
        # Ignored targets are replaced by a valid one and weighted 0.
        fill = torch.zeros((), dtype=target.dtype, device=target.device)
        k_t = keep[:, None] if (loss.is_multiclass and target.ndim == 2) else keep
        target = torch.where(k_t, target, fill)
        w_keep = keep.to(input.dtype if input.dtype.is_floating_point else torch.float32)
        weight = w_keep if weight is None else weight * w_keep
    # One validating call on detached tensors; the differentiable evaluation skips the checks.
    if validate:
        loss.loss(target, input.detach(), sample_weight=weight, validate=True)
    y = target.detach()
    values: torch.Tensor = _Value.apply(loss, y, input)  # type: ignore[no-untyped-call]
    xp = array_api_compat.array_namespace(values)
    if weight is not None:
        weight = weight.to(values.dtype)
        values = values * weight
    positives = loss._positives(y, input.detach(), xp) if reduction == "positives" else None
    return reduce(values, reduction, xp=xp, weight=weight, positives=positives)  # type: ignore[no-any-return]


class LosslabLoss(torch.nn.Module):
    """A ``torch.nn.Module`` around any losslab loss.

    ``LosslabLoss("focal", gamma=2.0, alpha=0.25, reduction="positives")`` or a loss object;
    the per-loss subclasses (``losslab.torch.FocalLoss`` ...) fix the name. ``forward(input,
    target, weight=None, mask=None)`` as :func:`loss_function`. Hyperparameters are plain
    attributes (not tensors), so ``state_dict()`` is empty and pickling keeps them.
    """

    def __init__(
        self,
        loss: Loss | str,
        *,
        reduction: str = "mean",
        ignore_index: float | None = None,
        validate: bool = True,
        **params: Any,
    ) -> None:
        super().__init__()
        if isinstance(loss, str):
            loss = get_loss(loss, **params)
        elif params:
            raise TypeError("pass hyperparameters either in the loss object or as keywords")
        check_reduction(reduction, loss)
        self.loss = loss
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.validate = validate

    def forward(
        self,
        input: torch.Tensor,
        target: torch.Tensor,
        weight: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The reduced loss of ``input`` (raw predictions) against ``target``."""
        return loss_function(
            self.loss,
            input,
            target,
            weight=weight,
            mask=mask,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            validate=self.validate,
        )

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
        validate: bool = True,
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
        core = LOSSES[cls.loss_name]
        cls.__doc__ = (
            f"``torch.nn.Module`` for losslab's ``{cls.loss_name}`` loss "
            f"(:class:`losslab.{core.__name__}`).\n\n"
            f"Keyword hyperparameters as ``losslab.get_loss({cls.loss_name!r}, ...)``; "
            "``reduction``, ``ignore_index`` and ``forward(input, target, weight=None, "
            "mask=None)`` as :class:`LosslabLoss`.\n"
        )


# One module per registered loss, declared so that type checkers and IDEs see them
# (tests/test_torch.py checks that every registry name has one, named as its core class).
class AbsoluteError(RegisteredLoss):
    loss_name = "absolute_error"


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


class PseudoHuberLoss(RegisteredLoss):
    loss_name = "pseudo_huber"


class SoftmaxCrossEntropy(RegisteredLoss):
    loss_name = "softmax_cross_entropy"


class SoftmaxFocalLoss(RegisteredLoss):
    loss_name = "softmax_focal"


class SquaredError(RegisteredLoss):
    loss_name = "squared_error"


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
