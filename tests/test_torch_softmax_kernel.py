"""The softmax kernel route (losslab._torch_softmax.rows_kernel) gives the tensor code's results.

Eager CPU softmax focal / poly-1 losses with class indices run one numba kernel pass for the
values and the gradient. Compared here with the tensor code it replaces
(``losslab.torch._rows_of_cross_entropy``: ``F.cross_entropy`` and ``_RowsOfCrossEntropy``):
values and gradients to a few ulps in float64; in float32 both against a float64 reference,
the kernel at least as accurate; special values, out-of-range class indices, double
backward, threads, and where the route declines (returns None).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")
torch = pytest.importorskip("torch")

import losslab  # noqa: E402
import losslab.torch as lt  # noqa: E402
from losslab._torch_softmax import rows_kernel  # noqa: E402
from losslab.torch import _rows_of_cross_entropy  # noqa: E402

K = 7
ALPHA = tuple(float(a) for a in np.linspace(0.2, 2.0, K))
CASES = [
    *(("softmax_focal", {"gamma": g}) for g in (0.5, 1.0, 2.0, 3.7)),
    *(("softmax_focal", {"gamma": g, "alpha": ALPHA}) for g in (0.0, 0.5, 2.0, 3.7)),
    *(("softmax_poly1", {"epsilon": e}) for e in (-1.0, 1.0, 2.0)),
]


def _case_id(name: str, params: dict[str, Any]) -> str:
    parts = [f"{key}={'a' if key == 'alpha' else value}" for key, value in params.items()]
    return "-".join([name, *parts])


IDS = [_case_id(n, p) for n, p in CASES]


def _some(*indices: int) -> list[Any]:
    """The cases at ``indices`` as pytest parameters with their ids."""
    return [pytest.param(*CASES[i], id=IDS[i]) for i in indices]


REDUCTIONS = ["none", "sum", "mean"]


def _loss(name: str, params: dict[str, Any], k: int) -> Any:
    """The loss, with ``alpha`` (if any) resized to ``k`` classes."""
    if "alpha" in params:
        params = {**params, "alpha": tuple(float(a) for a in np.linspace(0.2, 2.0, k))}
    return losslab.get_loss(name, **params)


def _logits(n: int, k: int, dtype: Any, seed: int = 0) -> tuple[Any, Any]:
    """Random logits with rows that are confidently right or wrong (|z| up to 1e4), of
    equal logits, and of a large spread."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 4
    c = rng.integers(0, k, n)
    for row, value in enumerate((30.0, 1e4, -1e4, 12.0, 17.0, 60.0, -30.0)):
        z[row, c[row]] = value
    z[7] = 0.0
    z[8] *= 1e3
    return torch.tensor(z, dtype=dtype), torch.tensor(c)


def _step(fn: Any, loss: Any, y: Any, z: Any, reduction: str, seed: int = 1) -> tuple[Any, Any]:
    """The output and the gradient of ``sum(w * out)`` (w random for "none", else 1)."""
    zz = z.clone().requires_grad_(True)
    out = fn(loss, y, zz, reduction)
    assert out is not None
    w = torch.tensor(np.random.default_rng(seed).normal(size=tuple(out.shape)), dtype=z.dtype)
    (out * w).sum().backward()
    assert zz.grad is not None
    return out.detach(), zz.grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_float64_equals_the_tensor_code_to_a_few_ulps(
    name: str, params: Any, reduction: str
) -> None:
    loss = losslab.get_loss(name, **params)
    z, y = _logits(64, K, torch.float64)
    v1, g1 = _step(rows_kernel, loss, y, z, reduction)
    v2, g2 = _step(_rows_of_cross_entropy, loss, y, z, reduction)
    eps = torch.finfo(torch.float64).eps
    assert v1.dtype == g1.dtype == torch.float64
    assert v1.shape == v2.shape
    torch.testing.assert_close(v1, v2, rtol=8 * eps, atol=8 * eps * float(v2.abs().max()))
    scale = float(g2.abs().max())
    torch.testing.assert_close(g1, g2, rtol=64 * eps, atol=16 * eps * scale)


