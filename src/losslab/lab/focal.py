"""Experiment "focal loss and imbalance": a simulated dense detector trained with CE and focal loss.

Claim 3 of DESIGN.md: focal loss, -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017, RetinaNet),
down-weights the many easy background examples so that the rare foreground examples drive
learning. A small NumPy MLP is trained on simulated anchors (foreground:background about 1:1000,
easy and hard negatives) with losslab's gradients, minibatch Adam, the prior initialisation and
the RetinaNet normalisation by the number of positives; the outputs mirror the paper's Table 1
(average precision over gamma and alpha), Figure 1 (loss against p_t) and Figure 4 (cumulative
distribution of the normalised loss of positives and negatives).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import losslab

from ._common import RunContext, loss_cdf_figure, new_figure, save_figure
from .data import DetectionData, detection_data
from .metrics import average_precision

__all__ = ["boosting_comparison", "boosting_status", "run", "train", "units"]

TITLE = "Focal loss and imbalance"
CLAIM = (
    "Focal loss, -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017, RetinaNet), down-weights the "
    "many easy background examples so that the rare foreground examples drive learning."
)

SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "anchors_per_image": 1000,
        "positives_per_image": 1.0,
        "train_images": 60,
        "test_images": 60,
        "steps": 120,
        "batch_images": 6,
        "bootstrap": 20,
        "repeats": 1,
        "boost_rounds": 20,
        "hidden": 16,
        "gammas": [0.0, 2.0],
        "alphas": [0.25, 0.75],
    },
    "default": {
        "anchors_per_image": 1000,
        "positives_per_image": 1.0,
        "train_images": 300,
        "test_images": 400,
        "steps": 400,
        "batch_images": 8,
        "bootstrap": 100,
        "repeats": 3,
        "boost_rounds": 60,
        "hidden": 16,
        "gammas": [0.0, 0.5, 1.0, 2.0, 5.0],
        "alphas": [0.25, 0.5, 0.75],
    },
    "full": {
        "anchors_per_image": 2000,
        "positives_per_image": 2.0,
        "train_images": 600,
        "test_images": 500,
        "steps": 1500,
        "batch_images": 8,
        "bootstrap": 200,
        "repeats": 5,
        "boost_rounds": 300,
        "hidden": 32,
        "gammas": [0.0, 0.5, 1.0, 2.0, 5.0],
        "alphas": [0.25, 0.5, 0.75],
    },
}
PRIOR = 0.01
LEARNING_RATE = 0.01
CDF_GAMMAS = (0.0, 0.5, 1.0, 2.0)
FIG1_GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)
#: The (gamma, alpha) whose trained model feeds the Figure-4 analysis (the paper's choice).
REFERENCE_MODEL = (2.0, 0.25)


def units(mode: str) -> int:
    """Number of progress units this experiment reports (one per trained model, plus one)."""
    s = SIZES[mode]
    return int(s["repeats"]) * (len(s["gammas"]) * len(s["alphas"]) + 3) + 4


#: Boosting comparison: the losses, and the parameters of each library (trees of depth 4,
#: learning rate 0.1; LightGBM's 15 leaves are what a depth-4 tree can hold, and its
#: min_child_weight is set to XGBoost's default 1: with LightGBM's 1e-3 a leaf can isolate a
#: single positive of this rare class, and log loss overfits (AP 0.03 against 0.21 on the quick
#: data, the same with LightGBM's built-in "binary" objective). Focal loss overrides it with the
#: integration's FOCAL_DEFAULTS, as it does for XGBoost.
BOOSTING_LOSSES: dict[str, tuple[float, float | None]] = {
    "log_loss": (0.0, None),
    "focal": (2.0, 0.25),
}
BOOSTING_PARAMS: dict[str, Any] = {"tree_method": "hist", "max_depth": 4, "eta": 0.1}
LIGHTGBM_PARAMS: dict[str, Any] = {
    "max_depth": 4,
    "num_leaves": 15,
    "learning_rate": 0.1,
    "min_child_weight": 1.0,
}
#: Library -> (losslab integration module, the library's import name).
BOOSTING_LIBRARIES: dict[str, tuple[str, str]] = {
    "xgboost": ("losslab.xgboost", "xgboost"),
    "lightgbm": ("losslab.lightgbm", "lightgbm"),
}


def boosting_status(library: str = "xgboost") -> dict[str, str]:
    """Whether the boosting comparison can run with ``library`` ("xgboost" or "lightgbm"): it
    needs losslab's integration module and the library itself.

    Returns ``{"status": "available"}`` or ``{"status": "skipped", "reason": "skipped: ..."}``.
    Raises ValueError for an unknown library.
    """
    if library not in BOOSTING_LIBRARIES:
        raise ValueError(f"unknown library {library!r}; use one of {list(BOOSTING_LIBRARIES)}")
    integration, host = BOOSTING_LIBRARIES[library]
    try:
        if importlib.util.find_spec(integration) is None:
            return {
                "status": "skipped",
                "reason": f"skipped: integration not available ({integration} does not exist)",
            }
    except ImportError:  # pragma: no cover - a broken parent package
        return {"status": "skipped", "reason": "skipped: integration not available"}
    if importlib.util.find_spec(host) is None:
        return {"status": "skipped", "reason": f"skipped: {host} is not installed"}
    return {"status": "available"}


def _xgboost_margin(
    loss: Any, train_d: DetectionData, test_d: DetectionData, rounds: int, seed: int
) -> tuple[np.ndarray, dict[str, Any], str]:
    import xgboost

    import losslab.xgboost as lx

    params = {**BOOSTING_PARAMS, "nthread": 2, "seed": seed, "disable_default_eval_metric": 1}
    if loss.name == "focal":
        params.update(lx.FOCAL_DEFAULTS)
    dtrain = xgboost.DMatrix(
        train_d.X, label=train_d.y, base_margin=lx.init_margin(loss, train_d.y)
    )
    booster = xgboost.train(params, dtrain, rounds, obj=lx.objective(loss))
    dtest = xgboost.DMatrix(test_d.X, base_margin=lx.init_margin(loss, train_d.y, n=test_d.y.size))
    margin = np.asarray(booster.predict(dtest, output_margin=True), dtype=np.float64)
    return margin, params, f"xgboost {xgboost.__version__}"


def _lightgbm_margin(
    loss: Any, train_d: DetectionData, test_d: DetectionData, rounds: int, seed: int
) -> tuple[np.ndarray, dict[str, Any], str]:
    import lightgbm

    import losslab.lightgbm as ll

    params: dict[str, Any] = {
        **LIGHTGBM_PARAMS,
        "num_threads": 2,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "metric": "None",
        "verbosity": -1,
    }
    if loss.name == "focal":
        params.update(ll.FOCAL_DEFAULTS)
    init = ll.init_score(loss, train_d.y)
    dtrain = lightgbm.Dataset(train_d.X, label=train_d.y, init_score=init)
    booster = lightgbm.train({**params, "objective": ll.objective(loss)}, dtrain, rounds)
    # LightGBM never adds the init score back: add it (a constant) to the raw scores
    margin = np.asarray(booster.predict(test_d.X, raw_score=True), dtype=np.float64) + init[0]
    return margin, params, f"lightgbm {lightgbm.__version__}"


def _one_library(
    library: str, train_d: DetectionData, test_d: DetectionData, rounds: int, seed: int
) -> dict[str, Any]:
    status = boosting_status(library)
    if status["status"] != "available":
        return status
    fit = _xgboost_margin if library == "xgboost" else _lightgbm_margin
    base = BOOSTING_PARAMS if library == "xgboost" else LIGHTGBM_PARAMS
    try:
        out: dict[str, Any] = {"status": "ran", "rounds": rounds, "params": dict(base)}
        out["ap"], out["time_s"] = {}, {}
        for name, (gamma, alpha) in BOOSTING_LOSSES.items():
            t0 = time.perf_counter()
            margin, params, version = fit(_loss(gamma, alpha), train_d, test_d, rounds, seed)
            out["library"] = version
            out["time_s"][name] = time.perf_counter() - t0
            out["ap"][name] = average_precision(test_d.y, margin)
            out["params"][f"{name}_extra"] = {
                k: v for k, v in params.items() if k not in base or base[k] != v
            }
        out["focal_minus_log_loss_ap"] = out["ap"]["focal"] - out["ap"]["log_loss"]
        return out
    except Exception as exc:  # an integration bug must not sink the whole report
        return {"status": "failed", "reason": f"failed: {type(exc).__name__}: {exc}"}


def boosting_comparison(
    train_d: DetectionData, test_d: DetectionData, *, rounds: int, seed: int
) -> dict[str, Any]:
    """Gradient-boosted trees trained on the same anchors with cross-entropy and with focal loss
    (gamma 2, alpha 0.25), with XGBoost (native API through ``losslab.xgboost``) and LightGBM
    (native API through ``losslab.lightgbm``): the objective, the init score
    (``fit_intercept_only``) and, for focal, the integration's ``FOCAL_DEFAULTS`` come from
    losslab. Returns ``{"status", "libraries": {library: record}}``, where each record holds
    the AP of each loss on the held-out anchors, or is a "skipped" record when the integration
    or the library is missing, or "failed" with the error message. ``status`` is "ran" when at
    least one library ran, else "skipped" (or "failed" if one failed) with the reasons joined.
    """
    libs = {lib: _one_library(lib, train_d, test_d, rounds, seed) for lib in BOOSTING_LIBRARIES}
    statuses = {r["status"] for r in libs.values()}
    if "ran" in statuses:
        return {"status": "ran", "libraries": libs}
    status = "failed" if "failed" in statuses else "skipped"
    reasons = "; ".join(f"{lib}: {r['reason']}" for lib, r in libs.items())
    return {"status": status, "reason": f"{status}: {reasons}", "libraries": libs}


def _loss(gamma: float, alpha: float | None) -> Any:
    """Cross-entropy for (0, None), alpha-balanced CE for (0, alpha), focal loss otherwise."""
    if gamma == 0.0 and alpha is None:
        return losslab.get_loss("log_loss")
    return losslab.get_loss("focal", gamma=float(gamma), alpha=alpha)


@dataclass
class MLP:
    """One hidden ReLU layer (or none when ``W1`` has zero columns): z = relu(X W1 + b1) w2 + b2.

    Shapes: W1 (d, h), b1 (h,), w2 (h,), b2 (); X (n, d) -> z (n,).
    """

    W1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    @classmethod
    def init(cls, rng: np.random.Generator, d: int, hidden: int, bias: float) -> MLP:
        """He-initialised hidden layer, output weights N(0, 0.01^2) and output bias ``bias``
        (RetinaNet: -log((1 - pi) / pi) for the prior pi)."""
        return cls(
            rng.standard_normal((d, hidden)) * np.sqrt(2.0 / d),
            np.zeros(hidden),
            rng.standard_normal(hidden) * 0.01,
            np.asarray(float(bias)),
        )

    def params(self) -> list[np.ndarray]:
        return [self.W1, self.b1, self.w2, self.b2]

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (z (n,), pre-activations A (n, h))."""
        A = X @ self.W1 + self.b1
        z = np.maximum(A, 0.0) @ self.w2 + self.b2
        return z, A

    def backward(self, X: np.ndarray, A: np.ndarray, gz: np.ndarray) -> list[np.ndarray]:
        """Gradients of sum(gz * z) with respect to (W1, b1, w2, b2)."""
        H = np.maximum(A, 0.0)
        gA = np.outer(gz, self.w2) * (A > 0)
        return [X.T @ gA, gA.sum(axis=0), H.T @ gz, np.asarray(gz.sum())]


