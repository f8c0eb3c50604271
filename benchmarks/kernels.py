"""Side-by-side benchmark of losslab's fused kernels against the peers a user would pick instead.

One run times, for each task, size, dtype and thread count, every implementation below and
the memory floor, and reports medians of repeated runs with ratios to the floor and to
losslab's fused path, as a table and as JSON. Run it as a script from the repository root
(``python benchmarks/kernels.py --help``; ``benchmarks/run.py`` saves the committed results). It
is not part of the installed package: ``losslab bench`` times losslab's own losses only.

Tasks (``n`` elements, labels ``y`` with 10 % positives, logits ``z ~ N(0, 3^2)``; regression
targets ``y ~ N(0, 1)``, predictions ``z = y + N(0, 1)``, or, for a loss whose validation
rejects real targets (Poisson, gamma, Tweedie), lognormal targets and ``z = log y + N(0, 0.5^2)``):

``focal_vgh``
    focal loss (gamma = 2, alpha = 0.25) value + gradient + Hessian: losslab fused (the
    default public call ``loss_gradient_hessian``, and with ``validate=False``), losslab
    generic (``use_kernels=False``), naive NumPy (the textbook formulas), torch with
    torchvision's ``sigmoid_focal_loss`` formula written from its documentation (forward +
    backward + double backward; there is no torchvision dependency), optax's
    ``sigmoid_focal_loss`` under ``jax.jit`` (value, ``grad`` and ``grad`` of ``grad``).
``log_loss_gh``
    log loss gradient + Hessian: losslab fused / generic, naive NumPy, scikit-learn's
    ``HalfBinomialLoss.gradient_hessian`` (with ``n_threads``), torch
    ``binary_cross_entropy_with_logits`` (backward + double backward), optax's
    ``sigmoid_binary_cross_entropy`` under ``jax.jit``.
``<loss>_vg``
    value + gradient of every element-wise loss in the registry (``losslab.LOSSES``, every
    loss that is not multiclass): losslab fused and generic.

The memory floor of a task with ``k`` outputs copies ``y`` and ``z`` into new arrays and fills
the remaining ``k - 2`` new arrays: the same bytes read and written and the same allocations
as the loss call (single-threaded NumPy). Each thread count runs in its own subprocess, pinned
to that many cores (``os.sched_setaffinity``) with ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``,
``torch.set_num_threads`` and XLA's thread flags set before anything is imported, so that every
library sees the same cores. Timings are interleaved: after one untimed first call of each
implementation (compilation, tracing), every round calls each implementation once, so that a
change in the machine's load affects all of them alike; the table reports the median of the
rounds. torch and optax (which allocate and free gigabytes at 10^7 elements, slowing the page
faults of what runs next) are timed in a second phase, after the others. Peers that are not
installed are reported as "not installed". The targets are checked at the largest size, the
most threads and float64 (or the first dtype) of the run, so a short run still gets verdicts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

__all__ = [
    "ELEMENTWISE_LOSSES",
    "TASKS",
    "bench",
    "evaluate_targets",
    "format_table",
    "machine_info",
    "run_benchmark",
]


def _elementwise_losses() -> tuple[str, ...]:
    """Every registered loss with one prediction per row, in registry order."""
    import losslab

    return tuple(name for name, cls in losslab.LOSSES.items() if cls.kind != "multiclass")


ELEMENTWISE_LOSSES = _elementwise_losses()
TASKS = ("focal_vgh", "log_loss_gh", *(f"{name}_vg" for name in ELEMENTWISE_LOSSES))

FLOOR = "memory floor"
FUSED = "losslab fused"
FUSED_NOVALIDATE = "losslab fused, validate=False"
GENERIC = "losslab generic"
NAIVE = "naive numpy"
SKLEARN = "sklearn HalfBinomialLoss"
TORCH = "torch (autograd)"
TORCHVISION = "torchvision formula (torch autograd)"
OPTAX = "optax (jax.jit)"

_GAMMA, _ALPHA = 2.0, 0.25
_PEER_MODULES = {SKLEARN: "sklearn", TORCH: "torch", TORCHVISION: "torch", OPTAX: "optax"}
_HEAVY = frozenset({TORCH, TORCHVISION, OPTAX})

Impl = Callable[[], Any]
_SCRIPT = str(Path(__file__).resolve())


# --------------------------------------------------------------------------- data


def _data(task: str, n: int, dtype: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    import losslab

    rng = np.random.default_rng(0)
    if _kind(task) == "binary":
        y = (rng.random(n) < 0.1).astype(dtype)
        z = rng.normal(0.0, 3.0, n).astype(dtype)
        return y, z
    y64 = rng.normal(0.0, 1.0, n)
    z64 = y64 + rng.normal(0.0, 1.0, n)
    loss = losslab.get_loss(task[: -len("_vg")])
    try:
        loss.loss(y64[:64], z64[:64])
    except ValueError:  # targets must be positive (Poisson, gamma, Tweedie): log-link data
        y64 = rng.lognormal(0.0, 0.5, n)
        z64 = np.log(y64) + rng.normal(0.0, 0.5, n)
    return y64.astype(dtype), z64.astype(dtype)


def _kind(task: str) -> str:
    """``binary`` or ``regression``: the kind the registry declares for the task's loss."""
    import losslab

    if task in ("focal_vgh", "log_loss_gh"):
        return "binary"
    return str(losslab.LOSSES[task[: -len("_vg")]].kind)


