"""The typed gate report: ``to_dict``/``from_dict`` round-trip exactly for reports of every gate kind (passing,
blocking, undefined values, gates not configured, a class without any box); malformed dicts are refused with
the key named; the plot data equals what ``lineage`` computed from the same inputs before it moved here."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quality_gates.agreement import detection_agreement
from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.coco import parse_coco_instances
from quality_gates.coverage import review_coverage
from quality_gates.errors import GateError, ReportFormatError
from quality_gates.evaluate import evaluate
from quality_gates.evidence import (
    EVIDENCE_TYPES,
    AgreementEvidence,
    CocoEvidence,
    DriftEvidence,
    ExpectationsEvidence,
    GoldenErrorEvidence,
    ReviewEvidence,
    SourceError,
)
from quality_gates.gates import model_threshold
from quality_gates.golden import golden_set_error
from quality_gates.inputs import GateInputs
from quality_gates.plots import BACKGROUND, MAX_CURVE_POINTS, ConfusionMatrixPlot, PRCurvePoints, ReportEvidence
from quality_gates.policy import Policy, parse_policy
from quality_gates.verdict import REPORT_VERSION, GateReport, GateResult
from service.demo.synthetic import DemoData, make_demo

from .helpers import DEMO_POLICY, demo_inputs, former_lineage_plots

# ---- realistic reports ---------------------------------------------------------------------------------------


def annotation_frame(demo: DemoData, *, planted: bool) -> pd.DataFrame:
    """The golden labels as an annotation table; ``planted`` adds a box past the right edge and a model label
    with a confidence of 1.5 and no weights hash."""
    size = {im["id"]: (im["width"], im["height"]) for im in demo.golden["images"]}
    names = {c["id"]: c["name"] for c in demo.golden["categories"]}
    rows: list[dict[str, Any]] = [
        {"image_id": a["image_id"], "width": size[a["image_id"]][0], "height": size[a["image_id"]][1],
         "category": names[a["category_id"]], "x": a["bbox"][0], "y": a["bbox"][1], "w": a["bbox"][2],
         "h": a["bbox"][3], "provenance_kind": "human", "annotator": "expert"}
        for a in demo.golden["annotations"]
    ]  # fmt: skip
    if planted:
        first = dict(rows[0])
        rows.append(first | {"x": first["width"] - 2.0, "w": 10.0})
        rows.append(first | {"provenance_kind": "model", "annotator": None, "score": 1.5, "model_version": "det@1",
                             "threshold": 0.5, "run_id": "run-1"})  # fmt: skip
    return pd.DataFrame(rows)


def _reports(demo: DemoData) -> dict[str, tuple[Policy, GateInputs, GateReport]]:
    gt = parse_coco_instances(demo.golden)
    review = review_coverage(model_labels=40, reviewed=30, routed=10, routed_reviewed=4)
    full = parse_policy(
        DEMO_POLICY.replace("review_coverage: {min: 0.05}", "review_coverage: {min: 0.05, min_routed: 0.5}")
    )
    cases: dict[str, tuple[Policy, GateInputs]] = {
        "passing": (full, demo_inputs(demo, annotation_frame=annotation_frame(demo, planted=False))),
        "blocking": (
            full,
            demo_inputs(
                demo,
                good=False,
                review=review,
                annotation_frame=annotation_frame(demo, planted=True),
                parent_class_names=[*gt.class_names, "emu"],
            ),
        ),
        # a class of the schema without any box on either side, and an acknowledged schema change
        "empty class": (
            parse_policy(DEMO_POLICY.replace("  expectations: {suite: default}\n", "")),
            demo_inputs(
                demo,
                class_names=[*gt.class_names, "emu"],
                parent_class_names=gt.class_names,
                acknowledged_changes={"added:emu"},
            ),
        ),
        # every value undefined: no prediction, a golden set without labels, nothing routed
        "undefined": (
            parse_policy(
                "name: u\ngates:\n  golden_set_error: {max: 0.1}\n  precision: {min: 0.5}\n  recall: {min: 0.5}\n"
                "  map: {min: 0.5}\n  review_coverage: {min: 0.5, min_routed: 0.5}\n"
            ),
            GateInputs(
                class_names=["a", "b"],
                golden=BoxSet.empty(),
                golden_images=np.array([1, 2]),
                predictions=BoxSet.empty(scored=True),
                review=review_coverage(model_labels=0, reviewed=0),
            ),
        ),
        # gates the policy leaves out are absent; no golden set and no predictions, so no plot data; a maximum
        # that never blocks (written null: JSON has no infinity)
        "two gates, no golden set": (
            parse_policy("name: s\ngates:\n  class_drift_psi: {max: .inf}\n  krippendorff_alpha: {min: 0.8}\n"),
            demo_inputs(demo, golden=None, golden_images=None, predictions=None),
        ),
        # more distinct scores than a plotted curve keeps
        "long curves": (
            parse_policy("name: l\ngates:\n  precision: {min: 0.5, iou: 0.6}\n  f1: {min: 0.5, threshold: 0.3}\n"),
            demo_inputs(make_demo(n_images=150, n_classes=2, seed=5), good=False),
        ),
        # a match to ground-truth annotation id 0 (counted as a miss, as pycocotools does)
        "id zero": (
            parse_policy("name: z\ngates:\n  map: {min: 0.2}\n  ap50: {min: 0.2}\n"),
            GateInputs(
                class_names=["a"],
                golden=BoxSet([1, 1], [0, 0], [[10, 10, 30, 30], [50, 10, 30, 30]], ann_id=[0, 1]),
                predictions=BoxSet([1, 1], [0, 0], [[10, 10, 30, 30], [50, 10, 30, 30]], score=[0.9, 0.8]),
                golden_images=np.array([1]),
            ),
        ),
    }
    return {name: (policy, inputs, evaluate(policy, inputs)) for name, (policy, inputs) in cases.items()}


@pytest.fixture(scope="module")
def reports(demo: DemoData) -> dict[str, tuple[Policy, GateInputs, GateReport]]:
    return _reports(demo)


CASES = ["passing", "blocking", "empty class", "undefined", "two gates, no golden set", "long curves", "id zero"]


def _floats(value: Any) -> Iterator[float]:
    """Every float inside a report (dataclasses, mappings, sequences)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _floats(getattr(value, f.name))
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _floats(v)
    elif isinstance(value, float):
        yield value


