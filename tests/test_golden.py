"""losslab against the golden reference vectors (50-digit mpmath, ``tests/data/golden``).

For every golden case, losslab's float64 value, gradient and Hessian must meet the golden
README's rule ``|got - ref| <= 1e-13 |ref| + max(atol, 2.2250738585072014e-308)`` (exact for +-inf),
with ``atol = 1e-16`` only for the gradient of the soft-label (0 < y < 1) sigmoid losses and 0
elsewhere. Cases tagged ``extreme`` (z - y not finite in float64) are skipped; the Hessian is not
compared where it does not exist (``null``, a kink) or where the float64 residual lands on the
kink (``near_kink``). Cases are evaluated as arrays, one call of ``loss_gradient_hessian`` per
loss and hyperparameter set, and the single-purpose methods must agree with that call. Every
failing case is reported by its id.

The data are a copy of the shared golden set; ``tests/data/golden/README.md`` says how they were
made and ``generate.py`` there rebuilds them.

``test_focal_hessian_sign_matches_nonconvex_file`` checks the sign of the focal Hessian either
side of the non-convexity boundaries listed in ``focal_nonconvex.json``.
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
    GOLDEN_DIR,
    SOFT_GRAD_ATOL,
    Group,
    code_path,
    evaluate_group,
    fail_if_any,
    group_key,
    load_json,
    to_float,
)

# Every reference file copied into tests/data/golden (a new family enters by its file).
FAMILIES = tuple(sorted(p.stem for p in GOLDEN_DIR.glob("*.json") if p.stem != "focal_nonconvex"))

# golden loss name -> (losslab registry name, golden param name -> losslab param name), where
# the golden README's names differ from the registry's (its "Names in losslab's registry");
# any other golden name is the registry name with the same parameter names.
RENAMED: dict[str, tuple[str, dict[str, str]]] = {
    "sigmoid_bce": ("log_loss", {}),
    "log_loss_prob": ("log_loss", {}),
    "log_loss_pos_weight": ("log_loss", {}),
    "sigmoid_focal": ("focal", {}),
    "squared_half": ("half_squared_error", {}),
    "squared": ("squared_error", {}),
    "absolute": ("absolute_error", {}),
    "quantile": ("pinball", {"tau": "quantile"}),
    "softmax_ce_soft": ("softmax_cross_entropy", {}),
}
SOFT_LABEL_ATOL_LOSSES = ("sigmoid_bce", "sigmoid_focal")


def _factory(name: str, params: dict[str, Any]) -> Callable[[], Any]:
    registry_name, rename = RENAMED.get(name, (name, {}))
    kwargs = {rename.get(k, k): v for k, v in params.items()}
    return lambda: losslab.get_loss(registry_name, **kwargs)


def _golden(family: str) -> dict[str, Any]:
    return load_json(GOLDEN_DIR / f"{family}.json")


@cache
def golden_groups(family: str) -> tuple[Group, ...]:
    """The non-``extreme`` cases of a family, grouped by loss, parameters (and K)."""
    buckets: dict[str, list[dict[str, Any]]] = {}
    for case in _golden(family)["cases"]:
        if "extreme" in case["tags"]:
            continue
        k = len(case["z"]) if isinstance(case.get("z"), list) else None
        buckets.setdefault(group_key(case["loss"], case["params"], k), []).append(case)
    groups = []
    for key, cases in buckets.items():
        name, params = cases[0]["loss"], cases[0]["params"]
        multiclass = isinstance(cases[0]["z"], list) if "z" in cases[0] else False
        if multiclass:
            proba = isinstance(cases[0]["y"], list)
            y = np.array([c["y"] for c in cases], dtype=np.float64 if proba else np.int64)
            hess = np.array([[to_float(row[j]) for j, row in enumerate(c["hess"])] for c in cases])
            grad = np.array([[to_float(s) for s in c["grad"]] for c in cases])
        else:
            y = np.array([c["y"] for c in cases], dtype=np.float64)
            hess = np.array([to_float(c["hess"]) for c in cases])
            grad = np.array([to_float(c["grad"]) for c in cases])
        z = np.array([c["p" if name == "log_loss_prob" else "z"] for c in cases], dtype=np.float64)
        mask = np.array([c["hess"] is not None and "near_kink" not in c["tags"] for c in cases])
        if multiclass:
            mask = np.repeat(mask[:, None], hess.shape[1], axis=1)
        soft = np.array([isinstance(c["y"], float) and 0 < c["y"] < 1 for c in cases])
        atol = np.where(soft & (name in SOFT_LABEL_ATOL_LOSSES), SOFT_GRAD_ATOL, 0.0)
        value_atol, grad_atol, hess_atol = _f64_atol(cases, grad.shape, hess.shape)
        groups.append(
            Group(
                label=key,
                make_loss=_factory(name, params),
                ids=[c["id"] for c in cases],
                y=y,
                z=z,
                value=np.array([to_float(c["value"]) for c in cases]),
                grad=grad,
                hess=np.where(mask, hess, np.nan),
                hess_mask=mask,
                grad_atol=np.maximum(grad_atol, atol if grad.ndim == 1 else atol[:, None]),
                value_atol=value_atol,
                hess_atol=hess_atol,
                from_proba=name == "log_loss_prob",
            )
        )
    return tuple(groups)


def _f64_atol(
    cases: list[dict[str, Any]], grad_shape: tuple[int, ...], hess_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-output extra absolute tolerance of ``ill_conditioned`` cases (README: the
    change of each output when z moves by 2^-51 max(1, |z|)); 0 elsewhere. The Hessian's
    is the diagonal for the softmax families, as ``hessian`` returns."""
    value = np.zeros(len(cases))
    grad = np.zeros(grad_shape)
    hess = np.zeros(hess_shape)
    for i, c in enumerate(cases):
        extra = c.get("f64_atol")
        if not extra:
            continue
        value[i] = to_float(extra["value"])
        g, h = extra["grad"], extra["hess"]
        grad[i] = [to_float(s) for s in g] if isinstance(g, list) else to_float(g)
        if isinstance(h, list):
            hess[i] = [to_float(row[j]) for j, row in enumerate(h)]
        elif h is not None:
            hess[i] = to_float(h)
    return value, np.nan_to_num(grad), np.nan_to_num(hess)


