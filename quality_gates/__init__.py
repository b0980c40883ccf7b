"""labelgate's pure quality-gate layer: arrays and plain dicts in, numbers and frozen dataclasses out.

No file I/O, no database, no web; never imports ``service``, ``lineage`` or ``inference``. Great
Expectations is imported lazily (only when the expectations suite runs).

Modules: ``boxes`` (boxes, IoU), ``matching`` (greedy matching), ``detection`` (P/R/F1, PR curves,
confusion matrix), ``cocoeval`` (COCO AP identical to pycocotools), ``rle``/``segmentation``/``masks`` (COCO
masks and mask IoU), ``keypoints`` (OKS), ``classification`` (+ ``_golden``, ``_agreement``, ``_drift``),
``golden`` (golden-set error), ``intervals`` (Wilson, Clopper–Pearson), ``agreement`` (Krippendorff's alpha),
``expectations`` (Great Expectations suite), ``drift`` (PSI, Jensen–Shannon, schema changes), ``coverage``
(review coverage), ``policy`` (YAML policy), ``inputs``/``gates``/``evaluate`` (policy evaluation),
``verdict``/``evidence``/``plots`` (the typed gate report, its gates' evidence and its plot data, with
``to_dict``/``from_dict``), ``coco`` (COCO parsing), ``errors``.

Every task has its labels and gates: ``detect`` (boxes), ``segment`` (masks, matched by mask IoU, COCO segm),
``pose`` (keypoint objects, OKS with the schema's sigmas, COCO keypoints) and ``classify`` (class sets of
items). ``shapes`` treats boxes, masks and keypoint objects alike; ``coco_shapes`` parses COCO masks and
keypoints; ``class_measure``/``gates_classify``/``evaluate_classify``/``evidence_classify`` are
classification's measurements, gates, report metrics and evidence; ``classfile`` reads classification
label files. (Seeded demo data: ``service.demo.synthetic``.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# ``evaluate`` names both a submodule and its function: bound now, the package attribute stays the function
# (a lazy binding would be overwritten with the submodule by the first ``import quality_gates.evaluate``).
from quality_gates.evaluate import evaluate, missing_inputs

if TYPE_CHECKING:
    from quality_gates.agreement import (
        AgreementReport,
        ObjectUnits,
        alpha_per_class,
        alpha_reference,
        detection_agreement,
        krippendorff_alpha,
        object_units,
    )
    from quality_gates.boxes import BoxSet, LabelSet, box_iou, pair_iou
    from quality_gates.coco import (
        CocoDataset,
        CocoResults,
        check_same_categories,
        parse_coco_instances,
        parse_coco_results,
    )
    from quality_gates.cocoeval import COCO_STAT_NAMES, CocoEvalParams, CocoEvalResult, coco_evaluate
    from quality_gates.coverage import ReviewCoverage, review_coverage, review_coverage_from_flags
    from quality_gates.detection import DetectionCounts, DetectionMatch, PRCurve, confusion_matrix, match_detections
    from quality_gates.drift import SchemaChange, jensen_shannon, pending_schema_changes, psi, schema_changes
    from quality_gates.errors import GateError, InputFormatError, MissingInputError, PolicyError, ReportFormatError
    from quality_gates.evidence import (
        CLASSIFY_EVIDENCE_TYPES,
        EVIDENCE_TYPES,
        AgreementEvidence,
        CocoEvidence,
        DriftEvidence,
        ExpectationsEvidence,
        GateEvidence,
        GoldenErrorEvidence,
        PrecisionRecallEvidence,
        ReviewEvidence,
        SourceError,
        evidence_types,
    )
    from quality_gates.evidence_classify import (
        ClassAgreementEvidence,
        ClassGoldenEvidence,
        ClassificationEvidence,
        ClassSourceError,
    )
    from quality_gates.expectations import ExpectationOutcome, ExpectationsReport, run_expectations
    from quality_gates.gates import model_threshold
    from quality_gates.golden import GoldenError, GoldenSetReport, golden_error, golden_set_error
    from quality_gates.inputs import GateInputs, Task
    from quality_gates.intervals import clopper_pearson_interval, wilson_interval
    from quality_gates.matching import Matching, match_by_iou, match_greedy
    from quality_gates.plots import ConfusionMatrixPlot, PRCurvePoints, ReportEvidence
    from quality_gates.policy import GATE_NAMES, TASK_GATES, TASKS, Policy, parse_policy, policy_from_dict, policy_hash
    from quality_gates.verdict import (
        CLASSIFY_METRIC_KEYS,
        METRIC_KEYS,
        PER_CLASS_KEYS,
        REPORT_VERSION,
        GateReport,
        GateResult,
        metric_keys,
    )

_HOME: dict[str, str] = {
    "AgreementEvidence": "quality_gates.evidence",
    "AgreementReport": "quality_gates.agreement",
    "BoxSet": "quality_gates.boxes",
    "CLASSIFY_EVIDENCE_TYPES": "quality_gates.evidence",
    "CLASSIFY_METRIC_KEYS": "quality_gates.verdict",
    "COCO_STAT_NAMES": "quality_gates.cocoeval",
    "ClassAgreementEvidence": "quality_gates.evidence_classify",
    "ClassGoldenEvidence": "quality_gates.evidence_classify",
    "ClassSourceError": "quality_gates.evidence_classify",
    "ClassificationEvidence": "quality_gates.evidence_classify",
    "CocoDataset": "quality_gates.coco",
    "CocoEvalParams": "quality_gates.cocoeval",
    "CocoEvalResult": "quality_gates.cocoeval",
    "CocoEvidence": "quality_gates.evidence",
    "CocoResults": "quality_gates.coco",
    "ConfusionMatrixPlot": "quality_gates.plots",
    "DetectionCounts": "quality_gates.detection",
    "DetectionMatch": "quality_gates.detection",
    "DriftEvidence": "quality_gates.evidence",
    "EVIDENCE_TYPES": "quality_gates.evidence",
    "ExpectationOutcome": "quality_gates.expectations",
    "ExpectationsEvidence": "quality_gates.evidence",
    "ExpectationsReport": "quality_gates.expectations",
    "GATE_NAMES": "quality_gates.policy",
    "GateError": "quality_gates.errors",
    "GateEvidence": "quality_gates.evidence",
    "GateInputs": "quality_gates.inputs",
    "GateReport": "quality_gates.verdict",
    "GateResult": "quality_gates.verdict",
    "GoldenError": "quality_gates.golden",
    "GoldenErrorEvidence": "quality_gates.evidence",
    "GoldenSetReport": "quality_gates.golden",
    "InputFormatError": "quality_gates.errors",
    "LabelSet": "quality_gates.boxes",
    "METRIC_KEYS": "quality_gates.verdict",
    "Matching": "quality_gates.matching",
    "MissingInputError": "quality_gates.errors",
    "ObjectUnits": "quality_gates.agreement",
    "PER_CLASS_KEYS": "quality_gates.verdict",
    "PRCurve": "quality_gates.detection",
    "PRCurvePoints": "quality_gates.plots",
    "Policy": "quality_gates.policy",
    "PolicyError": "quality_gates.errors",
    "PrecisionRecallEvidence": "quality_gates.evidence",
    "REPORT_VERSION": "quality_gates.verdict",
    "ReportEvidence": "quality_gates.plots",
    "ReportFormatError": "quality_gates.errors",
    "ReviewCoverage": "quality_gates.coverage",
    "ReviewEvidence": "quality_gates.evidence",
    "SchemaChange": "quality_gates.drift",
    "SourceError": "quality_gates.evidence",
    "TASKS": "quality_gates.policy",
    "TASK_GATES": "quality_gates.policy",
    "Task": "quality_gates.inputs",
    "alpha_per_class": "quality_gates.agreement",
    "alpha_reference": "quality_gates.agreement",
    "box_iou": "quality_gates.boxes",
    "check_same_categories": "quality_gates.coco",
    "clopper_pearson_interval": "quality_gates.intervals",
    "coco_evaluate": "quality_gates.cocoeval",
    "confusion_matrix": "quality_gates.detection",
    "detection_agreement": "quality_gates.agreement",
    "evidence_types": "quality_gates.evidence",
    "golden_error": "quality_gates.golden",
    "golden_set_error": "quality_gates.golden",
    "jensen_shannon": "quality_gates.drift",
    "krippendorff_alpha": "quality_gates.agreement",
    "match_by_iou": "quality_gates.matching",
    "match_detections": "quality_gates.detection",
    "match_greedy": "quality_gates.matching",
    "metric_keys": "quality_gates.verdict",
    "model_threshold": "quality_gates.gates",
    "object_units": "quality_gates.agreement",
    "pair_iou": "quality_gates.boxes",
    "parse_coco_instances": "quality_gates.coco",
    "parse_coco_results": "quality_gates.coco",
    "parse_policy": "quality_gates.policy",
    "pending_schema_changes": "quality_gates.drift",
    "policy_from_dict": "quality_gates.policy",
    "policy_hash": "quality_gates.policy",
    "psi": "quality_gates.drift",
    "review_coverage": "quality_gates.coverage",
    "review_coverage_from_flags": "quality_gates.coverage",
    "run_expectations": "quality_gates.expectations",
    "schema_changes": "quality_gates.drift",
    "wilson_interval": "quality_gates.intervals",
}
"""Each public name's module: imported on first use (PEP 562), so ``import quality_gates.classfile`` or the
offline classification gate does not load COCO evaluation, Great Expectations' glue or scipy's modules it
never calls."""

__all__ = [
    "CLASSIFY_EVIDENCE_TYPES",
    "CLASSIFY_METRIC_KEYS",
    "COCO_STAT_NAMES",
    "EVIDENCE_TYPES",
    "GATE_NAMES",
    "METRIC_KEYS",
    "PER_CLASS_KEYS",
    "REPORT_VERSION",
    "TASKS",
    "TASK_GATES",
    "AgreementEvidence",
    "AgreementReport",
    "BoxSet",
    "ClassAgreementEvidence",
    "ClassGoldenEvidence",
    "ClassSourceError",
    "ClassificationEvidence",
    "CocoDataset",
    "CocoEvalParams",
    "CocoEvalResult",
    "CocoEvidence",
    "CocoResults",
    "ConfusionMatrixPlot",
    "DetectionCounts",
    "DetectionMatch",
    "DriftEvidence",
    "ExpectationOutcome",
    "ExpectationsEvidence",
    "ExpectationsReport",
    "GateError",
    "GateEvidence",
    "GateInputs",
    "GateReport",
    "GateResult",
    "GoldenError",
    "GoldenErrorEvidence",
    "GoldenSetReport",
    "InputFormatError",
    "LabelSet",
    "Matching",
    "MissingInputError",
    "ObjectUnits",
    "PRCurve",
    "PRCurvePoints",
    "Policy",
    "PolicyError",
    "PrecisionRecallEvidence",
    "ReportEvidence",
    "ReportFormatError",
    "ReviewCoverage",
    "ReviewEvidence",
    "SchemaChange",
    "SourceError",
    "Task",
    "alpha_per_class",
    "alpha_reference",
    "box_iou",
    "check_same_categories",
    "clopper_pearson_interval",
    "coco_evaluate",
    "confusion_matrix",
    "detection_agreement",
    "evaluate",
    "evidence_types",
    "golden_error",
    "golden_set_error",
    "jensen_shannon",
    "krippendorff_alpha",
    "match_by_iou",
    "match_detections",
    "match_greedy",
    "metric_keys",
    "missing_inputs",
    "model_threshold",
    "object_units",
    "pair_iou",
    "parse_coco_instances",
    "parse_coco_results",
    "parse_policy",
    "pending_schema_changes",
    "policy_from_dict",
    "policy_hash",
    "psi",
    "review_coverage",
    "review_coverage_from_flags",
    "run_expectations",
    "schema_changes",
    "wilson_interval",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
