"""Experiment "square vs absolute": convergence, outliers and gradient shape of regression losses.

Claim 2 of DESIGN.md: square loss converges fast and is accurate near the optimum but is pulled by
outliers; absolute loss resists outliers but its gradient does not shrink near the optimum, so it
converges slowly; Huber, pseudo-Huber and log-cosh sit between. Linear models are fitted with
:mod:`losslab.linear` (SciPy optimisers fed losslab gradients and Hessians) and with plain
gradient descent written here.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import losslab
from losslab.linear import LossRegressor

from ._common import RunContext, new_figure, save_figure
from .data import LinearData, add_leverage_points, contaminate_targets, linear_data

__all__ = ["LOSSES", "run", "units"]

TITLE = "Square vs absolute"
CLAIM = (
    "Square loss converges fast and is accurate near the optimum but is pulled by outliers; "
    "absolute loss resists outliers but its gradient does not shrink near the optimum, so it "
    "converges slowly. Huber, pseudo-Huber and log-cosh sit between them."
)

#: label -> (registry name, hyperparameters)
LOSSES: dict[str, tuple[str, dict[str, float]]] = {
    "square": ("half_squared_error", {}),
    "absolute": ("absolute_error", {}),
    "huber": ("huber", {"delta": 1.0}),
    "pseudo_huber": ("pseudo_huber", {"delta": 1.0}),
    "log_cosh": ("log_cosh", {}),
}
#: Relative objective gap (f - f*) / f* that counts as converged.
TOL = 1e-6
METHODS = ("gradient_descent", "lbfgs", "newton")

SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "n": 500,
        "d": 6,
        "gd_max_iter": 1500,
        "solver_max_iter": 200,
        "n_outlier": 300,
        "fractions": [0.0, 0.1, 0.2, 0.3, 0.4],
        "reps": 1,
    },
    "default": {
        "n": 2000,
        "d": 8,
        "gd_max_iter": 5000,
        "solver_max_iter": 500,
        "n_outlier": 1000,
        "fractions": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4],
        "reps": 3,
    },
    "full": {
        "n": 5000,
        "d": 10,
        "gd_max_iter": 20000,
        "solver_max_iter": 1000,
        "n_outlier": 2000,
        "fractions": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4],
        "reps": 10,
    },
}
GRADIENT_AT = (0.01, 0.1, 1.0, 10.0)
NOISE = 0.5


def units(mode: str) -> int:
    """Number of progress units this experiment reports."""
    size = SIZES[mode]
    return len(LOSSES) * len(METHODS) + 2 * len(size["fractions"]) + 1


def _get(label: str) -> Any:
    name, params = LOSSES[label]
    return losslab.get_loss(name, **params)


def _lad_optimum(Xa: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact least-absolute-deviations fit by linear programming (HiGHS):
    min (1/n) sum(u+ + u-) s.t. Xa theta + u+ - u- = y, u+- >= 0. Returns (theta, f*)."""
    from scipy import optimize, sparse

    n, p = Xa.shape
    c = np.concatenate([np.zeros(p), np.full(2 * n, 1.0 / n)])
    eye = sparse.identity(n, format="csr")
    A = sparse.hstack([sparse.csr_matrix(Xa), eye, -eye], format="csr")
    bounds = [(None, None)] * p + [(0, None)] * (2 * n)
    res = optimize.linprog(c, A_eq=A, b_eq=y, bounds=bounds, method="highs")
    if not res.success:  # pragma: no cover - HiGHS solves these small LPs
        raise RuntimeError(f"LAD linear program failed: {res.message}")
    theta = np.asarray(res.x[:p])
    return theta, float(np.mean(np.abs(y - Xa @ theta)))


def _objective(loss: Any, Xa: np.ndarray, y: np.ndarray, theta: np.ndarray) -> float:
    return float(np.mean(np.asarray(loss.loss(y, Xa @ theta, validate=False))))


