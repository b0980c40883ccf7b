"""Request and response bodies of the lineage API (schemas, datasets, versions, annotations, lineage).

Inputs forbid unknown fields; server-owned fields (actor, annotator of human labels, hashes, revisions,
model provenance of a run) are never inputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from lineage.models import ReviewDecision, VersionState
from lineage.schemas import GeometryType, LabelClass
from service.api.schemas.common import FreeJson, InputModel, OutputModel, RowId

__all__ = [
    "AnnotationPublic",
    "BulkAnnotations",
    "BulkResult",
    "CorrectionIn",
    "DatasetCreate",
    "DatasetPublic",
    "LabelClassIn",
    "LabelIn",
    "ProvenanceIn",
    "ReviewIn",
    "ReviewPublic",
    "SchemaCreate",
    "SchemaDiffPublic",
    "SchemaPublic",
    "SchemaPublish",
    "SchemaVersionPublic",
    "StateChange",
    "VersionCreate",
    "VersionPublic",
]

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class LabelClassIn(LabelClass):
    """A class as a client sends it: its ``attributes`` spec within the limits of free-form JSON."""

    attributes: FreeJson = Field(default_factory=dict)


class SchemaCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, pattern=NAME)
    classes: list[LabelClassIn] = Field(min_length=1, max_length=10_000)
    multi_label: bool = Field(False, description="classification schemas: an item may carry several tag classes")


class SchemaPublish(InputModel):
    classes: list[LabelClassIn] = Field(min_length=1, max_length=10_000)
    multi_label: bool | None = Field(None, description="None keeps the latest version's setting")


class SchemaVersionPublic(OutputModel):
    id: int
    schema_id: int
    version: int
    parent_id: int | None
    classes: list[dict[str, Any]]
    options: dict[str, Any] | None = None
    content_hash: str
    diff: dict[str, Any]
    git_revision: str | None
    created_at: datetime


class SchemaPublic(OutputModel):
    id: int
    name: str
    created_at: datetime
    latest: SchemaVersionPublic | None = None


class SchemaDiffPublic(OutputModel):
    from_version: int
    to_version: int
    added: list[str]
    removed: list[str]
    renamed: list[dict[str, str]]
    redefined: list[dict[str, Any]]
    reordered: bool
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    changed: bool


class DatasetCreate(InputModel):
    name: str = Field(min_length=1, max_length=64, pattern=NAME)
    description: str = Field(default="", max_length=2000)
    is_golden: bool = False


class DatasetPublic(OutputModel):
    id: int
    name: str
    description: str
    is_golden: bool
    created_at: datetime


class VersionCreate(InputModel):
    version: str = Field(min_length=1, max_length=64, pattern=NAME)
    parent: str | None = Field(default=None, max_length=64, description="the parent version's name")
    schema_ref: str | None = Field(
        default=None, alias="schema", max_length=120, description="NAME or NAME@VERSION; default: the parent's"
    )
    source_dir: str | None = Field(
        default=None, max_length=1000, description="folder of images, relative to the workspace's incoming/ folder"
    )
    inherit_labels: bool = True

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


class VersionPublic(OutputModel):
    id: int
    dataset_id: int
    version: str
    parent_id: int | None
    schema_version_id: int | None
    state: VersionState
    git_revision: str | None
    dvc_hash: str | None
    data_path: str | None
    item_count: int
    manifest_hash: str | None
    created_at: datetime


class StateChange(InputModel):
    state: VersionState
    reason: str = Field(default="", max_length=2000)


class LabelIn(InputModel):
    """A label on the item named by ``item_id`` or ``item_uri``: a box ``bbox`` ``[x, y, w, h]`` in pixels, or
    another ``geometry_type`` with its ``geometry``: ``polygon`` ``{"polygons": [[x1, y1, ...], ...]}``,
    ``mask`` ``{"rle": {"size": [h, w], "counts": "<COCO RLE>"}}``, ``keypoints``
    ``{"keypoints": [[x, y, v], ...]}`` (``bbox`` optional), ``tag`` (no bbox, no geometry)."""

    item_id: RowId | None = None
    item_uri: str | None = Field(default=None, max_length=1000)
    category: str = Field(min_length=1, max_length=100)
    geometry_type: GeometryType = "box"
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4)
    geometry: FreeJson | None = None
    attributes: FreeJson | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _box_when_a_box(self) -> LabelIn:
        if self.geometry_type in ("box", "point") and self.bbox is None:
            raise ValueError(f"a {self.geometry_type} label needs bbox [x, y, w, h]")
        if self.geometry_type in ("polygon", "mask", "tag") and self.bbox is not None:
            raise ValueError(f"a {self.geometry_type} label takes its box from its geometry; leave bbox out")
        return self


class ProvenanceIn(InputModel):
    """``human``: the caller is the annotator. ``model``: the run's model, weights and threshold are used.
    ``synthetic``: the generator config's hash."""

    kind: Literal["human", "model", "synthetic"] = "human"
    autolabel_run_id: RowId | None = None
    generator_config_hash: str | None = Field(default=None, min_length=64, max_length=64, pattern=r"^[0-9a-f]+$")


class BulkAnnotations(InputModel):
    provenance: ProvenanceIn = Field(default_factory=ProvenanceIn)
    annotations: list[LabelIn] = Field(min_length=1, max_length=5000, description="1 to 5000 labels")


class BulkResult(OutputModel):
    created: int
    ids: list[int]


class AnnotationPublic(OutputModel):
    id: int
    dataset_version_id: int
    item_id: int
    category: str
    geometry_type: str
    x: float | None
    y: float | None
    w: float | None
    h: float | None
    geometry: dict[str, Any] | None
    attributes: dict[str, Any] | None
    kind: str
    annotator_id: int | None
    model_version_id: int | None
    weights_sha256: str | None
    confidence: float | None
    threshold: float | None
    autolabel_run_id: int | None
    source_sha256: str | None
    source_format: str | None
    generator_config_hash: str | None
    supersedes_id: int | None
    origin_id: int | None
    created_at: datetime


class CorrectionIn(InputModel):
    """What changes (None: kept): the class, the box, the attributes, or the geometry of a polygon, mask or
    keypoint object (as ``LabelIn`` gives it; the box then follows from it)."""

    category: str | None = Field(default=None, min_length=1, max_length=100)
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4)
    attributes: FreeJson | None = None
    geometry: FreeJson | None = None
    reason: str = Field(default="", max_length=2000)


class ReviewIn(InputModel):
    decision: ReviewDecision
    comment: str = Field(default="", max_length=2000)
    correction: CorrectionIn | None = None


class ReviewPublic(OutputModel):
    id: int
    annotation_id: int
    reviewer_id: int
    decision: ReviewDecision
    correction_id: int | None
    comment: str
    created_at: datetime


ExportFormat = Literal["coco", "yolo", "voc", "classes-folder", "classes-csv", "classes-json", "cvat"]
ImportFormat = Literal["coco", "yolo", "voc", "classes-folder", "classes-csv", "classes-json", "labelstudio", "cvat"]
