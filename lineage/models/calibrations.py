"""Threshold calibrations and the per-class thresholds given to auto-label runs. Both tables are append-only.

A **calibration** is one ``labelgate calibrate`` of a model version against a golden dataset version: its
parameters, its counts, and per class the F1-optimal and TBAL results (``classes``), the thresholds each
strategy gives (``thresholds``) and the golden items each would auto-label (``coverage``).

A run's **thresholds** are one setting of per-class thresholds on a queued run (the latest setting is the
one the runner uses), taken from a calibration's strategy (``calibration_id`` and ``strategy``) or given
explicitly (both ``NULL``).

Each row is recorded, with its digest, by the audit event that creates it; ``audit_seq`` is that event's
seq (for rows moved out of their events by revision 0005, the event they came from, whose seq is also
their id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from lineage.models._base import JSONType, UTCDateTime, utcnow

__all__ = ["Calibration", "RunThresholds"]


class Calibration(SQLModel, table=True):
    """A model version calibrated on a golden dataset version.

    ``iou`` matched predictions to golden boxes; TBAL bounded the auto-labelled error below
    ``target_error`` at one-sided confidence ``level``; ``band`` is the review band coverage was counted
    with. ``thresholds`` is ``{strategy: {class: threshold or null}}`` for ``f1`` and ``tbal``.
    """

    __tablename__ = "calibrations"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    model_version_id: int = Field(foreign_key="model_versions.id", index=True)
    weights_sha256: str = Field(max_length=64)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id")
    golden_manifest_hash: str = Field(max_length=64)
    iou: float
    target_error: float
    level: float
    band: float
    golden_items: int
    golden_boxes: int
    predictions: int
    ignored_golden_classes: list[str] = Field(default_factory=list, sa_type=JSONType)
    classes: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    thresholds: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    coverage: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    audit_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))


class RunThresholds(SQLModel, table=True):
    """One setting of a run's per-class thresholds (``{class: threshold or null}``; null: never
    auto-label the class), from a calibration's strategy or explicit."""

    __tablename__ = "run_thresholds"
    __table_args__ = (
        CheckConstraint("(calibration_id IS NULL) = (strategy IS NULL)", name="ck_run_thresholds_source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    autolabel_run_id: int = Field(foreign_key="autolabel_runs.id", index=True)
    per_class: dict[str, float | None] = Field(default_factory=dict, sa_type=JSONType)
    calibration_id: int | None = Field(default=None, foreign_key="calibrations.id")
    strategy: str | None = Field(default=None, max_length=8)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    audit_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
