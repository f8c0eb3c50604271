"""Shared plumbing of the lab: run configuration, seeding, progress, figures and JSON output.

Every experiment receives a :class:`RunContext` (mode, seed, figure folder, progress callback)
and returns a plain dict of JSON-ready numbers; nothing here knows about a particular claim.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MODES",
    "RunContext",
    "atomic_write_bytes",
    "atomic_write_text",
    "child_rng",
    "dump_json",
    "new_figure",
    "save_figure",
    "to_jsonable",
]

MODES = ("quick", "default", "full")


@dataclass
class RunContext:
    """What an experiment needs to run: the size ``mode``, the ``seed``, where figures go and a
    ``progress`` callback taking the number of finished work units."""

    mode: str
    seed: int
    figdir: Path
    progress: Callable[[int], None] = field(default=lambda n: None)

    def rng(self, *key: int) -> np.random.Generator:
        """A generator seeded from ``(seed, *key)``: independent streams per experiment part."""
        return child_rng(self.seed, *key)


def child_rng(seed: int, *key: int) -> np.random.Generator:
    """``numpy.random.default_rng`` seeded with the sequence ``[seed, *key]`` (no global state)."""
    return np.random.default_rng([int(seed), *[int(k) for k in key]])


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy scalars/arrays, tuples and non-finite floats into strict-JSON values.

    Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"`` so that the file is
    valid JSON (``json.loads`` with no NaN extension) and no information is lost.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place, so that a
    reader never sees a half-written file. Raises ``OSError`` from the file system."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def dump_json(obj: Any) -> str:
    """Strict JSON (no NaN/Infinity tokens) of ``to_jsonable(obj)``, indented."""
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False, sort_keys=False) + "\n"


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 7.0, height: float = 4.2) -> Any:
    """A matplotlib ``(figure, axes)`` pair on the Agg backend (no display is ever opened)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    return fig, axes


def loss_cdf_figure(
    dist: Mapping[str, Any],
    *,
    xlabel: Callable[[str], str],
    title: Callable[[str], str],
    unit_limits: bool = False,
) -> Any:
    """The paper's Figure 4: the cumulative normalised loss of the positives and of the
    negatives (two panels), one line per gamma of ``dist["gammas"]`` from
    ``dist["curves"][str(gamma)]`` (``fraction`` and one array per group). ``xlabel`` and
    ``title`` give each panel's texts from the group's name."""
    fig, axes = new_figure(1, 2, width=11, height=4)
    for ax, group in zip(axes[0], ("positives", "negatives"), strict=True):
        for k, g in enumerate(dist["gammas"]):
            c = dist["curves"][str(g)]
            ax.plot(c["fraction"], c[group], color=f"C{k}", label=f"gamma = {g:g}")
        ax.set_xlabel(xlabel(group))
        ax.set_ylabel("cumulative normalised loss")
        ax.set_title(title(group))
        if unit_limits:
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
        ax.legend(fontsize=8, loc="upper left")
    return fig


def save_figure(fig: Any, ctx: RunContext, name: str, caption: str) -> dict[str, str]:
    """Save ``fig`` as ``<figdir>/<name>.png`` (atomically), close it and return the figure
    record ``{"file": "figures/<name>.png", "caption": caption}`` used by the report."""
    import io

    import matplotlib.pyplot as plt

    ctx.figdir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(ctx.figdir / f"{name}.png", buf.getvalue())
    return {"file": f"{ctx.figdir.name}/{name}.png", "caption": caption}
