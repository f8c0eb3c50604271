"""Experiment "logits vs probabilities": log loss on sigmoid(z) against cross-entropy on z.

Claim 1 of DESIGN.md: log loss on probabilities (``LogLoss.loss_from_proba``) and sigmoid
cross-entropy on logits (``LogLoss.loss``) are one objective reached two ways; the logit route
is stable, the probability route saturates. Measured in float32 and float64 over a wide z grid
against an extended-precision reference; also what clipping p does to the gradient of a
confidently wrong example.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import losslab

from ._common import RunContext, new_figure, save_figure

__all__ = ["run", "units"]

TITLE = "Logits vs probabilities"
CLAIM = (
    "Log loss (on probabilities) and sigmoid cross-entropy (on logits) are one objective, "
    "reached two ways. The logit route is the stable one; the probability route saturates."
)

SIZES: dict[str, dict[str, Any]] = {
    "quick": {"z_max": 120.0, "n_grid": 4001},
    "default": {"z_max": 120.0, "n_grid": 24001},
    "full": {"z_max": 120.0, "n_grid": 96001},
}
#: The central band where the two routes are compared for "one objective".
CENTRAL = 1.0
#: Agreement tolerance (ulps of the working dtype) used to report the agreement interval.
AGREE_ULPS = 16.0
#: Explicit clipping epsilons a user would pick (Keras' 1e-7 for float32, 1e-15 for float64).
CLIP_EPS = {"float32": 1e-7, "float64": 1e-15}
#: Logits of the "confidently wrong" example (label 1).
WRONG_Z = (-10.0, -20.0, -40.0)
DTYPES = ("float32", "float64")


def units(mode: str) -> int:
    """Number of progress units this experiment reports."""
    return 2 * len(DTYPES) + 1


def _reference(y: int, z: np.ndarray) -> np.ndarray:
    """softplus(-z) (y = 1) or softplus(z) (y = 0) in extended precision (``np.longdouble``)."""
    zl = z.astype(np.longdouble)
    s = -zl if y == 1 else zl
    out: np.ndarray = np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))
    return out


def _ulps(value: np.ndarray, ref: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """|value - ref| in units in the last place of ``ref`` rounded to ``dtype`` (inf if value is
    not finite). Shapes: all (n,)."""
    ref_d = ref.astype(dtype)
    spacing = np.spacing(np.abs(ref_d)).astype(np.longdouble)
    # below the smallest normal, count in units of the smallest subnormal
    spacing = np.maximum(spacing, np.longdouble(np.finfo(dtype).smallest_subnormal))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(value.astype(np.longdouble) - ref) / spacing
    err = np.where(np.isfinite(value), err, np.inf)
    return np.asarray(err, dtype=np.float64)


def _interval_around_zero(z: np.ndarray, ok: np.ndarray) -> list[float]:
    """The largest interval [z_lo, z_hi] of grid points containing the point nearest 0 on which
    ``ok`` holds everywhere (NaN bounds if it fails at 0)."""
    i0 = int(np.argmin(np.abs(z)))
    if not ok[i0]:
        return [float("nan"), float("nan")]
    lo = i0
    while lo > 0 and ok[lo - 1]:
        lo -= 1
    hi = i0
    while hi < z.size - 1 and ok[hi + 1]:
        hi += 1
    return [float(z[lo]), float(z[hi])]


def _proba_route_gradient(
    loss: Any, y: float, z: np.ndarray, dtype: str, clip: float | None
) -> np.ndarray:
    """d/dz of loss_from_proba(y, clip(sigmoid(z))) by the chain rule, as autodiff computes it:
    dL/dp(p_c) * 1[p inside the clip range] * p (1 - p)."""
    zt = z.astype(dtype)
    p = np.asarray(loss.link.inverse(zt))
    pc = p if clip is None else np.clip(p, clip, 1 - clip).astype(dtype)
    yv = np.full_like(pc, y)
    with np.errstate(all="ignore"):
        _, dldp, _ = loss.loss_gradient_hessian_from_proba(yv, pc)
        inside = np.ones_like(p) if clip is None else ((p > clip) & (p < 1 - clip)).astype(dtype)
        g = np.asarray(dldp) * inside * p * (1 - p)
    return np.asarray(g, dtype=np.float64)


def run(ctx: RunContext) -> dict[str, Any]:
    """Run the experiment; return ``{"parameters", "results", "figures"}`` (JSON-ready).

    results["routes"][dtype][label] holds, for label y in {0, 1}: max ulp error of each route,
    the agreement interval, the saturation points, counts of non-finite values; results["clip"]
    the gradients of the confidently wrong example with and without clipping.
    """
    size = SIZES[ctx.mode]
    loss: Any = losslab.get_loss("log_loss")
    z = np.linspace(-size["z_max"], size["z_max"], int(size["n_grid"]))
    routes: dict[str, dict[str, Any]] = {}
    curves: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    for dtype in DTYPES:
        dt = np.dtype(dtype)
        zt = z.astype(dt)
        p = np.asarray(loss.link.inverse(zt))
        routes[dtype] = {}
        for y in (1, 0):
            yt = np.full_like(zt, y)
            ref = _reference(y, zt)
            with np.errstate(all="ignore"):
                v_logit = np.asarray(loss.loss(yt, zt))
                v_proba = np.asarray(loss.loss_from_proba(yt, p))
            ulp_logit = _ulps(v_logit, ref, dt)
            ulp_proba = _ulps(v_proba, ref, dt)
            rel_proba = np.where(
                np.isfinite(v_proba),
                np.abs(v_proba.astype(np.longdouble) - ref) / ref,
                np.inf,
            ).astype(np.float64)
            central = np.abs(zt) <= CENTRAL
            # where p has rounded to the label-opposite end: the loss of the other label is inf
            sat_hi = zt[p == 1]
            sat_lo = zt[p == 0]
            routes[dtype][str(y)] = {
                "logit_max_ulp": float(np.max(ulp_logit)),
                "logit_all_finite": bool(np.all(np.isfinite(v_logit))),
                "proba_central_max_ulp": float(np.max(ulp_proba[central])),
                "logit_central_max_ulp": float(np.max(ulp_logit[central])),
                "proba_max_ulp": float(np.max(ulp_proba)),
                "proba_n_nonfinite": int(np.sum(~np.isfinite(v_proba))),
                "proba_max_rel_error": float(np.max(rel_proba)),
                "proba_frac_rel_error_over_1pct": float(np.mean(rel_proba > 0.01)),
                "agree_interval": _interval_around_zero(
                    zt.astype(np.float64), ulp_proba <= AGREE_ULPS
                ),
                "p_rounds_to_1_from_z": float(sat_hi.min()) if sat_hi.size else None,
                "p_rounds_to_0_below_z": float(sat_lo.max()) if sat_lo.size else None,
            }
            curves[(dtype, y)] = {
                "ref": ref.astype(np.float64),
                "logit": v_logit.astype(np.float64),
                "proba": v_proba.astype(np.float64),
                "ulp_logit": ulp_logit,
                "ulp_proba": ulp_proba,
            }
            ctx.progress(1)

    clip: dict[str, Any] = {}
    zw = np.asarray(WRONG_Z)
    for dtype in DTYPES:
        eps = CLIP_EPS[dtype]
        true_grad = np.asarray(loss.gradient(np.ones_like(zw), zw), dtype=np.float64)
        g_clip = _proba_route_gradient(loss, 1.0, zw, dtype, eps)
        g_free = _proba_route_gradient(loss, 1.0, zw, dtype, None)
        with np.errstate(all="ignore"):
            lc = np.asarray(
                loss.loss_from_proba(
                    np.ones(zw.size, dtype=dtype),
                    np.asarray(loss.link.inverse(zw.astype(dtype))),
                    clip=eps,
                ),
                dtype=np.float64,
            )
        clip[dtype] = {
            "eps": eps,
            "z": zw.tolist(),
            "true_gradient": true_grad.tolist(),
            "clipped_gradient": g_clip.tolist(),
            "unclipped_proba_gradient": g_free.tolist(),
            "gradient_ratio": (np.abs(g_clip) / np.abs(true_grad)).tolist(),
            "true_loss": [float(-v) for v in zw],
            "clipped_loss": lc.tolist(),
            "clip_starts_below_z": float(np.log(eps) - np.log1p(-eps)),
        }
    ctx.progress(1)

    figures = _figures(ctx, z, curves, loss)
    return {
        "parameters": {
            "z_range": [-size["z_max"], size["z_max"]],
            "n_grid": int(size["n_grid"]),
            "central_band": CENTRAL,
            "agree_ulps": AGREE_ULPS,
            "clip_eps": CLIP_EPS,
            "reference": f"np.longdouble ({np.finfo(np.longdouble).nmant + 1}-bit mantissa)",
        },
        "results": {"routes": routes, "clip": clip},
        "figures": figures,
    }


def _figures(
    ctx: RunContext, z: np.ndarray, curves: dict[tuple[str, int], dict[str, np.ndarray]], loss: Any
) -> list[dict[str, str]]:
    figs = []
    fig, axes = new_figure(2, 2, width=10, height=7)
    for i, dtype in enumerate(DTYPES):
        for j, y in enumerate((1, 0)):
            ax = axes[i][j]
            c = curves[(dtype, y)]
            ax.semilogy(z, c["ref"], color="0.6", lw=4, label="reference")
            ax.semilogy(
                z, np.where(c["logit"] > 0, c["logit"], np.nan), color="C0", label="logit route"
            )
            proba = np.where(np.isfinite(c["proba"]) & (c["proba"] > 0), c["proba"], np.nan)
            ax.semilogy(z, proba, color="C3", ls="--", label="probability route")
            bad = ~np.isfinite(c["proba"])
            zero = c["proba"] == 0
            if bad.any():
                ax.axvspan(
                    z[bad].min(), z[bad].max(), color="C3", alpha=0.08, label="proba route = inf"
                )
            if zero.any():
                ax.axvspan(
                    z[zero].min(), z[zero].max(), color="C1", alpha=0.08, label="proba route = 0"
                )
            ax.set_title(f"{dtype}, y = {y}")
            ax.set_xlabel("logit z")
            ax.set_ylabel("loss")
            ax.legend(fontsize=7, loc="best")
    fig.suptitle("Log loss by the two routes over z")
    figs.append(
        save_figure(
            fig,
            ctx,
            "logits_loss",
            "Loss against the logit z, from logits (blue) and from sigmoid(z) (red dashed), "
            "with the extended-precision reference (grey). Shaded: the probability route gives "
            "inf (p rounded to the wrong end) or exactly 0 (p rounded to the label).",
        )
    )

    fig, axes = new_figure(2, 2, width=10, height=7)
    for i, dtype in enumerate(DTYPES):
        for j, y in enumerate((1, 0)):
            ax = axes[i][j]
            c = curves[(dtype, y)]
            cap = 1e12
            ax.semilogy(z, np.clip(c["ulp_proba"], 0.1, cap), color="C3", label="probability route")
            ax.semilogy(z, np.clip(c["ulp_logit"], 0.1, cap), color="C0", label="logit route")
            ax.axhline(AGREE_ULPS, color="k", ls=":", lw=1, label=f"{AGREE_ULPS:g} ulps")
            ax.set_ylim(0.05, cap * 3)
            ax.set_title(f"{dtype}, y = {y}")
            ax.set_xlabel("logit z")
            ax.set_ylabel("error (ulps, floor 0.1, inf at top)")
            ax.legend(fontsize=7, loc="best")
    fig.suptitle("Error against the reference in units in the last place")
    figs.append(
        save_figure(
            fig,
            ctx,
            "logits_ulps",
            "Error of each route in ulps of the working dtype (0 drawn at 0.1, inf at the top). "
            "The logit route stays within a few ulps; the probability route's error grows like "
            "1/(1 - p) on the side where p approaches the label and is infinite past saturation.",
        )
    )

    fig, axes = new_figure(1, 2, width=10, height=3.8)
    zz = np.linspace(-60, 5, 2601)
    for j, dtype in enumerate(DTYPES):
        ax = axes[0][j]
        true_grad = np.asarray(loss.gradient(np.ones_like(zz), zz), dtype=np.float64)
        ax.plot(zz, true_grad, color="C0", lw=3, label="logit route: sigmoid(z) - 1")
        for k, eps in enumerate((CLIP_EPS[dtype], 1e-4)):
            g = _proba_route_gradient(loss, 1.0, zz, dtype, eps)
            ax.plot(zz, g, color=f"C{k + 3}", ls="--", label=f"p clipped to [{eps:g}, 1 - {eps:g}]")
        ax.set_title(f"gradient for y = 1 ({dtype})")
        ax.set_xlabel("logit z")
        ax.set_ylabel("d loss / d z")
        ax.set_ylim(-1.15, 0.15)
        ax.legend(fontsize=7, loc="center left")
    figs.append(
        save_figure(
            fig,
            ctx,
            "logits_clip_gradient",
            "Gradient with respect to z of a positive example. Once sigmoid(z) falls below the "
            "clipping epsilon the clipped probability route has zero gradient: the confidently "
            "wrong example stops learning, while its true gradient is -1.",
        )
    )
    return figs
