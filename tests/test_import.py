"""The public surface: light imports, a sorted ``__all__`` that resolves, a read-only registry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from collections.abc import Mapping
from typing import Any

import pytest

import losslab

HEAVY = ("torch", "jax", "jaxlib", "dask", "numba", "matplotlib", "scipy", "xgboost", "lightgbm")

SPEC_NAMES = {
    "log_loss": "LogLoss",
    "focal": "FocalLoss",
    "focal_star": "FocalStarLoss",
    "softmax_cross_entropy": "SoftmaxCrossEntropy",
    "softmax_focal": "SoftmaxFocalLoss",
    "squared_error": "SquaredError",
    "half_squared_error": "HalfSquaredError",
    "absolute_error": "AbsoluteError",
    "huber": "HuberLoss",
    "pseudo_huber": "PseudoHuberLoss",
    "log_cosh": "LogCoshLoss",
    "pinball": "PinballLoss",
}

_PROBE = f"""
import json, sys
import numpy as np
import losslab
loaded = {{}}
loaded["import"] = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
# Using every loss on NumPy arrays must not pull a framework in either.
for name in sorted(losslab.LOSSES):
    loss = losslab.get_loss(name)
    if loss.is_multiclass:
        y, z = np.array([0, 1, 2]), np.zeros((3, 3))
    else:
        y, z = np.array([0.25, 1.0, 0.5]), np.array([0.5, -0.5, 2.0])  # valid for every loss
    loss.loss_gradient_hessian(y, z)
    loss(y, z)
    loss.fit_intercept_only(y)
loaded["use"] = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(json.dumps(loaded))
"""


def test_import_loads_no_heavy_dependency() -> None:
    """`import losslab` (and using it on NumPy) imports none of torch, jax, dask, numba,
    matplotlib, scipy, xgboost, lightgbm. Run in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", _PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["import"] == [], f"import losslab loaded {loaded['import']}"
    assert loaded["use"] == [], f"using losslab on NumPy loaded {loaded['use']}"


def _isort_style_key(name: str) -> tuple[int, list[Any]]:
    """The order ruff's RUF022 (enabled for this project) demands for ``__all__``:
    SCREAMING_SNAKE_CASE first, then CamelCase, then the rest, each in natural order."""
    if name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
    return group, natural


def test_all_is_sorted_unique_and_resolves() -> None:
    names = losslab.__all__
    assert isinstance(names, (list, tuple))
    assert list(names) == sorted(names, key=_isort_style_key), "losslab.__all__ is not sorted"
    assert len(set(names)) == len(names), "losslab.__all__ has duplicates"
    for name in names:
        assert hasattr(losslab, name), f"losslab.__all__ names {name!r}, which does not resolve"
    for required in ("LOSSES", "get_loss", *SPEC_NAMES.values()):
        assert required in names, required


def test_star_import_gives_exactly_all() -> None:
    ns: dict[str, object] = {}
    exec("from losslab import *", ns)
    assert sorted(k for k in ns if k != "__builtins__") == sorted(losslab.__all__)


def test_public_names_are_not_modules_of_heavy_libraries() -> None:
    for name in losslab.__all__:
        obj = getattr(losslab, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__.startswith("losslab"), name


def test_registry_holds_the_specified_losses() -> None:
    registry = losslab.LOSSES
    assert isinstance(registry, Mapping)
    assert set(SPEC_NAMES) <= set(registry)
    for name, cls_name in SPEC_NAMES.items():
        cls = registry[name]
        assert cls.__name__ == cls_name
        assert getattr(losslab, cls_name) is cls
        assert losslab.get_loss(name).name == name


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        losslab.LOSSES["mine"] = object  # type: ignore[index]
    with pytest.raises((TypeError, AttributeError)):
        del losslab.LOSSES["log_loss"]  # type: ignore[attr-defined]
    assert "mine" not in losslab.LOSSES
    assert "log_loss" in losslab.LOSSES


def test_package_is_typed() -> None:
    from importlib import resources

    assert resources.files("losslab").joinpath("py.typed").is_file()
