"""Benchmark: losslab's training losses in PyTorch, eager and under ``torch.compile``.

One run times a training step (forward + backward, ``z.grad`` reset each time) of

* binary focal loss (gamma = 2, alpha = 0.25, mean): ``losslab.torch.FocalLoss()`` with its
  default settings, the same with ``validate=False``, torchvision's ``sigmoid_focal_loss``
  formula (written from its documentation: torchvision is not installed here) and
  ``F.binary_cross_entropy_with_logits`` (the floor of what a sigmoid loss costs);
* softmax focal loss (gamma = 2, class indices, K = 81 classes as RetinaNet's 80 + background):
  ``losslab.torch.SoftmaxFocalLoss()`` and ``SoftmaxCrossEntropy()`` with default settings, a
  hand-written log-softmax focal loss and ``F.cross_entropy``;

each eager and compiled (``torch.compile``, default inductor backend), at 10^4 to 10^7 elements
(logits), float32, on the CPU. Default settings come first; ratios are to the baseline
(BCE-with-logits or cross-entropy) in the same mode. Every implementation is called twice
untimed (compilation), then ``--repeats`` rounds time each once (interleaved, so that load
changes hit all alike), a sample being the mean of as many steps as take about 2 ms (one step
at the larger sizes) after one untimed step (the first step after another implementation ran
meets its leftovers: at 10^4 elements it took about 10 microseconds longer, whichever
implementation came first), the order rotating from round to round (the first of a round was
still up to 10 microseconds slower per step); the median of the rounds is reported
(``--stat min``: the best round, steadier on a machine shared with other jobs; the JSON keeps
both). ``--threads`` sets both
torch's threads and losslab's kernel threads (``set_config(kernel_threads=...)``; the kernels
also use one thread per 2^16 elements at most). ``--modes eager`` skips compilation. On a
machine shared with other jobs, time two or more threads with ``OMP_WAIT_POLICY=passive`` in the
environment: torch's OpenMP workers otherwise spin at every barrier, and one that the scheduler
has parked stalls the whole step (on 2 cores at load average 3.5, a 2-thread
BCE-with-logits step at 10^6 elements took 77 ms instead of 3 ms, with or without numba loaded).

``--routes`` also times the alternative design for ``torch.compile``: the fused numba kernel
behind an opaque ``torch.library.custom_op`` with registered autograd and fake implementations,
against the tensor code that losslab.torch traces (inductor fuses it into one loop).

Run: ``python benchmarks/training_losses.py [--quick] [--routes] [--threads 2] [--stat min]
[--modes eager compiled] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own idiom)

import losslab
import losslab.torch as lt

K_CLASSES = 81
SAMPLE_SECONDS = 2e-3
"""Each timed sample repeats a step for about this long (at least once), so that a fast step
is not dominated by the cold caches of the first call after another implementation ran."""


def torchvision_focal(z: Any, y: Any, alpha: float = 0.25, gamma: float = 2.0) -> Any:
    """torchvision.ops.sigmoid_focal_loss as its documentation writes it, reduction "mean"."""
    p = torch.sigmoid(z)
    ce_loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce_loss * ((1 - p_t) ** gamma)
    alpha_t = alpha * y + (1 - alpha) * (1 - y)
    return (alpha_t * loss).mean()


def log_softmax_focal(z: Any, y: Any, gamma: float = 2.0) -> Any:
    """A hand-written softmax focal loss, autograd through log_softmax, reduction "mean"."""
    lp = torch.log_softmax(z, dim=1).gather(1, y[:, None])[:, 0]
    return (-((1 - lp.exp()) ** gamma) * lp).mean()


def _custom_op_focal() -> Callable[[Any, Any], Any]:
    """The other route: losslab's fused kernel as an opaque torch.library custom op."""
    from losslab import _kernels
    from losslab.losses import get_loss

    core = get_loss("focal")
    need = ((True, False, False), (False, True, False))

    @torch.library.custom_op("losslab_bench::focal", mutates_args=())
    def focal(y: torch.Tensor, z: torch.Tensor, k: int) -> torch.Tensor:
        fused = _kernels.try_fused("focal", core._kernel_args(), y, z, None, need[k])
        if fused is not None:
            return fused[k]  # type: ignore[no-any-return]
        out = core.loss(y, z, validate=False) if k == 0 else core.gradient(y, z, validate=False)
        return out  # type: ignore[no-any-return]

    @focal.register_fake  # type: ignore[misc]
    def _(y: torch.Tensor, z: torch.Tensor, k: int) -> torch.Tensor:
        return torch.empty_like(z)

    def setup(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[0], inputs[1])

    def backward(ctx: Any, g: Any) -> Any:
        y, z = ctx.saved_tensors
        return None, g * focal(y, z, 1), None

    focal.register_autograd(backward, setup_context=setup)
    return lambda z, y: focal(y, z, 0).mean()