@cache
def _evaluate(family: str, path: str) -> tuple[list[Any], list[str]]:
    mismatches: list[Any] = []
    problems: list[str] = []
    for group in golden_groups(family):
        m, p = evaluate_group(group, path)
        mismatches += m
        problems += p
    return mismatches, problems


@pytest.mark.parametrize("family", FAMILIES)
def test_golden_data_intact(family: str) -> None:
    """The copied files are complete and almost every case takes part in the comparison."""
    doc = _golden(family)
    cases = doc["cases"]
    assert doc["n_cases"] == len(cases)
    assert doc["dropped"] == []
    assert len({c["id"] for c in cases}) == len(cases)
    compared = sum(len(g.ids) for g in golden_groups(family))
    assert compared == sum("extreme" not in c["tags"] for c in cases)
    assert compared >= 0.95 * len(cases)


@pytest.mark.parametrize("path", CODE_PATHS)
@pytest.mark.parametrize("family", FAMILIES)
def test_golden(family: str, path: str) -> None:
    """Value, gradient and Hessian of every golden case within rtol = 1e-13."""
    mismatches, _ = _evaluate(family, path)
    fail_if_any(mismatches, f"{family} outputs ({path} path) outside the golden tolerance")


@pytest.mark.parametrize("path", CODE_PATHS)
@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "log_loss_prob"])
def test_single_methods_match_fused(family: str, path: str) -> None:
    """loss, gradient, hessian, loss_gradient and gradient_hessian return exactly the values of
    loss_gradient_hessian (NaN = NaN, +0.0 = -0.0), as float64 arrays of the expected shape."""
    _, problems = _evaluate(family, path)
    fail_if_any(problems, f"inconsistencies between methods ({family}, {path} path)")


# --------------------------------------------------------------------------------------------
# sign of the focal Hessian (focal_nonconvex.json)
# --------------------------------------------------------------------------------------------

# Distances from a boundary at which the sign is checked. Near x* the Hessian is about
# 1e-2 * (z - x*), far above its float64 rounding error (~1e-17) even at 1e-6.
OFFSETS = (1e-6, 1e-4, 1e-2, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0)
Z_LIMIT = 60.0  # the file's scan covered [-60, 60]


def _interval(pair: list[str]) -> tuple[float, float]:
    return float(pair[0]), float(pair[1])


def _points_around(boundaries: list[float]) -> np.ndarray:
    pts = [b + s * d for b in boundaries for d in OFFSETS for s in (-1.0, 1.0)]
    pts += list(np.linspace(-Z_LIMIT, Z_LIMIT, 25))
    return np.array(sorted(p for p in pts if abs(p) <= Z_LIMIT))


def _sign_cases() -> list[tuple[float, float, float, tuple[float, float] | None]]:
    """(gamma, y, z, open interval where H < 0 or None) for every checked point."""
    doc = load_json(GOLDEN_DIR / "focal_nonconvex.json")
    out = []
    for entry in doc["binary"]:
        g = entry["gamma"]
        for y, key in ((1.0, "y1_nonconvex_z"), (0.0, "y0_nonconvex_z")):
            iv = _interval(entry[key]) if entry[key] else None
            bounds = [b for b in (iv or ()) if np.isfinite(b)]
            out += [(g, y, float(z), iv) for z in _points_around(bounds)]
    for entry in doc["soft"]:
        g, y = entry["gamma"], entry["y"]
        iv = _interval(entry["nonconvex_z"])
        bounds = [float(b) for b in entry["boundary_z"]]
        out += [(g, y, float(z), iv) for z in _points_around(bounds)]
        # README: y and 1 - y mirror each other under z -> -z.
        mirrored = (-iv[1], -iv[0])
        out += [(g, 1.0 - y, float(-z), mirrored) for z in _points_around(bounds)]
    return out


@pytest.mark.parametrize("alpha", [0.25, None])
@pytest.mark.parametrize("path", CODE_PATHS)
def test_focal_hessian_sign_matches_nonconvex_file(path: str, alpha: float | None) -> None:
    """H < 0 exactly inside the listed intervals and H > 0 outside, on a grid around each
    boundary (alpha only scales the Hessian)."""
    points = _sign_cases()
    assert len(points) > 100
    failures = []
    for gamma in sorted({p[0] for p in points}):
        sel = [p for p in points if p[0] == gamma]
        y = np.array([p[1] for p in sel])
        z = np.array([p[2] for p in sel])
        with code_path(path):
            h = losslab.get_loss("focal", gamma=gamma, alpha=alpha).hessian(y, z)
        for (_, yy, zz, iv), hh in zip(sel, np.asarray(h), strict=True):
            negative = iv is not None and iv[0] < zz < iv[1]
            if not (hh < 0 if negative else hh > 0):
                want = "< 0" if negative else "> 0"
                failures.append(f"gamma={gamma} y={yy} z={zz!r}: hessian {hh!r}, expected {want}")
    fail_if_any(failures, "focal Hessian signs that contradict focal_nonconvex.json")
