"""losslab against independent, unseen high-precision reference points.

``tests/data/reference_unseen.json`` is written by ``tests/reference/generate_reference.py``: each
loss is defined there from its mathematical definition in mpmath and differentiated numerically
(``mpmath.diff``), at points, seeds and hyperparameters that the golden set does not use, and for
the losses that the golden set does not cover (``focal_star``, ``softmax_cross_entropy`` with
class-index and probability targets). See that script for how the points were drawn and checked.

The comparison rule is the golden one: ``|got - ref| <= 1e-13 |ref| + max(atol, 2.2e-308)``, with
``atol = 0`` except for the gradient where a soft target makes it a difference of O(1) terms near
the minimiser:

* ``log_loss``, ``focal``, ``focal_star`` with 0 < y < 1: the gradient is
  ``(1-y) sigma(.) - y sigma(-.)`` (times smooth factors), whose exact value vanishes at the
  minimiser; any backward-stable float64 evaluation has an absolute error of about
  eps * O(1), so ``atol = 1e-16`` (as for sigmoid_bce / sigmoid_focal in the golden README);
* ``softmax_cross_entropy`` with probability targets: the gradient is ``p_k - y_k``, the same
  cancellation, so the same ``atol = 1e-16``.

No other loosening is applied: the generator keeps the float64 conditioning of the inputs below
the tolerance (see its docstring), and drops the few points next to a sign change of the focal
Hessians, where no float64 evaluation has a bounded relative error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest

import losslab
from _golden_utils import (
    CODE_PATHS,
    DATA_DIR,
    SOFT_GRAD_ATOL,
    Group,
    evaluate_group,
    fail_if_any,
    group_key,
    load_json,
    to_float,
)

REFERENCE = DATA_DIR / "reference_unseen.json"


def _kind(name: str) -> str:
    return str(losslab.LOSSES[name].kind)


def _doc() -> dict[str, Any]:
    return load_json(REFERENCE)


def _factory(name: str, params: dict[str, Any]) -> Callable[[], Any]:
    return lambda: losslab.get_loss(name, **params)


def _target_kind(case: dict[str, Any]) -> str:
    if _kind(case["loss"]) != "multiclass":
        return ""
    return "[index]" if isinstance(case["y"], int) else "[proba]"


# The losses the reference file covers (tests/reference/generate_reference.py writes it).
LOSS_NAMES = tuple(sorted({case["loss"] for case in _doc()["cases"]}))


@cache
def reference_groups(name: str) -> tuple[Group, ...]:
    buckets: dict[str, list[dict[str, Any]]] = {}
    for case in _doc()["cases"]:
        if case["loss"] == name:
            key = group_key(name, case["params"], _target_kind(case))
            buckets.setdefault(key, []).append(case)
    groups = []
    for key, cases in buckets.items():
        multi = _kind(name) == "multiclass"
        proba = multi and not isinstance(cases[0]["y"], int)
        if multi:
            y = np.array([c["y"] for c in cases], dtype=np.float64 if proba else np.int64)
            grad = np.array([[to_float(s) for s in c["grad"]] for c in cases])
            hess = np.array([[to_float(s) for s in c["hess"]] for c in cases])
        else:
            y = np.array([c["y"] for c in cases], dtype=np.float64)
            grad = np.array([to_float(c["grad"]) for c in cases])
            hess = np.array([to_float(c["hess"]) for c in cases])
        # soft targets: 0 < y < 1 for the binary losses, probability rows for softmax
        soft = (y > 0) & (y < 1) if _kind(name) == "binary" else np.full(len(cases), proba)
        groups.append(
            Group(
                label=key,
                make_loss=_factory(name, cases[0]["params"]),
                ids=[c["id"] for c in cases],
                y=y,
                z=np.array([c["z"] for c in cases], dtype=np.float64),
                value=np.array([to_float(c["value"]) for c in cases]),
                grad=grad,
                hess=hess,
                hess_mask=np.ones(hess.shape, dtype=bool),
                grad_atol=np.where(soft, SOFT_GRAD_ATOL, 0.0),
            )
        )
    return tuple(groups)


@cache
def _evaluate(name: str, path: str) -> tuple[list[Any], list[str]]:
    mismatches: list[Any] = []
    problems: list[str] = []
    for group in reference_groups(name):
        m, p = evaluate_group(group, path)
        mismatches += m
        problems += p
    return mismatches, problems


def test_reference_file_intact() -> None:
    """Header and cases are consistent, and every registered loss is covered."""
    doc = _doc()
    cases = doc["cases"]
    assert doc["n_cases"] == len(cases)
    assert len({c["id"] for c in cases}) == len(cases)
    assert isinstance(doc["seed"], int)
    assert "generate_reference.py" in doc["command"]
    assert len(doc["dropped"]) <= 0.02 * len(cases)
    assert len(LOSS_NAMES) >= 12  # every loss of the first version has unseen points
    assert set(LOSS_NAMES) <= set(losslab.LOSSES)


@pytest.mark.parametrize("path", CODE_PATHS)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_reference(name: str, path: str) -> None:
    """Value, gradient and Hessian (diagonal for softmax) within rtol = 1e-13 of the reference."""
    groups = reference_groups(name)
    assert sum(len(g.ids) for g in groups) >= 40
    mismatches, _ = _evaluate(name, path)
    fail_if_any(mismatches, f"{name} outputs ({path} path) outside the reference tolerance")


@pytest.mark.parametrize("path", CODE_PATHS)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_single_methods_match_fused(name: str, path: str) -> None:
    """The single-purpose methods return exactly the values of loss_gradient_hessian."""
    _, problems = _evaluate(name, path)
    fail_if_any(problems, f"inconsistencies between methods ({name}, {path} path)")
