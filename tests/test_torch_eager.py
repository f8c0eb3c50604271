"""losslab.torch's eager fast paths give the results of the general path, at kernel sizes too.

An element-wise loss at kernel size computes its values and gradient in one kernel pass and
saves the gradient for the backward; an unweighted "sum" or "mean"
runs values, sum and division in one autograd node; plain softmax cross-entropy is
``F.cross_entropy`` itself; softmax focal loss computes the target classes' slopes with the
values and scatters them in a plain backward. Each is compared here with the general path
(``reduction="none"`` and an explicit sum, or the ``create_graph=True`` backward that
recomputes the slopes in differentiable operations), with the core, and for memory with
``F.binary_cross_entropy_with_logits``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own idiom)

import losslab
import losslab.torch as lt
from losslab import get_config

N_KERNEL = 12_000  # above the default kernel_min_size: eager CPU calls run the fused kernel


def _binary(n: int, dtype: Any, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    z = torch.tensor(rng.normal(size=n) * 4, dtype=dtype)
    z[:4] = torch.tensor([-40.0, -17.0, 17.0, 40.0], dtype=dtype)
    y = torch.tensor(rng.random(n) < 0.05, dtype=dtype)
    y[4:54] = torch.tensor(rng.uniform(size=50), dtype=dtype)  # soft labels
    return y, z


def test_kernel_size_is_above_kernel_min_size() -> None:
    assert get_config()["kernel_min_size"] <= N_KERNEL


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("n", [100, N_KERNEL])
def test_unweighted_reduction_equals_the_sum_of_the_values(
    n: int, reduction: str, dtype: Any
) -> None:
    y, z = _binary(n, dtype)
    z1 = z.clone().requires_grad_(True)
    value = lt.FocalLoss(reduction=reduction, validate=False)(z1, y)
    value.backward()
    z2 = z.clone().requires_grad_(True)
    per_element = lt.FocalLoss(reduction="none", validate=False)(z2, y)
    expected = per_element.sum() if reduction == "sum" else per_element.sum() / float(n)
    expected.backward()
    assert value.dtype == dtype
    assert torch.equal(value, expected)  # the same operations in the same order
    assert z1.grad is not None
    assert z2.grad is not None
    assert torch.equal(z1.grad, z2.grad)
    core = losslab.get_loss("focal")
    scale = 1.0 if reduction == "sum" else 1.0 / n
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(z1.grad, core.gradient(y, z) * scale, rtol=rtol, atol=0)


def test_double_backward_at_kernel_size_applies_the_hessian() -> None:
    y, z = _binary(N_KERNEL, torch.float64, seed=1)
    zz = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(lt.FocalLoss(validate=False)(zz, y), zz, create_graph=True)
    v = torch.tensor(np.random.default_rng(2).normal(size=N_KERNEL))
    (hv,) = torch.autograd.grad((g * v).sum(), zz)
    core = losslab.get_loss("focal")
    torch.testing.assert_close(g.detach(), core.gradient(y, z) / N_KERNEL, rtol=1e-12, atol=0)
    torch.testing.assert_close(hv, core.hessian(y, z) * v / N_KERNEL, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
@pytest.mark.parametrize("n", [1000, N_KERNEL])
def test_saved_memory_against_bce_with_logits(n: int, reduction: str) -> None:
    """Below kernel size the inputs only, as BCE-with-logits; at kernel size also the
    gradient from the forward's kernel pass (one tensor of z's size more: 1.5 times BCE's,
    for one kernel pass fewer)."""
    saved: list[int] = []

    def pack(t: Any) -> Any:
        saved.append(t.numel() * t.element_size())
        return t

    y, z = _binary(n, torch.float32)
    z = z.requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = lt.FocalLoss(validate=False, reduction=reduction)(z, y)
        out.backward(torch.ones_like(out))
    ours = sum(saved)
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        bce = F.binary_cross_entropy_with_logits(z, y, reduction=reduction)
        bce.backward(torch.ones_like(bce))
    size = n * 4
    assert ours == (3 * size if n >= get_config()["kernel_min_size"] else 2 * size)
    assert ours <= 1.5 * sum(saved)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_the_saved_gradient_survives_a_retained_graph(reduction: str) -> None:
    """The gradient saved by the forward is not modified by a backward: a second backward
    through the retained graph gives the core's gradient again."""
    y, z = _binary(N_KERNEL, torch.float64, seed=3)
    zz = z.clone().requires_grad_(True)
    out = lt.FocalLoss(validate=False, reduction=reduction)(zz, y)
    seed = torch.full_like(out, 0.5)
    (g1,) = torch.autograd.grad(out, zz, seed, retain_graph=True)
    (g2,) = torch.autograd.grad(out, zz, seed)
    want = losslab.get_loss("focal").gradient(y, z) * 0.5
    torch.testing.assert_close(g1, want, rtol=1e-12, atol=0)
    torch.testing.assert_close(g2, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("softmax_cross_entropy", {}),
        ("softmax_focal", {"gamma": 0.0}),
        ("softmax_poly1", {"epsilon": 0.0}),
    ],
)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_plain_cross_entropy_is_f_cross_entropy(name: str, params: Any, reduction: str) -> None:
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(50, 7, generator=gen, dtype=torch.float64) * 5
    t = torch.randint(0, 7, (50,), generator=gen)
    probs = torch.softmax(torch.randn(50, 7, generator=gen, dtype=torch.float64), 1)
    module = lt.LosslabLoss(name, reduction=reduction, validate=False, **params)
    for target in (t, probs):
        z1 = z.clone().requires_grad_(True)
        ours = module(z1, target)
        ours.backward()
        z2 = z.clone().requires_grad_(True)
        ref = F.cross_entropy(z2, target, reduction=reduction)
        ref.backward()
        assert torch.equal(ours, ref)
        assert z1.grad is not None
        assert z2.grad is not None
        assert torch.equal(z1.grad, z2.grad)