@pytest.mark.parametrize("case", CASES)
def test_report_round_trips_exactly(reports: dict[str, tuple[Policy, GateInputs, GateReport]], case: str) -> None:
    _, _, report = reports[case]
    d = report.to_dict()
    assert d["report_version"] == REPORT_VERSION
    assert json.loads(json.dumps(d, allow_nan=False)) == d  # JSON-ready, no NaN
    assert not any(math.isnan(x) for x in _floats(report))  # the typed report holds no NaN either
    back = GateReport.from_dict(d)
    assert back == report
    assert back.to_dict() == d
    assert GateReport.from_dict(json.loads(json.dumps(d))) == report
    for g, gd in zip(report.gates, d["gates"], strict=True):
        assert GateResult.from_dict(gd) == g
        assert isinstance(g.evidence, EVIDENCE_TYPES[g.name])


def test_the_cases_cover_every_gate_kind_and_every_edge(
    reports: dict[str, tuple[Policy, GateInputs, GateReport]],
) -> None:
    by_case = {case: reports[case][2] for case in CASES}
    assert {g.name for r in by_case.values() for g in r.gates} == set(EVIDENCE_TYPES)
    assert by_case["passing"].passed
    blocked = {g.name for g in by_case["blocking"].blocking}
    assert {"precision", "recall", "map", "golden_set_error", "expectations", "review_coverage",
            "class_drift_psi", "class_drift_js"} <= blocked  # fmt: skip
    undefined = by_case["undefined"]
    assert [g.value for g in undefined.gates] == [None, None, None, None, 1.0]  # review: nothing to review
    review = undefined.result("review_coverage")
    assert review is not None and isinstance(review.evidence, ReviewEvidence)
    assert review.evidence.routed_reviewed_share is None
    two = by_case["two gates, no golden set"]
    assert [(g.name, g.threshold) for g in two.gates] == [("krippendorff_alpha", 0.8), ("class_drift_psi", math.inf)]
    assert two.to_dict()["gates"][1]["threshold"] is None and two.passed and two.to_dict()["evidence"] == {}
    coco = by_case["id zero"].result("map")
    assert coco is not None and isinstance(coco.evidence, CocoEvidence) and coco.evidence.id_zero_matches == 1
    psi = by_case["blocking"].result("class_drift_psi")
    js = by_case["blocking"].result("class_drift_js")
    assert psi is not None and isinstance(psi.evidence, DriftEvidence) and psi.evidence.epsilon == 1e-4
    assert js is not None and isinstance(js.evidence, DriftEvidence) and js.evidence.epsilon is None
    assert psi.evidence.pending_schema_changes == ("removed:emu",)
    expectations = by_case["blocking"].result("expectations")
    assert expectations is not None and isinstance(expectations.evidence, ExpectationsEvidence)
    assert any(o.examples for o in expectations.evidence.outcomes if not o.success)
    long_curves = by_case["long curves"].evidence.pr_curves
    assert long_curves is not None and max(len(c.thresholds) for c in long_curves.values()) == MAX_CURVE_POINTS
    empty = by_case["empty class"]
    assert empty.per_class["emu"]["n_gt"] == 0 and empty.per_class["emu"]["precision"] is None
    curves = empty.evidence.pr_curves
    assert curves is not None and curves["emu"].thresholds == () and curves["emu"].recall == ()