def train(
    data: DetectionData,
    loss: Any,
    *,
    rng: np.random.Generator,
    steps: int,
    batch_images: int,
    hidden: int,
    prior_init: bool = True,
    lr: float = LEARNING_RATE,
) -> tuple[MLP, list[float]]:
    """Train an :class:`MLP` with minibatch Adam on whole images.

    Each step draws ``batch_images`` images (without replacement within an epoch), takes the
    element-wise loss gradient d loss / d z from losslab and divides it by the number of
    positives in the batch (at least 1), as RetinaNet normalises. ``prior_init`` sets the output
    bias to -log((1 - pi) / pi) with pi = 0.01, otherwise 0. Returns the model and the
    normalised training loss of every step. X must be standardised by the caller.
    """
    n_images = int(data.image.max()) + 1
    A_per = data.X.shape[0] // n_images
    d = data.X.shape[1]
    Xi = data.X.reshape(n_images, A_per, d)
    yi = data.y.reshape(n_images, A_per)
    bias = -np.log((1 - PRIOR) / PRIOR) if prior_init else 0.0
    model = MLP.init(rng, d, hidden, bias)
    m = [np.zeros_like(p) for p in model.params()]
    v = [np.zeros_like(p) for p in model.params()]
    b1, b2, eps = 0.9, 0.999, 1e-8
    order = rng.permutation(n_images)
    pos = 0
    history = []
    for t in range(1, steps + 1):
        if pos + batch_images > n_images:
            order = rng.permutation(n_images)
            pos = 0
        idx = order[pos : pos + batch_images]
        pos += batch_images
        X = Xi[idx].reshape(-1, d)
        y = yi[idx].reshape(-1)
        z, A = model.forward(X)
        value, grad = loss.loss_gradient(y, z, validate=False)
        norm = max(float(y.sum()), 1.0)
        history.append(float(np.sum(value)) / norm)
        grads = model.backward(X, A, np.asarray(grad) / norm)
        for p, g, mi, vi in zip(model.params(), grads, m, v, strict=True):
            mi *= b1
            mi += (1 - b1) * g
            vi *= b2
            vi += (1 - b2) * g * g
            p -= lr * (mi / (1 - b1**t)) / (np.sqrt(vi / (1 - b2**t)) + eps)
    return model, history


