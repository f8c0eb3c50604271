"""The one-thread twins of the fused kernels (``losslab._kernels._serial``).

A call that runs on one thread takes the twin: the kernel's code compiled without
``parallel``. Checked here:

* bit-identical outputs and the same count of elements left for the soft-label pass, twin
  against the parallel kernel run on two threads, for every kernel variant the dispatcher can
  pick (every registered element-wise loss with its examples and branch hyperparameters of
  ``tests/test_kernels.py``, float32 and float64, the gradient/Hessian-only variants and the
  soft-label fixups), with every combination of wanted outputs (the unwanted ones go to the
  scratch rows) and with sample weights;
* the dispatcher picks the twin exactly when a call runs on one thread, and then leaves
  numba's thread count alone; the lean entry ``try_fused_flat`` returns what ``try_fused``
  returns, for 1-D and 2-D inputs.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

import numba

import losslab
from losslab import _kernels, config_context
from test_kernels import CONFIGS, _ids, _inputs

N = 3 * 8192 + 17  # several blocks of CHUNK elements and a partial one
ALL = (True, True, True)
NEED_SETS = [need for need in itertools.product((True, False), repeat=3) if any(need)]


def _run(
    kernels: tuple[Any, Any], plan: Any, y: Any, z: Any, w: Any, need: Any
) -> tuple[int, list[Any]]:
    """The kernel, then its soft-label fixup where it counted elements, as the dispatcher
    runs them; returns the count and the outputs (None where not wanted)."""
    function, fixup = kernels
    outs = [np.full(z.shape, -7.0, z.dtype) if k else None for k in need]
    count = plan.call(function, y, z, w, outs)
    if fixup is not None and count:
        plan.call(fixup, y, z, w, outs)
    return count, outs


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a.view(np.uint8), b.view(np.uint8)))


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=_ids(CONFIGS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_twin_is_bit_identical_to_the_parallel_kernel(
    name: str, params: dict[str, Any], dtype: Any
) -> None:
    loss = losslab.get_loss(name, **params)
    y, z = _inputs(name, N, dtype)
    w = np.random.default_rng(1).random(N).astype(dtype)
    args = loss._kernel_args()
    with config_context(use_kernels=True, kernel_min_size=0):
        for need, weights in itertools.product(NEED_SETS, (None, w)):
            plan = _kernels._plan(loss.kernel, args, need, np.dtype(dtype), N)
            assert plan is not None
            twins = plan.serial()
            assert (plan.fixup is None) == (twins[1] is None)
            before = numba.get_num_threads()
            numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
            try:
                count_p, outs_p = _run((plan.function, plan.fixup), plan, y, z, weights, need)
            finally:
                numba.set_num_threads(before)
            count_s, outs_s = _run(twins, plan, y, z, weights, need)
            assert count_p == count_s, f"{plan.name} {need}: counts {count_p} and {count_s}"
            for k, (a, b) in enumerate(zip(outs_p, outs_s, strict=True)):
                if need[k]:
                    assert _same(a, b), f"{plan.name} need={need} output {k} differs"


def test_soft_labels_reach_the_fixup_twins() -> None:
    """The soft-label pass runs in the twin too (the counts above are non-zero there)."""
    loss = losslab.get_loss("focal")
    y, z = _inputs("focal", N, np.float64)
    assert np.any((y > 0) & (y < 1))
    with config_context(use_kernels=True, kernel_min_size=0):
        plan = _kernels._plan(loss.kernel, loss._kernel_args(), (True, True, True), y.dtype, N)
        assert plan is not None
        twins = plan.serial()
        count, _ = _run(twins, plan, y, z, None, (True, True, True))
    assert count > 0
    assert twins[1] is not None


def test_one_thread_calls_take_the_twin_and_keep_numbas_thread_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loss = losslab.get_loss("focal")
    y, z = _inputs("focal", 1000, np.float32)
    calls: list[str] = []
    with config_context(use_kernels=True, kernel_min_size=0):
        plan = _kernels._plan(loss.kernel, loss._kernel_args(), (True, True, False), z.dtype, 1000)
        assert plan is not None
        twin, fixup = plan.serial()
        monkeypatch.setattr(plan, "twins", (_spy(twin, "twin", calls), fixup))
        monkeypatch.setattr(plan, "function", _spy(plan.function, "parallel", calls))
        setter = _kernels._thread_control()[1]
        monkeypatch.setitem(
            _kernels._state,
            "threads",
            (
                _kernels._thread_control()[0],
                _spy(setter, "set_threads", calls),
                _kernels._thread_control()[2],
            ),
        )
        flat = _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, (True, True, False))
        assert calls == ["twin"]
        full = _kernels.try_fused(loss.kernel, loss._kernel_args(), y, z, None, (True, True, False))
        assert calls == ["twin", "twin"]
    assert flat is not None
    assert full is not None
    assert _same(flat[0], full[0])
    assert _same(flat[1], full[1])
    assert flat[2] is None
    assert full[2] is None


def _spy(function: Any, label: str, calls: list[str]) -> Any:
    def spy(*args: Any) -> Any:
        calls.append(label)
        return function(*args)

    return spy


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_large_calls_run_the_parallel_kernel_on_several_threads() -> None:
    loss = losslab.get_loss("focal")
    n = 2 * _kernels.MIN_PER_THREAD
    y, z = _inputs("focal", n, np.float64)
    with config_context(use_kernels=True, kernel_min_size=0, kernel_threads=2):
        assert _kernels._threads(n) == 2
        assert _kernels._threads(n - 1) == 1
        out = _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, (True, True, True))
    with config_context(use_kernels=True, kernel_min_size=0, kernel_threads=1):
        one = _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, (True, True, True))
    assert out is not None
    assert one is not None
    for a, b in zip(out, one, strict=True):
        assert _same(a, b)


@pytest.mark.parametrize("shape", [(N,), (97, 45)])
def test_flat_entry_matches_try_fused(shape: tuple[int, ...]) -> None:
    n = int(np.prod(shape))
    for name in ("focal", "log_loss", "huber"):
        loss = losslab.get_loss(name)
        y, z = (a.reshape(shape) for a in _inputs(name, n, np.float64))
        with config_context(use_kernels=True, kernel_min_size=0):
            for need in NEED_SETS:
                flat = _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, need)
                full = _kernels.try_fused(loss.kernel, loss._kernel_args(), y, z, None, need)
                assert flat is not None
                assert full is not None
                for k in range(3):
                    if need[k]:
                        assert flat[k].shape == shape
                        assert _same(flat[k], full[k])
                    else:
                        assert flat[k] is None
                        assert full[k] is None
        with config_context(use_kernels=False):
            assert _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, ALL) is None
        with config_context(use_kernels=True, kernel_min_size=n + 1):
            assert _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, ALL) is None


def test_a_failing_call_falls_back_for_that_call_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that raises (not a compilation error) warns, the call takes the generic path
    with the right results, and the next call runs the kernel again: nothing is disabled."""
    loss = losslab.get_loss("log_loss")
    y, z = _inputs("log_loss", 1000, np.float64)
    with config_context(use_kernels=False):
        expected = loss.loss_gradient_hessian(y, z)
    with config_context(use_kernels=True, kernel_min_size=0):
        plan = _kernels._plan(loss.kernel, loss._kernel_args(), ALL, z.dtype, z.size)
        assert plan is not None
        twins = plan.serial()
        calls: list[int] = []

        def fail_once(*args: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("simulated failure")
            return twins[0](*args)

        monkeypatch.setattr(plan, "twins", (fail_once, twins[1]))
        with pytest.warns(RuntimeWarning, match="failed .*simulated failure.* for this call"):
            first = loss.loss_gradient_hessian(y, z)
        assert plan.name not in _kernels._state["broken"]
        second = loss.loss_gradient_hessian(y, z)
        assert len(calls) == 2  # the second call ran the kernel
        assert _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, ALL) is not None
        assert len(calls) == 3
    for got in (first, second):
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", sorted(_kernels._NO_TWIN))
def test_kernels_without_a_twin_run_parallel_on_one_numba_thread(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernels of ``_NO_TWIN`` (their twins measured slower) run as themselves with
    numba's thread count set to 1 for the call, and restored after it."""
    loss = losslab.get_loss(name)
    y, z = _inputs(name, 1000, np.float64)
    seen: list[int] = []
    before = numba.get_num_threads()
    with config_context(use_kernels=True, kernel_min_size=0):
        plan = _kernels._plan(loss.kernel, loss._kernel_args(), ALL, z.dtype, z.size)
        assert plan is not None
        assert plan.name in _kernels._NO_TWIN
        function = plan.function

        def spy(*args: Any) -> Any:
            seen.append(numba.get_num_threads())
            return function(*args)

        monkeypatch.setattr(plan, "function", spy)
        monkeypatch.setattr(plan, "twins", (None, None))  # a twin call would fail
        flat = _kernels.try_fused_flat(loss.kernel, loss._kernel_args(), y, z, ALL)
        full = _kernels.try_fused(loss.kernel, loss._kernel_args(), y, z, None, ALL)
    assert seen == [1, 1]
    assert numba.get_num_threads() == before
    assert flat is not None
    assert full is not None
    for a, b in zip(flat, full, strict=True):
        assert _same(a, b)
