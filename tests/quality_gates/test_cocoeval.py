"""coco_evaluate must equal pycocotools' COCOeval (bbox, default params) to 1e-9, on purpose-built scenes."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest

from quality_gates.boxes import BoxSet
from quality_gates.cocoeval import COCO_STAT_NAMES, coco_evaluate
from service.demo.synthetic import make_coco_gt, make_predictions

from .helpers import boxes_from_coco, dets_from_coco, pycocotools_eval


def random_scene(
    seed: int,
    *,
    n_images: int = 40,
    n_classes: int = 5,
    crowd: float = 0.0,
    integer_coords: bool = False,
    dense: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Images with 0..11 boxes (some empty), a class that never has ground truth (the last), a class that
    never gets predictions (the first, beyond its true positives being dropped), ties in scores when
    ``integer_coords``, and > 100 detections per image and class when ``dense``."""
    rng = np.random.default_rng(seed)
    images = [{"id": 3 * i + 5, "width": 640, "height": 480} for i in range(n_images)]
    cats = [{"id": 2 * c + 1, "name": f"c{c}"} for c in range(n_classes)]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []

    def q(v: float) -> float:
        return float(round(v)) if integer_coords else float(v)

    for im in images:
        n_gt = 60 if dense else int(rng.integers(0, 12))
        for _ in range(n_gt):
            w, h = (q(v) for v in rng.uniform(2, 200, 2))
            x, y = q(rng.uniform(0, 400)), q(rng.uniform(0, 300))
            c = int(rng.integers(0, n_classes - 1))
            area = w * h * (rng.uniform(0.5, 1.0) if rng.random() < 0.3 else 1.0)
            is_crowd = int(rng.random() < crowd)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": cats[c]["id"],
                         "bbox": [x, y, w, h], "area": area, "iscrowd": is_crowd})  # fmt: skip
            for _ in range(int(rng.integers(0, 3))):
                j = rng.normal(0, max(w, h) / 40, 4)
                cc = c if rng.random() < 0.85 else int(rng.integers(1, n_classes))
                if cc == 0:
                    continue
                score = float(rng.integers(0, 5)) / 4 if integer_coords else float(rng.random())
                dets.append({"image_id": im["id"], "category_id": cats[cc]["id"],
                             "bbox": [q(x + j[0]), q(y + j[1]), q(max(1, w + j[2])), q(max(1, h + j[3]))],
                             "score": score})  # fmt: skip
        for _ in range(int(rng.integers(0, 4)) + (200 if dense else 0)):
            w, h = rng.uniform(2, 200, 2)
            dets.append({"image_id": im["id"], "category_id": cats[int(rng.integers(1, n_classes))]["id"],
                         "bbox": [q(rng.uniform(0, 400)), q(rng.uniform(0, 300)), q(w), q(h)],
                         "score": float(rng.integers(0, 20)) / 20 if dense else float(rng.random())})  # fmt: skip
    return {"images": images, "categories": cats, "annotations": anns}, dets


def ours(gt: dict[str, Any], dets: list[dict[str, Any]]) -> Any:
    g, cat_ids = boxes_from_coco(gt)
    d = dets_from_coco(dets, cat_ids) if dets else BoxSet.empty(scored=True)
    return coco_evaluate(g, d, num_classes=len(cat_ids), image_ids=[i["id"] for i in gt["images"]])


def assert_same(gt: dict[str, Any], dets: list[dict[str, Any]]) -> np.ndarray:
    ref = pycocotools_eval(gt, dets)
    res = ours(gt, dets)
    np.testing.assert_allclose(res.stats, np.array(ref.stats), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.recall, ref.eval["recall"], rtol=0, atol=1e-9)
    return np.asarray(res.stats)


def test_no_detections_gives_zero_ap_where_ground_truth_exists() -> None:
    gt, _ = random_scene(0, n_images=10)
    stats = assert_same(gt, [])
    assert stats[0] == 0.0


def test_no_ground_truth_boxes_gives_minus_one() -> None:
    gt = {"images": [{"id": 1, "width": 10, "height": 10}], "categories": [{"id": 1, "name": "a"}], "annotations": []}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [1.0, 1.0, 3.0, 3.0], "score": 0.5}]
    stats = assert_same(gt, dets)
    assert (stats == -1).all()


def test_perfect_detections_give_ap_one() -> None:
    gt = make_coco_gt(n_images=20, n_classes=3, seed=1)
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in gt["annotations"]]  # fmt: skip
    stats = assert_same(gt, dets)
    assert stats[0] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(12))
def test_random_scenes_equal_pycocotools(seed: int) -> None:
    gt, dets = random_scene(seed)
    assert_same(gt, dets)


