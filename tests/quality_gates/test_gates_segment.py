"""Segmentation gates through the whole path (COCO dicts → ``coco_shapes`` → ``GateInputs(task="segment")`` →
``evaluate``) against references: pycocotools' ``COCOeval(iouType="segm")`` for AP/AR (crowd RLE included),
and for the golden-set error and Krippendorff's alpha a plain re-implementation over pycocotools' mask IoU
with the ``krippendorff`` package."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import krippendorff
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from quality_gates import GateInputs, LabelSet, evaluate, parse_policy
from quality_gates.coco import parse_coco_instances
from quality_gates.coco_shapes import coco_task, parse_coco_masks, parse_mask_results
from quality_gates.errors import GateError, InputFormatError, PolicyError
from quality_gates.evidence import AgreementEvidence, CocoEvidence, GoldenErrorEvidence
from quality_gates.verdict import GateReport

from .shape_data import H, W, segment_data

POLICY = """\
name: masks
task: segment
gates:
  golden_set_error: {max: 0.5, iou: 0.5}
  krippendorff_alpha: {min: 0.0, iou: 0.5}
  precision: {min: 0.1, iou: 0.5, threshold: 0.4}
  map: {min: 0.1}
  ap50: {min: 0.1}
"""


def _coco(d: dict[str, Any]) -> COCO:
    c = COCO()
    c.dataset = copy.deepcopy(d)
    with contextlib.redirect_stdout(io.StringIO()):
        c.createIndex()
    return c


def reference_stats(golden: dict[str, Any], pred: list[dict[str, Any]], iou_type: str) -> np.ndarray:
    gt = _coco(golden)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(pred))
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def inputs_of(d: dict[str, Any]) -> GateInputs:
    gt = parse_coco_instances(d["golden"])
    ann = {}
    for name in ("alice", "bob"):
        ds = parse_coco_instances(d[name])
        ann[name] = LabelSet(parse_coco_masks(d[name], ds), images=ds.image_ids)
    return GateInputs(
        class_names=gt.class_names, task="segment", golden=parse_coco_masks(d["golden"], gt),
        golden_images=gt.image_ids, predictions=parse_mask_results(d["pred"], gt), annotators=ann,
    )  # fmt: skip


def _rles(anns: list[dict[str, Any]]) -> list[Any]:
    out = []
    for a in anns:
        seg = a["segmentation"]
        if isinstance(seg, list):
            out.append(mask_utils.merge(mask_utils.frPyObjects(seg, H, W)))
        elif isinstance(seg["counts"], list):
            out.append(mask_utils.frPyObjects(seg, H, W))
        else:
            out.append(seg)
    return out


def _greedy_by_iou(iou: np.ndarray, thr: float) -> int:
    """Matched pairs of the one-to-one matching that takes the highest IoU first (people, no scores)."""
    iou = iou.copy()
    n = 0
    while iou.size and iou.max() >= thr:
        d, g = np.unravel_index(np.argmax(iou), iou.shape)
        iou[d, :], iou[:, g] = -1, -1
        n += 1
    return n


def reference_golden(d: dict[str, Any], thr: float = 0.5) -> tuple[int, int]:
    """Pooled (errors, trials) of the two annotators against the golden masks (crowd regions left out)."""
    gold = [a for a in d["golden"]["annotations"] if not a.get("iscrowd")]
    errors = trials = 0
    for name in ("alice", "bob"):
        mine = d[name]["annotations"]
        seen = {i["id"] for i in d[name]["images"]}  # every image of the file was labelled
        for img in seen:
            for cat in (1, 3):
                g = [a for a in gold if a["image_id"] == img and a["category_id"] == cat]
                m = [a for a in mine if a["image_id"] == img and a["category_id"] == cat]
                tp = _greedy_by_iou(mask_utils.iou(_rles(m), _rles(g), [0] * len(g)), thr) if g and m else 0
                errors += len(g) + len(m) - 2 * tp
                trials += len(g) + len(m)
    return errors, trials


def reference_alpha(d: dict[str, Any], thr: float = 0.5) -> float:
    """Object units across alice then bob (class-agnostic, best IoU first), "no object" = 2; the package's alpha."""
    cats = {1: 0, 3: 1}
    cols: list[tuple[float, float]] = []
    a_all, b_all = d["alice"]["annotations"], d["bob"]["annotations"]
    a_imgs, b_imgs = {i["id"] for i in d["alice"]["images"]}, {i["id"] for i in d["bob"]["images"]}
    for img in sorted(a_imgs | b_imgs):
        a = [x for x in a_all if x["image_id"] == img]
        b = [x for x in b_all if x["image_id"] == img]
        iou = mask_utils.iou(_rles(b), _rles(a), [0] * len(a)) if a and b else np.zeros((len(b), len(a)))
        pairs = {}
        while iou.size and iou.max() >= thr:
            jj, ii = np.unravel_index(np.argmax(iou), iou.shape)
            j, i = int(jj), int(ii)
            pairs[i] = j
            iou[j, :], iou[:, i] = -1, -1
        for i, x in enumerate(a):
            bv = cats[b[pairs[i]]["category_id"]] if i in pairs else (2 if img in b_imgs else np.nan)
            cols.append((cats[x["category_id"]], bv))
        for j, y in enumerate(b):
            if j not in pairs.values():
                cols.append((2 if img in a_imgs else np.nan, cats[y["category_id"]]))
    data = np.array(cols, dtype=float).T
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal", value_domain=[0, 1, 2]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segm_ap_is_pycocotools_through_evaluate(seed: int) -> None:
    d = segment_data(seed)
    report = evaluate(parse_policy(POLICY), inputs_of(d))
    ref = reference_stats(d["golden"], d["pred"], "segm")
    got = report.result("map")
    assert got is not None and isinstance(got.evidence, CocoEvidence)
    stats = np.array([v if v is not None else np.nan for v in got.evidence.coco_stats.values()], dtype=float)
    np.testing.assert_allclose(stats, ref, rtol=0, atol=1e-9)
    assert got.value == pytest.approx(ref[0], abs=1e-12)
    ap50 = report.result("ap50")
    assert ap50 is not None and ap50.value == pytest.approx(ref[1], abs=1e-12)
    assert "COCO segm" in got.explanation
    assert report.metrics["map"] == pytest.approx(ref[0], abs=1e-12)


