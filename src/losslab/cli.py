"""The ``losslab`` command: ``report``, ``plot``, ``eval``, ``list`` (and ``bench`` when present).

Every user error (missing file or column, unparsable value, label or probability outside the
domain, NaN row, bad loss parameter) ends with one ``Error: ...`` line and exit code 1, and no
half-written output file is left behind (outputs go to a temporary file that is renamed).
Needs the ``lab`` extra (click, matplotlib, scipy, tqdm).
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

import losslab

__all__ = ["cli", "main"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: What the labels (y_true) of each family of losses must be.
_DOMAIN = {
    "logit": "y in [0, 1] (soft labels allowed); raw prediction = logit",
    "softmax": "class index in [0, K) or probabilities (n, K); raw prediction = K logits",
    "identity": "real y; raw prediction = the prediction, residual r = prediction - y",
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _fail(message: str) -> click.ClickException:
    return click.ClickException(message.replace("\n", " "))


def _parse_value(text: str) -> Any:
    """A loss-parameter value: none/None -> None, true/false -> bool, a comma list -> list of
    floats, otherwise a float."""
    low = text.strip().lower()
    if low in {"none", "null"}:
        return None
    if low in {"true", "false"}:
        return low == "true"
    try:
        if "," in text:
            return [float(v) for v in text.split(",") if v.strip()]
        return float(text)
    except ValueError:
        raise _fail(f"cannot parse loss parameter value {text!r} as a number") from None


def _split_params(tokens: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Split ``--name value`` / ``--name=value`` pairs (loss parameters) from the other
    tokens (positional arguments)."""
    params: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            name, eq, value = tok[2:].partition("=")
            if not eq:
                if i + 1 >= len(tokens):
                    raise _fail(f"loss parameter --{name} needs a value")
                value = tokens[i + 1]
                i += 1
            params[name.replace("-", "_")] = _parse_value(value)
        else:
            rest.append(tok)
        i += 1
    return params, rest


def _get_loss(name: str, params: dict[str, Any]) -> Any:
    """``losslab.get_loss`` with integral floats turned back into ints where the parameter is an
    int (``background_class``) and errors turned into one line."""
    if "background_class" in params and isinstance(params["background_class"], float):
        params["background_class"] = int(params["background_class"])
    try:
        return losslab.get_loss(name, **params)
    except (ValueError, TypeError) as exc:
        raise _fail(str(exc)) from None


def _atomic_output(path: Path, data: bytes) -> None:
    from losslab.lab._common import atomic_write_bytes

    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------------------------