def _standardise(train: DetectionData, test: DetectionData) -> tuple[DetectionData, DetectionData]:
    mu = train.X.mean(axis=0)
    sd = train.X.std(axis=0)
    return (
        DetectionData((train.X - mu) / sd, train.y, train.image, train.kind),
        DetectionData((test.X - mu) / sd, test.y, test.image, test.kind),
    )


def _loss_distribution(y: np.ndarray, z: np.ndarray) -> dict[str, Any]:
    """Figure-4 numbers: for each gamma in CDF_GAMMAS, the focal loss (alpha=None) of every
    positive and negative, normalised to sum to one per group and sorted ascending; returns the
    curves (thinned) and the share of the loss carried by the hardest 1 % / 10 % of negatives and
    the positives' share of the total loss."""
    out: dict[str, Any] = {"gammas": list(CDF_GAMMAS), "curves": {}, "summary": {}}
    pos = y == 1
    for g in CDF_GAMMAS:
        lv = np.asarray(_loss(g, None).loss(y, z), dtype=np.float64)
        lp = np.sort(lv[pos])
        ln = np.sort(lv[~pos])
        cp = np.cumsum(lp) / lp.sum()
        cn = np.cumsum(ln) / ln.sum()

        def top_share(c: np.ndarray, q: float) -> float:
            k = int(np.floor((1 - q) * c.size))
            return float(1.0 - (c[k - 1] if k > 0 else 0.0))

        out["summary"][str(g)] = {
            "positive_share_of_total_loss": float(lp.sum() / (lp.sum() + ln.sum())),
            "hardest_1pct_negatives_share": top_share(cn, 0.01),
            "hardest_10pct_negatives_share": top_share(cn, 0.10),
            "hardest_20pct_positives_share": top_share(cp, 0.20),
        }
        xs = np.linspace(0, 1, 201)
        out["curves"][str(g)] = {
            "fraction": xs.tolist(),
            "positives": np.interp(xs, np.arange(cp.size + 1) / cp.size, np.r_[0, cp]).tolist(),
            "negatives": np.interp(xs, np.arange(cn.size + 1) / cn.size, np.r_[0, cn]).tolist(),
        }
    return out