def _n_outputs(task: str) -> int:
    return 3 if task == "focal_vgh" else 2


# --------------------------------------------------------------------------- implementations


def _floor(y: np.ndarray[Any, Any], z: np.ndarray[Any, Any], k: int) -> Impl:
    def run() -> Any:
        out = [y.copy(), z.copy()]
        for _ in range(k - 2):
            extra = np.empty_like(z)
            extra.fill(0)
            out.append(extra)
        return out

    return run


def _losslab(task: str, y: Any, z: Any, *, kernels: bool, validate: bool = True) -> Impl:
    import losslab

    method: Callable[..., Any]
    if task == "focal_vgh":
        loss = losslab.get_loss("focal", gamma=_GAMMA, alpha=_ALPHA)
        method = loss.loss_gradient_hessian
    elif task == "log_loss_gh":
        method = losslab.get_loss("log_loss").gradient_hessian
    else:
        method = losslab.get_loss(task[: -len("_vg")]).loss_gradient

    def run() -> Any:
        with losslab.config_context(use_kernels=kernels):
            return method(y, z, validate=validate)

    return run


def _naive(task: str, y: Any, z: Any) -> Impl:
    if task == "log_loss_gh":

        def run() -> Any:
            p = 1.0 / (1.0 + np.exp(-z))
            return p - y, p * (1.0 - p)

        return run

    def focal() -> Any:
        # The textbook formulas, as a user would write them (p_t from p, no stable forms).
        p = 1.0 / (1.0 + np.exp(-z))
        pos = y == 1
        pt = np.where(pos, p, 1.0 - p)
        at = np.where(pos, _ALPHA, 1.0 - _ALPHA)
        q = 1.0 - pt
        ce = -np.log(pt)
        qg = at * q**_GAMMA
        sign = 2.0 * y - 1.0
        value = qg * ce
        grad = -sign * qg * (_GAMMA * pt * ce + q)
        hess = qg * (_GAMMA * pt * ce * (_GAMMA * pt - q) + (2.0 * _GAMMA + 1.0) * q * pt)
        return value, grad, hess

    return focal


def _sklearn(y: Any, z: Any, threads: int) -> Impl:
    loss = importlib.import_module("sklearn._loss.loss").HalfBinomialLoss()

    def run() -> Any:
        return loss.gradient_hessian(y_true=y, raw_prediction=z, n_threads=threads)

    return run


