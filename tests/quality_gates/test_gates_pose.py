"""Pose gates through the whole path (COCO keypoint dicts → ``coco_shapes`` → ``GateInputs(task="pose")`` →
``evaluate``) against pycocotools: ``COCOeval(iouType="keypoints")`` with the schema's sigmas for AP/AR, and
its ``computeOks`` for the golden-set error and the object units of Krippendorff's alpha (the package's)."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import krippendorff
import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from quality_gates import GateInputs, LabelSet, evaluate, parse_policy
from quality_gates.coco import parse_coco_instances
from quality_gates.coco_shapes import coco_task, parse_coco_keypoints, parse_keypoint_results
from quality_gates.errors import GateError, InputFormatError
from quality_gates.evidence import AgreementEvidence, CocoEvidence, GoldenErrorEvidence
from quality_gates.verdict import GateReport

from .shape_data import POSE_SIGMAS, pose_data
from .test_gates_segment import _coco

POLICY = """\
name: pose
task: pose
gates:
  golden_set_error: {max: 0.5, iou: 0.5}
  krippendorff_alpha: {min: 0.0, iou: 0.5}
  recall: {min: 0.1, iou: 0.5, threshold: 0.3}
  map: {min: 0.1}
"""


def reference_stats(golden: dict[str, Any], pred: list[dict[str, Any]]) -> np.ndarray:
    gt = _coco(golden)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(pred))
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.array(POSE_SIGMAS)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def oks(gt_dict: dict[str, Any], dt_anns: list[dict[str, Any]], img: int, cats: list[int]) -> np.ndarray:
    """pycocotools' computeOks of ``dt_anns`` (in order) against the ground truth of one image, classes pooled."""
    gd = copy.deepcopy(gt_dict)
    for a in gd["annotations"]:
        a["category_id"] = 1
    gd["categories"] = [{"id": 1, "name": "x"}]
    gd["annotations"] = [a for a in gd["annotations"] if a["category_id"] == 1 and a["image_id"] == img
                         and a["_cat"] in cats]  # fmt: skip
    dts = [{"image_id": img, "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in dt_anns]
    if not gd["annotations"] or not dts:
        return np.zeros((len(dts), len(gd["annotations"])))
    gt = _coco(gd)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dts), "keypoints")
    ev.params.kpt_oks_sigmas = np.array(POSE_SIGMAS)
    ev.params.imgIds, ev.params.catIds, ev.params.maxDets = [img], [1], [len(dts)]
    ev._prepare()
    return np.asarray(ev.computeOks(img, 1)).reshape(len(dts), len(gd["annotations"]))