def _errors(v: Any, g: Any, v_ref: Any, g_ref: Any) -> tuple[float, float]:
    """Errors in float32 ulps: values in units of max(|value|, 1), gradients of
    max(|row's largest|, 1e-3 of the largest)."""
    eps = float(torch.finfo(torch.float32).eps)
    ev = ((v.double() - v_ref).abs() / v_ref.abs().clamp_min(1.0)).max() / eps
    row = g_ref.abs().amax(dim=1, keepdim=True).clamp_min(1e-3 * float(g_ref.abs().max()))
    eg = ((g.double() - g_ref).abs() / row).max() / eps
    return float(ev), float(eg)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_float32_is_at_least_as_accurate_as_the_tensor_code(name: str, params: Any) -> None:
    # e_j = exp(z_j - max) in float32 arithmetic, the row's sum and scalars in float64.
    loss = losslab.get_loss(name, **params)
    z, y = _logits(64, K, torch.float32, seed=2)
    v_ref, g_ref = _step(_rows_of_cross_entropy, loss, y, z.double(), "none")
    v1, g1 = _step(rows_kernel, loss, y, z, "none")
    v2, g2 = _step(_rows_of_cross_entropy, loss, y, z, "none")
    assert v1.dtype == g1.dtype == torch.float32
    kernel = _errors(v1, g1, v_ref, g_ref)
    tensor_code = _errors(v2, g2, v_ref, g_ref)
    assert kernel[0] <= 2.0, (kernel, tensor_code)  # measured: at most 0.5
    assert kernel[1] <= 4.0, (kernel, tensor_code)  # measured: at most 1.1
    assert kernel[0] <= max(tensor_code[0], 1.0)
    assert kernel[1] <= max(tensor_code[1], 1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [2, 3000])
