"""The serial boosting kernels (``losslab._kernels._boost``) and the adapter's use of them.

* ``focal_gauss_newton`` against the generic NumPy path (``use_kernels=False``): in float64
  the gradient within 1e-12 relative of the loss's gradient and the Hessian within 1e-12 of
  ``|h| + |g tanh(z / 2)|`` (the terms that cancel in ``max(h + g (2p - 1), 0)``) of the
  array policy on the generic outputs; ``focal_gauss_newton_f32`` (float32 arithmetic) within
  ``6 gamma + 8`` float32 ulps (gradient) and ``6 gamma + 12`` ulps of that scale (Hessian) of
  the same float64 reference on the float32 inputs, the bound of the loss's own float32 focal
  kernel plus the policy's two roundings. Every integer gamma 0..4, alpha given or None,
  weights, margins out to +-700 and NaN.
* ``log_loss_exact`` against the generic path: 1e-12 relative in float64 (pos_weight 1 and
  not, weights, soft labels), 1 float32 ulp of the float64 reference in float32.
* Soft and NaN labels are counted; the adapter then takes the general path.
* :class:`losslab._boosting.LossAdapter` with ``kernel_threads=1``: uses the kernel (proved by
  a spy), agrees with the parallel adapter, respects ``use_kernels=False`` and a configured
  ``kernel_threads``; the XGBoost objectives, metrics and estimators ask for one thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losslab
from losslab import config_context, get_config
from losslab._boosting import LossAdapter

pytest.importorskip("numba")
xgboost = pytest.importorskip("xgboost")

import losslab.xgboost as lxgb  # noqa: E402
from losslab._kernels import _boost  # noqa: E402

GAMMAS = sorted(_boost.INT_GAMMAS)
ALPHAS = [0.25, None]


def _data(dtype: Any, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hard labels, margins from N(-1, 4^2) plus extremes, positive weights."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 4.0, n)
    z[:12] = [0.0, -0.0, 1e-9, -1e-9, 30.0, -30.0, 80.0, -80.0, 700.0, -700.0, 17.5, -17.5]
    y = (rng.random(n) < 0.3).astype(np.float64)
    y[:12] = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0]
    w = rng.uniform(0.1, 3.0, n)
    return y.astype(dtype), z.astype(dtype), w.astype(dtype)


def _reference(
    loss: Any, y: np.ndarray, z: np.ndarray, w: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The generic float64 path: gradient, Gauss-Newton Hessian, weights; and the scale
    ``|h| + |g tanh(z/2)|`` (times |w|) of the Hessian's cancellation."""
    y64, z64 = y.astype(np.float64), z.astype(np.float64)
    with config_context(use_kernels=False):
        g, h = loss.gradient_hessian(y64, z64)
    t = np.tanh(0.5 * z64)
    hgn = np.maximum(h + g * t, 0.0)
    scale = np.abs(h) + np.abs(g * t)
    if w is not None:
        w64 = w.astype(np.float64)
        g, hgn, scale = g * w64, hgn * w64, scale * w64
    return g, hgn, scale


def _run(
    loss: Any, y: np.ndarray, z: np.ndarray, w: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """The focal kernel the adapter would pick for z's dtype."""
    g = np.empty_like(z)
    h = np.empty_like(z)
    gamma, alpha = loss._kernel_args()
    kernel = _boost.focal_gauss_newton_f32 if z.dtype == np.float32 else _boost.focal_gauss_newton
    soft = kernel(y, z, z if w is None else w, g, h, gamma, alpha, w is not None)
    return g, h, int(soft)


def _f32_bounds(gamma: float) -> tuple[float, float]:
    """(gradient, Hessian) error bounds of the float32-arithmetic kernel, in float32 ulps."""
    return 6 * gamma + 8, 6 * gamma + 12


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("alpha", ALPHAS, ids=lambda a: f"alpha={a}")
@pytest.mark.parametrize("gamma", GAMMAS, ids=lambda g: f"gamma={g:g}")
def test_float64_matches_generic_path(gamma: float, alpha: float | None, weighted: bool) -> None:
    loss = losslab.get_loss("focal", gamma=gamma, alpha=alpha)
    y, z, w = _data(np.float64)
    wt = w if weighted else None
    g, h, soft = _run(loss, y, z, wt)
    g_ref, h_ref, scale = _reference(loss, y, z, wt)
    assert soft == 0
    assert g.dtype == h.dtype == np.float64
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-300)
    assert np.all(np.abs(h - h_ref) <= 1e-12 * scale + 1e-300)
    assert np.all(h >= 0.0)


