"""From model output to contract rows, the golden matching of every task and the classify uncertainty (pure:
no model, no database)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from inference.active import probability_entropy, probability_margin
from inference.golden_match import TaskContext, match_golden
from inference.outputs import KEYPOINT_VISIBLE, label_shape, scored
from inference.tiny import ShapeBox, ShapesSpec, TinyTrainConfig
from inference.tiny_tasks import shape_mask, shape_outline, task_spec, tiny_task_key, triangle_keypoints
from inference.types import Detections, ItemResult
from lineage.labels.geometry import check_geometry
from quality_gates.masks import mask_iou_matrix
from quality_gates.rle import Rle
from quality_gates.segmentation import rle_from_polygons

CLASSES = {0: "square", 1: "circle", 2: "triangle"}


def _det(**extra: Any) -> Detections:
    base = Detections(
        np.array([[10.0, 10.0, 40.0, 40.0], [60.0, 60.0, 30.0, 30.0]]), np.array([0.9, 0.4]), np.array([0, 7])
    )
    return replace(base, **extra)


def test_box_tasks_score_mapped_classes_and_classify_offers_top1_or_every_class() -> None:
    found = scored(_det(), task="segment", class_map=CLASSES)
    assert found.names == ["square"] and found.rows.tolist() == [0] and found.scores.tolist() == [0.9]
    probs = replace(Detections.empty(), probs=np.array([0.1, 0.7, 0.2]))
    single = scored(probs, task="classify", class_map=CLASSES)
    assert single.names == ["circle"] and single.scores.tolist() == [0.7] and single.rows.tolist() == [1]
    multi = scored(probs, task="classify", class_map=CLASSES, multi_label=True)
    assert multi.names == ["square", "circle", "triangle"] and multi.scores.tolist() == [0.1, 0.7, 0.2]
    assert scored(probs, task="classify", class_map={0: "square", 2: "triangle"}).names == ["triangle"]
    assert len(scored(Detections.empty(), task="classify", class_map=CLASSES).scores) == 0


def test_each_geometry_is_stored_as_the_contract_says_and_passes_lineage_validation() -> None:
    outline = np.array([[12.0, 12.0], [49.994, 12.0], [49.994, 48.0], [-3.0, 48.0]])
    mask = np.zeros((100, 120), dtype=bool)
    mask[20:30, 5:45] = True
    kp = np.array([[[30.0, 10.0, 0.9], [10.0, 50.0, KEYPOINT_VISIBLE], [130.0, 50.0, 0.2]], np.zeros((3, 3))])
    det = _det(polygons=(outline, np.zeros((0, 2))), rles=(Rle.from_mask(mask), Rle.from_mask(mask)), keypoints=kp)
    size = {"width": 120, "height": 100}
    poly = label_shape(det, 0, geometry_type="polygon", **size)
    assert poly is not None and poly.geometry == {"polygons": [[12.0, 12.0, 49.99, 12.0, 49.99, 48.0, 0.0, 48.0]]}
    assert (poly.x, poly.y, poly.w, poly.h) == (0.0, 12.0, 49.99, 36.0)  # clipped at 0, rounded to 0.01 px
    assert label_shape(det, 1, geometry_type="polygon", **size) is None  # no outline: cannot be stored
    m = label_shape(det, 0, geometry_type="mask", **size)
    assert m is not None and m.geometry == {"rle": Rle.from_mask(mask).to_coco()} and (m.x, m.y, m.w, m.h) == (
        5.0, 20.0, 40.0, 10.0,
    )  # fmt: skip
    assert label_shape(det, 0, geometry_type="mask", width=100, height=100) is None  # size differs from the item
    k = label_shape(det, 0, geometry_type="keypoints", keypoint_count=3, **size)
    assert k is not None and k.geometry == {"keypoints": [[30.0, 10.0, 2], [10.0, 50.0, 2], [120.0, 50.0, 1]]}
    assert (k.x, k.y, k.w, k.h) == (10.0, 10.0, 40.0, 40.0)
    assert label_shape(det, 0, geometry_type="keypoints", keypoint_count=4, **size) is None
    tag = label_shape(det, 0, geometry_type="tag", **size)
    assert tag is not None and (tag.geometry_type, tag.x, tag.geometry) == ("tag", None, None)
    for shape in (poly, m, k, tag):
        problem = check_geometry(
            shape.geometry_type, shape.x, shape.y, shape.w, shape.h, shape.geometry, image_size=(120, 100),
            keypoint_count=3,
        )  # fmt: skip
        assert problem is None, (shape, problem)


def test_the_generated_shapes_labels_agree_with_their_pixels() -> None:
    n = 160
    for category in ("square", "circle", "triangle"):
        box = ShapeBox(category, 20.0, 30.0, 50.0, 50.0)
        drawn = Rle.from_mask(shape_mask(box, n, n))
        outline = rle_from_polygons([shape_outline(box)], n, n)
        assert mask_iou_matrix([outline], [drawn])[0, 0] > 0.9, category
        assert drawn.bbox.tolist() == [20.0, 30.0, 50.0, 50.0] or category == "triangle"
    assert triangle_keypoints(ShapeBox("triangle", 20.0, 30.0, 50.0, 50.0)) == [
        [45.0, 30.0, 2.0], [20.0, 80.0, 2.0], [70.0, 80.0, 2.0],
    ]  # fmt: skip
    keys = {tiny_task_key(t, task_spec(t), TinyTrainConfig()) for t in ("segment", "pose", "classify")}
    assert len(keys) == 3
    assert tiny_task_key("pose", ShapesSpec(), TinyTrainConfig()) != tiny_task_key(
        "pose", task_spec("pose"), TinyTrainConfig()
    )


@pytest.mark.parametrize("probs", [[0.2, 0.5, 0.3], [1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.6, 0.4]])
def test_classify_uncertainty_is_the_normalised_entropy_and_the_top_two_margin(probs: list[float]) -> None:
    p = np.array(probs)
    assert probability_entropy(p) == pytest.approx(scipy_entropy(p, base=2) / np.log2(len(p)))
    top = np.sort(p)[::-1]
    assert probability_margin(p) == pytest.approx(1 - (top[0] - top[1]))
    assert probability_entropy([]) == 0.0 and probability_margin([0.9]) == 0.0


@dataclass
class _Row:
    item_id: int
    category: str
    geometry_type: str
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    geometry: Any = None
    attributes: Any = None


def _probs(item: int, p: list[float]) -> ItemResult:
    return ItemResult(item, replace(Detections.empty(), probs=np.array(p)))


def test_classify_golden_matching_counts_by_hand() -> None:
    names = ["circle", "square", "triangle"]
    ctx = TaskContext(task="classify", class_map={0: "circle", 1: "square", 2: "triangle"}, names=names)
    truth = [_Row(1, "circle", "tag"), _Row(2, "square", "tag"), _Row(3, "square", "tag")]
    results = [_probs(1, [0.8, 0.1, 0.1]), _probs(2, [0.6, 0.3, 0.1]), _probs(3, [0.1, 0.7, 0.2]), _probs(4, [1, 0, 0])]
    gm = match_golden(truth, results, ctx, iou=0.5)
    assert gm.items == (1, 2, 3)  # item 4 has no golden tag: not measured
    assert gm.item.tolist() == [1, 2, 3] and gm.match.category.tolist() == [0, 0, 1]
    assert gm.match.matched.tolist() == [True, False, True] and gm.match.n_gt.tolist() == [1, 2, 0]
    counts = gm.match.counts(0.5)
    assert counts.tp.tolist() == [1, 1, 0] and counts.fp.tolist() == [1, 0, 0] and counts.fn.tolist() == [0, 1, 0]


def test_mask_and_keypoint_golden_matching() -> None:
    n = 100
    box = ShapeBox("square", 10.0, 10.0, 40.0, 40.0)
    ctx = TaskContext(task="segment", class_map={0: "square"}, names=["square"], geometry={"square": "mask"})
    truth = [_Row(1, "square", "mask", geometry={"rle": Rle.from_mask(shape_mask(box, n, n)).to_coco()})]
    good = shape_mask(box, n, n)
    half = np.zeros((n, n), dtype=bool)
    half[10:30, 10:50] = True  # IoU 0.5 exactly: matches at 0.5, not at 0.6
    det = Detections(
        np.array([[10.0, 10, 40, 40], [10, 10, 40, 20]]), np.array([0.9, 0.95]), np.array([0, 0]),
        rles=(Rle.from_mask(good), Rle.from_mask(half)),
    )  # fmt: skip
    gm = match_golden(truth, [ItemResult(1, det)], ctx, iou=0.6)
    assert gm.match.matched.tolist() == [True, False] and gm.match.n_gt.tolist() == [1]
    assert match_golden(truth, [ItemResult(1, det)], ctx, iou=0.5).match.matched.tolist() == [False, True]
    tri = ShapeBox("triangle", 10.0, 10.0, 40.0, 40.0)
    pts = np.array(triangle_keypoints(tri))
    ctx = TaskContext(task="pose", class_map={0: "triangle"}, names=["triangle"], sigmas={"triangle": (0.1,) * 3})
    truth = [_Row(1, "triangle", "keypoints", 10.0, 10.0, 40.0, 40.0, {"keypoints": pts.tolist()})]
    off = pts.copy()
    off[:, :2] += 30.0
    det = Detections(
        np.array([[10.0, 10, 40, 40], [40, 40, 40, 40]]), np.array([0.6, 0.9]), np.array([0, 0]),
        keypoints=np.stack([pts, off]),
    )  # fmt: skip
    gm = match_golden(truth, [ItemResult(1, det)], ctx, iou=0.5)
    assert gm.match.matched.tolist() == [True, False] and gm.match.gt_matched_by.tolist() == [0]
