"""Request and response bodies of the gate, approval and release routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lineage.release.approvals import Meaning

__all__ = [
    "ApprovalCreate",
    "ApprovalPublic",
    "EvaluationCreate",
    "EvaluationPublic",
    "EvaluationSummary",
    "GoldenSetBrief",
    "GoldenSetCreate",
    "GoldenSetPublic",
    "PolicyCreate",
    "PolicyPublic",
    "RejectBody",
    "ReleasePublic",
    "VersionEvidencePublic",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PolicyCreate(_In):
    yaml: str = Field(min_length=1, max_length=100_000, description="the policy as YAML text")


class PolicyPublic(_Out):
    id: int
    name: str
    version: int
    policy_hash: str
    yaml_text: str
    created_at: datetime


class GoldenSetCreate(_In):
    name: str = Field(min_length=1, max_length=100)
    dataset: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=64)


class GoldenSetPublic(_Out):
    id: int
    name: str
    version: int
    dataset_version_id: int
    manifest_hash: str | None
    created_at: datetime


class EvaluationCreate(_In):
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


class EvaluationSummary(_Out):
    """An evaluation without its gates' evidence and plot data.

    ``purpose``: ``release_evidence`` (the evaluation the version's release rests on), ``recheck`` (made
    after the release; it never replaces the evidence) or ``evaluation`` (any other). ``release_id``: the
    version's release, if any. ``golden_set``: the golden set measured against (null: the policy needed
    none). ``blocking``: the gates that did not pass.
    """

    id: int
    dataset_version_id: int
    dataset: str
    version: str
    purpose: Purpose
    release_id: int | None
    passed: bool
    policy_name: str
    policy_version: int
    policy_hash: str
    golden_set: GoldenSetBrief | None
    blocking: list[str]
    created_at: datetime


class EvaluationPublic(EvaluationSummary):
    """``GateReport.to_dict()`` plus the record's fields (:class:`EvaluationSummary`)."""

    gates: list[dict[str, Any]]
    metrics: dict[str, Any]
    per_class: dict[str, Any]
    evidence: dict[str, Any]
    data_hashes: dict[str, Any]


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


class ApprovalCreate(_In):
    meaning: Meaning
    signing_secret: str = Field(min_length=1, max_length=200, description="re-authentication at signing")


class ApprovalPublic(_Out):
    id: int
    printed_name: str
    role: str
    meaning: str
    signed_at: datetime
    content_hash: str
    signature_hash: str


class RejectBody(_In):
    reason: str = Field(min_length=1, max_length=2000)


class ReleasePublic(_Out):
    id: int
    dataset_version_id: int
    evaluation_id: int
    git_tag: str | None
    bundle_sha256: str | None
    signing_key_id: str | None
    audit_head_seq: int | None
    audit_head_hash: str | None
    released_at: datetime