@pytest.mark.parametrize("alpha", ALPHAS, ids=lambda a: f"alpha={a}")
@pytest.mark.parametrize("gamma", GAMMAS, ids=lambda g: f"gamma={g:g}")
def test_float32_within_bound_of_float64_reference(gamma: float, alpha: float | None) -> None:
    loss = losslab.get_loss("focal", gamma=gamma, alpha=alpha)
    y, z, w = _data(np.float32, seed=1)
    g, h, soft = _run(loss, y, z, w)
    g_ref, h_ref, scale = _reference(loss, y, z, w)
    ulp = np.finfo(np.float32).eps
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    bound_g, bound_h = _f32_bounds(gamma)
    assert soft == 0
    assert g.dtype == h.dtype == np.float32
    assert np.all(np.abs(g - g_ref) <= bound_g * ulp * np.abs(g_ref) + tiny)
    assert np.all(np.abs(h - h_ref) <= bound_h * ulp * scale + tiny)
    assert np.all(h >= 0.0)


def test_float32_kernel_counts_soft_labels() -> None:
    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float32, n=100)
    y[5], y[9] = 0.3, np.nan
    _, _, soft = _run(loss, y, z, None)
    assert soft == 2


def test_float64_gradient_is_the_focal_kernels_bit_for_bit() -> None:
    """Same primitives, same operations: in float64 the gradient equals the fused kernel's."""
    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float64, n=30_000, seed=2)
    g, _, _ = _run(loss, y, z, None)
    with config_context(kernel_min_size=0):
        g_kernel, _ = loss.gradient_hessian(y, z)
    np.testing.assert_array_equal(g, g_kernel)


def test_soft_and_nan_labels_are_counted() -> None:
    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float64, n=100)
    y[5], y[7], y[9] = 0.3, 0.999, np.nan
    _, _, soft = _run(loss, y, z, None)
    assert soft == 3


def test_nan_margin_stays_nan() -> None:
    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float64, n=100)
    z[3] = np.nan
    g, h, _ = _run(loss, y, z, None)
    assert np.isnan(g[3])
    assert np.isnan(h[3])
    assert np.all(np.isfinite(np.delete(g, 3)))
    assert np.all(np.isfinite(np.delete(h, 3)))


# ------------------------------------------------------------------ the adapter


