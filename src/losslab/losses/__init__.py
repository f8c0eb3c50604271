"""The loss objects and their registry: ``LOSSES`` (name -> class) and ``get_loss``.

Everything that picks a loss by name (the CLI, the lab, the tests, the boosting adapters) goes
through :func:`get_loss`, so a loss added to ``_CLASSES`` enters all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, overload

from losslab.losses._base import Loss
from losslab.losses.binary import FocalLoss, FocalStarLoss, LogLoss
from losslab.losses.multiclass import SoftmaxCrossEntropy, SoftmaxFocalLoss
from losslab.losses.regression import (
    AbsoluteError,
    HalfSquaredError,
    HuberLoss,
    LogCoshLoss,
    PinballLoss,
    PseudoHuberLoss,
    SquaredError,
)

__all__ = [
    "LOSSES",
    "AbsoluteError",
    "FocalLoss",
    "FocalStarLoss",
    "HalfSquaredError",
    "HuberLoss",
    "LogCoshLoss",
    "LogLoss",
    "Loss",
    "PinballLoss",
    "PseudoHuberLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
    "SquaredError",
    "get_loss",
]

_CLASSES: tuple[type[Loss], ...] = (
    AbsoluteError,
    FocalLoss,
    FocalStarLoss,
    HalfSquaredError,
    HuberLoss,
    LogCoshLoss,
    LogLoss,
    PinballLoss,
    PseudoHuberLoss,
    SoftmaxCrossEntropy,
    SoftmaxFocalLoss,
    SquaredError,
)

LOSSES: Mapping[str, type[Loss]] = MappingProxyType(
    {cls.name: cls for cls in sorted(_CLASSES, key=lambda c: c.name)}
)
"""Read-only mapping from registry name to loss class."""


@overload
def get_loss(name: Literal["absolute_error"], **params: Any) -> AbsoluteError: ...
@overload
def get_loss(name: Literal["focal"], **params: Any) -> FocalLoss: ...
@overload
def get_loss(name: Literal["focal_star"], **params: Any) -> FocalStarLoss: ...
@overload
def get_loss(name: Literal["half_squared_error"], **params: Any) -> HalfSquaredError: ...
@overload
def get_loss(name: Literal["huber"], **params: Any) -> HuberLoss: ...
@overload
def get_loss(name: Literal["log_cosh"], **params: Any) -> LogCoshLoss: ...
@overload
def get_loss(name: Literal["log_loss"], **params: Any) -> LogLoss: ...
@overload
def get_loss(name: Literal["pinball"], **params: Any) -> PinballLoss: ...
@overload
def get_loss(name: Literal["pseudo_huber"], **params: Any) -> PseudoHuberLoss: ...
@overload
def get_loss(name: Literal["softmax_cross_entropy"], **params: Any) -> SoftmaxCrossEntropy: ...
@overload
def get_loss(name: Literal["softmax_focal"], **params: Any) -> SoftmaxFocalLoss: ...
@overload
def get_loss(name: Literal["squared_error"], **params: Any) -> SquaredError: ...
@overload
def get_loss(name: str, **params: Any) -> Loss: ...


def get_loss(name: str, **params: Any) -> Loss:
    """Build the loss registered as ``name`` with hyperparameters ``params``.

    >>> import losslab
    >>> losslab.get_loss("huber", delta=2.0)
    HuberLoss(delta=2.0)

    Raises
    ------
    ValueError
        Unknown name (the message lists the registered ones) or a hyperparameter outside its
        range (the message names it).
    TypeError
        A parameter the loss does not take (the message lists the ones it does).
    """
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; registered losses: {', '.join(LOSSES)}")
    cls = LOSSES[name]
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no parameters"
        raise TypeError(
            f"loss {name!r} got unknown parameter(s) {', '.join(unknown)}; it takes {takes}"
        )
    return cls(**params)