@pytest.mark.parametrize("case", ["undefined", "two gates, no golden set", "blocking"])
def test_dict_forms_are_accepted_where_typed_values_are_expected(
    reports: dict[str, tuple[Policy, GateInputs, GateReport]], case: str
) -> None:
    """A report rebuilt from stored columns as the service does (dict evidence, NaN for each null number)
    equals the typed one; malformed dict evidence is refused."""
    report = reports[case][2]
    d = report.to_dict()

    def num(v: float | None) -> float:
        return math.nan if v is None else v

    gates = tuple(GateResult(**{**g, "value": num(g["value"]), "threshold": num(g["threshold"])}) for g in d["gates"])
    rebuilt = GateReport(report.passed, report.policy_name, report.policy_hash, gates, d["metrics"], d["per_class"],
                         d["data_hashes"], d["evidence"])  # fmt: skip
    assert rebuilt == report
    with pytest.raises(ReportFormatError) as info:
        GateResult(**{**d["gates"][0], "evidence": {"level": "nominal"}})
    assert info.value.key.startswith("evidence.")


# ---- the plot data: computed once, here, equal to lineage's -----------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_plot_data_equals_what_lineage_computed(
    reports: dict[str, tuple[Policy, GateInputs, GateReport]], case: str
) -> None:
    policy, inputs, report = reports[case]
    assert report.evidence.to_dict() == former_lineage_plots(policy, inputs, threshold=report.metrics["threshold"])


@pytest.mark.parametrize("case", ["passing", "blocking", "empty class", "long curves"])
def test_confusion_matrix_agrees_with_the_per_class_counts(
    reports: dict[str, tuple[Policy, GateInputs, GateReport]], case: str
) -> None:
    """Diagonal = true positives at the model threshold; each class row sums to its golden objects; each class
    column to its predictions at the threshold on the golden images."""
    _, _, report = reports[case]
    cm = report.evidence.confusion_matrix
    assert cm is not None and cm.labels == (*report.per_class, BACKGROUND)
    m = np.array(cm.matrix)
    for k, name in enumerate(report.per_class):
        row = report.per_class[name]
        assert m[k, k] == row["tp"] and m[k].sum() == row["n_gt"]
        assert m[:, k].sum() == row["tp"] + row["fp"]  # type: ignore[operator]
    assert m[-1, -1] == 0