class _Spy:
    """Stands in for the ``_boost`` module and counts its kernels' calls."""

    def __init__(self) -> None:
        self.calls = 0

    def focal_gauss_newton(self, *args: Any) -> int:
        self.calls += 1
        return int(_boost.focal_gauss_newton(*args))

    def focal_gauss_newton_f32(self, *args: Any) -> int:
        self.calls += 1
        return int(_boost.focal_gauss_newton_f32(*args))

    def log_loss_exact(self, *args: Any) -> int:
        self.calls += 1
        return int(_boost.log_loss_exact(*args))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> _Spy:
    import losslab._boosting as boosting

    s = _Spy()
    monkeypatch.setattr(boosting, "_boost_module", lambda: s)
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_serial_adapter_uses_the_kernel_and_agrees(spy: _Spy, dtype: Any, weighted: bool) -> None:
    """The serial adapter's output is the kernel's (within the float32 kernel's bound, or 1e-12
    in float64, of the float64 reference); the parallel adapter's agrees with the same
    reference to its own kernels' bound."""
    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, w = _data(dtype, n=20_000, seed=3)
    wt = w if weighted else None
    g1, h1 = LossAdapter(loss, kernel_threads=1).gradient_hessian(y, z, wt)
    g2, h2 = LossAdapter(loss).gradient_hessian(y, z, wt)
    assert spy.calls == 1
    assert g1.dtype == h1.dtype == dtype
    assert g1.shape == h1.shape == z.shape
    g_ref, h_ref, scale = _reference(loss, y, z, wt)
    eps = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    bound_g, bound_h = _f32_bounds(2.0)
    tol_g, tol_h = (bound_g * eps, bound_h * eps) if dtype == np.float32 else (1e-12, 1e-12)
    assert np.all(np.abs(g1 - g_ref) <= tol_g * np.abs(g_ref) + tiny)
    assert np.all(np.abs(h1 - h_ref) <= tol_h * scale + tiny)
    g_kernel, h_kernel, _ = _run(loss, y, z, wt)
    np.testing.assert_array_equal(g1, g_kernel)
    np.testing.assert_array_equal(h1, h_kernel)
    bound = 6 * 2.0 + 8 + 4  # the fused focal kernels' bound at gamma 2, plus the policy's
    assert np.all(np.abs(g2 - g_ref) <= bound * eps * np.abs(g_ref) + tiny)
    assert np.all(np.abs(h2 - h_ref) <= bound * eps * scale + tiny)


def test_serial_adapter_takes_the_general_path_for_soft_labels(spy: _Spy) -> None:
    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float64, n=20_000, seed=4)
    y[10] = 0.4
    serial = LossAdapter(loss, kernel_threads=1)
    g1, h1 = serial.gradient_hessian(y, z)
    g2, h2 = LossAdapter(loss).gradient_hessian(y, z)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(h1, h2)
    assert spy.calls == 1
    assert serial._fused is None
    serial.gradient_hessian(y, z)
    assert spy.calls == 1


@pytest.mark.parametrize(
    "setting",
    [{"use_kernels": False}, {"kernel_threads": 2}, {"kernel_min_size": 10**6}],
    ids=["kernels-off", "threads-configured", "below-min-size"],
)
def test_serial_adapter_respects_the_configuration(spy: _Spy, setting: dict[str, Any]) -> None:
    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float64, n=20_000, seed=5)
    with config_context(**setting):
        g1, h1 = LossAdapter(loss, kernel_threads=1).gradient_hessian(y, z)
        g2, h2 = LossAdapter(loss).gradient_hessian(y, z)
    assert spy.calls == 0
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(h1, h2)


@pytest.mark.parametrize(
    ("loss", "hessian"),
    [
        (losslab.get_loss("focal", gamma=0.5), None),
        (losslab.get_loss("focal", gamma=2.0), "floor"),
        (losslab.get_loss("log_loss"), "constant"),
        (losslab.get_loss("focal_star"), None),
    ],
    ids=["focal-gamma-0.5", "focal-floor", "log_loss-constant", "focal_star"],
)
def test_no_serial_kernel_for_other_losses_and_policies(
    spy: _Spy, loss: Any, hessian: str | None
) -> None:
    y, z, _ = _data(np.float64, n=20_000, seed=6)
    adapter = LossAdapter(loss, hessian, kernel_threads=1)
    g1, h1 = adapter.gradient_hessian(y, z)
    g2, h2 = LossAdapter(loss, hessian).gradient_hessian(y, z)
    assert spy.calls == 0
    assert adapter._fused is None
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(h1, h2)