def _cases(routes: bool) -> dict[str, dict[str, Callable[[Any, Any], Any]]]:
    binary: dict[str, Callable[[Any, Any], Any]] = {
        "losslab FocalLoss()": lt.FocalLoss(),
        "losslab FocalLoss(validate=False)": lt.FocalLoss(validate=False),
        "torchvision formula": torchvision_focal,
        "BCE with logits": lambda z, y: F.binary_cross_entropy_with_logits(z, y),
    }
    if routes:
        binary["focal as a custom op (numba)"] = _custom_op_focal()
    softmax: dict[str, Callable[[Any, Any], Any]] = {
        "losslab SoftmaxFocalLoss()": lt.SoftmaxFocalLoss(),
        "losslab SoftmaxCrossEntropy()": lt.SoftmaxCrossEntropy(),
        "log_softmax focal formula": log_softmax_focal,
        "F.cross_entropy": lambda z, y: F.cross_entropy(z, y),
    }
    return {"binary": binary, "softmax": softmax}


def _data(kind: str, n: int, rng: np.random.Generator) -> tuple[Any, Any]:
    if kind == "binary":
        z = torch.tensor(rng.normal(size=n) * 3, dtype=torch.float32)
        y = torch.tensor((rng.random(n) < 0.01).astype(np.float32))
        return z, y
    rows = max(n // K_CLASSES, 1)
    z = torch.tensor(rng.normal(size=(rows, K_CLASSES)) * 3, dtype=torch.float32)
    y = torch.tensor(rng.integers(0, K_CLASSES, rows))
    return z, y


def _step(f: Callable[[Any, Any], Any], z0: Any, y: Any) -> Callable[[], None]:
    z = z0.clone().requires_grad_(True)

    def step() -> None:
        z.grad = None
        f(z, y).backward()

    return step


def bench(
    kind: str,
    n: int,
    repeats: int,
    funcs: dict[str, Callable[[Any, Any], Any]],
    stat: Callable[[list[float]], float] = statistics.median,
    modes: tuple[str, ...] = ("eager", "compiled"),
) -> list[dict[str, Any]]:
    """Interleaved medians (or ``stat``) of every implementation in each of ``modes`` at n
    elements; each row also keeps the median and the best time."""
    z0, y = _data(kind, n, np.random.default_rng(0))
    steps: dict[tuple[str, str], Callable[[], None]] = {}
    for name, f in funcs.items():
        for mode in modes:
            steps[(name, mode)] = _step(f if mode == "eager" else torch.compile(f), z0, y)
    inner: dict[tuple[str, str], int] = {}
    for key, step in steps.items():
        step()  # compilation, first kernel calls
        t0 = time.perf_counter()
        step()
        inner[key] = max(1, min(1000, int(SAMPLE_SECONDS / (time.perf_counter() - t0))))
    times: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
    keys = list(steps)
    for r in range(repeats):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:  # each leads a round in turn
            step = steps[key]
            calls = inner[key]
            step()  # untimed: the first call after another implementation meets its leftovers
            t0 = time.perf_counter()
            for _ in range(calls):
                step()
            times[key].append((time.perf_counter() - t0) / calls)
    baseline = list(funcs)[3]
    rows = []
    for (name, mode), ts in times.items():
        seconds = stat(ts)
        base = stat(times[(baseline, mode)])
        rows.append(
            {
                "kind": kind,
                "n": n,
                "name": name,
                "mode": mode,
                "seconds": seconds,
                "ratio": seconds / base,
                "median": statistics.median(ts),
                "best": min(ts),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1e4 and 1e5 only, 3 repeats")
    parser.add_argument("--routes", action="store_true", help="also time the custom-op route")
    parser.add_argument(
        "--stat",
        choices=["median", "min"],
        default="median",
        help="statistic of the rounds: min suits a machine shared with other jobs",
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["eager", "compiled"], default=["eager", "compiled"]
    )
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [1e4, 1e5], 3
    torch.set_num_threads(args.threads)
    losslab.set_config(kernel_threads=args.threads)
    modes = tuple(args.modes)
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": args.threads,
        "modes": list(modes),
        "stat": args.stat,
        "load_before": os.getloadavg(),
        "rows": [],
    }
    print(
        f"# training step (forward + backward), float32, CPU, torch {torch.__version__}, "
        f"{args.threads} threads, {args.stat} of {args.repeats} interleaved rounds; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    header = f"{'n':>9}  {'implementation':<36}" + "".join(
        f" {mode + ' ms':>12} {'ratio':>6}" for mode in modes
    )
    print(header)
    for kind, funcs in _cases(args.routes).items():
        for size in args.sizes:
            stat = min if args.stat == "min" else statistics.median
            rows = bench(kind, int(size), args.repeats, funcs, stat, modes)
            results["rows"] += rows
            by = {(r["name"], r["mode"]): r for r in rows}
            for name in funcs:
                cells = "".join(
                    f" {by[(name, m)]['seconds'] * 1e3:>12.3f} {by[(name, m)]['ratio']:>6.2f}"
                    for m in modes
                )
                print(f"{int(size):>9}  {name:<36}{cells}", flush=True)
    results["load_after"] = os.getloadavg()
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