def test_golden_error_per_source_and_alpha_per_class_are_typed_evidence(
    reports: dict[str, tuple[Policy, GateInputs, GateReport]],
) -> None:
    policy, inputs, report = reports["blocking"]
    assert inputs.golden is not None and inputs.annotators is not None and inputs.predictions is not None
    golden = report.result("golden_set_error")
    assert golden is not None and isinstance(golden.evidence, GoldenErrorEvidence)
    thr = model_threshold(policy)
    sources = {**inputs.annotators, "model:model": LabelSet(inputs.predictions)}
    ref = golden_set_error(inputs.golden, sources, num_classes=inputs.num_classes, iou=0.5,
                           thresholds={"model:model": thr}, golden_images=inputs.golden_images)  # fmt: skip
    assert golden.evidence.per_source == {name: SourceError.of(g) for name, g in ref.per_source.items()}
    assert set(golden.evidence.per_source) == {"alice", "bob", "carol", "model:model"}
    alpha = report.result("krippendorff_alpha")
    assert alpha is not None and isinstance(alpha.evidence, AgreementEvidence)
    agreement = detection_agreement(inputs.annotators, num_classes=inputs.num_classes, iou=0.5)
    names = list(inputs.class_names)
    assert alpha.evidence.per_class == pytest.approx({names[k]: a for k, a in agreement.per_class.items()})


def test_plot_data_without_golden_image_ids_covers_every_prediction() -> None:
    """Hand-computed: one golden box on image 1; the prediction there (0.9) matches, the one on image 2 (0.8)
    is a false positive (background row)."""
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10]]
    inputs = GateInputs(class_names=["a"], golden=BoxSet([1], [0], boxes[:1]),
                        predictions=BoxSet([1, 2], [0, 0], boxes, score=[0.9, 0.8]))  # fmt: skip
    evidence = evaluate(parse_policy("name: p\ngates:\n  precision: {min: 0.5}\n"), inputs).evidence
    assert evidence.pr_curves == {"a": PRCurvePoints((0.9, 0.8), (1.0, 0.5), (1.0, 1.0))}
    assert evidence.confusion_matrix == ConfusionMatrixPlot(("a", BACKGROUND), ((1, 0), (1, 0)), 0.5)
    assert ReportEvidence().to_dict() == {} and ReportEvidence.from_dict({}) == ReportEvidence()


# ---- malformed dicts ---------------------------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _gate(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in d["gates"] if g["name"] == name)


def _at(d: dict[str, Any], name: str) -> int:
    return next(i for i, g in enumerate(d["gates"]) if g["name"] == name)


