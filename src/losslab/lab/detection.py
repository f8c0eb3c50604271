"""Experiment "one-stage detector": focal loss against alpha-balanced cross-entropy on images.

Claim 3 of DESIGN.md measured the way RetinaNet's Table 1 measures it: a small RetinaNet-style
detector (:mod:`losslab.lab.detector`, PyTorch) is trained with ``losslab.torch`` losses on
generated images of shapes on cluttered backgrounds (:mod:`losslab.lab.shapes`) and evaluated
with COCO AP by pycocotools. Outputs: the Table-1-shaped grid with the paper's numbers beside
ours, the best focal model against the best cross-entropy model on several seeds, detections on
test images, the Figure 4 analogue and the effect of the prior initialisation.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ._common import RunContext, loss_cdf_figure, new_figure, save_figure
from .focal import CDF_GAMMAS, _loss_distribution

__all__ = ["PAPER_TABLE1", "SIZES", "THREADS", "run", "units"]

TITLE = "One-stage detector: focal loss vs cross-entropy on images"
CLAIM = (
    "Focal loss, -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017, RetinaNet), down-weights the "
    "many easy background examples so that the rare foreground examples drive learning; "
    "measured here as RetinaNet does, by the COCO AP of a one-stage detector trained on images."
)

#: Threads for torch's intra-op parallelism while the experiment runs (set explicitly, restored
#: afterwards). One: the convolutions are small, and two OpenMP threads on a busy two-core
#: machine spin against each other and made training several times slower (as BLAS threads
#: did in the focal experiment). The numbers are reproducible for a given thread count.
THREADS = 1

#: RetinaNet's Table 1 (Lin et al. 2017; ResNet-50-FPN, 600-pixel images, COCO minival):
#: (a) alpha-balanced cross-entropy over alpha, (b) focal loss over gamma with its best alpha.
#: Values are (AP, AP50, AP75) in percent.
PAPER_TABLE1: dict[str, dict[str, tuple[float, float, float]]] = {
    "ce": {
        "0.1": (0.0, 0.0, 0.0),
        "0.25": (10.8, 16.0, 11.7),
        "0.5": (30.2, 46.7, 32.8),
        "0.75": (31.1, 49.4, 33.0),
        "0.9": (30.8, 49.7, 32.3),
        "0.99": (28.7, 47.4, 29.9),
        "0.999": (25.1, 41.7, 26.1),
    },
    "focal": {
        "0.1,0.75": (31.4, 49.9, 33.1),
        "0.2,0.75": (31.9, 50.7, 33.4),
        "0.5,0.5": (32.9, 51.7, 35.2),
        "1,0.25": (33.7, 52.0, 36.2),
        "2,0.25": (34.0, 52.5, 36.5),
        "5,0.25": (32.2, 49.6, 34.8),
    },
}

_COMMON: dict[str, Any] = {
    "image_size": 128,
    "object_side": (12.0, 40.0),
    "max_objects": 2,
    "batch": 8,
    "lr": 3e-3,
    "widths": (8, 16, 32, 48),
    "channels": 32,
    "depth": 1,
}

SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        **_COMMON,
        "train_images": 96,
        "test_images": 48,
        "steps": 60,
        "replicates": 1,
        "ce_alphas": [0.75],
        "focal_grid": [(2.0, 0.25)],
    },
    "default": {
        **_COMMON,
        "train_images": 384,
        "test_images": 100,
        "steps": 400,
        "replicates": 3,
        "ce_alphas": [0.25, 0.5, 0.75],
        "focal_grid": [(1.0, 0.25), (2.0, 0.25), (1.0, 0.5), (2.0, 0.5)],
    },
    "full": {
        **_COMMON,
        "train_images": 1024,
        "test_images": 200,
        "steps": 1200,
        "replicates": 5,
        "ce_alphas": [0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999],
        "focal_grid": [(g, a) for g in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0) for a in (0.25, 0.5, 0.75)],
    },
}

#: The focal configuration whose trained model feeds the Figure-4 analysis and the prior
#: ablation (the paper's choice).
REFERENCE_FOCAL = (2.0, 0.25)
#: Names of the matplotlib colours C1, C2, C3 that draw the classes' detections.
_COLOUR_NAMES = ("orange", "green", "red")
#: Score above which a detection is drawn in the detections figure.
DRAW_SCORE = 0.3
PRIOR = 0.01


def units(mode: str) -> int:
    """Progress units: one per trained detector plus two (data, figures)."""
    s = SIZES[mode]
    grid = len(s["ce_alphas"]) + len(s["focal_grid"])
    extra = 0 if tuple(REFERENCE_FOCAL) in {tuple(map(float, c)) for c in s["focal_grid"]} else 1
    return grid + extra + 2 + 2 * (int(s["replicates"]) - 1) + 2


def _key(gamma: float, alpha: float, prior: bool = True) -> str:
    name = f"CE alpha={alpha:g}" if gamma == 0 else f"FL gamma={gamma:g} alpha={alpha:g}"
    return name if prior else name + " (bias 0)"


class _Replicate:
    """Data, anchors and targets of one replicate, and the trained detectors' results on it."""

    def __init__(self, ctx: RunContext, s: dict[str, Any], rep: int) -> None:
        import torch

        from . import detector as det
        from .shapes import shape_images

        kw = {
            "size": s["image_size"],
            "side": tuple(s["object_side"]),
            "max_objects": s["max_objects"],
        }
        self.train = shape_images(ctx.rng(4, 0, rep), s["train_images"], **kw)
        self.test = shape_images(ctx.rng(4, 1, rep), s["test_images"], **kw)
        self.spec = det.AnchorSpec()
        self.anchors = det.anchors(self.spec, s["image_size"])
        self.targets = det.targets_for(self.train, self.anchors)
        self.test_targets = det.targets_for(self.test, self.anchors)
        self.X = torch.as_tensor(self.train.images)
        self.X_test = torch.as_tensor(self.test.images)
        self.seed = int(ctx.rng(4, 2, rep).integers(2**31 - 1))
        self.rep = rep


