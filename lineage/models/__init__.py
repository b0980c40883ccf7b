"""Every table of labelgate's record store (SQLModel). Importing this registers them all."""

from lineage.models.annotations import (
    Annotation,
    AutoLabelRun,
    LabelImport,
    ModelTrainingData,
    ModelVersion,
    ProvenanceKind,
    Review,
    ReviewDecision,
    ReviewQueueItem,
    RunState,
)
from lineage.models.audit import AuditEvent
from lineage.models.calibrations import Calibration, RunThresholds
from lineage.models.datasets import Dataset, DatasetVersion, Item, VersionState
from lineage.models.gates import Approval, GateEvaluation, GatePolicy, GoldenSet, Release
from lineage.models.identity import ApiToken, Membership, Project, Role, User
from lineage.models.schemas import LabelSchema, LabelSchemaVersion

__all__ = [
    "Annotation",
    "ApiToken",
    "Approval",
    "AuditEvent",
    "AutoLabelRun",
    "Calibration",
    "Dataset",
    "DatasetVersion",
    "GateEvaluation",
    "GatePolicy",
    "GoldenSet",
    "Item",
    "LabelImport",
    "LabelSchema",
    "LabelSchemaVersion",
    "Membership",
    "ModelTrainingData",
    "ModelVersion",
    "Project",
    "ProvenanceKind",
    "Release",
    "Review",
    "ReviewDecision",
    "ReviewQueueItem",
    "Role",
    "RunState",
    "RunThresholds",
    "User",
    "VersionState",
]
