"""Helpers shared by ``test_golden.py`` and ``test_reference.py``.

Both modules compare losslab's float64 value, gradient and Hessian with high-precision reference
data (``tests/data/golden/*.json`` and ``tests/data/reference_unseen.json``). They group the cases
into arrays (one group per loss and hyperparameters), call ``loss_gradient_hessian`` once per
group, check that the single-purpose methods return the same numbers as the fused call, and
report every failing case by its id.

The comparison rule is the golden README's:
``|got - ref| <= RTOL * |ref| + max(atol, TINY)``, with exact equality where ``ref`` is +-inf and
NaN never accepted.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

DATA_DIR = Path(__file__).parent / "data"
GOLDEN_DIR = DATA_DIR / "golden"

RTOL = 1e-13
TINY = 2.2250738585072014e-308  # smallest normal float64: the absolute floor of the rule
SOFT_GRAD_ATOL = 1e-16  # gradient of a soft-label loss near its minimiser (README)
MAX_REPORTED = 20

# "default": whatever losslab chooses (fused CPU kernels where available);
# "generic": the array-API reference path with the kernels switched off.
CODE_PATHS = ("default", "generic")


@contextlib.contextmanager
def code_path(path: str) -> Iterator[None]:
    """Run the enclosed losslab calls on the given code path."""
    if path == "default":
        yield
        return
    from losslab._config import config_context

    with config_context(use_kernels=False):
        yield


@cache
def load_json(path: Path) -> dict[str, Any]:
    with open(path) as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc


def to_float(s: str | None) -> float:
    """A reference string as float64 (``None``, i.e. no reference, as NaN)."""
    return math.nan if s is None else float(s)


@dataclass(frozen=True)
class Mismatch:
    """One output of one case that fails the comparison rule."""

    case_id: str
    quantity: str
    got: float
    ref: float

    def __str__(self) -> str:
        if self.ref == 0 or not math.isfinite(self.ref) or not math.isfinite(self.got):
            rel = "n/a"
        else:
            rel = f"{abs(self.got - self.ref) / abs(self.ref):.3g}"
        return f"{self.case_id} {self.quantity}: got {self.got!r}, ref {self.ref!r}, rel err {rel}"


def close_mask(got: np.ndarray, ref: np.ndarray, atol: np.ndarray | float) -> np.ndarray:
    """Element-wise comparison rule (see the module docstring); shapes must agree."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        tol = RTOL * np.abs(ref) + np.maximum(atol, TINY)
        ok = np.abs(got - ref) <= tol
    inf = np.isinf(ref)
    ok = np.where(inf, got == ref, ok)
    return ok & ~np.isnan(got)


def compare(
    ids: Sequence[str],
    quantity: str,
    got: np.ndarray,
    ref: np.ndarray,
    *,
    atol: np.ndarray | float = 0.0,
    mask: np.ndarray | None = None,
) -> list[Mismatch]:
    """Mismatches of ``got`` against ``ref`` (rows = cases; a second axis = class index).

    ``atol`` broadcasts against the rows; ``mask`` selects the entries that have a reference.
    """
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return [Mismatch(ids[0], f"{quantity} (shape {got.shape}, expected {ref.shape})", 0, 0)]
    atol_arr = np.asarray(atol, dtype=np.float64)
    if got.ndim == 2 and atol_arr.ndim == 1:
        atol_arr = atol_arr[:, None]
    bad = ~close_mask(got, ref, atol_arr)
    if mask is not None:
        bad &= mask
    out = []
    for idx in zip(*np.nonzero(bad), strict=True):
        label = quantity if got.ndim == 1 else f"{quantity}[{idx[1]}]"
        out.append(Mismatch(ids[idx[0]], label, float(got[idx]), float(ref[idx])))
    return out


def fail_if_any(problems: Sequence[object], what: str) -> None:
    """Fail with the first MAX_REPORTED problems (one per line) if there are any."""
    if problems:
        lines = "\n".join(str(p) for p in problems[:MAX_REPORTED])
        more = len(problems) - MAX_REPORTED
        tail = f"\n... and {more} more" if more > 0 else ""
        pytest.fail(f"{len(problems)} {what}:\n{lines}{tail}", pytrace=False)


def same_values(a: Any, b: Any) -> np.ndarray:
    """Element-wise identity of two float arrays (NaN equals NaN; +0.0 equals -0.0)."""
    a, b = np.asarray(a), np.asarray(b)
    return (a == b) | (np.isnan(a) & np.isnan(b))


