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
``to_dict``/``from_dict``), ``coco`` (COCO parsing), ``errors``. (Seeded demo data: ``service.demo.synthetic``.)
"""

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
from quality_gates.evaluate import evaluate, missing_inputs
from quality_gates.evidence import (
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
)
from quality_gates.expectations import ExpectationOutcome, ExpectationsReport, run_expectations
from quality_gates.gates import model_threshold
from quality_gates.golden import GoldenError, GoldenSetReport, golden_error, golden_set_error
from quality_gates.inputs import GateInputs
from quality_gates.intervals import clopper_pearson_interval, wilson_interval
from quality_gates.matching import Matching, match_by_iou, match_greedy
from quality_gates.plots import ConfusionMatrixPlot, PRCurvePoints, ReportEvidence
from quality_gates.policy import GATE_NAMES, Policy, parse_policy, policy_from_dict, policy_hash
from quality_gates.verdict import METRIC_KEYS, PER_CLASS_KEYS, REPORT_VERSION, GateReport, GateResult

__all__ = [
    "COCO_STAT_NAMES",
    "EVIDENCE_TYPES",
    "GATE_NAMES",
    "METRIC_KEYS",
    "PER_CLASS_KEYS",
    "REPORT_VERSION",
    "AgreementEvidence",
    "AgreementReport",
    "BoxSet",
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
    "alpha_per_class",
    "alpha_reference",
    "box_iou",
    "check_same_categories",
    "clopper_pearson_interval",
    "coco_evaluate",
    "confusion_matrix",
    "detection_agreement",
    "evaluate",
    "golden_error",
    "golden_set_error",
    "jensen_shannon",
    "krippendorff_alpha",
    "match_by_iou",
    "match_detections",
    "match_greedy",
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
