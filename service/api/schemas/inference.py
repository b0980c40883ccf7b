"""Request and response bodies of the auto-labelling routes: models, runs, thresholds, calibrations,
active-learning selection and the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, computed_field

from inference.review import QueueEntry
from lineage.models import ReviewDecision, RunState
from lineage.schemas import GeometryType
from service.api.schemas.common import FreeJson, InputModel, OutputModel, RowId, Seed, examples

__all__ = [
    "BoxIn",
    "CalibrationPublic",
    "DecisionIn",
    "DecisionPublic",
    "LabelPublic",
    "ModelCreate",
    "ModelDetail",
    "ModelPublic",
    "NewBoxIn",
    "QueuePublic",
    "ResolveIn",
    "RunCancel",
    "RunCreate",
    "RunPublic",
    "SelectionIn",
    "ThresholdsIn",
    "TrainingDataPublic",
    "queue_public",
]


class ModelCreate(InputModel):
    model_config = examples(
        {
            "name": "street-detector",
            "version": "2",
            "weights_path": "street-detector-v2.pt",
            "schema_ref": "street-objects@2",
            "class_map": {"car": "car", "pedestrian": "person"},
        }
    )

    name: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=64)
    weights_path: str = Field(min_length=1, max_length=1000, description="a .pt under <workspace>/models/")
    schema_ref: str = Field(min_length=1, max_length=120, description="label schema NAME or NAME@N")
    class_map: dict[str, str] = Field(default_factory=dict, description="{model class: schema class}")
    framework: Literal["ultralytics"] = "ultralytics"
    task: Literal["detect", "segment", "pose", "classify"] | None = Field(
        default=None, description="the task the weights must be (refused when they are another)"
    )
    trained_on: list[str] = Field(default_factory=list, max_length=100, description="DATASET@VERSION refs")
    validated_on: list[str] = Field(default_factory=list, max_length=100, description="DATASET@VERSION refs")
    hyperparameters: FreeJson = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=200, description="its validation metrics")
    intended_use: str = Field(default="", max_length=4000)
    caveats: list[str] = Field(default_factory=list, max_length=50)


class ModelPublic(OutputModel):
    id: int
    name: str
    version: str
    framework: str
    weights_uri: str
    weights_sha256: str
    class_map: dict[str, Any]
    schema_version_id: int | None
    created_at: datetime
    weights_bytes: int | None = None
    weights_rev: str | None = None
    ultralytics_version: str | None = None
    torch_version: str | None = None
    imgsz: int | None = None
    training: dict[str, Any] | None = None
    card: dict[str, Any] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stored(self) -> bool:
        """Whether the weights are stored in the workspace's DVC repository (``weights_uri`` relative to it)
        rather than at a path outside it (versions registered before weights were stored)."""
        return "://" not in self.weights_uri and not self.weights_uri.startswith("/")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def task(self) -> str:
        """``detect``, ``segment``, ``pose`` or ``classify``: what the model predicts (recorded at registration
        in the class map; a map without it is a detector's)."""
        return str(self.class_map.get("task", "detect"))

    def classes(self) -> dict[str, Any]:
        """Class index → schema class (the class map without its ``task``/``keypoints`` entries)."""
        return {k: v for k, v in self.class_map.items() if k.isdigit()}


class TrainingDataPublic(OutputModel):
    """A dataset version the model was trained (``train``) or validated (``val``) on, pinned at registration."""

    role: Literal["train", "val"]
    version: str = Field(description="DATASET@VERSION")
    dataset_version_id: int
    item_count: int
    manifest_hash: str | None
    dvc_hash: str | None


class ModelDetail(ModelPublic):
    """A model version with the data it was trained and validated on."""

    training_data: list[TrainingDataPublic] = Field(default_factory=list)


class RunCreate(InputModel):
    model_config = examples(
        {"version": "street@v3", "model": "street-detector@2", "threshold": 0.5, "review_band": 0.2},
        {"version": "street@v3", "model": "street-detector@2", "threshold": 0.5, "calibration_id": 4, "device": "cpu"},
    )

    version: str = Field(description="DATASET@VERSION")
    model: str = Field(description="registered model NAME@VERSION")
    threshold: float = Field(ge=0, le=1)
    review_band: float = Field(default=0.0, ge=0, le=1)
    nms_iou: float = Field(default=0.7, ge=0, le=1)
    device: str = Field(default="auto", max_length=32, pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    batch_size: int = Field(default=32, ge=1, le=1024)
    class_thresholds: dict[str, float | None] | None = None
    calibration_id: RowId | None = Field(default=None, description="take per-class thresholds from this record")
    strategy: Literal["tbal", "f1"] = "tbal"


class RunPublic(OutputModel):
    id: int
    dataset_version_id: int
    model_version_id: int
    threshold: float
    review_band_low: float
    nms_iou: float
    device: str
    batch_size: int
    state: RunState
    items_total: int
    items_done: int
    images_per_s: float | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    class_thresholds: dict[str, float | None] = Field(default_factory=dict)
    reused: bool = False


class RunCancel(InputModel):
    model_config = examples({"reason": "queued with the wrong model version"})

    reason: str = Field(default="", max_length=2000, description="why, for the audit log")


class ThresholdsIn(InputModel):
    model_config = examples(
        {"calibration_id": 4, "strategy": "tbal"}, {"class_thresholds": {"car": 0.45, "person": 0.6}}
    )

    calibration_id: RowId | None = None
    strategy: Literal["tbal", "f1"] = "tbal"
    class_thresholds: dict[str, float | None] | None = None


class CalibrationPublic(OutputModel):
    id: int
    model: str = Field(description="the model version calibrated, NAME@VERSION")
    weights_sha256: str
    golden: str = Field(description="the golden dataset version, DATASET@VERSION")
    golden_manifest_hash: str
    golden_items: int
    golden_boxes: int
    ignored_golden_classes: list[str]
    predictions: int
    report: dict[str, Any] = Field(description="iou, target_error, level, band, classes, thresholds, coverage")
    created_at: datetime
    audit_seq: int = Field(description="the audit event that recorded it")


class SelectionIn(InputModel):
    model_config = examples({"fraction": 0.05, "uncertainty": "entropy", "diversity": "kcenter", "seed": 0})

    fraction: float = Field(default=0.03, gt=0, le=1, description="share of the pool, default 3 %")
    uncertainty: Literal["entropy", "margin"] = "entropy"
    diversity: Literal["kcenter", "kmeans", "none"] = "kcenter"
    seed: Seed = Field(default=0, description="seeds k-means (0 to 2**32 - 1)")


class LabelPublic(OutputModel):
    id: int
    category: str
    geometry_type: str = "box"
    x: float | None
    y: float | None
    w: float | None
    h: float | None
    geometry: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = None
    kind: str
    confidence: float | None
    threshold: float | None
    model_version_id: int | None
    autolabel_run_id: int | None


class QueuePublic(OutputModel):
    id: int
    dataset_version_id: int
    item_id: int
    uri: str
    width: int | None
    height: int | None
    autolabel_run_id: int | None
    reason: str
    priority: float
    resolved_at: datetime | None
    created_at: datetime
    labels: list[LabelPublic]


class BoxIn(InputModel):
    """A correction (None: kept): the class, the box, or the geometry of a polygon, mask or keypoint object."""

    category: str | None = Field(default=None, max_length=100)
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    geometry: FreeJson | None = None


class DecisionIn(InputModel):
    model_config = examples(
        {"annotation_id": 812, "decision": "accept"},
        {"annotation_id": 813, "decision": "correct", "correction": {"category": "bus"}, "comment": "a bus, not a car"},
    )

    annotation_id: RowId
    decision: ReviewDecision
    comment: str = Field(default="", max_length=2000)
    correction: BoxIn | None = None
    resolve: bool = False


class DecisionPublic(OutputModel):
    review_id: int
    annotation_id: RowId
    decision: ReviewDecision
    correction_id: int | None
    resolved: bool


class NewBoxIn(InputModel):
    """A label the model missed: a box ``x, y, w, h``, or another ``geometry_type`` with its ``geometry`` (a
    ``tag`` has neither; see ``LabelIn``)."""

    model_config = examples({"category": "person", "x": 310, "y": 120, "w": 40, "h": 96})

    category: str = Field(min_length=1, max_length=100)
    geometry_type: GeometryType = "box"
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    geometry: FreeJson | None = None


class ResolveIn(InputModel):
    model_config = examples({"note": "every label checked"})

    note: str = Field(default="", max_length=2000)


def queue_public(entry: QueueEntry) -> QueuePublic:
    """A review-queue row as the API shows it: the row, its item's uri and size, its labels."""
    row, item = entry.row, entry.item
    return QueuePublic(
        id=row.id or 0,
        dataset_version_id=row.dataset_version_id,
        item_id=row.item_id,
        uri=item.uri,
        width=item.width,
        height=item.height,
        autolabel_run_id=row.autolabel_run_id,
        reason=row.reason,
        priority=row.priority,
        resolved_at=row.resolved_at,
        created_at=row.created_at,
        labels=[LabelPublic.model_validate(a) for a in entry.labels],
    )
