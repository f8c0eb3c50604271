"""``losslab eval`` reads data as data tools do: every format, compression, encoding, delimiter,
standard input, globs and directories, per-group results, reductions, JSON and CSV summaries,
and one ``Error:`` line naming the file and the line or row for every malformed file."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("pyarrow")

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner, Result

import losslab
from losslab.cli import cli

N = 60


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def frame() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    return {
        "y": (rng.random(N) < 0.3).astype(float),
        "z": rng.normal(0.0, 2.0, N),
        "w": rng.integers(1, 4, N).astype(float),
        "g": np.array(["a", "b", "é"])[rng.integers(0, 3, N)],
    }


def _text(frame: dict[str, Any], delimiter: str = ",", newline: str = "\n") -> str:
    rows = [delimiter.join(["y", "z", "w", "g"])]
    for y, z, w, g in zip(frame["y"], frame["z"], frame["w"], frame["g"], strict=True):
        rows.append(delimiter.join([f"{y:g}", repr(float(z)), f"{w:g}", str(g)]))
    return newline.join(rows) + newline


def _expected(frame: dict[str, Any], name: str = "focal", **params: Any) -> np.ndarray[Any, Any]:
    return np.asarray(losslab.get_loss(name, **params).loss(frame["y"], frame["z"]))


def _eval(runner: CliRunner, *args: str, input: bytes | None = None) -> Result:
    base = ["eval", "--loss", "focal", "--target", "y", "--pred", "z", "--no-progress"]
    return runner.invoke(cli, [*base, *args], input=input)


def _json(res: Result) -> dict[str, Any]:
    assert res.exit_code == 0, res.output

    def no_constant(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    out: dict[str, Any] = json.loads(res.stdout, parse_constant=no_constant)
    return out


def _one_error_line(res: Result) -> str:
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in res.output
    return lines[0]


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as fh:
        fh.write(data)
    return bytes(sink.getvalue().to_pybytes())


def _empty_parquet() -> bytes:
    sink = io.BytesIO()
    empty = pa.array([], pa.float64())
    pq.write_table(pa.table({"y": empty, "z": empty}), sink)
    return sink.getvalue()


def _parquet(frame: dict[str, Any], **kwargs: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({k: list(v) for k, v in frame.items()}), sink, **kwargs)
    return sink.getvalue()


# name -> (file name, bytes of the file, extra options)
FORMATS: dict[str, tuple[str, Callable[[dict[str, Any]], bytes], list[str]]] = {
    "csv": ("d.csv", lambda f: _text(f).encode(), []),
    "csv crlf": ("d.csv", lambda f: _text(f, newline="\r\n").encode(), []),
    "empty lines first": ("d.csv", lambda f: b"\n\r\n" + _text(f).encode(), []),
    "tsv": ("d.tsv", lambda f: _text(f, "\t").encode(), []),
    "semicolon sniffed": ("d.csv", lambda f: _text(f, ";").encode(), []),
    "tab sniffed, no suffix": ("data", lambda f: _text(f, "\t").encode(), []),
    "pipe --delimiter": ("d.txt", lambda f: _text(f, "|").encode(), ["--delimiter", "|"]),
    "tab --delimiter \\t": ("d.txt", lambda f: _text(f, "\t").encode(), ["--delimiter", "\\t"]),
    "gzip": ("d.csv.gz", lambda f: gzip.compress(_text(f).encode()), []),
    "gzip, misleading name": ("d.csv", lambda f: gzip.compress(_text(f).encode()), []),
    "bz2": ("d.csv.bz2", lambda f: bz2.compress(_text(f).encode()), []),
    "xz": ("d.csv.xz", lambda f: lzma.compress(_text(f).encode()), []),
    "zstd": ("d.csv.zst", lambda f: _zstd(_text(f).encode()), []),
    "tsv gzip": ("d.tsv.gz", lambda f: gzip.compress(_text(f, "\t").encode()), []),
    "parquet": ("d.parquet", _parquet, []),
    "parquet zstd pages, other name": ("d.bin", lambda f: _parquet(f, compression="zstd"), []),
    "parquet gzip file": ("d.parquet.gz", lambda f: gzip.compress(_parquet(f)), []),
    "utf-8 bom": ("d.csv", lambda f: b"\xef\xbb\xbf" + _text(f).encode(), []),
    "utf-16 bom": ("d.csv", lambda f: _text(f).encode("utf-16"), []),
    "utf-16-le --encoding": (
        "d.csv",
        lambda f: _text(f).encode("utf-16-le"),
        ["--encoding", "utf-16-le"],
    ),
    "latin-1 --encoding": (
        "d.csv",
        lambda f: _text(f).encode("latin-1"),
        ["--encoding", "latin-1"],
    ),
    "cp1252 --encoding": ("d.csv", lambda f: _text(f).encode("cp1252"), ["--encoding", "cp1252"]),
}


@pytest.mark.parametrize("case", sorted(FORMATS))
def test_formats(runner: CliRunner, tmp_path: Path, frame: dict[str, Any], case: str) -> None:
    name, make, extra = FORMATS[case]
    path = tmp_path / name
    path.write_bytes(make(frame))
    out = _json(_eval(runner, "--json", "--weight", "w", "--by", "g", *extra, str(path)))
    values = _expected(frame)
    w = frame["w"]
    assert out["total"]["rows"] == N
    assert out["total"]["sum"] == pytest.approx(float(np.sum(w * values)), rel=1e-12)
    assert out["total"]["mean"] == pytest.approx(float(np.sum(w * values) / w.sum()), rel=1e-12)
    assert out["files"][0]["file"] == str(path)
    # the group column is decoded: "é" is one group whatever the encoding
    groups = {g["group"]: g for g in out["groups"]}
    assert set(groups) == {"a", "b", "é"}
    for key, g in groups.items():
        mask = frame["g"] == key
        assert g["rows"] == int(mask.sum())
        assert g["sum"] == pytest.approx(float(np.sum((w * values)[mask])), rel=1e-12)


@pytest.mark.parametrize("case", ["csv", "gzip", "parquet", "utf-16 bom", "zstd"])
def test_stdin(runner: CliRunner, frame: dict[str, Any], case: str) -> None:
    _, make, extra = FORMATS[case]
    out = _json(_eval(runner, "--json", *extra, "-", input=make(frame)))
    assert out["files"][0]["file"] == "<stdin>"
    assert out["total"]["sum"] == pytest.approx(float(_expected(frame).sum()), rel=1e-12)


def test_named_pipe(runner: CliRunner, tmp_path: Path, frame: dict[str, Any]) -> None:
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    data = gzip.compress(_text(frame).encode())

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    out = _json(_eval(runner, "--json", str(fifo)))
    writer.join()
    assert out["total"]["sum"] == pytest.approx(float(_expected(frame).sum()), rel=1e-12)


def test_without_pyarrow_one_error_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    path = tmp_path / "d.csv"
    path.write_text("y,z\n1,0.5\n", encoding="utf-8")
    monkeypatch.delitem(sys.modules, "losslab._io", raising=False)
    monkeypatch.delattr(losslab, "_io", raising=False)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    line = _one_error_line(_eval(runner, str(path)))
    assert "needs pyarrow" in line


def test_stdin_only_once(runner: CliRunner, frame: dict[str, Any]) -> None:
    line = _one_error_line(_eval(runner, "-", "-", input=_text(frame).encode()))
    assert "only once" in line


def test_many_files_globs_and_directories(
    runner: CliRunner, tmp_path: Path, frame: dict[str, Any]
) -> None:
    parts = tmp_path / "parts"
    (parts / "sub").mkdir(parents=True)
    text = _text(frame).encode()
    (parts / "p0.csv").write_bytes(text)
    (parts / "p1.csv.gz").write_bytes(gzip.compress(text))
    (parts / "sub" / "p2.parquet").write_bytes(_parquet(frame))
    (parts / ".hidden.csv").write_bytes(b"not,read\n")
    expect = float(_expected(frame).sum())
    out = _json(_eval(runner, "--json", str(parts / "p*")))
    assert [f["file"] for f in out["files"]] == [str(parts / "p0.csv"), str(parts / "p1.csv.gz")]
    assert out["total"]["sum"] == pytest.approx(2 * expect, rel=1e-12)
    out = _json(_eval(runner, "--json", str(parts / "**" / "*.parquet")))
    assert [f["file"] for f in out["files"]] == [str(parts / "sub" / "p2.parquet")]
    out = _json(_eval(runner, "--json", str(parts)))
    assert len(out["files"]) == 3
    assert out["total"]["rows"] == 3 * N
    assert out["total"]["sum"] == pytest.approx(3 * expect, rel=1e-12)
    line = _one_error_line(_eval(runner, str(tmp_path / "*.nothing")))
    assert "no file matches" in line


@pytest.mark.parametrize("reduction", ["mean", "sum", "positives"])
def test_reductions_match_the_library(
    runner: CliRunner, tmp_path: Path, frame: dict[str, Any], reduction: str
) -> None:
    path = tmp_path / "d.csv"
    path.write_text(_text(frame), encoding="utf-8")
    # parameters before and after the options; --reduction is an option, not a parameter
    res = runner.invoke(
        cli,
        [
            *("eval", "--gamma", "1.5", "--loss", "focal", "--reduction", reduction),
            *("--target", "y", "--pred", "z", "--alpha=0.5", "--json", "--no-progress"),
            *("--weight", "w", str(path)),
        ],
    )
    out = _json(res)
    loss = losslab.get_loss("focal", gamma=1.5, alpha=0.5)
    w = frame["w"].copy()
    expect = float(loss(frame["y"], frame["z"], sample_weight=w, reduction=reduction))
    assert out["reduction"] == reduction
    assert out["params"] == {"gamma": 1.5, "alpha": 0.5}
    assert out["total"]["loss"] == pytest.approx(expect, rel=1e-12)
    if reduction == "positives":
        assert out["total"]["positives"] == float(frame["y"].sum())
    # rows of weight 0 drop out of the positives as in the library
    path.write_text(_text({**frame, "w": np.where(np.arange(N) < 10, 0.0, frame["w"])}))
    w[:10] = 0.0
    res = runner.invoke(
        cli,
        [
            *("eval", "--loss", "focal", "--reduction", reduction, "--target", "y", "--pred"),
            *("z", "--gamma", "1.5", "--alpha", "0.5", "--json", "--weight", "w", str(path)),
        ],
    )
    expect = float(loss(frame["y"], frame["z"], sample_weight=w, reduction=reduction))
    assert _json(res)["total"]["loss"] == pytest.approx(expect, rel=1e-12)


def test_positives_needs_a_loss_that_counts_them(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("y,z\n1,0.5\n", encoding="utf-8")
    res = runner.invoke(
        cli,
        [
            *("eval", "--loss", "huber", "--reduction", "positives"),
            *("--target", "y", "--pred", "z", str(path)),
        ],
    )
    line = _one_error_line(res)
    assert "positives" in line
    assert "focal" in line


def test_by_with_nulls_in_parquet(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(
        pa.table({"y": [1.0, 0.0, 1.0, 0.0], "z": [0.5, -1.0, 2.0, 0.0], "k": [1, None, 1, 2]}),
        path,
    )
    out = _json(_eval(runner, "--json", "--by", "k", "--reduction", "sum", str(path)))
    groups = {g["group"]: g for g in out["groups"]}
    assert set(groups) == {"1", "2", None}
    assert groups["1"]["rows"] == 2
    full = np.asarray(losslab.get_loss("focal").loss([1.0, 0, 1, 0], [0.5, -1.0, 2.0, 0.0]))
    assert groups[None]["loss"] == pytest.approx(full[1])
    assert groups["1"]["loss"] == pytest.approx(full[0] + full[2])


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_by_a_numeric_column(
    runner: CliRunner, tmp_path: Path, frame: dict[str, Any], name: str
) -> None:
    """--by the label column: the loss per class; the weight column may be the key too."""
    path = tmp_path / name
    path.write_bytes(_parquet(frame) if name.endswith("parquet") else _text(frame).encode())
    out = _json(_eval(runner, "--json", "--by", "y", "--weight", "w", str(path)))
    values = _expected(frame)
    groups = {g["group"]: g for g in out["groups"]}
    assert set(groups) == {"0", "1"}
    for key, g in groups.items():
        mask = frame["y"] == float(key)
        expect = float(np.sum((frame["w"] * values)[mask]) / frame["w"][mask].sum())
        assert g["mean"] == pytest.approx(expect, rel=1e-12)
    out = _json(_eval(runner, "--json", "--by", "w", "--weight", "w", str(path)))
    assert {g["group"] for g in out["groups"]} == {"1", "2", "3"}


def test_json_and_csv_outputs_with_infinite_loss(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("y,p,w\n1,0.5,1\n1,0,2\n0,0.25,1\n1,0,0\n", encoding="utf-8")
    base = ["eval", "--loss", "log_loss", "--proba", "--target", "y", "--pred", "p", "--weight"]
    out = _json(runner.invoke(cli, [*base, "w", "--json", str(path)]))
    total = out["total"]
    assert total["mean"] is None
    assert total["sum"] is None
    # the zero-weight row is left out; the first infinite row is line 3
    assert "not finite at 1 row(s)" in total["note"]
    assert "line 3" in total["note"]
    assert "--clip" in total["note"]
    res = runner.invoke(cli, [*base, "w", "--csv", str(path)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["kind"] for r in rows] == ["file", "total"]
    assert rows[1]["mean"] == ""
    assert "not finite" in rows[1]["note"]
    assert rows[1]["rows"] == "4"
    # finite: the CSV numbers are the JSON numbers
    res = runner.invoke(cli, [*base, "w", "--csv", "--clip", "1e-6", str(path)])
    clipped = _json(runner.invoke(cli, [*base, "w", "--json", "--clip", "1e-6", str(path)]))
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert float(rows[1]["mean"]) == clipped["total"]["mean"]
    assert rows[1]["note"] == ""
    assert math.isfinite(clipped["total"]["mean"])


def test_infinite_prediction_makes_a_nan_loss_with_a_reason(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "d.csv"
    path.write_text("y,z\n1,0.5\n0,inf\n2,-inf\n", encoding="utf-8")
    res = runner.invoke(
        cli, ["eval", "--loss", "huber", "--target", "y", "--pred", "z", "--json", str(path)]
    )
    out = _json(res)
    assert out["total"]["mean"] is None
    assert "not finite at 2 row(s), first at" in out["total"]["note"]
    assert f"{path}: line 3" in out["total"]["note"]


def test_zero_weights_give_null_mean_with_a_reason(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("y,z,w\n1,0.5,0\n0,0.1,0\n", encoding="utf-8")
    out = _json(_eval(runner, "--weight", "w", "--json", str(path)))
    assert out["total"]["mean"] is None
    assert "weights sum to 0" in out["total"]["note"]
    assert out["total"]["sum"] == 0.0


def test_table_output_and_by(runner: CliRunner, tmp_path: Path, frame: dict[str, Any]) -> None:
    path = tmp_path / "d.csv"
    path.write_text(_text(frame), encoding="utf-8")
    res = _eval(runner, "--by", "g", str(path))
    assert res.exit_code == 0, res.output
    assert "focal(gamma=2, alpha=0.25)" in res.stdout
    lines = res.stdout.splitlines()
    assert lines[1].split() == ["group", "rows", "sum", "mean"]
    assert [ln.split()[0] for ln in lines[2:]] == ["a", "b", "é", "TOTAL"]


def test_json_csv_exclusive_and_option_typo(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("y,z\n1,0.5\n", encoding="utf-8")
    assert "exclude" in _one_error_line(_eval(runner, "--json", "--csv", str(path)))
    line = _one_error_line(_eval(runner, "--delimter", ";", str(path)))
    assert "--delimiter" in line
    assert "--gamma" in line  # the parameters focal takes


def test_rows_out_parquet(runner: CliRunner, tmp_path: Path, frame: dict[str, Any]) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(_parquet(frame))
    rows = tmp_path / "rows.csv"
    res = _eval(runner, "--rows-out", str(rows), "--chunk-size", "7", str(path))
    assert res.exit_code == 0, res.output
    got = list(csv.DictReader(io.StringIO(rows.read_text(encoding="utf-8"))))
    assert [int(r["row"]) for r in got] == list(range(1, N + 1))
    assert {r["line"] for r in got} == {""}
    np.testing.assert_allclose([float(r["loss"]) for r in got], _expected(frame), rtol=1e-12)


# --- malformed files: one error line naming the file and the line or row ---------------------
GOOD = "y,z\n1,0.5\n0,-1\n"
MALFORMED: dict[str, tuple[str, Callable[[], bytes], list[str]]] = {
    "non-numeric cell": ("d.csv", lambda: b"y,z\n1,0.5\n0,abc\n", ["line 3", "'abc'", "'z'"]),
    "python-only number": ("d.csv", lambda: b"y,z\n1,0.5\n0,1_0\n", ["line 3", "'1_0'"]),
    "nan label": ("d.csv", lambda: b"y,z\n1,0.5\nnan,0.1\n", ["line 3", "NaN", "'y'"]),
    "empty cell": ("d.csv", lambda: b"y,z\n1,0.5\n1,\n", ["line 3", "NaN or empty", "'z'"]),
    "label out of domain": ("d.csv", lambda: b"y,z\n1,0.5\n2,0.1\n", ["line 3", "outside [0, 1]"]),
    "infinite label": ("d.csv", lambda: b"y,z\n1,0.5\ninf,0.1\n", ["line 3", "infinite"]),
    "empty lines before the header": (
        "d.csv",
        lambda: b"\n\ny,z\n1,0.5\n0,q\n",
        ["line 5", "'q'"],
    ),
    "line after blank lines": (
        "d.csv",
        lambda: b"y,z\n1,0.5\n\n\n0,x\n",
        ["line 5", "'x'"],
    ),
    "domain error deep in a big gzip": (
        "d.csv.gz",
        lambda: gzip.compress(b"y,z\n" + b"1,0.5\n" * 30000 + b"3,0.5\n"),
        ["line 30002", "outside [0, 1]"],
    ),
    "missing column": ("d.csv", lambda: b"y,logit\n1,0.5\n", ["line 1", "['z'] not found"]),
    "short row": ("d.csv", lambda: b"y,z\n1,0.5\n1\n", ["line 3", "1 fields"]),
    "long row": ("d.csv", lambda: b"y,z\n1,0.5\n1,0.5,7\n", ["line 3", "3 fields"]),
    "bad encoding": (
        "d.csv",
        lambda: b"y,z\n1,0.5\n1,0.5\xe9\n",
        ["line 3", "utf-8", "--encoding"],
    ),
    "bad encoding in the header": ("d.csv", lambda: b"y,z\xe9\n1,0.5\n", ["line 1", "--encoding"]),
    "truncated gzip": (
        "d.csv.gz",
        lambda: gzip.compress(b"y,z\n" + b"1,0.5\n" * 20000)[:-30],
        ["line ", "truncated"],
    ),
    "truncated xz": (
        "d.csv.xz",
        lambda: lzma.compress(b"y,z\n" + b"1,0.5\n" * 20000)[:-30],
        ["line ", "truncated"],
    ),
    "corrupt gzip": (
        "d.csv.gz",
        lambda: gzip.compress(GOOD.encode())[:12] + b"\xff" * 40,
        ["line ", "corrupt"],
    ),
    "binary garbage": (
        "d.csv",
        lambda: bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)),
        ["line 1", "binary"],
    ),
    "empty file": ("d.csv", lambda: b"", ["line 1: empty file"]),
    "utf-16 empty lines only": ("d.csv", lambda: "\n\n".encode("utf-16"), ["empty file"]),
    "only a header": ("d.csv", lambda: b"y,z\n", ["line 2: no data rows"]),
    "parquet without rows": (
        "d.parquet",
        lambda: _empty_parquet(),
        ["row 1: no data rows"],
    ),
    "truncated parquet": (
        "d.parquet",
        lambda: _parquet({"y": [1.0, 0.0], "z": [0.5, 0.1]})[:-20],
        ["Parquet"],
    ),
    "parquet text cell": (
        "d.parquet",
        lambda: _parquet({"y": [1.0, 0.0, 1.0], "z": ["0.5", "1e3", "oops"]}),
        ["row 3", "'oops'"],
    ),
    "parquet nan label": (
        "d.parquet",
        lambda: _parquet({"y": [1.0, None], "z": [0.5, 0.1]}),
        ["row 2", "NaN"],
    ),
    "parquet missing column": (
        "d.parquet",
        lambda: _parquet({"y": [1.0], "zz": [0.5]}),
        ["['z'] not found", "'zz'"],
    ),
    "parquet non-numeric type": (
        "d.parquet",
        lambda: _parquet({"y": [1.0], "z": [[0.5]]}),
        ["'z'", "not numbers"],
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed(runner: CliRunner, tmp_path: Path, case: str) -> None:
    name, make, expected = MALFORMED[case]
    path = tmp_path / name
    path.write_bytes(make())
    rows = tmp_path / "rows.csv"
    line = _one_error_line(_eval(runner, "--rows-out", str(rows), str(path)))
    assert str(path) in line
    for text in expected:
        assert text in line
    assert not rows.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("compress", [False, True])
def test_streamed_in_blocks(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compress: bool
) -> None:
    """Files above WHOLE_FILE_BYTES are streamed block by block: same totals, and an error in a
    late block still names its line."""
    from losslab import _io

    monkeypatch.setattr(_io, "WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(_io, "_STREAM_BLOCK", 1 << 12)
    rng = np.random.default_rng(5)
    y = (rng.random(5000) < 0.5).astype(int)
    z = rng.normal(0, 1, 5000)
    body = "".join(f"{a},{b!r}\n" for a, b in zip(y, z.tolist(), strict=True))
    data = ("y,z\n" + body).encode()
    path = tmp_path / ("d.csv.gz" if compress else "d.csv")
    path.write_bytes(gzip.compress(data) if compress else data)
    out = _json(_eval(runner, "--json", "--chunk-size", "999", str(path)))
    expect = np.asarray(losslab.get_loss("focal").loss(y.astype(float), z))
    assert out["total"]["rows"] == 5000
    assert out["total"]["sum"] == pytest.approx(float(expect.sum()), rel=1e-12)
    bad = ("y,z\n" + body + "\n1,0.5\n0,zz\n").encode()
    path.write_bytes(gzip.compress(bad) if compress else bad)
    line = _one_error_line(_eval(runner, str(path)))
    assert f"line {5000 + 4}: cannot parse 'zz'" in line
    late = ("y,z\n" + body + "7,0.5\n").encode()
    path.write_bytes(gzip.compress(late) if compress else late)
    line = _one_error_line(_eval(runner, str(path)))
    assert f"line {5000 + 2}: label outside [0, 1]" in line


def _refuses_negative_targets() -> list[str]:
    """Registered one-column losses whose own validation refuses y = -1 (Poisson, gamma...)."""
    names = []
    for name, cls in sorted(losslab.LOSSES.items()):
        if cls.kind != "regression":
            continue
        try:
            cls().loss(np.array([-1.0]), np.array([0.0]))
        except ValueError:
            names.append(name)
    return names


def test_registered_loss_domain_error_names_its_line(runner: CliRunner, tmp_path: Path) -> None:
    names = _refuses_negative_targets()
    assert names, "the registry has Poisson/gamma/Tweedie losses with positive targets"
    path = tmp_path / "d.csv"
    path.write_text("y,z\n1,0.5\n2,0.1\n\n-1,0.3\n3,0.2\n", encoding="utf-8")
    for name in names:
        res = runner.invoke(
            cli, ["eval", "--loss", name, "--target", "y", "--pred", "z", str(path)]
        )
        line = _one_error_line(res)
        assert f"{path}: line 5: " in line, line


def test_loss_validation_error_names_its_row() -> None:
    """A domain error raised by the loss itself (not by the CLI's own checks) is traced back to
    the first row that raises it."""
    from losslab._io import Batch, TextOptions
    from losslab.cli import _batch_values, _EvalSpec

    class Picky:
        def loss(self, y: Any, z: Any) -> Any:
            if np.any(np.asarray(y) > 5):
                raise ValueError("y_true must be at most 5")
            return np.zeros(len(y))

    spec = _EvalSpec("picky", Picky(), "y", "z", None, None, False, None, "mean", TextOptions())
    y = np.array([0.0, 1.0, 2.0, 9.0, 1.0, 7.0])
    batch = Batch({"y": y, "z": np.zeros(6)}, None, 100, lambda row: f"mem: row {row + 1}")
    with pytest.raises(Exception, match=r"mem: row 104: y_true must be at most 5"):
        _batch_values(spec, batch)


def test_bad_options(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(GOOD, encoding="utf-8")
    assert "--delimiter" in _one_error_line(_eval(runner, "--delimiter", ";;", str(path)))
    assert "unknown encoding" in _one_error_line(_eval(runner, "--encoding", "nope", str(path)))
    (tmp_path / "empty_dir").mkdir()
    assert "no files in directory" in _one_error_line(_eval(runner, str(tmp_path / "empty_dir")))


def test_arrow_to_numpy_with_nulls_and_offsets() -> None:
    from losslab._io import float64_numpy, int_numpy

    arr = pa.array([1.0, None, 3.0, 4.0, None, 6.0, 7.0, 8.0, 9.0, None, 11.0])
    for start in range(0, 10):
        part = arr.slice(start, 11 - start)
        expect = np.array([np.nan if v is None else v for v in part.to_pylist()])
        np.testing.assert_array_equal(float64_numpy(part), expect)
    ints = pa.array([5, None, 7, 8, None, 2, 1, 0, 3], type=pa.int32())
    for start in range(0, 8):
        part = ints.slice(start, 9 - start)
        expect = np.array([-1 if v is None else v for v in part.to_pylist()])
        np.testing.assert_array_equal(int_numpy(part, null=-1), expect)
    chunked = pa.chunked_array([[1, 2], [3]], type=pa.int16())
    np.testing.assert_array_equal(float64_numpy(chunked), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", ["d.csv", "d.parquet"])
def test_eval_does_not_import_pandas(tmp_path: Path, frame: dict[str, Any], name: str) -> None:
    """pyarrow's to_numpy imports pandas (half a second of a cold start); eval avoids it."""
    import subprocess
    import sys

    path = tmp_path / name
    path.write_bytes(
        FORMATS["parquet"][1](frame) if name.endswith("parquet") else _text(frame).encode()
    )
    code = (
        "import sys\n"
        "from losslab.cli import cli\n"
        "args = ['eval', '--loss', 'focal', '--target', 'y', '--pred', 'z', '--by', 'g',\n"
        f"        '--weight', 'w', '--json', {str(path)!r}]\n"
        "cli.main(args=args, standalone_mode=False)\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"]["rows"] == N


def test_by_across_batches_and_files(runner: CliRunner, tmp_path: Path) -> None:
    """Many groups, split across batches and files, with one infinite loss: totals per group
    equal NumPy's, and the note names the line of the group's first infinite row."""
    rng = np.random.default_rng(11)
    n = 300
    y = (rng.random(n) < 0.4).astype(float)
    p = rng.uniform(0.05, 0.95, n)
    w = rng.integers(0, 4, n).astype(float)
    k = rng.integers(0, 37, n)
    p[150], y[150], w[150], k[150] = 0.0, 1.0, 2.0, 5  # log(0): infinite, group 5, line 32
    rows = [f"{a:g},{b!r},{c:g},k{d}" for a, b, c, d in zip(y, p.tolist(), w, k, strict=True)]
    for i, (lo, hi) in enumerate([(0, 120), (120, n)]):
        (tmp_path / f"part{i}.csv").write_text("y,p,w,k\n" + "\n".join(rows[lo:hi]) + "\n")
    res = runner.invoke(
        cli,
        [
            *("eval", "--loss", "focal", "--proba", "--target", "y", "--pred", "p"),
            *("--weight", "w", "--by", "k", "--chunk-size", "13", "--reduction", "positives"),
            *("--json", str(tmp_path / "part*.csv")),
        ],
    )
    out = _json(res)
    with np.errstate(divide="ignore"):
        values = np.asarray(losslab.get_loss("focal").loss_from_proba(y, p))
    groups = {g["group"]: g for g in out["groups"]}
    assert set(groups) == {f"k{d}" for d in np.unique(k)}
    for d in np.unique(k):
        g = groups[f"k{d}"]
        mask = k == d
        assert g["rows"] == int(mask.sum())
        assert g["weight_sum"] == float(w[mask].sum())
        assert g["positives"] == float(y[mask & (w > 0)].sum())
        if d == 5:
            assert g["sum"] is None
            assert "not finite at 1 row(s)" in g["note"]
            assert f"part1.csv: line {150 - 120 + 2}" in g["note"]
        else:
            expect = float(np.sum((w * values)[mask]))
            assert g["sum"] == pytest.approx(expect, rel=1e-12, abs=1e-300)
            assert g["note"] is None or "weights sum to 0" in g["note"]


def test_kernels_only_when_they_pay(tmp_path: Path) -> None:
    """A new process: eval keeps the generic path (no numba load) for its first rows, takes
    the fused kernels after _KERNEL_AFTER_ROWS or when LOSSLAB_USE_KERNELS says so, and the
    numbers agree."""
    import importlib.util
    import os
    import subprocess
    import sys

    rng = np.random.default_rng(2)
    n = 30_000
    y = (rng.random(n) < 0.2).astype(int)
    z = rng.normal(0, 2, n)
    path = tmp_path / "d.csv"
    path.write_text("y,z\n" + "".join(f"{a},{b!r}\n" for a, b in zip(y, z.tolist(), strict=True)))
    code = (
        "import json, sys\n"
        "import losslab.cli as c\n"
        "def run():\n"
        "    import contextlib, io\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        c.cli.main(args=['eval', '--loss', 'focal', '--target', 'y', '--pred', 'z',\n"
        f"                         '--json', '--chunk-size', '15000', {str(path)!r}],\n"
        "                   standalone_mode=False)\n"
        "    return json.loads(buf.getvalue())['total']['sum'], c._KERNELS_MODULE in sys.modules\n"
        "first = run()\n"
        "c._KERNEL_AFTER_ROWS = 15000\n"
        "second = run()\n"
        "print(json.dumps([first, second]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LOSSLAB_USE_KERNELS"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    (sum1, loaded1), (sum2, loaded2) = json.loads(proc.stdout)
    expect = float(np.asarray(losslab.get_loss("focal").loss(y.astype(float), z)).sum())
    assert sum1 == pytest.approx(expect, rel=1e-12)
    assert sum2 == pytest.approx(expect, rel=1e-12)
    assert not loaded1  # 30,000 rows: the generic path, no numba load
    has_numba = importlib.util.find_spec("numba") is not None
    assert loaded2 == has_numba  # past the threshold the kernels are used
    forced = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**env, "LOSSLAB_USE_KERNELS": "1"},
    )
    assert forced.returncode == 0, forced.stderr
    (sum3, loaded3), _ = json.loads(forced.stdout)
    assert loaded3 == has_numba
    assert sum3 == pytest.approx(expect, rel=1e-12)
