"""Side by side: the detection and multi-label losses against what users would otherwise call.

Installed peers are called directly: torch's ``BCEWithLogitsLoss(pos_weight=...)`` and
``F.cross_entropy`` with probability targets, optax's ``poly_loss_cross_entropy``,
``softmax_cross_entropy`` and ``softmax_cross_entropy_with_integer_labels``. The others do not
install beside CI's torch 2.13.0 CPU wheel (measured with ``pip install --dry-run``: timm and
ultralytics pull torchvision 0.29 with torch 2.14 and the CUDA libraries; mmdet imports mmcv,
a compiled package, and mmengine), so their loss functions (and the PolyLoss paper's listing)
are transcribed below from their documentation and source, in torch, keeping their conventions
(timm's float32 upcast, eps clamp and clip; mmdet's ``iou_weighted``; ultralytics' clamp).

Each peer: the same values and autograd gradients on moderate inputs (float64), and, where
measured, the inputs at which the peer's gradient is NaN while losslab's is finite. At their
default hyperparameters the peers stayed finite in every probe (|z| up to 1e4, float64 to
bfloat16); the NaNs below appear with focusing exponents below 1 (``(1 - p_t)^gamma`` is
differentiated where its base is exactly 0) and, for timm's ASL, at every easy negative.
``docs/conventions.md`` maps the conventions.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import losslab
from losslab.targets import class_balanced_weights, two_hot

torch = pytest.importorskip("torch")
optax = pytest.importorskip("optax")

import torch.nn.functional as F  # noqa: E402, N812 (PyTorch's own idiom)

import losslab.torch as lt  # noqa: E402

Tensor = Any

# ----------------------------------------------------------------------------------------------
# Peers, transcribed (reduction="none": the element-wise terms before their reductions).


def mmdet_varifocal_loss(
    pred: Tensor, target: Tensor, alpha: float = 0.75, gamma: float = 2.0, iou_weighted: bool = True
) -> Tensor:
    """mmdet ``varifocal_loss`` (mmdet/models/losses/varifocal_loss.py)."""
    pred_sigmoid = pred.sigmoid()
    target = target.type_as(pred)
    pos = (target > 0.0).to(pred.dtype)
    neg = (target <= 0.0).to(pred.dtype)
    scale = target * pos if iou_weighted else pos
    focal_weight = scale + alpha * (pred_sigmoid - target).abs().pow(gamma) * neg
    return F.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight


def ultralytics_varifocal_loss(
    pred_score: Tensor,
    gt_score: Tensor,
    label: Tensor,
    alpha: float = 0.75,
    gamma: float = 2.0,
    compute_dtype: Any = "float32",
) -> Tensor:
    """ultralytics ``VarifocalLoss.forward`` (ultralytics/utils/loss.py) before its
    ``.mean(1).sum()``: ``label`` marks the positives, ``gt_score`` their IoU target. Its BCE
    runs in float32 (``.float()``, autocast off); float64 tests pass ``torch.float64``."""
    dtype = torch.float32 if compute_dtype == "float32" else compute_dtype
    weight = alpha * pred_score.sigmoid().pow(gamma) * (1 - label) + gt_score * label
    bce = F.binary_cross_entropy_with_logits(
        pred_score.to(dtype), gt_score.to(dtype), reduction="none"
    )
    return bce * weight


def mmdet_quality_focal_loss(
    pred: Tensor, label: Tensor, score: Tensor, beta: float = 2.0
) -> Tensor:
    """mmdet ``quality_focal_loss`` (gfocal_loss.py) before its sum over classes: ``label`` is the
    class per anchor (``C`` = background), ``score`` its IoU quality target."""
    pred_sigmoid = pred.sigmoid()
    zerolabel = pred_sigmoid.new_zeros(pred.shape)
    loss = F.binary_cross_entropy_with_logits(pred, zerolabel, reduction="none") * pred_sigmoid.pow(
        beta
    )
    pos = ((label >= 0) & (label < pred.size(1))).nonzero().squeeze(1)
    pos_label = label[pos].long()
    scale_factor = score[pos] - pred_sigmoid[pos, pos_label]
    loss = loss.clone()
    loss[pos, pos_label] = F.binary_cross_entropy_with_logits(
        pred[pos, pos_label], score[pos], reduction="none"
    ) * scale_factor.abs().pow(beta)
    return loss


def timm_asymmetric_loss(
    x: Tensor,
    y: Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 1.0,
    clip: float | None = 0.05,
    eps: float = 1e-8,
    disable_torch_grad_focal_loss: bool = False,
    compute_dtype: Any = "float32",
) -> Tensor:
    """timm ``AsymmetricLossMultiLabel.forward`` (timm/loss/asymmetric_loss.py), reduction
    'none'. timm upcasts to float32 (``compute_dtype="float32"``); float64 tests pass
    ``torch.float64`` to compare the formula without that rounding."""
    dtype = torch.float32 if compute_dtype == "float32" else compute_dtype
    x = x.to(dtype)
    y = y.to(dtype)
    xs_pos = torch.sigmoid(x)
    xs_neg = 1 - xs_pos
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    if gamma_neg > 0 or gamma_pos > 0:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not disable_torch_grad_focal_loss):
            pt = xs_pos * y + xs_neg * (1 - y)
            one_sided_w = torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
        loss = loss * one_sided_w
    return -loss


def timm_poly_binary(
    x: Tensor, y: Tensor, epsilon: float = 2.0, gamma: float = 0.0, alpha: float | None = None
) -> Tensor:
    """timm ``PolyBinaryCrossEntropy`` (timm/loss/poly_loss.py), reduction 'none', in x's dtype
    (timm upcasts to float32)."""
    p = torch.sigmoid(x)
    one_minus_pt = 1.0 - (y * p + (1.0 - y) * (1.0 - p))
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    poly = one_minus_pt
    if gamma:
        focal = one_minus_pt**gamma
        loss = loss * focal
        poly = poly * focal
    loss = loss + epsilon * poly
    if alpha is not None:
        loss = loss * (y * alpha + (1.0 - y) * (1.0 - alpha))
    return loss


def timm_poly_cross_entropy(x: Tensor, target: Tensor, epsilon: float = 2.0) -> Tensor:
    """timm ``PolyCrossEntropy`` (class indices or dense targets), reduction 'none'."""
    log_probs = F.log_softmax(x, dim=-1)
    if target.shape != x.shape:
        target = F.one_hot(target.long(), x.shape[-1]).to(x.dtype)
    loss = -(target * log_probs).sum(dim=-1)
    pt = (target * log_probs.exp()).sum(dim=-1)
    return loss + epsilon * (1.0 - pt)


def paper_poly1_focal(
    logits: Tensor, labels: Tensor, epsilon: float = 1.0, gamma: float = 2.0, alpha: float = 0.25
) -> Tensor:
    """The PolyLoss paper's Poly-1 focal listing (Leng et al. 2022), in torch: alpha_t weighs
    FL only."""
    p = torch.sigmoid(logits)
    ce_loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    pt = labels * p + (1 - labels) * (1 - p)
    fl = ce_loss * ((1 - pt) ** gamma)
    if alpha >= 0:
        fl = (alpha * labels + (1 - alpha) * (1 - labels)) * fl
    return fl + epsilon * torch.pow(1 - pt, gamma + 1)


def mmdet_distribution_focal_loss(pred: Tensor, label: Tensor) -> Tensor:
    """mmdet ``distribution_focal_loss`` (gfocal_loss.py): (N, n+1) logits, (N,) targets."""
    dis_left = label.long()
    dis_right = dis_left + 1
    weight_left = dis_right.to(label.dtype) - label
    weight_right = label - dis_left.to(label.dtype)
    return (
        F.cross_entropy(pred, dis_left, reduction="none") * weight_left
        + F.cross_entropy(pred, dis_right, reduction="none") * weight_right
    )


def ultralytics_dfl(pred_dist: Tensor, target: Tensor, reg_max: int) -> Tensor:
    """ultralytics ``DFLoss.__call__`` (ultralytics/utils/loss.py): pred_dist (N*4, reg_max),
    target (N, 4); clamps the target to reg_max - 1.01 and averages over the 4 sides."""
    target = target.clamp(0, reg_max - 1 - 0.01)
    tl = target.long()
    tr = tl + 1
    wl = tr - target
    wr = 1 - wl
    return (
        F.cross_entropy(pred_dist, tl.view(-1), reduction="none").view(tl.shape) * wl
        + F.cross_entropy(pred_dist, tr.view(-1), reduction="none").view(tl.shape) * wr
    ).mean(-1, keepdim=True)


# ----------------------------------------------------------------------------------------------
# Helpers


def _value_grad(fn: Any, z: np.ndarray[Any, Any] | Tensor, *args: Any, **kw: Any) -> Any:
    """(values, gradient of their sum) of ``fn(z, *args, **kw)``, as float64 NumPy."""
    zt = (z if isinstance(z, torch.Tensor) else torch.tensor(z)).detach().clone()
    zt.requires_grad_(True)
    v = fn(zt, *args, **kw)
    (g,) = torch.autograd.grad(v.sum(), zt)
    return v.detach().double().numpy(), g.double().numpy()


def _ours(name: str, **params: Any) -> Any:
    module = lt.LosslabLoss(name, reduction="none", **params)
    return lambda z, y: module(z, y)


def _binary_data(
    seed: int, n: int = 400, scale: float = 3.0, soft: bool = True
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=scale, size=n)
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    if soft:
        y[: n // 4] = rng.uniform(size=n // 4)
    return z, y


# The peers' forms cancel on small values (BCE as (1 - y) z + softplus(-z), optax's
# CE - (1 - p_t) at eps = -1 ...), so agreement is a relative 1e-12 or an absolute 1e-14 on
# losses of order 1; losslab's side is within 1e-13 of 50-digit references (test_golden).
RTOL_VALUE = 1e-12
ATOL_VALUE = 1e-14
RTOL_GRAD = 1e-10
ATOL_GRAD = 1e-15

# ----------------------------------------------------------------------------------------------
# Varifocal (mmdet)


def _vfl_targets(seed: int, n: int = 400) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=n)
    q = np.where(rng.uniform(size=n) < 0.3, rng.uniform(0.05, 1.0, size=n), 0.0)
    return z, q


@pytest.mark.parametrize(("alpha", "gamma"), [(0.75, 2.0), (0.25, 0.5), (1.0, 0.0)])
def test_varifocal_matches_mmdet(alpha: float, gamma: float) -> None:
    z, q = _vfl_targets(0)
    qt = torch.tensor(q)
    pv, pg = _value_grad(mmdet_varifocal_loss, z, qt, alpha=alpha, gamma=gamma)
    ov, og = _value_grad(_ours("varifocal", alpha=alpha, gamma=gamma), z, qt)
    np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE, atol=ATOL_VALUE)
    np.testing.assert_allclose(og, pg, rtol=RTOL_GRAD, atol=ATOL_GRAD)


def test_varifocal_mmdet_iou_weighted_false_is_a_sample_weight() -> None:
    """``iou_weighted=False`` weighs positives by 1 instead of q: losslab's varifocal with
    ``sample_weight = 1 / q`` on the positives."""
    z, q = _vfl_targets(1)
    peer = mmdet_varifocal_loss(torch.tensor(z), torch.tensor(q), iou_weighted=False).numpy()
    w = np.where(q > 0, 1.0 / np.where(q > 0, q, 1.0), 1.0)
    ours = losslab.get_loss("varifocal")(q, z, sample_weight=w, reduction="none")
    np.testing.assert_allclose(ours, peer, rtol=RTOL_VALUE, atol=ATOL_VALUE)


def test_varifocal_matches_ultralytics() -> None:
    """ultralytics' VarifocalLoss takes (pred_score, gt_score, label) of shape (B, anchors, C)
    and returns ``(BCE * weight).mean(1).sum()``: losslab's varifocal on y = gt_score * label
    with ``reduction="sum"`` divided by the number of anchors. A label-1 anchor with IoU 0
    weighs 0 there and is a negative (alpha p^gamma softplus(z)) here."""
    rng = np.random.default_rng(15)
    z = rng.normal(scale=3.0, size=(2, 50, 3))
    label = (rng.uniform(size=z.shape) < 0.2).astype(np.float64)
    gt = label * rng.uniform(0.05, 1.0, size=z.shape)
    zt, gtt, lt_ = torch.tensor(z), torch.tensor(gt), torch.tensor(label)
    pv, pg = _value_grad(ultralytics_varifocal_loss, zt, gtt, lt_, compute_dtype=torch.float64)
    ov, og = _value_grad(_ours("varifocal"), zt, gtt)
    np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE, atol=ATOL_VALUE)
    np.testing.assert_allclose(og, pg, rtol=RTOL_GRAD, atol=ATOL_GRAD)
    total = losslab.get_loss("varifocal")(gt, z, reduction="sum") / z.shape[1]
    np.testing.assert_allclose(total, pv.mean(axis=1).sum(), rtol=1e-12)
    pv32, _ = _value_grad(ultralytics_varifocal_loss, zt, gtt, lt_)  # as it runs: float32 BCE
    np.testing.assert_allclose(ov, pv32, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("dtype", "z"),
    [("float64", -800.0), ("float32", -100.0), ("float16", -20.0), ("bfloat16", -100.0)],
)
def test_varifocal_gamma_below_one_mmdet_gradient_is_nan(dtype: str, z: float) -> None:
    """gamma < 1 on a negative whose sigmoid underflows to 0: mmdet differentiates
    ``|p - 0|^gamma`` at 0 (inf * 0 = NaN); losslab's gradient is finite (the true value
    alpha (gamma + 1) p^gamma ... underflows to 0). Measured thresholds: z <= -800 (float64),
    -100 (float32, bfloat16), -20 (float16)."""
    dt = getattr(torch, dtype)
    zt = torch.tensor([z, -5.0], dtype=dt)
    q = torch.zeros_like(zt)
    _, pg = _value_grad(mmdet_varifocal_loss, zt, q, gamma=0.5)
    ov, og = _value_grad(_ours("varifocal", gamma=0.5), zt, q)
    assert np.isnan(pg[0])
    assert np.all(np.isfinite(og))
    assert np.all(np.isfinite(ov))
    ref = losslab.get_loss("varifocal", gamma=0.5).gradient(np.zeros(2), zt.double().numpy())
    np.testing.assert_allclose(og, ref, rtol=1e-2, atol=float(torch.finfo(dt).tiny))


# ----------------------------------------------------------------------------------------------
# Quality Focal (mmdet, GFL)


@pytest.mark.parametrize("beta", [2.0, 1.0, 3.0])
def test_quality_focal_matches_mmdet(beta: float) -> None:
    rng = np.random.default_rng(2)
    n, c = 120, 5
    z = rng.normal(scale=3.0, size=(n, c))
    label = rng.integers(0, c + 1, size=n)  # c = background
    score = rng.uniform(0.0, 1.0, size=n)
    dense = np.zeros((n, c))
    fg = label < c
    dense[np.flatnonzero(fg), label[fg]] = score[fg]
    pv, pg = _value_grad(
        mmdet_quality_focal_loss, z, torch.tensor(label), torch.tensor(score), beta=beta
    )
    ov, og = _value_grad(_ours("quality_focal", beta=beta), z, torch.tensor(dense))
    np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE, atol=ATOL_VALUE)
    np.testing.assert_allclose(og, pg, rtol=RTOL_GRAD, atol=ATOL_GRAD)


# ----------------------------------------------------------------------------------------------
# Asymmetric loss (timm)


@pytest.mark.parametrize(
    ("gamma_pos", "gamma_neg", "clip"), [(0.0, 4.0, 0.05), (1.0, 4.0, 0.05), (1.0, 2.0, 0.0)]
)
def test_asymmetric_matches_timm(gamma_pos: float, gamma_neg: float, clip: float) -> None:
    """Same values and gradients on hard labels where timm's eps clamp is inactive (p > 1e-8:
    z > -18.4) and its focusing weight is differentiated (``disable_torch_grad_focal_loss``
    False)."""
    z, y = _binary_data(3, scale=4.0, soft=False)
    z = np.clip(z, -15.0, 15.0)
    yt = torch.tensor(y)
    params = {"gamma_pos": gamma_pos, "gamma_neg": gamma_neg, "clip": clip}
    pv, pg = _value_grad(timm_asymmetric_loss, z, yt, compute_dtype=torch.float64, **params)
    ov, og = _value_grad(_ours("asymmetric", **params), z, yt)
    # timm's log(1 - p) loses digits as p -> 1 (2.7e-12 relative measured at z = 13.3)
    np.testing.assert_allclose(ov, pv, rtol=1e-10, atol=ATOL_VALUE)
    np.testing.assert_allclose(og, pg, rtol=RTOL_GRAD, atol=ATOL_GRAD)
    # timm itself computes in float32: close where its 1 - p keeps digits (|z| < 8)
    small = np.abs(z) < 8.0
    pv32, pg32 = _value_grad(timm_asymmetric_loss, z, yt, **params)
    np.testing.assert_allclose(ov[small], pv32[small], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(og[small], pg32[small], rtol=2e-4, atol=1e-6)


def test_asymmetric_soft_labels_differ_from_timm() -> None:
    """Soft labels: losslab interpolates the two parts, ``y L+ + (1 - y) L-``; timm forms one
    weight ``(1 - p_t)^(gamma_pos y + gamma_neg (1 - y))`` from the mixed p_t and exponent and
    applies it to the mixed CE. They agree at y in {0, 1} only."""
    z = np.linspace(-4.0, 4.0, 9)
    params = {"gamma_pos": 0.0, "gamma_neg": 4.0, "clip": 0.05}
    for label, same in ((0.0, True), (1.0, True), (0.3, False)):
        yt = torch.full((9,), label, dtype=torch.float64)
        peer = timm_asymmetric_loss(torch.tensor(z), yt, compute_dtype=torch.float64, **params)
        ours = losslab.get_loss("asymmetric", **params).loss(np.full(9, label), z)
        assert np.allclose(ours, peer.numpy(), rtol=1e-12, atol=1e-14) is same


def test_asymmetric_timm_detached_focusing_weight() -> None:
    """``disable_torch_grad_focal_loss=True`` drops the P' l term of a negative's gradient
    (losslab differentiates the whole expression): timm's gradient is P l' only,
    ``p_m^gamma p (1 - p) / (1 - p + clip)``."""
    z = np.linspace(-2.5, 6.0, 40)  # p > clip: the active negatives
    y = torch.zeros(40, dtype=torch.float64)
    gamma, clip = 4.0, 0.05
    params = {"gamma_pos": 0.0, "gamma_neg": gamma, "clip": clip}
    _, pg = _value_grad(
        timm_asymmetric_loss,
        z,
        y,
        compute_dtype=torch.float64,
        disable_torch_grad_focal_loss=True,
        **params,
    )
    p = 1.0 / (1.0 + np.exp(-z))
    pm = p - clip
    np.testing.assert_allclose(pg, pm**gamma * p * (1 - p) / (1 - p + clip), rtol=1e-12)
    og = losslab.get_loss("asymmetric", **params).gradient(np.zeros(40), z)
    full = pg + gamma * pm ** (gamma - 1) * p * (1 - p) * -np.log1p(-pm)  # + P' l
    np.testing.assert_allclose(og, full, rtol=1e-12)
    assert np.all(og > pg)


def test_asymmetric_timm_eps_clamp_stops_hard_positives() -> None:
    """timm clamps p at eps = 1e-8 before the log: a positive with z < log(1e-8) = -18.42 gets
    the constant loss 18.42 and gradient 0; losslab's loss is softplus(-z) with gradient -1
    (gamma_pos = 0)."""
    z = np.array([-19.0, -30.0, -100.0])
    yt = torch.ones(3, dtype=torch.float64)
    pv, pg = _value_grad(timm_asymmetric_loss, z, yt, gamma_pos=0.0, compute_dtype=torch.float64)
    ov, og = _value_grad(_ours("asymmetric"), z, yt)
    np.testing.assert_allclose(pv, -np.log(1e-8), rtol=1e-15)
    np.testing.assert_array_equal(pg, 0.0)
    np.testing.assert_allclose(ov, np.logaddexp(0.0, -z), rtol=1e-15)
    np.testing.assert_allclose(og, -1.0, rtol=1e-8)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_asymmetric_clip_zero_timm_float32_stalls_hard_negatives(dtype: str) -> None:
    """With clip = 0 timm's negative term is log(max(1 - p, eps)) in float32: 1 - p rounds to
    0 for z >= 16.6, so a confidently wrong negative at z = 17 or 30 gets the capped loss
    18.42 and gradient 0 (measured; at z = 15 the loss is 14.84 for 15.00). losslab, also in
    float32 (float16 inputs are computed in float32), keeps softplus(z) and a gradient near 1
    (gamma_neg = 4: p^4 ~ 1)."""
    dt = getattr(torch, dtype)
    zt = torch.tensor([17.0, 30.0], dtype=dt)
    y = torch.zeros_like(zt)
    pv, pg = _value_grad(timm_asymmetric_loss, zt, y, gamma_pos=0.0, clip=0.0)
    ov, og = _value_grad(_ours("asymmetric", clip=0.0), zt, y)
    np.testing.assert_allclose(pv, -np.log(np.float32(1e-8)), rtol=1e-6)
    np.testing.assert_array_equal(pg, 0.0)
    truth = losslab.get_loss("asymmetric", clip=0.0).loss_gradient(np.zeros(2), zt.double().numpy())
    np.testing.assert_allclose(ov, truth[0], rtol=2 * float(torch.finfo(dt).eps))
    np.testing.assert_allclose(og, truth[1], rtol=2 * float(torch.finfo(dt).eps))
    np.testing.assert_allclose(truth[1], 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_asymmetric_gamma_neg_below_one_timm_gradient_is_nan(dtype: str) -> None:
    """gamma_neg < 1: for every easy negative (p <= clip, here z = -3 and -10) timm
    differentiates ``(1 - pt)^gamma_neg`` at 1 - pt = 0 and gets NaN (in its float32
    computation, whatever the input dtype); losslab gives value 0 and gradient 0."""
    dt = getattr(torch, dtype)
    zt = torch.tensor([-3.0, -10.0, 1.0], dtype=dt)
    y = torch.zeros_like(zt)
    _, pg = _value_grad(timm_asymmetric_loss, zt, y, gamma_pos=0.0, gamma_neg=0.5)
    ov, og = _value_grad(_ours("asymmetric", gamma_neg=0.5), zt, y)
    assert np.all(np.isnan(pg[:2]))
    assert np.isfinite(pg[2])
    np.testing.assert_array_equal(ov[:2], 0.0)
    np.testing.assert_array_equal(og[:2], 0.0)
    assert np.all(np.isfinite(og))


# ----------------------------------------------------------------------------------------------
# Poly-1 (timm, the paper's listing)


@pytest.mark.parametrize("epsilon", [1.0, -1.0, 2.0])
def test_poly1_matches_timm_poly_binary(epsilon: float) -> None:
    z, y = _binary_data(4)
    yt = torch.tensor(y)
    pv, pg = _value_grad(timm_poly_binary, z, yt, epsilon=epsilon)
    ov, og = _value_grad(_ours("poly1", epsilon=epsilon), z, yt)
    np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE, atol=1e-14)
    np.testing.assert_allclose(og, pg, rtol=RTOL_GRAD, atol=1e-15)


@pytest.mark.parametrize(
    ("gamma", "alpha", "epsilon"), [(2.0, 0.25, 1.0), (2.0, 0.25, -1.0), (0.5, 0.75, 2.0)]
)
def test_poly1_focal_matches_paper_listing(gamma: float, alpha: float, epsilon: float) -> None:
    z, y = _binary_data(5)
    yt = torch.tensor(y)
    pv, pg = _value_grad(paper_poly1_focal, z, yt, epsilon=epsilon, gamma=gamma, alpha=alpha)
    ov, og = _value_grad(_ours("poly1_focal", gamma=gamma, alpha=alpha, epsilon=epsilon), z, yt)
    np.testing.assert_allclose(ov, pv, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(og, pg, rtol=1e-9, atol=1e-14)


def test_poly1_focal_timm_applies_alpha_to_both_terms() -> None:
    """timm's ``PolyBinaryCrossEntropy(alpha=a)`` multiplies FL + eps m^(gamma+1) by alpha_t;
    losslab (the paper's listing) weighs FL only. timm's form is losslab's ``alpha=None`` with
    ``sample_weight = alpha_t``."""
    z, y = _binary_data(6, soft=False)
    a, gamma, eps = 0.25, 2.0, 1.0
    peer = timm_poly_binary(torch.tensor(z), torch.tensor(y), epsilon=eps, gamma=gamma, alpha=a)
    at = a * y + (1 - a) * (1 - y)
    unweighted = losslab.get_loss("poly1_focal", gamma=gamma, alpha=None, epsilon=eps)
    np.testing.assert_allclose(
        unweighted(y, z, sample_weight=at, reduction="none"),
        peer.numpy(),
        rtol=RTOL_VALUE,
        atol=ATOL_VALUE,
    )
    ours = losslab.get_loss("poly1_focal", gamma=gamma, alpha=a, epsilon=eps).loss(y, z)
    assert not np.allclose(ours, peer.numpy(), rtol=1e-3)


@pytest.mark.parametrize(
    ("dtype", "z"), [("float64", 100.0), ("float32", 17.0), ("float16", 10.0), ("bfloat16", 10.0)]
)
def test_poly1_focal_gamma_below_one_paper_gradient_is_nan(dtype: str, z: float) -> None:
    """gamma < 1 on a confident positive whose p rounds to 1: the listing differentiates
    ``(1 - pt)^gamma`` at 0 (NaN); losslab's gradient is finite. Measured thresholds: z >= 37
    (float64), 17 (float32), 10 (float16, bfloat16)."""
    dt = getattr(torch, dtype)
    zt = torch.tensor([z, 1.0], dtype=dt)
    y = torch.ones_like(zt)
    _, pg = _value_grad(paper_poly1_focal, zt, y, gamma=0.5)
    ov, og = _value_grad(_ours("poly1_focal", gamma=0.5), zt, y)
    assert np.isnan(pg[0])
    assert np.all(np.isfinite(og))
    assert np.all(np.isfinite(ov))


# ----------------------------------------------------------------------------------------------
# Softmax Poly-1 (optax, timm)


def _softmax_data(
    seed: int, n: int = 60, k: int = 5
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(n, k))
    idx = rng.integers(0, k, size=n)
    probs = rng.dirichlet(np.ones(k), size=n)
    return z, idx, probs


@pytest.mark.parametrize("epsilon", [1.0, 2.0, -1.0])
def test_softmax_poly1_matches_optax(jax: ModuleType, epsilon: float) -> None:
    import losslab.jax as lj

    jnp = jax.numpy
    z, idx, probs = _softmax_data(7)
    for labels in (np.eye(5)[idx], probs):
        zz, yy = jnp.asarray(z), jnp.asarray(labels)

        def peer(logits: Any, yy: Any = yy) -> Any:
            return optax.losses.poly_loss_cross_entropy(logits, yy, epsilon=epsilon)

        def ours(logits: Any, yy: Any = yy) -> Any:
            return lj.softmax_poly1(logits, yy, epsilon=epsilon)

        np.testing.assert_allclose(
            np.asarray(ours(zz)), np.asarray(peer(zz)), rtol=RTOL_VALUE, atol=ATOL_VALUE
        )
        pg = jax.grad(lambda v: jnp.sum(peer(v)))(zz)
        og = jax.jit(jax.grad(lambda v: jnp.sum(ours(v))))(zz)
        np.testing.assert_allclose(np.asarray(og), np.asarray(pg), rtol=1e-9, atol=1e-15)
    # class indices: losslab takes them directly
    np.testing.assert_allclose(
        np.asarray(lj.softmax_poly1(jnp.asarray(z), jnp.asarray(idx), epsilon=epsilon)),
        np.asarray(optax.losses.poly_loss_cross_entropy(z, np.eye(5)[idx], epsilon=epsilon)),
        rtol=RTOL_VALUE,
        atol=ATOL_VALUE,
    )


def test_softmax_poly1_matches_timm_poly_cross_entropy() -> None:
    z, idx, probs = _softmax_data(8)
    for target in (torch.tensor(idx), torch.tensor(probs)):
        pv, pg = _value_grad(timm_poly_cross_entropy, z, target, epsilon=2.0)
        ov, og = _value_grad(_ours("softmax_poly1", epsilon=2.0), z, target)
        np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE)
        np.testing.assert_allclose(og, pg, rtol=1e-9, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# log_loss(pos_weight) vs torch BCEWithLogitsLoss


@pytest.mark.parametrize("pos_weight", [3.0, 0.5])
def test_log_loss_pos_weight_matches_torch(pos_weight: float) -> None:
    z, y = _binary_data(9, scale=5.0)
    yt = torch.tensor(y)
    peer = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight), reduction="none")
    pv, pg = _value_grad(peer, z, yt)
    ov, og = _value_grad(_ours("log_loss", pos_weight=pos_weight), z, yt)
    np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE, atol=ATOL_VALUE)
    np.testing.assert_allclose(og, pg, rtol=RTOL_GRAD, atol=ATOL_GRAD)


@pytest.mark.parametrize(
    ("dtype", "z"), [("float64", -40.0), ("float32", -15.0), ("float16", -15.0), ("bfloat16", -5.0)]
)
def test_log_loss_pos_weight_torch_loses_small_losses(dtype: str, z: float) -> None:
    """torch's ``BCEWithLogitsLoss`` computes ``(1 - y) z + w (softplus(-z))``, which cancels
    for a negative with z < 0: it returns 0 where the loss is softplus(z) = e^z (measured:
    4.2e-18 at z = -40 in float64, 3.1e-7 at -15 in float32, 0.0067 at -5 in bfloat16; with
    or without pos_weight). losslab returns the true value rounded to the dtype; both
    gradients are finite and agree (torch's within 32 ulps: it forms 1 - p for positives,
    measured 17 ulps off in float64 and 5 in float32 at z = 3)."""
    dt = getattr(torch, dtype)
    zt = torch.tensor([z, 3.0], dtype=dt)
    yt = torch.tensor([0.0, 1.0], dtype=dt)
    peer = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(3.0, dtype=dt), reduction="none")
    pv, pg = _value_grad(peer, zt, yt)
    ov, og = _value_grad(_ours("log_loss", pos_weight=3.0), zt, yt)
    truth = losslab.get_loss("log_loss", pos_weight=3.0).loss(
        yt.double().numpy(), zt.double().numpy()
    )
    assert pv[0] == 0.0
    assert truth[0] > 0.0
    info = torch.finfo(dt)
    np.testing.assert_allclose(ov, truth, rtol=float(info.eps), atol=float(info.tiny) * 2)
    np.testing.assert_allclose(og, pg, rtol=float(info.eps) * 32, atol=float(info.tiny))


# ----------------------------------------------------------------------------------------------
# softmax_cross_entropy with probability targets vs F.cross_entropy and optax


def test_softmax_ce_probability_targets_matches_torch() -> None:
    z, _, probs = _softmax_data(10)
    smoothed = 0.9 * np.eye(5)[np.arange(60) % 5] + 0.1 / 5
    partial = 0.7 * probs  # rows summing to 0.7: the gradient is p sum(y) - y
    for target in (probs, smoothed, partial):
        tt = torch.tensor(target)
        pv, pg = _value_grad(F.cross_entropy, z, tt, reduction="none")
        ov, og = _value_grad(lt.SoftmaxCrossEntropy(reduction="none"), z, tt)
        np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE)
        np.testing.assert_allclose(og, pg, rtol=1e-9, atol=1e-15)
        core = losslab.get_loss("softmax_cross_entropy").loss_gradient(target, z)
        np.testing.assert_allclose(core[0], pv, rtol=RTOL_VALUE)
        np.testing.assert_allclose(core[1], pg, rtol=1e-9, atol=1e-15)
    # torch's label_smoothing=s is the target (1 - s) onehot + s / K
    idx = torch.tensor(np.arange(60) % 5)
    pv = F.cross_entropy(torch.tensor(z), idx, label_smoothing=0.1, reduction="none").numpy()
    ours = losslab.get_loss("softmax_cross_entropy").loss(smoothed, z)
    np.testing.assert_allclose(ours, pv, rtol=RTOL_VALUE, atol=ATOL_VALUE)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_softmax_ce_probability_targets_agrees_with_torch_in_low_precision(dtype: str) -> None:
    """Same values and gradients as ``F.cross_entropy`` at logits up to 1e4 in low precision
    (both go through log_softmax; measured identical, finite where the true value is)."""
    dt = getattr(torch, dtype)
    z = torch.tensor([[0.0, 0.0, 0.0], [1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [100.0, -100.0, 50.0]])
    y = torch.tensor([[0.2, 0.5, 0.3]] * 4)
    pv, pg = _value_grad(F.cross_entropy, z.to(dt), y.to(dt), reduction="none")
    ov, og = _value_grad(lt.SoftmaxCrossEntropy(reduction="none"), z.to(dt), y.to(dt))
    tol = float(torch.finfo(dt).eps) * 4
    np.testing.assert_allclose(ov, pv, rtol=tol)
    np.testing.assert_allclose(og, pg, rtol=tol, atol=tol)


def test_softmax_ce_probability_targets_matches_optax(jax: ModuleType) -> None:
    import losslab.jax as lj

    jnp = jax.numpy
    z, _, probs = _softmax_data(11)
    zz, yy = jnp.asarray(z), jnp.asarray(probs)
    np.testing.assert_allclose(
        np.asarray(lj.softmax_cross_entropy(zz, yy)),
        np.asarray(optax.losses.softmax_cross_entropy(zz, yy)),
        rtol=RTOL_VALUE,
    )
    pg = jax.grad(lambda v: jnp.sum(optax.losses.softmax_cross_entropy(v, yy)))(zz)
    og = jax.grad(lambda v: jnp.sum(lj.softmax_cross_entropy(v, yy)))(zz)
    np.testing.assert_allclose(np.asarray(og), np.asarray(pg), rtol=1e-9, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# Distribution Focal Loss (mmdet, ultralytics, optax)


def _dfl_data(
    seed: int, n: int = 30, k: int = 16
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, k - 1.02, size=(n, 4))  # inside every peer's range
    t[0, :2] = [3.0, 0.0]
    return t, rng.normal(scale=2.0, size=(n * 4, k))


def test_dfl_matches_mmdet_torch() -> None:
    """DFL = losslab.torch.SoftmaxCrossEntropy against two_hot: mmdet's values and autograd
    gradients."""
    t, z = _dfl_data(12)
    tt = torch.tensor(t.reshape(-1))
    pv, pg = _value_grad(mmdet_distribution_focal_loss, z, tt)
    module = lt.SoftmaxCrossEntropy(reduction="none")
    ov, og = _value_grad(lambda v, target: module(v, target), z, two_hot(tt, 16))
    np.testing.assert_allclose(ov, pv, rtol=RTOL_VALUE)
    np.testing.assert_allclose(og, pg, rtol=1e-9, atol=1e-15)


def test_dfl_ultralytics_conventions() -> None:
    """ultralytics' DFLoss(reg_max=K): the mean over the 4 sides of losslab's DFL on targets
    clamped to K - 1.01. At t = K - 1 it trains towards 14.99 (bins 14 and 15 with weights
    0.01 and 0.99), losslab's two_hot towards bin 15 alone."""
    from losslab.targets import distribution_focal_loss

    t, z = _dfl_data(13)
    k = 16
    peer = ultralytics_dfl(torch.tensor(z), torch.tensor(t), k).numpy()[:, 0]
    ours = distribution_focal_loss(t, z.reshape(-1, 4, k), reduction="none").mean(axis=1)
    np.testing.assert_allclose(ours, peer, rtol=RTOL_VALUE)
    top = np.full((1, 4), k - 1.0)
    zt = z[:4].reshape(1, 4, k)
    peer_top = ultralytics_dfl(torch.tensor(z[:4]), torch.tensor(top), k).numpy()[0, 0]
    ours_top = distribution_focal_loss(top, zt, reduction="none").mean()
    ours_clamped = distribution_focal_loss(top - 0.01, zt, reduction="none").mean()
    np.testing.assert_allclose(peer_top, ours_clamped, rtol=RTOL_VALUE)
    assert abs(peer_top - ours_top) > 1e-4


def test_dfl_matches_optax_integer_labels(jax: ModuleType) -> None:
    """JAX: losslab.jax.softmax_cross_entropy on two_hot against the left/right sum of optax's
    integer-label cross-entropy, values and gradients under jit."""
    import losslab.jax as lj

    jnp = jax.numpy
    t, z = _dfl_data(14)
    tt, zz = jnp.asarray(t.reshape(-1)), jnp.asarray(z)
    left = jnp.floor(tt).astype(jnp.int32)

    def peer(v: Any) -> Any:
        ce = optax.losses.softmax_cross_entropy_with_integer_labels
        return jnp.sum(ce(v, left) * (left + 1 - tt) + ce(v, left + 1) * (tt - left))

    def ours(v: Any) -> Any:
        return jnp.sum(lj.softmax_cross_entropy(v, two_hot(tt, 16)))

    pv, pg = jax.value_and_grad(peer)(zz)
    ov, og = jax.jit(jax.value_and_grad(ours))(zz)
    np.testing.assert_allclose(float(ov), float(pv), rtol=RTOL_VALUE)
    np.testing.assert_allclose(np.asarray(og), np.asarray(pg), rtol=1e-9, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# Class-balanced weights vs timm's compute_class_weights(method="effective_num")


def timm_effective_num(pos_counts: Any, beta: float) -> np.ndarray[Any, Any]:
    """timm ``compute_class_weights(..., method='effective_num')`` (timm/loss/class_weights.py):
    counts clamped to >= 1, (1 - beta) / (1 - beta^n) divided by its mean; float32 output."""
    counts = torch.as_tensor(pos_counts, dtype=torch.float64).clamp(min=1.0)
    weights = (1.0 - beta) / (1.0 - beta**counts)
    return (weights / weights.mean()).to(torch.float32).numpy()


def test_class_balanced_weights_match_timm() -> None:
    """Mean 1 (timm) is sum K (the paper, losslab). timm treats a class with no samples as one
    sample; losslab raises instead."""
    counts = [12000, 900, 40, 3, 1]
    for beta in (0.9, 0.999, 0.9999):
        np.testing.assert_allclose(
            class_balanced_weights(counts, beta), timm_effective_num(counts, beta), rtol=1e-6
        )
    with pytest.raises(ValueError, match="no samples"):
        class_balanced_weights([5, 0], 0.99)
    assert np.all(np.isfinite(timm_effective_num([5, 0], 0.99)))
