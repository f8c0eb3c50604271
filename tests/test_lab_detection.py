"""The detector experiment's pieces: generated images, anchors, IoU matching, box coding, NMS,
COCO evaluation by pycocotools, training (the loss falls, same seed same numbers) and the
verdict on crafted results. Tiny configurations only: the whole file runs in seconds."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pycocotools")
pytest.importorskip("scipy")
pytest.importorskip("matplotlib")

from losslab.lab import detector as det  # noqa: E402
from losslab.lab import verdicts  # noqa: E402
from losslab.lab.shapes import CLASSES, shape_images  # noqa: E402


def _t(rows: list[list[float]]) -> Any:
    return torch.tensor(rows, dtype=torch.float32)


# --- data -----------------------------------------------------------------------------------
def test_shape_images_reproducible_and_boxes_inside() -> None:
    a = shape_images(np.random.default_rng([0, 1]), 6, size=64)
    b = shape_images(np.random.default_rng([0, 1]), 6, size=64)
    c = shape_images(np.random.default_rng([0, 2]), 6, size=64)
    assert a.images.shape == (6, 3, 64, 64)
    assert a.images.dtype == np.float32
    assert a.images.min() >= 0.0
    assert a.images.max() <= 1.0
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    for boxes, labels in zip(a.boxes, a.labels, strict=True):
        assert 1 <= len(boxes) <= 2
        assert boxes.shape == (len(labels), 4)
        assert np.all(boxes[:, :2] >= 0)
        assert np.all(boxes[:, 2:] <= 64)
        assert np.all(boxes[:, 2:] > boxes[:, :2])
        assert set(labels.tolist()) <= set(range(len(CLASSES)))


def test_shape_images_rejects_bad_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size"):
        shape_images(rng, 1, size=8)
    with pytest.raises(ValueError, match="max_objects"):
        shape_images(rng, 1, max_objects=0)
    with pytest.raises(ValueError, match="n must"):
        shape_images(rng, -1)


# --- anchors, IoU, matching, coding ---------------------------------------------------------
def test_anchors_count_order_and_shape() -> None:
    spec = det.AnchorSpec()
    anc = det.anchors(spec, 64)
    assert anc.shape == ((8 * 8 + 4 * 4) * 9, 4)
    # first anchor: level stride 8, position (0, 0), scale 1, aspect h/w = 0.5, area 16^2
    x0, y0, x1, y1 = anc[0].tolist()
    assert (x0 + x1) / 2 == pytest.approx(4.0)
    assert (y0 + y1) / 2 == pytest.approx(4.0)
    assert (x1 - x0) * (y1 - y0) == pytest.approx(16.0**2, rel=1e-5)
    assert (y1 - y0) / (x1 - x0) == pytest.approx(0.5, rel=1e-5)
    # the model's outputs have one row per anchor, in this order
    model = det.Detector(len(CLASSES), spec.per_position, widths=(4, 4, 4, 4), channels=4)
    logits, deltas = model(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, anc.shape[0], len(CLASSES))
    assert deltas.shape == (2, anc.shape[0], 4)
    with pytest.raises(ValueError, match="multiple of stride"):
        det.anchors(spec, 60)


def test_box_iou_hand_checked() -> None:
    a = _t([[0, 0, 10, 10], [0, 0, 0, 0]])
    b = _t([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    iou = det.box_iou(a, b)
    np.testing.assert_allclose(
        iou.numpy(), [[1.0, 50 / 150, 0.0], [0.0, 0.0, 0.0]], rtol=1e-6, atol=0
    )


def test_match_anchors_thresholds_and_low_quality() -> None:
    gt = _t([[0, 0, 10, 10], [50, 50, 60, 60]])
    anchors = _t(
        [
            [0, 0, 10, 10],  # IoU 1 with box 0 -> 0
            [0, 0, 10, 5],  # IoU 0.5 -> positive (>= 0.5)
            [0, 0, 10, 4.5],  # IoU 0.45 -> ignored
            [0, 0, 10, 3.9],  # IoU 0.39 -> background
            [100, 100, 110, 110],  # no overlap -> background
            [50, 50, 65, 65],  # IoU 100/225 = 0.44 with box 1, its best -> low-quality positive
        ]
    )
    m = det.match_anchors(anchors, gt)
    assert m.tolist() == [0, 0, -2, -1, -1, 1]
    m_strict = det.match_anchors(anchors, gt, low_quality=False)
    assert m_strict.tolist() == [0, 0, -2, -1, -1, -2]
    assert det.match_anchors(anchors, _t([]).reshape(0, 4)).tolist() == [-1] * 6
    with pytest.raises(ValueError, match="negative"):
        det.match_anchors(anchors, gt, positive=0.3, negative=0.4)


def test_targets_one_hot_and_ignored_rows() -> None:
    data = shape_images(np.random.default_rng([1, 1]), 3, size=64)
    spec = det.AnchorSpec()
    anc = det.anchors(spec, 64)
    tg = det.targets_for(data, anc)
    for i in range(3):
        m = det.match_anchors(anc, torch.as_tensor(data.boxes[i]))
        fg, ign = m >= 0, m == -2
        assert bool(fg.any())
        assert torch.equal(tg.positive[i], fg)
        assert bool((tg.cls[i][ign] == det.IGNORE).all())
        assert torch.equal(tg.cls[i][fg].sum(1), torch.ones(int(fg.sum())))
        lab = torch.as_tensor(data.labels[i])[m[fg]]
        assert torch.equal(tg.cls[i][fg].argmax(1), lab)
        assert bool((tg.cls[i][~fg & ~ign] == 0).all())
        # the box targets decode back to the matched ground truth
        dec = det.decode_boxes(tg.box[i][fg], anc[fg])
        torch.testing.assert_close(dec, torch.as_tensor(data.boxes[i])[m[fg]], rtol=0, atol=1e-3)


def test_encode_decode_round_trip() -> None:
    anc = _t([[0, 0, 16, 16], [10, 20, 50, 40]])
    gt = _t([[2, 3, 20, 15], [0, 10, 70, 60]])
    torch.testing.assert_close(det.decode_boxes(det.encode_boxes(gt, anc), anc), gt)
    assert det.encode_boxes(anc, anc).abs().max().item() == 0.0


# --- NMS ------------------------------------------------------------------------------------
def test_batched_nms() -> None:
    boxes = _t(
        [
            [0, 0, 10, 10],  # 0: best of class 0
            [1, 0, 11, 10],  # 1: IoU 0.82 with 0, same class -> suppressed
            [1, 0, 11, 10],  # 2: same box but class 1 -> kept
            [20, 20, 30, 30],  # 3: far away -> kept
            [5, 0, 15, 10],  # 4: IoU 1/3 with 0 -> kept at threshold 0.5
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95, 0.6])
    classes = torch.tensor([0, 0, 1, 0, 0])
    keep = det.batched_nms(boxes, scores, classes, 0.5)
    assert keep.tolist() == [3, 0, 2, 4]
    assert det.batched_nms(boxes, scores, classes, 0.3).tolist() == [3, 0, 2]
    assert det.batched_nms(boxes[:0], scores[:0], classes[:0], 0.5).numel() == 0


# --- COCO evaluation ------------------------------------------------------------------------
def _gt() -> tuple[list[np.ndarray], list[np.ndarray]]:
    data = shape_images(np.random.default_rng([2, 0]), 5, size=64)
    return data.boxes, data.labels


def test_coco_eval_ground_truth_as_detections_is_perfect() -> None:
    boxes, labels = _gt()
    dets = [
        det.Detections(b.astype(np.float64), np.linspace(0.9, 0.5, len(b)), lab)
        for b, lab in zip(boxes, labels, strict=True)
    ]
    res = det.coco_eval(boxes, labels, dets, 64)
    assert res["AP"] == pytest.approx(1.0)
    assert res["AP50"] == pytest.approx(1.0)
    assert res["AP75"] == pytest.approx(1.0)


def test_coco_eval_penalises_wrong_class_shifted_boxes_and_empty() -> None:
    boxes, labels = _gt()
    n_cls = len(CLASSES)
    wrong = [
        det.Detections(b.astype(np.float64), np.full(len(b), 0.9), (lab + 1) % n_cls)
        for b, lab in zip(boxes, labels, strict=True)
    ]
    assert det.coco_eval(boxes, labels, wrong, 64)["AP"] == pytest.approx(0.0)
    # boxes shifted by a fifth of their width: IoU (4/5) / (6/5) = 2/3, a match at the IoU
    # thresholds 0.5, 0.55, 0.6, 0.65 of COCO's ten (0.5:0.95), so AP = 4/10
    shifted = []
    for b, lab in zip(boxes, labels, strict=True):
        s = b.astype(np.float64).copy()
        w = s[:, 2] - s[:, 0]
        s[:, 0] += w / 5
        s[:, 2] += w / 5
        shifted.append(det.Detections(s, np.full(len(b), 0.9), lab))
    res = det.coco_eval(boxes, labels, shifted, 64)
    assert res["AP50"] == pytest.approx(1.0)
    assert res["AP75"] == pytest.approx(0.0)
    assert res["AP"] == pytest.approx(0.4)
    empty = [det.Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))] * len(boxes)
    assert det.coco_eval(boxes, labels, empty, 64) == dict.fromkeys(
        ("AP", "AP50", "AP75", "AR100"), 0.0
    )
    with pytest.raises(ValueError, match="one entry per image"):
        det.coco_eval(boxes, labels, empty[:-1], 64)


# --- training ---------------------------------------------------------------------------------
TINY = {"steps": 25, "batch": 4, "widths": (8, 8, 16, 16), "channels": 16, "lr": 3e-3}


@pytest.fixture(scope="module")
def tiny_data() -> tuple[Any, Any, Any, Any]:
    data = shape_images(np.random.default_rng([3, 0]), 16, size=64)
    spec = det.AnchorSpec()
    anc = det.anchors(spec, 64)
    return data, spec, anc, det.targets_for(data, anc)


def _train(tiny: Any, seed: int, **kw: Any) -> tuple[Any, dict[str, list[float]]]:
    data, spec, _, tg = tiny
    torch.set_num_threads(1)
    cfg = det.TrainConfig(**{**TINY, **kw})
    return det.train_detector(cfg, torch.as_tensor(data.images), tg, spec, seed=seed)


def test_prior_initialisation(tiny_data: Any) -> None:
    data, spec, _, _ = tiny_data
    torch.manual_seed(0)
    model = det.Detector(len(CLASSES), spec.per_position, widths=(8, 8, 16, 16), channels=16)
    model.eval()
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(data.images[:2]))
    p = torch.sigmoid(logits)
    # N(0, 0.01^2) head weights: every output starts near the prior 0.01
    assert abs(p.mean().item() - 0.01) < 0.002
    assert p.max().item() < 0.03


@pytest.mark.parametrize(("loss", "gamma", "alpha"), [("focal", 2.0, 0.25), ("ce", 0.0, None)])
def test_training_reduces_the_loss(
    tiny_data: Any, loss: str, gamma: float, alpha: float | None
) -> None:
    _, hist = _train(tiny_data, 0, loss=loss, gamma=gamma, alpha=alpha)
    cls = np.asarray(hist["cls"])
    assert np.all(np.isfinite(cls))
    assert cls[-5:].mean() < 0.75 * cls[:5].mean()
    box = np.asarray(hist["box"])
    assert box[-5:].mean() < box[:5].mean()


def test_same_seed_same_model(tiny_data: Any) -> None:
    m1, h1 = _train(tiny_data, 7, steps=8)
    m2, h2 = _train(tiny_data, 7, steps=8)
    _, h3 = _train(tiny_data, 8, steps=8)
    assert h1 == h2
    assert h1 != h3
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    _, _, anc, _ = tiny_data
    x = torch.as_tensor(tiny_data[0].images[:4])
    d1 = det.detect(m1, x, anc, score_threshold=0.0)
    d2 = det.detect(m2, x, anc, score_threshold=0.0)
    for a, b in zip(d1, d2, strict=True):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_classification_loss_normalises_by_positive_anchors() -> None:
    logits = torch.tensor([[[0.3, -1.0], [2.0, 0.1], [-0.5, 0.0]]])
    target = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [det.IGNORE, det.IGNORE]]])
    ce = det.classification_loss(det.TrainConfig(loss="ce", gamma=0.0, alpha=None))
    kept = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[0, :2], target[0, :2], reduction="sum"
    )
    torch.testing.assert_close(ce(logits, target), kept / 1.0)
    fl0 = det.classification_loss(det.TrainConfig(loss="focal", gamma=0.0, alpha=0.5))
    torch.testing.assert_close(fl0(logits, target), 0.5 * kept)
    with pytest.raises(ValueError, match="alpha"):
        det.classification_loss(det.TrainConfig(loss="ce", alpha=0.25))
    with pytest.raises(ValueError, match="loss must be"):
        det.classification_loss(det.TrainConfig(loss="hinge"))


# --- verdict ----------------------------------------------------------------------------------
def _results(diffs: list[float], share0: float = 0.05, share2: float = 0.4) -> dict[str, Any]:
    from losslab.lab.detection import _t_lower_bound

    summ = {
        g: {
            "positive_share_of_total_loss": s,
            "hardest_1pct_negatives_share": 0.5,
            "hardest_10pct_negatives_share": 0.9,
            "hardest_20pct_positives_share": 0.5,
        }
        for g, s in (("0.0", share0), ("0.5", 0.1), ("1.0", 0.2), ("2.0", share2))
    }
    return {
        "loss_distribution": {"summary": summ},
        "focal_minus_ce_ap": {
            "per_replicate": diffs,
            "mean": float(np.mean(diffs)),
            "lower_95": _t_lower_bound(diffs),
        },
        "best_focal_mean_ap": 0.3,
        "best_ce": {"key": "CE alpha=0.75"},
        "no_prior": {"CE alpha=0.75": {"ap_gain_from_prior": 0.05}},
    }


def test_detection_verdict_on_crafted_results() -> None:
    v = verdicts.verdict("detection", _results([0.03, 0.02, 0.025]))
    assert v["status"] == "held"
    # a gain that changes sign across seeds is not beyond the noise
    v = verdicts.verdict("detection", _results([0.05, -0.03, 0.04]))
    assert v["status"] == "partly"
    ids = {c["id"]: c["passed"] for c in v["checks"]}
    assert ids["focal_improves_ap"]
    assert not ids["focal_gain_beyond_noise"]
    # one seed: no uncertainty, the noise check fails
    r = _results([0.05])
    assert math.isnan(r["focal_minus_ce_ap"]["lower_95"])
    assert not {c["id"]: c["passed"] for c in verdicts.verdict("detection", r)["checks"]}[
        "focal_gain_beyond_noise"
    ]
    # no mechanism, no gain: failed
    bad = copy.deepcopy(_results([-0.02, -0.01, -0.03], share0=0.1, share2=0.1))
    bad["loss_distribution"]["summary"]["2.0"]["hardest_10pct_negatives_share"] = 0.5
    assert verdicts.verdict("detection", bad)["status"] == "failed"
