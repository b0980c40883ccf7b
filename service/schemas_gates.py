"""Request and response bodies of the gate, approval and release routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lineage.approvals import Meaning

__all__ = [
    "ApprovalCreate",
    "ApprovalPublic",
    "EvaluationCreate",
    "EvaluationPublic",
    "GoldenSetCreate",
    "GoldenSetPublic",
    "PolicyCreate",
    "PolicyPublic",
    "RejectBody",
    "ReleasePublic",
    "SigningSecretSet",
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
    dataset_version_id: int
    manifest_hash: str | None
    created_at: datetime


class EvaluationCreate(_In):
    policy: str = Field(min_length=1, max_length=120, description="NAME or NAME@VERSION of a stored policy")
    golden_set: str | None = Field(default=None, max_length=100, description="default: the newest golden set")
    acknowledged_changes: list[str] = Field(default_factory=list, max_length=1000)


class EvaluationPublic(_Out):
    """``GateReport.to_dict()`` plus the record's fields."""

    id: int
    dataset_version_id: int
    passed: bool
    policy_name: str
    policy_hash: str
    gates: list[dict[str, Any]]
    metrics: dict[str, Any]
    per_class: dict[str, Any]
    evidence: dict[str, Any]
    data_hashes: dict[str, Any]
    created_at: datetime


class SigningSecretSet(_In):
    secret: str = Field(min_length=8, max_length=200)


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
