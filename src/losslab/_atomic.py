"""Atomic outputs for the ``losslab`` command: every file or folder is written under a
temporary sibling name and renamed into place when complete; temporaries are removed on any
exception and on SIGINT / SIGTERM (see :func:`signals_cleanup`), and targets that are inputs,
devices, pipes or the command's own standard streams are refused (:func:`check_file_target`).

A SIGKILL cannot be caught: it may leave a hidden ``.NAME.*.tmp`` sibling, never a
half-written final file (the rename is the only step that touches the final name).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

__all__ = [
    "REPORT_ENTRIES",
    "Interrupted",
    "OutputError",
    "atomic_file",
    "check_file_target",
    "check_report_target",
    "discard",
    "new_temp_dir",
    "signals_cleanup",
    "swap_dir_into_place",
    "write_bytes",
]

#: What a report folder holds; an existing ``--out`` folder with anything else is refused,
#: since the report replaces the whole folder.
REPORT_ENTRIES = frozenset({"index.html", "results.json", "figures"})

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Temporaries (files and folders) alive now, removed by :func:`signals_cleanup` on the way out.
_TEMPS: set[Path] = set()


class OutputError(ValueError):
    """An output target that losslab refuses to write (one line naming the option and why)."""


class Interrupted(BaseException):
    """Raised in the main thread by the SIGINT / SIGTERM handler of :func:`signals_cleanup`;
    a ``BaseException`` so that ``except Exception`` blocks let it through to the cleanup."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


# --------------------------------------------------------------------------------------------
# signals
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back (delivered at the end) around a step that must not be cut
    in half: creating a temporary and recording it, or the renames of a swap."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def signals_cleanup() -> Iterator[None]:
    """Run the body with SIGINT and SIGTERM turned into :class:`Interrupted`, remove every
    temporary still recorded on the way out (normal exit, exception or signal), then restore
    the previous handlers.

    Only the first signal raises; later ones are ignored. A signal that arrives while the
    temporaries are being removed does not cut the removal short: it is raised as
    :class:`Interrupted` after the handlers are restored (unless an exception is already on its
    way out). Outside the main thread (where Python cannot install handlers) only the cleanup
    is done.
    """
    installed: dict[int, Any] = {}
    state: dict[str, Any] = {"fired": False, "closing": False, "pending": None}

    def handler(signum: int, frame: FrameType | None) -> None:
        if state["fired"]:
            return
        state["fired"] = True
        if state["closing"]:
            state["pending"] = signum
            return
        raise Interrupted(signum)

    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            installed[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        state["closing"] = True
        try:
            _remove_all()
        finally:
            for signum, previous in installed.items():
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        if state["pending"] is not None and not failed:
            raise Interrupted(state["pending"])


def _remove_all() -> None:
    """Remove every recorded temporary, best effort (a failure does not stop the others)."""
    for tmp in sorted(_TEMPS):
        with contextlib.suppress(OSError):
            discard(tmp)
        _TEMPS.discard(tmp)


def discard(tmp: Path) -> None:
    """Remove a temporary file or folder (if still there) and forget it."""
    with contextlib.suppress(FileNotFoundError):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
    _TEMPS.discard(tmp)


# --------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------
def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _std_streams() -> list[tuple[str, os.stat_result]]:
    out = []
    for fd, name in ((0, "standard input"), (1, "standard output"), (2, "standard error")):
        with contextlib.suppress(OSError):
            out.append((name, os.fstat(fd)))
    return out


def check_file_target(path: Path, *, option: str, inputs: Sequence[Path] = ()) -> Path:
    """The real path to write ``option``'s file ``path`` to (symbolic links followed, so a link
    keeps pointing to the new file).

    Raises :class:`OutputError` when ``path`` is ``-``, a directory, not a regular file (a
    device such as ``/dev/stdout``, a FIFO, a socket), the same file as one of ``inputs`` or as
    the command's standard input, output or error, or when its folder does not exist.
    """
    if str(path) == "-":
        raise OutputError(f"{option} -: standard output is not supported here; give a file name")
    try:
        st: os.stat_result | None = os.stat(path)  # follows links: /dev/stdout -> the pipe
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"{option} {path}: {exc.strerror or exc}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{option} {path} is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(
                f"{option} {path} is not a regular file (a device, pipe or socket); losslab "
                "writes only regular files"
            )
        for inp in inputs:
            with contextlib.suppress(OSError):
                if _same(st, os.stat(inp)):
                    raise OutputError(f"{option} {path} is the input file {inp}; it would be lost")
        for name, std in _std_streams():
            if stat.S_ISREG(std.st_mode) and _same(st, std):
                raise OutputError(f"{option} {path} is the command's {name}")
    real = Path(os.path.realpath(path))
    if not real.parent.is_dir():
        raise OutputError(f"{option} {path}: the folder {real.parent} does not exist")
    return real


def check_report_target(path: Path, *, option: str = "--out") -> Path:
    """The real path of a report folder to (re)place: a new name, an empty folder or a
    previous report (only ``index.html``, ``results.json``, ``figures/`` and hidden entries).

    Raises :class:`OutputError` for a file or a folder holding anything else (the report
    replaces the whole folder, so those would be lost).
    """
    real = Path(os.path.realpath(path))
    if not real.exists():
        return real
    if not real.is_dir():
        raise OutputError(f"{option} {path} exists and is not a folder")
    try:
        foreign = sorted(
            e for e in os.listdir(real) if e not in REPORT_ENTRIES and not e.startswith(".")
        )
    except OSError as exc:
        raise OutputError(f"{option} {path}: {exc.strerror or exc}") from None
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(
            f"{option} {path} is a folder with other files ({shown}); the report replaces the "
            "whole folder, so give a new or empty folder or a previous report"
        )
    if real.parent == real:
        raise OutputError(f"{option} {path} is the root folder")
    return real


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path, default: int) -> int:
    """The permission bits of the file being replaced, or ``default`` less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return default & ~_umask()


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary file handle on a temporary sibling of ``path``, flushed to disk and renamed
    onto ``path`` when the body ends normally, removed when it raises (or is interrupted).

    Raises ``OSError`` from the file system (ENOSPC, EACCES, EROFS, ...).
    """
    path = Path(path)
    with _blocked():
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        _TEMPS.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path, 0o666))
        with _blocked():
            os.replace(tmp, path)
            _TEMPS.discard(tmp)
    except BaseException:
        discard(tmp)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as fh:
        fh.write(data)


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------
def new_temp_dir(path: Path) -> Path:
    """A new empty hidden folder beside ``path`` (``.NAME.*.tmp``), recorded for cleanup; the
    parent folders of ``path`` are created if needed. Raises ``OSError``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _blocked():
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        _TEMPS.add(tmp)
    os.chmod(tmp, _mode_for(path, 0o777))
    return tmp


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system or file system does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_dir_into_place(tmp: Path, path: Path) -> None:
    """Put the complete folder ``tmp`` at ``path``; a folder already there is swapped out in
    one atomic step where the system allows it (Linux), else by two renames with SIGINT and
    SIGTERM held back, and then deleted. Raises ``OSError``."""
    with _blocked():
        if not path.exists():
            os.rename(tmp, path)
            _TEMPS.discard(tmp)
            return
        if _exchange(tmp, path):
            old = tmp  # now holds the previous folder
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            _TEMPS.add(old)
            os.rename(path, old)  # replaces the empty placeholder folder
            os.rename(tmp, path)
            _TEMPS.discard(tmp)
    discard(old)