# the group
# --------------------------------------------------------------------------------------------
@click.group(context_settings=_CONTEXT)
@click.version_option(
    version=getattr(losslab, "__version__", "unknown"), prog_name="losslab", message="%(version)s"
)
def cli() -> None:
    """losslab: loss functions with exact value, gradient and Hessian, and a lab that measures
    them.

    \b
    losslab report   run the experiments, write an HTML report with figures and verdicts
    losslab plot     value, gradient and Hessian curves of a loss
    losslab eval     a loss over CSV / Parquet files of targets and predictions
    losslab list     the registered losses, their parameters and conventions
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (``losslab = "losslab.cli:main"``)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="losslab")


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
_EXPERIMENT_NAMES = ("logits", "regression", "focal")


@cli.command(short_help="Run the experiments and write the HTML report.", context_settings=_CONTEXT)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("losslab-report"),
    show_default=True,
    help="Output folder (index.html, results.json, figures/).",
)
@click.option("--quick", is_flag=True, help="Small sizes: under a minute (for tests and CI).")
@click.option(
    "--full", is_flag=True, help="Larger data and more repetitions (much longer; not timed in CI)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every generator.")
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(_EXPERIMENT_NAMES),
    help="Run only this experiment (repeatable).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def report(
    out: Path, quick: bool, full: bool, seed: int, only: tuple[str, ...], no_progress: bool
) -> None:
    """Run the lab's experiments and write OUT/index.html, OUT/results.json and the figures.

    The default size finishes in a few minutes on two cores. The verdicts (held / partly /
    failed) are computed from the numbers with the thresholds printed in the report.
    """
    if quick and full:
        raise _fail("--quick and --full exclude each other")
    mode = "quick" if quick else "full" if full else "default"
    from losslab.lab import run_report

    try:
        res = run_report(
            out, mode=mode, seed=seed, only=list(only) or None, progress=not no_progress
        )
    except OSError as exc:
        raise _fail(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    for name, e in res["experiments"].items():
        click.echo(f"{name:<12} {e['verdict']['summary']}  ({e['time_s']:.1f} s)")
    click.echo(
        f"wrote {out / 'index.html'} and {out / 'results.json'} "
        f"in {res['timings_s']['total']:.1f} s"
    )


# --------------------------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------------------------
def _describe(name: str, cls: Any) -> dict[str, Any]:
    params = {}
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            params[f.name] = default
    try:
        inst = cls()
    except Exception:  # a loss without defaults: describe the class only
        inst = None
    link = type(getattr(inst, "link", None)).__name__ if inst is not None else "?"
    family = {"LogitLink": "logit", "SoftmaxLink": "softmax", "IdentityLink": "identity"}.get(
        link, "?"
    )
    info: dict[str, Any] = {"name": name, "class": cls.__name__, "params": params, "link": link}
    info["labels"] = _DOMAIN.get(family, "?")
    for flag in ("convex", "constant_hessian", "differentiable", "hessian_sign", "is_multiclass"):
        if inst is not None and hasattr(inst, flag):
            info[flag] = getattr(inst, flag)
    info["from_proba"] = inst is not None and hasattr(inst, "loss_from_proba")
    return info


@cli.command(
    "list", short_help="The registered losses and their conventions.", context_settings=_CONTEXT
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json: bool) -> None:
    """The registered losses with their parameters (and defaults) and conventions.

    Conventions: alpha weights the positives (y = 1 gets alpha, y = 0 gets 1 - alpha);
    half_squared_error is r^2 / 2 (gradient r), squared_error is r^2 (gradient 2 r).
    """
    rows = [_describe(name, cls) for name, cls in sorted(losslab.LOSSES.items())]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        params = ", ".join(f"{k}={v!r}" for k, v in r["params"].items()) or "-"
        flags = ", ".join(
            f"{k}={r[k]}" for k in ("convex", "hessian_sign", "constant_hessian") if k in r
        )
        click.echo(f"{r['name']:<22} {r['class']:<22} params: {params}")
        click.echo(f"{'':<22} link {r['link']}; {r['labels']}")
        extra = "; loss_from_proba" if r["from_proba"] else ""
        click.echo(f"{'':<22} {flags}{extra}")
    click.echo(
        "alpha weights the positives: y = 1 gets alpha, y = 0 gets 1 - alpha (alpha=None: no "
        "weighting). half_squared_error = r^2/2, squared_error = r^2."
    )


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------
@cli.command(
    short_help="Value, gradient and Hessian curves of a loss to PNG/SVG/PDF.",
    options_metavar="[OPTIONS] [--PARAM VALUE ...]",
    context_settings={**_CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("loss_name", metavar="LOSS")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file, .png, .svg or .pdf [default: LOSS.png].",
)
@click.option(
    "--range",
    "zrange",
    nargs=2,
    type=float,
    default=None,
    help="Range of the raw prediction (logit or residual). [default: -6 6]",
)
@click.option("--points", type=click.IntRange(10, 100000), default=801, show_default=True)
@click.pass_context
def plot(
    ctx: click.Context,
    loss_name: str,
    out: Path | None,
    zrange: tuple[float, float] | None,
    points: int,
) -> None:
    """Value, gradient and Hessian of LOSS against the raw prediction, to PNG/SVG/PDF.

    Loss parameters follow as options, e.g. ``losslab plot focal --gamma 2 --alpha 0.25``.
    Binary losses are drawn for y = 1 and y = 0 against the logit; regression losses against
    the residual r = prediction - y; multiclass losses for K = 2, raw = (z, 0), class 0.
    """
    params, rest = _split_params(ctx.args)
    if rest:
        raise _fail(f"unexpected argument(s): {' '.join(rest)}")
    loss = _get_loss(loss_name, params)
    out = out if out is not None else Path(f"{loss_name}.png")
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in {"png", "svg", "pdf"}:
        raise _fail(f"output must end in .png, .svg or .pdf, got {out.name!r}")
    lo, hi = zrange if zrange is not None else (-6.0, 6.0)
    if not lo < hi:
        raise _fail(f"--range needs LO < HI, got {lo} {hi}")
    z = np.linspace(lo, hi, points)

    from losslab.lab._common import new_figure

    fig, axes = new_figure(1, 3, width=13, height=3.8)
    family = type(loss.link).__name__
    curves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    try:
        if getattr(loss, "is_multiclass", False):
            raw = np.stack([z, np.zeros_like(z)], axis=1)
            y = np.zeros(z.size)
            v, g, h = loss.loss_gradient_hessian(y, raw)
            curves.append(
                ("class 0, raw = (z, 0)", np.asarray(v), np.asarray(g)[:, 0], np.asarray(h)[:, 0])
            )
            xlabel = "z (logit of class 0 minus logit of class 1)"
        elif family == "LogitLink":
            for yv in (1.0, 0.0):
                v, g, h = loss.loss_gradient_hessian(np.full_like(z, yv), z)
                curves.append((f"y = {yv:g}", np.asarray(v), np.asarray(g), np.asarray(h)))
            xlabel = "logit z"
        else:
            v, g, h = loss.loss_gradient_hessian(np.zeros_like(z), z)
            curves.append(("y = 0", np.asarray(v), np.asarray(g), np.asarray(h)))
            xlabel = "residual r = prediction - y"
    except (ValueError, TypeError) as exc:
        raise _fail(str(exc)) from None
    titles = ("value", "gradient", "Hessian")
    for k, (label, *vals) in enumerate(curves):
        for ax, val in zip(axes[0], vals, strict=True):
            ax.plot(z, val, color=f"C{k}", label=label)
    desc = ", ".join(f"{k}={v}" for k, v in params.items())
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(
            f"{loss_name}({desc}): {title}" if desc else f"{loss_name}: {title}", fontsize=10
        )
        ax.set_xlabel(xlabel)
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.legend(fontsize=8)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format=fmt, dpi=110)
    plt.close(fig)
    _atomic_output(out, buf.getvalue())
    click.echo(f"wrote {out}")


# --------------------------------------------------------------------------------------------
# eval
# --------------------------------------------------------------------------------------------
class _Chunk:
    """Columns of one chunk of rows: target, pred, weight (or None), and the line number of the
    first row (1-based, header = line 1) for error messages."""

    def __init__(self, y: np.ndarray, p: np.ndarray, w: np.ndarray | None, first_line: int) -> None:
        self.y, self.p, self.w, self.first_line = y, p, w, first_line


def _to_float(values: list[str], col: str, file: Path, first_line: int) -> np.ndarray:
    """Parse one column of a chunk; an empty cell becomes NaN (reported later as a NaN row)."""
    values = [v if v.strip() else "nan" for v in values]
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        for i, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise _fail(
                    f"{file}: line {first_line + i}: cannot parse {v!r} in column {col!r} as a "
                    "number"
                ) from None
        raise  # pragma: no cover


def _read_csv(
    file: Path, cols: list[str], chunk_size: int
) -> Iterator[tuple[list[np.ndarray], int]]:
    try:
        fh = open(file, newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _fail(f"cannot open {file}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise _fail(f"{file}: empty file (no header row)") from None
        header = [h.strip() for h in header]
        missing = [c for c in cols if c not in header]
        if missing:
            raise _fail(f"{file}: column(s) {missing} not found; columns: {header}")
        idx = [header.index(c) for c in cols]
        line = 2
        buf: list[list[str]] = [[] for _ in cols]
        start = line
        try:
            for row in reader:
                if not row:
                    line += 1
                    continue
                if len(row) < len(header):
                    raise _fail(f"{file}: line {line}: {len(row)} fields, header has {len(header)}")
                for b, i in zip(buf, idx, strict=True):
                    b.append(row[i])
                line += 1
                if len(buf[0]) >= chunk_size:
                    yield (
                        [_to_float(b, c, file, start) for b, c in zip(buf, cols, strict=True)],
                        start,
                    )
                    buf = [[] for _ in cols]
                    start = line
        except csv.Error as exc:
            raise _fail(f"{file}: line {line}: {exc}") from None
        if buf[0]:
            yield [_to_float(b, c, file, start) for b, c in zip(buf, cols, strict=True)], start


def _read_parquet(
    file: Path, cols: list[str], chunk_size: int
) -> Iterator[tuple[list[np.ndarray], int]]:
    try:
        pq: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise _fail(
            f"{file}: reading Parquet needs pyarrow (pip install pyarrow); CSV works without it"
        ) from None
    try:
        pf = pq.ParquetFile(file)
    except Exception as exc:  # pyarrow raises its own error types
        raise _fail(f"{file}: cannot read as Parquet: {exc}") from None
    names = pf.schema_arrow.names
    missing = [c for c in cols if c not in names]
    if missing:
        raise _fail(f"{file}: column(s) {missing} not found; columns: {names}")
    line = 1
    for batch in pf.iter_batches(batch_size=chunk_size, columns=cols):
        arrays = []
        for c in cols:
            col = batch.column(c)
            try:
                arrays.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64))
            except (ValueError, TypeError):
                raise _fail(f"{file}: column {c!r} is not numeric ({col.type})") from None
        yield arrays, line
        line += batch.num_rows


def _check_chunk(
    ch: _Chunk,
    file: Path,
    target: str,
    pred: str,
    weight: str | None,
    binary: bool,
    proba: bool,
    unit: str = "line",
) -> None:
    """Raise one-line errors for NaN rows, labels outside [0, 1] (binary losses), probabilities
    outside [0, 1], negative or infinite weights, naming the first offending line (CSV, header
    = line 1) or row (Parquet, first row = 1)."""

    def first_bad(mask: np.ndarray, what: str, col: str, values: np.ndarray) -> None:
        if mask.any():
            i = int(np.argmax(mask))
            raise _fail(
                f"{file}: {unit} {ch.first_line + i}: {what} in column {col!r} "
                f"(value {float(values[i])!r})"
            )

    first_bad(np.isnan(ch.y), "NaN or empty value", target, ch.y)
    first_bad(np.isnan(ch.p), "NaN or empty value", pred, ch.p)
    first_bad(np.isinf(ch.y), "infinite value", target, ch.y)
    if binary:
        first_bad((ch.y < 0) | (ch.y > 1), "label outside [0, 1]", target, ch.y)
    if proba:
        first_bad((ch.p < 0) | (ch.p > 1), "probability outside [0, 1]", pred, ch.p)
    if ch.w is not None and weight is not None:
        first_bad(np.isnan(ch.w), "NaN or empty value", weight, ch.w)
        first_bad((ch.w < 0) | np.isinf(ch.w), "negative or infinite weight", weight, ch.w)


@cli.command(
    "eval",
    short_help="A loss over CSV or Parquet files of targets and predictions.",
    options_metavar="[OPTIONS] [--PARAM VALUE ...] FILE...",
    context_settings={**_CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option("--loss", "loss_name", required=True, help="Registered loss name (losslab list).")
@click.option("--target", required=True, help="Column of the targets (labels).")
@click.option("--pred", required=True, help="Column of the raw predictions (or probabilities).")
@click.option("--weight", default=None, help="Column of the sample weights.")
@click.option(
    "--proba",
    is_flag=True,
    help="--pred holds probabilities P(y = 1): uses loss_from_proba (log_loss, focal).",
)
@click.option(
    "--clip",
    type=float,
    default=None,
    help="With --proba: clip probabilities to [clip, 1 - clip] first.",
)
@click.option("--chunk-size", type=click.IntRange(1), default=100_000, show_default=True)
@click.option(
    "--rows-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the per-row loss to this CSV (file, line, loss).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.pass_context
def eval_(
    ctx: click.Context,
    loss_name: str,
    target: str,
    pred: str,
    weight: str | None,
    proba: bool,
    clip: float | None,
    chunk_size: int,
    rows_out: Path | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """A loss over FILE... (CSV, or Parquet with pyarrow) of targets and predictions.

    Streams each file in chunks; prints per-file and total row count, sum and (weighted) mean
    of the loss. Loss parameters follow as options (``--gamma 2``), the files as arguments:

        losslab eval --loss focal --gamma 2 --target y --pred logit data.csv
    """
    params, files = _split_params(ctx.args)
    if not files:
        raise _fail("no input FILE given")
    loss = _get_loss(loss_name, params)
    if getattr(loss, "is_multiclass", False):
        raise _fail(f"{loss_name} is a multiclass loss; eval takes one prediction column")
    binary = type(loss.link).__name__ == "LogitLink"
    if proba and not hasattr(loss, "loss_from_proba"):
        raise _fail(f"--proba needs a loss with loss_from_proba (log_loss, focal), not {loss_name}")
    if clip is not None and not proba:
        raise _fail("--clip only applies with --proba")
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            raise _fail(f"file not found: {p}")
    cols = [target, pred] + ([weight] if weight else [])

    from tqdm import tqdm

    # rows are counted as they stream (the total is not known without reading the files)
    bar = tqdm(
        unit=" rows", unit_scale=True, disable=no_progress, desc="losslab eval", file=sys.stderr
    )
    rows_fh = None
    tmp_rows: str | None = None
    if rows_out is not None:
        try:
            fd, tmp_rows = tempfile.mkstemp(
                prefix=f".{rows_out.name}.",
                suffix=".tmp",
                dir=rows_out.parent if str(rows_out.parent) else ".",
            )
        except OSError as exc:
            raise _fail(f"cannot write {rows_out}: {exc.strerror or exc}") from None
        rows_fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
        rows_fh.write("file,line,loss\n")
    summary: list[dict[str, Any]] = []
    try:
        for path in paths:
            parquet = path.suffix.lower() in {".parquet", ".pq"}
            reader = _read_parquet if parquet else _read_csv
            n_rows, total, wsum = 0, 0.0, 0.0
            for arrays, first_line in reader(path, cols, chunk_size):
                ch = _Chunk(arrays[0], arrays[1], arrays[2] if weight else None, first_line)
                unit = "row" if parquet else "line"
                _check_chunk(ch, path, target, pred, weight, binary, proba, unit)
                try:
                    with np.errstate(all="ignore"):
                        if proba:
                            values = np.asarray(loss.loss_from_proba(ch.y, ch.p, clip=clip))
                        else:
                            values = np.asarray(loss.loss(ch.y, ch.p))
                except (ValueError, TypeError) as exc:
                    raise _fail(
                        f"{path}: {unit}s {first_line}-{first_line + ch.y.size - 1}: {exc}"
                    ) from None
                w = ch.w if ch.w is not None else np.ones_like(values)
                total += float(np.sum(w * values))
                wsum += float(np.sum(w))
                n_rows += int(values.size)
                bar.update(int(values.size))
                if rows_fh is not None:
                    lines = np.arange(first_line, first_line + values.size)
                    rows_fh.writelines(
                        f"{path},{ln},{v!r}\n"
                        for ln, v in zip(lines.tolist(), values.tolist(), strict=True)
                    )
            if n_rows == 0:
                raise _fail(f"{path}: no data rows")
            summary.append(
                {
                    "file": str(path),
                    "rows": n_rows,
                    "sum": total,
                    "weight_sum": wsum,
                    "mean": total / wsum if wsum > 0 else float("nan"),
                }
            )
        if rows_fh is not None and tmp_rows is not None and rows_out is not None:
            rows_fh.close()
            rows_fh = None
            os.replace(tmp_rows, rows_out)
            tmp_rows = None
    finally:
        bar.close()
        if rows_fh is not None:
            rows_fh.close()
        if tmp_rows is not None:
            Path(tmp_rows).unlink(missing_ok=True)
    tot_sum = sum(s["sum"] for s in summary)
    tot_w = sum(s["weight_sum"] for s in summary)
    total_row = {
        "file": "TOTAL",
        "rows": sum(s["rows"] for s in summary),
        "sum": tot_sum,
        "weight_sum": tot_w,
        "mean": tot_sum / tot_w if tot_w > 0 else float("nan"),
    }
    if as_json:
        click.echo(
            json.dumps(
                {"loss": loss_name, "params": params, "files": summary, "total": total_row},
                indent=2,
            )
        )
        return
    width = max(len("file"), *(len(s["file"]) for s in summary), len("TOTAL"))
    click.echo(f"{'file':<{width}}  {'rows':>10}  {'sum':>16}  {'mean':>14}")
    for s in [*summary, total_row]:
        click.echo(f"{s['file']:<{width}}  {s['rows']:>10}  {s['sum']:>16.8g}  {s['mean']:>14.8g}")


# --------------------------------------------------------------------------------------------
# bench (from losslab.bench, when that module exists)
# --------------------------------------------------------------------------------------------
def _register_bench() -> None:
    import importlib.util

    try:
        if importlib.util.find_spec("losslab.bench") is None:
            return
        from losslab.bench import bench  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return
    if isinstance(bench, click.Command):
        cli.add_command(bench, "bench")


_register_bench()
