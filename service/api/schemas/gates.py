"""Request and response bodies of the gate, approval and release routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from lineage.gates import EvaluationView, report_of
from lineage.release.approvals import Meaning
from quality_gates import GateReport
from service.api.schemas.common import InputModel, OutputModel, examples

__all__ = [
    "ApprovalCreate",
    "ApprovalPublic",
    "ConfusionMatrixPublic",
    "EvaluationCreate",
    "EvaluationEvidencePublic",
    "EvaluationPublic",
    "EvaluationSummary",
    "GateResultPublic",
    "GoldenSetBrief",
    "GoldenSetCreate",
    "GoldenSetPublic",
    "PRCurvePublic",
    "PolicyCreate",
    "PolicyPublic",
    "RejectBody",
    "ReleasePublic",
    "VersionEvidencePublic",
    "evaluation_public",
    "evaluation_summary",
]


class PolicyCreate(InputModel):
    model_config = examples(
        {
            "yaml": "name: default\ngolden: street-golden@1\ngates:\n  golden_set_error: {max: 0.05, iou: 0.5}\n"
            "  krippendorff_alpha: {min: 0.80, level: nominal}\n  review_coverage: {min: 0.05}\n"
            "release:\n  approvals: 1\n  approver_roles: [compliance_officer, reviewer]\n  four_eyes: true\n"
        }
    )

    yaml: str = Field(min_length=1, max_length=100_000, description="the policy as YAML text")


class PolicyPublic(OutputModel):
    id: int
    name: str
    version: int
    policy_hash: str
    yaml_text: str
    created_at: datetime


class GoldenSetCreate(InputModel):
    model_config = examples({"name": "street-golden", "dataset": "street-golden", "version": "g1"})

    name: str = Field(min_length=1, max_length=100)
    dataset: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=64)


class GoldenSeed(InputModel):
    """Seed golden set ``name`` from the ground truth marked in a labelling tool on ``dataset@version``;
    ``golden_dataset``: the golden dataset to add a version to (default ``<dataset>-golden``)."""

    model_config = examples({"name": "street-golden", "dataset": "street", "version": "v3"})

    name: str = Field(min_length=1, max_length=100)
    dataset: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=64)
    golden_dataset: str | None = Field(default=None, min_length=1, max_length=100)


class GoldenSetPublic(OutputModel):
    """A golden set version; listed, with the dataset version it names (``dataset_version``,
    ``DATASET@VERSION``) and its size (``items`` images, ``labels`` live labels)."""

    id: int
    name: str
    version: int
    dataset_version_id: int
    manifest_hash: str | None
    created_at: datetime
    dataset_version: str | None = None
    items: int | None = None
    labels: int | None = None


class EvaluationCreate(InputModel):
    model_config = examples(
        {"policy": "default"},
        {"policy": "default@2", "golden": "street-golden@1", "acknowledged_changes": ["added:bicycle"]},
    )

    policy: str = Field(min_length=1, max_length=120, description="NAME or NAME@VERSION of a stored policy")
    golden: str | None = Field(
        default=None,
        max_length=120,
        description="NAME@VERSION of the golden set to measure against, overriding the policy's `golden`; "
        "a policy with golden-based gates and neither is refused (422)",
    )
    acknowledged_changes: list[str] = Field(default_factory=list, max_length=1000)


class GoldenSetBrief(BaseModel):
    """The golden set an evaluation measured against, as it recorded it (size at evaluation time)."""

    id: int | None = None
    name: str
    version: int | None = None
    dataset_version: str | None = None
    items: int | None = None
    labels: int | None = None
    manifest_hash: str | None = None


Purpose = Literal["release_evidence", "recheck", "evaluation"]


class EvaluationSummary(OutputModel):
    """An evaluation without its gates' evidence and plot data.

    ``purpose``: ``release_evidence`` (the evaluation the version's release rests on), ``recheck`` (made
    after the release; it never replaces the evidence) or ``evaluation`` (any other). ``release_id``: the
    version's release, if any, and ``release_evidence_id`` the evaluation it rests on. ``golden_set``: the
    golden set measured against (null: the policy needed none). ``blocking``: the gates that did not pass.
    """

    id: int
    dataset_version_id: int
    dataset: str
    version: str
    purpose: Purpose
    release_id: int | None
    release_evidence_id: int | None = None
    passed: bool
    policy_name: str
    policy_version: int
    policy_hash: str
    golden_set: GoldenSetBrief | None
    blocking: list[str]
    created_at: datetime


class GateResultPublic(BaseModel):
    """One gate's verdict (``GateResult.to_dict()``): ``value`` null when undefined (it then blocks),
    ``threshold`` null for a maximum that never blocks; ``evidence`` is the gate kind's evidence in its dict
    form (:data:`quality_gates.evidence.EVIDENCE_TYPES` says which kind each gate carries)."""

    name: str
    metric: str
    value: float | None
    threshold: float | None
    op: Literal["<=", ">="]
    passed: bool
    explanation: str
    evidence: dict[str, Any]


class PRCurvePublic(BaseModel):
    """One class's precision–recall curve as plotted: descending ``thresholds``, ``precision`` and ``recall``
    at each (recall null when the class has no golden object), all three of one length."""

    thresholds: list[float]
    precision: list[float]
    recall: list[float | None]


class ConfusionMatrixPublic(BaseModel):
    """``labels``: the classes then ``background``; ``matrix[g][p]`` counts golden objects of label ``g``
    matched to predictions of label ``p`` (rows golden, columns predicted) at IoU ``iou`` (mask IoU for
    segment, OKS for pose). A classify report's matrix counts items by golden and predicted class and has no
    ``iou``."""

    labels: list[str]
    matrix: list[list[int]]
    iou: float | None = Field(default=None, exclude_if=lambda v: v is None)


def _absent(value: object) -> bool:
    return value is None


class EvaluationEvidencePublic(BaseModel):
    """An evaluation's ``evidence``: the golden set as it recorded it (``{id, ref, name, version,
    dataset_version, items, labels, manifest_hash[, classes_outside_schema]}``; a name alone if recorded
    before golden sets were versioned; null when the policy needed none), and the report's plot data,
    ``pr_curves`` (class → curve) and ``confusion_matrix``: both, or neither (absent) without golden labels
    and predictions."""

    golden_set: dict[str, Any] | str | None = None
    pr_curves: dict[str, PRCurvePublic] | None = Field(default=None, exclude_if=_absent)
    confusion_matrix: ConfusionMatrixPublic | None = Field(default=None, exclude_if=_absent)


#: The fields of :class:`EvaluationPublic` that ``GateReport.to_dict()`` holds as they are (``evidence`` adds
#: the golden set to the report's plot data).
_REPORT_FIELDS = frozenset(
    {"report_version", "passed", "policy_name", "policy_hash", "gates", "metrics", "per_class", "data_hashes"}
)


class EvaluationPublic(EvaluationSummary):
    """``GateReport.to_dict()`` (version ``report_version``) plus the record's fields
    (:class:`EvaluationSummary`); ``evidence`` holds the report's plot data and the golden set. ``task``:
    what the labels were (``detect`` boxes, ``segment`` masks, ``pose`` keypoints, ``classify`` classes),
    which decides how each gate matched them and the kind of its evidence."""

    report_version: int
    task: Literal["detect", "segment", "pose", "classify"] = "detect"
    gates: list[GateResultPublic]
    metrics: dict[str, float | None]
    per_class: dict[str, dict[str, int | float | None]]
    evidence: EvaluationEvidencePublic
    data_hashes: dict[str, str]

    def report_dict(self) -> dict[str, Any]:
        """The report's dict form (``GateReport.to_dict()``) the evaluation carries: its fields of that form,
        and its evidence but the golden set (the plot data)."""
        out = self.model_dump(include=set(_REPORT_FIELDS))
        if self.task != "detect":  # a detection report's dict names no task
            out["task"] = self.task
        out["evidence"] = self.evidence.model_dump(exclude={"golden_set"})
        return out


class VersionEvidencePublic(BaseModel):
    """What stands as a version's gate evidence.

    ``basis``: ``release`` (released or deprecated: the evaluation its release rests on, whatever came
    after), ``latest`` (not released: its newest evaluation) or ``none`` (never evaluated). ``evidence``:
    that evaluation in full; ``rechecks``: ids of evaluations made after the release, newest first;
    ``evaluations``: every evaluation of the version without its plot data, newest first.
    """

    version: str
    state: str
    basis: Literal["release", "latest", "none"]
    release_id: int | None
    evidence: EvaluationPublic | None
    rechecks: list[int]
    evaluations: list[EvaluationSummary]


class ApprovalCreate(InputModel):
    model_config = examples({"meaning": "approval", "signing_secret": "correct horse battery"})

    meaning: Meaning
    signing_secret: str = Field(min_length=1, max_length=200, description="re-authentication at signing")


class ApprovalPublic(OutputModel):
    id: int
    printed_name: str
    role: str
    meaning: str
    signed_at: datetime
    content_hash: str
    signature_hash: str


class RejectBody(InputModel):
    model_config = examples({"reason": "night frames: pedestrians missed on 12 % of the golden set"})

    reason: str = Field(min_length=1, max_length=2000)


class ReleasePublic(OutputModel):
    id: int
    dataset_version_id: int
    evaluation_id: int
    git_tag: str | None
    bundle_sha256: str | None
    signing_key_id: str | None
    audit_head_seq: int | None
    audit_head_hash: str | None
    released_at: datetime


def _golden_brief(view: EvaluationView) -> GoldenSetBrief | None:
    recorded = (view.record.evidence or {}).get("golden_set")
    if isinstance(recorded, dict):
        return GoldenSetBrief.model_validate({k: recorded.get(k) for k in GoldenSetBrief.model_fields})
    if view.golden is not None:
        return GoldenSetBrief(id=view.golden.id, name=view.golden.name, version=view.golden.version)
    if isinstance(recorded, str):  # recorded before golden sets were versioned: the name alone
        return GoldenSetBrief(name=recorded)
    return None


def _summary(view: EvaluationView, report: GateReport) -> EvaluationSummary:
    record = view.record
    return EvaluationSummary(
        id=record.id or 0,
        dataset_version_id=record.dataset_version_id,
        dataset=view.dataset.name,
        version=view.version.version,
        purpose=view.purpose,
        release_id=view.release.id if view.release is not None else None,
        release_evidence_id=view.release.evaluation_id if view.release is not None else None,
        passed=report.passed,
        policy_name=report.policy_name,
        policy_version=view.policy.version,
        policy_hash=report.policy_hash,
        golden_set=_golden_brief(view),
        blocking=[g.name for g in report.blocking],
        created_at=record.created_at,
    )


def evaluation_summary(view: EvaluationView) -> EvaluationSummary:
    """The summary of a stored evaluation as every door shows it (its report read back, :func:`report_of`)."""
    return _summary(view, report_of(view.record, view.policy.name))


def evaluation_public(view: EvaluationView) -> EvaluationPublic:
    """A stored evaluation with its gates, metrics, evidence and plot data, as every door shows it: its
    report read back (:func:`report_of`) in the report's dict form, and the golden set it recorded."""
    report = report_of(view.record, view.policy.name)
    as_dict = report.to_dict()
    return EvaluationPublic(
        **_summary(view, report).model_dump(),
        report_version=as_dict["report_version"],
        task=as_dict.get("task", "detect"),
        gates=as_dict["gates"],
        metrics=as_dict["metrics"],
        per_class=as_dict["per_class"],
        evidence={"golden_set": view.record.evidence.get("golden_set"), **as_dict["evidence"]},
        data_hashes=as_dict["data_hashes"],
    )
