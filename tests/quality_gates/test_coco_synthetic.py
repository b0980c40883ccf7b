"""COCO parsing names the record and field of every problem; the synthetic generator is seeded and
its quality knobs move the metrics the way they say."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from quality_gates.coco import check_same_categories, parse_coco_instances, parse_coco_results
from quality_gates.detection import match_detections
from quality_gates.errors import InputFormatError
from service.demo.synthetic import make_annotator, make_coco_gt, make_demo, make_predictions


def gt_dict() -> dict[str, Any]:
    return {
        "images": [{"id": 7, "width": 100, "height": 80}, {"id": 3, "width": 50, "height": 50}],
        "categories": [{"id": 5, "name": "dog"}, {"id": 2, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 5, "bbox": [1, 2, 3, 4], "area": 12.0, "iscrowd": 0},
            {"id": 2, "image_id": 3, "category_id": 2, "bbox": [0.5, 0, 10, 10], "iscrowd": 1},
        ],
    }


def test_parse_instances() -> None:
    ds = parse_coco_instances(gt_dict())
    assert ds.image_ids.tolist() == [3, 7] and ds.image_size.tolist() == [[50, 50], [100, 80]]
    assert ds.category_ids.tolist() == [2, 5] and ds.class_names == ("cat", "dog")
    assert ds.boxes.category.tolist() == [1, 0]  # indices into the sorted category ids
    assert ds.boxes.areas.tolist() == [12.0, 100.0]  # area field, else w*h
    assert ds.boxes.crowd.tolist() == [False, True]
    assert ds.categories == {2: "cat", 5: "dog"}


def test_parse_results_with_review_flags() -> None:
    ds = parse_coco_instances(gt_dict())
    res = parse_coco_results(
        [{"image_id": 3, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 0.5, "reviewed": True, "routed": 1},
         {"image_id": 7, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 1}],
        dataset=ds,
    )  # fmt: skip
    assert res.boxes.category.tolist() == [1, 0] and res.boxes.score is not None
    assert res.reviewed is not None and res.reviewed.tolist() == [True, False]
    assert res.routed is not None and res.routed.tolist() == [True, False]
    assert parse_coco_results([{"image_id": 3, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 0.5}],
                              dataset=ds).reviewed is None  # fmt: skip


def _set(d: Any, path: tuple[Any, ...], value: Any) -> Any:
    d = copy.deepcopy(d)
    target = d
    for p in path[:-1]:
        target = target[p]
    if value is _DEL:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


_DEL = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        (("images",), [], "images", "is empty"),
        (("categories",), [], "categories", "is empty"),
        (("annotations",), _DEL, "annotations", "missing"),
        (("annotations", 1, "bbox"), [0, 0, -1, 5], "annotations[1] (id 2).bbox", "width and height >= 0"),
        (("annotations", 1, "bbox"), [0, 0, 5], "annotations[1] (id 2).bbox", "expected [x, y, width, height]"),
        (("annotations", 0, "bbox"), [0, "a", 1, 1], "annotations[0] (id 1).bbox", "invalid box"),
        (("annotations", 0, "bbox"), [0, float("nan"), 1, 1], "annotations[0] (id 1).bbox", "finite"),
        (("annotations", 1, "image_id"), 99, "annotations[1] (id 2).image_id", "unknown image id 99"),
        (("annotations", 0, "category_id"), 4, "annotations[0] (id 1).category_id", "unknown category id 4"),
        (("annotations", 1, "id"), 1, "annotations[1].id", "duplicate id 1"),
        (("images", 1, "id"), 7, "images[1].id", "duplicate id 7"),
        (("images", 0, "width"), 0, "images[0] (id 7)", "positive"),
        (("images", 0, "id"), "7", "images[0] (id 7).id", "must be an integer"),
        (("categories", 1, "name"), "", "categories[1] (id 2).name", "non-empty string"),
        (("categories", 1, "name"), "dog", "categories", "used by two ids"),
        (("annotations", 0, "image_id"), _DEL, "annotations[0] (id 1).image_id", "missing"),
        (("annotations", 0, "area"), -3, "annotations[0] (id 1).area", "must be >= 0"),
    ],
)  # fmt: skip
def test_instances_errors_name_record_and_field(path: tuple[Any, ...], value: Any, field: str, fragment: str) -> None:
    with pytest.raises(InputFormatError) as info:
        parse_coco_instances(_set(gt_dict(), path, value), source="gt.json")
    assert info.value.source == "gt.json"
    assert info.value.field == field
    assert fragment in info.value.message


GOOD_DET = {"image_id": 3, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 0.5}


@pytest.mark.parametrize(
    ("records", "field", "fragment"),
    [
        ([], "", "is empty"),
        ({"annotations": []}, "", "COCO instances object"),
        ([GOOD_DET, dict(GOOD_DET, score=float("nan"))], "[1].score", "finite number >= 0"),
        ([GOOD_DET, dict(GOOD_DET, score=-0.1)], "[1].score", "finite number >= 0"),
        ([GOOD_DET, dict(GOOD_DET, score="high")], "[1].score", "must be a number"),
        ([dict(GOOD_DET, image_id=4)], "[0].image_id", "unknown image id 4"),
        ([GOOD_DET, dict(GOOD_DET, category_id=1)], "[1].category_id", "unknown category id 1"),
        ([{k: v for k, v in GOOD_DET.items() if k != "score"}], "[0].score", "missing"),
        ([dict(GOOD_DET, bbox=[0, 0, 1, -1])], "[0].bbox", "width and height >= 0"),
        ([GOOD_DET, "oops"], "[1]", "must be an object"),
    ],
)  # fmt: skip
def test_results_errors_name_record_and_field(records: Any, field: str, fragment: str) -> None:
    ds = parse_coco_instances(gt_dict())
    with pytest.raises(InputFormatError) as info:
        parse_coco_results(records, dataset=ds, source="pred.json")
    assert (info.value.source, info.value.field) == ("pred.json", field)
    assert fragment in info.value.message


def test_categories_must_agree() -> None:
    a = parse_coco_instances(gt_dict())
    check_same_categories(a, parse_coco_instances(gt_dict()), source="b.json", reference_name="gt.json")
    other = gt_dict()
    other["categories"][0]["name"] = "wolf"
    with pytest.raises(InputFormatError) as info:
        check_same_categories(a, parse_coco_instances(other), source="b.json", reference_name="gt.json")
    assert info.value.field == "categories (id 5)"
    assert "'wolf' here, 'dog' in gt.json" in info.value.message


def test_generator_is_seeded_and_valid() -> None:
    a, b = make_coco_gt(n_images=30, seed=4), make_coco_gt(n_images=30, seed=4)
    assert a == b and a != make_coco_gt(n_images=30, seed=5)
    ds = parse_coco_instances(a)
    assert len(ds.image_ids) == 30 and len(ds.class_names) == 10
    x, y, w, h = ds.boxes.xywh.T
    assert (x >= 0).all() and (x + w <= 640 + 1e-9).all() and (y + h <= 480 + 1e-9).all() and (w > 0).all()
    preds = make_predictions(a, seed=1)
    assert preds == make_predictions(a, seed=1)
    parse_coco_results(preds, dataset=ds)


def test_prediction_quality_knobs_move_the_metrics() -> None:
    gt = make_coco_gt(n_images=80, n_classes=4, seed=2)
    ds = parse_coco_instances(gt)

    def pr(**kw: Any) -> tuple[float, float]:
        res = parse_coco_results(make_predictions(gt, seed=3, **kw), dataset=ds)
        o = match_detections(ds.boxes, res.boxes, num_classes=4).counts(0.0).overall()
        return o["precision"], o["recall"]

    base_p, base_r = pr()
    assert pr(recall=0.5)[1] < base_r - 0.2
    assert pr(false_positives_per_image=5.0)[0] < base_p - 0.2


def test_annotators_disagree_and_can_skip_images() -> None:
    gt = make_coco_gt(n_images=50, n_classes=3, seed=6)
    careful = parse_coco_instances(make_annotator(gt, miss_rate=0.0, confusion=0.0, jitter=0.0,
                                                  extra_per_image=0.0))  # fmt: skip
    assert careful.boxes.xywh.tolist() == parse_coco_instances(gt).boxes.xywh.tolist()
    partial = parse_coco_instances(make_annotator(gt, image_fraction=0.5, seed=9))
    assert 10 < len(partial.image_ids) < 40
    assert np.isin(partial.boxes.image, partial.image_ids).all()


def test_demo_tells_its_story() -> None:
    d = make_demo(n_images=40, seed=1)
    assert sorted(d.annotators) == ["alice", "bob", "carol"]
    ds = parse_coco_instances(d.golden)
    good = parse_coco_results(d.good_predictions, dataset=ds)
    bad = parse_coco_results(d.bad_predictions, dataset=ds)
    k = len(ds.class_names)
    f1_good = match_detections(ds.boxes, good.boxes, num_classes=k).counts(0.5).overall()["f1"]
    f1_bad = match_detections(ds.boxes, bad.boxes, num_classes=k).counts(0.5).overall()["f1"]
    assert f1_good > 0.9 > 0.7 > f1_bad
    assert good.reviewed is not None and good.routed is not None