def test_two_and_many_classes(k: int, dtype: Any) -> None:
    loss = losslab.get_loss("softmax_focal", gamma=2.0, alpha=tuple(np.linspace(0.5, 1.5, k)))
    z, y = _logits(40, k, dtype, seed=k)
    v1, g1 = _step(rows_kernel, loss, y, z, "none")
    v2, g2 = _step(_rows_of_cross_entropy, loss, y, z, "none")
    rtol = 1e-5 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(v1, v2, rtol=rtol, atol=rtol * float(v2.abs().max()))
    torch.testing.assert_close(g1, g2, rtol=rtol, atol=rtol * float(g2.abs().max()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("name", "params"), _some(2, 4, 5, -1))
def test_special_values_give_the_tensor_codes_results(name: str, params: Any, dtype: Any) -> None:
    inf, nan = float("inf"), float("nan")
    z = torch.tensor(
        [
            [0.0, nan, 1.0],  # a NaN logit: the row is NaN
            [nan, 0.1, -1.0],
            [0.5, 0.2, nan],
            [inf, 0.0, 0.0],  # +inf: inf - inf in log_softmax
            [0.0, inf, 0.0],
            [-inf, 0.0, 1.0],  # the target's logit -inf: f = inf, a NaN slope
            [0.0, -inf, 1.0],  # another class at -inf: p = 0 there
            [-inf, -inf, -inf],
            [1e4, -1e4, 0.0],
            [-1e4, 1e4, 0.0],
            [0.0, 0.0, 0.0],
        ],
        dtype=dtype,
    )
    y = torch.zeros(z.shape[0], dtype=torch.int64)
    loss = _loss(name, params, 3)
    v1, g1 = _step(rows_kernel, loss, y, z, "none")
    v2, g2 = _step(_rows_of_cross_entropy, loss, y, z, "none")
    assert torch.isnan(v1[:3]).all()
    assert torch.isnan(g1[:3]).all()
    assert torch.isfinite(v1[[6, 8, 9, 10]]).all()
    assert torch.isfinite(g1[[6, 8, 9, 10]]).all()
    assert torch.equal(torch.isnan(v1), torch.isnan(v2))
    assert torch.equal(torch.isnan(g1), torch.isnan(g2))
    torch.testing.assert_close(v1, v2, rtol=1e-6, atol=1e-6, equal_nan=True)
    torch.testing.assert_close(g1, g2, rtol=1e-6, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_class_indices_out_of_range_raise_and_are_never_read(reduction: str) -> None:
    # validate="once" checks the first call only: later indices are not validated. The
    # kernel never reads outside a row: it makes such rows NaN and counts them, and
    # rows_kernel raises, saying how many.
    z, y = _logits(12, 4, torch.float64)[0][6:], torch.tensor([0, 1, 2, 3, 0, 1])
    y[1] = 4
    y[3] = -1
    y[4] = 2**40
    loss = losslab.get_loss("softmax_focal", gamma=2.0, alpha=(0.5, 1.0, 1.5, 2.0))
    zz = z.clone().requires_grad_(True)
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 4\).*3 of its 6"):
        rows_kernel(loss, y, zz, reduction)
    from losslab._kernels import _softmax

    zn = z.numpy()
    v = np.empty(6)
    g = np.empty((6, 4))
    alpha = np.asarray(loss.alpha, dtype=np.float64)  # type: ignore[attr-defined]
    flags = _softmax.GRAD | _softmax.HAS_ALPHA
    count = _softmax.softmax_rows(zn, y.numpy(), alpha, v, g, _softmax.FOCAL, 2.0, flags, 0)
    assert count == 3
    bad = np.array([False, True, False, True, True, False])
    assert np.isnan(v[bad]).all()
    assert np.isnan(g[bad]).all()
    assert np.isfinite(v[~bad]).all()
    assert np.isfinite(g[~bad]).all()
    good = _rows_of_cross_entropy(loss, y[~bad], z[~bad], "none")
    torch.testing.assert_close(torch.from_numpy(v[~bad]), good, rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "params"), _some(1, 2, 5, -2))
