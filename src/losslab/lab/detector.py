"""A small RetinaNet-style one-stage detector in PyTorch for the lab, and its evaluation.

Anchors on two feature levels, IoU matching (Lin et al. 2017: IoU >= 0.5 foreground, < 0.4
background, in between ignored), box coding, a convolutional backbone with a two-level feature
pyramid and shared classification (sigmoid, prior-initialised bias) and box subnets, training
with ``losslab.torch`` losses normalised by the number of positive anchors, decoding, a batched
greedy NMS, and COCO AP through pycocotools. Imports torch; :mod:`losslab.lab.detection` imports
this module only when the experiment runs.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

import losslab.torch as lt

from .shapes import CLASSES, ShapeImages

__all__ = [
    "IGNORE",
    "AnchorSpec",
    "Detections",
    "Detector",
    "Targets",
    "TrainConfig",
    "anchors",
    "batched_nms",
    "box_iou",
    "coco_eval",
    "decode_boxes",
    "detect",
    "encode_boxes",
    "match_anchors",
    "targets_for",
    "train_detector",
]

#: Classification target of anchors between the IoU thresholds (``ignore_index`` of the loss).
IGNORE = -1.0
#: Clamp of the predicted log-scale offsets when decoding (as Detectron: log(1000 / 16)).
_MAX_DWH = math.log(1000.0 / 16)


@dataclass(frozen=True)
class AnchorSpec:
    """Anchors per feature level: sizes ``base_factor * stride * scales`` (pixels, the side of
    a square anchor of the same area) times ``aspects`` (h / w)."""

    strides: tuple[int, ...] = (8, 16)
    base_factor: float = 2.0
    scales: tuple[float, ...] = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    aspects: tuple[float, ...] = (0.5, 1.0, 2.0)

    @property
    def per_position(self) -> int:
        """Anchors per feature-map position, A = len(scales) * len(aspects)."""
        return len(self.scales) * len(self.aspects)


def anchors(spec: AnchorSpec, image_size: int) -> torch.Tensor:
    """All anchors of a square image, (N, 4) float32 ``(x0, y0, x1, y1)``, ordered by level,
    then row, column, scale, aspect: the order of :meth:`Detector.forward`'s outputs.
    Raises ValueError if ``image_size`` is not a multiple of every stride."""
    out = []
    for stride in spec.strides:
        if image_size % stride:
            raise ValueError(f"image_size {image_size} is not a multiple of stride {stride}")
        n = image_size // stride
        c = (torch.arange(n, dtype=torch.float64) + 0.5) * stride
        cy, cx = torch.meshgrid(c, c, indexing="ij")
        wh = []
        for s in spec.scales:
            side = spec.base_factor * stride * s
            for a in spec.aspects:
                wh.append((side / math.sqrt(a), side * math.sqrt(a)))
        w = torch.tensor([p[0] for p in wh], dtype=torch.float64)
        h = torch.tensor([p[1] for p in wh], dtype=torch.float64)
        cx_, cy_ = cx.reshape(-1, 1), cy.reshape(-1, 1)
        level = torch.stack([cx_ - w / 2, cy_ - h / 2, cx_ + w / 2, cy_ + h / 2], dim=-1)
        out.append(level.reshape(-1, 4))
    return torch.cat(out).to(torch.float32)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of boxes a (N, 4) and b (M, 4), ``(x0, y0, x1, y1)``; returns (N, M).
    Boxes of zero area have IoU 0 with everything."""
    area_a = (a[:, 2] - a[:, 0]).clamp_min(0) * (a[:, 3] - a[:, 1]).clamp_min(0)
    area_b = (b[:, 2] - b[:, 0]).clamp_min(0) * (b[:, 3] - b[:, 1]).clamp_min(0)
    lt_ = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt_).clamp_min(0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def match_anchors(
    anchor_boxes: torch.Tensor,
    gt_boxes: torch.Tensor,
    *,
    positive: float = 0.5,
    negative: float = 0.4,
    low_quality: bool = True,
) -> torch.Tensor:
    """Assign each anchor to a ground-truth box: returns (N,) int64, the index of the matched
    box for foreground anchors (IoU >= ``positive``), -1 for background (max IoU < ``negative``)
    and -2 for ignored anchors (in between), as RetinaNet (Lin et al. 2017, section 4).

    ``low_quality``: also make foreground, for each box, the anchors with its highest IoU (if
    above 0), so that every object has a positive anchor (Detectron's and torchvision's
    ``allow_low_quality_matches``). Shapes: anchor_boxes (N, 4), gt_boxes (M, 4).
    Raises ValueError unless 0 < negative <= positive <= 1.
    """
    if not 0.0 < negative <= positive <= 1.0:
        raise ValueError(
            f"need 0 < negative <= positive <= 1, got negative={negative}, positive={positive}"
        )
    n = anchor_boxes.shape[0]
    if gt_boxes.shape[0] == 0:
        return torch.full((n,), -1, dtype=torch.int64)
    iou = box_iou(anchor_boxes, gt_boxes)  # (N, M)
    best, idx = iou.max(dim=1)
    out = torch.where(best >= positive, idx, torch.full_like(idx, -2))
    out = torch.where(best < negative, torch.full_like(idx, -1), out)
    if low_quality:
        per_gt = iou.max(dim=0).values  # (M,)
        hit = (iou == per_gt[None, :]) & (per_gt[None, :] > 0)
        rows, cols = torch.nonzero(hit, as_tuple=True)
        out[rows] = cols  # an anchor best for two boxes keeps the later one, as torchvision
    return out


def encode_boxes(gt: torch.Tensor, anc: torch.Tensor) -> torch.Tensor:
    """Box regression targets (R-CNN coding, weights 1): ``((gx - ax) / aw, (gy - ay) / ah,
    log(gw / aw), log(gh / ah))`` from centres and sizes; gt, anc (N, 4) -> (N, 4)."""
    aw, ah = anc[:, 2] - anc[:, 0], anc[:, 3] - anc[:, 1]
    ax, ay = anc[:, 0] + aw / 2, anc[:, 1] + ah / 2
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    gx, gy = gt[:, 0] + gw / 2, gt[:, 1] + gh / 2
    return torch.stack([(gx - ax) / aw, (gy - ay) / ah, torch.log(gw / aw), torch.log(gh / ah)], 1)


def decode_boxes(deltas: torch.Tensor, anc: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`encode_boxes` (log sizes clamped at log(1000/16)); (N, 4) -> (N, 4)."""
    aw, ah = anc[:, 2] - anc[:, 0], anc[:, 3] - anc[:, 1]
    ax, ay = anc[:, 0] + aw / 2, anc[:, 1] + ah / 2
    cx, cy = ax + deltas[:, 0] * aw, ay + deltas[:, 1] * ah
    w = aw * torch.exp(deltas[:, 2].clamp(max=_MAX_DWH))
    h = ah * torch.exp(deltas[:, 3].clamp(max=_MAX_DWH))
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


@dataclass(frozen=True)
class Targets:
    """Training targets of a set of images: ``cls`` (n, N, K) float32 one-hot class targets,
    0 for background and :data:`IGNORE` in every column of an ignored anchor; ``box`` (n, N, 4)
    regression targets (0 where not foreground); ``positive`` (n, N) bool."""

    cls: torch.Tensor
    box: torch.Tensor
    positive: torch.Tensor


def targets_for(data: ShapeImages, anchor_boxes: torch.Tensor, **match_kw: Any) -> Targets:
    """Match every image's anchors (:func:`match_anchors`) and build :class:`Targets`."""
    n, N, K = len(data), anchor_boxes.shape[0], len(CLASSES)
    cls = torch.zeros((n, N, K), dtype=torch.float32)
    box = torch.zeros((n, N, 4), dtype=torch.float32)
    pos = torch.zeros((n, N), dtype=torch.bool)
    for i in range(n):
        gt = torch.as_tensor(data.boxes[i])
        lab = torch.as_tensor(data.labels[i])
        m = match_anchors(anchor_boxes, gt, **match_kw)
        fg = m >= 0
        cls[i, m == -2] = IGNORE
        cls[i, fg, lab[m[fg]]] = 1.0
        box[i, fg] = encode_boxes(gt[m[fg]], anchor_boxes[fg])
        pos[i] = fg
    return Targets(cls, box, pos)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


def _block(cin: int, cout: int) -> nn.Sequential:
    """3x3 stride-2 convolution, batch normalisation, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class Detector(nn.Module):
    """RetinaNet in miniature. Backbone: the input mapped from [0, 1] to about [-2, 2], four
    3x3 stride-2 convolutions with batch normalisation and ReLU (widths ``widths``), giving C3
    (stride 8) and C4 (stride 16); a feature pyramid P4 = 1x1(C4), P3 = 1x1(C3) +
    upsample(P4), both ``channels`` wide; on each level the shared
    classification subnet (``depth`` 3x3 conv + ReLU layers, then a 3x3 conv to A*K outputs) and
    box subnet (same, to A*4 outputs).

    Initialisation as the paper's section 4.1: subnet convolutions N(0, 0.01^2) with bias 0,
    the final classification bias ``losslab.torch.prior_bias(prior)`` (or 0 when ``prior`` is
    None). ``forward(x)``: x (B, 3, S, S) -> (logits (B, N, K), box deltas (B, N, 4)) in the
    order of :func:`anchors`.
    """

    #: Strides of the two feature levels (C3, C4).
    strides: tuple[int, int] = (8, 16)

    def __init__(
        self,
        num_classes: int,
        anchors_per_position: int,
        *,
        widths: Sequence[int] = (16, 32, 48, 64),
        channels: int = 48,
        depth: int = 1,
        prior: float | None = 0.01,
    ) -> None:
        super().__init__()
        w = list(widths)
        if len(w) != 4:
            raise ValueError(f"widths must have 4 entries, got {w}")
        self.K, self.A = int(num_classes), int(anchors_per_position)
        self.stem = nn.Sequential(_block(3, w[0]), _block(w[0], w[1]))
        self.c3 = _block(w[1], w[2])
        self.c4 = _block(w[2], w[3])
        self.lat3 = nn.Conv2d(w[2], channels, 1)
        self.lat4 = nn.Conv2d(w[3], channels, 1)

        def subnet(out: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [_conv(channels, channels), nn.ReLU()]
            layers.append(_conv(channels, out))
            return nn.Sequential(*layers)

        self.cls_head = subnet(self.A * self.K)
        self.box_head = subnet(self.A * 4)
        for head in (self.cls_head, self.box_head):
            for mod in head.modules():
                if isinstance(mod, nn.Conv2d) and mod.bias is not None:
                    nn.init.normal_(mod.weight, std=0.01)
                    nn.init.zeros_(mod.bias)
        last = self.cls_head[-1]
        assert isinstance(last, nn.Conv2d)
        assert last.bias is not None
        nn.init.constant_(last.bias, lt.prior_bias(prior) if prior is not None else 0.0)

    def _flat(self, t: torch.Tensor, k: int) -> torch.Tensor:
        b, _, h, w = t.shape
        return t.permute(0, 2, 3, 1).reshape(b, h * w * self.A, k)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c3 = self.c3(self.stem((x - 0.5) / 0.25))
        c4 = self.c4(c3)
        p4 = self.lat4(c4)
        p3 = self.lat3(c3) + nn.functional.interpolate(p4, scale_factor=2.0, mode="nearest")
        logits = [self._flat(self.cls_head(p), self.K) for p in (p3, p4)]
        deltas = [self._flat(self.box_head(p), 4) for p in (p3, p4)]
        return torch.cat(logits, 1), torch.cat(deltas, 1)


@dataclass(frozen=True)
class TrainConfig:
    """Training of one detector. ``loss``: "ce" (``losslab.torch.LogLoss``) or "focal"
    (``losslab.torch.FocalLoss``; gamma = 0 is alpha-balanced cross-entropy); ``alpha`` None
    means no weighting. Adam with learning rate ``lr``, linear warm-up over the first tenth of
    ``steps``, then cosine decay to 0,
    ``batch`` images per step; smooth-L1 box loss (Huber with ``huber_delta``, divided by it)."""

    loss: str = "focal"
    gamma: float = 2.0
    alpha: float | None = 0.25
    prior: float | None = 0.01
    steps: int = 300
    batch: int = 8
    lr: float = 2e-3
    huber_delta: float = 0.11
    widths: tuple[int, ...] = (16, 32, 48, 64)
    channels: int = 48
    depth: int = 1
    box_weight: float = 1.0
    grad_clip: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def classification_loss(cfg: TrainConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``f(logits, targets)`` -> the classification loss summed over kept anchors and classes
    and divided by the number of positive anchors (at least 1), RetinaNet's normalisation;
    targets equal to :data:`IGNORE` are ignored (``ignore_index``). Focal loss uses
    ``reduction="positives"``; ``LogLoss`` (not a focal loss) sums and divides explicitly."""
    if cfg.loss == "focal":
        fl = lt.FocalLoss(
            gamma=cfg.gamma, alpha=cfg.alpha, reduction="positives", ignore_index=IGNORE
        )
        return fl
    if cfg.loss == "ce":
        if cfg.alpha is not None:
            raise ValueError("loss='ce' takes no alpha; use loss='focal' with gamma=0")
        ce = lt.LogLoss(reduction="sum", ignore_index=IGNORE)

        def f(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            n_pos = (target == 1).sum().clamp_min(1).to(logits.dtype)
            out: torch.Tensor = ce(logits, target) / n_pos
            return out

        return f
    raise ValueError(f"loss must be 'ce' or 'focal', got {cfg.loss!r}")


def train_detector(
    cfg: TrainConfig,
    images: torch.Tensor,
    targets: Targets,
    spec: AnchorSpec,
    *,
    seed: int,
    on_step: Callable[[int], None] | None = None,
) -> tuple[Detector, dict[str, list[float]]]:
    """Train a :class:`Detector` on ``images`` (n, 3, S, S) with ``targets`` for the anchors of
    ``spec`` (its strides must be the detector's).

    The weights are initialised from ``torch.Generator().manual_seed(seed)`` (fork_rng keeps
    the global generator untouched) and batches drawn without replacement from
    ``numpy.random.default_rng(seed)``, so two configurations with the same seed start alike and
    see the same batches. Per step: classification loss (:func:`classification_loss`) plus
    ``box_weight`` times the smooth-L1 loss (``losslab.torch.HuberLoss(delta)`` / delta) summed
    over the foreground anchors' four coordinates and divided by their number (at least 1).
    Returns the model (eval mode) and the per-step ``cls``, ``box`` losses and ``n_pos``; a
    non-finite loss stops training (the remaining steps are recorded as nan).
    """
    if tuple(spec.strides) != Detector.strides:
        raise ValueError(f"spec.strides must be {Detector.strides}, got {spec.strides}")
    cls_loss = classification_loss(cfg)
    huber = lt.HuberLoss(delta=cfg.huber_delta, reduction="sum")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Detector(
            targets.cls.shape[-1],
            spec.per_position,
            widths=cfg.widths,
            channels=cfg.channels,
            depth=cfg.depth,
            prior=cfg.prior,
        )
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    warm = max(1, cfg.steps // 10)

    def schedule(t: int) -> float:
        if t < warm:
            return (t + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(t - warm, cfg.steps - warm) / (cfg.steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    rng = np.random.default_rng(seed)
    n = images.shape[0]
    order, pos = rng.permutation(n), 0
    hist: dict[str, list[float]] = {"cls": [], "box": [], "n_pos": []}
    model.train()
    for step in range(cfg.steps):
        if pos + cfg.batch > n:
            order, pos = rng.permutation(n), 0
        idx = torch.as_tensor(order[pos : pos + cfg.batch])
        pos += cfg.batch
        logits, deltas = model(images[idx])
        tc, tb, tp = targets.cls[idx], targets.box[idx], targets.positive[idx]
        l_cls = cls_loss(logits, tc)
        n_pos = tp.sum().clamp_min(1).to(deltas.dtype)
        l_box = huber(deltas[tp], tb[tp]) / (cfg.huber_delta * n_pos)
        loss = l_cls + cfg.box_weight * l_box
        if not bool(torch.isfinite(loss)):
            left = cfg.steps - step
            hist["cls"] += [math.nan] * left
            hist["box"] += [math.nan] * left
            hist["n_pos"] += [math.nan] * left
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        hist["cls"].append(float(l_cls.detach()))
        hist["box"].append(float(l_box.detach()))
        hist["n_pos"].append(float(tp.sum()))
        if on_step is not None:
            on_step(step)
    model.eval()
    return model, hist


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Greedy non-maximum suppression per class: visiting boxes by decreasing score, keep a box
    unless it overlaps an already kept box of the same class with IoU > ``iou_threshold``.
    Classes are separated by offsetting each class's boxes beyond every other's (torchvision's
    trick), so one IoU matrix serves them all. Shapes: boxes (N, 4), scores (N,), classes (N,)
    integer; returns the kept indices (int64) by decreasing score (ties: lower index first)."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64)
    offset = classes.to(boxes.dtype)[:, None] * (boxes.max() - boxes.min() + 1)
    b = boxes + offset
    order = torch.sort(scores, descending=True, stable=True).indices
    over = (box_iou(b[order], b[order]) > iou_threshold).numpy()
    n = order.shape[0]
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):  # greedy: a Python loop over booleans, no tensor op per box
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i]
    return order[torch.as_tensor(keep, dtype=torch.int64)]


@dataclass(frozen=True)
class Detections:
    """Detections of one image: boxes (D, 4), scores (D,), class indices (D,)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


@torch.no_grad()
def detect(
    model: Detector,
    images: torch.Tensor,
    anchor_boxes: torch.Tensor,
    *,
    score_threshold: float = 0.05,
    top_k: int = 1000,
    nms_iou: float = 0.5,
    max_detections: int = 100,
    batch: int = 32,
) -> list[Detections]:
    """Detections as the paper's inference (section 4.1): per image the (anchor, class) pairs
    with probability > ``score_threshold``, at most ``top_k`` of the highest, decoded, clipped
    to the image, NMS per class at ``nms_iou``, the ``max_detections`` best kept."""
    out: list[Detections] = []
    size = images.shape[-1]
    for start in range(0, images.shape[0], batch):
        logits, deltas = model(images[start : start + batch])
        prob = torch.sigmoid(logits)
        for p, d in zip(prob, deltas, strict=True):
            flat = p.reshape(-1)
            cand = torch.nonzero(flat > score_threshold).reshape(-1)
            if cand.numel() > top_k:
                cand = cand[torch.topk(flat[cand], top_k).indices]
            a_idx, c_idx = cand // p.shape[1], cand % p.shape[1]
            boxes = decode_boxes(d[a_idx], anchor_boxes[a_idx]).clamp(0, size)
            scores = flat[cand]
            keep = batched_nms(boxes, scores, c_idx, nms_iou)[:max_detections]
            out.append(
                Detections(
                    boxes[keep].numpy().astype(np.float64),
                    scores[keep].numpy().astype(np.float64),
                    c_idx[keep].numpy().astype(np.int64),
                )
            )
    return out


def coco_eval(
    gt_boxes: Sequence[np.ndarray],
    gt_labels: Sequence[np.ndarray],
    detections: Sequence[Detections],
    image_size: int,
) -> dict[str, float]:
    """COCO box AP (IoU 0.5:0.95), AP50, AP75 and AR@100 by ``pycocotools.cocoeval.COCOeval``.

    Ground truth: one COCO image per entry, boxes ``(x0, y0, x1, y1)`` converted to COCO's
    ``[x, y, w, h]``, category id = class index + 1, ``area = w * h``, ``iscrowd = 0``.
    Returns 0 for every metric when there is no detection at all (pycocotools refuses an empty
    result list). pycocotools' printing is swallowed.
    Raises ValueError when the three sequences differ in length.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not len(gt_boxes) == len(gt_labels) == len(detections):
        raise ValueError(
            "gt_boxes, gt_labels and detections must have one entry per image, got "
            f"{len(gt_boxes)}, {len(gt_labels)}, {len(detections)}"
        )
    images = [
        {"id": i + 1, "width": image_size, "height": image_size} for i in range(len(gt_boxes))
    ]
    anns: list[dict[str, Any]] = []
    for i, (b, lab) in enumerate(zip(gt_boxes, gt_labels, strict=True)):
        for box, c in zip(np.asarray(b, dtype=np.float64), lab, strict=True):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": [float(box[0]), float(box[1]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    cats = [{"id": k + 1, "name": name} for k, name in enumerate(CLASSES)]
    dets: list[dict[str, Any]] = []
    for i, d in enumerate(detections):
        for box, s, c in zip(d.boxes, d.scores, d.labels, strict=True):
            dets.append(
                {
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": [
                        float(box[0]),
                        float(box[1]),
                        float(box[2] - box[0]),
                        float(box[3] - box[1]),
                    ],
                    "score": float(s),
                }
            )
    names = ("AP", "AP50", "AP75", "AR100")
    if not dets:
        return dict.fromkeys(names, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": cats}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(x) for x in ev.stats]
    # stats: 0 AP, 1 AP50, 2 AP75, ..., 8 AR@100; -1 means "no ground truth" (treated as 0)
    return {n: max(stats[i], 0.0) for n, i in zip(names, (0, 1, 2, 8), strict=True)}