def _optimum(label: str, data: LinearData, Xa: np.ndarray) -> float:
    """f* of the mean loss: LP for absolute, best of Newton and L-BFGS at tight tolerance."""
    if label == "absolute":
        return _lad_optimum(Xa, data.y)[1]
    loss = _get(label)
    best = np.inf
    for solver in ("newton", "lbfgs"):
        name, params = LOSSES[label]
        m = LossRegressor(name, loss_params=params, solver=solver, tol=1e-13, max_iter=2000)
        m.fit(data.X, data.y)
        theta = np.append(m.coef_, m.intercept_)
        best = min(best, _objective(loss, Xa, data.y, theta))
    return best


def _gradient_descent(
    label: str, Xa: np.ndarray, y: np.ndarray, f_star: float, max_iter: int
) -> dict[str, Any]:
    """Full-batch gradient descent from theta = 0 on the mean loss.

    Step 1/L with L = lambda_max(Xa^T Xa / n) * max Hessian (1 for every smooth loss here);
    absolute loss (a subgradient method) uses the diminishing step 1 / (L sqrt(k + 1)) and tracks
    the best value so far. Stops when (f - f*) / f* <= TOL or after ``max_iter`` iterations.
    """
    loss = _get(label)
    n = Xa.shape[0]
    L = float(np.linalg.eigvalsh(Xa.T @ Xa / n)[-1])
    theta = np.zeros(Xa.shape[1])
    gaps = []
    best = np.inf
    reached = None
    t0 = time.perf_counter()
    for k in range(max_iter + 1):
        value, grad = loss.loss_gradient(y, Xa @ theta, validate=False)
        f = float(np.mean(np.asarray(value)))
        best = min(best, f)
        gap = (best - f_star) / f_star
        gaps.append(gap)
        if gap <= TOL:
            reached = k
            break
        if k == max_iter:
            break
        step = 1.0 / L if label != "absolute" else 1.0 / (L * np.sqrt(k + 1.0))
        theta = theta - step * (Xa.T @ np.asarray(grad, dtype=np.float64)) / n
    elapsed = time.perf_counter() - t0
    return {
        "iterations": reached,
        "reached": reached is not None,
        "time_s": elapsed,
        "final_gap": gaps[-1],
        "path": gaps,
    }


def _solver_run(
    label: str, solver: str, data: LinearData, f_star: float, max_iter: int
) -> dict[str, Any]:
    """L-BFGS-B or trust-region Newton through :class:`LossRegressor`; iterations to reach the
    tolerance read from ``objective_path_``; time to tolerance pro rata of the fit time."""
    name, params = LOSSES[label]
    m = LossRegressor(name, loss_params=params, solver=solver, tol=1e-12, max_iter=max_iter)
    t0 = time.perf_counter()
    m.fit(data.X, data.y)
    elapsed = time.perf_counter() - t0
    path = np.asarray(m.objective_path_ or [m.objective_])
    gaps = np.maximum((np.minimum.accumulate(path) - f_star) / f_star, 0.0)
    hit = np.flatnonzero(gaps <= TOL)
    reached = int(hit[0]) + 1 if hit.size else None
    n_iter = max(int(m.n_iter_), 1)
    return {
        "iterations": reached,
        "reached": reached is not None,
        "time_s": elapsed * (reached / n_iter if reached is not None else 1.0),
        "fit_time_s": elapsed,
        "n_iter": int(m.n_iter_),
        "final_gap": float(gaps[-1]),
        "optimizer_message": m.message_,
        "path": gaps.tolist(),
    }


def _thin(path: list[float], k: int = 150) -> list[float]:
    """At most ~k points of a path (first and last kept) for the JSON file."""
    if len(path) <= k:
        return [float(v) for v in path]
    idx = np.unique(np.concatenate([np.linspace(0, len(path) - 1, k).astype(int), [len(path) - 1]]))
    return [float(path[i]) for i in idx]


def _coef_error(m: LossRegressor, data: LinearData) -> float:
    """||(coef, intercept) - truth|| / ||truth||."""
    est = np.append(m.coef_, m.intercept_)
    true = np.append(data.coef, data.intercept)
    return float(np.linalg.norm(est - true) / np.linalg.norm(true))