@pytest.mark.parametrize("seed", range(4))
def test_score_and_iou_ties_equal_pycocotools(seed: int) -> None:
    gt, dets = random_scene(100 + seed, integer_coords=True)
    assert_same(gt, dets)


@pytest.mark.parametrize("seed", range(3))
def test_crowd_regions_equal_pycocotools(seed: int) -> None:
    gt, dets = random_scene(200 + seed, crowd=0.15)
    assert_same(gt, dets)


@pytest.mark.parametrize("seed", range(2))
def test_more_than_100_detections_per_image_equal_pycocotools(seed: int) -> None:
    gt, dets = random_scene(300 + seed, n_images=4, n_classes=3, dense=True)
    assert_same(gt, dets)


def test_synthetic_generator_data_equals_pycocotools() -> None:
    gt = make_coco_gt(n_images=150, n_classes=6, seed=4)
    assert_same(gt, make_predictions(gt, seed=5))


def test_image_ids_restrict_evaluation() -> None:
    gt, dets = random_scene(7, n_images=10)
    g, cat_ids = boxes_from_coco(gt)
    d = dets_from_coco(dets, cat_ids)
    keep = [i["id"] for i in gt["images"][:5]]
    sub_gt = dict(gt, images=gt["images"][:5], annotations=[a for a in gt["annotations"] if a["image_id"] in keep])
    sub_dets = [x for x in dets if x["image_id"] in keep]
    ref = pycocotools_eval(sub_gt, sub_dets)
    res = coco_evaluate(g, d, num_classes=len(cat_ids), image_ids=keep)
    np.testing.assert_allclose(res.stats, ref.stats, atol=1e-9)


def test_stats_dict_and_per_class_ap() -> None:
    gt, dets = random_scene(8)
    res = ours(gt, dets)
    assert list(res.stats_dict()) == list(COCO_STAT_NAMES)
    ap = res.per_class_ap()
    assert np.isnan(ap[-1])  # the last class never has ground truth
    assert np.nanmean(ap) == pytest.approx(res.stats[0], abs=1e-12)


def test_detections_need_scores_and_valid_classes() -> None:
    g = BoxSet([1], [0], [[0, 0, 2, 2]])
    with pytest.raises(ValueError, match="scores"):
        coco_evaluate(g, BoxSet([1], [0], [[0, 0, 2, 2]]), num_classes=1)
    with pytest.raises(ValueError, match="class indices"):
        coco_evaluate(g, BoxSet([1], [3], [[0, 0, 2, 2]], score=[0.5]), num_classes=1)


# pycocotools' id-0 rule: COCOeval.evaluateImg stores the matched ground-truth id in `dtm` (zero-initialised)
# and COCOeval.accumulate reads `dtm != 0` as "matched", so a match to the annotation with id 0 is a miss.


def ids_from_zero(gt: dict[str, Any], *, seed: int | None = None) -> dict[str, Any]:
    """The same scene with annotation ids 0..n-1: in file order, or shuffled by ``seed``."""
    n = len(gt["annotations"])
    ids = list(range(n)) if seed is None else np.random.default_rng(seed).permutation(n).tolist()
    return dict(gt, annotations=[dict(a, id=i) for a, i in zip(gt["annotations"], ids, strict=True)])


def ids_shifted(gt: dict[str, Any], by: int) -> dict[str, Any]:
    return dict(gt, annotations=[dict(a, id=a["id"] + by) for a in gt["annotations"]])


def pycocotools_id_zero_matches(ev: Any) -> int:
    """Detections matched to a regular ground-truth box with id 0, read from COCOeval's per-image records
    (``gtMatches`` holds the detection id, which is never 0)."""
    hit: set[int] = set()
    for e in ev.evalImgs:
        if e is None or 0 not in e["gtIds"]:
            continue
        g = e["gtIds"].index(0)
        if not e["gtIgnore"][g]:
            hit.update(int(d) for d in e["gtMatches"][:, g] if d > 0)
    return len(hit)


