"""Benchmark: ``losslab eval`` against pandas + losslab on the same files.

Writes ``--rows`` rows (label ``y`` with 10 % positives, logit ``z ~ N(0, 3^2)``, weight ``w``,
group ``g``) as CSV, gzip-compressed CSV and Parquet into a temporary folder, then times the mean
focal loss (gamma 2, alpha 0.25) of each file two ways, in interleaved rounds (one call of each
per round, so that a change in the machine's load hits both alike), and prints the medians, the
ratio pandas / eval of the medians (above 1: eval is faster) and of the fastest rounds:

cold
    a new process per call, as a user runs it: interpreter start, imports, reading, the loss.
    ``losslab eval --loss focal --target y --pred z FILE --json`` against ``python -c`` with
    ``pandas.read_csv(usecols=...)`` / ``pandas.read_parquet(columns=...)``,
    ``losslab.get_loss("focal").loss`` and the mean. eval keeps the generic path for its
    first 4e6 rows (loading the fused kernels costs more than they save below about 10^7
    rows); the pandas route uses the kernels, as losslab does by default.
cold, kernels off
    the same with ``LOSSLAB_USE_KERNELS=0`` for both: the reading compared alone.
warm
    the same work inside one process after a first call (reading and the loss only):
    ``losslab.cli.main([...])`` against the pandas route.

Both routes must agree on the mean (relative 1e-9), or the run stops. Usage, from the
repository root::

    python benchmarks/eval_io.py                    # 10^6 rows, 5 rounds
    python benchmarks/eval_io.py --rows 1e5 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

PANDAS_SNIPPET = """
import sys
import numpy as np
import pandas as pd
import losslab
f = sys.argv[1]
if f.endswith(".parquet"):
    df = pd.read_parquet(f, columns=["y", "z"])
else:
    df = pd.read_csv(f, usecols=["y", "z"])
loss = losslab.get_loss("focal")
v = loss.loss(df["y"].to_numpy(np.float64), df["z"].to_numpy(np.float64))
print(repr(float(np.mean(v))))
"""
EVAL_SNIPPET = "from losslab.cli import main; main()"
EVAL_ARGS = ["eval", "--loss", "focal", "--target", "y", "--pred", "z", "--no-progress", "--json"]


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    """The same ``rows`` rows as ``data.csv``, ``data.csv.gz`` and ``data.parquet``."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "y": (rng.random(rows) < 0.1).astype(np.int64),
            "z": rng.normal(0.0, 3.0, rows),
            "w": rng.integers(1, 4, rows),
            "g": rng.choice(["a", "b", "c", "d"], rows),
        }
    )
    paths = {
        "CSV": folder / "data.csv",
        "CSV, gzip": folder / "data.csv.gz",
        "Parquet": folder / "data.parquet",
    }
    frame.to_csv(paths["CSV"], index=False)
    frame.to_csv(paths["CSV, gzip"], index=False, compression="gzip")
    frame.to_parquet(paths["Parquet"], index=False)
    return paths


def _run(cmd: list[str], kernels: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "LOSSLAB_USE_KERNELS"}
    if kernels is not None:
        env["LOSSLAB_USE_KERNELS"] = kernels
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc.stdout


def cold_eval(path: Path, kernels: str | None = None) -> float:
    out = _run([sys.executable, "-c", EVAL_SNIPPET, *EVAL_ARGS, str(path)], kernels)
    return float(json.loads(out)["total"]["mean"])


def cold_pandas(path: Path, kernels: str | None = None) -> float:
    return float(_run([sys.executable, "-c", PANDAS_SNIPPET, str(path)], kernels))


def cold_eval_generic(path: Path) -> float:
    return cold_eval(path, "0")


def cold_pandas_generic(path: Path) -> float:
    return cold_pandas(path, "0")


