"""Seconds per boosting round: built-in logistic objective vs losslab's log-loss and focal
objectives, in XGBoost and LightGBM.

Usage::

    python benchmarks/boosting.py                 # 10^6 rows x 20 features, 2 threads
    python benchmarks/boosting.py --rows 200000 --rounds 10   # quicker

Each configuration trains ``--rounds`` rounds on the same prebuilt DMatrix / Dataset
(construction is not timed); a callback stamps every round; a run's time is the median over
the rounds after the first two, and the reported time the minimum over ``--repeats`` runs
that interleave the objectives (both resist other processes on a shared machine). The
losslab objectives are warmed up once before timing (numba compiles its kernels on first
use). The time spent inside the losslab objective is measured too (a timing closure around
it), so the table splits each round's extra cost into losslab's gradient / Hessian and the
library's own custom-objective path (margins handed to Python, gradients copied back).
Targets (issue 11): the custom-objective round at most 1.2x the built-in round, for log loss
and focal, in both libraries. Results for the project's machine are in
``benchmarks/README-boosting.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import lightgbm
import numpy as np
import xgboost

import losslab
import losslab.lightgbm as llgb
import losslab.xgboost as lxgb

TARGET = 1.2
Timing = tuple[float, float | None]
"""(median seconds per round, median seconds per objective call or None for a built-in)."""


def _timed(fn: Callable[..., Any], calls: list[float]) -> Callable[..., Any]:
    """``fn`` with the duration of each call appended to ``calls`` (a closure: LightGBM
    deep-copies its parameters, which copies an object but not a function)."""

    def wrapped(*args: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args)
        calls.append(time.perf_counter() - t)
        return out

    return wrapped


def make_data(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features N(0, 1) in float32, labels from a logistic model with ~10 % positives."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype=np.float32)
    coef = rng.normal(size=features) / np.sqrt(features)
    logit = X @ coef.astype(np.float32) * 3.0 - 2.5
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    return X, y


class _Stamps(xgboost.callback.TrainingCallback):
    def __init__(self) -> None:
        self.t: list[float] = [time.perf_counter()]

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.t.append(time.perf_counter())
        return False


def _per_round(stamps: list[float]) -> float:
    deltas = np.diff(stamps)[2:]
    return float(statistics.median(deltas))


def bench_xgboost(X: Any, y: Any, rounds: int, threads: int) -> dict[str, Timing]:
    """Median seconds per round (and per objective call) for each objective."""
    params = {"tree_method": "hist", "max_depth": 6, "eta": 0.1, "nthread": threads, "seed": 0}
    out: dict[str, Timing] = {}
    d_builtin = xgboost.DMatrix(X, label=y, nthread=threads)
    stamps = _Stamps()
    xgboost.train({**params, "objective": "binary:logistic"}, d_builtin, rounds, callbacks=[stamps])
    out["built-in binary:logistic"] = (_per_round(stamps.t), None)
    for name, loss in (
        ("losslab log_loss", losslab.get_loss("log_loss")),
        ("losslab focal (gamma=2)", losslab.get_loss("focal", gamma=2.0)),
    ):
        base = lxgb.init_margin(loss, y)
        dtrain = xgboost.DMatrix(X, label=y, base_margin=base, nthread=threads)
        obj = lxgb.objective(loss)
        obj(base.astype(np.float32), dtrain)  # warm-up: validation, numba compilation
        extra = lxgb.FOCAL_DEFAULTS if loss.name == "focal" else {}
        stamps = _Stamps()
        calls: list[float] = []
        xgboost.train(
            {**params, **extra}, dtrain, rounds, obj=_timed(obj, calls), callbacks=[stamps]
        )
        out[name] = (_per_round(stamps.t), float(statistics.median(calls)))
    return out


def bench_lightgbm(X: Any, y: Any, rounds: int, threads: int) -> dict[str, Timing]:
    """Median seconds per round (and per objective call) for each objective."""
    params: dict[str, Any] = {
        "num_leaves": 31,
        "learning_rate": 0.1,
        "num_threads": threads,
        "verbose": -1,
        "seed": 0,
        "metric": "None",
    }
    out: dict[str, Timing] = {}

    def run(extra: dict[str, Any], dataset: Any) -> float:
        stamps = [time.perf_counter()]

        def stamp(env: Any) -> None:
            stamps.append(time.perf_counter())

        lightgbm.train({**params, **extra}, dataset, rounds, callbacks=[stamp])
        return _per_round(stamps)

    ds = lightgbm.Dataset(X, label=y, params={"verbose": -1}, free_raw_data=False).construct()
    out["built-in binary"] = (run({"objective": "binary"}, ds), None)
    for name, loss in (
        ("losslab log_loss", losslab.get_loss("log_loss")),
        ("losslab focal (gamma=2)", losslab.get_loss("focal", gamma=2.0)),
    ):
        init = llgb.init_score(loss, y)
        dsl = lightgbm.Dataset(
            X, label=y, init_score=init, params={"verbose": -1}, free_raw_data=False
        ).construct()
        obj = llgb.objective(loss)
        obj(init, dsl)  # warm-up
        calls: list[float] = []
        extra: dict[str, Any] = {"objective": _timed(obj, calls)}
        if loss.name == "focal":
            extra.update(llgb.FOCAL_DEFAULTS)
        out[name] = (run(extra, dsl), float(statistics.median(calls)))
    return out


def _table(lib: str, res: dict[str, Timing]) -> list[str]:
    base = next(iter(res.values()))[0]
    lines = []
    for name, (sec, obj) in res.items():
        ratio = sec / base
        if obj is None:
            lines.append(f"| {lib} | {name} | {sec * 1e3:8.1f} | {ratio:5.2f} | | | |")
            continue
        host = (sec - obj) / base  # the round without losslab's gradient / Hessian
        verdict = "met" if ratio <= TARGET else "MISSED"
        lines.append(
            f"| {lib} | {name} | {sec * 1e3:8.1f} | {ratio:5.2f} | {obj * 1e3:6.1f} | "
            f"{host:5.2f} | <= {TARGET}x: {verdict} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    X, y = make_data(args.rows, args.features, args.seed)
    runners: dict[str, Callable[..., dict[str, Timing]]] = {
        "xgboost": bench_xgboost,
        "lightgbm": bench_lightgbm,
    }
    print(
        f"# {args.rows} rows x {args.features} features, {args.threads} threads, "
        f"{args.rounds} rounds; min over {args.repeats} repeats of the median s/round "
        "after 2 warm-up rounds"
    )
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"xgboost {xgboost.__version__}, lightgbm {lightgbm.__version__}, "
        f"numpy {np.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| library | objective | ms / round | ratio to built-in | ms in losslab objective | "
        "ratio without it | target |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    for lib, fn in runners.items():
        # Repeats interleave the objectives; the minimum over repeats of the per-round median
        # is the estimate least disturbed by other processes.
        runs = [fn(X, y, args.rounds, args.threads) for _ in range(args.repeats)]
        best = {name: min((run[name] for run in runs), key=lambda t: t[0]) for name in runs[0]}
        for line in _table(lib, best):
            print(line, flush=True)


if __name__ == "__main__":
    main()
