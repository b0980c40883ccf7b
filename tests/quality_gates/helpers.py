"""Helpers of the quality-gate tests: COCO dicts → box sets, pycocotools as the reference, the demo policy and
the demo's gate inputs."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import numpy as np

from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.coco import parse_coco_instances, parse_coco_results
from quality_gates.coverage import review_coverage
from quality_gates.detection import confusion_matrix, match_detections
from quality_gates.inputs import GateInputs
from quality_gates.policy import Policy
from service.demo.synthetic import DemoData

DEMO_POLICY = """\
name: demo
gates:
  golden_set_error: {max: 0.05, iou: 0.5}
  krippendorff_alpha: {min: 0.80, level: nominal}
  precision: {min: 0.90, iou: 0.5, baseline: golden, threshold: 0.5}
  recall: {min: 0.85, iou: 0.5, baseline: golden, threshold: 0.5}
  f1: {min: 0.85, threshold: 0.5}
  map: {min: 0.5}
  ap50: {min: 0.6}
  class_drift_psi: {max: 0.2}
  class_drift_js: {max: 0.1}
  expectations: {suite: default}
  review_coverage: {min: 0.05}
release:
  approvals: 1
  approver_roles: [compliance_officer, reviewer]
  four_eyes: true
"""


def boxes_from_coco(gt: dict[str, Any]) -> tuple[BoxSet, list[int]]:
    """GT dict → BoxSet (category index in sorted-id order, annotation ids kept) and the sorted category ids."""
    cat_ids = sorted(c["id"] for c in gt["categories"])
    idx = {c: i for i, c in enumerate(cat_ids)}
    anns = gt["annotations"]
    return (
        BoxSet(
            np.array([a["image_id"] for a in anns], dtype=np.int64),
            np.array([idx[a["category_id"]] for a in anns], dtype=np.int64),
            np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4),
            area=np.array([a.get("area", a["bbox"][2] * a["bbox"][3]) for a in anns], dtype=np.float64),
            iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
            ann_id=np.array([a["id"] for a in anns], dtype=np.int64),
        ),
        cat_ids,
    )


def dets_from_coco(dets: list[dict[str, Any]], cat_ids: list[int]) -> BoxSet:
    idx = {c: i for i, c in enumerate(cat_ids)}
    return BoxSet(
        np.array([d["image_id"] for d in dets], dtype=np.int64),
        np.array([idx[d["category_id"]] for d in dets], dtype=np.int64),
        np.array([d["bbox"] for d in dets], dtype=np.float64).reshape(-1, 4),
        score=np.array([d["score"] for d in dets], dtype=np.float64),
    )


def pycocotools_eval(gt: dict[str, Any], dets: list[dict[str, Any]]) -> Any:
    """pycocotools' COCOeval on copies of the inputs (it annotates records in place)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = json.loads(json.dumps(gt))
        cg.createIndex()
        cd = cg.loadRes([dict(d) for d in dets]) if dets else COCO()
        if not dets:
            cd.dataset = {"images": list(cg.dataset["images"]), "categories": cg.dataset["categories"],
                          "annotations": []}  # fmt: skip
            cd.createIndex()
        ev = COCOeval(cg, cd, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def demo_inputs(demo: DemoData, *, good: bool = True, **overrides: object) -> GateInputs:
    """Every input of the demo (golden, the good or bad model, three annotators, parent, review counts);
    ``overrides`` replace fields of :class:`GateInputs`."""
    gt = parse_coco_instances(demo.golden)
    pred = parse_coco_results(demo.good_predictions if good else demo.bad_predictions, dataset=gt)
    parent = parse_coco_instances(demo.parent)
    counts = parent.boxes.class_counts(len(parent.class_names))
    assert pred.reviewed is not None
    kwargs: dict[str, object] = {
        "class_names": gt.class_names,
        "golden": gt.boxes,
        "golden_images": gt.image_ids,
        "predictions": pred.boxes,
        "annotators": {n: LabelSet(parse_coco_instances(a).boxes, images=parse_coco_instances(a).image_ids)
                       for n, a in demo.annotators.items()},
        "parent_distribution": dict(zip(parent.class_names, counts.tolist(), strict=True)),
        "parent_class_names": parent.class_names,
        "review": review_coverage(model_labels=len(pred.reviewed), reviewed=int(pred.reviewed.sum())),
    }  # fmt: skip
    kwargs.update(overrides)
    return GateInputs(**kwargs)  # type: ignore[arg-type]


_MAX_POINTS = 200


def former_lineage_plots(policy: Policy, inputs: GateInputs, *, threshold: float | None) -> dict[str, Any]:
    """The reference the plot data is checked against: lineage's former ``detection_plots`` (PR curves of at
    most 200 points a class, the confusion matrix at the model threshold), as it computed them from the same
    inputs before the plots moved into the report. One copy, for the quality_gates and the stored-bytes tests."""
    if inputs.golden is None or inputs.predictions is None or inputs.golden_images is None:
        return {}
    gate = policy.gates.precision or policy.gates.recall
    iou = float(gate.iou) if gate is not None else 0.5
    preds = inputs.predictions.select(np.isin(inputs.predictions.image, inputs.golden_images))
    k = inputs.num_classes
    match = match_detections(inputs.golden, preds, num_classes=k, iou=iou)
    curves: dict[str, Any] = {}
    for name, c in zip(inputs.class_names, match.curves(), strict=True):
        n = len(c.thresholds)
        keep = np.unique(np.linspace(0, n - 1, min(n, _MAX_POINTS)).astype(int)) if n else np.array([], int)
        curves[name] = {
            "thresholds": [float(v) for v in c.thresholds[keep]],
            "precision": [float(v) for v in c.precision[keep]],
            "recall": [None if np.isnan(v) else float(v) for v in c.recall[keep]],
        }
    cm = confusion_matrix(inputs.golden, preds, num_classes=k, iou=iou, threshold=float(threshold or 0.0), match=match)
    return {
        "pr_curves": curves,
        "confusion_matrix": {"labels": [*inputs.class_names, "background"], "matrix": cm.tolist(), "iou": iou},
    }
