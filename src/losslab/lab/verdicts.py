"""Verdicts of the lab: pure functions from an experiment's results dict to "held", "partly" or
"failed", with every threshold written here and copied into the report.

Each verdict is a list of checks ``value <op> threshold``. Checks with ``counts=True`` decide
the status: all pass -> "held"; at least half pass -> "partly"; fewer -> "failed". Checks with
``counts=False`` are caveats the report shows but that do not change the status. Nothing here
runs an experiment, so the logic can be tested on crafted results.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "THRESHOLDS",
    "check",
    "status_from_checks",
    "verdict",
    "verdict_detection",
    "verdict_focal",
    "verdict_logits",
    "verdict_regression",
]

#: Every threshold used below, by experiment; the report prints this table.
THRESHOLDS: dict[str, dict[str, float]] = {
    "logits": {
        "central_agreement_max_ulps": 16.0,
        "logit_route_max_ulps": 4.0,
        "saturation_min_relative_error": 0.5,
        "clipped_gradient_max_ratio": 0.01,
        "wrong_example_z": -40.0,
    },
    "regression": {
        "square_newton_max_iterations": 5.0,
        "absolute_over_square_gd_iterations_min": 10.0,
        "contamination_fraction": 0.2,
        "square_over_absolute_error_min": 5.0,
        "absolute_error_max": 0.15,
        "between_slack": 0.1,
        "gradient_ratio_at_r_0.01_min": 10.0,
        "leverage_absolute_error_min": 0.1,
        "lbfgs_vs_lp_max_relative_difference": 0.05,
    },
    "focal": {
        "positive_share_gain_min": 2.0,
        "hardest_10pct_negative_share_min": 0.8,
        "ap_gain_min": 0.01,
        "bootstrap_p05_min": 0.0,
        "prior_init_ap_gain_min": 0.05,
        "boosting_ap_gain_min": 0.0,
    },
    "detection": {
        "positive_share_gain_min": 2.0,
        "hardest_10pct_negative_share_min": 0.8,
        "ap_gain_min": 0.01,
        "lower_bound_min": 0.0,
        "confidence_level": 0.95,
        "detector_learns_ap_min": 0.1,
        "prior_init_ap_gain_min": 0.01,
    },
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


def _num(x: Any) -> float:
    """A results value as a float: None -> nan, the strings "inf"/"-inf"/"nan" as floats."""
    if x is None:
        return math.nan
    if isinstance(x, str):
        return float(x)
    return float(x)


def check(
    id: str, description: str, value: Any, op: str, threshold: float, *, counts: bool = True
) -> dict[str, Any]:
    """One check: ``passed = value <op> threshold`` (a NaN value fails). Returns a JSON-ready dict
    ``{"id", "description", "value", "op", "threshold", "passed", "counts"}``.
    Raises ValueError for an unknown operator."""
    if op not in _OPS:
        raise ValueError(f"unknown operator {op!r}; use one of {sorted(_OPS)}")
    v = _num(value)
    passed = (not math.isnan(v)) and bool(_OPS[op](v, float(threshold)))
    return {
        "id": id,
        "description": description,
        "value": v,
        "op": op,
        "threshold": float(threshold),
        "passed": passed,
        "counts": counts,
    }


def status_from_checks(checks: Sequence[Mapping[str, Any]]) -> str:
    """ "held" if every counted check passed, "partly" if at least half did, else "failed"
    ("failed" also when there is no counted check)."""
    counted = [c for c in checks if c["counts"]]
    if not counted:
        return "failed"
    n_pass = sum(bool(c["passed"]) for c in counted)
    if n_pass == len(counted):
        return "held"
    if 2 * n_pass >= len(counted):
        return "partly"
    return "failed"


def _wrap(checks: list[dict[str, Any]]) -> dict[str, Any]:
    status = status_from_checks(checks)
    counted = [c for c in checks if c["counts"]]
    n_pass = sum(c["passed"] for c in counted)
    return {
        "status": status,
        "summary": f"{status}: {n_pass} of {len(counted)} checks passed",
        "rule": "held if every counted check passes, partly if at least half do, else failed",
        "checks": checks,
    }


def verdict_logits(results: Mapping[str, Any]) -> dict[str, Any]:
    """Verdict of the logits-vs-probabilities experiment from its ``results`` dict
    (keys ``routes[dtype][label]`` and ``clip[dtype]``, see :mod:`losslab.lab.logits`)."""
    t = THRESHOLDS["logits"]
    routes = results["routes"]
    cells = [routes[d][y] for d in routes for y in routes[d]]
    central = max(_num(c["proba_central_max_ulp"]) for c in cells)
    finite = all(bool(c["logit_all_finite"]) for c in cells)
    logit_ulp = max(_num(c["logit_max_ulp"]) for c in cells) if finite else math.inf
    saturation = min(
        max(_num(routes[d][y]["proba_max_rel_error"]) for y in routes[d]) for d in routes
    )
    ratios = []
    for _d, c in results["clip"].items():
        zs = [float(z) for z in c["z"]]
        i = zs.index(t["wrong_example_z"])
        ratios.append(_num(c["gradient_ratio"][i]))
    checks = [
        check(
            "one_objective",
            "Where p is not close to 0 or 1 (|z| <= 1) the probability route agrees with the "
            "reference: worst error in ulps over both dtypes and labels",
            central,
            "<=",
            t["central_agreement_max_ulps"],
        ),
        check(
            "logit_route_stable",
            "The logit route is finite and accurate over the whole z grid: worst error in ulps "
            "(inf if any value is not finite)",
            logit_ulp,
            "<=",
            t["logit_route_max_ulps"],
        ),
        check(
            "probability_route_saturates",
            "The probability route saturates inside the grid in every dtype: smallest (over "
            "dtypes) worst relative error (inf where it returns inf)",
            saturation,
            ">=",
            t["saturation_min_relative_error"],
        ),
        check(
            "clipping_kills_gradient",
            f"Clipping p stops a confidently wrong example (y = 1, z = {t['wrong_example_z']:g}) "
            "from learning: largest |clipped gradient| / |true gradient| over dtypes",
            max(ratios),
            "<=",
            t["clipped_gradient_max_ratio"],
        ),
    ]
    return _wrap(checks)


def _at_fraction(outliers: Mapping[str, Any], kind: str, label: str, frac: float) -> float:
    fr = [float(f) for f in outliers["fractions"]]
    i = min(range(len(fr)), key=lambda k: abs(fr[k] - frac))
    return _num(outliers[kind][label]["median_error"][i])


def _iters(conv: Mapping[str, Any], method: str, label: str) -> float:
    it = conv["methods"][method][label]["iterations"]
    return math.inf if it is None else float(it)


def verdict_regression(results: Mapping[str, Any]) -> dict[str, Any]:
    """Verdict of the square-vs-absolute experiment from its ``results`` dict (keys
    ``convergence``, ``outliers``, ``gradient``, see :mod:`losslab.lab.regression`).
    Iterations of a run that never reached the tolerance count as infinite."""
    t = THRESHOLDS["regression"]
    conv, out, grad = results["convergence"], results["outliers"], results["gradient"]
    frac = t["contamination_fraction"]
    gd_sq = _iters(conv, "gradient_descent", "square")
    gd_abs = _iters(conv, "gradient_descent", "absolute")
    err_sq = _at_fraction(out, "targets", "square", frac)
    err_abs = _at_fraction(out, "targets", "absolute", frac)
    middle = ("huber", "pseudo_huber", "log_cosh")
    s = t["between_slack"]

    def between(v: float, a: float, b: float) -> bool:
        lo, hi = min(a, b), max(a, b)
        return lo * (1 - s) <= v <= hi * (1 + s)

    n_between_conv = sum(
        between(_iters(conv, "gradient_descent", m), gd_sq, gd_abs) for m in middle
    )
    n_between_out = sum(
        between(_at_fraction(out, "targets", m, frac), err_sq, err_abs) for m in middle
    )
    r = [float(x) for x in grad["residuals"]]
    i01 = r.index(0.01)
    g_abs, g_sq = _num(grad["absolute"][i01]), _num(grad["square"][i01])
    pct = f"{100 * frac:g} %"
    checks = [
        check(
            "square_converges_fast",
            "Square loss: trust-region Newton iterations to the tolerance (infinite if never)",
            _iters(conv, "newton", "square"),
            "<=",
            t["square_newton_max_iterations"],
        ),
        check(
            "absolute_converges_slowly",
            "Gradient descent iterations to the tolerance, absolute / square (infinite if "
            "absolute never reaches it)",
            gd_abs / gd_sq,
            ">=",
            t["absolute_over_square_gd_iterations_min"],
        ),
        check(
            "square_pulled_by_outliers",
            f"Coefficient error with {pct} outlying targets, square / absolute",
            err_sq / err_abs if err_abs > 0 else math.inf,
            ">=",
            t["square_over_absolute_error_min"],
        ),
        check(
            "absolute_resists_outliers",
            f"Absolute loss: relative coefficient error with {pct} outlying targets",
            err_abs,
            "<=",
            t["absolute_error_max"],
        ),
        check(
            "middle_converges_between",
            "How many of Huber, pseudo-Huber, log-cosh need a number of gradient-descent "
            f"iterations between square's and absolute's ({100 * s:g} % slack)",
            n_between_conv,
            ">=",
            len(middle),
        ),
        check(
            "middle_outliers_between",
            "How many of Huber, pseudo-Huber, log-cosh have a coefficient error with "
            f"{pct} outlying targets between square's and absolute's ({100 * s:g} % slack)",
            n_between_out,
            ">=",
            len(middle),
        ),
        check(
            "absolute_gradient_does_not_shrink",
            "|gradient| at residual 0.01, absolute / square",
            g_abs / g_sq if g_sq > 0 else math.inf,
            ">=",
            t["gradient_ratio_at_r_0.01_min"],
        ),
        check(
            "absolute_breaks_on_leverage",
            f"Caveat: absolute loss with {pct} bad leverage points, relative coefficient error "
            "(absolute loss only resists outlying targets)",
            _at_fraction(out, "leverage", "absolute", frac),
            ">=",
            t["leverage_absolute_error_min"],
            counts=False,
        ),
        check(
            "lbfgs_solves_absolute",
            "Sanity: L-BFGS-B on absolute loss against the exact LP solution, largest relative "
            "coefficient difference",
            out.get("absolute_lbfgs_vs_lp_max_rel_diff"),
            "<=",
            t["lbfgs_vs_lp_max_relative_difference"],
            counts=False,
        ),
    ]
    return _wrap(checks)


def verdict_focal(results: Mapping[str, Any]) -> dict[str, Any]:
    """Verdict of the focal-loss experiment from its ``results`` dict (keys
    ``loss_distribution``, ``focal_minus_ce_ap``, ``focal_minus_ce_bootstrap``, ``no_prior``,
    see :mod:`losslab.lab.focal`)."""
    t = THRESHOLDS["focal"]
    summ = results["loss_distribution"]["summary"]
    g0, g2 = summ["0.0"], summ["2.0"]
    share0 = _num(g0["positive_share_of_total_loss"])
    share2 = _num(g2["positive_share_of_total_loss"])
    boot = results.get("focal_minus_ce_bootstrap") or {}
    gain = _num(results["focal_minus_ce_ap"])
    p05 = _num(boot.get("difference_p05"))
    nop = results["no_prior"]
    checks = [
        check(
            "loss_moves_to_positives",
            "Positives' share of the total loss on held-out anchors, gamma = 2 / gamma = 0 "
            "(same trained model)",
            share2 / share0 if share0 > 0 else math.inf,
            ">=",
            t["positive_share_gain_min"],
        ),
        check(
            "easy_negatives_down_weighted",
            "Share of the negatives' loss carried by the hardest 10 % of negatives at gamma = 2",
            g2["hardest_10pct_negatives_share"],
            ">=",
            t["hardest_10pct_negative_share_min"],
        ),
        check(
            "focal_improves_ap",
            "Average precision, best focal loss (gamma > 0) minus best cross-entropy "
            "(gamma = 0, any alpha)",
            gain,
            ">=",
            t["ap_gain_min"],
        ),
        check(
            "focal_gain_beyond_noise",
            "5th percentile of that AP difference over paired bootstrap resamples of the test "
            "images (mean over replicates)",
            p05,
            ">",
            t["bootstrap_p05_min"],
        ),
        check(
            "focal_vs_plain_cross_entropy",
            "Caveat: best focal AP minus plain cross-entropy (no alpha) AP; the counted "
            "comparison above is against the best alpha-balanced cross-entropy",
            _num(results.get("best_focal_ap")) - _num(results.get("ce_ap")),
            ">=",
            t["ap_gain_min"],
            counts=False,
        ),
        check(
            "prior_init_matters",
            "Caveat: AP of cross-entropy with the prior initialisation minus without it",
            _num(nop["ce_ap_with_prior"]) - _num(nop["ce_ap"]),
            ">=",
            t["prior_init_ap_gain_min"],
            counts=False,
        ),
    ]
    boost = results.get("boosting") or {}
    libs = boost.get("libraries") or ({"xgboost": boost} if boost.get("status") == "ran" else {})
    names = {
        "xgboost": "XGBoost through losslab.xgboost",
        "lightgbm": "LightGBM through losslab.lightgbm",
    }
    for lib, rec in libs.items():
        if rec.get("status") != "ran":
            continue
        checks.append(
            check(
                "boosting_focal_vs_log_loss" if lib == "xgboost" else f"{lib}_focal_vs_log_loss",
                f"Caveat: gradient boosting ({names.get(lib, lib)}), AP of focal loss minus AP "
                "of log loss",
                rec.get("focal_minus_log_loss_ap"),
                ">=",
                t["boosting_ap_gain_min"],
                counts=False,
            )
        )
    return _wrap(checks)


def verdict_detection(results: Mapping[str, Any]) -> dict[str, Any]:
    """Verdict of the one-stage detector experiment from its ``results`` dict (keys
    ``loss_distribution``, ``focal_minus_ce_ap``, ``best_focal_mean_ap``, ``no_prior``,
    ``best_ce``, see :mod:`losslab.lab.detection`). APs are COCO AP (IoU 0.5:0.95) in [0, 1]."""
    t = THRESHOLDS["detection"]
    summ = results["loss_distribution"]["summary"]
    share0 = _num(summ["0.0"]["positive_share_of_total_loss"])
    share2 = _num(summ["2.0"]["positive_share_of_total_loss"])
    diff = results["focal_minus_ce_ap"]
    n_rep = len(diff.get("per_replicate", []))
    ce_key = results["best_ce"]["key"]
    ce_prior = (results.get("no_prior") or {}).get(ce_key, {})
    checks = [
        check(
            "loss_moves_to_positives",
            "Positives' share of the total loss over the test (anchor, class) outputs, gamma = 2 "
            "/ gamma = 0 (same trained focal model)",
            share2 / share0 if share0 > 0 else math.inf,
            ">=",
            t["positive_share_gain_min"],
        ),
        check(
            "easy_negatives_down_weighted",
            "Share of the negatives' loss carried by the hardest 10 % of negative outputs at "
            "gamma = 2",
            summ["2.0"]["hardest_10pct_negatives_share"],
            ">=",
            t["hardest_10pct_negative_share_min"],
        ),
        check(
            "focal_improves_ap",
            "COCO AP, best focal loss minus best alpha-balanced cross-entropy, mean over "
            f"{n_rep} seed(s)",
            diff["mean"],
            ">=",
            t["ap_gain_min"],
        ),
        check(
            "focal_gain_beyond_noise",
            f"One-sided {100 * t['confidence_level']:g} % lower bound (Student t over seeds) of "
            "that AP difference (nan with one seed)",
            diff.get("lower_95"),
            ">",
            t["lower_bound_min"],
        ),
        check(
            "detector_learns",
            "Sanity: COCO AP of the best focal model, mean over seeds (the comparison means "
            "little if neither model detects)",
            results.get("best_focal_mean_ap"),
            ">=",
            t["detector_learns_ap_min"],
            counts=False,
        ),
        check(
            "prior_init_helps_ce",
            "Caveat: COCO AP of the best cross-entropy configuration with the prior "
            "initialisation minus from a zero bias (seed 0)",
            ce_prior.get("ap_gain_from_prior"),
            ">=",
            t["prior_init_ap_gain_min"],
            counts=False,
        ),
    ]
    return _wrap(checks)


_VERDICTS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "logits": verdict_logits,
    "regression": verdict_regression,
    "focal": verdict_focal,
    "detection": verdict_detection,
}


def verdict(name: str, results: Mapping[str, Any]) -> dict[str, Any]:
    """Dispatch to the verdict of experiment ``name``; ValueError for an unknown name."""
    if name not in _VERDICTS:
        raise ValueError(f"unknown experiment {name!r}; known: {sorted(_VERDICTS)}")
    return _VERDICTS[name](results)
