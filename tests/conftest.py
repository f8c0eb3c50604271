"""Test configuration: the ``xp`` backend fixture (SciPy style).

``LOSSLAB_TEST_BACKENDS`` chooses the array libraries the backend tests run on: a comma
separated subset of ``numpy, array_api_strict, torch, jax, dask`` or ``all``. Unset, every
installed backend runs and a missing one is skipped, unless the environment variable ``CI``
is set: then a missing backend is a failure, so that CI never skips silently. A backend
named explicitly in ``LOSSLAB_TEST_BACKENDS`` is always required.

JAX runs with 64-bit floats enabled (``jax_enable_x64``), set here before any JAX array
exists.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import pytest

ALL_BACKENDS = ("numpy", "array_api_strict", "torch", "jax", "dask")
_MODULES = {
    "numpy": "numpy",
    "array_api_strict": "array_api_strict",
    "torch": "torch",
    "jax": "jax.numpy",
    "dask": "dask.array",
}


def _selection() -> tuple[tuple[str, ...], bool]:
    """(backends to run, whether a missing one is a failure)."""
    raw = os.environ.get("LOSSLAB_TEST_BACKENDS", "").strip()
    in_ci = bool(os.environ.get("CI", "").strip())
    if not raw:
        return ALL_BACKENDS, in_ci
    if raw.lower() == "all":
        return ALL_BACKENDS, True
    names = tuple(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
    unknown = [s for s in names if s not in ALL_BACKENDS]
    if unknown:
        raise pytest.UsageError(
            f"LOSSLAB_TEST_BACKENDS names unknown backend(s) {unknown}; "
            f"choose from {', '.join(ALL_BACKENDS)} or 'all'"
        )
    return names, True


SELECTED_BACKENDS, BACKENDS_REQUIRED = _selection()

if "jax" in SELECTED_BACKENDS:
    try:
        import jax as _jax
    except ImportError:
        pass
    else:
        _jax.config.update("jax_enable_x64", True)


def _load(name: str) -> ModuleType:
    try:
        return importlib.import_module(_MODULES[name])
    except ImportError as exc:
        why = (
            "LOSSLAB_TEST_BACKENDS requires it"
            if os.environ.get("LOSSLAB_TEST_BACKENDS", "").strip()
            else "CI is set"
        )
        if BACKENDS_REQUIRED:
            pytest.fail(f"backend {name!r} is not importable but {why}: {exc}", pytrace=False)
        pytest.skip(f"backend {name!r} is not installed")


@pytest.fixture(params=SELECTED_BACKENDS)
def xp(request: pytest.FixtureRequest) -> ModuleType:
    """The array namespace of one backend: numpy, array_api_strict, torch, jax.numpy or
    dask.array (the library's own module; compare namespaces through array_api_compat)."""
    return _load(request.param)


def pytest_report_header(config: pytest.Config) -> str:
    req = "required" if BACKENDS_REQUIRED else "skipped when missing"
    return f"losslab backends: {', '.join(SELECTED_BACKENDS)} ({req})"


def _backend_fixture(name: str) -> ModuleType:
    if name not in SELECTED_BACKENDS:
        pytest.skip(f"backend {name!r} not selected by LOSSLAB_TEST_BACKENDS")
    _load(name)
    return importlib.import_module(name)


@pytest.fixture
def torch() -> ModuleType:
    """The torch module, for autograd tests (same skip/fail rules as ``xp``)."""
    return _backend_fixture("torch")


@pytest.fixture
def jax() -> ModuleType:
    """The jax module with x64 enabled, for jit/grad tests (same rules as ``xp``)."""
    return _backend_fixture("jax")


@pytest.fixture
def array_api_strict() -> ModuleType:
    """The array_api_strict module, for device tests (same rules as ``xp``)."""
    return _backend_fixture("array_api_strict")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the fused-kernel variant of a test only for losses that declare a kernel.

    Tests parametrised by ``compute_path`` ("generic" or "kernels") and by a ``loss`` would
    otherwise run the "kernels" variant twice on the generic path for the losses that have no
    kernel (the softmax losses); those items are deselected (pytest reports the count).
    """
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        loss = params.get("loss")
        if params.get("compute_path") == "kernels" and getattr(loss, "kernel", "") is None:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# Optional dependencies, one way: a test module that needs one calls
# ``pytest.importorskip(name)`` at module level (before importing from it). A partial local
# install then skips that module instead of failing to collect it. In CI (``CI`` set), where the
# ``test`` extra installs every optional dependency, importorskip imports or raises: a missing
# dependency is a collection error (a failed run), never a silent skip.
if os.environ.get("CI", "").strip():

    def _import_or_fail(modname: str, minversion: str | None = None, **_: Any) -> ModuleType:
        return importlib.import_module(modname)

    pytest.importorskip = _import_or_fail  # type: ignore[assignment]
