"""One array-API code path on every backend (numpy, array_api_strict, torch, jax, dask).

Outputs keep the namespace, dtype and device of ``raw_prediction``; float64 results match
NumPy to 1e-12; JAX works under ``jax.jit``; autodiff (torch.autograd, jax.grad) through
``loss`` is NaN-free at extreme logits and equals the analytic ``gradient``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np
import pytest
from numpy.testing import assert_allclose

import losslab
from _cases import (
    ALL_METHODS,
    as_tuple,
    asarray,
    loss_params,
    make_case,
    to_numpy,
)

BASE = loss_params(variants=False) + [
    p for p in loss_params() if p.id in ("focal(gamma=0.5,alpha=None)", "huber(delta=0.5)")
]
DTYPES = ["float64", "float32"]
TOL = {"float64": (1e-12, 1e-14), "float32": (2e-5, 2e-6)}
REDUCTIONS = ("none", "sum", "mean")


def _targets(loss: Any) -> list[str]:
    return ["index", "proba"] if loss.is_multiclass else ["index"]


def _inputs(xp: ModuleType, loss: Any, dtype: str, target: str, n: int = 12) -> Any:
    case = make_case(loss, n=n, target=target, scale=2.0)
    dt = getattr(xp, dtype)
    ref_dtype = np.dtype(dtype)
    y_np = case.y if case.y.dtype.kind == "i" else case.y.astype(ref_dtype)
    z_np, w_np = case.z.astype(ref_dtype), case.w.astype(ref_dtype)
    y = asarray(xp, y_np) if case.y.dtype.kind == "i" else asarray(xp, y_np, dt)
    return case, (y, asarray(xp, z_np, dt), asarray(xp, w_np, dt)), (y_np, z_np, w_np)


def _check_like(out: Any, z: Any) -> None:
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(z)
    assert out.dtype == z.dtype
    assert array_api_compat.device(out) == array_api_compat.device(z)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", BASE)
def test_namespace_dtype_device_and_values(xp: ModuleType, loss: Any, dtype: str) -> None:
    rtol, atol = TOL[dtype]
    for target in _targets(loss):
        _, (y, z, w), (y_np, z_np, w_np) = _inputs(xp, loss, dtype, target)
        for method in ALL_METHODS:
            got = as_tuple(getattr(loss, method)(y, z, sample_weight=w))
            ref = as_tuple(getattr(loss, method)(y_np, z_np, sample_weight=w_np))
            assert len(got) == len(ref)
            for a, b in zip(got, ref, strict=True):
                _check_like(a, z)
                assert tuple(a.shape) == b.shape
                assert_allclose(to_numpy(a), b, rtol=rtol, atol=atol, err_msg=method)
        for reduction in REDUCTIONS:
            got = loss(y, z, sample_weight=w, reduction=reduction)
            _check_like(got, z)
            ref = loss(y_np, z_np, sample_weight=w_np, reduction=reduction)
            assert_allclose(to_numpy(got), ref, rtol=rtol, atol=atol, err_msg=reduction)
        inv = loss.link.inverse(z)
        _check_like(inv, z)
        assert_allclose(to_numpy(inv), loss.link.inverse(z_np), rtol=rtol, atol=atol)


@pytest.mark.parametrize("loss", BASE)
def test_fit_intercept_only_on_backends(xp: ModuleType, loss: Any) -> None:
    """Always NumPy / Python values, equal to the NumPy result."""
    for target in _targets(loss):
        _, (y, _, w), (y_np, _, w_np) = _inputs(xp, loss, "float64", target)
        got = loss.fit_intercept_only(y, sample_weight=w)
        ref = loss.fit_intercept_only(y_np, sample_weight=w_np)
        if loss.is_multiclass:
            assert isinstance(got, np.ndarray)
        else:
            assert isinstance(got, float)
        assert_allclose(got, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", BASE)
def test_half_precision_is_computed_in_float32(xp: ModuleType, loss: Any) -> None:
    """float16 / bfloat16 in -> same dtype out, within one ulp of the dtype of the float64
    value on the same rounded inputs (which computing in float32 guarantees). Only the
    half-precision dtypes the backend has."""
    for dtype in ("float16", "bfloat16"):
        dt = getattr(xp, dtype, None)
        if dt is None:
            continue
        case = make_case(loss, n=12, scale=2.0)
        z = asarray(xp, case.z, dt)
        y = asarray(xp, case.y) if case.y.dtype.kind == "i" else asarray(xp, case.y, dt)
        z64 = to_numpy(z).astype(np.float64)
        y64 = case.y if case.y.dtype.kind == "i" else to_numpy(y).astype(np.float64)
        eps = 2.0**-10 if dtype == "float16" else 2.0**-7
        tiny = 2.0**-24 if dtype == "float16" else 2.0**-126
        ref = loss.loss_gradient_hessian(y64, z64)
        got = loss.loss_gradient_hessian(y, z)
        for a, b in zip(got, ref, strict=True):
            _check_like(a, z)
            assert_allclose(to_numpy(a).astype(np.float64), b, rtol=eps, atol=tiny, err_msg=dtype)


@pytest.mark.parametrize("loss", BASE)
def test_lists_take_the_namespace_of_the_other_argument(xp: ModuleType, loss: Any) -> None:
    _, (y, z, _), (y_np, z_np, _) = _inputs(xp, loss, "float64", "index", n=4)
    out = loss.loss(y_np.tolist(), z)
    _check_like(out, z)
    assert_allclose(to_numpy(out), loss.loss(y_np, z_np), rtol=1e-12)
    out = loss.gradient(y, z_np.tolist())
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(y)


@pytest.mark.parametrize("loss", BASE)
def test_array_api_strict_non_default_device(array_api_strict: ModuleType, loss: Any) -> None:
    """Outputs stay on the input's device (array_api_strict's second device)."""
    xps = array_api_strict
    dev = xps.Device("device1")
    case = make_case(loss, n=8)
    z = xps.asarray(case.z, device=dev)
    y = xps.asarray(case.y, device=dev)
    w = xps.asarray(case.w, device=dev)
    for method in ALL_METHODS:
        for a in as_tuple(getattr(loss, method)(y, z, sample_weight=w)):
            assert a.device == dev, method
    for reduction in REDUCTIONS:
        assert loss(y, z, sample_weight=w, reduction=reduction).device == dev
    assert loss.link.inverse(z).device == dev


def test_torch_gpu_device_is_preserved(torch: ModuleType) -> None:
    """Where torch has a CUDA device, every loss keeps its inputs' device and matches NumPy."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    dev = torch.device("cuda")
    for param in BASE:
        loss = param.values[0]
        case = make_case(loss, n=12)
        y = torch.asarray(case.y, device=dev)
        z = torch.asarray(case.z, device=dev)
        w = torch.asarray(case.w, device=dev)
        ref = loss.loss_gradient_hessian(case.y, case.z, sample_weight=case.w)
        got = loss.loss_gradient_hessian(y, z, sample_weight=w)
        for a, b in zip(got, ref, strict=True):
            assert a.device == z.device
            assert_allclose(to_numpy(a), b, rtol=1e-12, atol=1e-14, err_msg=param.id)
        assert loss(y, z, sample_weight=w).device == z.device


