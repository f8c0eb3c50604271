"""losslab.torch: modules built from the registry, analytic backward and double backward.

The reference for every derivative is autodiff (torch.autograd) of the generic, NaN-free
array-API formulas of the core; torchvision's focal formula is written here from its
documentation (there is no torchvision package) to show where it fails and losslab does not.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own idiom)

import losslab
import losslab.torch as lt
from _cases import make_case

GAMMAS = [0.0, 0.25, 0.5, 1.0, 2.0, 5.0]


def torchvision_sigmoid_focal_loss(
    inputs: Any, targets: Any, alpha: float = 0.25, gamma: float = 2.0
) -> Any:
    """torchvision.ops.sigmoid_focal_loss as its documentation writes it (reduction "none")."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def _sample(name: str, n: int, rng: np.random.Generator, dtype: Any) -> tuple[Any, Any]:
    """Valid inputs for any registered loss (tests/_cases.py: soft and hard binary labels,
    class indices, regression targets in the loss's domain)."""
    case = make_case(losslab.get_loss(name), n=n, seed=int(rng.integers(1 << 30)))
    z = torch.tensor(case.z, dtype=dtype)
    if case.kind == "multiclass":
        return torch.tensor(case.y), z
    return torch.tensor(case.y, dtype=dtype), z


def test_every_registered_loss_has_a_module() -> None:
    for name, cls in losslab.LOSSES.items():
        module_cls = getattr(lt, cls.__name__)
        # declared in losslab/torch.py (visible to type checkers), bound to the registry name
        assert cls.__name__ in lt.__all__
        assert issubclass(module_cls, lt.RegisteredLoss)
        assert module_cls.loss_name == name
        module = module_cls()
        assert isinstance(module, torch.nn.Module)
        assert module.loss.name == name
    assert lt.FocalLoss(gamma=0.5).loss == losslab.get_loss("focal", gamma=0.5)


@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_gradient_and_hessian_vector_product_match_autodiff(name: str) -> None:
    rng = np.random.default_rng(1)
    y, z = _sample(name, 9, rng, torch.float64)
    core = losslab.get_loss(name)
    module = lt.LosslabLoss(core, reduction="sum")
    z1 = z.clone().requires_grad_(True)
    (g1,) = torch.autograd.grad(module(z1, y), z1, create_graph=True)
    z2 = z.clone().requires_grad_(True)
    (g2,) = torch.autograd.grad(core.loss(y, z2).sum(), z2, create_graph=True)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)
    v = torch.tensor(rng.normal(size=tuple(z.shape)))
    (h1,) = torch.autograd.grad((g1 * v).sum(), z1)
    # Pinball's and absolute error's gradients are constant: autograd sees no dependence.
    (h2,) = (
        torch.autograd.grad((g2 * v).sum(), z2, allow_unused=True, materialize_grads=True)
        if g2.requires_grad
        else (torch.zeros_like(z2),)
    )
    torch.testing.assert_close(h1, h2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_focal_float32_is_finite_to_second_order_where_torchvision_is_not(gamma: float) -> None:
    zs = torch.tensor([-100.0, -40.0, -17.0, -1.0, 0.0, 1.0, 17.0, 40.0, 100.0])
    z = torch.cat([zs, zs]).requires_grad_(True)
    y = torch.cat([torch.ones(9), torch.zeros(9)])
    module = lt.FocalLoss(gamma=gamma, alpha=0.25, reduction="sum")
    value = module(z, y)
    (g,) = torch.autograd.grad(value, z, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), z)
    assert torch.isfinite(value)
    assert torch.isfinite(g).all()
    assert torch.isfinite(h).all()
    expected = losslab.get_loss("focal", gamma=gamma, alpha=0.25).gradient(y, z.detach())
    torch.testing.assert_close(g.detach(), expected)
    # torchvision's formula: (1 - p_t) ** gamma at p_t == 1 (|z| >= 17 confidently right)
    # has an infinite derivative for 0 < gamma < 1 (torch special-cases the exponent 0).
    zt = z.detach().clone().requires_grad_(True)
    (gt,) = torch.autograd.grad(torchvision_sigmoid_focal_loss(zt, y, 0.25, gamma).sum(), zt)
    if 0 < gamma < 1:
        assert torch.isnan(gt).any()
    else:
        assert torch.isfinite(gt).all()