def test_the_bbox_branch_of_load_res_sets_the_detection_area() -> None:
    """loadRes reads area from the bbox when the first result has one: so do the parsed results."""
    d = segment_data(3)
    for p in d["pred"]:
        p["bbox"] = [float(v) for v in mask_utils.toBbox(p["segmentation"])]
    report = evaluate(parse_policy(POLICY), inputs_of(d))
    ref = reference_stats(d["golden"], d["pred"], "segm")
    got = report.result("map")
    assert got is not None and isinstance(got.evidence, CocoEvidence)
    stats = np.array([v if v is not None else np.nan for v in got.evidence.coco_stats.values()], dtype=float)
    np.testing.assert_allclose(stats, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_golden_error_and_alpha_are_by_mask_iou(seed: int) -> None:
    d = segment_data(seed)
    d["pred"] = d["pred"][:1]  # the model's share is checked by the COCO test; here the people's
    pol = parse_policy(POLICY.replace("threshold: 0.4", "threshold: 1.0"))  # no prediction reaches 1.0
    report = evaluate(pol, inputs_of(d))
    ge = report.result("golden_set_error")
    assert ge is not None and isinstance(ge.evidence, GoldenErrorEvidence)
    errors, trials = reference_golden(d)
    people = [ge.evidence.per_source[n] for n in ("alice", "bob")]
    assert sum(s.fp + s.fn for s in people) == errors and sum(2 * s.tp + s.fp + s.fn for s in people) == trials
    alpha = report.result("krippendorff_alpha")
    assert alpha is not None and isinstance(alpha.evidence, AgreementEvidence)
    assert alpha.value == pytest.approx(reference_alpha(d), abs=1e-12)
    assert "mask IoU" in alpha.explanation and "mask IoU" in ge.explanation


def test_report_round_trips_with_its_task_and_plots() -> None:
    report = evaluate(parse_policy(POLICY), inputs_of(segment_data(0)))
    d = report.to_dict()
    assert d["task"] == "segment" and report.task == "segment"
    assert set(d["evidence"]) == {"pr_curves", "confusion_matrix"}
    assert GateReport.from_dict(d) == report
    assert set(report.data_hashes) >= {"golden.masks", "predictions.masks", "annotator:alice.masks"}


def test_a_policy_of_another_task_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"task 'detect'.*labels are 'segment'"):
        evaluate(parse_policy(POLICY.replace("task: segment\n", "")), inputs_of(segment_data(0)))
    with pytest.raises(GateError, match="task 'segment' takes MaskSet"):
        GateInputs(class_names=["a"], task="segment", golden=parse_coco_instances(segment_data(0)["golden"]).boxes)


def test_coco_task_and_bad_masks_are_named() -> None:
    d = segment_data(0)
    assert coco_task(d["golden"]) == "segment"
    gt = parse_coco_instances(d["golden"])
    bad = copy.deepcopy(d["pred"])
    bad[2]["segmentation"] = {"size": [H + 1, W], "counts": bad[2]["segmentation"]["counts"]}
    with pytest.raises(InputFormatError, match=r"\[2\]\.segmentation.*differs from the image"):
        parse_mask_results(bad, gt)
    bad = copy.deepcopy(d["pred"])
    del bad[1]["segmentation"]
    with pytest.raises(InputFormatError, match=r"\[1\]\.segmentation: missing"):
        parse_mask_results(bad, gt)
    bad_gt = copy.deepcopy(d["golden"])
    bad_gt["annotations"][0]["segmentation"] = [[1, 2, 3]]
    with pytest.raises(InputFormatError, match=r"annotations\[0\] \(id 1\)\.segmentation"):
        parse_coco_masks(bad_gt, parse_coco_instances(bad_gt))
