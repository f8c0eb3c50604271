"""Open the quick report in headless Chromium (DevTools protocol over a pipe): every figure must
load and the page must log no console error, exception or failed request.

Chromium is looked up as ``chromium`` (Debian's package), ``chromium-browser``,
``google-chrome``; without it the test is skipped locally and FAILS in CI (env var CI set).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

import contextlib

from losslab.lab import run_report


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


CHROMIUM = _find_chromium()


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium not installed")
    return CHROMIUM


_TRAMPOLINE = """
import fcntl, os, sys
# copy both pipe ends above 10 first so that moving them onto 3 and 4 cannot clobber either
high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for fd in sys.argv[1:3]:
    os.close(int(fd))
os.dup2(high[0], 3)  # dup2 makes 3 and 4 inheritable across exec
os.dup2(high[1], 4)
for fd in high:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


class _Pipe:
    """A DevTools-protocol client over --remote-debugging-pipe (fd 3: commands to the browser,
    fd 4: replies and events; messages are JSON terminated by a NUL byte)."""

    def __init__(self, chromium: str, user_data_dir: Path) -> None:
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={user_data_dir}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # The browser reads commands on fd 3 and writes on fd 4: a small Python trampoline
        # moves the pipe ends there and execs it (no preexec_fn, which is unsafe in a
        # multi-threaded process, and no shell, whose redirections may not take fds > 9).
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_r), str(from_w), chromium, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_r, from_w),
        )
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from chromium")
            ready, _, _ = select.select([self._from_r], [], [], left)
            if ready:
                chunk = os.read(self._from_r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        out: dict[str, Any] = json.loads(msg)
        return out

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.monotonic() + timeout
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-report")
    run_report(out, mode="quick", seed=1, progress=False)
    return out


def _open(chromium: str, index: Path, profile: Path) -> dict[str, Any]:
    """Load ``index`` in headless Chromium; return the images ([src, complete, naturalWidth]),
    the page's own load-status line, the problems seen (console errors, exceptions, error log
    entries, failed or non-local requests) and the size of a screenshot."""
    pipe = _Pipe(chromium, profile)
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})
        session = pipe.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Page.navigate", {"url": index.as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired")

        def evaluate(expression: str) -> Any:
            return pipe.send(
                "Runtime.evaluate",
                {"expression": expression, "returnByValue": True},
                session=session,
            )["result"]["value"]

        images = json.loads(
            evaluate(
                "JSON.stringify(Array.from(document.images).map("
                "i => [i.getAttribute('src'), i.complete, i.naturalWidth]))"
            )
        )
        status = evaluate("document.getElementById('load-status').textContent")
        shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
    finally:
        pipe.close()
    problems = []
    for ev in pipe.events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            problems.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            problems.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            problems.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.loadingFailed":
            problems.append(f"failed request: {params.get('errorText')}")
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:")):
                problems.append(f"network request: {url}")
    return {
        "images": images,
        "status": status,
        "problems": problems,
        "screenshot_chars": len(shot["data"]),
    }


def test_report_opens_with_every_figure_and_no_console_error(
    chromium: str, report_dir: Path, tmp_path: Path
) -> None:
    page = _open(chromium, report_dir / "index.html", tmp_path / "profile")
    expected = [
        f["file"]
        for e in json.loads((report_dir / "results.json").read_text())["experiments"].values()
        for f in e["figures"]
    ]
    assert sorted(src for src, _, _ in page["images"]) == sorted(expected)
    # the detector experiment's figures are on the page (and below, loaded)
    for name in ("detections", "loss_cdf", "prior_init", "data"):
        assert f"figures/detector_{name}.png" in expected
    not_loaded = [src for src, complete, width in page["images"] if not (complete and width > 0)]
    assert not not_loaded, f"figures that did not load: {not_loaded}"
    assert page["status"] == f"{len(expected)} of {len(expected)} figures loaded"
    assert not page["problems"], page["problems"]
    assert page["screenshot_chars"] > 1000


def test_checker_sees_a_missing_figure_and_a_console_error(
    chromium: str, report_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(report_dir, broken)
    victim = sorted((broken / "figures").iterdir())[0]
    victim.unlink()
    index = broken / "index.html"
    index.write_text(
        index.read_text(encoding="utf-8").replace(
            "</body>", "<script>console.error('boom')</script></body>"
        ),
        encoding="utf-8",
    )
    page = _open(chromium, index, tmp_path / "profile")
    missing = [src for src, complete, width in page["images"] if not (complete and width > 0)]
    assert missing == [f"figures/{victim.name}"]
    assert page["status"].startswith(f"{len(page['images']) - 1} of {len(page['images'])}")
    assert any("boom" in p for p in page["problems"])
    assert any(p.startswith(("failed request", "log:")) for p in page["problems"])
