"""Golden sets, gate policies, gate evaluations, releases and their approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from lineage.models._base import JSONType, UTCDateTime, utcnow

__all__ = ["Approval", "GateEvaluation", "GatePolicy", "GoldenSet", "Release"]


class GoldenSet(SQLModel, table=True):
    """Expert labels used to measure annotators and models; they live in a golden dataset's version."""

    __tablename__ = "golden_sets"
    __table_args__ = (UniqueConstraint("project_id", "name", "version", name="uq_golden_set_version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    name: str = Field(max_length=100)
    # Golden sets are versioned like policies: ``NAME@VERSION`` names exactly one.
    version: int = Field(default=1, ge=1)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id")
    manifest_hash: str | None = Field(default=None, max_length=64)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class GatePolicy(SQLModel, table=True):
    """A versioned YAML policy; ``policy_hash`` is the hash of its validated, canonical form."""

    __tablename__ = "gate_policies"
    __table_args__ = (UniqueConstraint("project_id", "name", "version", name="uq_gate_policy_version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    name: str = Field(max_length=100)
    version: int = Field(ge=1)
    yaml_text: str = Field(sa_column=Column(Text(), nullable=False))
    policy_hash: str = Field(max_length=64)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class GateEvaluation(SQLModel, table=True):
    """One run of a policy on a dataset version, with every gate's metric, threshold, verdict, evidence."""

    __tablename__ = "gate_evaluations"

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id", index=True)
    policy_id: int = Field(foreign_key="gate_policies.id")
    policy_hash: str = Field(max_length=64)
    # The golden set the evaluation measured against (None: the policy needed none).
    golden_set_id: int | None = Field(default=None, foreign_key="golden_sets.id")
    passed: bool
    gates: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    data_hashes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Release(SQLModel, table=True):
    """A released version: the passed evaluation it rests on and its signed evidence bundle."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("dataset_version_id", name="uq_release_version"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id")
    evaluation_id: int = Field(foreign_key="gate_evaluations.id")
    git_tag: str | None = Field(default=None, max_length=200)
    bundle_path: str | None = Field(default=None, max_length=1000)
    bundle_sha256: str | None = Field(default=None, max_length=64)
    audit_head_seq: int | None = None
    audit_head_hash: str | None = Field(default=None, max_length=64)
    # The signed evidence bundle itself, stored in the release's own transaction: a crash can leave no
    # release or a complete one, never a release without its evidence (the file is an export of this).
    bundle: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    signing_key_id: str | None = Field(default=None, max_length=32)
    released_by: int = Field(foreign_key="users.id")
    released_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Approval(SQLModel, table=True):
    """An electronic signature: printed name snapshotted, UTC server time, meaning, bound to content."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("dataset_version_id", "signer_id", "meaning", name="uq_approval_signer"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id", index=True)
    content_hash: str = Field(max_length=64)
    signer_id: int = Field(foreign_key="users.id")
    printed_name: str = Field(max_length=200)
    role: str = Field(sa_type=String(32))
    meaning: str = Field(sa_type=String(32))
    signed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    signature_hash: str = Field(max_length=64)