def _torch(task: str, y: Any, z: Any) -> Impl:
    torch: Any = importlib.import_module("torch")
    F: Any = importlib.import_module("torch.nn.functional")

    ty = torch.from_numpy(y)
    tz0 = torch.from_numpy(z)

    def torchvision_focal(inputs: Any, targets: Any) -> Any:
        # torchvision.ops.sigmoid_focal_loss (reduction="none"), from its documentation.
        p = torch.sigmoid(inputs)
        ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce_loss * ((1 - p_t) ** _GAMMA)
        alpha_t = _ALPHA * targets + (1 - _ALPHA) * (1 - targets)
        return alpha_t * loss

    def bce(inputs: Any, targets: Any) -> Any:
        return F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")

    fn = torchvision_focal if task == "focal_vgh" else bce

    def run() -> Any:
        tz = tz0.detach().requires_grad_(True)
        value = fn(tz, ty)
        (grad,) = torch.autograd.grad(value.sum(), tz, create_graph=True)
        (hess,) = torch.autograd.grad(grad.sum(), tz)
        return value.detach(), grad.detach(), hess

    return run


def _optax(task: str, y: Any, z: Any) -> Impl:
    jax: Any = importlib.import_module("jax")
    jnp: Any = importlib.import_module("jax.numpy")
    optax: Any = importlib.import_module("optax")

    if task == "focal_vgh":

        def elementwise(zz: Any, yy: Any) -> Any:
            return optax.sigmoid_focal_loss(zz, yy, alpha=_ALPHA, gamma=_GAMMA)

    else:

        def elementwise(zz: Any, yy: Any) -> Any:
            return optax.sigmoid_binary_cross_entropy(zz, yy)

    def grad_fn(zz: Any, yy: Any) -> Any:
        return jax.grad(lambda t: jnp.sum(elementwise(t, yy)))(zz)

    def all_three(zz: Any, yy: Any) -> Any:
        value = elementwise(zz, yy)
        grad = grad_fn(zz, yy)
        hess = jax.grad(lambda t: jnp.sum(grad_fn(t, yy)))(zz)
        return value, grad, hess

    def grad_hess(zz: Any, yy: Any) -> Any:
        return grad_fn(zz, yy), jax.grad(lambda t: jnp.sum(grad_fn(t, yy)))(zz)

    fn = jax.jit(all_three if task == "focal_vgh" else grad_hess)
    jy, jz = jnp.asarray(y), jnp.asarray(z)

    def run() -> Any:
        return jax.block_until_ready(fn(jz, jy))

    return run


def _implementations(task: str, threads: int) -> list[str]:
    if task == "focal_vgh":
        return [FLOOR, FUSED, FUSED_NOVALIDATE, GENERIC, NAIVE, TORCHVISION, OPTAX]
    if task == "log_loss_gh":
        return [FLOOR, FUSED, FUSED_NOVALIDATE, GENERIC, NAIVE, SKLEARN, TORCH, OPTAX]
    return [FLOOR, FUSED, GENERIC]


def _make(impl: str, task: str, y: Any, z: Any, threads: int) -> Impl:
    if impl == FLOOR:
        return _floor(y, z, _n_outputs(task))
    if impl == FUSED:
        return _losslab(task, y, z, kernels=True)
    if impl == FUSED_NOVALIDATE:
        return _losslab(task, y, z, kernels=True, validate=False)
    if impl == GENERIC:
        return _losslab(task, y, z, kernels=False)
    if impl == NAIVE:
        return _naive(task, y, z)
    if impl == SKLEARN:
        return _sklearn(y, z, threads)
    if impl in (TORCH, TORCHVISION):
        return _torch(task, y, z)
    if impl == OPTAX:
        return _optax(task, y, z)
    raise ValueError(f"unknown implementation {impl!r}")


# --------------------------------------------------------------------------- timing


def _time_interleaved(fns: dict[str, Impl], repeats: int) -> dict[str, dict[str, Any]]:
    """Time every implementation ``repeats`` times, in rounds (one call of each per round), so
    that a change in the machine's load affects all of them alike. One untimed first call each
    (compilation, tracing, warm caches) is reported as ``first_s``."""
    out: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = {}
    for name, fn in fns.items():
        try:
            t0 = time.perf_counter()
            fn()
            out[name] = {"status": "ok", "first_s": time.perf_counter() - t0}
            times[name] = []
        except Exception as exc:  # a peer's failure is a result, not a crash
            out[name] = {"status": f"error: {type(exc).__name__}: {exc}"[:300]}
    for _ in range(repeats):
        for name in times:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        out[name].update(median_s=float(np.median(ts)), min_s=float(np.min(ts)))
    return out


