"""Boxes, matching and threshold metrics: the empty case first, then hand-computed scenes, then properties
checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from quality_gates.boxes import BoxSet, box_iou, pair_iou
from quality_gates.detection import confusion_matrix, match_detections
from quality_gates.matching import match_by_iou, match_greedy, rank_in_groups


def test_empty_inputs() -> None:
    e = BoxSet.empty()
    m = match_greedy(e, BoxSet.empty(scored=True))
    assert m.dt_match.shape == (1, 0) and m.gt_match.shape == (1, 0)
    dm = match_detections(e, BoxSet.empty(scored=True), num_classes=2)
    c = dm.counts(0.5)
    assert c.tp.tolist() == [0, 0] and c.fn.tolist() == [0, 0]
    assert np.isnan(c.overall()["precision"]) and np.isnan(c.overall()["recall"])
    assert confusion_matrix(e, BoxSet.empty(scored=True), num_classes=2).sum() == 0
    assert [len(cv.thresholds) for cv in dm.curves()] == [0, 0]
    assert box_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)


def test_iou_hand_values() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 10.0, 10.0], [10.0, 10.0, 5.0, 5.0], [0.0, 0.0, 10.0, 10.0], [2.0, 2.0, 2.0, 2.0]])
    iou = box_iou(a, b)[0]
    assert iou.tolist() == pytest.approx([50 / 150, 0.0, 1.0, 4 / 100])
    crowd = box_iou(a, b, crowd=np.array([False, False, False, True]))[0]
    assert crowd[3] == pytest.approx(4 / 100)  # union = detection area
    assert box_iou(b[3:], a, crowd=np.array([True]))[0, 0] == pytest.approx(1.0)


def test_iou_is_bit_identical_to_pycocotools() -> None:
    from pycocotools import mask

    rng = np.random.default_rng(0)
    d = np.round(rng.uniform(0, 50, (40, 4)), 2)
    g = np.round(rng.uniform(0, 50, (30, 4)), 2)
    crowd = rng.random(30) < 0.2
    ref = mask.iou(d.tolist(), g.tolist(), crowd.astype(np.uint8).tolist())
    assert np.array_equal(box_iou(d, g, crowd=crowd), ref)
    assert np.array_equal(pair_iou(d[:30], g, crowd=crowd), np.diag(ref[:30]))


def test_rank_in_groups() -> None:
    group = np.array([2, 1, 2, 1, 2])
    score = np.array([0.1, 0.5, 0.9, 0.5, 0.9])
    assert rank_in_groups(group, score).tolist() == [2, 0, 0, 1, 1]
    assert rank_in_groups(group).tolist() == [0, 0, 1, 1, 2]


def test_greedy_takes_predictions_by_score_and_ties_to_the_later_box() -> None:
    gt = BoxSet([1, 1], [0, 0], [[0, 0, 10, 10], [0, 0, 10, 10]])
    dt = BoxSet([1, 1, 1], [0, 0, 0], [[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 5, 5]], score=[0.2, 0.9, 0.5])
    m = match_greedy(gt, dt, iou_thresholds=(0.5, 0.95))
    # The 0.9 prediction goes first and takes the later of two equally good boxes (COCOeval's rule).
    assert m.dt_match[0].tolist() == [0, 1, -1]
    # At IoU 0.95 the shifted box (IoU 0.818) no longer matches, so only the exact one does.
    assert m.dt_match[1].tolist() == [1, -1, -1]
    assert m.gt_match[0].tolist() == [0, 1]
    assert m.dt_iou[0, 1] == pytest.approx(90 / 110)


def test_greedy_is_classwise_unless_told_otherwise() -> None:
    gt = BoxSet([1], [0], [[0, 0, 10, 10]])
    dt = BoxSet([1], [1], [[0, 0, 10, 10]], score=[0.9])
    assert match_greedy(gt, dt).dt_match[0].tolist() == [-1]
    assert match_greedy(gt, dt, classwise=False).dt_match[0].tolist() == [0]
    # Boxes on other images never match.
    assert match_greedy(gt, BoxSet([2], [0], [[0, 0, 10, 10]], score=[0.9])).dt_match[0].tolist() == [-1]


def test_crowd_box_absorbs_several_predictions() -> None:
    gt = BoxSet([1, 1], [0, 0], [[0, 0, 100, 100], [0, 0, 10, 10]], iscrowd=[True, False])
    dt = BoxSet([1, 1, 1], [0, 0, 0], [[0, 0, 10, 10], [20, 20, 10, 10], [40, 40, 10, 10]], score=[0.9, 0.8, 0.7])
    m = match_greedy(gt, dt)
    # The regular box wins over the crowd region; the other two fall into the crowd region.
    assert m.dt_match[0].tolist() == [1, 0, 0]


def _sequential_iou_greedy(gt: BoxSet, dt: BoxSet, thr: float) -> np.ndarray:
    iou = box_iou(dt.xywh, gt.xywh)
    same = (dt.image[:, None] == gt.image[None, :]) & (dt.category[:, None] == gt.category[None, :])
    pairs = [(-iou[d, g], d, g) for d in range(len(dt)) for g in range(len(gt)) if same[d, g] and iou[d, g] >= thr]
    out = np.full(len(dt), -1)
    used: set[int] = set()
    for _, d, g in sorted(pairs):
        if out[d] < 0 and g not in used:
            out[d] = g
            used.add(g)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_match_by_iou_equals_sequential_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 60, 50
    gt = BoxSet(
        rng.integers(0, 4, m), rng.integers(0, 2, m), np.round(rng.uniform(0, 30, (m, 4)) + np.array([0, 0, 5, 5]), 0)
    )
    dt = BoxSet(
        rng.integers(0, 4, n), rng.integers(0, 2, n), np.round(rng.uniform(0, 30, (n, 4)) + np.array([0, 0, 5, 5]), 0)
    )
    got, gt_match, _ = match_by_iou(gt, dt, iou_threshold=0.3)
    assert got.tolist() == _sequential_iou_greedy(gt, dt, 0.3).tolist()
    assert all(gt_match[got[d]] == d for d in np.flatnonzero(got >= 0))


def small_scene() -> tuple[BoxSet, BoxSet]:
    """Image 1: a cat found (0.9), a dog called cat (0.8), a spurious dog (0.3).
    Image 2: a cat found twice (0.7 and a duplicate at 0.6), a dog missed."""
    gt = BoxSet(
        [1, 1, 2, 2],
        [0, 1, 0, 1],
        [[0, 0, 10, 10], [20, 20, 10, 10], [0, 0, 10, 10], [40, 40, 10, 10]],
    )
    dt = BoxSet(
        [1, 1, 1, 2, 2],
        [0, 0, 1, 0, 0],
        [[0, 0, 10, 10], [20, 20, 10, 10], [60, 60, 5, 5], [1, 0, 10, 10], [0, 1, 10, 10]],
        score=[0.9, 0.8, 0.3, 0.7, 0.6],
    )
    return gt, dt


def test_counts_precision_recall_by_hand() -> None:
    gt, dt = small_scene()
    dm = match_detections(gt, dt, num_classes=2)
    c = dm.counts(0.0)
    # cat: TP 2 (0.9, 0.7), FP 2 (dog-as-cat 0.8, duplicate 0.6), FN 0; dog: TP 0, FP 1, FN 2.
    assert c.tp.tolist() == [2, 0] and c.fp.tolist() == [2, 1] and c.fn.tolist() == [0, 2]
    assert c.precision.tolist() == pytest.approx([0.5, 0.0])
    assert c.recall.tolist() == pytest.approx([1.0, 0.0])
    o = c.overall()
    assert (o["precision"], o["recall"], o["f1"]) == pytest.approx((2 / 5, 2 / 4, 4 / 9))
    c65 = dm.counts(0.65)
    assert c65.tp.tolist() == [2, 0] and c65.fp.tolist() == [1, 0] and c65.fn.tolist() == [0, 2]
    assert np.isnan(c65.precision[1])  # no dog prediction at or above 0.65


def test_confusion_matrix_by_hand() -> None:
    gt, dt = small_scene()
    cm = confusion_matrix(gt, dt, num_classes=2)
    # rows: gt cat, gt dog, background; columns: pred cat, pred dog, background
    assert cm.tolist() == [[2, 0, 0], [1, 0, 1], [1, 1, 0]]
    cm_hi = confusion_matrix(gt, dt, num_classes=2, threshold=0.65)
    assert cm_hi.tolist() == [[2, 0, 0], [1, 0, 1], [0, 0, 0]]
    assert cm_hi.sum(axis=1)[:2].tolist() == [2, 2]  # every ground-truth box lands in one cell


def test_pr_curve_and_f1_optimal_threshold_by_hand() -> None:
    gt, dt = small_scene()
    cat = match_detections(gt, dt, num_classes=2).curves()[0]
    assert cat.thresholds.tolist() == [0.9, 0.8, 0.7, 0.6]
    assert cat.precision.tolist() == pytest.approx([1.0, 0.5, 2 / 3, 0.5])
    assert cat.recall.tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])
    assert cat.best_threshold == 0.7 and cat.best_f1 == pytest.approx(0.8)


@pytest.mark.parametrize("seed", range(3))
def test_one_matching_equals_rematching_at_every_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_img, k = 30, 3
    m = 120
    gt = BoxSet(rng.integers(0, n_img, m), rng.integers(0, k, m), rng.uniform(0, 40, (m, 4)) + np.array([0, 0, 8, 8]))
    src = rng.integers(0, m, 200)
    dt = BoxSet(
        gt.image[src],
        np.where(rng.random(200) < 0.8, gt.category[src], rng.integers(0, k, 200)),
        gt.xywh[src] + rng.normal(0, 2, (200, 4)),
        score=np.round(rng.random(200), 2),
    )
    dm = match_detections(gt, dt, num_classes=k)
    curves = dm.curves()
    for thr in (0.0, 0.25, 0.5, 0.77, 0.99):
        again = match_detections(gt, dt.at_threshold(thr), num_classes=k).counts(0.0)
        once = dm.counts(thr)
        assert once.tp.tolist() == again.tp.tolist() and once.fp.tolist() == again.fp.tolist()
    # The F1-optimal threshold is the brute-force best over all distinct scores.
    for c in range(k):
        scores = np.unique(dt.score[dt.category == c])
        f1 = [dm.counts(s).f1[c] for s in scores]
        best = max(f1)
        assert curves[c].best_f1 == pytest.approx(best)
        assert curves[c].best_threshold == max(s for s, f in zip(scores, f1, strict=True) if f == best)


def test_per_class_thresholds() -> None:
    gt, dt = small_scene()
    dm = match_detections(gt, dt, num_classes=2)
    c = dm.counts_per_class_threshold(np.array([0.85, np.nan]))
    assert c.tp.tolist() == [1, 0] and c.fp.tolist() == [0, 0]


def test_boxset_validation() -> None:
    with pytest.raises(ValueError, match="shape"):
        BoxSet([1], [0], [[0, 0, 1]])
    with pytest.raises(ValueError, match="length"):
        BoxSet([1, 2], [0], [[0, 0, 1, 1]])
    b = BoxSet([1, 2], [0, 1], [[0, 0, 2, 3], [0, 0, 1, 1]], score=[0.2, 0.9])
    assert b.areas.tolist() == [6.0, 1.0]
    assert len(b.at_threshold(0.5)) == 1
    assert b.content_hash() != b.select(np.array([1, 0])).content_hash()
