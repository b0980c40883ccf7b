"""Annotations with provenance, their reviews, model versions and auto-label runs.

Annotations are append-only: a correction is a new row whose ``supersedes_id`` names the old one.
Provenance completeness per kind is a database CHECK constraint, not only a rule in code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from lineage.models._base import JSONType, UTCDateTime, utcnow

__all__ = [
    "Annotation",
    "AutoLabelRun",
    "LabelImport",
    "ModelTrainingData",
    "ModelVersion",
    "ProvenanceKind",
    "Review",
    "ReviewDecision",
    "ReviewQueueItem",
    "RunState",
]


class ProvenanceKind(StrEnum):
    human = "human"
    model = "model"
    import_ = "import"
    synthetic = "synthetic"


class RunState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class ReviewDecision(StrEnum):
    accept = "accept"
    reject = "reject"
    correct = "correct"


PROVENANCE_CHECK = (
    "(kind = 'human' AND annotator_id IS NOT NULL)"
    " OR (kind = 'model' AND model_version_id IS NOT NULL AND weights_sha256 IS NOT NULL"
    " AND confidence IS NOT NULL AND threshold IS NOT NULL AND autolabel_run_id IS NOT NULL)"
    " OR (kind = 'import' AND source_sha256 IS NOT NULL AND source_format IS NOT NULL)"
    " OR (kind = 'synthetic' AND generator_config_hash IS NOT NULL)"
)


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project_id", "name", "version", name="uq_model_version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    name: str = Field(max_length=100)
    version: str = Field(max_length=64)
    framework: str = Field(default="ultralytics", max_length=32)
    weights_uri: str = Field(max_length=1000)
    weights_sha256: str = Field(max_length=64)
    class_map: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    schema_version_id: int | None = Field(default=None, foreign_key="label_schema_versions.id")
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # Since revision 0008: the weights' size, the git revision that tracks them in the workspace's DVC
    # repository (``weights_uri`` is then a path relative to it), the library versions, the input size, and
    # what the training recorded (hyper-parameters, validation metrics, trainer) and the card's own words
    # (intended use, caveats). Rows registered before it keep an absolute ``weights_uri`` and NULLs here.
    weights_bytes: int | None = Field(default=None, sa_type=BigInteger)
    weights_rev: str | None = Field(default=None, max_length=64)
    ultralytics_version: str | None = Field(default=None, max_length=32)
    torch_version: str | None = Field(default=None, max_length=32)
    imgsz: int | None = None
    training: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    card: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class ModelTrainingData(SQLModel, table=True):
    """A dataset version a model version was trained (``role = 'train'``) or validated (``'val'``) on, with the
    version's pins when the model was registered (its manifest and DVC hashes, its item count)."""

    __tablename__ = "model_training_data"
    __table_args__ = (
        UniqueConstraint("model_version_id", "dataset_version_id", "role", name="uq_model_training_data"),
        CheckConstraint("role IN ('train', 'val')", name="ck_model_training_role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="model_versions.id", index=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id", index=True)
    role: str = Field(max_length=8)
    manifest_hash: str | None = Field(default=None, max_length=64)
    dvc_hash: str | None = Field(default=None, max_length=80)
    item_count: int = Field(default=0, ge=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class AutoLabelRun(SQLModel, table=True):
    __tablename__ = "autolabel_runs"

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id", index=True)
    model_version_id: int = Field(foreign_key="model_versions.id")
    threshold: float = Field(ge=0, le=1)
    review_band_low: float = Field(default=0.0, ge=0, le=1)
    nms_iou: float = Field(default=0.7, ge=0, le=1)
    device: str = Field(default="auto", max_length=32)
    batch_size: int = Field(default=32, ge=1)
    state: RunState = Field(default=RunState.queued, sa_type=String(16))
    items_total: int = Field(default=0, ge=0)
    items_done: int = Field(default=0, ge=0)
    images_per_s: float | None = None
    error: str | None = Field(default=None, max_length=4000)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Annotation(SQLModel, table=True):
    """One label on one item. Box geometry is ``x, y, w, h`` in pixels (COCO convention)."""

    __tablename__ = "annotations"
    __table_args__ = (
        CheckConstraint(PROVENANCE_CHECK, name="ck_annotation_provenance"),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="ck_confidence"),
        Index("ix_annotations_version_item", "dataset_version_id", "item_id"),
        # A label is superseded at most once (a correction or a rejection), so its history is a chain.
        Index("uq_annotations_supersedes_id", "supersedes_id", unique=True),
        Index("ix_annotations_origin_id", "origin_id"),
        Index("ix_annotations_audit_seq", "audit_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id")
    item_id: int = Field(foreign_key="items.id")
    category: str = Field(max_length=100)
    geometry_type: str = Field(default="box", max_length=16)
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    geometry: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    attributes: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    kind: ProvenanceKind = Field(sa_type=String(16))
    annotator_id: int | None = Field(default=None, foreign_key="users.id")
    model_version_id: int | None = Field(default=None, foreign_key="model_versions.id")
    weights_sha256: str | None = Field(default=None, max_length=64)
    confidence: float | None = None
    threshold: float | None = None
    autolabel_run_id: int | None = Field(default=None, foreign_key="autolabel_runs.id")
    source_sha256: str | None = Field(default=None, max_length=64)
    source_format: str | None = Field(default=None, max_length=16)
    generator_config_hash: str | None = Field(default=None, max_length=64)
    supersedes_id: int | None = Field(default=None, foreign_key="annotations.id")
    origin_id: int | None = Field(default=None, foreign_key="annotations.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # Who wrote this row (the importer, the corrector, the run's owner): an author of the version, whoever
    # the label is attributed to. Null only on rows written before revision 0003.
    created_by: int | None = Field(default=None, foreign_key="users.id")
    # Integrity: the row's content digest (``lineage.audit.chain.rows``) and the audit event that recorded it.
    row_digest: str | None = Field(default=None, max_length=64)
    audit_seq: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))


class Review(SQLModel, table=True):
    """A reviewer's decision on an annotation; a ``correct`` names the annotation that supersedes it."""

    __tablename__ = "reviews"

    id: int | None = Field(default=None, primary_key=True)
    annotation_id: int = Field(foreign_key="annotations.id", index=True)
    reviewer_id: int = Field(foreign_key="users.id")
    decision: ReviewDecision = Field(sa_type=String(16))
    correction_id: int | None = Field(default=None, foreign_key="annotations.id")
    comment: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ReviewQueueItem(SQLModel, table=True):
    """An item routed to human review (low confidence, or picked by active learning)."""

    __tablename__ = "review_queue"
    __table_args__ = (UniqueConstraint("item_id", "autolabel_run_id", name="uq_review_queue_item"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id", index=True)
    item_id: int = Field(foreign_key="items.id")
    autolabel_run_id: int | None = Field(default=None, foreign_key="autolabel_runs.id")
    reason: str = Field(max_length=32)
    priority: float = Field(default=0.0)
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class LabelImport(SQLModel, table=True):
    """One import of a source into a dataset version: what it was (the source's SHA-256), what it wrote,
    and the source's own ids (``id_map``) for export. Append-only.

    ``generation`` counts imports of the same source into the same version: 0 for the first; a deliberate
    re-import (``--reimport``) takes the next one. The unique key makes a concurrent duplicate fail on the
    database instead of doubling the labels.
    """

    __tablename__ = "label_imports"
    __table_args__ = (UniqueConstraint("dataset_version_id", "source_sha256", "generation", name="uq_label_import"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id", index=True)
    source_sha256: str = Field(max_length=64)
    generation: int = Field(default=0, ge=0)
    format: str = Field(max_length=16)
    source: str = Field(max_length=1000)
    kind: str = Field(max_length=16)
    annotator_id: int | None = Field(default=None, foreign_key="users.id")
    annotations: int = Field(default=0, ge=0)
    images: int = Field(default=0, ge=0)
    clipped: int = Field(default=0, ge=0)
    id_map: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