def _imbalanced(seed: int, n: int = 2000) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.02).astype(np.float32)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    x[:, 0] += 4.0 * y
    y[:10] = 0.0
    x[:10, 1] = 400.0  # easy negatives the initial model already scores at z << -17
    return torch.tensor(x), torch.tensor(y)


def _train(loss_fn: Any, x: Any, y: Any, steps: int = 150) -> tuple[Any, list[float]]:
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, -0.1]]))
        model.bias.fill_(lt.prior_bias(0.01))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x)[:, 0], y)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    return model, history


def test_focal_gamma_half_trains_where_torchvision_yields_nan() -> None:
    x, y = _imbalanced(0)
    model, history = _train(lt.FocalLoss(gamma=0.5, alpha=0.25, reduction="positives"), x, y)
    assert all(np.isfinite(history))
    assert history[-1] < 0.5 * history[0]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    scores = model(x)[:, 0].detach()
    ap_pos = scores[y == 1].mean() > scores[y == 0].mean() + 2.0
    assert bool(ap_pos)

    def torchvision_loss(z: Any, t: Any) -> Any:
        return torchvision_sigmoid_focal_loss(z, t, 0.25, 0.5).sum() / t.sum().clamp_min(1)

    tv_model, _tv_history = _train(torchvision_loss, x, y, steps=5)
    assert any(not torch.isfinite(p).all() for p in tv_model.parameters())


def test_log_loss_module_matches_bce_with_logits() -> None:
    rng = np.random.default_rng(2)
    z = torch.tensor(rng.normal(size=50) * 4, requires_grad=True)
    y = torch.tensor((rng.random(50) < 0.3).astype(float))
    w = torch.tensor(rng.uniform(0.5, 2.0, 50))
    ours = lt.LogLoss(reduction="sum")(z, y, w)
    ref = F.binary_cross_entropy_with_logits(z, y, weight=w, reduction="sum")
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    (g1,) = torch.autograd.grad(ours, z)
    zz = z.detach().requires_grad_(True)
    (g2,) = torch.autograd.grad(
        F.binary_cross_entropy_with_logits(zz, y, weight=w, reduction="sum"), zz
    )
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_matches_torch_with_ignore_index() -> None:
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.normal(size=(20, 5)) * 3)
    y = torch.tensor(rng.integers(0, 5, 20))
    y[:4] = -1
    ours = lt.SoftmaxCrossEntropy(ignore_index=-1)(z, y)
    ref = F.cross_entropy(z, y, ignore_index=-1)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)


def test_dense_detection_layout_ignore_and_positives() -> None:
    """(batch, anchors, classes) targets with background 0, foreground 1, ignored -1."""
    rng = np.random.default_rng(4)
    logits = torch.tensor(rng.normal(size=(2, 50, 3)))
    targets = torch.zeros(2, 50, 3)
    targets[0, 3, 1] = 1.0
    targets[1, 7, 2] = 1.0
    targets[1, 8, 0] = 1.0
    targets[:, 40:, :] = -1.0  # ignored anchors (between IoU thresholds)
    module = lt.FocalLoss(gamma=2.0, alpha=0.25, reduction="positives", ignore_index=-1)
    value = module(logits, targets)
    keep = targets != -1
    per = losslab.get_loss("focal").loss(torch.where(keep, targets, 0.0), logits)
    expected = (per * keep).sum() / 3.0
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=0)
    assert lt.prior_bias(0.01) == pytest.approx(-np.log(99.0), rel=1e-15)
    with pytest.raises(ValueError, match="pi"):
        lt.prior_bias(1.0)


