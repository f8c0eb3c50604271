"""The loss objects and their registry: ``LOSSES`` (name -> class) and ``get_loss``.

A loss class enters the registry with the :func:`register` decorator where it is defined;
``LOSSES`` is read from there, and everything that picks or lists losses (the CLI, the lab, the
torch and JAX modules, the boosting adapters, the benchmarks and the tests) iterates it. The
per-name overloads of :func:`get_loss` below are for type checkers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, overload

from losslab.losses import binary, detection, glm, multiclass, regression
from losslab.losses._base import REGISTRY, Loss, register
from losslab.losses._params import Param, param
from losslab.losses._policy import POLICY_NAMES, HessianPolicy
from losslab.losses._reduce import REDUCTIONS
from losslab.losses.binary import *  # noqa: F403
from losslab.losses.detection import *  # noqa: F403
from losslab.losses.glm import *  # noqa: F403
from losslab.losses.multiclass import *  # noqa: F403
from losslab.losses.regression import *  # noqa: F403

__all__ = [
    "LOSSES",
    "POLICY_NAMES",
    "REDUCTIONS",
    "HessianPolicy",
    "Loss",
    "Param",
    "get_loss",
    "param",
    "register",
    "warmup_kernels",
]
__all__ += binary.__all__
__all__ += detection.__all__
__all__ += glm.__all__
__all__ += multiclass.__all__
__all__ += regression.__all__
# ruff RUF022 order (constants, classes, functions), which tests/test_import.py checks
__all__.sort(key=lambda name: (0 if name.isupper() else 1 if name[:1].isupper() else 2, name))

LOSSES: Mapping[str, type[Loss]] = MappingProxyType(dict(sorted(REGISTRY.items())))
"""Read-only mapping from registry name to loss class, sorted by name."""


@overload
def get_loss(name: Literal["absolute_error"], **params: Any) -> regression.AbsoluteError: ...
@overload
def get_loss(name: Literal["asymmetric"], **params: Any) -> detection.AsymmetricLoss: ...
@overload
def get_loss(name: Literal["exponential"], **params: Any) -> glm.ExponentialLoss: ...
@overload
def get_loss(name: Literal["focal"], **params: Any) -> binary.FocalLoss: ...
@overload
def get_loss(name: Literal["focal_star"], **params: Any) -> binary.FocalStarLoss: ...
@overload
def get_loss(name: Literal["poly1"], **params: Any) -> detection.Poly1Loss: ...
@overload
def get_loss(name: Literal["poly1_focal"], **params: Any) -> detection.Poly1FocalLoss: ...
@overload
def get_loss(name: Literal["quality_focal"], **params: Any) -> detection.QualityFocalLoss: ...
@overload
def get_loss(name: Literal["varifocal"], **params: Any) -> detection.VarifocalLoss: ...
@overload
def get_loss(name: Literal["half_gamma"], **params: Any) -> glm.HalfGammaLoss: ...
@overload
def get_loss(name: Literal["half_poisson"], **params: Any) -> glm.HalfPoissonLoss: ...
@overload
def get_loss(name: Literal["half_squared_error"], **params: Any) -> regression.HalfSquaredError: ...
@overload
def get_loss(name: Literal["half_tweedie"], **params: Any) -> glm.HalfTweedieLoss: ...
@overload
def get_loss(name: Literal["huber"], **params: Any) -> regression.HuberLoss: ...
@overload
def get_loss(name: Literal["log_cosh"], **params: Any) -> regression.LogCoshLoss: ...
@overload
def get_loss(name: Literal["log_loss"], **params: Any) -> binary.LogLoss: ...
@overload
def get_loss(name: Literal["pinball"], **params: Any) -> regression.PinballLoss: ...
@overload
def get_loss(name: Literal["pseudo_huber"], **params: Any) -> regression.PseudoHuberLoss: ...
@overload
def get_loss(
    name: Literal["softmax_cross_entropy"], **params: Any
) -> multiclass.SoftmaxCrossEntropy: ...
@overload
def get_loss(name: Literal["softmax_focal"], **params: Any) -> multiclass.SoftmaxFocalLoss: ...
@overload
def get_loss(name: Literal["softmax_poly1"], **params: Any) -> multiclass.SoftmaxPoly1Loss: ...
@overload
def get_loss(name: Literal["squared_error"], **params: Any) -> regression.SquaredError: ...
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
    allowed = [p.name for p in cls.parameters()]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no parameters"
        raise TypeError(
            f"loss {name!r} got unknown parameter(s) {', '.join(unknown)}; it takes {takes}"
        )
    return cls(**params)


def warmup_kernels(dtypes: tuple[Any, ...] | None = None) -> dict[str, float]:
    """Compile (or load from numba's cache) the fused kernel of every registered loss.

    Returns the seconds each ``"<kernel>/<dtype>"`` took (float64 and float32 by default).
    Raises ``RuntimeError`` when numba is not installed.
    """
    from losslab import _kernels

    specs: dict[tuple[str, tuple[float, ...]], None] = {}
    for cls in LOSSES.values():
        if cls.kernel is not None:
            loss = cls()
            specs[(cls.kernel, loss._kernel_args())] = None
    if dtypes is None:
        return _kernels.warmup(list(specs))
    return _kernels.warmup(list(specs), dtypes)
