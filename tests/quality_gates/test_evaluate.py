"""Policy evaluation: verdicts on the demo, every gate's pass and block paths, and missing inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.coco import parse_coco_instances
from quality_gates.coverage import review_coverage
from quality_gates.errors import MissingInputError
from quality_gates.evaluate import evaluate, missing_inputs
from quality_gates.evidence import CocoEvidence, PrecisionRecallEvidence
from quality_gates.inputs import GateInputs
from quality_gates.policy import parse_policy, policy_hash
from quality_gates.verdict import METRIC_KEYS
from service.demo.synthetic import DemoData

from .helpers import DEMO_POLICY, demo_inputs

NO_EXPECTATIONS = DEMO_POLICY.replace("  expectations: {suite: default}\n", "")


def test_good_model_passes_bad_model_blocks(demo: DemoData) -> None:
    policy = parse_policy(NO_EXPECTATIONS)
    good = evaluate(policy, demo_inputs(demo))
    assert good.passed, [g.explanation for g in good.blocking]
    assert good.policy_hash == policy_hash(policy)
    bad = evaluate(policy, demo_inputs(demo, good=False))
    assert not bad.passed
    blocked = {g.name for g in bad.blocking}
    assert {"precision", "recall", "map", "golden_set_error"} <= blocked
    recall = next(g for g in bad.gates if g.name == "recall")
    assert recall.op == ">=" and recall.value < recall.threshold
    assert "most missed objects in class" in recall.explanation and "\n" not in recall.explanation


def test_report_shape_is_json_ready(demo: DemoData) -> None:
    rep = evaluate(parse_policy(NO_EXPECTATIONS), demo_inputs(demo))
    d = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert set(d) >= {"passed", "policy_hash", "gates", "metrics", "per_class", "data_hashes"}
    assert set(d["metrics"]) == set(METRIC_KEYS)
    for g in d["gates"]:
        assert set(g) >= {"name", "metric", "value", "threshold", "op", "passed", "explanation", "evidence"}
    assert d["metrics"]["expectations_failed"] is None  # not configured, not run
    assert all(d["metrics"][k] is not None for k in ("precision", "recall", "f1", "ap50", "map", "golden_error",
                                                     "krippendorff_alpha", "class_drift_psi"))  # fmt: skip
    assert set(d["per_class"]) == set(parse_coco_instances(demo.golden).class_names)
    assert {"golden.boxes", "predictions.boxes", "annotator:alice.boxes"} <= set(d["data_hashes"])


def test_missing_inputs_are_errors_not_passes(demo: DemoData) -> None:
    policy = parse_policy(DEMO_POLICY)
    bare = GateInputs(class_names=["a"])
    gates = {e.gate for e in missing_inputs(policy, bare)}
    assert gates == set(policy.gates.configured())
    with pytest.raises(MissingInputError) as info:
        evaluate(policy, bare)
    assert info.value.gate == "golden_set_error" and "also missing inputs for" in str(info.value)
    one_annotator = demo_inputs(demo, annotators={"alice": LabelSet(BoxSet.empty())})
    with pytest.raises(MissingInputError, match="two or more annotators"):
        evaluate(parse_policy("name: x\ngates:\n  krippendorff_alpha: {min: 0.5}\n"), one_annotator)
    with pytest.raises(MissingInputError, match=r"baseline 'v2'.*available baselines: golden"):
        evaluate(parse_policy("name: x\ngates:\n  precision: {min: 0.5, baseline: v2}\n"), demo_inputs(demo))
    with pytest.raises(MissingInputError, match="annotation table"):
        evaluate(parse_policy("name: x\ngates:\n  expectations: {}\n"), demo_inputs(demo))


def test_reference_baseline(demo: DemoData) -> None:
    inputs = demo_inputs(demo, references={"v2": parse_coco_instances(demo.golden).boxes})
    rep = evaluate(parse_policy("name: x\ngates:\n  precision: {min: 0.5, baseline: v2, threshold: 0.5}\n"), inputs)
    evidence = rep.gates[0].evidence
    assert rep.passed and isinstance(evidence, PrecisionRecallEvidence) and evidence.baseline == "v2"


def test_undefined_metric_blocks() -> None:
    inputs = GateInputs(class_names=["a"], golden=BoxSet([1], [0], [[0, 0, 5, 5]]),
                        predictions=BoxSet.empty(scored=True))  # fmt: skip
    rep = evaluate(parse_policy("name: x\ngates:\n  precision: {min: 0.0}\n"), inputs)
    g = rep.gates[0]
    assert g.value is None and not g.passed and "undefined" in g.explanation
    assert rep.to_dict()["gates"][0]["value"] is None


def test_drift_blocks_on_shift_and_on_unacknowledged_schema_change(demo: DemoData) -> None:
    policy = parse_policy("name: x\ngates:\n  class_drift_psi: {max: 0.2}\n  class_drift_js: {max: 0.1}\n")
    inputs = demo_inputs(demo, parent_distribution={"person": 1.0, "car": 99.0})
    rep = evaluate(policy, inputs)
    assert not rep.passed and "biggest shift" in rep.gates[0].explanation
    names = list(parse_coco_instances(demo.golden).class_names)
    changed = demo_inputs(demo, parent_class_names=[*names, "emu"])
    rep2 = evaluate(policy, changed)
    assert not rep2.passed
    assert "schema changes need acknowledgement: removed:emu" in rep2.gates[0].explanation
    assert evaluate(policy, demo_inputs(demo, parent_class_names=[*names, "emu"],
                                        acknowledged_changes={"removed:emu"})).passed  # fmt: skip


def test_review_coverage_gate(demo: DemoData) -> None:
    policy = parse_policy("name: x\ngates:\n  review_coverage: {min: 0.5, min_routed: 0.9}\n")
    low = evaluate(policy, demo_inputs(demo, review=review_coverage(model_labels=100, reviewed=20)))
    assert not low.passed and "review at least 30 more model labels" in low.gates[0].explanation
    ok = review_coverage(model_labels=100, reviewed=60, routed=10, routed_reviewed=9)
    assert evaluate(policy, demo_inputs(demo, review=ok)).passed
    routed_low = review_coverage(model_labels=100, reviewed=60, routed=10, routed_reviewed=5)
    assert not evaluate(policy, demo_inputs(demo, review=routed_low)).passed
    nothing = evaluate(policy, demo_inputs(demo, review=review_coverage(model_labels=0, reviewed=0)))
    assert nothing.passed and "nothing to review" in nothing.gates[0].explanation


def test_alpha_gate_blocks_on_disagreement(demo: DemoData) -> None:
    gt = parse_coco_instances(demo.golden)
    rng = np.random.default_rng(0)
    shuffled = BoxSet(gt.boxes.image, rng.integers(0, len(gt.class_names), len(gt.boxes)), gt.boxes.xywh)
    inputs = demo_inputs(demo, annotators={"a": LabelSet(gt.boxes), "b": LabelSet(shuffled)})
    rep = evaluate(parse_policy("name: x\ngates:\n  krippendorff_alpha: {min: 0.8}\n"), inputs)
    assert not rep.passed and "lowest agreement on class" in rep.gates[0].explanation
    assert rep.gates[0].value < 0.5


def test_map_gate_says_when_a_match_to_annotation_id_zero_counted_as_a_miss() -> None:
    gt = parse_coco_instances({
        "images": [{"id": 1, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "a"}],
        "annotations": [{"id": i, "image_id": 1, "category_id": 1, "bbox": [10.0 + 40 * i, 10.0, 30.0, 30.0]}
                        for i in (0, 1)],
    })  # fmt: skip
    pred = BoxSet([1, 1], [0, 0], [[10, 10, 30, 30], [50, 10, 30, 30]], score=[0.9, 0.8])
    policy = parse_policy("name: x\ngates:\n  map: {min: 0.2}\n")
    g = evaluate(policy, GateInputs(class_names=["a"], golden=gt.boxes, predictions=pred)).gates[0]
    assert isinstance(g.evidence, CocoEvidence) and g.evidence.id_zero_matches == 1 and g.passed
    # pycocotools: the first detection is a false positive, so precision 1/2 up to recall 1/2 (51 of 101 steps)
    assert g.value == pytest.approx(0.5 * 51 / 101, abs=1e-12)
    assert "1 match to ground-truth annotation id 0 counted as miss, as pycocotools does" in g.explanation
    from_one = GateInputs(class_names=["a"], golden=BoxSet(gt.boxes.image, gt.boxes.category, gt.boxes.xywh),
                          predictions=pred)  # fmt: skip
    g1 = evaluate(policy, from_one).gates[0]
    assert "id_zero_matches" not in g1.to_dict()["evidence"] and g1.value == pytest.approx(1.0)