def test_mean_is_weighted_average_and_mask_drops_elements() -> None:
    z = torch.tensor([0.5, -1.0, 2.0, 3.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 2.0, 2.5], dtype=torch.float64)
    mask = torch.tensor([True, True, False, True])
    w = torch.tensor([1.0, 2.0, 5.0, 1.0], dtype=torch.float64)
    value = lt.HalfSquaredError()(z, y, w, mask)
    r = (z - y)[mask]
    expected = (0.5 * r**2 * w[mask]).sum() / w[mask].sum()
    torch.testing.assert_close(value, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_in_and_out(dtype: Any) -> None:
    z = torch.tensor([-30.0, -2.0, 0.0, 3.0, 30.0], dtype=dtype, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=dtype)
    value = lt.FocalLoss(gamma=0.5, reduction="sum")(z, y)
    assert value.dtype == dtype
    (g,) = torch.autograd.grad(value, z)
    assert g.dtype == dtype
    assert torch.isfinite(g).all()
    ref = losslab.get_loss("focal", gamma=0.5).gradient(y.float(), z.detach().float())
    torch.testing.assert_close(g.float(), ref, rtol=1e-2, atol=1e-3)


def test_saves_only_the_inputs_for_backward() -> None:
    saved: list[int] = []

    def pack(t: Any) -> Any:
        saved.append(t.numel() * t.element_size())
        return t

    z = torch.randn(1000, requires_grad=True)
    y = (torch.rand(1000) < 0.1).float()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        lt.FocalLoss(validate=False, reduction="sum")(z, y).backward()
    ours = sum(saved)
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.binary_cross_entropy_with_logits(z, y, reduction="sum").backward()
    assert ours <= sum(saved)


def test_pickle_state_dict_and_repr() -> None:
    module = lt.HuberLoss(delta=0.5, reduction="sum")
    clone = pickle.loads(pickle.dumps(module))
    assert clone.loss == module.loss
    assert clone.reduction == "sum"
    assert module.state_dict() == {}
    assert "delta=0.5" in repr(module)
    z = torch.tensor([0.1, 3.0])
    y = torch.tensor([0.0, 0.0])
    torch.testing.assert_close(clone(z, y), module(z, y))


def test_clear_errors() -> None:
    module = lt.FocalLoss()
    with pytest.raises(ValueError, match="same shape"):
        module(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(TypeError, match="floating"):
        module(torch.zeros(4, dtype=torch.int64), torch.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        module(torch.zeros(4), torch.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="reduction"):
        lt.HuberLoss(reduction="positives")
    with pytest.raises(ValueError, match="target"):
        module(torch.zeros(4), torch.zeros(4, requires_grad=True))
    with pytest.raises(ValueError, match="class indices"):
        lt.SoftmaxFocalLoss()(torch.zeros(3, 4), torch.tensor([0, 1, 7]))
    with pytest.raises(TypeError, match="gamma"):
        lt.HuberLoss(gamma=2.0)


# Dynamo comments on what it traces (array-api-compat's caches, autograd.Function
# internals) with warnings that say nothing about losslab's results.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_torch_compile_matches_eager() -> None:
    module = lt.FocalLoss(gamma=2.0, validate=False)
    compiled = torch.compile(module, backend="eager")
    z = torch.randn(64, requires_grad=True)
    y = (torch.rand(64) < 0.2).float()
    v1 = module(z, y)
    (g1,) = torch.autograd.grad(v1, z)
    v2 = compiled(z, y)
    (g2,) = torch.autograd.grad(v2, z)
    torch.testing.assert_close(v1, v2)
    torch.testing.assert_close(g1, g2)


def test_values_are_checked_once_by_default_every_call_with_true() -> None:
    z = torch.zeros(4)
    good = torch.tensor([0.0, 1.0, 1.0, 0.0])
    bad = torch.tensor([0.0, 1.0, 2.0, 0.0])
    once = lt.FocalLoss()
    assert once.validate == "once"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        once(z, bad)  # the first call checks
    assert not once.checked
    once(z, good)
    assert once.checked
    assert torch.isfinite(once(z, bad))  # later calls trust the data: no check, no host sync
    always = lt.FocalLoss(validate=True)
    always(z, good)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        always(z, bad)
    never = lt.FocalLoss(validate=False)
    assert torch.isfinite(never(z, bad))
    with pytest.raises(ValueError, match="validate"):
        lt.FocalLoss(validate="sometimes")  # type: ignore[arg-type]
    # ignored targets are replaced before the checks
    assert torch.isfinite(lt.FocalLoss(ignore_index=-1)(z, torch.tensor([0.0, -1.0, 1.0, -1.0])))
    with pytest.raises(ValueError, match="class indices"):
        lt.SoftmaxCrossEntropy()(torch.zeros(3, 4), torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="sample_weight"):
        lt.LogLoss()(z, good, torch.tensor([1.0, -1.0, 1.0, 1.0]))


@pytest.mark.parametrize("target", ["index", "proba"])
@pytest.mark.parametrize("name", ["softmax_cross_entropy", "softmax_focal", "softmax_poly1"])
def test_softmax_gradient_and_hvp_match_autodiff_for_both_target_forms(
    name: str, target: str
) -> None:
    case = make_case(losslab.get_loss(name), n=12, seed=11, target=target)
    y = torch.tensor(case.y) if target == "index" else torch.tensor(case.y, dtype=torch.float64)
    z = torch.tensor(case.z, dtype=torch.float64)
    core = losslab.get_loss(name)
    z1 = z.clone().requires_grad_(True)
    (g1,) = torch.autograd.grad(lt.LosslabLoss(core, reduction="sum")(z1, y), z1, create_graph=True)
    z2 = z.clone().requires_grad_(True)
    (g2,) = torch.autograd.grad(core.loss(y, z2).sum(), z2, create_graph=True)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)
    v = torch.tensor(np.random.default_rng(12).normal(size=tuple(z.shape)))
    (h1,) = torch.autograd.grad((g1 * v).sum(), z1)
    (h2,) = torch.autograd.grad((g2 * v).sum(), z2)
    torch.testing.assert_close(h1, h2, rtol=1e-10, atol=1e-12)


def test_softmax_cross_entropy_equals_f_cross_entropy() -> None:
    rng = np.random.default_rng(13)
    z = torch.tensor(rng.normal(size=(50, 7)) * 5, requires_grad=True)
    idx = torch.tensor(rng.integers(0, 7, 50))
    proba = torch.softmax(torch.tensor(rng.normal(size=(50, 7))), dim=1)
    for target in (idx, proba):
        ours = lt.SoftmaxCrossEntropy()(z, target)
        ref = F.cross_entropy(z, target)
        torch.testing.assert_close(ours, ref, rtol=1e-13, atol=0)
        (g1,) = torch.autograd.grad(ours, z)
        (g2,) = torch.autograd.grad(ref, z)
        torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_softmax_focal_float32_is_finite_where_p_rounds_to_one(gamma: float) -> None:
    # The target's probability rounds to 1 in float32 (q = 1 - p_c = 0): a hand-written
    # (1 - p)^gamma has an infinite derivative there for 0 < gamma < 1; ours is the limit.
    z = torch.tensor([[60.0, 0.0, -3.0], [0.0, 60.0, 1.0], [-80.0, 80.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 1, 0])
    value = lt.SoftmaxFocalLoss(gamma=gamma, reduction="sum")(z, y)
    (g,) = torch.autograd.grad(value, z)
    assert torch.isfinite(value)
    assert torch.isfinite(g).all()
    expected = losslab.get_loss("softmax_focal", gamma=gamma).gradient(y, z.detach().double())
    torch.testing.assert_close(g.double(), expected, rtol=1e-5, atol=1e-7)


def test_nan_class_index_makes_only_its_row_nan() -> None:
    z = torch.randn(4, 3, requires_grad=True)
    y = torch.tensor([0.0, float("nan"), 2.0, 1.0])
    values = lt.SoftmaxFocalLoss(reduction="none", validate=False)(z, y)
    assert torch.isnan(values[1])
    assert torch.isfinite(values[[0, 2, 3]]).all()
    (g,) = torch.autograd.grad(values[[0, 2, 3]].sum(), z)
    assert torch.isfinite(g[[0, 2, 3]]).all()


@pytest.mark.parametrize(("name", "params"), [("focal", {"gamma": 0.5}), ("poly1_focal", {})])
def test_tensor_code_gives_the_core_limits_at_infinite_logits(name: str, params: Any) -> None:
    # Fewer elements than kernel_min_size: the tensor code that torch.compile and CUDA run.
    inf = float("inf")
    z = torch.tensor([-inf, -inf, -inf, inf, inf, inf, 0.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 0.3, 0.0, 1.0, 0.3, 1.0], dtype=torch.float64)
    core = losslab.get_loss(name, **params)
    values = lt.LosslabLoss(core, reduction="none")(z, y)
    torch.testing.assert_close(values, core.loss(y, z), equal_nan=False)
    zz = z.clone().requires_grad_(True)
    lt.LosslabLoss(core, reduction="sum")(zz, y).backward()
    assert zz.grad is not None
    torch.testing.assert_close(zz.grad, core.gradient(y, z), equal_nan=False)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "softmax_focal", "softmax_poly1"])
def test_softmax_losses_take_the_cross_entropy_layout(name: str) -> None:
    """(N, C, d1, d2) logits with (N, d1, d2) class indices, as F.cross_entropy takes them:
    the same values and gradients as the (N d1 d2, C) rows; per-position output for "none"."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 4, (2, 3, 5), generator=gen)
    t[0, 1, 2] = -1  # one ignored position
    module = lt.LosslabLoss(name, ignore_index=-1)
    got = module(z, t)
    (g,) = torch.autograd.grad(got, z)
    rows = z.detach().movedim(1, -1).reshape(-1, 4).requires_grad_(True)
    ref = module(rows, t.reshape(-1))
    (g_rows,) = torch.autograd.grad(ref, rows)
    torch.testing.assert_close(got, ref, rtol=1e-13, atol=0)
    torch.testing.assert_close(g.movedim(1, -1).reshape(-1, 4), g_rows, rtol=1e-13, atol=0)
    per_position = lt.LosslabLoss(name, ignore_index=-1, reduction="none")(z, t)
    assert per_position.shape == (2, 3, 5)
    assert float(per_position[0, 1, 2].detach()) == 0.0
    if name == "softmax_cross_entropy":
        expect = F.cross_entropy(z, t, ignore_index=-1)
        torch.testing.assert_close(got, expect, rtol=1e-13, atol=0)
        probs = torch.softmax(torch.randn(2, 4, 3, 5, generator=gen, dtype=torch.float64), 1)
        torch.testing.assert_close(module(z, probs), F.cross_entropy(z, probs), rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match=r"\(2, 3, 5\)"):
        module(z, t[:, :2])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_every_loss_is_finite_in_half_precision(name: str, dtype: Any) -> None:
    """Value and gradient are finite (never NaN) in float16 and bfloat16 wherever the float64
    value fits the dtype, the extreme logits of the dtype's range included."""
    loss = losslab.get_loss(name)
    case = make_case(loss, n=24)
    if loss.kind == "multiclass":
        z_np, y_t = case.z * 30.0, torch.tensor(case.y)
    elif loss.kind == "binary":
        z_np = np.concatenate([case.z, [6e4, -6e4, 1e4, -1e4]])
        y_np = np.concatenate([case.y, [1.0, 0.0, 0.0, 1.0]])
        y_t = torch.tensor(y_np, dtype=dtype)
    else:
        z_np, y_t = case.z, torch.tensor(case.y, dtype=dtype)
    z = torch.tensor(z_np, dtype=dtype, requires_grad=True)
    values = lt.LosslabLoss(loss, reduction="none")(z, y_t)
    values.sum().backward()
    assert values.dtype == dtype
    assert z.grad is not None
    v = values.detach().double().numpy()
    g = z.grad.double().numpy()
    assert not np.any(np.isnan(v)), v
    assert not np.any(np.isnan(g)), g
    y64 = y_t.double().numpy() if y_t.dtype.is_floating_point else y_t.numpy()
    ref = np.asarray(loss.loss(y64, z.detach().double().numpy()))
    fits = np.isfinite(ref) & (np.abs(ref) < float(torch.finfo(dtype).max) / 2)
    assert np.all(np.isfinite(v[fits])), (v, ref)