def run(ctx: RunContext) -> dict[str, Any]:
    """Run the three parts (convergence, outliers, gradient shape); return
    ``{"parameters", "results", "figures"}`` with every number in ``results``."""
    size = SIZES[ctx.mode]
    data = linear_data(ctx.rng(2, 0), size["n"], size["d"], noise=NOISE)
    Xa = np.hstack([data.X, np.ones((data.X.shape[0], 1))])

    # (a) convergence
    f_star = {label: _optimum(label, data, Xa) for label in LOSSES}
    conv: dict[str, dict[str, Any]] = {m: {} for m in METHODS}
    paths: dict[str, dict[str, list[float]]] = {m: {} for m in METHODS}
    for label in LOSSES:
        for method in METHODS:
            if method == "gradient_descent":
                r = _gradient_descent(label, Xa, data.y, f_star[label], size["gd_max_iter"])
            else:
                r = _solver_run(label, method, data, f_star[label], size["solver_max_iter"])
            paths[method][label] = r.pop("path")
            conv[method][label] = r
            ctx.progress(1)

    # (b) outliers in the targets and in the inputs (leverage points)
    fractions = [float(f) for f in size["fractions"]]
    outliers: dict[str, Any] = {"fractions": fractions}
    lad_check = []
    for ki, kind in enumerate(("targets", "leverage")):
        errors = {label: np.zeros((len(fractions), size["reps"])) for label in LOSSES}
        bases = [
            linear_data(ctx.rng(2, 1, rep), size["n_outlier"], size["d"], noise=NOISE)
            for rep in range(size["reps"])
        ]
        for fi, frac in enumerate(fractions):
            for rep in range(size["reps"]):
                # the same clean data and the same contamination stream at every fraction, so
                # that the contaminated rows at a fraction include those at smaller fractions
                rng = ctx.rng(2, 2 + ki, rep)
                base = bases[rep]
                if kind == "targets":
                    dirty, _ = contaminate_targets(rng, base, frac)
                else:
                    dirty, _ = add_leverage_points(rng, base, frac)
                for label, (name, params) in LOSSES.items():
                    m = LossRegressor(name, loss_params=params, solver="lbfgs", max_iter=2000)
                    m.fit(dirty.X, dirty.y)
                    errors[label][fi, rep] = _coef_error(m, dirty)
                    if label == "absolute" and rep == 0:
                        Xd = np.hstack([dirty.X, np.ones((dirty.X.shape[0], 1))])
                        theta_lp, _ = _lad_optimum(Xd, dirty.y)
                        est = np.append(m.coef_, m.intercept_)
                        lad_check.append(
                            float(np.linalg.norm(est - theta_lp) / np.linalg.norm(theta_lp))
                        )
            ctx.progress(1)
        outliers[kind] = {
            label: {
                "median_error": np.median(e, axis=1).tolist(),
                "errors": e.tolist(),
            }
            for label, e in errors.items()
        }
    outliers["absolute_lbfgs_vs_lp_max_rel_diff"] = max(lad_check)

    # (c) gradient magnitude against the residual
    grad: dict[str, Any] = {"residuals": list(GRADIENT_AT)}
    r_at = np.asarray(GRADIENT_AT)
    for label in LOSSES:
        g = np.abs(np.asarray(_get(label).gradient(np.zeros_like(r_at), r_at), dtype=np.float64))
        grad[label] = g.tolist()
    ctx.progress(1)

    figures = _figures(ctx, conv, paths, outliers)
    return {
        "parameters": {
            "n": size["n"],
            "d": size["d"],
            "noise_sd": NOISE,
            "condition": "column scales geometric from 1 to 4",
            "losses": {k: {"name": v[0], **v[1]} for k, v in LOSSES.items()},
            "tolerance_relative_objective_gap": TOL,
            "gd_max_iter": size["gd_max_iter"],
            "solver_max_iter": size["solver_max_iter"],
            "n_outlier": size["n_outlier"],
            "repetitions": size["reps"],
            "target_contamination": "one-sided shift +10 (20 noise sd)",
            "leverage_points": "inputs at 10 column-sd along one direction, targets ignore x",
        },
        "results": {
            "convergence": {
                "f_star": f_star,
                "methods": conv,
                "paths": {m: {k: _thin(v) for k, v in p.items()} for m, p in paths.items()},
            },
            "outliers": outliers,
            "gradient": grad,
        },
        "figures": figures,
    }


