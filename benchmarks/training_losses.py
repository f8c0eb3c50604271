"""Benchmark: focal loss as a training loss in PyTorch and JAX (forward + backward).

Times, on the CPU, the forward + backward pass of a summed focal loss (gamma = 2, alpha = 0.25)
through losslab.torch.FocalLoss, torchvision's formula (written from its documentation: there
is no torchvision package here) and binary_cross_entropy_with_logits as the floor of what a
sigmoid loss costs; and under jax.jit, losslab.jax.focal against optax's sigmoid_focal_loss
(when optax is installed). It also counts the bytes autograd saves for backward with
``torch.autograd.graph.saved_tensors_hooks``. Medians of repeated runs; ratios are to losslab.

Run: ``python benchmarks/training_losses.py [--sizes 1e5 1e6 1e7] [--repeats 7] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

import losslab.torch as lt


def torchvision_focal(inputs: Any, targets: Any, alpha: float = 0.25, gamma: float = 2.0) -> Any:
    """torchvision.ops.sigmoid_focal_loss (reduction "sum") as documented."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * loss).sum()


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _saved_bytes(fn: Callable[[], Any]) -> int:
    saved: list[int] = []

    def pack(t: Any) -> Any:
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(saved)


def bench_torch(n: int, repeats: int, dtype: Any) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    z0 = torch.tensor(rng.normal(size=n) * 3, dtype=dtype)
    y = torch.tensor((rng.random(n) < 0.01).astype(np.float32), dtype=dtype)
    module = lt.FocalLoss(gamma=2.0, alpha=0.25, reduction="sum", validate=False)
    cases: dict[str, Callable[[Any], Any]] = {
        "losslab FocalLoss": lambda z: module(z, y),
        "torchvision formula": lambda z: torchvision_focal(z, y),
        "BCE with logits": lambda z: F.binary_cross_entropy_with_logits(z, y, reduction="sum"),
    }
    out = {}
    for name, f in cases.items():
        z = z0.clone().requires_grad_(True)

        def step(f: Callable[[Any], Any] = f, z: Any = z) -> None:
            z.grad = None
            f(z).backward()

        out[name] = {"seconds": _median_time(step, repeats), "saved_bytes": _saved_bytes(step)}
    return out


def bench_jax(n: int, repeats: int) -> dict[str, dict[str, float]]:
    import jax
    import jax.numpy as jnp

    import losslab.jax as lj

    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=n) * 3, dtype=jnp.float32)
    y = jnp.asarray((rng.random(n) < 0.01).astype(np.float32))
    cases: dict[str, Callable[[Any], Any]] = {
        "losslab.jax.focal": lambda zz: lj.focal(zz, y, gamma=2.0, alpha=0.25, reduction="sum")
    }
    try:
        import optax

        cases["optax sigmoid_focal_loss"] = lambda zz: jnp.sum(
            optax.sigmoid_focal_loss(zz, y, alpha=0.25, gamma=2.0)
        )
    except ImportError:
        pass
    out = {}
    for name, f in cases.items():
        vg = jax.jit(jax.value_and_grad(f))
        out[name] = {"seconds": _median_time(lambda vg=vg: jax.block_until_ready(vg(z)), repeats)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, torch threads {args.threads}",
        "torch": torch.__version__,
        "rows": [],
    }
    print(
        f"# forward + backward of a summed focal loss (gamma=2, alpha=0.25), float32, CPU, "
        f"{args.threads} threads; median of {args.repeats}"
    )
    print(f"{'n':>9}  {'implementation':<26} {'seconds':>10} {'x losslab':>10} {'saved MB':>9}")
    for size in args.sizes:
        n = int(size)
        for framework, res in (
            ("torch", bench_torch(n, args.repeats, torch.float32)),
            ("jax", bench_jax(n, args.repeats)),
        ):
            base = next(iter(res.values()))["seconds"]
            for name, r in res.items():
                saved = r.get("saved_bytes")
                saved_s = f"{saved / 1e6:9.2f}" if saved is not None else f"{'-':>9}"
                ratio = r["seconds"] / base
                print(f"{n:>9}  {name:<26} {r['seconds']:>10.5f} {ratio:>10.2f} {saved_s}")
                results["rows"].append({"n": n, "framework": framework, "name": name, **r})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
