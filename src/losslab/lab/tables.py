"""The report's tables: plain rows of strings built from each experiment's results dict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Table", "fmt", "tables_for"]


@dataclass
class Table:
    """A caption, a header row and body rows of preformatted cells; ``bold`` lists the (row,
    column) cells to emphasise."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)


def fmt(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; None -> "–", inf/nan spelled out."""
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    v = float(x)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.{digits}g}"
    return f"{v:.{digits - 1}e}"


def _logits(r: Mapping[str, Any]) -> list[Table]:
    rows = []
    for dtype, per in r["routes"].items():
        for y, c in per.items():
            lo, hi = c["agree_interval"]
            rows.append(
                [
                    dtype,
                    y,
                    fmt(c["logit_max_ulp"]),
                    fmt(c["proba_central_max_ulp"]),
                    f"[{fmt(lo)}, {fmt(hi)}]",
                    fmt(c["p_rounds_to_1_from_z"]),
                    fmt(c["p_rounds_to_0_below_z"]),
                    fmt(c["proba_n_nonfinite"]),
                    fmt(c["proba_frac_rel_error_over_1pct"]),
                ]
            )
    t1 = Table(
        "The two routes against the extended-precision reference on the z grid.",
        [
            "dtype",
            "y",
            "logit route: worst ulps",
            "proba route: worst ulps, |z| <= 1",
            "proba route within 16 ulps for z in",
            "p rounds to 1 from z",
            "p rounds to 0 below z",
            "proba route: non-finite values",
            "proba route: share of grid with rel. error > 1 %",
        ],
        rows,
    )
    rows = []
    for dtype, c in r["clip"].items():
        for i, z in enumerate(c["z"]):
            rows.append(
                [
                    dtype,
                    fmt(c["eps"]),
                    fmt(z),
                    fmt(c["true_loss"][i]),
                    fmt(c["clipped_loss"][i]),
                    fmt(c["true_gradient"][i]),
                    fmt(c["clipped_gradient"][i]),
                    fmt(c["unclipped_proba_gradient"][i]),
                ]
            )
    t2 = Table(
        "A confidently wrong example (y = 1, logit z): loss and gradient with respect to z, true "
        "and through p clipped to [eps, 1 - eps] (chain rule, as autodiff computes it).",
        [
            "dtype",
            "eps",
            "z",
            "true loss",
            "clipped loss",
            "true gradient",
            "clipped gradient",
            "unclipped proba-route gradient",
        ],
        rows,
    )
    return [t1, t2]


def _regression(r: Mapping[str, Any]) -> list[Table]:
    conv = r["convergence"]
    methods = list(conv["methods"])
    labels = list(conv["f_star"])
    rows = []
    for label in labels:
        row = [label, fmt(conv["f_star"][label], 6)]
        for m in methods:
            c = conv["methods"][m][label]
            if c["iterations"] is None:
                row.append(f"not reached (gap {fmt(c['final_gap'], 2)})")
            else:
                row.append(f"{c['iterations']} it, {fmt(1000 * c['time_s'], 2)} ms")
        rows.append(row)
    t1 = Table(
        "Iterations (and time) to reach the relative objective gap tolerance on clean data.",
        ["loss", "f*", *[m.replace("_", " ") for m in methods]],
        rows,
    )
    out = r["outliers"]
    tabs = [t1]
    for kind, title in (("targets", "outlying targets"), ("leverage", "bad leverage points")):
        rows = [[label, *[fmt(v, 2) for v in out[kind][label]["median_error"]]] for label in labels]
        bold = set()
        for j in range(len(out["fractions"])):
            col = [out[kind][label]["median_error"][j] for label in labels]
            bold.add((col.index(min(col)), j + 1))
        tabs.append(
            Table(
                f"Relative coefficient error (median over repetitions) with {title}; best in bold.",
                ["loss", *[f"{100 * f:g} %" for f in out["fractions"]]],
                rows,
                bold,
            )
        )
    g = r["gradient"]
    tabs.append(
        Table(
            "|gradient| of each loss at a few residuals.",
            ["loss", *[f"r = {x:g}" for x in g["residuals"]]],
            [[label, *[fmt(v) for v in g[label]]] for label in labels],
        )
    )
    return tabs


def _focal(r: Mapping[str, Any]) -> list[Table]:
    tab = r["ap_table"]
    rows = [["CE (alpha = None)", "0", fmt(100 * r["ce_ap"], 3), *[""] * (len(tab["alphas"]) - 1)]]
    bold = set()
    best = max(max(row) for row in tab["ap"])
    for i, g in enumerate(tab["gammas"]):
        row = ["alpha-balanced CE" if g == 0 else "focal loss", fmt(g)]
        for j, v in enumerate(tab["ap"][i]):
            row.append(fmt(100 * v, 3))
            if v == best:
                bold.add((i + 1, j + 2))
        rows.append(row)
    reps = r.get("repeats", 1)
    t1 = Table(
        f"Average precision (x 100) on held-out anchors, mean over {reps} replicate(s), shaped "
        "like RetinaNet's Table 1: rows gamma, columns alpha (alpha weights the positives); "
        "best in bold.",
        ["loss", "gamma", *[f"alpha = {a:g}" for a in tab["alphas"]]],
        rows,
        bold,
    )
    b = r["focal_minus_ce_bootstrap"]
    per = ", ".join(fmt(100 * d) for d in r.get("per_repeat", {}).get("focal_minus_ce_ap", []))
    t2 = Table(
        f"Best focal loss ({b.get('focal_model', '-')}) against best cross-entropy "
        f"({b.get('cross_entropy_model', '-')}), AP x 100: difference of the mean APs, the mean "
        "over replicates of paired bootstrap resamples of test images, and each replicate.",
        [
            "best focal AP",
            "best CE AP",
            "difference",
            "bootstrap 5 %",
            "median",
            "95 %",
            "resamples",
            "difference per replicate",
        ],
        [
            [
                fmt(100 * r["best_focal_ap"]),
                fmt(100 * r["best_cross_entropy_ap"]),
                fmt(100 * r["focal_minus_ce_ap"]),
                fmt(100 * b["difference_p05"]) if "difference_p05" in b else "–",
                fmt(100 * b["difference_median"]) if "difference_median" in b else "–",
                fmt(100 * b["difference_p95"]) if "difference_p95" in b else "–",
                fmt(b.get("n_resamples")),
                per,
            ]
        ],
    )
    summ = r["loss_distribution"]["summary"]
    t3 = Table(
        "Where the loss goes on held-out anchors under the gamma = 2 model (Figure 4 numbers).",
        [
            "gamma",
            "positives' share of total loss",
            "hardest 1 % of negatives",
            "hardest 10 % of negatives",
            "hardest 20 % of positives",
        ],
        [
            [
                g,
                fmt(s["positive_share_of_total_loss"]),
                fmt(s["hardest_1pct_negatives_share"]),
                fmt(s["hardest_10pct_negatives_share"]),
                fmt(s["hardest_20pct_positives_share"]),
            ]
            for g, s in summ.items()
        ],
    )
    n = r["no_prior"]
    t4 = Table(
        "Prior initialisation (output bias -log((1 - 0.01) / 0.01)) against a zero bias.",
        ["model", "AP x 100 with prior", "AP x 100 without", "first-step loss / positive"],
        [
            [
                "CE",
                fmt(100 * n["ce_ap_with_prior"]),
                fmt(100 * n["ce_ap"]),
                f"{fmt(n['ce_initial_loss_with_prior'])} with, {fmt(n['ce_initial_loss'])} without",
            ],
            [
                "focal (gamma 2, alpha 0.25)",
                fmt(100 * n["focal_ap_with_prior"]),
                fmt(100 * n["focal_ap"]),
                "",
            ],
        ],
    )
    ts, tr = r["test_set"], r["train_set"]
    t5 = Table(
        "Data.",
        ["split", "anchors", "positives", "hard negatives"],
        [
            ["train", fmt(tr["anchors"]), fmt(tr["positives"]), fmt(tr["hard_negatives"])],
            ["test", fmt(ts["anchors"]), fmt(ts["positives"]), fmt(ts["hard_negatives"])],
        ],
    )
    return [t1, t2, t3, t4, t5, _boosting_table(r["boosting"])]


_TREE_KEYS = ("min_child_weight", "max_delta_step")


def _boosting_table(b: Mapping[str, Any]) -> Table:
    """One row per (library, loss) that ran; a status row for a library that did not."""
    libs = b.get("libraries")
    if not libs:  # results written before LightGBM joined: one XGBoost record
        libs = {"xgboost": b}
    rows = []
    for lib, rec in libs.items():
        if rec.get("status") != "ran":
            rows.append([lib, rec.get("reason", "?"), "", "", ""])
            continue
        base = {k: v for k, v in rec["params"].items() if not k.endswith("_extra")}
        for name, ap in rec["ap"].items():
            extra = rec["params"].get(f"{name}_extra", {})
            # the tree parameters, with the focal defaults (min_child_weight, max_delta_step)
            merged = {**base, **{k: v for k, v in extra.items() if k in _TREE_KEYS}}
            rows.append(
                [
                    rec.get("library", lib),
                    name,
                    fmt(100 * ap),
                    f"{fmt(rec['time_s'][name])} s",
                    f"{rec['rounds']} rounds, " + ", ".join(f"{k}={v}" for k, v in merged.items()),
                ]
            )
    return Table(
        "Boosting comparison on the same anchors: objective and init score from losslab.xgboost "
        "and losslab.lightgbm (focal: their FOCAL_DEFAULTS).",
        ["library", "loss", "AP x 100 (held-out anchors)", "time", "parameters"],
        rows,
    )


def _paper(row: Any) -> list[str]:
    return [fmt(v) for v in row] if row is not None else ["–", "–", "–"]


def _detection(r: Mapping[str, Any]) -> list[Table]:
    paper = r["paper_table1"]
    grid = r["grid"]
    best_ap = max(c["AP"] for c in [*grid["ce"], *grid["focal"]])
    rows, bold = [], set()
    for c in grid["ce"]:
        rows.append(
            [
                "alpha-balanced CE",
                "0",
                fmt(c["alpha"]),
                *[fmt(100 * c[m]) for m in ("AP", "AP50", "AP75")],
                *_paper(paper["ce"].get(f"{c['alpha']:g}")),
            ]
        )
        if c["AP"] == best_ap:
            bold.add((len(rows) - 1, 3))
    for c in grid["focal"]:
        rows.append(
            [
                "focal loss",
                fmt(c["gamma"]),
                fmt(c["alpha"]),
                *[fmt(100 * c[m]) for m in ("AP", "AP50", "AP75")],
                *_paper(paper["focal"].get(f"{c['gamma']:g},{c['alpha']:g}")),
            ]
        )
        if c["AP"] == best_ap:
            bold.add((len(rows) - 1, 3))
    t1 = Table(
        "Shaped like RetinaNet's Table 1: COCO AP, AP50, AP75 (x 100, pycocotools) on the test "
        "images of seed 0 (replicate 0), and the paper's numbers for the same (gamma, alpha) "
        "(Table 1a: CE over alpha; Table 1b: focal loss with its best alpha; ResNet-50-FPN, "
        "600-pixel COCO images; '–': not in the paper). Best of ours in bold.",
        ["loss", "gamma", "alpha", "AP", "AP50", "AP75", "paper AP", "paper AP50", "paper AP75"],
        rows,
        bold,
    )
    d = r["focal_minus_ce_ap"]
    rows = []
    for p in r["per_replicate"]:
        rows.append(
            [
                str(p["replicate"]) + (" (selection)" if p["replicate"] == 0 else ""),
                *[fmt(100 * p["best_ce"][m]) for m in ("AP", "AP50", "AP75")],
                *[fmt(100 * p["best_focal"][m]) for m in ("AP", "AP50", "AP75")],
                fmt(100 * (p["best_focal"]["AP"] - p["best_ce"]["AP"])),
            ]
        )
    rows.append(
        [
            "mean",
            fmt(100 * r["best_ce_mean_ap"]),
            "",
            "",
            fmt(100 * r["best_focal_mean_ap"]),
            "",
            "",
            f"{fmt(100 * d['mean'])} (sd {fmt(100 * d['sd'])}, 95 % lower bound "
            f"{fmt(100 * d['lower_95'])})",
        ]
    )
    t2 = Table(
        f"Best cross-entropy ({r['best_ce']['key']}) against best focal loss "
        f"({r['best_focal']['key']}), both chosen on seed 0 (replicate 0), retrained on "
        "independent seeds (new images, weights and batches); COCO metrics x 100.",
        ["seed", "CE AP", "CE AP50", "CE AP75", "FL AP", "FL AP50", "FL AP75", "FL - CE (AP)"],
        rows,
    )
    summ = r["loss_distribution"]["summary"]
    t3 = Table(
        "Where the loss goes on the test outputs under the trained "
        f"{r['loss_distribution']['model']} model (Figure 4 numbers).",
        [
            "gamma",
            "positives' share of total loss",
            "hardest 1 % of negatives",
            "hardest 10 % of negatives",
            "hardest 20 % of positives",
        ],
        [
            [
                g,
                fmt(v["positive_share_of_total_loss"]),
                fmt(v["hardest_1pct_negatives_share"]),
                fmt(v["hardest_10pct_negatives_share"]),
                fmt(v["hardest_20pct_positives_share"]),
            ]
            for g, v in summ.items()
        ],
    )
    rows = []
    for key, n in r["no_prior"].items():
        rows.append(
            [
                key,
                fmt(100 * n["with_prior"]["AP"]),
                fmt(100 * n["without_prior"]["AP"]),
                fmt(n["first_step_cls_loss_with_prior"]),
                fmt(n["first_step_cls_loss_without_prior"]),
                fmt(n["training_finite_without_prior"]),
            ]
        )
    t4 = Table(
        "Prior initialisation of the last classification bias (pi = 0.01, "
        "losslab.torch.prior_bias) against a zero bias, seed 0: COCO AP x 100 and the "
        "classification loss per positive anchor at the first step.",
        [
            "model",
            "AP with prior",
            "AP from bias 0",
            "first-step loss, prior",
            "first-step loss, bias 0",
            "bias-0 training finite",
        ],
        rows,
    )
    dd = r["data"]
    t5 = Table(
        "Data and anchors (seed 0, training set).",
        ["quantity", "value"],
        [
            ["training / test images", f"{dd['train_images']} / {dd['test_images']}"],
            ["classes", ", ".join(dd["classes"])],
            ["anchors per image", fmt(dd["anchors_per_image"])],
            ["objects per image", fmt(dd["objects_per_image"])],
            ["positive anchors per image", fmt(dd["positive_anchors_per_image"])],
            ["positive anchors per object", fmt(dd["positive_anchors_per_object"])],
            ["ignored anchors per image", fmt(dd["ignored_anchors_per_image"])],
            [
                "positive : all anchors",
                f"1 : {fmt(1 / dd['positive_anchor_fraction'])}",
            ],
            [
                "positive : all (anchor, class) outputs",
                f"1 : {fmt(1 / dd['positive_output_fraction'])}",
            ],
        ],
    )
    return [t1, t2, t3, t4, t5]


_TABLES = {
    "logits": _logits,
    "regression": _regression,
    "focal": _focal,
    "detection": _detection,
}


def tables_for(name: str, results: Mapping[str, Any]) -> list[Table]:
    """The tables of experiment ``name`` (empty for an unknown name)."""
    f = _TABLES.get(name)
    return f(results) if f is not None else []