_STYLE = {
    "square": ("C0", "-"),
    "absolute": ("C3", "-"),
    "huber": ("C2", "--"),
    "pseudo_huber": ("C1", "-."),
    "log_cosh": ("C4", ":"),
}


def _figures(
    ctx: RunContext,
    conv: dict[str, dict[str, Any]],
    paths: dict[str, dict[str, list[float]]],
    outliers: dict[str, Any],
) -> list[dict[str, str]]:
    figs = []
    fig, axes = new_figure(1, 3, width=13, height=4)
    for ax, method in zip(axes[0], METHODS, strict=True):
        for label in LOSSES:
            color, ls = _STYLE[label]
            p = np.maximum(np.asarray(paths[method][label], dtype=np.float64), 1e-16)
            ax.loglog(np.arange(1, p.size + 1), p, color=color, ls=ls, lw=1.8, label=label)
        ax.axhline(TOL, color="k", lw=0.8, ls=":", label="tolerance")
        ax.set_xlabel("iteration + 1")
        ax.set_ylabel("(f - f*) / f*")
        ax.set_title(
            {"gradient_descent": "gradient descent", "lbfgs": "L-BFGS-B"}.get(
                method, "trust-region Newton"
            )
        )
    axes[0][0].legend(fontsize=7)
    figs.append(
        save_figure(
            fig,
            ctx,
            "regression_convergence",
            "Relative objective gap against iterations on clean linear data. Gradient descent "
            "(step 1/L; absolute loss: subgradient steps 1/(L sqrt(k+1))), L-BFGS-B and "
            "trust-region Newton fed losslab's gradients and Hessians.",
        )
    )

    fig, axes = new_figure(1, 2, width=11, height=4)
    fr = np.asarray(outliers["fractions"]) * 100
    for ax, kind, title in zip(
        axes[0],
        ("targets", "leverage"),
        ("outlying targets", "leverage points (outlying inputs)"),
        strict=True,
    ):
        for label in LOSSES:
            color, ls = _STYLE[label]
            ax.plot(
                fr,
                outliers[kind][label]["median_error"],
                color=color,
                ls=ls,
                marker="o",
                ms=3,
                label=label,
            )
        ax.set_yscale("log")
        ax.set_xlabel("contaminated rows (%)")
        ax.set_ylabel("relative coefficient error")
        ax.set_title(title)
    axes[0][0].legend(fontsize=7)
    figs.append(
        save_figure(
            fig,
            ctx,
            "regression_outliers",
            "Relative error of the fitted coefficients (intercept included), median over "
            "repetitions, against the share of contaminated rows: left, gross one-sided errors "
            "in the targets; right, bad leverage points.",
        )
    )

    fig, axes = new_figure(1, 1, width=6.5, height=4)
    ax = axes[0][0]
    r = np.linspace(-6, 6, 1201)
    for label in LOSSES:
        color, ls = _STYLE[label]
        g = np.asarray(_get(label).gradient(np.zeros_like(r), r), dtype=np.float64)
        ax.plot(r, np.abs(g), color=color, ls=ls, lw=1.8, label=label)
    ax.set_xlabel("residual r = prediction - target")
    ax.set_ylabel("|d loss / d prediction|")
    ax.set_ylim(0, 3.2)
    ax.legend(fontsize=7)
    figs.append(
        save_figure(
            fig,
            ctx,
            "regression_gradient",
            "Gradient magnitude against the residual: square loss grows without bound (outliers "
            "pull), absolute loss stays at 1 down to r = 0 (no slowing near the optimum), the "
            "others grow like r near 0 and level off.",
        )
    )
    return figs
