"""Focal value + gradient + Hessian from the fused kernel against the memory floor, per dtype.

The small benchmark behind the issue-10 kernel target ("float32 focal V+G+H at 10^7 on one
thread within 2x of the memory floor"): for each dtype it times, in interleaved rounds,

* ``fused``: ``get_loss("focal", gamma=2, alpha=0.25).loss_gradient_hessian(y, z,
  validate=False)`` (the fused numba kernel; ``kernel_threads`` set to ``--threads``);
* ``floor``: the memory floor, copying ``y`` and ``z`` into new arrays and filling a third
  (2 inputs read, 3 outputs written and allocated, as in ``benchmarks/kernels.py``);

and prints the median seconds, the ratio fused / floor, its spread over the rounds (the
ratio of each round, 25th to 75th percentile) and the ratio of the fastest rounds (the least
disturbed by other jobs on a shared machine), with the machine's load average. The process
is pinned to ``--threads`` cores. Run from the repository root::

    NUMBA_NUM_THREADS=1 python benchmarks/kernel_threads.py --n 1e7 --rounds 15
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _floor(y: np.ndarray[Any, Any], z: np.ndarray[Any, Any]) -> Callable[[], Any]:
    def run() -> Any:
        extra = np.empty_like(z)
        extra.fill(0)
        return y.copy(), z.copy(), extra

    return run


def _fused(loss: Any, y: np.ndarray[Any, Any], z: np.ndarray[Any, Any]) -> Callable[[], Any]:
    def run() -> Any:
        return loss.loss_gradient_hessian(y, z, validate=False)

    return run


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, time both implementations per dtype and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7, help="elements (default 1e7)")
    parser.add_argument("--threads", type=int, default=1, help="kernel threads (default 1)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--dtypes", default="float32,float64")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[: args.threads]
        os.sched_setaffinity(0, cores)

    import numba

    import losslab

    losslab.set_config(kernel_threads=args.threads)
    n = int(args.n)
    rng = np.random.default_rng(0)
    y64 = (rng.random(n) < 0.1).astype(np.float64)
    z64 = rng.normal(0.0, 3.0, n)
    loss = losslab.get_loss("focal", gamma=2.0, alpha=0.25)
    impls: dict[tuple[str, str], Callable[[], Any]] = {}
    for name in args.dtypes.split(","):
        y, z = y64.astype(name), z64.astype(name)
        impls[(name, "floor")] = _floor(y, z)
        impls[(name, "fused")] = _fused(loss, y, z)
    for run in impls.values():  # compile / load the kernels, touch the pages
        run()
    times: dict[tuple[str, str], list[float]] = {key: [] for key in impls}
    for _ in range(args.rounds):
        for key, run in impls.items():
            t0 = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - t0)
    svml = "on" if getattr(numba.config, "USING_SVML", False) else "off"
    print(
        f"focal (gamma 2, alpha 0.25) loss_gradient_hessian, validate=False, n={n:.0e}, "
        f"{args.threads} thread(s), numba {numba.__version__} (SVML {svml}), "
        f"{platform.processor() or platform.machine()}"
        f", load average {[round(x, 2) for x in os.getloadavg()]}, median of {args.rounds} rounds"
    )
    print(
        "| dtype | floor s | fused s | fused / floor | per-round ratio, 25-75 % | fastest rounds |"
    )
    print("|---|---:|---:|---:|---|---:|")
    for name in args.dtypes.split(","):
        fl, fu = np.array(times[(name, "floor")]), np.array(times[(name, "fused")])
        lo, hi = np.percentile(fu / fl, [25, 75])
        print(
            f"| {name} | {np.median(fl):.4f} | {np.median(fu):.4f} | "
            f"{np.median(fu) / np.median(fl):.2f} | {lo:.2f}-{hi:.2f} | {fu.min() / fl.min():.2f} |"
        )


if __name__ == "__main__":
    main()
