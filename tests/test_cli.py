"""Every `losslab` command through click's CliRunner, and every kind of bad input: one
"Error: ..." line, a non-zero exit code, no half-written output file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("matplotlib")

from click.testing import CliRunner, Result

import losslab
from losslab.cli import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_error_line(res: Result) -> str:
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- help and list --------------------------------------------------------------------------
@pytest.mark.parametrize("args", [[], ["report"], ["plot"], ["eval"], ["list"], ["bench"]])
def test_help_everywhere(runner: CliRunner, args: list[str]) -> None:
    res = runner.invoke(cli, [*args, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage: " in res.output


def test_commands_registered(runner: CliRunner) -> None:
    assert {"report", "plot", "eval", "list", "bench"} <= set(cli.commands)
    # the benchmark harness with its peers and targets lives in benchmarks/, not the package
    assert importlib.util.find_spec("losslab.bench") is None
    res = runner.invoke(cli, ["--help"])
    listed = {ln.split()[1] for ln in res.output.splitlines() if ln.strip().startswith("losslab ")}
    assert listed == set(cli.commands)


def test_list(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["list"])
    assert res.exit_code == 0, res.output
    for name in losslab.LOSSES:
        assert name in res.output
    assert "alpha weights the positives" in res.output
    res = runner.invoke(cli, ["list", "--json"])
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} == set(losslab.LOSSES)
    focal = next(r for r in rows if r["name"] == "focal")
    assert focal["params"] == {"gamma": 2.0, "alpha": 0.25}


def test_list_describes_declared_parameters(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["list"])
    for name, cls in losslab.LOSSES.items():
        for p in cls.parameters():
            assert p.describe() in res.output, (name, p.name)
    assert "--gamma: a number >= 0 (default 2.0)" in res.output


def test_titles_name_every_parameter() -> None:
    from losslab.cli import _loss_title

    assert _loss_title("focal", losslab.get_loss("focal")) == "focal(gamma=2, alpha=0.25)"
    title = _loss_title("softmax_focal", losslab.get_loss("softmax_focal", alpha=[1, 2]))
    assert title == "softmax_focal(gamma=2, alpha=[1, 2], background_class=None)"


# --- plot -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "suffix"),
    [
        (["focal", "--gamma", "2", "--alpha", "0.25"], "png"),
        (["huber", "--delta=2"], "svg"),
        (["log_loss"], "png"),
        (["softmax_cross_entropy"], "png"),
        (["--gamma", "2", "focal"], "png"),
        (["--gamma", "1", "softmax_focal", "--alpha", "0.25,0.75"], "svg"),
        (["--delta", "0.5", "pseudo_huber", "--range", "-3", "3"], "pdf"),
    ],
)
def test_plot(runner: CliRunner, tmp_path: Path, args: list[str], suffix: str) -> None:
    out = tmp_path / f"fig.{suffix}"
    res = runner.invoke(cli, ["plot", *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = out.read_bytes()
    if suffix == "pdf":
        assert data.startswith(b"%PDF")
    else:
        assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data[:2000]


def test_curves_of_every_registered_loss() -> None:
    """What plot draws, for every loss in the registry (the figure itself is tested above)."""
    from losslab.cli import _curves

    z = np.linspace(-4.0, 4.0, 41)
    for name, cls in sorted(losslab.LOSSES.items()):
        curves, xlabel = _curves(cls(), z)
        assert curves, name
        assert xlabel, name
        for label, *vals in curves:
            for v in vals:
                assert np.shape(v) == z.shape, (name, label)
                assert np.all(np.isfinite(v)), (name, label)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["nope"], "nope"),
        (["focal", "--gama", "2"], "gama"),
        (["focal", "--gamma", "-1"], "gamma"),
        (["focal", "--gamma", "abc"], "abc"),
        (["focal", "--out", "x.jpg"], ".png"),
        (["focal", "--range", "3", "1"], "range"),
        (["focal", "--range", "-inf", "inf"], "finite"),
        (["focal", "--range", "nan", "1"], "finite"),
        (["--gamma", "2"], "missing LOSS"),
        (["focal", "huber"], "one LOSS"),
        (["focal", "--gamma"], "needs a value"),
        (["softmax_focal", "--alpha", "0.25,x"], "alpha"),
        (["softmax_focal", "--background-class", "1.5"], "background_class"),
    ],
)
def test_plot_bad_input(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    match: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    line = _one_error_line(runner.invoke(cli, ["plot", *args]))
    assert match in line
    assert list(tmp_path.iterdir()) == []


# --- eval -----------------------------------------------------------------------------------
@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    y = (rng.random(250) < 0.3).astype(int)
    z = rng.normal(0, 2, 250)
    w = rng.integers(1, 4, 250)
    lines = ["label,logit,w,proba"] + [
        f"{a},{float(b)!r},{c},{float(1 / (1 + np.exp(-b)))!r}"
        for a, b, c in zip(y, z, w, strict=False)
    ]
    return _write(tmp_path / "data.csv", "\n".join(lines) + "\n")


def _columns(path: Path) -> dict[str, np.ndarray]:
    arr = np.genfromtxt(path, delimiter=",", names=True)
    return {name: np.asarray(arr[name], dtype=float) for name in arr.dtype.names or ()}


def test_eval_values(runner: CliRunner, data_csv: Path) -> None:
    cols = _columns(data_csv)
    loss = losslab.get_loss("focal", gamma=2.0, alpha=0.25)
    expect = np.asarray(loss.loss(cols["label"], cols["logit"]))
    res = runner.invoke(
        cli,
        [
            "eval",
            "--loss",
            "focal",
            "--gamma",
            "2",
            "--target",
            "label",
            "--pred",
            "logit",
            "--json",
            "--no-progress",
            "--chunk-size",
            "7",
            str(data_csv),
            str(data_csv),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [f["rows"] for f in out["files"]] == [250, 250]
    assert out["files"][0]["sum"] == pytest.approx(expect.sum(), rel=1e-12)
    assert out["total"]["mean"] == pytest.approx(expect.mean(), rel=1e-12)
    assert out["total"]["rows"] == 500


def test_eval_weights_proba_and_rows(runner: CliRunner, data_csv: Path, tmp_path: Path) -> None:
    cols = _columns(data_csv)
    loss = losslab.get_loss("log_loss")
    values = np.asarray(loss.loss(cols["label"], cols["logit"]))
    rows = tmp_path / "rows.csv"
    res = runner.invoke(
        cli,
        [
            "eval",
            "--loss",
            "log_loss",
            "--target",
            "label",
            "--pred",
            "proba",
            "--proba",
            "--weight",
            "w",
            "--rows-out",
            str(rows),
            "--json",
            "--no-progress",
            str(data_csv),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    w = cols["w"]
    assert out["total"]["mean"] == pytest.approx((w * values).sum() / w.sum(), rel=1e-9)
    per_row = np.genfromtxt(rows, delimiter=",", names=True, dtype=None, encoding="utf-8")
    assert per_row.shape == (250,)
    np.testing.assert_allclose(per_row["loss"], values, rtol=1e-9)
    assert per_row["line"][0] == 2
    # the human-readable table
    res = runner.invoke(
        cli,
        [
            "eval",
            "--loss",
            "log_loss",
            "--target",
            "label",
            "--pred",
            "logit",
            "--no-progress",
            str(data_csv),
        ],
    )
    assert res.exit_code == 0
    assert "TOTAL" in res.stdout
    assert "data.csv" in res.stdout


BAD_CASES = {
    "missing file": (None, "file not found"),
    "missing column": ("label,score\n1,0.5\n", "not found"),
    "unparsable": ("label,logit\n1,0.5\n0,abc\n", "line 3: cannot parse 'abc'"),
    "label outside": ("label,logit\n1,0.5\n2,0.1\n", "line 3: label outside [0, 1]"),
    "nan row": ("label,logit\n1,0.5\n0,nan\n", "line 3: NaN"),
    "empty cell": ("label,logit\n1,0.5\n,0.3\n", "line 3: NaN or empty"),
    "empty file": ("", "empty file"),
    "no rows": ("label,logit\n", "no data rows"),
    "short row": ("label,logit\n1\n", "fields"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_eval_bad_input(runner: CliRunner, tmp_path: Path, case: str) -> None:
    text, match = BAD_CASES[case]
    path = tmp_path / "in.csv"
    if text is not None:
        _write(path, text)
    rows = tmp_path / "rows.csv"
    res = runner.invoke(
        cli,
        [
            "eval",
            "--loss",
            "log_loss",
            "--target",
            "label",
            "--pred",
            "logit",
            "--rows-out",
            str(rows),
            "--no-progress",
            str(path),
        ],
    )
    assert match in _one_error_line(res)
    assert not rows.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if text is None else ["in.csv"])


def test_eval_bad_probability_and_options(runner: CliRunner, tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "y,p\n1,0.5\n0,1.5\n")
    base = ["eval", "--target", "y", "--pred", "p", "--no-progress"]
    line = _one_error_line(runner.invoke(cli, [*base, "--loss", "log_loss", "--proba", str(path)]))
    assert "probability outside [0, 1]" in line
    line = _one_error_line(runner.invoke(cli, [*base, "--loss", "huber", "--proba", str(path)]))
    assert "loss_from_proba" in line
    line = _one_error_line(runner.invoke(cli, [*base, "--loss", "log_loss"]))
    assert "no input FILE" in line
    line = _one_error_line(runner.invoke(cli, [*base, "--loss", "nope", str(path)]))
    assert "nope" in line
    line = _one_error_line(runner.invoke(cli, [*base, "--loss", "softmax_focal", str(path)]))
    assert "multiclass" in line
    line = _one_error_line(
        runner.invoke(cli, [*base, "--loss", "log_loss", "--clip", "1e-7", str(path)])
    )
    assert "--clip" in line


def test_eval_regression_and_negative_weight(runner: CliRunner, tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", "y,f,w\n1.0,1.5,1\n-2,0,2\n")
    base = [
        "eval",
        "--loss",
        "huber",
        "--delta",
        "1",
        "--target",
        "y",
        "--pred",
        "f",
        "--no-progress",
        "--json",
    ]
    res = runner.invoke(cli, [*base, "--weight", "w", str(path)])
    assert res.exit_code == 0, res.output
    # huber(0.5) = 0.125, huber(2) = 1.5 with weight 2: (0.125 + 3) / 3
    assert json.loads(res.stdout)["total"]["mean"] == pytest.approx(3.125 / 3)
    bad = _write(tmp_path / "b.csv", "y,f,w\n1.0,1.5,-1\n")
    line = _one_error_line(runner.invoke(cli, [*base, "--weight", "w", str(bad)]))
    assert "negative or infinite weight" in line


def test_eval_parquet(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    if importlib.util.find_spec("pyarrow") is None:
        path.write_bytes(b"PAR1")
        line = _one_error_line(
            runner.invoke(
                cli,
                [
                    "eval",
                    "--loss",
                    "log_loss",
                    "--target",
                    "y",
                    "--pred",
                    "z",
                    "--no-progress",
                    str(path),
                ],
            )
        )
        assert "pyarrow" in line
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"y": [1.0, 0.0, 1.0], "z": [0.5, -1.0, 2.0]}), path)
    res = runner.invoke(
        cli,
        [
            "eval",
            "--loss",
            "log_loss",
            "--target",
            "y",
            "--pred",
            "z",
            "--json",
            "--no-progress",
            "--chunk-size",
            "2",
            str(path),
        ],
    )
    assert res.exit_code == 0, res.output
    expect = np.asarray(
        losslab.get_loss("log_loss").loss(np.array([1.0, 0, 1]), np.array([0.5, -1.0, 2.0]))
    )
    assert json.loads(res.stdout)["total"]["sum"] == pytest.approx(expect.sum())


# --- bench ----------------------------------------------------------------------------------
def test_bench_small(runner: CliRunner) -> None:
    res = runner.invoke(
        cli, ["bench", "--sizes", "2e4", "--repeats", "1", "--loss", "huber", "--loss", "focal"]
    )
    assert res.exit_code == 0, res.output
    rows = [ln.split() for ln in res.stdout.splitlines()[1:] if ln.strip()]
    assert [r[0] for r in rows[:2]] == ["huber", "focal"]
    for r in rows[:2]:
        assert r[1] == (losslab.LOSSES[r[0]].kernel or "-")
        assert all(float(x) > 0 for x in r[3:])  # every timing and ratio measured
    res = runner.invoke(cli, ["bench", "--sizes", "1e4", "--repeats", "1", "--json"])
    assert res.exit_code == 0, res.output
    timed = {r["loss"] for r in json.loads(res.stdout)["results"]}
    assert timed == {n for n, c in losslab.LOSSES.items() if c.kind != "multiclass"}
    assert "nope" in _one_error_line(runner.invoke(cli, ["bench", "--loss", "nope"]))
    assert "--sizes" in _one_error_line(runner.invoke(cli, ["bench", "--sizes", "x"]))


# --- report ---------------------------------------------------------------------------------
def test_report_quick_only(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    res = runner.invoke(
        cli,
        [
            "report",
            "--quick",
            "--only",
            "logits",
            "--seed",
            "5",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "logits" in res.stdout
    assert any(status in res.stdout for status in ("held", "partly", "failed"))
    data = json.loads((out / "results.json").read_text())
    assert data["seed"] == 5
    assert data["mode"] == "quick"
    assert list(data["experiments"]) == ["logits"]
    assert (out / "index.html").is_file()


def test_report_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    line = _one_error_line(
        runner.invoke(cli, ["report", "--quick", "--full", "--out", str(tmp_path / "x")])
    )
    assert "exclude" in line
    assert not (tmp_path / "x").exists()
    res = runner.invoke(cli, ["report", "--only", "nope", "--out", str(tmp_path / "y")])
    assert res.exit_code == 2
    assert "nope" in res.stderr
    blocker = _write(tmp_path / "file", "not a folder")
    line = _one_error_line(
        runner.invoke(
            cli,
            [
                "report",
                "--quick",
                "--only",
                "logits",
                "--no-progress",
                "--out",
                str(blocker / "sub"),
            ],
        )
    )
    assert "cannot write the report" in line


# --- the benchmark harness in benchmarks/ (not installed) ------------------------------------
def _kernels_module() -> object:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "kernels.py"
    spec = importlib.util.spec_from_file_location("losslab_benchmarks_kernels", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kernel_benchmark_losses_and_targets_follow_the_run() -> None:
    kernels: Any = _kernels_module()
    expected = tuple(n for n, c in losslab.LOSSES.items() if c.kind != "multiclass")
    assert tuple(kernels.ELEMENTWISE_LOSSES) == expected
    result = kernels.run_benchmark(
        sizes=[20_000], dtypes=["float64"], threads=[1], repeats=1, tasks=["huber_vg"]
    )
    targets = result["targets"]
    # only the task that ran is judged, at the size it ran: a verdict, not "n/a"
    assert [t["target"] for t in targets] == ["huber VG: fused / floor <= 4"]
    assert targets[0]["measured"] > 0
    assert targets[0]["met"] in (True, False)
    assert targets[0]["at"] == {"n": 20_000, "dtype": "float64", "threads": 1}
    assert "Targets at n = 2e+04, float64, 1 thread(s)" in kernels.format_targets(targets)
