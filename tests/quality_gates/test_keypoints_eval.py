"""OKS equals pycocotools' ``computeOks`` bit for bit (custom sigmas, unlabelled points skipped, ground truth
without labelled points scored against its enlarged box), and COCO "keypoints" AP/AR equals
``COCOeval(iouType="keypoints")`` to 1e-9 on randomized scenes (ground truth with num_keypoints=0 ignored,
crowd regions, annotation id 0); hand-checked small cases and invalid input refused with the object named."""

from __future__ import annotations

import contextlib
import io
import json
import math
from typing import Any

import numpy as np
import pytest

from quality_gates.boxes import BoxSet
from quality_gates.cocoeval import KEYPOINT_STAT_NAMES, CocoEvalParams, CocoEvalResult, coco_evaluate
from quality_gates.errors import InputFormatError
from quality_gates.keypoints import (
    COCO_PERSON_SIGMAS,
    KeypointSet,
    match_keypoints_by_oks,
    match_keypoints_greedy,
    oks_matrix,
)

cocoeval = pytest.importorskip("pycocotools.cocoeval")


def reference(gt: dict[str, Any], dets: list[dict[str, Any]], sigmas: list[float] | None) -> Any:
    """pycocotools' COCOeval("keypoints") on copies of the inputs, with ``kpt_oks_sigmas`` set when given."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = json.loads(json.dumps(gt))
        cg.createIndex()
        if dets:
            cd = cg.loadRes(json.loads(json.dumps(dets)))
        else:
            cd = COCO()
            cd.dataset = {"images": list(cg.dataset["images"]), "categories": cg.dataset["categories"],
                          "annotations": []}  # fmt: skip
            cd.createIndex()
        ev = cocoeval.COCOeval(cg, cd, "keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.array(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def keypoints_from_coco(gt: dict[str, Any]) -> tuple[KeypointSet, list[int]]:
    cat_ids = sorted(c["id"] for c in gt["categories"])
    idx = {c: i for i, c in enumerate(cat_ids)}
    anns = gt["annotations"]
    n_kp = len(gt["categories"][0]["keypoints"])
    return (
        KeypointSet.build(
            [a["image_id"] for a in anns],
            [idx[a["category_id"]] for a in anns],
            np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), n_kp, 3),
            xywh=np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4),
            area=[a["area"] for a in anns],
            iscrowd=[bool(a["iscrowd"]) for a in anns],
            ann_id=[a["id"] for a in anns],
            num_keypoints=[a["num_keypoints"] for a in anns],
        ),
        cat_ids,
    )


def keypoint_dets_from_coco(dets: list[dict[str, Any]], cat_ids: list[int], n_kp: int) -> KeypointSet:
    idx = {c: i for i, c in enumerate(cat_ids)}
    has_box = bool(dets) and "bbox" in dets[0]
    xywh = np.array([d["bbox"] for d in dets], dtype=np.float64).reshape(-1, 4) if has_box else None
    return KeypointSet.build(
        [d["image_id"] for d in dets],
        [idx[d["category_id"]] for d in dets],
        np.array([d["keypoints"] for d in dets], dtype=np.float64).reshape(len(dets), n_kp, 3),
        score=[d["score"] for d in dets],
        xywh=xywh,
        area=None if xywh is None else xywh[:, 2] * xywh[:, 3],
    )


def ours(gt: dict[str, Any], dets: list[dict[str, Any]], sigmas: list[float] | None) -> CocoEvalResult:
    g, cat_ids = keypoints_from_coco(gt)
    n_kp = len(gt["categories"][0]["keypoints"])
    d = keypoint_dets_from_coco(dets, cat_ids, n_kp)
    params = CocoEvalParams.keypoints(sigmas)
    return coco_evaluate(g, d, num_classes=len(cat_ids), image_ids=[i["id"] for i in gt["images"]], params=params)


def assert_same(res: CocoEvalResult, ref: Any) -> float:
    np.testing.assert_allclose(res.stats, np.array(ref.stats), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.recall, ref.eval["recall"], rtol=0, atol=1e-9)
    return float(
        max(
            np.abs(res.stats - np.array(ref.stats)).max(),
            np.abs(res.precision - ref.eval["precision"]).max(),
            np.abs(res.recall - ref.eval["recall"]).max(),
        )
    )


def random_keypoint_scene(
    seed: int, *, n_images: int = 30, n_kp: int = 7, n_classes: int = 3, dense: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]], list[float]]:
    """Objects with a random skeleton of ``n_kp`` points, each point unlabelled with probability 0.25; some
    objects with no labelled point (num_keypoints 0, ignored) and some crowd; areas across all ranges; a
    class without ground truth (the last); detections jittered in proportion to the object's size, plus
    false positives; > 20 detections per image and class when ``dense``; annotation id 0 on one object."""
    rng = np.random.default_rng(seed)
    sigmas = [float(v) for v in rng.uniform(0.025, 0.11, n_kp)]
    template = rng.uniform(-1, 1, (n_kp, 2))
    images = [{"id": 4 * i + 1, "width": 640, "height": 480} for i in range(n_images)]
    cats = [{"id": 5 * c + 1, "name": f"c{c}", "keypoints": [f"p{k}" for k in range(n_kp)]} for c in range(n_classes)]
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []

    def det(image_id: int, c: int, xy: np.ndarray) -> None:
        kp = np.column_stack([xy, np.ones(n_kp)]).ravel()
        score = float(rng.integers(0, 8)) / 7 if rng.random() < 0.3 else float(rng.random())
        dets.append({"image_id": image_id, "category_id": cats[c]["id"], "keypoints": [float(v) for v in kp],
                     "score": score})  # fmt: skip

    for im in images:
        for _ in range(25 if dense else int(rng.integers(0, 7))):
            c = int(rng.integers(0, n_classes - 1))
            size = float(np.exp(rng.uniform(np.log(12), np.log(200))))
            centre = rng.uniform(50, 590), rng.uniform(50, 430)
            xy = centre + template * size / 2 + rng.normal(0, size / 20, (n_kp, 2))
            v = rng.choice([0, 1, 2], n_kp, p=[0.25, 0.25, 0.5])
            is_crowd = rng.random() < 0.05
            if is_crowd or rng.random() < 0.08:
                v[:] = 0
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            bbox = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
            kp = np.column_stack([np.where(v[:, None] > 0, xy, 0.0), v]).ravel()
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": cats[c]["id"],
                         "keypoints": [float(t) for t in kp], "num_keypoints": int((v > 0).sum()),
                         "bbox": bbox, "area": float(bbox[2] * bbox[3] * rng.uniform(0.5, 1.0)),
                         "iscrowd": int(is_crowd)})  # fmt: skip
            for _ in range(int(rng.integers(0, 3))):
                cc = c if rng.random() < 0.85 else int(rng.integers(0, n_classes))
                det(im["id"], cc, xy + rng.normal(0, size * rng.uniform(0.005, 0.08), (n_kp, 2)))
        for _ in range(int(rng.integers(0, 4)) + (10 if dense else 0)):
            size = rng.uniform(10, 200)
            det(im["id"], int(rng.integers(0, n_classes)), rng.uniform(50, 590, 2) + template * size / 2)
    if anns:
        anns[int(rng.integers(0, len(anns)))]["id"] = 0
    return {"images": images, "categories": cats, "annotations": anns}, dets, sigmas


# -- OKS ----------------------------------------------------------------------------------------------------------


def test_hand_checked_oks() -> None:
    sig = [0.1, 0.2]
    gt = [[10, 10, 2, 20, 20, 0]]  # the second point is unlabelled and does not count
    dt = [[13, 14, 1, 0, 0, 1]]
    # d² = 3² + 4² = 25, var = (2 * 0.1)² = 0.04, e = 25 / 0.04 / 100 / 2 = 3.125
    assert oks_matrix(dt, gt, sig, [100.0])[0, 0] == pytest.approx(math.exp(-3.125), rel=1e-12)
    # No labelled point: distance to the box enlarged 3x, [10 - 10, 10 + 2 * 10] = [0, 30] on both axes;
    # (35, 5) is 5 px right of it, (20, 20) inside: e = (25 / 0.04 / 100 / 2, 0) → mean of exp(-3.125), 1.
    none = [[10, 10, 0, 20, 20, 0]]
    oks = oks_matrix([[35, 5, 1, 20, 20, 1]], none, sig, [100.0], gt_boxes=[[10, 10, 10, 10]])[0, 0]
    assert oks == pytest.approx((math.exp(-3.125) + 1.0) / 2, rel=1e-12)
    assert oks_matrix(gt, gt, sig, [100.0])[0, 0] == 1.0
    assert oks_matrix(np.zeros((0, 2, 3)), gt, sig, [100.0]).shape == (0, 1)


@pytest.mark.parametrize("seed", range(3))
def test_oks_matrix_equals_compute_oks(seed: int) -> None:
    """Bit-identical to computeOks, for 1..29 points (numpy's pairwise sums start at 8 terms)."""
    rng = np.random.default_rng(500 + seed)
    for _ in range(300):
        k, nd, ng = int(rng.integers(1, 30)), int(rng.integers(1, 8)), int(rng.integers(1, 6))
        sig = rng.uniform(0.02, 0.2, k)
        gts = []
        for _ in range(ng):
            v = rng.integers(0, 3, k) * (rng.random() > 0.3)
            kp = np.column_stack([rng.uniform(0, 200, (k, 2)), v]).ravel().tolist()
            bb = [float(x) for x in np.concatenate([rng.uniform(0, 100, 2), rng.uniform(1, 80, 2)])]
            gts.append({"keypoints": kp, "bbox": bb, "area": float(rng.uniform(10, 5000))})
        dts = [{"keypoints": np.column_stack([rng.uniform(0, 200, (k, 2)), np.ones(k)]).ravel().tolist(),
                "score": float(rng.random())} for _ in range(nd)]  # fmt: skip
        ev = cocoeval.COCOeval(iouType="keypoints")
        ev.params.kpt_oks_sigmas = sig
        ev._gts = {(1, 1): gts}
        ev._dts = {(1, 1): dts}
        ref = ev.computeOks(1, 1)
        order = np.argsort([-d["score"] for d in dts], kind="mergesort")
        dt_kp = np.array([dts[i]["keypoints"] for i in order])
        got = oks_matrix(dt_kp, [g["keypoints"] for g in gts], sig, [g["area"] for g in gts],
                         gt_boxes=[g["bbox"] for g in gts])  # fmt: skip
        assert np.array_equal(got, ref)


# -- invalid input ------------------------------------------------------------------------------------------------


def test_keypoint_count_must_equal_sigmas() -> None:
    gt = [[10, 10, 2, 20, 20, 2]]
    with pytest.raises(ValueError, match="2 points per object, but 3 sigmas"):
        oks_matrix(gt, gt, [0.1, 0.1, 0.1], [100.0])
    g = KeypointSet.build([1], [0], np.array(gt).reshape(1, 2, 3))
    d = KeypointSet.build([1], [0], np.array(gt).reshape(1, 2, 3), score=[0.5])
    with pytest.raises(ValueError, match="keypoints: 2 points per object, but 17 sigmas"):
        coco_evaluate(g, d, num_classes=1)
    with pytest.raises(ValueError, match="3 sigmas"):
        coco_evaluate(g, d, num_classes=1, params=CocoEvalParams.keypoints([0.1, 0.1, 0.1]))


@pytest.mark.parametrize(
    ("kp", "message"),
    [
        ([[10, float("nan"), 2, 20, 20, 2]], "row 0.*NaN"),
        ([[10, 10, 2, 20, 20]], "3 numbers per point"),
    ],
)
def test_bad_keypoints_are_refused(kp: Any, message: str) -> None:
    with pytest.raises(InputFormatError, match=message):
        oks_matrix([[1, 1, 1, 2, 2, 1]], kp, [0.1, 0.1], [1.0])


def test_bad_sigmas_and_missing_boxes_are_refused() -> None:
    gt = [[10, 10, 0, 20, 20, 0]]
    with pytest.raises(InputFormatError, match="positive"):
        oks_matrix(gt, gt, [0.1, -0.1], [1.0])
    with pytest.raises(InputFormatError, match="needs gt_boxes"):
        oks_matrix(gt, gt, [0.1, 0.1], [1.0])


# -- matching helpers ---------------------------------------------------------------------------------------------


def test_match_keypoints_hand_case() -> None:
    sig = [0.1, 0.1]
    base = np.array([[[10.0, 10.0, 2.0], [30.0, 30.0, 2.0]]])
    gt = KeypointSet.build(
        [1, 1], [0, 0], np.concatenate([base, base + np.array([100.0, 0.0, 0.0])]), area=[400.0, 400.0]
    )
    shifted = base + np.array([100.0, 3.0, 0.0])  # 3 px off the second object: e = 9 / 0.04 / 400 / 2 per point
    dt = KeypointSet.build([1, 1], [0, 0], np.concatenate([shifted, base]), score=[0.9, 0.8])
    d_match, g_match, d_oks = match_keypoints_by_oks(gt, dt, sigmas=sig, oks_threshold=0.5)
    assert d_match.tolist() == [1, 0] and g_match.tolist() == [1, 0]
    assert d_oks[0] == pytest.approx(math.exp(-9 / 0.04 / 400 / 2), rel=1e-12) and d_oks[1] == 1.0
    m = match_keypoints_greedy(gt, dt, sigmas=sig, oks_thresholds=(0.5, 0.95))
    assert m.dt_match.tolist() == [[1, 0], [-1, 0]]
    assert m.dt_iou[0, 0] == pytest.approx(d_oks[0], rel=1e-12)


# -- COCO keypoints evaluation against COCOeval -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_random_keypoint_scenes_equal_pycocotools(seed: int) -> None:
    gt, dets, sigmas = random_keypoint_scene(seed)
    res = ours(gt, dets, sigmas)
    assert res.iou_type == "keypoints" and list(res.stats_dict()) == list(KEYPOINT_STAT_NAMES)
    assert assert_same(res, reference(gt, dets, sigmas)) <= 1e-9


@pytest.mark.parametrize("seed", range(2))
def test_more_than_20_detections_per_image_equal_pycocotools(seed: int) -> None:
    gt, dets, sigmas = random_keypoint_scene(40 + seed, n_images=5, dense=True)
    assert_same(ours(gt, dets, sigmas), reference(gt, dets, sigmas))


def test_person_sigmas_by_default_equal_pycocotools() -> None:
    gt, dets, _ = random_keypoint_scene(60, n_kp=17)
    g, cat_ids = keypoints_from_coco(gt)
    d = keypoint_dets_from_coco(dets, cat_ids, 17)
    res = coco_evaluate(g, d, num_classes=len(cat_ids))
    assert res.params.oks_sigmas == COCO_PERSON_SIGMAS and res.params.max_dets == (20,)
    assert_same(res, reference(gt, dets, None))


def test_detections_carrying_a_bbox_use_its_area_like_load_res() -> None:
    gt, dets, sigmas = random_keypoint_scene(61)
    rng = np.random.default_rng(62)
    for d in dets:
        d["bbox"] = [float(v) for v in rng.uniform(5, 150, 4)]
    assert_same(ours(gt, dets, sigmas), reference(gt, dets, sigmas))


def test_ignored_ground_truth_without_keypoints_like_pycocotools() -> None:
    """A detection on an object with num_keypoints 0 is neither a true nor a false positive."""
    sig = [0.1, 0.1]
    unlabelled = {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [0, 0, 0, 0, 0, 0], "num_keypoints": 0,
                  "bbox": [10, 10, 20, 20], "area": 400.0, "iscrowd": 0}  # fmt: skip
    labelled = {"id": 2, "image_id": 1, "category_id": 1, "keypoints": [60, 60, 2, 70, 70, 2], "num_keypoints": 2,
                "bbox": [60, 60, 10, 10], "area": 100.0, "iscrowd": 0}  # fmt: skip
    cats = [{"id": 1, "name": "p", "keypoints": ["a", "b"]}]
    gt = {"images": [{"id": 1, "width": 100, "height": 100}], "categories": cats, "annotations": [unlabelled, labelled]}
    dets = [{"image_id": 1, "category_id": 1, "keypoints": [15, 15, 1, 25, 25, 1], "score": 0.9},
            {"image_id": 1, "category_id": 1, "keypoints": [60, 60, 1, 70, 70, 1], "score": 0.5}]  # fmt: skip
    res = ours(gt, dets, sig)
    assert res.stats[0] == pytest.approx(1.0)  # the first detection is ignored, not a false positive
    assert_same(res, reference(gt, dets, sig))


def test_no_detections_and_no_ground_truth() -> None:
    gt, dets, sigmas = random_keypoint_scene(70, n_images=6)
    res = ours(gt, [], sigmas)
    assert res.stats[0] == 0.0
    assert_same(res, reference(gt, [], sigmas))
    empty = dict(gt, annotations=[])
    res = ours(empty, dets, sigmas)
    assert (res.stats == -1).all()
    assert_same(res, reference(empty, dets, sigmas))


def test_id_zero_rule_applies_to_keypoints() -> None:
    gt, dets, sigmas = random_keypoint_scene(80, n_images=3)
    zero = next(a for a in gt["annotations"] if a["id"] == 0)
    kp = np.array(zero["keypoints"], dtype=np.float64).reshape(-1, 3)
    if zero["num_keypoints"] == 0 or zero["iscrowd"]:
        zero["keypoints"] = [float(v) for v in np.column_stack([kp[:, :2] + 50, np.full(len(kp), 2.0)]).ravel()]
        zero["num_keypoints"], zero["iscrowd"] = len(kp), 0
    perfect = {"image_id": zero["image_id"], "category_id": zero["category_id"], "score": 1.0,
               "keypoints": [float(v) if i % 3 != 2 else 1.0 for i, v in enumerate(zero["keypoints"])]}  # fmt: skip
    dets = [perfect, *dets]
    res = ours(gt, dets, sigmas)
    assert res.id_zero_matches >= 1
    assert_same(res, reference(gt, dets, sigmas))


def test_bbox_params_keep_their_defaults() -> None:
    p = CocoEvalParams()
    assert p.max_dets == (1, 10, 100) and p.oks_sigmas is None
    kp = CocoEvalParams.keypoints()
    assert kp.area_labels == ("all", "medium", "large") and kp.area_ranges[1] == (1024.0, 9216.0)
    with pytest.raises(TypeError, match="differ in kind"):
        g = KeypointSet.build([1], [0], np.ones((1, 17, 3)))
        coco_evaluate(g, BoxSet.empty(scored=True), num_classes=1)