def test_cross_entropy_never_ignores_an_index_silently() -> None:
    # F.cross_entropy ignores -100 by default; losslab's module rejects it unless asked to.
    z = torch.randn(3, 4)
    with pytest.raises(IndexError, match="-100"):
        lt.SoftmaxCrossEntropy(validate=False)(z, torch.tensor([0, -100, 1]))
    ignored = lt.SoftmaxCrossEntropy(ignore_index=-100)(z, torch.tensor([0, -100, 1]))
    torch.testing.assert_close(ignored, F.cross_entropy(z, torch.tensor([0, -100, 1])))


@pytest.mark.parametrize("params", [{"gamma": 2.0}, {"gamma": 0.5, "alpha": (0.2, 1.0, 0.5, 2.0)}])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_focal_saved_slopes_equal_the_recomputed_ones(params: Any, dtype: Any) -> None:
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(64, 4, generator=gen, dtype=dtype) * 6
    z[0, 2] = 80.0  # p_c rounds to 1: slope 0
    t = torch.randint(0, 4, (64,), generator=gen)
    t[0] = 2
    module = lt.SoftmaxFocalLoss(validate=False, **params)
    z1 = z.clone().requires_grad_(True)
    module(z1, t).backward()  # the slopes saved by the forward
    z2 = z.clone().requires_grad_(True)
    (g2,) = torch.autograd.grad(module(z2, t), z2, create_graph=True)  # recomputed
    assert z1.grad is not None
    assert torch.equal(z1.grad, g2.detach())
    core = losslab.get_loss("softmax_focal", **params)
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(z1.grad, core.gradient(t, z) / 64, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("index_dtype", [torch.int64, torch.float64])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize(
    ("name", "params"), [("softmax_focal", {"gamma": 2.0}), ("softmax_poly1", {"epsilon": 2.0})]
)
def test_softmax_unweighted_reduction_equals_the_sum_of_the_rows(
    name: str, params: Any, reduction: str, index_dtype: Any
) -> None:
    gen = torch.Generator().manual_seed(6)
    z = torch.randn(40, 5, generator=gen) * 4  # float32 logits
    t = torch.randint(0, 5, (40,), generator=gen).to(index_dtype)
    z1 = z.clone().requires_grad_(True)
    value = lt.LosslabLoss(name, reduction=reduction, validate=False, **params)(z1, t)
    value.backward()
    z2 = z.clone().requires_grad_(True)
    rows = lt.LosslabLoss(name, reduction="none", validate=False, **params)(z2, t)
    expected = rows.sum() if reduction == "sum" else rows.sum() / 40.0
    expected.backward()
    assert value.dtype == torch.float32
    assert torch.equal(value, expected)
    assert z1.grad is not None
    assert z2.grad is not None
    assert torch.equal(z1.grad, z2.grad)
    if index_dtype == torch.float64:  # a NaN index makes the sum NaN, as its row is
        t[3] = float("nan")
        assert torch.isnan(lt.LosslabLoss(name, reduction=reduction, validate=False)(z, t))


def test_strided_inputs_at_kernel_size_give_the_contiguous_result() -> None:
    y, z = _binary(2 * N_KERNEL, torch.float32, seed=7)
    zs = z.reshape(N_KERNEL, 2)[:, 1]  # every other element: a strided view
    ys = y.reshape(N_KERNEL, 2)[:, 1]
    assert not zs.is_contiguous()
    z1 = zs.clone().requires_grad_(True)  # contiguous copy
    lt.FocalLoss(validate=False)(z1, ys.contiguous()).backward()
    z2 = torch.zeros(N_KERNEL, 2)
    z2[:, 1] = zs
    z2.requires_grad_(True)
    lt.FocalLoss(validate=False)(z2[:, 1], ys).backward()
    assert z1.grad is not None
    assert z2.grad is not None
    assert torch.equal(z2.grad[:, 1], z1.grad)
    assert float(z2.grad[:, 0].abs().max()) == 0.0


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_softmax_focal_nan_logits_make_their_row_nan_as_in_the_core(reduction: str) -> None:
    z = torch.tensor([[0.0, float("nan"), 1.0], [0.5, 0.1, -1.0], [60.0, 0.0, 0.0]])
    y = torch.tensor([0, 2, 0])
    core = losslab.get_loss("softmax_focal")
    expected = torch.tensor(core.loss(y.numpy(), z.numpy()))
    assert torch.isnan(expected[0])
    got = lt.SoftmaxFocalLoss(reduction=reduction, validate=False)(z, y)
    if reduction == "none":
        torch.testing.assert_close(got, expected, equal_nan=True)
    else:
        assert torch.isnan(got)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("softmax_focal", {"gamma": 2.0}),
        ("softmax_focal", {"gamma": 0.5, "alpha": (0.2, 1.0, 0.5, 2.0, 1.0)}),
        ("softmax_poly1", {"epsilon": 2.0}),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_eager_class_index_route_equals_the_traced_route(
    name: str, params: Any, dtype: Any
) -> None:
    # Eager: F.cross_entropy feeds _RowsOfCrossEntropy; traced code (and probability
    # targets): log_softmax feeds _SoftmaxRows. The same operations, the same results.
    from losslab.torch import _rows_of_cross_entropy, _SoftmaxRows

    gen = torch.Generator().manual_seed(8)
    z = torch.randn(60, 5, generator=gen, dtype=dtype) * 6
    z[0, 1] = 90.0  # p_c rounds to 1
    t = torch.randint(0, 5, (60,), generator=gen)
    t[0] = 1
    loss = losslab.get_loss(name, **params)
    v = torch.tensor(np.random.default_rng(9).normal(size=60), dtype=dtype)
    z1 = z.clone().requires_grad_(True)
    rows1 = _rows_of_cross_entropy(loss, t, z1, "none")
    (rows1 * v).sum().backward()
    z2 = z.clone().requires_grad_(True)
    rows2 = _SoftmaxRows.apply(loss, t, torch.log_softmax(z2, dim=1))
    (rows2 * v).sum().backward()
    assert torch.equal(rows1, rows2)
    assert z1.grad is not None
    assert z2.grad is not None
    assert torch.equal(z1.grad, z2.grad)


def _module_steps(module: Any, y: Any, z: Any, create_graph: bool = False) -> list[Any]:
    """Two training steps of ``module`` (the first checks the values, the second is a plain
    training call): each one's value and gradient (and, with ``create_graph``, a
    Hessian-vector product)."""
    out = []
    for _ in range(2):
        zz = z.clone().requires_grad_(True)
        value = module(zz, y)
        (grad,) = torch.autograd.grad(value, zz, create_graph=create_graph)
        row = [value.detach(), grad.detach()]
        if create_graph:
            (hvp,) = torch.autograd.grad(grad, zz, grad_outputs=torch.ones_like(zz))
            row.append(hvp)
        out.append(row)
    return out


_KEPT = [(None, "positives"), (-1.0, "positives"), (-1.0, "mean"), (-1.0, "sum")]
_KEPT_LOSSES = [("focal", {}), ("focal", {"gamma": 0.5}), ("varifocal", {})]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("ignore_index", "reduction"), _KEPT)
@pytest.mark.parametrize("n", [1000, N_KERNEL])
@pytest.mark.parametrize(("name", "params"), _KEPT_LOSSES)
def test_training_calls_with_ignore_index_or_positives_equal_the_checked_call(
    name: str,
    params: Any,
    n: int,
    ignore_index: Any,
    reduction: str,
    dtype: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A module's calls after its checked first one take one autograd node (_KeptSum) for
    # ignore_index and "positives"; validate=True takes the general path on every call.
    lean_calls: list[bool] = []
    route = lt._plain_elementwise

    def spy(*args: Any) -> Any:
        out = route(*args)
        lean_calls.append(out is not None)
        return out

    monkeypatch.setattr(lt, "_plain_elementwise", spy)
    y, z = _binary(n, dtype, seed=3)
    y[100:400] = -1.0  # ignored anchors
    if ignore_index is None:
        y = y.clamp(0.0, 1.0)
    lean = lt.LosslabLoss(name, reduction=reduction, ignore_index=ignore_index, **params)
    general = lt.LosslabLoss(
        name, reduction=reduction, ignore_index=ignore_index, validate=True, **params
    )
    got = _module_steps(lean, y, z)
    assert lean_calls == [True]  # the first call checked the values on the general path
    want = _module_steps(general, y, z)
    assert lean_calls == [True]  # validate=True: never the lean route
    for a, b in zip(got[1] + got[0], want[1] + want[0], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    if ignore_index is not None:
        assert float(got[1][1][100:400].abs().max()) == 0.0  # ignored: no gradient
    # double backward: the analytic Hessian, as on the general path
    h_got = _module_steps(lean, y, z, create_graph=True)[1][2]
    h_want = _module_steps(general, y, z, create_graph=True)[1][2]
    torch.testing.assert_close(h_got, h_want, rtol=0, atol=0)
