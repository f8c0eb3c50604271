"""`losslab report`: run the experiments, then write figures, results.json and index.html.

Files are written to a temporary name and renamed into place, so an interrupted run never leaves
a half-written results.json or index.html.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from . import detection, focal, logits, regression
from ._common import MODES, RunContext, atomic_write_text, dump_json, to_jsonable
from .html import render
from .verdicts import THRESHOLDS, verdict

__all__ = ["EXPERIMENTS", "SCHEMA_VERSION", "run_report"]

SCHEMA_VERSION = 1

#: Experiment name -> module with TITLE, CLAIM, units(mode) and run(ctx).
EXPERIMENTS: dict[str, ModuleType] = {
    "logits": logits,
    "regression": regression,
    "focal": focal,
    "detection": detection,
}


def _single_blas_thread() -> Any:
    """A context manager limiting BLAS to one thread (threadpoolctl), or a no-op without it.

    The lab's matrices are small: with several BLAS threads on a busy two-core machine the
    threads spin against each other and a training run can take ten times longer.
    """
    import contextlib
    import importlib

    try:
        tpc: Any = importlib.import_module("threadpoolctl")
    except ImportError:
        return contextlib.nullcontext()
    return tpc.threadpool_limits(limits=1, user_api="blas")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in (
        "losslab",
        "numpy",
        "scipy",
        "matplotlib",
        "click",
        "tqdm",
        "threadpoolctl",
        "xgboost",
        "lightgbm",
        "torch",
        "pycocotools",
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["cpu_count"] = str(os.cpu_count())
    return out


def run_report(
    out: str | os.PathLike[str],
    *,
    mode: str = "default",
    seed: int = 0,
    only: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the experiments and write ``out/index.html``, ``out/results.json`` and
    ``out/figures/*.png``; return the results dict (as written to results.json).

    mode: "quick" (under a minute, for tests), "default" (a few minutes) or "full".
    only: experiment names to run (default: all of EXPERIMENTS).
    Raises ValueError for an unknown mode or experiment name; OSError from the file system.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {list(MODES)}")
    names = list(EXPERIMENTS) if not only else list(dict.fromkeys(only))
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; known: {list(EXPERIMENTS)}")
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    figdir = outdir / "figures"

    from tqdm import tqdm

    total = sum(int(EXPERIMENTS[n].units(mode)) for n in names)
    bar = tqdm(total=total, disable=not progress, unit="step", desc="losslab report")
    t_start = time.perf_counter()
    experiments: dict[str, Any] = {}
    timings: dict[str, float] = {}
    try:
        for name in names:
            mod = EXPERIMENTS[name]
            bar.set_description(f"losslab report: {name}")
            ctx = RunContext(mode=mode, seed=seed, figdir=figdir, progress=bar.update)
            t0 = time.perf_counter()
            with _single_blas_thread():
                res = mod.run(ctx)
            elapsed = time.perf_counter() - t0
            results = to_jsonable(res["results"])
            experiments[name] = {
                "title": mod.TITLE,
                "claim": mod.CLAIM,
                "parameters": to_jsonable(res["parameters"]),
                "results": results,
                "verdict": verdict(name, results),
                "figures": res["figures"],
                "time_s": elapsed,
            }
            timings[name] = elapsed
    finally:
        bar.close()
    timings["total"] = time.perf_counter() - t_start
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "seed": int(seed),
        "experiments_run": names,
        "versions": _versions(),
        "timings_s": timings,
        "thresholds": THRESHOLDS,
        "experiments": experiments,
    }
    report = to_jsonable(report)
    atomic_write_text(outdir / "results.json", dump_json(report))
    atomic_write_text(outdir / "index.html", render(report))
    return report