def _worker(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Run every task/size/dtype at one thread count (inside the pinned subprocess)."""
    threads = int(spec["threads"])
    records: list[dict[str, Any]] = []
    # the frameworks are imported (and configured) only when a task times them
    peers = {_PEER_MODULES.get(i) for t in spec["tasks"] for i in _implementations(t, threads)}
    if "optax" in peers and importlib.util.find_spec("jax") is not None:
        jax: Any = importlib.import_module("jax")
        jax.config.update("jax_enable_x64", True)
    if "torch" in peers and importlib.util.find_spec("torch") is not None:
        importlib.import_module("torch").set_num_threads(threads)
    for task in spec["tasks"]:
        for dtype_name in spec["dtypes"]:
            dtype = np.dtype(dtype_name)
            for n in spec["sizes"]:
                y, z = _data(task, int(n), dtype)
                base = {"task": task, "n": int(n), "dtype": dtype.name, "threads": threads}
                group: dict[str, dict[str, Any]] = {}
                impls = _implementations(task, threads)
                # Two phases: the autograd frameworks allocate and free gigabytes, which
                # slows the page faults of whatever runs next; they are timed after the rest.
                for phase in (
                    [i for i in impls if i not in _HEAVY],
                    [i for i in impls if i in _HEAVY],
                ):
                    fns: dict[str, Impl] = {}
                    for impl in phase:
                        module = _PEER_MODULES.get(impl)
                        if module is not None and importlib.util.find_spec(module) is None:
                            group[impl] = {"status": "not installed"}
                            continue
                        try:
                            fns[impl] = _make(impl, task, y, z, threads)
                        except Exception as exc:
                            group[impl] = {"status": f"error: {type(exc).__name__}: {exc}"[:300]}
                    group.update(_time_interleaved(fns, int(spec["repeats"])))
                    del fns
                for impl in impls:
                    record = {**base, "impl": impl, **group[impl]}
                    records.append(record)
                    if spec.get("progress"):
                        print(_progress_line(record), file=sys.stderr, flush=True)
                del group
    return records


def _progress_line(r: dict[str, Any]) -> str:
    t = f"{r['median_s']:.4g} s" if r.get("status") == "ok" else r.get("status", "")
    return f"  [{r['threads']} thr] {r['task']} {r['dtype']} n={r['n']:.0e} {r['impl']}: {t}"


def _thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    value = str(threads)
    for name in (
        "NUMBA_NUM_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "LOSSLAB_KERNEL_THREADS",
    ):
        env[name] = value
    flags = env.get("XLA_FLAGS", "")
    if threads == 1:
        flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["XLA_FLAGS"] = flags.strip()
    env.pop("LOSSLAB_USE_KERNELS", None)
    return env


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory and library versions of this machine."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            info["memory_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not Linux
        pass
    for module in ("numba", "sklearn", "torch", "jax", "optax"):
        if importlib.util.find_spec(module) is not None:
            try:
                from importlib.metadata import version

                dist = {"sklearn": "scikit-learn"}.get(module, module)
                info[module] = version(dist)
            except Exception:  # pragma: no cover - metadata missing
                info[module] = "installed"
        else:
            info[module] = "not installed"
    return info


def run_benchmark(
    *,
    sizes: Sequence[int] = (10**5, 10**6, 10**7),
    dtypes: Sequence[str] = ("float32", "float64"),
    threads: Sequence[int] = (1, 2),
    repeats: int = 5,
    tasks: Sequence[str] = TASKS,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the benchmark; one pinned subprocess per thread count.

    Returns ``{"machine": ..., "settings": ..., "results": [records], "targets": [...]}``; a
    record holds ``task, impl, n, dtype, threads, status`` and, when ``status == "ok"``,
    ``median_s``, ``min_s`` and ``first_s`` (the first call, compilation included).

    Raises
    ------
    ValueError
        Unknown task or dtype, or a thread count outside 1..cpu_count.
    RuntimeError
        A worker subprocess failed.
    """
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    for d in dtypes:
        if d not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {d!r}")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    for t in threads:
        if t < 1 or (cpus and t > len(cpus)):
            raise ValueError(f"threads must lie in 1..{len(cpus) or os.cpu_count()}, got {t}")
    results: list[dict[str, Any]] = []
    for t in threads:
        spec = {
            "threads": t,
            "cpus": cpus[:t],
            "sizes": [int(n) for n in sizes],
            "dtypes": list(dtypes),
            "repeats": int(repeats),
            "tasks": list(tasks),
            "progress": progress,
        }
        with tempfile.TemporaryDirectory() as tmp:
            spec_path = Path(tmp) / "spec.json"
            out_path = Path(tmp) / "out.json"
            spec_path.write_text(json.dumps(spec))
            proc = subprocess.run(
                [sys.executable, _SCRIPT, "--worker", str(spec_path), str(out_path)],
                env=_thread_env(t),
                check=False,
            )
            if proc.returncode != 0 or not out_path.exists():
                raise RuntimeError(f"benchmark worker for {t} thread(s) failed ({proc.returncode})")
            results.extend(json.loads(out_path.read_text()))
    settings = {
        "sizes": list(sizes),
        "dtypes": list(dtypes),
        "threads": list(threads),
        "repeats": repeats,
        "tasks": list(tasks),
    }
    out = {"machine": machine_info(), "settings": settings, "results": results}
    out["targets"] = evaluate_targets(
        results,
        n=max(int(n) for n in sizes),
        dtype="float64" if "float64" in dtypes else dtypes[0],
        threads=max(threads),
    )
    return out


# --------------------------------------------------------------------------- reporting


def _index(results: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(r["task"], r["dtype"], r["n"], r["threads"], r["impl"]): r for r in results}


def _median(idx: dict[tuple[Any, ...], dict[str, Any]], key: tuple[Any, ...]) -> float | None:
    r = idx.get(key)
    return r["median_s"] if r is not None and r.get("status") == "ok" else None


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: median seconds, ratio to the memory floor and to losslab fused."""
    idx = _index(results)
    groups = sorted(
        {k[:4] for k in idx},
        key=lambda k: (TASKS.index(k[0]) if k[0] in TASKS else 99, k[1], k[2], k[3]),
    )
    lines = [
        "| task | dtype | n | threads | implementation | median s | / floor | / fused |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        floor = _median(idx, (*g, FLOOR))
        fused = _median(idx, (*g, FUSED))
        for r in results:
            if (r["task"], r["dtype"], r["n"], r["threads"]) != g:
                continue
            if r.get("status") != "ok":
                cells = [str(r.get("status")), "", ""]
            else:
                m = r["median_s"]
                cells = [
                    f"{m:.4g}",
                    f"{m / floor:.2f}" if floor else "",
                    f"{m / fused:.2f}" if fused else "",
                ]
            lines.append(
                f"| {g[0]} | {g[1]} | {g[2]:.0e} | {g[3]} | {r['impl']} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def evaluate_targets(
    results: Sequence[dict[str, Any]], *, n: int = 10**7, dtype: str = "float64", threads: int = 2
) -> list[dict[str, Any]]:
    """Check the performance targets of the fused kernels at ``n``, ``dtype``, ``threads``.

    * focal value + gradient + Hessian (default public call) within 4x of the memory floor;
    * at least 10x faster than optax under ``jax.jit`` and 20x faster than torchvision's
      formula;
    * log loss gradient + Hessian at least as fast as scikit-learn's ``HalfBinomialLoss``;
    * every element-wise loss within 4x of the memory floor for value + gradient.

    Only the targets of the tasks in ``results`` are checked. Each entry: ``target``,
    ``measured`` (a ratio), ``bound``, ``met`` (None when a timing is missing: a peer not
    installed).
    """
    idx = _index(results)

    def ratio(task: str, num: str, den: str) -> float | None:
        a = _median(idx, (task, dtype, n, threads, num))
        b = _median(idx, (task, dtype, n, threads, den))
        return None if a is None or b is None else a / b

    # (task, target, numerator, denominator, bound, "le" or "ge")
    checks: list[tuple[str, str, str, str, float, str]] = [
        ("focal_vgh", "focal VGH: fused / floor <= 4", FUSED, FLOOR, 4.0, "le"),
        ("focal_vgh", "focal VGH: optax / fused >= 10", OPTAX, FUSED, 10.0, "ge"),
        ("focal_vgh", "focal VGH: torchvision / fused >= 20", TORCHVISION, FUSED, 20.0, "ge"),
        ("log_loss_gh", "log_loss GH: fused / sklearn <= 1", FUSED, SKLEARN, 1.0, "le"),
    ]
    for name in ELEMENTWISE_LOSSES:
        checks.append((f"{name}_vg", f"{name} VG: fused / floor <= 4", FUSED, FLOOR, 4.0, "le"))
    run = {r["task"] for r in results}
    out = []
    for task, target, num, den, bound, kind in checks:
        if task not in run:  # a task left out of this run has no verdict to give
            continue
        measured = ratio(task, num, den)
        met = (
            None if measured is None else (measured <= bound if kind == "le" else measured >= bound)
        )
        out.append(
            {
                "target": target,
                "measured": measured,
                "bound": bound,
                "met": met,
                "at": {"n": n, "dtype": dtype, "threads": threads},
            }
        )
    return out


def format_targets(targets: Sequence[dict[str, Any]]) -> str:
    """The targets as a Markdown table, with the size, dtype and threads they were checked at."""
    at = targets[0]["at"] if targets else {}
    lines = []
    if at:
        lines += [f"Targets at n = {at['n']:.0e}, {at['dtype']}, {at['threads']} thread(s):", ""]
    lines += ["| target | measured | met |", "|---|---|---|"]
    for t in targets:
        m = t["measured"]
        met = {True: "yes", False: "NO", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {'' if m is None else f'{m:.2f}'} | {met} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def _parse_ints(text: str) -> list[int]:
    try:
        return [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


@click.command(name="kernels")
@click.option("--sizes", default="1e5,1e6,1e7", show_default=True, help="Comma-separated sizes.")
@click.option(
    "--dtypes", default="float32,float64", show_default=True, help="float32 and/or float64."
)
@click.option("--threads", "threads_", default="1,2", show_default=True, help="Thread counts.")
@click.option(
    "--repeats", default=5, show_default=True, type=click.IntRange(1), help="Timed runs (median)."
)
@click.option(
    "--tasks",
    default=",".join(TASKS),
    show_default=False,
    help="Comma-separated tasks (default: all).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results as JSON here.",
)
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def bench(
    sizes: str,
    dtypes: str,
    threads_: str,
    repeats: int,
    tasks: str,
    json_path: Path | None,
    quiet: bool,
) -> None:
    """Time losslab's fused kernels against the generic path, NumPy, scikit-learn, torch and
    optax, with the memory floor; print a table of medians and ratios."""
    try:
        result = run_benchmark(
            sizes=_parse_ints(sizes),
            dtypes=[d.strip() for d in dtypes.split(",") if d.strip()],
            threads=_parse_ints(threads_),
            repeats=repeats,
            tasks=[t.strip() for t in tasks.split(",") if t.strip()],
            progress=not quiet,
        )
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_table(result["results"]))
    click.echo()
    click.echo(format_targets(result["targets"]))
    if json_path is not None:
        tmp = json_path.with_name(json_path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(json_path)


def _worker_main(argv: Sequence[str]) -> None:
    """Worker entry point: ``python benchmarks/kernels.py --worker SPEC.json OUT.json``."""
    spec = json.loads(Path(argv[0]).read_text())
    if spec.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, spec["cpus"])
    records = _worker(spec)
    Path(argv[1]).write_text(json.dumps(records))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker_main(sys.argv[2:])
    else:
        bench.main(args=sys.argv[1:], prog_name="python benchmarks/kernels.py")