def faster_coco_eval_stats(gt: dict[str, Any], dets: list[dict[str, Any]]) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    with warnings.catch_warnings():  # it warns, rightly, about annotation id 0
        warnings.simplefilter("ignore", UserWarning)
        cg = COCO(json.loads(json.dumps(gt)))
    ev = COCOeval_faster(cg, cg.loadRes([dict(d) for d in dets]), "bbox", print_function=lambda *a, **k: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return np.asarray(ev.stats[:12], dtype=np.float64)


def test_perfect_detections_with_ids_from_zero_equal_pycocotools() -> None:
    gt = ids_from_zero(make_coco_gt(n_images=20, n_classes=3, seed=1))
    zero = next(a for a in gt["annotations"] if a["id"] == 0)
    assert not zero.get("iscrowd", 0)
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
            for a in gt["annotations"]]  # fmt: skip
    ref = pycocotools_eval(gt, dets)
    res = ours(gt, dets)
    np.testing.assert_allclose(res.stats, np.array(ref.stats), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.recall, ref.eval["recall"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.stats, faster_coco_eval_stats(gt, dets), rtol=0, atol=1e-12)
    assert res.id_zero_matches == 1 == pycocotools_id_zero_matches(ref)
    assert res.stats[0] < 1.0  # the box with id 0 is missed, its detection a false positive
    shifted = ours(ids_shifted(gt, 1), dets)
    assert shifted.id_zero_matches == 0 and shifted.stats[0] == pytest.approx(1.0)


def test_id_zero_match_outside_the_area_range_is_ignored_like_pycocotools() -> None:
    """A small box (30x30) matched by a medium detection (30x40, IoU 0.75): in the small range pycocotools
    ignores the detection (unmatched and out of range) and keeps the box as a miss."""
    gt = {"images": [{"id": 1, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 0, "image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 30.0, 30.0],
                           "area": 900.0, "iscrowd": 0}]}  # fmt: skip
    dets = [{"image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 30.0, 40.0], "score": 0.8}]
    ref = pycocotools_eval(gt, dets)
    res = ours(gt, dets)
    np.testing.assert_allclose(res.stats, np.array(ref.stats), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=1e-12)
    assert res.stats_dict()["AP_small"] == 0.0 and res.stats_dict()["AR_small"] == 0.0
    assert res.id_zero_matches == 1 == pycocotools_id_zero_matches(ref)


def test_id_zero_on_a_crowd_box_changes_nothing() -> None:
    gt, dets = random_scene(201, crowd=1.0, n_images=6)
    gt = ids_from_zero(gt)
    res = assert_same(gt, dets)
    np.testing.assert_array_equal(res, ours(ids_shifted(gt, 1), dets).stats)
    assert ours(gt, dets).id_zero_matches == 0


def id_scene(seed: int, *, from_zero: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A random scene with crowd boxes, areas from 4 to 40,000 px², five classes, an image without boxes and
    an image without detections; annotation ids shuffled over 0..n-1, and then the box with id 0 (any box)
    also gets an exact detection, or ids from ``1 + 7 * seed`` in file order."""
    gt, dets = random_scene(400 + seed, crowd=0.1)
    gt = dict(gt, images=[*gt["images"], {"id": 2, "width": 640, "height": 480}])
    no_dets = gt["images"][0]["id"]
    dets = [d for d in dets if d["image_id"] != no_dets]
    if not from_zero:
        return ids_shifted(gt, 7 * seed), dets
    gt = ids_from_zero(gt, seed=seed)
    z = next(a for a in gt["annotations"] if a["id"] == 0)
    if z["image_id"] != no_dets:
        score = float(np.random.default_rng(seed).random())
        dets.append({"image_id": z["image_id"], "category_id": z["category_id"], "bbox": z["bbox"], "score": score})
    return gt, dets


@pytest.mark.parametrize("from_zero", [True, False])
@pytest.mark.parametrize("seed", range(8))
def test_random_scenes_with_any_ids_equal_pycocotools(seed: int, from_zero: bool) -> None:
    gt, dets = id_scene(seed, from_zero=from_zero)
    ref = pycocotools_eval(gt, dets)
    res = ours(gt, dets)
    np.testing.assert_allclose(res.stats, np.array(ref.stats), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.recall, ref.eval["recall"], rtol=0, atol=1e-9)
    assert res.id_zero_matches == pycocotools_id_zero_matches(ref)
    assert from_zero or res.id_zero_matches == 0


def test_random_scenes_exercise_the_id_zero_rule() -> None:
    """Guards the randomised comparison above: id 0 must be matched, and change the stats, in most scenes."""
    changed = 0
    for seed in range(8):
        gt, dets = id_scene(seed, from_zero=True)
        res = ours(gt, dets)
        plain = ours(ids_shifted(gt, 1), dets)
        changed += res.id_zero_matches > 0 and not np.array_equal(res.stats, plain.stats)
    assert changed >= 5


def test_annotation_ids_follow_selection_and_stay_out_of_the_content_hash() -> None:
    b = BoxSet([1, 2, 3], [0, 0, 0], [[0, 0, 2, 2]] * 3, ann_id=[5, 0, 7])
    assert b.select(np.array([2, 1])).ann_id is not None and b.select(np.array([2, 1])).ann_id.tolist() == [7, 0]
    assert b.content_hash() == BoxSet(b.image, b.category, b.xywh).content_hash()