def test_adapter_threads_yield_to_configured_threads() -> None:
    adapter = LossAdapter("log_loss", kernel_threads=1)
    with adapter._threads():
        assert get_config()["kernel_threads"] == 1
    with config_context(kernel_threads=2), adapter._threads():
        assert get_config()["kernel_threads"] == 2
    with LossAdapter("log_loss")._threads():
        assert get_config()["kernel_threads"] is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"], ids=repr)
def test_kernel_threads_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ValueError, match="kernel_threads"):
        LossAdapter("log_loss", kernel_threads=bad)


def test_weighted_exact_policy_applies_weights_in_the_kernel() -> None:
    """Weights for an ``exact`` policy go into the kernel's pass (parallel adapter): the
    float64 result equals the weighted gradient and Hessian of the loss itself."""
    loss = losslab.get_loss("focal_star")
    y, z, w = _data(np.float64, n=20_000, seed=7)
    g, h = LossAdapter(loss).gradient_hessian(y, z, w)
    g_ref, h_ref = loss.gradient_hessian(y, z)
    np.testing.assert_allclose(g, g_ref * w, rtol=1e-15, atol=0)
    np.testing.assert_allclose(h, h_ref * w, rtol=1e-15, atol=0)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("pos_weight", [1.0, 3.0], ids=lambda p: f"pos_weight={p:g}")
def test_log_loss_float64_matches_generic_path(pos_weight: float, weighted: bool) -> None:
    loss = losslab.get_loss("log_loss", pos_weight=pos_weight)
    y, z, w = _data(np.float64, seed=10)
    y[20:40] = np.linspace(0.0, 1.0, 20)  # soft labels are in the loss's domain
    wt = w if weighted else None
    g = np.empty_like(z)
    h = np.empty_like(z)
    ret = _boost.log_loss_exact(y, z, z if wt is None else wt, g, h, pos_weight, 0.0, weighted)
    with config_context(use_kernels=False):
        g_ref, h_ref = loss.gradient_hessian(y, z, sample_weight=wt)
    assert ret == 0
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-300)


def test_log_loss_float32_within_1_ulp_of_float64_reference() -> None:
    loss = losslab.get_loss("log_loss")
    y, z, w = _data(np.float32, seed=11)
    g = np.empty_like(z)
    h = np.empty_like(z)
    _boost.log_loss_exact(y, z, w, g, h, 1.0, 0.0, True)
    w64 = w.astype(np.float64)
    with config_context(use_kernels=False):
        g_ref, h_ref = loss.gradient_hessian(y.astype(np.float64), z.astype(np.float64))
    ulp = np.finfo(np.float32).eps
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    assert g.dtype == h.dtype == np.float32
    assert np.all(np.abs(g - g_ref * w64) <= ulp * np.abs(g_ref * w64) + tiny)
    assert np.all(np.abs(h - h_ref * w64) <= ulp * np.abs(h_ref * w64) + tiny)


def test_serial_log_loss_adapter_uses_the_kernel(spy: _Spy) -> None:
    loss = losslab.get_loss("log_loss")
    y, z, w = _data(np.float32, n=20_000, seed=12)
    g, h = LossAdapter(loss, kernel_threads=1).gradient_hessian(y, z, w)
    g_ref = np.empty_like(z)
    h_ref = np.empty_like(z)
    _boost.log_loss_exact(y, z, w, g_ref, h_ref, 1.0, 0.0, True)
    assert spy.calls == 1
    np.testing.assert_array_equal(g, g_ref)
    np.testing.assert_array_equal(h, h_ref)