def warm_eval(path: Path) -> float:
    from losslab.cli import cli

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli.main(args=[*EVAL_ARGS, str(path)], standalone_mode=False)
    return float(json.loads(buf.getvalue())["total"]["mean"])


def warm_pandas(path: Path) -> float:
    import pandas as pd

    import losslab

    if path.suffix == ".parquet":
        df = pd.read_parquet(path, columns=["y", "z"])
    else:
        df = pd.read_csv(path, usecols=["y", "z"])
    v = losslab.get_loss("focal").loss(df["y"].to_numpy(np.float64), df["z"].to_numpy(np.float64))
    return float(np.mean(v))


def time_pair(
    fns: dict[str, Callable[[Path], float]], path: Path, repeats: int
) -> dict[str, dict[str, float]]:
    """Median and min seconds of each function on ``path``, in interleaved rounds after one
    untimed call each; checks that they return the same mean."""
    results = {name: fn(path) for name, fn in fns.items()}
    first, *others = results.values()
    for value in others:
        if not np.isclose(value, first, rtol=1e-9, atol=0):
            raise RuntimeError(f"the routes disagree on {path.name}: {results}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(path)
            times[name].append(time.perf_counter() - t0)
    return {
        name: {"median_s": float(np.median(ts)), "min_s": float(np.min(ts))}
        for name, ts in times.items()
    }


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    for dist in ("numpy", "pandas", "pyarrow", "numba"):
        try:
            info[dist] = version(dist)
        except Exception:  # not installed
            info[dist] = "not installed"
    return info


def main(argv: list[str] | None = None) -> int:
    """Write the files, time both routes, print the table (and the JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=float, default=1e6, help="rows per file (default 1e6)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    rows = int(args.rows)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), rows)
        for fmt, path in paths.items():
            for mode, fns in (
                ("cold", {"losslab eval": cold_eval, "pandas + losslab": cold_pandas}),
                (
                    "cold, kernels off",
                    {"losslab eval": cold_eval_generic, "pandas + losslab": cold_pandas_generic},
                ),
                ("warm", {"losslab eval": warm_eval, "pandas + losslab": warm_pandas}),
            ):
                t = time_pair(fns, path, args.repeats)
                records.append(
                    {
                        "format": fmt,
                        "mode": mode,
                        "bytes": path.stat().st_size,
                        "eval_s": t["losslab eval"]["median_s"],
                        "pandas_s": t["pandas + losslab"]["median_s"],
                        "ratio": t["pandas + losslab"]["median_s"] / t["losslab eval"]["median_s"],
                        "ratio_min": t["pandas + losslab"]["min_s"] / t["losslab eval"]["min_s"],
                        "times": t,
                    }
                )
                print(f"  {fmt} {mode}: done", file=sys.stderr, flush=True)
    info = machine()
    busy = info["load_average"][0] > (info["cpu_count"] or 1)
    if busy:
        print(
            f"note: load average {info['load_average'][0]} on {info['cpu_count']} cores: other "
            "work shared the CPU, so pyarrow's threads had no idle core to use"
        )
    print(
        f"{rows:.0e} rows, focal mean; median of {args.repeats} interleaved rounds; "
        f"{info['cpu_count']} cores, load average {info['load_average']}; "
        f"Python {info['python']}, pandas {info['pandas']}, pyarrow {info['pyarrow']}, "
        f"numba {info['numba']}"
    )
    print()
    print(
        "| file | MB | run | losslab eval s | pandas + losslab s | pandas / eval "
        "| pandas / eval, fastest rounds |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for r in records:
        print(
            f"| {r['format']} | {r['bytes'] / 1e6:.1f} | {r['mode']} | {r['eval_s']:.3f} | "
            f"{r['pandas_s']:.3f} | {r['ratio']:.2f} | {r['ratio_min']:.2f} |"
        )
    if args.json is not None:
        settings = {"rows": rows, "repeats": args.repeats}
        args.json.write_text(
            json.dumps({"machine": info, "settings": settings, "results": records}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