def paired_bootstrap_ap_difference(
    y: np.ndarray,
    image: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    rng: np.random.Generator,
    n_boot: int,
) -> list[float]:
    """AP(score_a) - AP(score_b) on ``n_boot`` resamples of whole images (with replacement),
    the same resample for both scores (a paired bootstrap). Shapes: all (n,); images must be
    contiguous blocks of equal size. Resamples without a positive are skipped."""
    n_images = int(image.max()) + 1
    per = y.size // n_images
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, n_images, n_images)
        rows = (pick[:, None] * per + np.arange(per)).reshape(-1)
        yb = y[rows]
        if yb.sum() == 0:
            continue
        out.append(average_precision(yb, score_a[rows]) - average_precision(yb, score_b[rows]))
    return out


def _key(gamma: float, alpha: float | None, prior: bool) -> str:
    return f"gamma={gamma:g}, alpha={alpha}, prior={'yes' if prior else 'no'}"


def run(ctx: RunContext) -> dict[str, Any]:
    """Train the grid and the ablations; return ``{"parameters", "results", "figures"}``.

    Every configuration is trained on ``repeats`` independent replicates (new data, initial
    weights and batches; within a replicate all configurations share them); APs are averaged
    over replicates. results: ``ap_table`` (mean AP, rows gamma, columns alpha), ``ce_ap``
    (plain CE), ``best_*``, ``focal_minus_ce_ap`` and its bootstrap (the mean over replicates of
    paired bootstrap differences over test images), ``per_repeat``, ``runs`` (every trained
    model), ``no_prior`` (CE and the reference focal loss from a zero output bias),
    ``loss_distribution`` (Figure 4, replicate 0), ``boosting`` (replicate 0 data).
    """
    s = SIZES[ctx.mode]
    common = {
        "anchors_per_image": s["anchors_per_image"],
        "positives_per_image": s["positives_per_image"],
    }
    kw = {"steps": s["steps"], "batch_images": s["batch_images"], "hidden": s["hidden"]}
    gammas = [float(g) for g in s["gammas"]]
    alphas = [float(a) for a in s["alphas"]]
    g_ref, a_ref = REFERENCE_MODEL
    configs: list[tuple[float, float | None, bool]] = [(0.0, None, True)]
    configs += [(g, a, True) for g in gammas for a in alphas]
    configs += [(0.0, None, False), (g_ref, a_ref, False)]

    runs: list[dict[str, Any]] = []
    histories: dict[str, list[float]] = {}
    ap_by_rep: list[dict[str, float]] = []
    scores_by_rep: list[dict[str, np.ndarray]] = []
    tests: list[DetectionData] = []
    first: tuple[DetectionData, DetectionData] | None = None
    ref_scores: np.ndarray | None = None
    for rep in range(int(s["repeats"])):
        train_raw = detection_data(ctx.rng(3, 0, rep), s["train_images"], **common)
        test_raw = detection_data(ctx.rng(3, 1, rep), s["test_images"], **common)
        train_d, test_d = _standardise(train_raw, test_raw)
        tests.append(test_d)
        if first is None:
            first = (train_d, test_d)
        aps: dict[str, float] = {}
        scores: dict[str, np.ndarray] = {}
        for gamma, alpha, prior in configs:
            key = _key(gamma, alpha, prior)
            t0 = time.perf_counter()
            # the same initial weights and batches for every configuration of a replicate
            model, hist = train(
                train_d, _loss(gamma, alpha), rng=ctx.rng(3, 2, rep), prior_init=prior, **kw
            )
            elapsed = time.perf_counter() - t0
            z_test, _ = model.forward(test_d.X)
            ok = bool(np.all(np.isfinite(z_test)))
            aps[key] = average_precision(test_d.y, z_test) if ok else 0.0
            scores[key] = z_test
            runs.append(
                {
                    "repeat": rep,
                    "gamma": gamma,
                    "alpha": alpha,
                    "prior_init": prior,
                    "ap": aps[key],
                    "initial_train_loss": hist[0],
                    "final_train_loss": float(np.mean(hist[-max(1, len(hist) // 10) :])),
                    "time_s": elapsed,
                }
            )
            if rep == 0:
                histories[key] = hist
                if key == _key(g_ref, a_ref, True):
                    ref_scores = z_test
            ctx.progress(1)
        ap_by_rep.append(aps)
        scores_by_rep.append(scores)
    if first is None or ref_scores is None:
        raise ValueError("repeats must be >= 1")
    dist = _loss_distribution(first[1].y, ref_scores)
    ctx.progress(1)

    def mean_ap(key: str) -> float:
        return float(np.mean([a[key] for a in ap_by_rep]))

    table = [[mean_ap(_key(g, a, True)) for a in alphas] for g in gammas]
    ce_ap = mean_ap(_key(0.0, None, True))
    ce_keys = [_key(0.0, None, True)] + [
        _key(0.0, a, True) for g in gammas if g == 0 for a in alphas
    ]
    fl_keys = [_key(g, a, True) for g in gammas if g > 0 for a in alphas]
    key_ce = max(ce_keys, key=mean_ap)
    best_ce = mean_ap(key_ce)
    best_fl = mean_ap(max(fl_keys, key=mean_ap)) if fl_keys else float("nan")
    boot: dict[str, Any] = {"n_resamples": 0}
    per_rep_diff: list[float] = []
    if fl_keys:
        key_fl = max(fl_keys, key=mean_ap)
        per_rep_diff = [a[key_fl] - a[key_ce] for a in ap_by_rep]
        draws = []
        for rep, (test_d, scores) in enumerate(zip(tests, scores_by_rep, strict=True)):
            draws.append(
                paired_bootstrap_ap_difference(
                    test_d.y,
                    test_d.image,
                    scores[key_fl],
                    scores[key_ce],
                    ctx.rng(3, 3, rep),
                    s["bootstrap"],
                )
            )
        m = min(len(d) for d in draws)
        mean_draws = np.mean([d[:m] for d in draws], axis=0)
        boot = {
            "focal_model": key_fl,
            "cross_entropy_model": key_ce,
            "n_resamples": int(m),
            "difference_p05": float(np.percentile(mean_draws, 5)),
            "difference_median": float(np.median(mean_draws)),
            "difference_p95": float(np.percentile(mean_draws, 95)),
        }
    ctx.progress(1)

    train_d, test_d = first
    boosting = boosting_comparison(train_d, test_d, rounds=int(s["boost_rounds"]), seed=ctx.seed)
    ctx.progress(1)
    ap = np.asarray(table)
    i_best, j_best = np.unravel_index(int(np.argmax(ap)), ap.shape)
    first_runs = [r for r in runs if r["repeat"] == 0]

    def initial_loss(key: str) -> float:
        return float(
            next(
                r["initial_train_loss"]
                for r in first_runs
                if _key(r["gamma"], r["alpha"], r["prior_init"]) == key
            )
        )

    results = {
        "ap_table": {"gammas": gammas, "alphas": alphas, "ap": table},
        "ce_ap": ce_ap,
        "best": {
            "gamma": gammas[i_best],
            "alpha": alphas[j_best],
            "ap": float(ap[i_best, j_best]),
        },
        "best_cross_entropy_ap": best_ce,
        "best_focal_ap": best_fl,
        "focal_minus_ce_ap": best_fl - best_ce,
        "focal_minus_ce_bootstrap": boot,
        "repeats": int(s["repeats"]),
        "per_repeat": {
            "focal_minus_ce_ap": per_rep_diff,
            "ap": ap_by_rep,
        },
        "runs": runs,
        "no_prior": {
            "ce_ap": mean_ap(_key(0.0, None, False)),
            "focal_ap": mean_ap(_key(g_ref, a_ref, False)),
            "ce_ap_with_prior": ce_ap,
            "focal_ap_with_prior": mean_ap(_key(g_ref, a_ref, True)),
            "ce_initial_loss": initial_loss(_key(0.0, None, False)),
            "ce_initial_loss_with_prior": initial_loss(_key(0.0, None, True)),
        },
        "loss_distribution": dist,
        "test_set": {
            "anchors": int(test_d.y.size),
            "positives": int(test_d.y.sum()),
            "hard_negatives": int(np.sum(test_d.kind == 1)),
        },
        "train_set": {
            "anchors": int(train_d.y.size),
            "positives": int(train_d.y.sum()),
            "hard_negatives": int(np.sum(train_d.kind == 1)),
        },
        "boosting": boosting,
    }
    ctx.progress(1)
    figures = _figures(ctx, results, histories, ce_key="gamma=0, alpha=None")
    return {
        "parameters": {
            **{k: v for k, v in s.items()},
            "model": f"MLP, one hidden ReLU layer of {s['hidden']} units",
            "optimizer": f"Adam, learning rate {LEARNING_RATE}, whole images per batch",
            "prior_pi": PRIOR,
            "prior_bias": float(-np.log((1 - PRIOR) / PRIOR)),
            "normalisation": "sum of the loss / number of positives in the batch (>= 1)",
            "reference_model_for_loss_distribution": {"gamma": g_ref, "alpha": a_ref},
            "features": "ring-shaped objectness in (x0, x1), two weak cues, noise columns",
        },
        "results": results,
        "figures": figures,
    }


def _figures(
    ctx: RunContext, results: dict[str, Any], histories: dict[str, list[float]], ce_key: str
) -> list[dict[str, str]]:
    figs = []
    # Figure 1 of the paper: loss against p_t
    fig, axes = new_figure(1, 1, width=6.5, height=4.2)
    ax = axes[0][0]
    pt = np.linspace(1e-3, 1 - 1e-6, 1000)
    z = np.log(pt) - np.log1p(-pt)
    for k, g in enumerate(FIG1_GAMMAS):
        lv = np.asarray(_loss(g, None).loss(np.ones_like(z), z), dtype=np.float64)
        ax.plot(pt, lv, color=f"C{k}", label=f"gamma = {g:g}" + (" (CE)" if g == 0 else ""))
    ax.axvspan(0.6, 1.0, color="0.9", zorder=0)
    ax.text(0.8, 4.2, "well-classified\nexamples", ha="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 5)
    ax.set_xlabel("probability of the ground-truth class, p_t")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    figs.append(
        save_figure(
            fig,
            ctx,
            "focal_loss_vs_pt",
            "Focal loss (alpha = None) against p_t for several gamma (the paper's Figure 1): "
            "gamma > 0 shrinks the loss of well-classified examples.",
        )
    )

    # Figure 4: CDF of the normalised loss
    dist = results["loss_distribution"]
    fig = loss_cdf_figure(
        dist,
        xlabel=lambda group: f"fraction of {group}",
        title=lambda group: f"{group} (held-out anchors)",
    )
    figs.append(
        save_figure(
            fig,
            ctx,
            "focal_loss_cdf",
            "Cumulative distribution of the normalised loss of held-out positives and negatives, "
            "sorted from lowest to highest loss, under the converged gamma = 2 model (the "
            "paper's Figure 4). For negatives, gamma = 2 puts nearly all the loss on the few "
            "hardest examples.",
        )
    )

    # AP against gamma, one line per alpha
    tab = results["ap_table"]
    fig, axes = new_figure(1, 1, width=6.5, height=4)
    ax = axes[0][0]
    ap = np.asarray(tab["ap"])
    for j, a in enumerate(tab["alphas"]):
        ax.plot(tab["gammas"], ap[:, j], marker="o", color=f"C{j}", label=f"alpha = {a:g}")
    ax.axhline(results["ce_ap"], color="k", ls=":", label="cross-entropy (no alpha)")
    ax.set_xlabel("gamma")
    ax.set_ylabel("average precision (held-out anchors)")
    ax.legend(fontsize=8)
    figs.append(
        save_figure(
            fig,
            ctx,
            "focal_ap",
            "Average precision on held-out anchors against gamma for each alpha (the numbers of "
            "the table above); gamma = 0 is alpha-balanced cross-entropy.",
        )
    )

    # training curves with and without the prior initialisation
    fig, axes = new_figure(1, 1, width=6.5, height=4)
    ax = axes[0][0]
    g_ref, a_ref = REFERENCE_MODEL
    for key, color, label in (
        (ce_key + ", prior=yes", "C0", "CE, prior init"),
        (ce_key + ", prior=no", "C0", "CE, bias 0"),
        (f"gamma={g_ref:g}, alpha={a_ref}, prior=yes", "C3", "focal, prior init"),
        (f"gamma={g_ref:g}, alpha={a_ref}, prior=no", "C3", "focal, bias 0"),
    ):
        h = np.asarray(histories[key])
        ax.semilogy(
            np.arange(1, h.size + 1),
            h,
            color=color,
            ls="-" if "prior" in label else "--",
            lw=1,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss / number of positives (batch)")
    ax.legend(fontsize=8)
    figs.append(
        save_figure(
            fig,
            ctx,
            "focal_prior_init",
            "Training loss normalised by the number of positives, with the prior initialisation "
            "(output bias -log((1 - 0.01) / 0.01)) and from a zero bias, where the loss of the "
            "~1000 background anchors per positive dominates the first steps.",
        )
    )
    return figs