def test_double_backward_is_the_tensor_codes(
    name: str, params: Any, reduction: str, dtype: Any
) -> None:
    loss = losslab.get_loss(name, **params)
    z, y = _logits(30, 5, dtype, seed=4)
    loss = _loss(name, params, 5)
    u = torch.tensor(np.random.default_rng(5).normal(size=(30, 5)), dtype=dtype)
    results = []
    for fn in (rows_kernel, _rows_of_cross_entropy):
        zz = z.clone().requires_grad_(True)
        out = fn(loss, y, zz, reduction)
        assert out is not None
        total = out.sum() if reduction == "none" else out
        (g,) = torch.autograd.grad(total, zz, create_graph=True)
        (hvp,) = torch.autograd.grad((g * u).sum(), zz)
        results.append((g.detach(), hvp))
    eps = torch.finfo(dtype).eps
    (g1, h1), (_, h2) = results
    tol = 64 * eps if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(h1, h2, rtol=tol, atol=tol * float(h2.abs().max()))
    # The first-order gradient under create_graph=True is the kernel's, bit for bit.
    zz = z.clone().requires_grad_(True)
    out = rows_kernel(loss, y, zz, reduction)
    assert out is not None
    (out.sum() if reduction == "none" else out).backward()
    assert zz.grad is not None
    assert torch.equal(zz.grad, g1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reductions_are_the_sum_of_the_rows_and_the_sum_over_n(dtype: Any) -> None:
    loss = losslab.get_loss("softmax_focal", gamma=2.0)
    z, y = _logits(41, 6, dtype, seed=6)
    rows = rows_kernel(loss, y, z, "none")
    total = rows_kernel(loss, y, z, "sum")
    mean = rows_kernel(loss, y, z, "mean")
    assert rows is not None
    assert total is not None
    assert mean is not None
    assert torch.equal(total, rows.sum())
    assert torch.equal(mean, rows.sum() / 41.0)
    grads = []
    for reduction, scale in (("none", 1.0), ("sum", 1.0), ("mean", 1.0 / 41.0)):
        zz = z.clone().requires_grad_(True)
        out = rows_kernel(loss, y, zz, reduction)
        assert out is not None
        (out.sum() if reduction == "none" else out).backward()
        assert zz.grad is not None
        grads.append(zz.grad / scale if reduction == "mean" else zz.grad)
    assert torch.equal(grads[0], grads[1])
    torch.testing.assert_close(grads[2], grads[0], rtol=4 * torch.finfo(dtype).eps, atol=0.0)


def test_without_grad_the_values_are_the_same() -> None:
    loss = losslab.get_loss("softmax_poly1", epsilon=2.0)
    z, y = _logits(50, 9, torch.float32, seed=7)
    with_grad = rows_kernel(loss, y, z.clone().requires_grad_(True), "none")
    assert with_grad is not None
    assert with_grad.requires_grad
    plain = rows_kernel(loss, y, z, "none")
    with torch.no_grad():
        no_grad = rows_kernel(loss, y, z.clone().requires_grad_(True), "mean")
    assert plain is not None
    assert no_grad is not None
    assert not plain.requires_grad
    assert not no_grad.requires_grad
    assert torch.equal(plain, with_grad.detach())
    assert torch.equal(no_grad, plain.sum() / 50.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_threads_give_the_one_thread_results(dtype: Any) -> None:
    # 2^17 elements: two threads (one per 2^16 elements), blocks of whole rows.
    loss = losslab.get_loss("softmax_focal", gamma=3.7, alpha=tuple(np.linspace(0.5, 1.5, 81)))
    z, y = _logits(1620, 81, dtype, seed=8)
    results = []
    for threads in (1, 2):
        with losslab.config_context(kernel_threads=threads):
            results.append(_step(rows_kernel, loss, y, z, "none"))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
    with losslab.config_context(kernel_threads=2):
        no_grad = rows_kernel(loss, y, z, "none")  # the scratch rows of each thread
    assert no_grad is not None
    assert torch.equal(no_grad, results[0][0])


def test_index_dtypes_other_than_int64_are_converted() -> None:
    loss = losslab.get_loss("softmax_focal", gamma=2.0)
    z, y = _logits(20, 5, torch.float64, seed=9)
    expected = rows_kernel(loss, y, z, "none")
    assert expected is not None
    for dtype in (torch.int32, torch.uint8, torch.int16):
        got = rows_kernel(loss, y.to(dtype), z, "none")
        assert got is not None
        assert torch.equal(got, expected)
    strided = torch.stack([y, y], dim=1)[:, 0]
    assert not strided.is_contiguous()
    got = rows_kernel(loss, strided, z, "none")
    assert got is not None
    assert torch.equal(got, expected)


def test_the_route_declines_where_the_tensor_code_runs() -> None:
    focal = losslab.get_loss("softmax_focal", gamma=2.0)
    z, y = _logits(20, 5, torch.float32)
    assert rows_kernel(focal, y, z, "none") is not None
    for dtype in (torch.float16, torch.bfloat16):
        assert rows_kernel(focal, y, z.to(dtype), "none") is None
    assert rows_kernel(focal, y.double(), z, "none") is None  # float indices: NaN rows
    assert rows_kernel(focal, y, z.t().contiguous().t(), "none") is None  # not C-contiguous
    assert rows_kernel(focal, y, z[:, None], "none") is None  # not 2-D
    assert rows_kernel(focal, y[:-1], z, "none") is None
    assert rows_kernel(focal, y, z[:0], "none") is None
    assert rows_kernel(focal, y, z, "positives") is None
    assert rows_kernel(focal, y.tolist(), z, "none") is None  # type: ignore[arg-type]
    assert rows_kernel(focal, y, torch.nn.Parameter(z), "none") is None  # a subclass
    for name, params in (
        ("softmax_focal", {"gamma": 0.0}),  # plain cross-entropy: F.cross_entropy
        ("softmax_poly1", {"epsilon": 0.0}),
        ("softmax_cross_entropy", {}),
    ):
        assert rows_kernel(losslab.get_loss(name, **params), y, z, "none") is None
    # What losslab.torch._check_structure rejects (the caller raises): K = 1, alpha or
    # background_class that do not fit K.
    assert rows_kernel(focal, y * 0, z[:, :1], "none") is None
    wrong_alpha = losslab.get_loss("softmax_focal", alpha=(1.0, 2.0))
    assert rows_kernel(wrong_alpha, y, z, "none") is None
    background = losslab.get_loss("softmax_focal", background_class=5)
    assert rows_kernel(background, y, z, "none") is None
    assert rows_kernel(background, y, torch.cat([z, z[:, :1]], dim=1), "none") is not None
    with losslab.config_context(use_kernels=False):
        assert rows_kernel(focal, y, z, "none") is None


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_the_modules_with_the_kernels_off_are_the_tensor_code(reduction: str) -> None:
    # The reference the lead's wiring keeps: use_kernels=False gives today's path.
    z, y = _logits(30, 5, torch.float64, seed=10)
    module = lt.SoftmaxFocalLoss(gamma=2.0, reduction=reduction, validate=False)
    loss = losslab.get_loss("softmax_focal", gamma=2.0)
    with losslab.config_context(use_kernels=False):
        v_off, g_off = _step(lambda _l, t, x, _r: module(x, t), loss, y, z, reduction)
    v_kernel, g_kernel = _step(rows_kernel, loss, y, z, reduction)
    eps = torch.finfo(torch.float64).eps
    torch.testing.assert_close(v_kernel, v_off, rtol=8 * eps, atol=8 * eps)
    torch.testing.assert_close(g_kernel, g_off, rtol=64 * eps, atol=16 * eps)


def test_a_failing_kernel_call_falls_back_with_a_warning(monkeypatch: Any) -> None:
    import losslab._torch_softmax as ts

    class Broken:
        def softmax_rows(self, *args: Any) -> int:
            raise RuntimeError("boom")

    monkeypatch.setitem(ts._state, "impl", Broken())
    loss = losslab.get_loss("softmax_focal", gamma=2.0)
    z, y = _logits(20, 5, torch.float32)
    with pytest.warns(RuntimeWarning, match="for this call"):
        assert rows_kernel(loss, y, z, "mean") is None
    assert not ts._state["failed"]  # not a compilation error: tried again next call
    with pytest.warns(RuntimeWarning, match="for this call"):
        assert rows_kernel(loss, y, z, "none") is None


def test_calls_from_several_python_threads_give_the_sequential_results() -> None:
    from concurrent.futures import ThreadPoolExecutor

    loss = losslab.get_loss("softmax_focal", gamma=2.0)
    inputs = [_logits(1620, 81, torch.float32, seed=s) for s in range(4)]  # 2^17: parallel
    expected = [_step(rows_kernel, loss, y, z, "mean") for z, y in inputs]
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda zy: _step(rows_kernel, loss, zy[1], zy[0], "mean"), inputs))
    for (v1, g1), (v2, g2) in zip(got, expected, strict=True):
        assert torch.equal(v1, v2)
        assert torch.equal(g1, g2)


def test_the_route_declines_while_torch_compile_traces() -> None:
    loss = losslab.get_loss("softmax_focal", gamma=2.0)
    z, y = _logits(20, 5, torch.float32)

    def f(x: Any) -> Any:
        out = rows_kernel(loss, y, x, "sum")
        return torch.zeros(()) if out is None else out

    assert float(f(z)) != 0.0  # eager: the kernel
    torch._dynamo.reset()
    compiled = torch.compile(f, backend="eager", fullgraph=True)  # no graph break either
    assert float(compiled(z)) == 0.0