MALFORMED: list[tuple[str, Edit, Callable[[dict[str, Any]], str]]] = [
    ("no version", lambda d: d.pop("report_version"), lambda d: "report_version"),
    ("another version", lambda d: d.update(report_version=2), lambda d: "report_version"),
    ("version as a boolean", lambda d: d.update(report_version=True), lambda d: "report_version"),
    ("unknown top-level key", lambda d: d.update(colour="red"), lambda d: "colour"),
    ("passed disagrees with the gates", lambda d: d.update(passed=not d["passed"]), lambda d: "passed"),
    ("gates not a list", lambda d: d.update(gates={}), lambda d: "gates"),
    ("value a string", lambda d: d["gates"][0].update(value="high"), lambda d: "gates[0].value"),
    ("value NaN", lambda d: d["gates"][0].update(value=math.nan), lambda d: "gates[0].value"),
    ("unknown op", lambda d: d["gates"][0].update(op="<"), lambda d: "gates[0].op"),
    ("passed missing", lambda d: d["gates"][0].pop("passed"), lambda d: "gates[0].passed"),
    ("unknown gate", lambda d: d["gates"][0].update(name="speed"), lambda d: "gates[0].evidence"),
    ("negative count",
     lambda d: _gate(d, "golden_set_error")["evidence"]["per_source"]["alice"].update(tp=-1),
     lambda d: f"gates[{_at(d, 'golden_set_error')}].evidence.per_source['alice'].tp"),
    ("interval of three",
     lambda d: _gate(d, "golden_set_error")["evidence"].update(wilson=[0.1, 0.2, 0.3]),
     lambda d: f"gates[{_at(d, 'golden_set_error')}].evidence.wilson"),
    ("coders missing", lambda d: _gate(d, "krippendorff_alpha")["evidence"].pop("coders"),
     lambda d: f"gates[{_at(d, 'krippendorff_alpha')}].evidence.coders"),
    ("unknown evidence key", lambda d: _gate(d, "precision")["evidence"].update(note="x"),
     lambda d: f"gates[{_at(d, 'precision')}].evidence.note"),
    ("example without a value",
     lambda d: next(o for o in _gate(d, "expectations")["evidence"]["outcomes"] if o["examples"])["examples"][0].pop(),
     lambda d: f"gates[{_at(d, 'expectations')}].evidence.outcomes["
               f"{next(i for i, o in enumerate(_gate(d, 'expectations')['evidence']['outcomes']) if o['examples'])}"
               "].examples[0]"),
    ("id_zero_matches written as 0", lambda d: _gate(d, "map")["evidence"].update(id_zero_matches=0),
     lambda d: f"gates[{_at(d, 'map')}].evidence.id_zero_matches"),
    ("unknown metric", lambda d: d["metrics"].update(speed=1.0), lambda d: "metrics['speed']"),
    ("per-class count not an integer", lambda d: d["per_class"]["person"].update(tp=1.5),
     lambda d: "per_class['person'].tp"),
    ("unknown per-class key", lambda d: d["per_class"]["person"].update(colour=1),
     lambda d: "per_class['person'].colour"),
    ("hash not a string", lambda d: d["data_hashes"].update({"golden.boxes": 5}),
     lambda d: "data_hashes['golden.boxes']"),
    ("matrix short of a row", lambda d: d["evidence"]["confusion_matrix"]["matrix"].pop(),
     lambda d: "evidence.confusion_matrix.matrix"),
    ("labels without background", lambda d: d["evidence"]["confusion_matrix"]["labels"].pop(),
     lambda d: "evidence.confusion_matrix.labels"),
    ("recall shorter than thresholds", lambda d: d["evidence"]["pr_curves"]["car"]["recall"].pop(),
     lambda d: "evidence.pr_curves['car'].recall"),
    ("precision null", lambda d: d["evidence"]["pr_curves"]["car"]["precision"].__setitem__(0, None),
     lambda d: "evidence.pr_curves['car'].precision[0]"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "key"), [(e, k) for _, e, k in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_dicts_are_refused_naming_the_key(
    reports: dict[str, tuple[Policy, GateInputs, GateReport]], edit: Edit, key: Callable[[dict[str, Any]], str]
) -> None:
    d = copy.deepcopy(reports["blocking"][2].to_dict())
    GateReport.from_dict(d)  # the unedited dict reads
    edit(d)
    with pytest.raises(ReportFormatError) as info:
        GateReport.from_dict(d)
    assert isinstance(info.value, GateError)
    assert info.value.key == key(d)
    assert str(info.value).startswith(f"gate report: {key(d)}: ")


@pytest.mark.parametrize("data", [[], "report", None, {1: "x"}])
def test_a_document_that_is_not_an_object_is_refused(data: Any) -> None:
    with pytest.raises(ReportFormatError, match="gate report: document: "):
        GateReport.from_dict(data)