@dataclass
class Group:
    """Cases of one loss with one set of hyperparameters, as arrays.

    ``hess_mask`` marks the Hessian entries that have a reference (not a kink, not near_kink).
    ``grad_atol`` is the per-case absolute tolerance of the gradient.
    """

    label: str
    make_loss: Callable[[], Any]
    ids: list[str]
    y: np.ndarray
    z: np.ndarray
    value: np.ndarray
    grad: np.ndarray
    hess: np.ndarray
    hess_mask: np.ndarray
    grad_atol: np.ndarray
    value_atol: np.ndarray | float = 0.0
    hess_atol: np.ndarray | float = 0.0
    from_proba: bool = False

    def rows(self, take: np.ndarray) -> Group:
        def sub(a: np.ndarray | float) -> np.ndarray | float:
            return a[take] if isinstance(a, np.ndarray) else a

        return Group(
            self.label,
            self.make_loss,
            [i for i, t in zip(self.ids, take, strict=True) if t],
            self.y[take],
            self.z[take],
            self.value[take],
            self.grad[take],
            self.hess[take],
            self.hess_mask[take],
            self.grad_atol[take],
            sub(self.value_atol),
            sub(self.hess_atol),
            self.from_proba,
        )

    def nonfinite_rows(self) -> np.ndarray:
        """Rows where some reference output is +-inf (overflow is expected there)."""
        hess = np.where(self.hess_mask, self.hess, 0.0)
        nf = ~np.isfinite(self.value)
        for arr in (self.grad, hess):
            bad = ~np.isfinite(arr)
            nf |= bad if bad.ndim == 1 else bad.any(axis=1)
        return nf


def _check_output(problems: list[str], label: str, name: str, arr: Any, shape: tuple) -> bool:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.shape != shape:
        desc = f"{type(arr).__name__} {getattr(arr, 'dtype', '?')} {getattr(arr, 'shape', '?')}"
        problems.append(f"{label}: {name} returned {desc}, expected float64 ndarray {shape}")
        return False
    return True


def _consistency(group: Group, loss: Any, fused: tuple, problems: list[str]) -> None:
    """The single-purpose methods must return the values of ``loss_gradient_hessian``."""
    v, g, h = fused
    y, z = group.y, group.z
    checks = [
        ("loss", loss.loss(y, z), v),
        ("gradient", loss.gradient(y, z), g),
        ("hessian", loss.hessian(y, z), h),
    ]
    lg, gh = loss.loss_gradient(y, z), loss.gradient_hessian(y, z)
    checks += [
        ("loss_gradient[0]", lg[0], v),
        ("loss_gradient[1]", lg[1], g),
        ("gradient_hessian[0]", gh[0], g),
        ("gradient_hessian[1]", gh[1], h),
    ]
    for name, got, want in checks:
        if not _check_output(problems, group.label, name, got, want.shape):
            continue
        same = same_values(got, want)
        if not same.all():
            bad = np.nonzero(~(same if same.ndim == 1 else same.all(axis=1)))[0]
            for i in bad[:3]:
                problems.append(
                    f"{group.ids[i]}: {name} = {got[i]!r} but loss_gradient_hessian gives "
                    f"{want[i]!r}"
                )
            if len(bad) > 3:
                problems.append(f"{group.label}: {name} differs in {len(bad)} cases in all")


def evaluate_group(group: Group, path: str) -> tuple[list[Mismatch | str], list[str]]:
    """(mismatches against the references, inconsistencies between methods) of a group.

    A fused output of the wrong type, dtype or shape is reported as a mismatch (a string).

    Rows whose reference is +-inf are evaluated separately under ``np.errstate(all="ignore")``
    (overflow there is the expected outcome); all other rows run with numpy's default error
    state, so a floating-point warning on a finite result fails the test (warnings are errors).
    """
    mismatches: list[Mismatch | str] = []
    problems: list[str] = []
    nonfinite = group.nonfinite_rows()
    for sub_mask, quiet in ((~nonfinite, False), (nonfinite, True)):
        if not sub_mask.any():
            continue
        sub = group.rows(sub_mask)
        state = np.errstate(all="ignore") if quiet else contextlib.nullcontext()
        with code_path(path), state:
            loss = sub.make_loss()
            if sub.from_proba:
                fused = loss.loss_gradient_hessian_from_proba(sub.y, sub.z)
                alone = loss.loss_from_proba(sub.y, sub.z)
            else:
                fused = loss.loss_gradient_hessian(sub.y, sub.z)
                _consistency(sub, loss, fused, problems)
        v, g, h = fused
        bad_outputs: list[str] = []
        for name, arr, ref in (("value", v, sub.value), ("gradient", g, sub.grad)):
            _check_output(bad_outputs, sub.label, name, arr, ref.shape)
        _check_output(bad_outputs, sub.label, "hessian", h, sub.hess.shape)
        if bad_outputs:
            mismatches += bad_outputs
            continue
        mismatches += compare(sub.ids, "value", v, sub.value, atol=sub.value_atol)
        mismatches += compare(sub.ids, "grad", g, sub.grad, atol=sub.grad_atol)
        mismatches += compare(sub.ids, "hess", h, sub.hess, atol=sub.hess_atol, mask=sub.hess_mask)
        if sub.from_proba:
            if _check_output(bad_outputs, sub.label, "loss_from_proba", alone, v.shape):
                mismatches += compare(sub.ids, "value(loss_from_proba)", alone, sub.value)
            mismatches += bad_outputs
    return mismatches, problems


def group_key(loss: str, params: dict[str, Any], extra: object = None) -> str:
    return f"{loss}({json.dumps(params, sort_keys=True)}){'' if extra is None else extra}"
