"""losslab: loss functions with exact value, gradient and Hessian on any array library.

>>> import numpy as np, losslab
>>> focal = losslab.get_loss("focal", gamma=2.0, alpha=0.25)
>>> v, g, h = focal.loss_gradient_hessian(np.array([1.0, 0.0]), np.array([2.0, -3.0]))

The public surface is this module's ``__all__``: the registry (``LOSSES``, ``get_loss``), the
loss classes, the links and the configuration switches. Importing losslab imports numpy and
array-api-compat only; the integrations (torch, jax, boosting), the kernels (numba) and the lab
(scipy, matplotlib) are imported when used.
"""

from __future__ import annotations

from losslab import losses as _losses
from losslab._config import config_context, get_config, set_config
from losslab.links import IdentityLink, Link, LogitLink, SoftmaxLink
from losslab.losses import *  # noqa: F403

__version__ = "0.1.0.dev0"

__all__ = [
    "IdentityLink",
    "Link",
    "LogitLink",
    "SoftmaxLink",
    "__version__",
    "config_context",
    "get_config",
    "set_config",
]
__all__ += _losses.__all__
# ruff RUF022 order (constants, classes, functions), which tests/test_import.py checks
__all__.sort(key=lambda name: (0 if name.isupper() else 1 if name[:1].isupper() else 2, name))