def test_xgboost_objectives_metrics_and_estimators_run_kernels_on_one_thread() -> None:
    assert lxgb.KERNEL_THREADS == 1
    assert lxgb.objective("focal").adapter.kernel_threads == 1
    assert lxgb.sklearn_objective("focal").adapter.kernel_threads == 1
    assert lxgb.metric("focal").adapter.kernel_threads == 1
    assert lxgb.sklearn_metric("focal").adapter.kernel_threads == 1
    rng = np.random.default_rng(8)
    X = rng.standard_normal((300, 3))
    y = (X[:, 0] + rng.standard_normal(300) > 0.5).astype(int)
    est = lxgb.XGBClassifier(loss="focal", n_estimators=2)
    seen: list[int | None] = []
    original = est._host_objective

    def host(plan: Any) -> Any:
        obj = original(plan)
        seen.append(obj.adapter.kernel_threads)
        return obj

    est._host_objective = host  # type: ignore[method-assign]
    est.fit(X, y)
    assert seen
    assert all(t == 1 for t in seen)


def test_xgboost_training_with_the_serial_focal_objective_matches_the_parallel_one() -> None:
    """Two XGBoost fits, serial fused objective vs the loss's parallel path: the same trees up
    to float32 rounding of the Hessian (margins within 1e-4)."""
    rng = np.random.default_rng(9)
    X = rng.standard_normal((20_000, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.standard_normal(20_000) > 1.0).astype(np.float32)
    loss = losslab.get_loss("focal", gamma=2.0)
    base = lxgb.init_margin(loss, y)
    params = {"tree_method": "hist", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}
    params.update(lxgb.FOCAL_DEFAULTS)
    margins = []
    for threads in (1, None):
        d = xgboost.DMatrix(X, label=y, base_margin=base)
        obj = lxgb.XGBObjective(loss, kernel_threads=threads)
        booster = xgboost.train(params, d, 5, obj=obj)
        assert obj.n_calls == 5
        margins.append(booster.predict(d, output_margin=True))
    assert obj.adapter._fused is None  # the parallel adapter never uses the serial kernels
    np.testing.assert_allclose(margins[0], margins[1], rtol=0, atol=1e-4)


# ------------------------------------------------------------------ output buffers


def _address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def test_output_buffers_are_reused_once_the_caller_drops_them() -> None:
    import losslab._boosting as boosting

    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float32, n=20_000, seed=13)
    adapter = LossAdapter(loss, kernel_threads=1)
    g, h = adapter.gradient_hessian(y, z)
    first = (_address(g), _address(h))
    expected = g.copy()
    del g, h
    g, h = adapter.gradient_hessian(y, z)
    np.testing.assert_array_equal(g, expected)
    reused = (_address(g), _address(h)) == first
    assert reused == boosting._REFCOUNTS_RELIABLE


@pytest.mark.parametrize("hold", ["arrays", "derived-view"])
def test_output_buffers_held_by_the_caller_are_never_overwritten(hold: str) -> None:
    loss = losslab.get_loss("log_loss")
    y, z, _ = _data(np.float32, n=20_000, seed=14)
    adapter = LossAdapter(loss, kernel_threads=1)
    g1, h1 = adapter.gradient_hessian(y, z)
    kept = (g1, h1) if hold == "arrays" else (g1.reshape(-1, 1)[:, 0], h1[::1])
    before = (kept[0].copy(), kept[1].copy())
    del g1, h1
    g2, h2 = adapter.gradient_hessian(y, z + 1.0)
    np.testing.assert_array_equal(kept[0], before[0])
    np.testing.assert_array_equal(kept[1], before[1])
    assert not np.shares_memory(kept[0], g2)
    assert not np.shares_memory(kept[1], h2)
    assert not np.array_equal(g2, before[0])


def test_adapter_pickles_without_its_buffers() -> None:
    import pickle

    loss = losslab.get_loss("focal", gamma=2.0)
    y, z, _ = _data(np.float32, n=20_000, seed=15)
    adapter = LossAdapter(loss, kernel_threads=1)
    g, h = adapter.gradient_hessian(y, z)
    clone = pickle.loads(pickle.dumps(adapter))
    assert "_buffers" not in clone.__dict__
    g2, h2 = clone.gradient_hessian(y, z)
    np.testing.assert_array_equal(g, g2)
    np.testing.assert_array_equal(h, h2)
