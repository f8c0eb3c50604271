"""The ``losslab`` command: ``report``, ``plot``, ``eval``, ``list`` and ``bench``.

Every user error (missing file or column, unparsable value, label or probability outside the
domain, NaN row, bad loss parameter, malformed or truncated file) and every failure of the
system (disk full, permission denied, read-only folder) ends with one ``Error: ...`` line and
exit code 1. Outputs are written atomically through :mod:`losslab._atomic` (a temporary
sibling renamed into place; the report folder swapped in whole), temporaries are removed on
SIGINT / SIGTERM (exit 128 + the signal number) and on any exception, and a target that is an
input, a device, a pipe or a directory is refused. Loss parameters are options
(``--gamma 2``) given before or after the loss name; they are converted by the loss's declared
parameters, so nothing here knows a particular loss. ``eval`` reads its files through
:mod:`losslab._io` (pyarrow). Needs the ``lab`` extra (click, matplotlib, scipy, tqdm, pyarrow).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import functools
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
import numpy as np

import losslab
from losslab import _atomic

__all__ = ["cli", "main"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_PARAMS_CONTEXT = {**_CONTEXT, "ignore_unknown_options": True, "allow_extra_args": True}

#: What the labels (y_true) of each kind of loss (``Loss.kind``) must be.
_DOMAIN = {
    "binary": "y in [0, 1] (soft labels allowed); raw prediction = logit",
    "multiclass": "class index in [0, K) or probabilities (n, K); raw prediction = K logits",
    "regression": "real y; raw prediction = the prediction, residual r = prediction - y",
}

_PARAMS_HELP = (
    "Loss parameters are options named as the loss's parameters (losslab list shows them), "
    "before or after the loss name: --gamma 2, --alpha=0.25, --alpha none; class weights as "
    "one comma-separated list: --alpha 0.25,0.75."
)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _fail(message: str) -> click.ClickException:
    return click.ClickException(" ".join(message.split()))


def _split_params(tokens: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Split ``--name value`` / ``--name=value`` pairs (loss parameters, as text) from the
    other tokens (positional arguments), keeping their order."""
    params: dict[str, str] = {}
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
            params[name.replace("-", "_")] = value
        elif tok.startswith("-") and len(tok) > 1 and not _is_number_text(tok):
            raise _fail(f"unknown option {tok}")
        else:
            rest.append(tok)
        i += 1
    return params, rest


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _loss_class(name: str) -> Any:
    if name not in losslab.LOSSES:
        close = difflib.get_close_matches(name, list(losslab.LOSSES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise _fail(
            f"unknown loss {name!r}{hint}; registered losses: {', '.join(sorted(losslab.LOSSES))}"
        )
    return losslab.LOSSES[name]


def _specs(cls: Any) -> dict[str, Any]:
    """The declared parameters of a loss class by name (``Loss.parameters()``)."""
    return {p.name: p for p in cls.parameters()}


def _make_loss(name: str, raw: dict[str, str], command: click.Command | None = None) -> Any:
    """The loss ``name`` with its parameters converted from text by ``Param.parse``.

    An unknown parameter is an error that lists the loss's parameters and, when it is close to
    one of ``command``'s own options, suggests that option.
    """
    cls = _loss_class(name)
    specs = _specs(cls)
    values: dict[str, Any] = {}
    for key, text in raw.items():
        spec = specs.get(key)
        if spec is None:
            takes = ", ".join(f"--{p}" for p in specs) or "no parameters"
            options = [o for p in (command.params if command else []) for o in p.opts]
            close = difflib.get_close_matches(f"--{key.replace('_', '-')}", options, n=1)
            hint = f"; did you mean the option {close[0]}?" if close else ""
            raise _fail(f"{name} has no parameter --{key}; it takes {takes}{hint}")
        try:
            values[key] = spec.parse(text)
        except ValueError as exc:
            raise _fail(f"{name}: {exc}") from None
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise _fail(f"{name}: {exc}") from None


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


def _values(loss: Any) -> dict[str, Any]:
    """Every declared parameter of ``loss`` with its value, defaults included."""
    return {p.name: getattr(loss, p.name) for p in type(loss).parameters()}


def _strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no inf or NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def _json_text(obj: Any) -> str:
    """Strict JSON (RFC 8259: no NaN / Infinity tokens) of ``obj``, indented; a non-finite
    number becomes null, anything else unknown its text."""
    return json.dumps(_strict(obj), indent=2, allow_nan=False, default=str)


def _loss_title(name: str, loss: Any) -> str:
    """``focal(gamma=2, alpha=0.25)``: the loss with every parameter, defaults included."""
    inner = ", ".join(f"{k}={_format_value(v)}" for k, v in _values(loss).items())
    return f"{name}({inner})"


def _os_message(exc: OSError, fallback: object = None) -> str:
    """``PATH: strerror`` of a file-system error (the path it names, else ``fallback``)."""
    where = exc.filename if exc.filename is not None else fallback
    what = exc.strerror or str(exc)
    return f"{where}: {what}" if where is not None else what


def _checked(check: Callable[..., Path], path: Path, **kwargs: Any) -> Path:
    """``check(path, **kwargs)`` (an :mod:`losslab._atomic` target check) with its refusal as
    one ``Error:`` line."""
    try:
        return check(path, **kwargs)
    except _atomic.OutputError as exc:
        raise _fail(str(exc)) from None


class _Signalled(click.ClickException):
    """The one-line error of a run stopped by SIGINT / SIGTERM; exit code 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(
            f"interrupted by {_signal_name(signum)}; temporary files removed, existing outputs "
            "left as they were"
        )
        self.exit_code = 128 + signum  # type: ignore[misc]  # click declares a class default


class _Group(click.Group):
    """The command group: every command runs under :func:`losslab._atomic.signals_cleanup`,
    and every failure that is not already a one-line error (a file-system error, a decoding
    error, a bug) becomes one: ``Error: ...`` and exit 1, without a traceback
    (``LOSSLAB_DEBUG=1`` shows it). SIGINT / SIGTERM exit with 128 + the signal number after
    the temporaries are removed."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _atomic.signals_cleanup():
                return super().invoke(ctx)
        except _atomic.Interrupted as exc:
            raise _Signalled(exc.signum) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # the reader went away (losslab list | head -1): stop quietly with the status of a
            # process ended by SIGPIPE, and keep Python from flushing into the closed pipe
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(128 + 13) from None
        except OSError as exc:
            # the commands name their own files; an error without a file name comes from
            # writing to standard output (a full disk, /dev/full)
            raise _fail(_os_message(exc, fallback="writing the output")) from None
        except MemoryError:
            raise _fail("out of memory (try a smaller --chunk-size)") from None
        except Exception as exc:
            if os.environ.get("LOSSLAB_DEBUG"):
                raise
            raise _fail(
                f"{type(exc).__name__}: {exc} (set LOSSLAB_DEBUG=1 for the traceback)"
            ) from None


def _signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# --------------------------------------------------------------------------------------------
# the group
# --------------------------------------------------------------------------------------------
@click.group(cls=_Group, context_settings=_CONTEXT)
@click.version_option(
    version=getattr(losslab, "__version__", "unknown"), prog_name="losslab", message="%(version)s"
)
def cli() -> None:
    """losslab: loss functions with exact value, gradient and Hessian, and a lab that measures
    them.

    \b
    losslab report   run the experiments, write an HTML report with figures and verdicts
    losslab plot     value, gradient and Hessian curves of a loss
    losslab eval     a loss over CSV / TSV / Parquet files (compressed too) or stdin
    losslab list     the registered losses, their parameters and conventions
    losslab bench    time the losses on this machine: fused kernels against the generic path
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
    type=click.Path(path_type=Path),
    default=Path("losslab-report"),
    show_default=True,
    help="Output folder (index.html, results.json, figures/): a new or empty folder or a "
    "previous report, replaced as a whole when the new one is complete.",
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
    failed) are computed from the numbers with the thresholds printed in the report. The
    report is written to a hidden folder beside OUT and swapped into place only when complete:
    an interrupted run leaves a previous report as it was.
    """
    if quick and full:
        raise _fail("--quick and --full exclude each other")
    mode = "quick" if quick else "full" if full else "default"
    from losslab.lab import run_report

    target = _checked(_atomic.check_report_target, out)
    tmp: Path | None = None
    try:
        tmp = _atomic.new_temp_dir(target)
        res = run_report(
            tmp, mode=mode, seed=seed, only=list(only) or None, progress=not no_progress
        )
        _atomic.swap_dir_into_place(tmp, target)
    except OSError as exc:
        raise _fail(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            _atomic.discard(tmp)
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
    """What ``losslab list`` prints of one registered loss, read from its declarations."""
    specs = cls.parameters()
    inst = cls()  # every declared parameter has a default
    info: dict[str, Any] = {
        "name": name,
        "class": cls.__name__,
        "kind": cls.kind,
        "params": {p.name: p.default for p in specs},
        "param_docs": {p.name: p.describe() for p in specs},
        "link": type(cls.link).__name__,
        "labels": _DOMAIN.get(cls.kind, "?"),
    }
    for flag in ("convex", "constant_hessian", "differentiable", "hessian_sign", "is_multiclass"):
        if hasattr(inst, flag):
            info[flag] = getattr(inst, flag)
    info["supports_positives"] = cls.supports_positives
    info["from_proba"] = hasattr(inst, "loss_from_proba")
    return info


@cli.command(
    "list", short_help="The registered losses and their conventions.", context_settings=_CONTEXT
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json: bool) -> None:
    """The registered losses with their parameters (range and default) and conventions.

    Conventions: alpha weights the positives (y = 1 gets alpha, y = 0 gets 1 - alpha);
    half_squared_error is r^2 / 2 (gradient r), squared_error is r^2 (gradient 2 r).
    """
    rows = [_describe(name, cls) for name, cls in sorted(losslab.LOSSES.items())]
    if as_json:
        click.echo(_json_text(rows))
        return
    for r in rows:
        flags = ", ".join(
            f"{k}={r[k]}" for k in ("convex", "hessian_sign", "constant_hessian") if k in r
        )
        click.echo(f"{r['name']:<22} {r['class']}; link {r['link']}; {r['labels']}")
        for doc in r["param_docs"].values():
            click.echo(f"{'':<22} --{doc}")
        extra = "; loss_from_proba" if r["from_proba"] else ""
        extra += "; reduction positives" if r["supports_positives"] else ""
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
    options_metavar="[OPTIONS] [--PARAM VALUE ...] LOSS [--PARAM VALUE ...]",
    context_settings=_PARAMS_CONTEXT,
    epilog=_PARAMS_HELP,
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file, .png, .svg or .pdf [default: LOSS.png]; written atomically.",
)
@click.option(
    "--range",
    "zrange",
    nargs=2,
    type=float,
    default=None,
    metavar="LO HI",
    help="Finite range of the raw prediction (logit or residual). [default: -6 6]",
)
@click.option("--points", type=click.IntRange(10, 100000), default=801, show_default=True)
@click.pass_context
def plot(
    ctx: click.Context,
    out: Path | None,
    zrange: tuple[float, float] | None,
    points: int,
) -> None:
    """Value, gradient and Hessian of LOSS against the raw prediction, to PNG/SVG/PDF.

    The parameters may come before or after LOSS: losslab plot focal --gamma 2 --alpha 0.25
    and losslab plot --gamma 2 focal are the same. Binary losses are drawn for y = 1 and
    y = 0 against the logit; regression losses against the residual r = prediction - y (with
    a log link: for y = 1, and y = 0 where allowed, against the raw prediction); multiclass
    losses for K = 2, raw = (z, 0), class 0. The titles name every parameter, defaults
    included.
    """
    raw, rest = _split_params(ctx.args)
    if not rest:
        raise _fail(f"missing LOSS; one of: {', '.join(sorted(losslab.LOSSES))}")
    if len(rest) > 1:
        raise _fail(f"one LOSS expected, got: {' '.join(rest)}")
    loss_name = rest[0]
    loss = _make_loss(loss_name, raw, ctx.command)
    out = out if out is not None else Path(f"{loss_name}.png")
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in {"png", "svg", "pdf"}:
        raise _fail(f"output must end in .png, .svg or .pdf, got {out.name!r}")
    target = _checked(_atomic.check_file_target, out, option="--out")
    lo, hi = zrange if zrange is not None else (-6.0, 6.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise _fail(f"--range needs two finite numbers LO HI, got {lo} {hi}")
    if not lo < hi:
        raise _fail(f"--range needs LO < HI, got {lo} {hi}")
    z = np.linspace(lo, hi, points)
    curves, xlabel = _curves(loss, z)

    from losslab.lab._common import new_figure

    fig, axes = new_figure(1, 3, width=13, height=3.8)
    for k, (label, *vals) in enumerate(curves):
        for ax, val in zip(axes[0], vals, strict=True):
            ax.plot(z, val, color=f"C{k}", label=label)
    title = _loss_title(loss_name, loss)
    for ax, what in zip(axes[0], ("value", "gradient", "Hessian"), strict=True):
        ax.set_title(f"{title}: {what}", fontsize=10)
        ax.set_xlabel(xlabel)
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.legend(fontsize=8)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format=fmt, dpi=110)
    plt.close(fig)
    try:
        _atomic.write_bytes(target, buf.getvalue())
    except OSError as exc:
        raise _fail(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out}")


def _curves(loss: Any, z: np.ndarray[Any, Any]) -> tuple[list[tuple[str, Any, Any, Any]], str]:
    """(label, value, gradient, Hessian) curves of ``loss`` over ``z``, and the x label."""
    curves: list[tuple[str, Any, Any, Any]] = []
    try:
        if loss.kind == "multiclass":
            raw = np.stack([z, np.zeros_like(z)], axis=1)
            v, g, h = loss.loss_gradient_hessian(np.zeros(z.size), raw)
            curves.append(
                ("class 0, raw = (z, 0)", np.asarray(v), np.asarray(g)[:, 0], np.asarray(h)[:, 0])
            )
            return curves, "z (logit of class 0 minus logit of class 1)"
        if loss.kind == "binary":
            for yv in (1.0, 0.0):
                v, g, h = loss.loss_gradient_hessian(np.full_like(z, yv), z)
                curves.append((f"y = {yv:g}", np.asarray(v), np.asarray(g), np.asarray(h)))
            return curves, "logit z"
        link = type(loss.link).__name__
        if link == "IdentityLink":
            v, g, h = loss.loss_gradient_hessian(np.zeros_like(z), z)
            curves.append(("y = 0", np.asarray(v), np.asarray(g), np.asarray(h)))
            return curves, "residual r = prediction - y"
        # another link (log for Poisson, gamma, Tweedie): y = 1, and y = 0 where allowed
        for yv in (1.0, 0.0):
            try:
                v, g, h = loss.loss_gradient_hessian(np.full_like(z, yv), z)
            except ValueError:
                if yv == 1.0:
                    raise
                continue
            curves.append((f"y = {yv:g}", np.asarray(v), np.asarray(g), np.asarray(h)))
        return curves, f"raw prediction z ({link}: prediction = link.inverse(z))"
    except (ValueError, TypeError) as exc:
        raise _fail(str(exc)) from None


# --------------------------------------------------------------------------------------------
# eval
# --------------------------------------------------------------------------------------------
_REDUCTIONS = ("mean", "sum", "positives")

#: eval takes the generic path for its first rows and the fused kernels after this many: the
#: first kernel call of a process imports numba and loads the cached machine code (about 0.7 s),
#: which the kernels' speed (about 0.08 s saved per 10^6 rows) repays only after about 10^7
#: rows. Once loaded in the process they are used from the first row. ``LOSSLAB_USE_KERNELS``
#: (0 or 1) overrides.
_KERNEL_AFTER_ROWS = 4_000_000
#: The module whose import is the kernels' one-time cost (once imported, they are used at once).
_KERNELS_MODULE = "losslab._kernels._impl"


@dataclasses.dataclass
class _Acc:
    """Running totals of one file, group or the whole input: rows, sum(w L), sum(w), the
    positives (sum of the labels) and the rows whose loss is not finite (with a callable that
    names the first one, for the note)."""

    rows: int = 0
    total: float = 0.0
    wsum: float = 0.0
    positives: float = 0.0
    n_inf: int = 0
    first_inf: Callable[[], str] | None = None

    def add(self, other: _Acc) -> None:
        self.rows += other.rows
        self.total += other.total
        self.wsum += other.wsum
        self.positives += other.positives
        self.n_inf += other.n_inf
        if self.first_inf is None:
            self.first_inf = other.first_inf


@dataclasses.dataclass(frozen=True)
class _EvalSpec:
    """What ``losslab eval`` computes: the loss, the columns and how to reduce."""

    name: str
    loss: Any
    target: str
    pred: str
    weight: str | None
    by: str | None
    proba: bool
    clip: float | None
    reduction: str
    options: Any  # losslab._io.TextOptions

    @property
    def numeric(self) -> list[str]:
        return [self.target, self.pred, *([self.weight] if self.weight else [])]


def _check_batch(spec: _EvalSpec, batch: Any) -> None:
    """One-line errors naming the line or row of the first NaN or empty cell, infinite label,
    label outside [0, 1] (binary losses), probability outside [0, 1] (``--proba``), negative or
    infinite weight. Each check is one vectorised pass; the position is found only on failure."""
    y = batch.columns[spec.target]
    p = batch.columns[spec.pred]
    w = batch.columns.get(spec.weight) if spec.weight else None

    def fail(mask: np.ndarray[Any, Any], what: str, col: str, values: np.ndarray[Any, Any]) -> None:
        i = int(np.argmax(mask))
        raise _fail(f"{batch.where(i)}: {what} in column {col!r} (value {float(values[i])!r})")

    if not np.isfinite(y).all():  # one pass in the common case
        if np.isnan(y).any():
            fail(np.isnan(y), "NaN or empty value", spec.target, y)
        fail(np.isinf(y), "infinite value", spec.target, y)
    for col, values in ((spec.pred, p), (spec.weight, w)):
        if values is not None and col is not None and np.isnan(values).any():
            fail(np.isnan(values), "NaN or empty value", col, values)
    if spec.loss.kind == "binary" and (y.min() < 0 or y.max() > 1):
        fail((y < 0) | (y > 1), "label outside [0, 1]", spec.target, y)
    if spec.proba and (p.min() < 0 or p.max() > 1):
        fail((p < 0) | (p > 1), "probability outside [0, 1]", spec.pred, p)
    if w is not None and spec.weight is not None and (w.min() < 0 or np.isinf(w).any()):
        fail((w < 0) | np.isinf(w), "negative or infinite weight", spec.weight, w)


def _batch_values(spec: _EvalSpec, batch: Any) -> np.ndarray[Any, Any]:
    """The element-wise loss of one batch; a ValueError of the loss's own validation names the
    first row that raises it (found by bisection over prefixes, on the error path only)."""
    y = batch.columns[spec.target]
    p = batch.columns[spec.pred]

    def compute(k: int | None = None) -> Any:
        yy, pp = (y, p) if k is None else (y[:k], p[:k])
        with np.errstate(all="ignore"):
            if spec.proba:
                return spec.loss.loss_from_proba(yy, pp, clip=spec.clip)
            return spec.loss.loss(yy, pp)

    try:
        return np.asarray(compute(), dtype=np.float64)
    except (ValueError, TypeError) as exc:
        lo, hi = 0, y.size - 1  # the smallest failing prefix ends at row lo
        while lo < hi:
            mid = (lo + hi) // 2
            try:
                compute(mid + 1)
                lo = mid + 1
            except (ValueError, TypeError):
                hi = mid
        raise _fail(f"{batch.where(lo)}: {exc}") from None


def _accumulate(
    spec: _EvalSpec,
    batch: Any,
    values: np.ndarray[Any, Any],
    per_file: _Acc,
    groups: _Groups,
) -> None:
    """Add one batch to its file's totals and (with ``--by``) to its groups' totals."""
    from losslab._io import int_numpy

    w = batch.columns.get(spec.weight) if spec.weight else None
    y = batch.columns[spec.target]
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0: handled below
        weighted = values if w is None else w * values
        total = float(weighted.sum())
    inf = None  # rows whose loss is inf or NaN (an infinite raw prediction), weight > 0
    if not math.isfinite(total):
        inf = ~np.isfinite(values) if w is None else ~np.isfinite(values) & (w != 0)
        if w is not None:  # a zero weight drops its row, a non-finite loss included
            weighted = np.where(w != 0, weighted, 0.0)
            total = float(weighted.sum())
    # the foreground mass counted by reduction="positives": the labels of rows with weight > 0
    pos_mass = None
    if spec.reduction == "positives":
        pos_mass = y if w is None else np.where(w > 0, y, 0.0)
    acc = _Acc(
        rows=values.size,
        total=total,
        wsum=float(values.size if w is None else w.sum()),
        positives=float(pos_mass.sum()) if pos_mass is not None else 0.0,
    )
    if inf is not None and inf.any():
        acc.n_inf = int(inf.sum())
        acc.first_inf = functools.partial(batch.where, int(np.argmax(inf)))
    per_file.add(acc)
    if spec.by is None:
        return
    encoded = batch.keys.dictionary_encode()
    names: list[str | None] = [*encoded.dictionary.to_pylist(), None]
    local = int_numpy(encoded.indices, null=len(names) - 1)
    groups.add(batch, names, local, weighted, w, pos_mass, inf)


class _Groups:
    """Running totals per value of the ``--by`` column, kept in arrays indexed by group so that
    a batch is added with a few ``bincount`` calls whatever the number of groups."""

    def __init__(self) -> None:
        self.index: dict[str | None, int] = {}
        self.rows = np.zeros(0, dtype=np.int64)
        self.total = np.zeros(0)
        self.wsum = np.zeros(0)
        self.positives = np.zeros(0)
        self.n_inf = np.zeros(0, dtype=np.int64)
        self.first_inf: dict[int, Callable[[], str]] = {}

    def add(
        self,
        batch: Any,
        names: list[str | None],
        local: np.ndarray[Any, Any],
        weighted: np.ndarray[Any, Any],
        w: np.ndarray[Any, Any] | None,
        pos_mass: np.ndarray[Any, Any] | None,
        inf: np.ndarray[Any, Any] | None,
    ) -> None:
        """Add one batch: ``names`` are its distinct keys, ``local`` each row's index into
        them; ``inf`` marks the rows whose loss is not finite (or is None)."""
        to_global = np.full(len(names), -1, dtype=np.intp)
        for j in np.flatnonzero(np.bincount(local, minlength=len(names))).tolist():
            to_global[j] = self.index.setdefault(names[j], len(self.index))
        g = to_global[local]
        m = len(self.index)
        grow = m - self.rows.size
        if grow:
            self.rows = np.concatenate([self.rows, np.zeros(grow, dtype=np.int64)])
            self.n_inf = np.concatenate([self.n_inf, np.zeros(grow, dtype=np.int64)])
            for name in ("total", "wsum", "positives"):
                setattr(self, name, np.concatenate([getattr(self, name), np.zeros(grow)]))
        rows = np.bincount(g, minlength=m)
        self.rows += rows
        self.total += np.bincount(g, weights=weighted, minlength=m)
        self.wsum += rows if w is None else np.bincount(g, weights=w, minlength=m)
        if pos_mass is not None:
            self.positives += np.bincount(g, weights=pos_mass, minlength=m)
        if inf is not None and inf.any():
            self.n_inf += np.bincount(g[inf], minlength=m)
            rows_inf = np.flatnonzero(inf)
            groups, first = np.unique(g[rows_inf], return_index=True)
            for group, i in zip(groups.tolist(), first.tolist(), strict=True):
                if group not in self.first_inf:
                    self.first_inf[group] = functools.partial(batch.where, int(rows_inf[i]))

    def accumulators(self) -> dict[str | None, _Acc]:
        """The totals of each group as :class:`_Acc`."""
        return {
            name: _Acc(
                rows=int(self.rows[i]),
                total=float(self.total[i]),
                wsum=float(self.wsum[i]),
                positives=float(self.positives[i]),
                n_inf=int(self.n_inf[i]),
                first_inf=self.first_inf.get(i),
            )
            for name, i in self.index.items()
        }


def _summary(spec: _EvalSpec, key: str, label: Any, acc: _Acc) -> dict[str, Any]:
    """One output record; non-finite numbers are explained in ``note`` (and become null in
    JSON and empty cells in CSV)."""
    mean = acc.total / acc.wsum if acc.wsum > 0 else math.nan
    out: dict[str, Any] = {
        key: label,
        "rows": acc.rows,
        "weight_sum": acc.wsum,
        "sum": acc.total,
        "mean": mean,
    }
    if spec.reduction == "positives":
        out["positives"] = acc.positives
    out["loss"] = {
        "mean": mean,
        "sum": acc.total,
        "positives": acc.total / max(acc.positives, 1.0),
    }[spec.reduction]
    notes = []
    if acc.n_inf:
        first = f", first at {acc.first_inf()}" if acc.first_inf is not None else ""
        hint = " (a probability of exactly 0 or 1; --clip bounds them)" if spec.proba else ""
        notes.append(f"the loss is not finite at {acc.n_inf} row(s){first}{hint}")
    elif not math.isfinite(acc.total):
        notes.append("the sum overflows float64")
    if acc.wsum <= 0:
        notes.append("the weights sum to 0, so the mean is undefined")
    out["note"] = "; ".join(notes) or None
    return out


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()
    }


class _RowsOut:
    """``--rows-out``: the per-row loss as CSV (file, row, line, loss) on ``fh``, the handle of
    an :func:`losslab._atomic.atomic_file` (renamed into place only when every input was
    read)."""

    def __init__(self, fh: Any) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        self.schema = pa.schema(
            [
                ("file", pa.string()),
                ("row", pa.int64()),
                ("line", pa.int64()),
                ("loss", pa.float64()),
            ]
        )
        self.writer = pa_csv.CSVWriter(
            fh, self.schema, write_options=pa_csv.WriteOptions(quoting_style="needed")
        )

    def write(self, src: Any, batch: Any, values: np.ndarray[Any, Any]) -> None:
        import pyarrow as pa

        rows = np.arange(batch.first_row + 1, batch.first_row + 1 + values.size, dtype=np.int64)
        line = pa.array(rows + 1) if src.format == "text" else pa.nulls(values.size, pa.int64())
        files = pa.repeat(pa.scalar(src.name, pa.string()), values.size)
        table = pa.table([files, pa.array(rows), line, pa.array(values)], schema=self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        """Write what pyarrow still buffers (the file itself is committed by its owner)."""
        self.writer.close()


def _positives_losses() -> str:
    return ", ".join(sorted(n for n, c in losslab.LOSSES.items() if c.supports_positives))


@cli.command(
    "eval",
    short_help="A loss over CSV / TSV / Parquet files (compressed too) or stdin.",
    options_metavar="[OPTIONS] [--PARAM VALUE ...] FILE...",
    context_settings=_PARAMS_CONTEXT,
    epilog=_PARAMS_HELP,
)
@click.option(
    "--loss", "loss_name", required=True, metavar="NAME", help="Registered loss (losslab list)."
)
@click.option("--target", required=True, metavar="COL", help="Column of the targets (labels).")
@click.option(
    "--pred", required=True, metavar="COL", help="Column of the raw predictions (or probabilities)."
)
@click.option("--weight", default=None, metavar="COL", help="Column of the sample weights.")
@click.option("--by", default=None, metavar="COL", help="Also report per value of this column.")
@click.option(
    "--reduction",
    type=click.Choice(_REDUCTIONS),
    default="mean",
    show_default=True,
    help="mean: sum(w L) / sum(w); sum: sum(w L); positives: sum(w L) / max(sum of the "
    "labels, 1), RetinaNet's normalisation, for losses that count positives.",
)
@click.option(
    "--proba",
    is_flag=True,
    help="--pred holds probabilities P(y = 1): uses the loss's loss_from_proba (losslab list "
    "marks the losses that have it).",
)
@click.option(
    "--clip",
    type=float,
    default=None,
    help="With --proba: clip probabilities to [clip, 1 - clip] first.",
)
@click.option(
    "--delimiter",
    default=None,
    help="Field delimiter of text files (\\t for tab) [default: tab for .tsv/.tab, otherwise "
    "found from the header line among , tab ; |].",
)
@click.option(
    "--encoding",
    default=None,
    help="Text encoding (latin-1, cp1252, utf-16, ...) [default: UTF-8; UTF-16 when the file "
    "starts with its byte-order mark].",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1),
    default=1_000_000,
    show_default=True,
    help="Rows per batch handed to the loss.",
)
@click.option(
    "--rows-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the per-row loss to this CSV (file, row, line, loss).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the summary as CSV.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar (shown on a terminal).")
@click.pass_context
def eval_(
    ctx: click.Context,
    loss_name: str,
    target: str,
    pred: str,
    weight: str | None,
    by: str | None,
    reduction: str,
    proba: bool,
    clip: float | None,
    delimiter: str | None,
    encoding: str | None,
    chunk_size: int,
    rows_out: Path | None,
    as_json: bool,
    as_csv: bool,
    no_progress: bool,
) -> None:
    """A loss over FILE... of targets and predictions; - reads standard input.

    \b
    Formats: CSV, TSV and other delimited text, in any encoding, compressed with gzip, bz2,
    zstd or xz (found from the bytes, not the name), and Parquet. A FILE may be a glob
    pattern ('data/*.csv.gz', '**' recursive) or a directory. Prints per file (or per group,
    --by) and in total the rows, the sum of the loss and the reduced loss; errors name the
    file and the line (text, header = line 1) or row (Parquet).

    \b
        losslab eval --loss focal --gamma 2 --target y --pred logit data.csv
        zcat part*.csv.gz | losslab eval --loss huber --delta 2 --target y --pred f -
    """
    try:
        from losslab import _io
    except ImportError as exc:  # an install without the lab extra's pyarrow
        raise _fail(f"losslab eval needs pyarrow ({exc}): pip install 'losslab[lab]'") from None

    raw, files = _split_params(ctx.args)
    if not files:
        raise _fail("no input FILE given (use - for standard input)")
    if as_json and as_csv:
        raise _fail("--json and --csv exclude each other")
    loss = _make_loss(loss_name, raw, ctx.command)
    if loss.kind == "multiclass":
        raise _fail(f"{loss_name} is a multiclass loss; eval takes one prediction column")
    if proba and not hasattr(loss, "loss_from_proba"):
        with_proba = ", ".join(
            sorted(n for n, c in losslab.LOSSES.items() if hasattr(c, "loss_from_proba"))
        )
        raise _fail(f"--proba needs a loss with loss_from_proba ({with_proba}), not {loss_name}")
    if clip is not None and not proba:
        raise _fail("--clip only applies with --proba")
    if reduction == "positives" and not loss.supports_positives:
        raise _fail(
            f"--reduction positives needs a loss that counts positives ({_positives_losses()}), "
            f"not {loss_name}"
        )
    options = _text_options(delimiter, encoding)
    spec = _EvalSpec(loss_name, loss, target, pred, weight, by, proba, clip, reduction, options)
    try:
        sources = _io.expand_inputs(files)
    except _io.InputError as exc:
        raise _fail(str(exc)) from None
    if rows_out is not None:
        inputs = [s.path for s in sources if s.path is not None]
        rows_out = _checked(_atomic.check_file_target, rows_out, option="--rows-out", inputs=inputs)
    files_acc, groups = _run_eval(spec, sources, chunk_size, rows_out, no_progress)
    _print_summary(spec, files_acc, groups, as_json=as_json, as_csv=as_csv)


def _text_options(delimiter: str | None, encoding: str | None) -> Any:
    import codecs

    from losslab._io import TextOptions

    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1 or delimiter in '\r\n"':
            raise _fail(f"--delimiter must be one character (\\t for tab), got {delimiter!r}")
    if encoding is not None:
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            raise _fail(f"--encoding: unknown encoding {encoding!r}") from None
        if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib, ...
            raise _fail(f"--encoding: {encoding!r} is a codec, not a text encoding")
        import pyarrow as pa

        try:  # pyarrow hands the decoder its own buffers, which a few codecs cannot take
            codecs.getincrementaldecoder(encoding)(errors="replace").decode(pa.py_buffer(b"y\n"))
        except UnicodeError:
            pass
        except (TypeError, AttributeError):
            raise _fail(f"--encoding: {encoding!r} cannot decode a stream of bytes") from None
    return TextOptions(delimiter=delimiter, encoding=encoding)


def _run_eval(
    spec: _EvalSpec,
    sources: Sequence[Any],
    chunk_size: int,
    rows_out: Path | None,
    no_progress: bool,
) -> tuple[list[tuple[Any, _Acc]], dict[str | None, _Acc]]:
    """Read every source in batches, check and evaluate them, and total per file and group."""
    from losslab import _io

    bar: Any = None
    if not no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit=" rows", unit_scale=True, desc="losslab eval", file=sys.stderr)
    per_file: list[tuple[Any, _Acc]] = []
    groups = _Groups()
    # kernels as configured when LOSSLAB_USE_KERNELS says so; otherwise after the first rows
    kernels_after = None if "LOSSLAB_USE_KERNELS" in os.environ else _KERNEL_AFTER_ROWS
    seen = 0
    try:
        stack = contextlib.ExitStack()
        # an exception out of this block removes the temporary --rows-out file
        with stack:
            writer = (
                _RowsOut(stack.enter_context(_atomic.atomic_file(rows_out))) if rows_out else None
            )
            for src in sources:
                acc = _Acc()
                for batch in _io.read_batches(src, spec.numeric, spec.by, spec.options, chunk_size):
                    if batch.size == 0:
                        continue
                    _check_batch(spec, batch)
                    generic = (
                        kernels_after is not None
                        and seen < kernels_after
                        and _KERNELS_MODULE not in sys.modules  # not loaded yet: the cost is ahead
                    )
                    with losslab.config_context(use_kernels=False) if generic else nullcontext():
                        values = _batch_values(spec, batch)
                    seen += values.size
                    _accumulate(spec, batch, values, acc, groups)
                    if writer is not None:
                        writer.write(src, batch, values)
                    if bar is not None:
                        bar.update(values.size)
                if acc.rows == 0:
                    where = "line 2" if src.format == "text" else "row 1"
                    raise _fail(f"{src.name}: {where}: no data rows")
                per_file.append((src, acc))
            if writer is not None:
                writer.close()
    except _io.InputError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        if rows_out is not None and (
            exc.filename is None or Path(exc.filename).parent == rows_out.parent
        ):
            raise _fail(f"cannot write {rows_out}: {exc.strerror or exc}") from None
        raise _fail(_os_message(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    return per_file, groups.accumulators()


def _print_summary(
    spec: _EvalSpec,
    per_file: list[tuple[Any, _Acc]],
    groups: dict[str | None, _Acc],
    *,
    as_json: bool,
    as_csv: bool,
) -> None:
    total = _Acc()
    for _, acc in per_file:
        total.add(acc)
    files = [_summary(spec, "file", src.name, acc) for src, acc in per_file]
    keys = sorted(groups, key=lambda k: (k is None, k or ""))
    grouped = [_summary(spec, "group", k, groups[k]) for k in keys]
    total_row = _summary(spec, "file", "TOTAL", total)
    if as_json:
        out: dict[str, Any] = {
            "loss": spec.name,
            "params": _values(spec.loss),
            "reduction": spec.reduction,
            "files": [_finite(r) for r in files],
        }
        if spec.by is not None:
            out["by"] = spec.by
            out["groups"] = [_finite(r) for r in grouped]
        out["total"] = _finite(total_row)
        click.echo(json.dumps(out, indent=2, allow_nan=False, default=list))
        return
    if as_csv:
        _print_csv(spec, files, grouped, total_row)
        return
    shown = grouped if spec.by is not None else files
    key = "group" if spec.by is not None else "file"
    labels = [_label(r[key]) for r in shown]
    width = max(len(key), len("TOTAL"), *(len(s) for s in labels))
    col = spec.reduction
    click.echo(f"{_loss_title(spec.name, spec.loss)}, reduction {col}")
    click.echo(f"{key:<{width}}  {'rows':>10}  {'sum':>16}  {col:>14}")
    for label, r in [*zip(labels, shown, strict=True), ("TOTAL", total_row)]:
        click.echo(f"{label:<{width}}  {r['rows']:>10}  {r['sum']:>16.8g}  {r['loss']:>14.8g}")
    for label, r in [*zip(labels, shown, strict=True), ("TOTAL", total_row)]:
        if r["note"]:
            click.echo(f"note: {label}: {r['note']}")


def _label(value: Any) -> str:
    return "(null)" if value is None else str(value)


def _print_csv(
    spec: _EvalSpec,
    files: list[dict[str, Any]],
    grouped: list[dict[str, Any]],
    total_row: dict[str, Any],
) -> None:
    fields = ["kind", "name", "rows", "weight_sum", "sum", "mean"]
    if spec.reduction == "positives":
        fields.append("positives")
    fields += ["loss", "note"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    records = [("file", r["file"], r) for r in files]
    records += [("group", r["group"], r) for r in grouped]
    records.append(("total", "TOTAL", total_row))
    for kind, name, r in records:
        cells: list[Any] = [kind, "" if name is None else name]
        for f in fields[2:]:
            v = r.get(f)
            cells.append("" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v)
        writer.writerow(cells)
    click.echo(buf.getvalue(), nl=False)


# --------------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------------
def _elementwise_losses() -> list[str]:
    """Every registered loss with one prediction per row (from the registry)."""
    return sorted(n for n, c in losslab.LOSSES.items() if c.kind != "multiclass")


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError:
        raise _fail(
            f"--sizes: expected comma-separated numbers such as 1e6, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise _fail(f"--sizes: expected sizes >= 1, got {text!r}")
    return sizes


def _bench_data(
    loss: Any, n: int, dtype: str, rng: np.random.Generator
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Targets and raw predictions the loss accepts: binary labels with 10 % positives and
    logits N(0, 3^2); regression targets N(0, 1) and predictions y + N(0, 1), or, when the
    loss's own validation rejects real targets (Poisson, gamma, Tweedie), lognormal targets
    and log-means log(y) + N(0, 0.5^2)."""
    if loss.kind == "binary":
        return (rng.random(n) < 0.1).astype(dtype), rng.normal(0.0, 3.0, n).astype(dtype)
    y = rng.normal(0.0, 1.0, n)
    z = y + rng.normal(0.0, 1.0, n)
    try:
        loss.loss(y[:64], z[:64])
    except ValueError:
        y = rng.lognormal(0.0, 0.5, n)
        z = np.log(y) + rng.normal(0.0, 0.5, n)
    return y.astype(dtype), z.astype(dtype)


def _best_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # compilation, warm caches
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@cli.command(
    short_help="Time the losses on this machine: fused kernels against the generic path.",
    context_settings=_CONTEXT,
)
@click.option("--sizes", default="1e6", show_default=True, help="Comma-separated sizes.")
@click.option(
    "--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True
)
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True)
@click.option(
    "--loss",
    "only",
    multiple=True,
    metavar="NAME",
    help="Time only this loss (repeatable) [default: every element-wise loss in the registry].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the timings as JSON.")
def bench(sizes: str, dtype: str, repeats: int, only: tuple[str, ...], as_json: bool) -> None:
    """Time value + gradient + Hessian (loss_gradient_hessian) of every element-wise loss with
    the fused kernels (the kernel column names the loss's kernel, - for none) and with the
    generic array-API path, next to a memory floor (copying the
    inputs into as many new arrays as the call returns). Best of --repeats after one warm-up
    call (which compiles the kernels).

    The side-by-side benchmark against NumPy, scikit-learn, torch and optax, with its
    performance targets, is benchmarks/kernels.py in the source repository.
    """
    import importlib.util

    names = list(only) or _elementwise_losses()
    for name in names:
        _loss_class(name)
    has_numba = importlib.util.find_spec("numba") is not None
    rng = np.random.default_rng(0)
    records: list[dict[str, Any]] = []
    for n in _parse_sizes(sizes):
        for name in names:
            loss = losslab.get_loss(name)
            y, z = _bench_data(loss, n, dtype, rng)

            def floor(y: Any = y, z: Any = z) -> Any:
                extra = np.empty_like(z)
                extra.fill(0)
                return y.copy(), z.copy(), extra

            def run(kernels: bool, loss: Any = loss, y: Any = y, z: Any = z) -> Any:
                with losslab.config_context(use_kernels=kernels):
                    return loss.loss_gradient_hessian(y, z)

            t_floor = _best_time(floor, repeats)
            t_fused = _best_time(lambda: run(True), repeats)
            t_generic = _best_time(lambda: run(False), repeats)
            records.append(
                {
                    "loss": name,
                    "kernel": type(loss).kernel,
                    "n": n,
                    "dtype": dtype,
                    "floor_s": t_floor,
                    "fused_s": t_fused,
                    "generic_s": t_generic,
                }
            )
    if as_json:
        click.echo(_json_text({"numba": has_numba, "results": records}))
        return
    click.echo(
        f"{'loss':<20} {'kernel':<13} {'n':>8} {'floor s':>10} {'fused s':>10} {'generic s':>10} "
        f"{'generic/fused':>14} {'fused/floor':>12}"
    )
    for r in records:
        click.echo(
            f"{r['loss']:<20} {r['kernel'] or '-':<13} {r['n']:>8.0e} {r['floor_s']:>10.4g} "
            f"{r['fused_s']:>10.4g} {r['generic_s']:>10.4g} {r['generic_s'] / r['fused_s']:>14.2f} "
            f"{r['fused_s'] / r['floor_s']:>12.2f}"
        )
    if not has_numba:
        click.echo("numba is not installed: the fused kernels are off (pip install numba).")
