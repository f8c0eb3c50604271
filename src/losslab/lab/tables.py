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
    b = r["boosting"]
    if b.get("status") == "ran":
        t6 = Table(
            f"Boosting comparison: {b['library']}, {b['rounds']} rounds, "
            f"{', '.join(f'{k}={v}' for k, v in b['params'].items() if not k.endswith('_extra'))}"
            "; objective and init margin from losslab.xgboost (focal: its FOCAL_DEFAULTS).",
            ["loss", "AP x 100 (held-out anchors)", "time"],
            [[name, fmt(100 * ap), f"{fmt(b['time_s'][name])} s"] for name, ap in b["ap"].items()],
        )
    else:
        t6 = Table("Boosting comparison.", ["status"], [[b.get("reason", "?")]])
    return [t1, t2, t3, t4, t5, t6]


_TABLES = {"logits": _logits, "regression": _regression, "focal": _focal}


def tables_for(name: str, results: Mapping[str, Any]) -> list[Table]:
    """The tables of experiment ``name`` (empty for an unknown name)."""
    f = _TABLES.get(name)
    return f(results) if f is not None else []
