"""Run the kernel benchmark (``benchmarks/kernels.py``) and save the table and the JSON here.

Usage (from the repository root, numba and the peers installed in the environment)::

    python benchmarks/run.py      # sizes 1e5,1e6,1e7; float32, float64; 1 and 2 threads
    python benchmarks/run.py --sizes 1e6 --threads 1 --repeats 3

Writes ``benchmarks/results.json`` (machine, settings, every timing, the targets) and
``benchmarks/results.md`` (the tables that ``benchmarks/README.md`` quotes). Any option of
``python benchmarks/kernels.py`` may be given; ``--json`` defaults to
``benchmarks/results.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kernels import bench, format_table, format_targets  # benchmarks/kernels.py

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    if not any(a == "--json" or a.startswith("--json=") for a in argv):
        argv = [*argv, "--json", str(HERE / "results.json")]
    bench.main(args=argv, standalone_mode=False)
    json_arg = next(
        (argv[i + 1] if a == "--json" else a.split("=", 1)[1])
        for i, a in enumerate(argv)
        if a == "--json" or a.startswith("--json=")
    )
    result = json.loads(Path(json_arg).read_text())
    machine = result["machine"]
    header = ", ".join(f"{k}: {v}" for k, v in machine.items())
    text = (
        f"Machine: {header}\n\nSettings: {json.dumps(result['settings'])}\n\n"
        f"{format_targets(result['targets'])}\n\n{format_table(result['results'])}\n"
    )
    (HERE / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