def _tag(d: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(d)
    for a in d["annotations"]:
        a["_cat"] = a["category_id"]
    return d


def _greedy(m: np.ndarray, thr: float) -> list[tuple[int, int]]:
    m, out = m.copy(), []
    while m.size and m.max() >= thr:
        i, j = np.unravel_index(np.argmax(m), m.shape)
        out.append((int(i), int(j)))
        m[i, :], m[:, j] = -1, -1
    return out


def reference_golden(d: dict[str, Any], thr: float = 0.5) -> tuple[int, int]:
    gold = _tag({**d["golden"], "annotations": [a for a in d["golden"]["annotations"] if not a["iscrowd"]]})
    errors = trials = 0
    for name in ("alice", "bob"):
        for img in (i["id"] for i in d[name]["images"]):
            for cat in (1, 2):
                g = [a for a in gold["annotations"] if a["image_id"] == img and a["_cat"] == cat]
                m = [a for a in d[name]["annotations"] if a["image_id"] == img and a["category_id"] == cat]
                tp = len(_greedy(oks(gold, m, img, [cat]), thr)) if g and m else 0
                errors += len(g) + len(m) - 2 * tp
                trials += len(g) + len(m)
    return errors, trials


def reference_alpha(d: dict[str, Any], thr: float = 0.5) -> float:
    cols: list[tuple[float, float]] = []
    for img in sorted(i["id"] for i in d["alice"]["images"]):
        a = [x for x in d["alice"]["annotations"] if x["image_id"] == img]
        b = [x for x in d["bob"]["annotations"] if x["image_id"] == img]
        units = _tag({**d["alice"], "annotations": a})
        pairs = dict((j, i) for i, j in _greedy(oks(units, b, img, [1, 2]), thr)) if a and b else {}
        for j, x in enumerate(a):
            cols.append((x["category_id"] - 1, b[pairs[j]]["category_id"] - 1 if j in pairs else 2))
        used = set(pairs.values())
        cols += [(2, y["category_id"] - 1) for i, y in enumerate(b) if i not in used]
    data = np.array(cols, dtype=float).T
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal", value_domain=[0, 1, 2]))


def inputs_of(d: dict[str, Any]) -> GateInputs:
    gt = parse_coco_instances(d["golden"])
    ann = {}
    for name in ("alice", "bob"):
        ds = parse_coco_instances(d[name])
        ann[name] = LabelSet(parse_coco_keypoints(d[name], ds), images=ds.image_ids)
    return GateInputs(
        class_names=gt.class_names, task="pose", golden=parse_coco_keypoints(d["golden"], gt),
        golden_images=gt.image_ids, predictions=parse_keypoint_results(d["pred"], gt, num_points=len(POSE_SIGMAS)),
        annotators=ann, oks_sigmas=POSE_SIGMAS,
    )  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoint_ap_is_pycocotools_with_the_schema_sigmas(seed: int) -> None:
    d = pose_data(seed)
    report = evaluate(parse_policy(POLICY), inputs_of(d))
    ref = reference_stats(d["golden"], d["pred"])
    got = report.result("map")
    assert got is not None and isinstance(got.evidence, CocoEvidence)
    stats = np.array([v if v is not None else np.nan for v in got.evidence.coco_stats.values()], dtype=float)
    assert len(stats) == 10
    np.testing.assert_allclose(stats, ref, rtol=0, atol=1e-9)
    assert "COCO keypoints" in got.explanation and report.task == "pose"


@pytest.mark.parametrize("seed", [0, 1])
def test_golden_error_and_alpha_are_by_oks(seed: int) -> None:
    d = pose_data(seed)
    report = evaluate(parse_policy(POLICY), inputs_of(d))
    ge = report.result("golden_set_error")
    assert ge is not None and isinstance(ge.evidence, GoldenErrorEvidence)
    errors, trials = reference_golden(d)
    people = [ge.evidence.per_source[n] for n in ("alice", "bob")]
    assert (sum(s.fp + s.fn for s in people), sum(2 * s.tp + s.fp + s.fn for s in people)) == (errors, trials)
    assert 0 < errors < trials
    alpha = report.result("krippendorff_alpha")
    assert alpha is not None and isinstance(alpha.evidence, AgreementEvidence)
    assert alpha.value == pytest.approx(reference_alpha(d), abs=1e-12)
    assert "OKS" in alpha.explanation and "OKS" in ge.explanation
    assert GateReport.from_dict(report.to_dict()) == report


def test_pose_needs_sigmas_of_the_right_length_and_names_bad_points() -> None:
    d = pose_data(0)
    gt = parse_coco_instances(d["golden"])
    golden = parse_coco_keypoints(d["golden"], gt)
    with pytest.raises(GateError, match="oks_sigmas"):
        GateInputs(class_names=gt.class_names, task="pose", golden=golden)
    with pytest.raises(GateError, match="5 points per object, but 3 OKS sigmas"):
        GateInputs(class_names=gt.class_names, task="pose", golden=golden, oks_sigmas=(0.1, 0.1, 0.1))
    assert coco_task(d["golden"]) == "pose"
    bad = copy.deepcopy(d["pred"])
    bad[3]["keypoints"] = bad[3]["keypoints"][:-3]
    with pytest.raises(InputFormatError, match=r"\[3\]\.keypoints.*15 numbers"):
        parse_keypoint_results(bad, gt, num_points=5)
    bad_gt = copy.deepcopy(d["golden"])
    bad_gt["annotations"][1]["keypoints"][2] = 7
    with pytest.raises(InputFormatError, match=r"annotations\[1\] \(id 2\)\.keypoints.*visibility"):
        parse_coco_keypoints(bad_gt, gt)
