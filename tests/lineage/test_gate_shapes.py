"""Label rows as the gates see them (lineage.gates.shapes): masks equal pycocotools' rasterisation, keypoint
objects keep their points and box, class sets keep one row per image, and bad stored geometry is named."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lineage.errors import InvalidInput
from lineage.gates.shapes import box_set, class_labels, keypoint_set, mask_set, pose_sigmas
from lineage.models import Annotation, Item
from lineage.schema_classes import KeypointSpec, LabelClass

mask_api = pytest.importorskip("pycocotools.mask")

INDEX = {"cat": 0, "dog": 1}
ITEMS = {1: Item(id=1, dataset_version_id=1, uri="a.png", sha256="a", size_bytes=1, width=40, height=30)}
ITEMS[2] = Item(id=2, dataset_version_id=1, uri="b.png", sha256="b", size_bytes=1, width=40, height=30)
IMAGE_OF = {1: 10, 2: 11}


def row(n: int, geometry_type: str, geometry: Any = None, *, item: int = 1, cat: str = "cat", **kw: Any) -> Annotation:
    return Annotation(
        id=n, dataset_version_id=1, item_id=item, category=cat, geometry_type=geometry_type, geometry=geometry,
        kind="human", annotator_id=1, **kw,
    )  # fmt: skip


def test_polygons_and_rles_become_the_masks_pycocotools_makes() -> None:
    poly = [[2.5, 3.0, 20.2, 4.1, 12.0, 25.7], [30.0, 2.0, 38.0, 2.0, 38.0, 9.0, 30.0, 9.0]]
    bitmap = np.zeros((30, 40), dtype=np.uint8)
    bitmap[5:20, 10:30] = 1
    encoded = mask_api.encode(np.asfortranarray(bitmap))
    rle = {"size": [30, 40], "counts": encoded["counts"].decode()}
    rows = [
        row(1, "polygon", {"polygons": poly}, x=2.5, y=2.0, w=35.5, h=23.7),
        row(2, "mask", {"rle": rle}, cat="dog", x=10, y=5, w=20, h=15, attributes={"coco": {"iscrowd": 1, "area": 7}}),
        row(3, "box", None, x=1, y=1, w=2, h=2),  # not a mask: left out
        row(4, "polygon", {"polygons": poly}, cat="bird"),  # unknown class: left out
    ]
    gt = mask_set(rows, IMAGE_OF, INDEX, ITEMS, scored=False)
    assert len(gt) == 2 and gt.boxes.category.tolist() == [0, 1] and gt.boxes.image.tolist() == [10, 10]
    expected = mask_api.merge(mask_api.frPyObjects(poly, 30, 40))
    assert gt.masks[0].to_string() == expected["counts"].decode()
    assert gt.masks[1].to_string() == rle["counts"]
    # Ground truth keeps the COCO area and crowd flag an import gave; otherwise the mask's area.
    assert gt.boxes.areas.tolist() == [float(mask_api.area(expected)), 7.0]
    assert gt.boxes.crowd.tolist() == [False, True]
    dt = mask_set([row(5, "mask", {"rle": rle}, confidence=0.8)], IMAGE_OF, INDEX, ITEMS, scored=True)
    assert dt.boxes.score.tolist() == [0.8] and dt.boxes.areas.tolist() == [300.0]


@pytest.mark.parametrize(
    ("geometry_type", "geometry", "says"),
    [
        ("polygon", {"polygons": [[1, 2, 3, 4]]}, "at least 3"),
        ("polygon", {"polygons": [[1, 2, 3, float("nan"), 5, 6]]}, "label 9"),
        ("mask", {"rle": {"size": [31, 40], "counts": "0"}}, "label 9"),
        ("mask", None, "label 9"),
    ],
)
def test_bad_stored_geometry_is_named(geometry_type: str, geometry: Any, says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        mask_set([row(9, geometry_type, geometry)], IMAGE_OF, INDEX, ITEMS, scored=False)
    assert says in str(err.value)


def test_a_mask_on_an_item_of_unknown_size_is_refused() -> None:
    items = {1: Item(id=1, dataset_version_id=1, uri="a.png", sha256="a", size_bytes=1)}
    with pytest.raises(InvalidInput, match="image size is unknown"):
        mask_set([row(1, "polygon", {"polygons": [[1, 1, 5, 1, 5, 5]]})], IMAGE_OF, INDEX, items, scored=False)


def test_keypoint_objects_keep_points_box_and_area() -> None:
    pts = [[5.0, 6.0, 2], [0.0, 0.0, 0], [9.0, 9.5, 1]]
    rows = [
        row(1, "keypoints", {"keypoints": pts}, x=4, y=5, w=6, h=5),
        row(2, "keypoints", {"keypoints": pts}, x=4, y=5, w=6, h=5, item=2, attributes={"coco": {"area": 12.5}}),
    ]
    gt = keypoint_set(rows, IMAGE_OF, INDEX, 3, scored=False)
    assert gt.keypoints.shape == (2, 3, 3) and gt.keypoints[0].tolist() == pts
    assert gt.boxes.xywh[0].tolist() == [4, 5, 6, 5] and gt.boxes.areas.tolist() == [30.0, 12.5]
    assert gt.labelled.tolist() == [2, 2]
    with pytest.raises(InvalidInput, match="label 1: expected 4 finite"):
        keypoint_set(rows, IMAGE_OF, INDEX, 4, scored=False)


def test_pose_sigmas_must_be_one_vector() -> None:
    spec = KeypointSpec(names=("a", "b"), sigmas=(0.1, 0.2))
    one = [LabelClass(name="p", geometry="keypoints", keypoints=spec)]
    assert pose_sigmas(one) == (0.1, 0.2)
    other = LabelClass(name="q", geometry="keypoints", keypoints=KeypointSpec(names=("a", "b"), sigmas=(0.1, 0.3)))
    with pytest.raises(InvalidInput, match="2 different lists"):
        pose_sigmas([*one, other])


def test_class_labels_one_row_per_image_with_scores() -> None:
    rows = [
        row(1, "tag", cat="cat", confidence=0.9),
        row(2, "tag", cat="dog", item=2, confidence=0.6),
        row(3, "tag", cat="cat", item=2, confidence=0.3),
    ]
    multi = class_labels(rows, IMAGE_OF, INDEX, multi_label=True, scored=True)
    assert multi.items == (10, 11)
    assert multi.indicator.tolist() == [[True, False], [True, True]]
    assert multi.scores is not None and multi.scores.tolist() == [[0.9, 0.0], [0.3, 0.6]]
    with pytest.raises(InvalidInput, match=r"labels \[2, 3\] give one item 2 classes"):
        class_labels(rows, IMAGE_OF, INDEX, multi_label=False, scored=False)
    single = class_labels(rows[:2], IMAGE_OF, INDEX, multi_label=False, scored=False)
    assert single.indicator.tolist() == [[True, False], [False, True]] and single.scores is None


def test_boxes_keep_their_coco_area_and_crowd() -> None:
    rows = [
        row(1, "box", x=1, y=2, w=3, h=4, attributes={"coco": {"area": 5, "iscrowd": 1}}),
        row(2, "box", x=0, y=0, w=2, h=2),
    ]
    gt = box_set(rows, IMAGE_OF, INDEX, scored=False)
    assert gt.areas.tolist() == [5.0, 4.0] and gt.crowd.tolist() == [True, False]
