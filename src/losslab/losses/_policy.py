"""Hessian policies: the named rules by which a loss's exact Hessian becomes a boosting Hessian.

Each loss declares the policies it offers (:attr:`losslab.Loss.hessian_policies`, the default
first); the boosting adapters (:mod:`losslab._boosting`) apply them. The rules and why each
loss defaults to its policy are in :mod:`losslab._boosting` and ``docs/boosting.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["POLICY_NAMES", "HessianPolicy", "PolicyName"]

PolicyName = Literal["exact", "floor", "gauss_newton", "constant"]
POLICY_NAMES: tuple[str, ...] = ("exact", "floor", "gauss_newton", "constant")


@dataclass(frozen=True)
class HessianPolicy:
    """A named rule that turns the exact Hessian into the one handed to the booster.

    Parameters
    ----------
    name : {"exact", "floor", "gauss_newton", "constant"}
        ``exact``: the loss's Hessian; ``floor``: ``max(h, floor)``; ``gauss_newton``: the
        generalised Gauss-Newton Hessian of a loss on the logit or softmax link;
        ``constant``: ``value`` everywhere.
    floor : float, default 1e-6
        Lower bound of the ``"floor"`` policy (``max(h, floor)``), > 0.
    value : float, default 1.0
        The Hessian of the ``"constant"`` policy, > 0.

    Raises
    ------
    ValueError
        Unknown name, or ``floor`` / ``value`` not a finite positive number.
    """

    name: PolicyName
    floor: float = 1e-6
    value: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in POLICY_NAMES:
            raise ValueError(f"hessian policy must be one of {POLICY_NAMES}, got {self.name!r}")
        for field in ("floor", "value"):
            v = float(getattr(self, field))
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"hessian policy {field} must be finite and > 0, got {v!r}")
            object.__setattr__(self, field, v)