# ---------------------------------------------------------------------------- JAX jit


@pytest.mark.parametrize("loss", BASE)
def test_jax_jit(jax: ModuleType, loss: Any) -> None:
    jnp = jax.numpy
    for target in _targets(loss):
        _, (y, z, w), (y_np, z_np, w_np) = _inputs(jnp, loss, "float64", target)

        def f(y: Any, z: Any, w: Any) -> Any:
            return loss.loss_gradient_hessian(y, z, sample_weight=w, validate=False)

        def mean(y: Any, z: Any, w: Any) -> Any:
            return loss(y, z, sample_weight=w, reduction="mean", validate=False)

        got = jax.jit(f)(y, z, w)
        ref = loss.loss_gradient_hessian(y_np, z_np, sample_weight=w_np)
        for a, b in zip(got, ref, strict=True):
            _check_like(a, z)
            assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-14)
        m = jax.jit(mean)(y, z, w)
        assert_allclose(np.asarray(m), loss(y_np, z_np, sample_weight=w_np), rtol=1e-12, atol=1e-14)
        # validate=True (the default) under jit: value checks are skipped for tracers.
        v = jax.jit(lambda y, z: loss.loss(y, z))(y, z)
        assert_allclose(np.asarray(v), loss.loss(y_np, z_np), rtol=1e-12, atol=1e-14)
        g = jax.jit(jax.grad(lambda z, y=y, w=w: mean(y, z, w)))(z)
        expected = loss.gradient(y_np, z_np, sample_weight=w_np) / w_np.sum()
        assert_allclose(np.asarray(g), expected, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- autodiff


def _torch_grad(torch: ModuleType, loss: Any, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.tensor(y)
    loss.loss(yt, zt).sum().backward()
    return zt.grad.detach().numpy()


def _jax_grad(jax: ModuleType, loss: Any, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    jnp = jax.numpy
    yj = jnp.asarray(y)
    return np.asarray(jax.grad(lambda z: loss.loss(yj, z).sum())(jnp.asarray(z)))


AUTODIFF = {"torch": _torch_grad, "jax": _jax_grad}


@pytest.fixture(params=sorted(AUTODIFF))
def autodiff(request: pytest.FixtureRequest) -> Any:
    """(framework module, gradient function) for torch.autograd and jax.grad."""
    module = request.getfixturevalue(request.param)
    return module, AUTODIFF[request.param]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", BASE)
def test_autodiff_equals_analytic_gradient(autodiff: Any, loss: Any, dtype: str) -> None:
    """Away from the kinks, d(sum loss)/dz by autodiff equals ``gradient``."""
    module, grad_of = autodiff
    rtol, atol = (1e-12, 1e-14) if dtype == "float64" else (1e-5, 1e-6)
    for target in _targets(loss):
        case = make_case(loss, n=12, target=target, scale=2.0)
        y = case.y if case.y.dtype.kind == "i" else case.y.astype(dtype)
        z = case.z.astype(dtype)
        got = grad_of(module, loss, y, z)
        assert got.dtype == np.dtype(dtype)
        assert np.all(np.isfinite(got))
        assert_allclose(got, loss.gradient(y, z), rtol=rtol, atol=atol)


@pytest.mark.parametrize("loss", BASE)
def test_jax_second_derivative_equals_analytic_hessian(jax: ModuleType, loss: Any) -> None:
    """The Hessian diagonal from jax.hessian equals ``hessian`` (away from kinks)."""
    jnp = jax.numpy
    for target in _targets(loss):
        case = make_case(loss, n=6, target=target, scale=2.0)
        y = jnp.asarray(case.y)
        hess_fn = jax.jit(jax.hessian(lambda z, y=y: loss.loss(y, z, validate=False).sum()))
        full = np.asarray(hess_fn(jnp.asarray(case.z)))
        size = case.z.size
        diag = np.diagonal(full.reshape(size, size)).reshape(case.z.shape)
        assert_allclose(diag, loss.hessian(case.y, case.z), rtol=1e-11, atol=1e-14)


FOCAL_GAMMAS = [0.0, 0.25, 0.5, 1.0, 2.0, 5.0]
EXTREME_Z = {
    "float64": [-1000.0, -100.0, -40.0, -1.0, 0.0, 1.0, 40.0, 100.0, 1000.0],
    "float32": [-100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0],
}
AD_TOL = {"float64": (1e-10, 1e-300), "float32": (1e-4, 1e-37)}


def _binary_grid(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    zs = np.asarray(EXTREME_Z[dtype])
    ys = np.array([0.0, 1.0, 0.3])
    yy, zz = np.meshgrid(ys, zs, indexing="ij")
    return yy.ravel().astype(dtype), zz.ravel().astype(dtype)


def _check_extreme(autodiff: Any, loss: Any, y: np.ndarray, z: np.ndarray, dtype: str) -> None:
    module, grad_of = autodiff
    got = grad_of(module, loss, y, z)
    bad = ~np.isfinite(got)
    assert not np.any(bad), f"non-finite autodiff gradient at y={y[bad]}, z={z[bad]}"
    ref = loss.gradient(y, z)
    assert np.all(np.isfinite(ref))
    rtol, atol = AD_TOL[dtype]
    assert_allclose(got, ref, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.25, None])
@pytest.mark.parametrize("gamma", FOCAL_GAMMAS)
def test_focal_autodiff_is_nan_free_at_extreme_logits(
    autodiff: Any, gamma: float, alpha: float | None, dtype: str
) -> None:
    loss = losslab.get_loss("focal", gamma=gamma, alpha=alpha)
    y, z = _binary_grid(dtype)
    _check_extreme(autodiff, loss, y, z, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "spec",
    [
        ("log_loss", {}),
        ("focal_star", {"gamma": 0.5, "beta": 1.0}),
        ("focal_star", {"gamma": 2.0, "beta": -1.0}),
        ("softmax_cross_entropy", {}),
        ("softmax_focal", {"gamma": 0.0}),
        ("softmax_focal", {"gamma": 0.25}),
        ("softmax_focal", {"gamma": 2.0, "alpha": (0.25, 0.5, 0.25)}),
    ],
    ids=lambda s: f"{s[0]}{s[1] or ''}".replace(" ", ""),
)
def test_classification_autodiff_is_nan_free_at_extreme_logits(
    autodiff: Any, spec: tuple[str, dict[str, Any]], dtype: str
) -> None:
    loss = losslab.get_loss(spec[0], **spec[1])
    if not loss.is_multiclass:
        y, z = _binary_grid(dtype)
    else:
        big = max(abs(v) for v in EXTREME_Z[dtype])
        rows = [[big, 0.0, -big], [-big, big, 0.0], [0.0, 0.0, 0.0], [100.0, -100.0, 40.0]]
        z = np.repeat(np.asarray(rows), 3, axis=0).astype(dtype)
        y = np.tile(np.arange(3), len(rows))
    _check_extreme(autodiff, loss, y, z, dtype)


# ------------------------------------------------------------- backend selection

_BLOCK_TORCH = "import sys\nsys.modules['torch'] = None  # `import torch` now fails\n"


def _run_selection(tmp_path: Any, env_extra: dict[str, str]) -> Any:
    import os
    import subprocess
    import sys

    (tmp_path / "block_torch.py").write_text(_BLOCK_TORCH)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "LOSSLAB_TEST_BACKENDS")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    env.update(env_extra)
    here = os.path.dirname(__file__)
    select = "test_lists_take_the_namespace_of_the_other_argument and torch and log_loss"
    args = ["-p", "block_torch", "-p", "no:cacheprovider", "-q", "-k", select]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, os.path.join(here, "test_backends.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(here),
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("env", "fails"),
    [
        ({}, False),  # local run: a missing backend is skipped
        ({"CI": "true"}, True),  # CI: a missing backend is a failure
        ({"LOSSLAB_TEST_BACKENDS": "numpy,torch"}, True),  # asked for explicitly
    ],
    ids=["local", "ci", "explicit"],
)
def test_missing_backend_is_skipped_only_when_not_required(
    tmp_path: Any, env: dict[str, str], fails: bool
) -> None:
    proc = _run_selection(tmp_path, env)
    out = proc.stdout + proc.stderr
    if fails:
        assert proc.returncode != 0, out
        assert "'torch' is not importable" in out, out
    else:
        assert proc.returncode == 0, out
        assert "1 skipped" in out, out


def test_unknown_backend_name_is_a_usage_error(tmp_path: Any) -> None:
    proc = _run_selection(tmp_path, {"LOSSLAB_TEST_BACKENDS": "numpy,cupyy"})
    assert proc.returncode != 0
    assert "cupyy" in proc.stdout + proc.stderr
