"""``confusion_cells_by_item``: the confusion matrix split by image, from the same matching, so the images
behind a cell of a stored matrix can be opened. Property tests on random scenes (crowd boxes, cross-class
confusions, misses, false positives, several thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from quality_gates.boxes import BoxSet
from quality_gates.detection import confusion_cells_by_item, confusion_matrix, match_detections


def _scene(seed: int, *, k: int = 4, n_img: int = 25) -> tuple[BoxSet, BoxSet]:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(40, 120))
    gt = BoxSet(
        rng.integers(0, n_img, m) * 7 + 3,  # sparse, non-contiguous image ids
        rng.integers(0, k, m),
        rng.uniform(0, 60, (m, 4)) + np.array([0, 0, 6, 6]),
        iscrowd=rng.random(m) < 0.08,
    )
    src = rng.integers(0, m, 2 * m)
    n_dt = len(src) + 30
    image = np.concatenate([gt.image[src], rng.integers(0, n_img, 30) * 7 + 3])  # plus stray predictions
    category = np.concatenate([np.where(rng.random(len(src)) < 0.7, gt.category[src], rng.integers(0, k, len(src))),
                               rng.integers(0, k, 30)])  # fmt: skip
    xywh = np.concatenate([gt.xywh[src] + rng.normal(0, 3, (len(src), 4)), rng.uniform(0, 60, (30, 4)) + 6])
    xywh[:, 2:] = np.maximum(xywh[:, 2:], 1.0)
    return gt, BoxSet(image, category, xywh, score=np.round(rng.random(n_dt), 2))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("threshold", [0.0, 0.4, 0.8])
def test_cells_by_item_sum_to_the_confusion_matrix(seed: int, threshold: float) -> None:
    k = 4
    gt, dt = _scene(seed, k=k)
    match = match_detections(gt, dt, num_classes=k, iou=0.5)
    cm = confusion_matrix(gt, dt, num_classes=k, iou=0.5, threshold=threshold, match=match)
    by_item = confusion_cells_by_item(gt, dt, num_classes=k, iou=0.5, threshold=threshold, match=match)
    assert cm.sum() > 0 and len(by_item) > 1
    total = np.zeros_like(cm)
    for img, cells in by_item.items():
        assert cells.shape == (k + 1, k + 1) and cells.sum() > 0  # only images with a count are listed
        assert img in set(gt.image.tolist()) | set(dt.image.tolist())
        total += cells
    assert total.tolist() == cm.tolist()
    # An image's cells are the matrix of that image alone: matching never crosses images.
    for img in list(by_item)[:5]:
        alone = confusion_matrix(
            gt.select(np.flatnonzero(gt.image == img)), dt.select(np.flatnonzero(dt.image == img)),
            num_classes=k, iou=0.5, threshold=threshold,
        )  # fmt: skip
        assert by_item[img].tolist() == alone.tolist()


def test_cells_by_item_by_hand() -> None:
    # image 1: a car found as a car, a truck taken for a car; image 2: a stray truck prediction, a missed car.
    gt = BoxSet(np.array([1, 1, 2]), np.array([0, 1, 0]), np.array([[0, 0, 10, 10], [50, 50, 10, 10], [0, 0, 5, 5.0]]))
    dt = BoxSet(
        np.array([1, 1, 2]), np.array([0, 0, 1]), np.array([[0, 0, 10, 10], [50, 50, 10, 10], [30, 30, 5, 5.0]]),
        score=np.array([0.9, 0.8, 0.7]),
    )  # fmt: skip
    cells = confusion_cells_by_item(gt, dt, num_classes=2)
    assert cells[1].tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert cells[2].tolist() == [[0, 0, 1], [0, 0, 0], [0, 1, 0]]
    high = confusion_cells_by_item(gt, dt, num_classes=2, threshold=0.75)  # the stray truck (0.7) drops out
    assert {img: c.tolist() for img, c in high.items()} == {
        1: [[1, 0, 0], [1, 0, 0], [0, 0, 0]],
        2: [[0, 0, 1], [0, 0, 0], [0, 0, 0]],
    }
