"""Unit tests of the lab's pure parts: average precision, data generators, JSON conversion,
atomic writes and the verdict logic on crafted results."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("matplotlib")

from losslab.lab import verdicts
from losslab.lab._common import atomic_write_text, child_rng, dump_json, to_jsonable
from losslab.lab.data import (
    add_leverage_points,
    contaminate_targets,
    detection_data,
    linear_data,
)
from losslab.lab.metrics import average_precision


# --- average precision ----------------------------------------------------------------------
def test_average_precision_hand_checked() -> None:
    # ranks: 1 (pos, P = 1/1), 2 (neg), 3 (pos, P = 2/3), 4 (neg): AP = (1 + 2/3) / 2
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6]) == pytest.approx(5 / 6)
    # perfect and worst rankings
    assert average_precision([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.0)
    assert average_precision([1, 0, 0, 0], [0.0, 1.0, 2.0, 3.0]) == pytest.approx(0.25)


def test_average_precision_ties_enter_together() -> None:
    # all scores tied: a single threshold, precision = prevalence
    assert average_precision([1, 0, 0, 1], [0.5] * 4) == pytest.approx(0.5)
    # tie between a positive and a negative at the top: P = 1/2 at recall 1/2, then 2/3
    ap = average_precision([1, 0, 1], [0.9, 0.9, 0.1])
    assert ap == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    # order of tied items does not matter
    assert ap == pytest.approx(average_precision([0, 1, 1], [0.9, 0.9, 0.1]))


def test_average_precision_random_is_prevalence() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200_000) < 0.01
    ap = average_precision(y, rng.random(y.size))
    assert ap == pytest.approx(y.mean(), abs=0.005)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 0], [0.1, 0.2], "positive"),
        ([0, 2], [0.1, 0.2], "0 and 1"),
        ([0, 1], [0.1], "same shape"),
        ([0, 1], [0.1, float("nan")], "NaN"),
    ],
)
def test_average_precision_errors(y: list[int], s: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        average_precision(y, s)


# --- data -----------------------------------------------------------------------------------
def test_linear_data_shapes_and_reproducible() -> None:
    a = linear_data(child_rng(0, 1), 100, 5)
    b = linear_data(child_rng(0, 1), 100, 5)
    assert a.X.shape == (100, 5)
    assert a.y.shape == (100,)
    assert a.coef.shape == (5,)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    c = linear_data(child_rng(0, 2), 100, 5)
    assert not np.array_equal(a.X, c.X)


def test_contamination_is_nested_and_counts() -> None:
    base = linear_data(child_rng(3), 200, 3)
    d1, m1 = contaminate_targets(child_rng(4), base, 0.1)
    _d2, m2 = contaminate_targets(child_rng(4), base, 0.3)
    assert m1.sum() == 20
    assert m2.sum() == 60
    assert np.all(m2[m1])  # rows contaminated at 10 % stay contaminated at 30 %
    assert np.all(d1.y[m1] > base.y[m1] + 5)
    np.testing.assert_array_equal(d1.y[~m1], base.y[~m1])
    np.testing.assert_array_equal(d1.X, base.X)
    lev, ml = add_leverage_points(child_rng(5), base, 0.1)
    assert ml.sum() == 20
    assert np.all(np.linalg.norm(lev.X[ml], axis=1) > 3 * np.median(np.linalg.norm(base.X, axis=1)))


def test_detection_data_imbalance() -> None:
    d = detection_data(child_rng(0), 50, anchors_per_image=1000, positives_per_image=1.0)
    assert d.X.shape == (50_000, 8)
    assert set(np.unique(d.kind)) <= {0, 1, 2}
    np.testing.assert_array_equal(d.y, (d.kind == 2).astype(float))
    ratio = (d.y == 0).sum() / max(d.y.sum(), 1)
    assert 500 < ratio < 2000
    assert 0.005 < np.mean(d.kind == 1) < 0.05
    with pytest.raises(ValueError, match="d must be"):
        detection_data(child_rng(0), 2, d=3)


# --- JSON and files -------------------------------------------------------------------------
def test_to_jsonable_is_strict_json() -> None:
    obj = {
        "a": np.float32(1.5),
        "b": [np.inf, -np.inf, np.nan],
        "c": np.arange(3),
        "d": (np.bool_(True), None),
        1: "x",
    }
    text = dump_json(obj)

    def reject(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    back = json.loads(text, parse_constant=reject)
    assert back == {
        "a": 1.5,
        "b": ["inf", "-inf", "nan"],
        "c": [0, 1, 2],
        "d": [True, None],
        "1": "x",
    }
    with pytest.raises(TypeError):
        to_jsonable(object())


def test_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


# --- verdicts on crafted results ------------------------------------------------------------
def _logits_results(**over: Any) -> dict[str, Any]:
    cell = {
        "logit_max_ulp": 1.0,
        "logit_all_finite": True,
        "proba_central_max_ulp": 3.0,
        "proba_max_rel_error": "inf",
    }
    r: dict[str, Any] = {
        "routes": {d: {"1": dict(cell), "0": dict(cell)} for d in ("float32", "float64")},
        "clip": {
            d: {"z": [-10.0, -20.0, -40.0], "gradient_ratio": [1.0, 0.0, 0.0]}
            for d in ("float32", "float64")
        },
    }
    for path, value in over.items():
        node = r
        keys = path.split("/")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return r


def test_verdict_logits_held() -> None:
    v = verdicts.verdict_logits(_logits_results())
    assert v["status"] == "held"
    assert all(c["passed"] for c in v["checks"])
    assert v["summary"] == "held: 4 of 4 checks passed"


def test_verdict_logits_partly_and_failed() -> None:
    # the logit route is not finite: one check fails -> 3 of 4 -> partly
    r = _logits_results(**{"routes/float32/1/logit_all_finite": False})
    v = verdicts.verdict_logits(r)
    assert v["status"] == "partly"
    assert [c["id"] for c in v["checks"] if not c["passed"]] == ["logit_route_stable"]
    # the probability route never saturates and clipping keeps the gradient, routes disagree
    r = _logits_results(
        **{
            "routes/float64/1/proba_max_rel_error": 1e-3,
            "routes/float64/0/proba_max_rel_error": 1e-3,
            "clip/float64/gradient_ratio": [1.0, 1.0, 1.0],
            "routes/float32/0/proba_central_max_ulp": 100.0,
        }
    )
    v = verdicts.verdict_logits(r)
    assert v["status"] == "failed"
    assert sum(c["passed"] for c in v["checks"]) == 1


def _regression_results() -> dict[str, Any]:
    labels = ("square", "absolute", "huber", "pseudo_huber", "log_cosh")
    gd = {"square": 100, "absolute": None, "huber": 150, "pseudo_huber": 170, "log_cosh": 160}
    nt = {"square": 2, "absolute": None, "huber": 7, "pseudo_huber": 7, "log_cosh": 7}
    err20 = {"square": 1.0, "absolute": 0.08, "huber": 0.13, "pseudo_huber": 0.16, "log_cosh": 0.15}
    return {
        "convergence": {
            "methods": {
                "gradient_descent": {k: {"iterations": gd[k]} for k in labels},
                "newton": {k: {"iterations": nt[k]} for k in labels},
            }
        },
        "outliers": {
            "fractions": [0.0, 0.2, 0.4],
            "targets": {k: {"median_error": [0.02, err20[k], 2 * err20[k]]} for k in labels},
            "leverage": {k: {"median_error": [0.02, 0.8, 0.9]} for k in labels},
            "absolute_lbfgs_vs_lp_max_rel_diff": 0.01,
        },
        "gradient": {
            "residuals": [0.01, 0.1, 1.0, 10.0],
            "square": [0.01, 0.1, 1.0, 10.0],
            "absolute": [1.0, 1.0, 1.0, 1.0],
            "huber": [0.01, 0.1, 1.0, 1.0],
            "pseudo_huber": [0.01, 0.1, 0.7, 1.0],
            "log_cosh": [0.01, 0.1, 0.76, 1.0],
        },
    }


def test_verdict_regression_held_with_caveats_shown() -> None:
    v = verdicts.verdict_regression(_regression_results())
    assert v["status"] == "held", v
    caveats = [c for c in v["checks"] if not c["counts"]]
    assert {c["id"] for c in caveats} == {"absolute_breaks_on_leverage", "lbfgs_solves_absolute"}
    assert all(c["passed"] for c in caveats)
    # absolute reached the tolerance "never": ratio is infinite and passes
    ratio = next(c for c in v["checks"] if c["id"] == "absolute_converges_slowly")
    assert math.isinf(ratio["value"])
    assert ratio["passed"]


def test_verdict_regression_caveat_does_not_change_status() -> None:
    r = _regression_results()
    for k in r["outliers"]["leverage"]:
        r["outliers"]["leverage"][k]["median_error"] = [0.02, 0.03, 0.04]
    v = verdicts.verdict_regression(r)
    assert v["status"] == "held"
    assert not next(c for c in v["checks"] if c["id"] == "absolute_breaks_on_leverage")["passed"]


def test_verdict_regression_when_outliers_do_not_pull_square() -> None:
    r = _regression_results()
    r["outliers"]["targets"]["square"]["median_error"] = [0.02, 0.09, 0.1]
    r["convergence"]["methods"]["gradient_descent"]["absolute"]["iterations"] = 120
    v = verdicts.verdict_regression(r)
    failed = {c["id"] for c in v["checks"] if c["counts"] and not c["passed"]}
    assert failed == {
        "square_pulled_by_outliers",
        "absolute_converges_slowly",
        "middle_outliers_between",
        "middle_converges_between",
    }
    assert v["status"] == "failed"  # 3 of 7 counted checks pass: fewer than half
    assert v["summary"] == "failed: 3 of 7 checks passed"


def _focal_results() -> dict[str, Any]:
    return {
        "loss_distribution": {
            "summary": {
                "0.0": {"positive_share_of_total_loss": 0.08, "hardest_10pct_negatives_share": 0.4},
                "2.0": {"positive_share_of_total_loss": 0.9, "hardest_10pct_negatives_share": 0.97},
            }
        },
        "focal_minus_ce_ap": 0.03,
        "best_focal_ap": 0.3,
        "ce_ap": 0.2,
        "focal_minus_ce_bootstrap": {"difference_p05": 0.01},
        "no_prior": {"ce_ap_with_prior": 0.2, "ce_ap": 0.002},
    }


def test_verdict_focal_held_partly_failed() -> None:
    assert verdicts.verdict_focal(_focal_results())["status"] == "held"
    r = _focal_results()
    r["focal_minus_ce_ap"] = 0.002
    r["focal_minus_ce_bootstrap"]["difference_p05"] = -0.02
    v = verdicts.verdict_focal(r)
    assert v["status"] == "partly"  # mechanism holds, AP does not improve
    r["loss_distribution"]["summary"]["2.0"]["hardest_10pct_negatives_share"] = 0.5
    assert verdicts.verdict_focal(r)["status"] == "failed"  # 1 of 4


def test_verdict_focal_missing_bootstrap_fails_that_check() -> None:
    r = _focal_results()
    r["focal_minus_ce_bootstrap"] = {"n_resamples": 0}
    v = verdicts.verdict_focal(r)
    c = next(c for c in v["checks"] if c["id"] == "focal_gain_beyond_noise")
    assert math.isnan(c["value"])
    assert not c["passed"]


def test_status_rule_and_check() -> None:
    mk = verdicts.check
    assert verdicts.status_from_checks([]) == "failed"
    passes = [mk("a", "", 1, ">=", 0), mk("b", "", 1, ">=", 0)]
    fails = [mk("c", "", -1, ">=", 0), mk("d", "", "nan", "<=", 0)]
    assert verdicts.status_from_checks(passes) == "held"
    assert verdicts.status_from_checks(passes + fails) == "partly"
    assert verdicts.status_from_checks(passes[:1] + fails) == "failed"
    assert verdicts.status_from_checks([*passes, mk("e", "", -1, ">=", 0, counts=False)]) == "held"
    with pytest.raises(ValueError, match="operator"):
        mk("x", "", 1, "~", 0)
    with pytest.raises(ValueError, match="unknown experiment"):
        verdicts.verdict("nope", {})


def test_verdicts_do_not_mutate_results() -> None:
    for fn, res in (
        (verdicts.verdict_logits, _logits_results()),
        (verdicts.verdict_regression, _regression_results()),
        (verdicts.verdict_focal, _focal_results()),
    ):
        before = copy.deepcopy(res)
        json.dumps(fn(res), allow_nan=True)
        assert res == before


def test_boosting_skipped_cleanly_without_the_integration(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from losslab.lab import focal

    real = importlib.util.find_spec

    def fake(name: str, *args: Any) -> Any:
        return None if name in {"losslab.xgboost", "lightgbm"} else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    status = focal.boosting_status()
    assert status == {
        "status": "skipped",
        "reason": "skipped: integration not available (losslab.xgboost does not exist)",
    }
    assert focal.boosting_status("lightgbm") == {
        "status": "skipped",
        "reason": "skipped: lightgbm is not installed",
    }
    with pytest.raises(ValueError, match="unknown library"):
        focal.boosting_status("catboost")
    d = detection_data(child_rng(0), 2, anchors_per_image=100)
    out = focal.boosting_comparison(d, d, rounds=1, seed=0)
    assert out["status"] == "skipped"
    assert out["libraries"] == {"xgboost": status, "lightgbm": focal.boosting_status("lightgbm")}
    assert out["reason"].startswith("skipped: xgboost: skipped: integration not available")


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_boosting_comparison_runs_each_library(
    monkeypatch: pytest.MonkeyPatch, library: str
) -> None:
    pytest.importorskip(library)
    from losslab.lab import focal

    d = detection_data(child_rng(0), 30, anchors_per_image=200, positives_per_image=3.0)
    out = focal.boosting_comparison(d, d, rounds=5, seed=0)
    rec = out["libraries"][library]
    assert rec["status"] == "ran", rec
    assert rec["library"].startswith(library)
    assert set(rec["ap"]) == {"log_loss", "focal"}
    # trees on the training anchors rank them far better than chance (prevalence ~ 1.5 %)
    assert min(rec["ap"].values()) > 0.1
    assert rec["focal_minus_log_loss_ap"] == rec["ap"]["focal"] - rec["ap"]["log_loss"]
    v = verdicts.verdict_focal({**_focal_results(), "boosting": out})
    assert any(c["id"].endswith("focal_vs_log_loss") and not c["counts"] for c in v["checks"])
