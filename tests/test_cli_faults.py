"""Fault injection for the ``losslab`` command: SIGTERM, SIGINT and SIGKILL mid-write (the CLI
in a subprocess), a full disk (a 64 KiB tmpfs), a read-only folder, refused targets (an
input, a device, a FIFO, a directory, the command's own output) and non-finite numbers in
``--json``. After a caught signal no temporary is left; after any fault the previous output is
intact and no half-written final file exists."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("matplotlib")
pytest.importorskip("pyarrow")

from click.testing import CliRunner, Result

from losslab import _atomic
from losslab.cli import cli

EVAL = ["eval", "--loss", "log_loss", "--target", "y", "--pred", "z", "--no-progress"]
OLD = "previous output\n"
CODE = "from losslab.cli import main; main()"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_error_line(res: Result, code: int = 1) -> str:
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def _data(path: Path, n: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    z = rng.normal(0.0, 2.0, n)
    path.write_text("y,z\n" + "".join(f"{a},{b:.6f}\n" for a, b in zip(y, z, strict=True)))
    return path


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old")))


# --------------------------------------------------------------------------------------------
# signals: the CLI in a subprocess
# --------------------------------------------------------------------------------------------
def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    code = CODE
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(
    proc: subprocess.Popen[str], found: Callable[[], bool], timeout: float = 120.0
) -> None:
    """Poll until ``found()`` (the command has started writing); fail if it ended first."""
    deadline = time.monotonic() + timeout
    while not found():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the command ended (rc {proc.returncode}) before it was killed: {err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail("the command did not start writing in time")
        time.sleep(0.02)


def _started_rows(folder: Path, name: str) -> Callable[[], bool]:
    def found() -> bool:
        return any(
            p.stat().st_size > 0
            for p in folder.glob(f".{name}.*.tmp")
            if p.is_file()  # written to, not only created
        )

    return found


@pytest.fixture(scope="module")
def slow_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 rows read with --chunk-size 1: seconds of writing --rows-out."""
    return _data(tmp_path_factory.mktemp("slow") / "d.csv", n=20_000)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_caught_signal_mid_rows_out_removes_the_temporary(
    tmp_path: Path, slow_input: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "rows.csv"
    out.write_text(OLD)
    proc = _start([*EVAL, "--chunk-size", "1", "--rows-out", str(out), str(slow_input)], tmp_path)
    _wait_for(proc, _started_rows(tmp_path, "rows.csv"))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == [
        f"Error: interrupted by {sig.name}; temporary files removed, existing outputs left as "
        "they were"
    ]
    assert _temps(tmp_path) == []
    assert out.read_text() == OLD


@pytest.mark.parametrize("previous", [True, False], ids=["over-previous", "new"])
def test_sigkill_mid_rows_out_leaves_no_half_written_file(
    tmp_path: Path, slow_input: Path, previous: bool
) -> None:
    out = tmp_path / "rows.csv"
    if previous:
        out.write_text(OLD)
    proc = _start([*EVAL, "--chunk-size", "1", "--rows-out", str(out), str(slow_input)], tmp_path)
    _wait_for(proc, _started_rows(tmp_path, "rows.csv"))
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # the final name is untouched; only a hidden temporary may be left by an uncatchable kill
    if previous:
        assert out.read_text() == OLD
    else:
        assert not out.exists()
    assert all(name.startswith(".rows.csv.") for name in _temps(tmp_path))


def _previous_report(folder: Path) -> dict[str, bytes]:
    (folder / "figures").mkdir(parents=True)
    files = {
        "index.html": b"<html>old report</html>\n",
        "results.json": b'{"old": true}\n',
        "figures/old.png": b"old figure",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _report_temp(parent: Path, name: str, inside: str = "") -> Callable[[], bool]:
    def found() -> bool:
        return any((p / inside).exists() if inside else True for p in parent.glob(f".{name}.*.tmp"))

    return found


REPORT = ["report", "--quick", "--only", "logits", "--no-progress", "--out"]


def test_report_sigterm_keeps_the_previous_report(tmp_path: Path) -> None:
    rep = tmp_path / "rep"
    before = _previous_report(rep)
    proc = _start([*REPORT, str(rep)], tmp_path)
    _wait_for(proc, _report_temp(tmp_path, "rep"))  # the new report's folder exists
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted by SIGTERM" in err
    assert "Traceback" not in err
    assert _tree(rep) == before
    assert _temps(tmp_path) == []


def test_report_sigkill_after_a_new_figure_keeps_the_previous_report(tmp_path: Path) -> None:
    rep = tmp_path / "rep"
    before = _previous_report(rep)
    proc = _start([*REPORT, str(rep)], tmp_path)
    # a figure of the new run is written: killed between the figures and the HTML
    _wait_for(proc, lambda: any(tmp_path.glob(".rep.*.tmp/figures/*.png")))
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _tree(rep) == before  # no new figure beside the old HTML


# --------------------------------------------------------------------------------------------
# the report folder: swapped in whole (the lab's report function replaced by a fast fake)
# --------------------------------------------------------------------------------------------
def _fake_report(fail_after_figure: bool) -> Callable[..., dict[str, Any]]:
    def run_report(out: Path, **kwargs: Any) -> dict[str, Any]:
        out = Path(out)
        (out / "figures").mkdir(parents=True, exist_ok=True)
        (out / "figures" / "new.png").write_bytes(b"new figure")
        if fail_after_figure:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        (out / "results.json").write_text('{"new": true}\n')
        (out / "index.html").write_text("<html>new report</html>\n")
        return {"experiments": {}, "timings_s": {"total": 0.0}}

    return run_report


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_report_replaces_the_whole_previous_report(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    import losslab.lab

    monkeypatch.setattr(losslab.lab, "run_report", _fake_report(False))
    if not exchange:
        monkeypatch.setattr(_atomic, "_exchange", lambda a, b: False)
    rep = tmp_path / "rep"
    _previous_report(rep)
    res = runner.invoke(cli, ["report", "--quick", "--no-progress", "--out", str(rep)])
    assert res.exit_code == 0, res.output
    assert _tree(rep) == {
        "figures/new.png": b"new figure",
        "index.html": b"<html>new report</html>\n",
        "results.json": b'{"new": true}\n',
    }
    assert _temps(tmp_path) == []


def test_report_failure_keeps_the_previous_report(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import losslab.lab

    monkeypatch.setattr(losslab.lab, "run_report", _fake_report(True))
    rep = tmp_path / "rep"
    before = _previous_report(rep)
    line = _one_error_line(runner.invoke(cli, ["report", "--quick", "--out", str(rep)]))
    assert line == f"Error: cannot write the report to {rep}: No space left on device"
    assert _tree(rep) == before
    assert _temps(tmp_path) == []


def test_report_refuses_a_folder_that_is_not_a_report(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    line = _one_error_line(runner.invoke(cli, ["report", "--quick", "--out", str(tmp_path)]))
    assert "is a folder with other files (notes.txt)" in line
    assert (tmp_path / "notes.txt").read_text() == "mine"
    line = _one_error_line(
        runner.invoke(cli, ["report", "--quick", "--out", str(tmp_path / "notes.txt")])
    )
    assert "exists and is not a folder" in line


# --------------------------------------------------------------------------------------------
# the helpers themselves
# --------------------------------------------------------------------------------------------
def test_signals_cleanup_removes_temporaries_and_restores_handlers(tmp_path: Path) -> None:
    seen: list[int] = []

    def mine(signum: int, frame: Any) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, mine)
    target = tmp_path / "out.bin"

    def interrupted_write() -> None:
        with _atomic.signals_cleanup():
            assert signal.getsignal(signal.SIGTERM) is not mine
            with _atomic.atomic_file(target) as fh:
                fh.write(b"partial")
                assert len(_temps(tmp_path)) == 1
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1.0)  # the handler raises before this ends

    try:
        with pytest.raises(_atomic.Interrupted) as info:
            interrupted_write()
        assert info.value.signum == signal.SIGTERM
        assert _temps(tmp_path) == []
        assert not target.exists()
        assert signal.getsignal(signal.SIGTERM) is mine
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_signal_during_the_cleanup_is_raised_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []
    real_remove_all = _atomic._remove_all

    def slow_remove_all() -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the temporaries are removed
        time.sleep(0.2)
        real_remove_all()
        removed.append("done")

    monkeypatch.setattr(_atomic, "_remove_all", slow_remove_all)
    previous = signal.getsignal(signal.SIGTERM)

    def finished_write() -> None:
        with _atomic.signals_cleanup():
            _atomic.write_bytes(tmp_path / "out.bin", b"complete")
            _atomic.new_temp_dir(tmp_path / "rep")

    with pytest.raises(_atomic.Interrupted):
        finished_write()
    assert removed == ["done"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_atomic_file_keeps_the_mode_and_discards_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text(OLD)
    target.chmod(0o640)

    def failed_write() -> None:
        with _atomic.atomic_file(target) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failed_write()
    assert target.read_text() == OLD
    assert _temps(tmp_path) == []
    _atomic.write_bytes(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------------------------
# refused targets
# --------------------------------------------------------------------------------------------
def test_rows_out_refuses_inputs_devices_pipes_and_folders(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = _data(tmp_path / "d.csv")
    original = data.read_bytes()
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = {
        str(data): "is the input file",
        str(link): "is the input file",
        str(hard): "is the input file",
        "/dev/null": "is not a regular file",
        str(fifo): "is not a regular file",
        str(tmp_path): "is a directory",
        "-": "standard output is not supported",
        str(tmp_path / "missing" / "r.csv"): "does not exist",
    }
    for target, reason in cases.items():
        line = _one_error_line(runner.invoke(cli, [*EVAL, "--rows-out", target, str(data)]))
        assert line.startswith(f"Error: --rows-out {target}"), line
        assert reason in line, line
    assert data.read_bytes() == original
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "fifo", "hard.csv", "link.csv"]
    # the input given as a directory or a pattern is an input too
    line = _one_error_line(
        runner.invoke(cli, [*EVAL, "--rows-out", str(data), str(tmp_path / "*.csv")])
    )
    assert "is the input file" in line


def test_rows_out_refuses_the_commands_own_stdout(tmp_path: Path) -> None:
    data = _data(tmp_path / "d.csv")
    out = tmp_path / "stdout.txt"
    with out.open("w") as fh:  # standard output redirected to a regular file
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                CODE,
                *EVAL,
                "--rows-out",
                "/dev/stdout",
                str(data),
            ],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert res.returncode == 1
    assert res.stderr.strip() == "Error: --rows-out /dev/stdout is the command's standard output"
    # standard input redirected from the file named by --rows-out: the input would be lost
    with data.open("rb") as fh:
        res = subprocess.run(
            [sys.executable, "-c", CODE, *EVAL, "--rows-out", str(data), "-"],
            stdin=fh,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert res.returncode == 1
    assert res.stderr.strip() == f"Error: --rows-out {data} is the command's standard input"
    assert data.read_text().startswith("y,z\n")
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()


def test_rows_out_through_a_symlink_writes_the_target(runner: CliRunner, tmp_path: Path) -> None:
    data = _data(tmp_path / "d.csv")
    real = tmp_path / "real.csv"
    real.write_text(OLD)
    link = tmp_path / "rows.csv"
    link.symlink_to(real)
    res = runner.invoke(cli, [*EVAL, "--rows-out", str(link), str(data)])
    assert res.exit_code == 0, res.output
    assert link.is_symlink()
    rows = list(csv.DictReader(io.StringIO(real.read_text())))
    assert len(rows) == 200
    assert list(rows[0]) == ["file", "row", "line", "loss"]


def test_plot_refuses_folders_and_devices(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "x.png").mkdir()
    line = _one_error_line(runner.invoke(cli, ["plot", "huber", "--out", str(tmp_path / "x.png")]))
    assert "is a directory" in line
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    line = _one_error_line(runner.invoke(cli, ["plot", "huber", "--out", str(fifo)]))
    assert "is not a regular file" in line


# --------------------------------------------------------------------------------------------
# full disk and read-only folder
# --------------------------------------------------------------------------------------------
@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount a small tmpfs (root, with the right to mount); skip with the reason otherwise."""
    mounted: list[Path] = []

    def mount(name: str, size: str = "64k", readonly: bool = False) -> Path:
        if shutil.which("mount") is None:
            pytest.skip("no mount command on this machine")
        folder = tmp_path / name
        folder.mkdir()
        opts = f"size={size}" + (",ro" if readonly else "")
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here: {res.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def _fill(folder: Path) -> None:
    """Fill the file system of ``folder`` up to its last byte."""
    with (folder / "filler").open("wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 4096)
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0")


def test_full_disk(runner: CliRunner, tmp_path: Path, mount_tmpfs: Callable[..., Path]) -> None:
    disk = mount_tmpfs("disk")
    (disk / "rows.csv").write_text(OLD)
    (disk / "plot.png").write_bytes(b"old plot")
    _previous_report(disk / "rep")
    before = _tree(disk / "rep")
    _fill(disk)
    data = _data(tmp_path / "d.csv", n=5000)
    line = _one_error_line(
        runner.invoke(cli, [*EVAL, "--rows-out", str(disk / "rows.csv"), str(data)])
    )
    assert line == f"Error: cannot write {disk / 'rows.csv'}: No space left on device"
    line = _one_error_line(runner.invoke(cli, ["plot", "focal", "--out", str(disk / "plot.png")]))
    assert line == f"Error: cannot write {disk / 'plot.png'}: No space left on device"
    line = _one_error_line(runner.invoke(cli, [*REPORT, str(disk / "rep")]))
    assert line == f"Error: cannot write the report to {disk / 'rep'}: No space left on device"
    assert (disk / "rows.csv").read_text() == OLD
    assert (disk / "plot.png").read_bytes() == b"old plot"
    assert _tree(disk / "rep") == before
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "plot.png", "rep", "rows.csv"]


@pytest.fixture
def readonly_dir(tmp_path: Path, mount_tmpfs: Callable[..., Path]) -> Iterator[Path]:
    """A folder nothing can be written to: chmod 0o555, or a read-only tmpfs for root (who
    ignores permissions)."""
    if os.geteuid() == 0:
        yield mount_tmpfs("ro", readonly=True)
        return
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_read_only_folder(runner: CliRunner, tmp_path: Path, readonly_dir: Path) -> None:
    data = _data(tmp_path / "d.csv")
    why = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    line = _one_error_line(
        runner.invoke(cli, [*EVAL, "--rows-out", str(readonly_dir / "r.csv"), str(data)])
    )
    assert line == f"Error: cannot write {readonly_dir / 'r.csv'}: {why}"
    line = _one_error_line(
        runner.invoke(cli, ["plot", "huber", "--out", str(readonly_dir / "p.svg")])
    )
    assert line == f"Error: cannot write {readonly_dir / 'p.svg'}: {why}"
    line = _one_error_line(runner.invoke(cli, [*REPORT, str(readonly_dir / "rep")]))
    assert line == f"Error: cannot write the report to {readonly_dir / 'rep'}: {why}"
    assert list(readonly_dir.iterdir()) == []


# --------------------------------------------------------------------------------------------
# other failures: one line, no traceback; strict JSON
# --------------------------------------------------------------------------------------------
def test_unexpected_failure_is_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import losslab.cli as cli_module

    data = _data(tmp_path / "d.csv")

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_module, "_print_summary", boom)
    line = _one_error_line(runner.invoke(cli, [*EVAL, str(data)]))
    assert line == "Error: RuntimeError: boom (set LOSSLAB_DEBUG=1 for the traceback)"
    monkeypatch.setenv("LOSSLAB_DEBUG", "1")
    res = runner.invoke(cli, [*EVAL, str(data)])
    assert isinstance(res.exception, RuntimeError)

    def denied(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/some/file")

    monkeypatch.setattr(cli_module, "_print_summary", denied)
    line = _one_error_line(runner.invoke(cli, [*EVAL, str(data)]))
    assert line == "Error: /some/file: Permission denied"


def _strict_json(text: str) -> Any:
    def no_constant(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=no_constant)


@pytest.mark.parametrize(
    ("rows", "null", "note"),
    [
        ("y,z,w,g\n1,0.5,0,a\n0,0.1,0,a\n", "mean", "weights sum to 0"),
        ("y,z,w,g\n1,inf,1,a\n0,-inf,1,b\n", "mean", "not finite at 2 row(s)"),
        ("y,z,w,g\n1,-1e308,1e10,a\n1,-1e308,1e10,b\n", "sum", "overflows"),
    ],
    ids=["zero-weight", "infinite-prediction", "overflow"],
)
def test_json_is_strict_with_non_finite_numbers(
    runner: CliRunner, tmp_path: Path, rows: str, null: str, note: str
) -> None:
    data = tmp_path / "d.csv"
    data.write_text(rows)
    args = ["eval", "--loss", "huber", "--target", "y", "--pred", "z", "--weight", "w"]
    res = runner.invoke(cli, [*args, "--by", "g", "--json", str(data)])
    assert res.exit_code == 0, res.output
    out = _strict_json(res.stdout)
    assert out["total"][null] is None
    assert out["total"]["loss"] is None
    assert note in out["total"]["note"]
    for record in out["groups"]:
        assert all(v is None or not isinstance(v, float) or np.isfinite(v) for v in record.values())


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("rot13", "--encoding: 'rot13' is a codec, not a text encoding"),
        ("base64", "--encoding: 'base64' is a codec, not a text encoding"),
        ("punycode", "--encoding: 'punycode' cannot decode a stream of bytes"),
        ("utf-16", "d.csv: line 1: cannot read the text as utf-16 (UTF-16 stream does not start"),
        ("utf-32", "d.csv: line 1: cannot read the text as utf-32 (UTF-32 stream does not start"),
    ],
)
def test_encodings_that_cannot_read_the_file(
    runner: CliRunner, tmp_path: Path, encoding: str, reason: str
) -> None:
    data = _data(tmp_path / "d.csv")
    line = _one_error_line(runner.invoke(cli, [*EVAL, "--encoding", encoding, str(data)]))
    expected = f"Error: {tmp_path / reason}" if "line 1" in reason else f"Error: {reason}"
    assert line.startswith(expected), line
    assert "LOSSLAB_DEBUG" not in line


def test_standard_output_full_or_closed(tmp_path: Path) -> None:
    code = CODE
    with open("/dev/full", "w") as full:
        res = subprocess.run(
            [sys.executable, "-c", code, "list"], stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert res.returncode == 1
    assert res.stderr.strip() == "Error: writing the output: No space left on device"
    # a reader that stops early (losslab list | head -1): quiet, with SIGPIPE's status
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGPIPE
    assert err == b""


def test_list_and_bench_json_are_strict(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import losslab.cli as cli_module

    real = cli_module._describe

    def with_infinite_default(name: str, cls: Any) -> dict[str, Any]:
        info = real(name, cls)
        info["params"] = {**info["params"], "delta": float("inf"), "eps": float("nan")}
        return info

    monkeypatch.setattr(cli_module, "_describe", with_infinite_default)
    res = runner.invoke(cli, ["list", "--json"])
    assert res.exit_code == 0, res.output
    rows = _strict_json(res.stdout)
    assert all(r["params"]["delta"] is None and r["params"]["eps"] is None for r in rows)
    bench = ["bench", "--sizes", "100", "--repeats", "1", "--loss", "huber", "--json"]
    res = runner.invoke(cli, bench)
    assert res.exit_code == 0, res.output
    assert _strict_json(res.stdout)["results"][0]["loss"] == "huber"