def _train_and_eval(
    ctx: RunContext, s: dict[str, Any], r: _Replicate, gamma: float, alpha: float, prior: bool
) -> tuple[dict[str, Any], Any, dict[str, list[float]], list[Any]]:
    from . import detector as det

    cfg = det.TrainConfig(
        loss="focal",
        gamma=gamma,
        alpha=alpha,
        prior=PRIOR if prior else None,
        steps=s["steps"],
        batch=s["batch"],
        lr=s["lr"],
        widths=tuple(s["widths"]),
        channels=s["channels"],
        depth=s["depth"],
    )
    t0 = time.perf_counter()
    model, hist = det.train_detector(cfg, r.X, r.targets, r.spec, seed=r.seed)
    t_train = time.perf_counter() - t0
    finite = bool(np.all(np.isfinite(hist["cls"])))
    dets = det.detect(model, r.X_test, r.anchors) if finite else []
    if finite:
        metrics = det.coco_eval(r.test.boxes, r.test.labels, dets, r.train.size)
    else:
        metrics = {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR100": 0.0}
    tail = max(1, len(hist["cls"]) // 10)
    record = {
        "replicate": r.rep,
        "gamma": gamma,
        "alpha": alpha,
        "prior_init": prior,
        **metrics,
        "training_finite": finite,
        "first_step_cls_loss": hist["cls"][0],
        "final_cls_loss": float(np.mean(hist["cls"][-tail:])),
        "final_box_loss": float(np.mean(hist["box"][-tail:])),
        "train_s": t_train,
        "total_s": time.perf_counter() - t0,
        "detections_per_image": float(np.mean([len(d.scores) for d in dets])) if dets else 0.0,
    }
    ctx.progress(1)
    return record, model, hist, dets


def _test_logits(model: Any, r: _Replicate) -> tuple[np.ndarray, np.ndarray]:
    """Binary targets and logits of every kept (not ignored) (anchor, class) output on the test
    images, as float64 arrays (n,)."""
    import torch

    with torch.no_grad():
        logits = torch.cat([model(r.X_test[i : i + 32])[0] for i in range(0, len(r.test), 32)])
    y = r.test_targets.cls
    keep = y >= 0
    return y[keep].double().numpy(), logits[keep].double().numpy()


def _t_lower_bound(diffs: list[float], level: float = 0.95) -> float:
    """One-sided lower confidence bound of the mean of ``diffs`` (Student t); nan for fewer
    than two values."""
    if len(diffs) < 2:
        return math.nan
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    se = float(d.std(ddof=1)) / math.sqrt(d.size)
    return float(d.mean() - stats.t.ppf(level, d.size - 1) * se)


def run(ctx: RunContext) -> dict[str, Any]:
    """Train the grid on replicate 0, the best CE and focal models on the other replicates and
    the no-prior ablation; evaluate with COCO AP; return ``{"parameters", "results",
    "figures"}``. torch's thread count is set to :data:`THREADS` and restored afterwards."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _run(ctx, SIZES[ctx.mode])
    finally:
        torch.set_num_threads(prev)


def _run(ctx: RunContext, s: dict[str, Any]) -> dict[str, Any]:
    from .shapes import CLASSES

    t_data = time.perf_counter()
    r0 = _Replicate(ctx, s, 0)
    t_data = time.perf_counter() - t_data
    ctx.progress(1)
    grid: list[tuple[float, float]] = [(0.0, float(a)) for a in s["ce_alphas"]]
    grid += [(float(g), float(a)) for g, a in s["focal_grid"]]
    runs: list[dict[str, Any]] = []
    by_key: dict[str, dict[str, Any]] = {}
    hists: dict[str, dict[str, list[float]]] = {}
    models: dict[str, Any] = {}
    dets: dict[str, list[Any]] = {}
    for gamma, alpha in grid:
        rec, model, hist, d = _train_and_eval(ctx, s, r0, gamma, alpha, True)
        key = _key(gamma, alpha)
        runs.append({"key": key, **rec})
        by_key[key], hists[key], models[key], dets[key] = rec, hist, model, d
    ce_keys = [_key(0.0, a) for g, a in grid if g == 0]
    fl_keys = [_key(g, a) for g, a in grid if g > 0]
    best_ce = max(ce_keys, key=lambda k: by_key[k]["AP"])
    best_fl = max(fl_keys, key=lambda k: by_key[k]["AP"])
    cfg_of = {_key(g, a): (g, a) for g, a in grid}

    # the prior ablation: the best CE and the reference focal loss from a zero bias
    g_ref, a_ref = REFERENCE_FOCAL
    ref_key = _key(g_ref, a_ref)
    if ref_key not in by_key:
        rec, model, hist, d = _train_and_eval(ctx, s, r0, g_ref, a_ref, True)
        runs.append({"key": ref_key, **rec})
        by_key[ref_key], hists[ref_key], models[ref_key] = rec, hist, model
    no_prior: dict[str, Any] = {}
    for key in (best_ce, ref_key):
        g, a = cfg_of.get(key, REFERENCE_FOCAL)
        rec, _, hist, _ = _train_and_eval(ctx, s, r0, g, a, False)
        k0 = _key(g, a, False)
        runs.append({"key": k0, **rec})
        hists[k0] = hist
        no_prior[key] = {
            "with_prior": {m: by_key[key][m] for m in ("AP", "AP50", "AP75")},
            "without_prior": {m: rec[m] for m in ("AP", "AP50", "AP75")},
            "first_step_cls_loss_with_prior": by_key[key]["first_step_cls_loss"],
            "first_step_cls_loss_without_prior": rec["first_step_cls_loss"],
            "training_finite_without_prior": rec["training_finite"],
            "ap_gain_from_prior": by_key[key]["AP"] - rec["AP"],
        }

    # Figure 4 analogue under the trained reference focal model, replicate 0
    y_test, z_test = _test_logits(models[ref_key], r0)
    dist = _loss_distribution(y_test, z_test)

    # replicates: the selected best CE and best focal configurations on new data and weights
    per_rep: list[dict[str, Any]] = [
        {
            "replicate": 0,
            "best_ce": {m: by_key[best_ce][m] for m in ("AP", "AP50", "AP75")},
            "best_focal": {m: by_key[best_fl][m] for m in ("AP", "AP50", "AP75")},
        }
    ]
    for rep in range(1, int(s["replicates"])):
        r = _Replicate(ctx, s, rep)
        row: dict[str, Any] = {"replicate": rep}
        for name, key in (("best_ce", best_ce), ("best_focal", best_fl)):
            g, a = cfg_of[key]
            rec, _, _, _ = _train_and_eval(ctx, s, r, g, a, True)
            runs.append({"key": key, **rec})
            row[name] = {m: rec[m] for m in ("AP", "AP50", "AP75")}
        per_rep.append(row)
    diffs = [p["best_focal"]["AP"] - p["best_ce"]["AP"] for p in per_rep]
    mean_ce = float(np.mean([p["best_ce"]["AP"] for p in per_rep]))
    mean_fl = float(np.mean([p["best_focal"]["AP"] for p in per_rep]))

    n_img = len(r0.train)
    n_anchor = int(r0.anchors.shape[0])
    n_pos = int(r0.targets.positive.sum())
    n_obj = sum(len(b) for b in r0.train.boxes)
    n_ign = int((r0.targets.cls[..., 0] == -1).sum())
    results = {
        "grid": {
            "ce": [
                {"alpha": a, **{m: by_key[_key(0.0, a)][m] for m in ("AP", "AP50", "AP75")}}
                for g, a in grid
                if g == 0
            ],
            "focal": [
                {
                    "gamma": g,
                    "alpha": a,
                    **{m: by_key[_key(g, a)][m] for m in ("AP", "AP50", "AP75")},
                }
                for g, a in grid
                if g > 0
            ],
        },
        "best_ce": {"key": best_ce, "gamma": 0.0, "alpha": cfg_of[best_ce][1]},
        "best_focal": {"key": best_fl, "gamma": cfg_of[best_fl][0], "alpha": cfg_of[best_fl][1]},
        "replicates": int(s["replicates"]),
        "per_replicate": per_rep,
        "best_ce_mean_ap": mean_ce,
        "best_focal_mean_ap": mean_fl,
        "focal_minus_ce_ap": {
            "per_replicate": diffs,
            "mean": float(np.mean(diffs)),
            "sd": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan,
            "min": float(np.min(diffs)),
            "lower_95": _t_lower_bound(diffs),
            "selection": "configurations chosen on replicate 0; replicates 1.. confirm",
        },
        "no_prior": no_prior,
        "loss_distribution": {
            **dist,
            "model": ref_key,
            "positives": int(y_test.sum()),
            "negatives": int(y_test.size - y_test.sum()),
        },
        "data": {
            "train_images": n_img,
            "test_images": len(r0.test),
            "classes": list(CLASSES),
            "anchors_per_image": n_anchor,
            "objects_per_image": n_obj / n_img,
            "positive_anchors_per_image": n_pos / n_img,
            "positive_anchors_per_object": n_pos / max(n_obj, 1),
            "ignored_anchors_per_image": n_ign / n_img,
            "positive_anchor_fraction": n_pos / (n_img * n_anchor),
            "positive_output_fraction": n_pos / (n_img * n_anchor * len(CLASSES)),
            "generation_s": t_data,
        },
        "runs": runs,
        "paper_table1": {k: {kk: list(v) for kk, v in d.items()} for k, d in PAPER_TABLE1.items()},
    }
    figures = _figures(ctx, results, r0, hists, dets, best_ce, best_fl, ref_key)
    ctx.progress(1)
    return {
        "parameters": {
            **{k: v for k, v in s.items()},
            "threads": THREADS,
            "anchors": {
                "strides": list(r0.spec.strides),
                "sizes": "2 x stride x {1, 2^(1/3), 2^(2/3)}",
                "aspects_h_over_w": list(r0.spec.aspects),
                "per_position": r0.spec.per_position,
            },
            "matching": "IoU >= 0.5 foreground, < 0.4 background, in between ignored "
            "(ignore_index=-1); each object's best anchor is also foreground",
            "classification_loss": "losslab.torch.FocalLoss(gamma, alpha, "
            "reduction='positives', ignore_index=-1); gamma = 0 is alpha-balanced CE",
            "box_loss": "losslab.torch.HuberLoss(delta=0.11, reduction='sum') / 0.11 / "
            "number of positive anchors (smooth L1, beta 0.11)",
            "optimizer": f"Adam, lr {s['lr']}, cosine decay to 0, batch {s['batch']} images",
            "prior_pi": PRIOR,
            "inference": "score > 0.05, top 1000, NMS IoU 0.5 per class, 100 per image",
            "evaluation": "pycocotools COCOeval, iouType bbox",
            "reference_focal_model": {"gamma": g_ref, "alpha": a_ref},
            "cdf_gammas": list(CDF_GAMMAS),
        },
        "results": results,
        "figures": figures,
    }


def _draw(ax: Any, image: np.ndarray, gt: np.ndarray, d: Any, title: str) -> None:
    import matplotlib.patches as mpatches

    from .shapes import CLASSES

    ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
    for b in gt:
        ax.add_patch(
            mpatches.Rectangle(
                (b[0] - 0.5, b[1] - 0.5),
                b[2] - b[0],
                b[3] - b[1],
                fill=False,
                ec="white",
                ls="--",
                lw=1.2,
            )
        )
    if d is not None:
        import torch

        from .detector import batched_nms

        # for legibility: one box per place (class-agnostic NMS at IoU 0.5 among those drawn)
        shown = np.flatnonzero(d.scores >= DRAW_SCORE)
        keep = batched_nms(
            torch.as_tensor(d.boxes[shown]),
            torch.as_tensor(d.scores[shown]),
            torch.zeros(shown.size, dtype=torch.int64),
            0.5,
        ).numpy()
        for i in shown[keep]:
            b, sc, c = d.boxes[i], d.scores[i], d.labels[i]
            col = f"C{int(c) + 1}"
            ax.add_patch(
                mpatches.Rectangle(
                    (b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False, ec=col, lw=1.6
                )
            )
            ax.text(
                b[0],
                b[1] - 1,
                f"{CLASSES[int(c)][:4]} {sc:.2f}",
                color="white",
                fontsize=6,
                va="bottom",
                bbox={"facecolor": col, "alpha": 0.8, "pad": 0.5, "lw": 0},
            )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def _figures(
    ctx: RunContext,
    results: dict[str, Any],
    r0: _Replicate,
    hists: dict[str, dict[str, list[float]]],
    dets: dict[str, list[Any]],
    best_ce: str,
    best_fl: str,
    ref_key: str,
) -> list[dict[str, str]]:
    figs = []
    n_show = min(4, len(r0.test))
    fig, axes = new_figure(2, n_show, width=2.6 * n_show, height=5.6)
    by_key = {r["key"]: r for r in results["runs"] if r["replicate"] == 0 and r["prior_init"]}
    for row, key in enumerate((best_ce, best_fl)):
        for j in range(n_show):
            _draw(
                axes[row][j],
                r0.test.images[j],
                r0.test.boxes[j],
                dets[key][j] if dets.get(key) else None,
                f"{key} (AP {100 * by_key[key]['AP']:.1f})" if j == 0 else f"test image {j}",
            )
    figs.append(
        save_figure(
            fig,
            ctx,
            "detector_detections",
            f"Detections with score >= {DRAW_SCORE} (for legibility only the best of boxes of any "
            "class overlapping by IoU > 0.5) on the first test images, best alpha-balanced "
            f"cross-entropy model (top row, {best_ce}) and best focal-loss model (bottom row, "
            f"{best_fl}); ground truth dashed white; predicted boxes coloured by class: "
            + ", ".join(f"{c} {_COLOUR_NAMES[k]}" for k, c in enumerate(results["data"]["classes"]))
            + ".",
        )
    )

    # Figure 4 analogue
    dist = results["loss_distribution"]
    fig = loss_cdf_figure(
        dist,
        xlabel=lambda group: f"fraction of {group} (sorted by loss)",
        title=lambda group: f"{group}: {dist[group]} test (anchor, class) outputs",
        unit_limits=True,
    )
    figs.append(
        save_figure(
            fig,
            ctx,
            "detector_loss_cdf",
            "The paper's Figure 4 on our detector: cumulative distribution of the normalised "
            "loss of positive and negative (anchor, class) outputs on the test images under the "
            f"trained {ref_key} model, the loss evaluated with several gamma. For the negatives, "
            "gamma = 2 puts nearly all the loss on a small fraction of hard examples.",
        )
    )

    # prior initialisation: classification loss during training, with and without
    fig, axes = new_figure(1, 1, width=6.5, height=4)
    ax = axes[0][0]
    for k, key in enumerate(results["no_prior"]):
        (g, a) = (0.0, results["best_ce"]["alpha"]) if key == best_ce else REFERENCE_FOCAL
        for prior, ls in ((True, "-"), (False, "--")):
            h = np.asarray(hists[_key(g, a, prior)]["cls"], dtype=np.float64)
            ax.semilogy(
                np.arange(1, h.size + 1),
                h,
                color=f"C{3 * k}",
                ls=ls,
                lw=1,
                label=f"{key}, " + ("prior init" if prior else "bias 0"),
            )
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("classification loss / positive anchors")
    ax.legend(fontsize=8)
    figs.append(
        save_figure(
            fig,
            ctx,
            "detector_prior_init",
            "Classification loss during training (per positive anchor, replicate 0) with the "
            f"prior initialisation of the last bias (pi = {PRIOR}) and from a zero bias, where "
            "every output starts at p = 0.5 and the background outputs dominate the loss.",
        )
    )

    # the data
    n = min(6, len(r0.train))
    fig, axes = new_figure(1, n, width=2.0 * n, height=2.3)
    for j in range(n):
        _draw(axes[0][j], r0.train.images[j], r0.train.boxes[j], None, f"train image {j}")
    figs.append(
        save_figure(
            fig,
            ctx,
            "detector_data",
            "Training images with their ground-truth boxes (dashed): rectangles, ellipses and "
            "triangles among distractors (outlines of the same shapes, lines, small blobs) on "
            "textured backgrounds.",
        )
    )
    return figs
