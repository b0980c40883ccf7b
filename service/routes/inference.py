"""Auto-labelling routes: model registry, runs (queued here, executed by ``labelgate worker``), calibration
records, active-learning selection and the review queue.

Runs never execute inside a request: ``POST .../autolabel-runs`` queues one and answers 202 with its id.
Models are registered from weights already on the server, under ``<workspace>/models/`` only: loading a
``.pt`` unpickles it, so the API never opens a path a client chose elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from inference import registry, review, runs
from inference.calibrate import get_calibration
from lineage.errors import InvalidInput
from lineage.labels.annotations import BoxChange
from lineage.models import Annotation, AutoLabelRun, ModelVersion, ReviewDecision, RunState
from lineage.schemas import resolve_schema_ref
from service.deps import CallerDep, Offset, SessionDep, SettingsDep
from service.routes.datasets import actor_of
from service.schemas import RowId, Seed
from service.worker import signals_dir

router = APIRouter(tags=["auto-labelling"])
P = "/projects/{project_id}"
RUN = P + "/autolabel-runs/{run_id}"
QUEUE = P + "/review-queue/{queue_id}"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ModelCreate(_In):
    name: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=64)
    weights_path: str = Field(min_length=1, max_length=1000, description="a .pt under <workspace>/models/")
    schema_ref: str = Field(min_length=1, max_length=120, description="label schema NAME or NAME@N")
    class_map: dict[str, str] = Field(default_factory=dict, description="{model class: schema class}")
    framework: Literal["ultralytics"] = "ultralytics"


class ModelPublic(_Out):
    id: int
    name: str
    version: str
    framework: str
    weights_uri: str
    weights_sha256: str
    class_map: dict[str, Any]
    schema_version_id: int | None
    created_at: datetime


class RunCreate(_In):
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


class RunPublic(_Out):
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


class ThresholdsIn(_In):
    calibration_id: RowId | None = None
    strategy: Literal["tbal", "f1"] = "tbal"
    class_thresholds: dict[str, float | None] | None = None


class SelectionIn(_In):
    fraction: float = Field(default=0.03, gt=0, le=1, description="share of the pool, default 3 %")
    uncertainty: Literal["entropy", "margin"] = "entropy"
    diversity: Literal["kcenter", "kmeans", "none"] = "kcenter"
    seed: Seed = Field(default=0, description="seeds k-means (0 to 2**32 - 1)")


class LabelPublic(_Out):
    id: int
    category: str
    x: float | None
    y: float | None
    w: float | None
    h: float | None
    kind: str
    confidence: float | None
    threshold: float | None
    model_version_id: int | None
    autolabel_run_id: int | None


class QueuePublic(BaseModel):
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


class BoxIn(_In):
    category: str | None = Field(default=None, max_length=100)
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None


class DecisionIn(_In):
    annotation_id: RowId
    decision: ReviewDecision
    comment: str = Field(default="", max_length=2000)
    correction: BoxIn | None = None
    resolve: bool = False


class DecisionPublic(BaseModel):
    review_id: int
    annotation_id: RowId
    decision: ReviewDecision
    correction_id: int | None
    resolved: bool


class NewBoxIn(_In):
    category: str = Field(min_length=1, max_length=100)
    x: float
    y: float
    w: float
    h: float


class ResolveIn(_In):
    note: str = Field(default="", max_length=2000)


def _run_public(session: SessionDep, run: AutoLabelRun, *, reused: bool = False) -> RunPublic:
    data = RunPublic.model_validate(run)
    return data.model_copy(
        update={"class_thresholds": dict(runs.run_thresholds(session, run).per_class), "reused": reused}
    )


def _queue_public(entry: review.QueueEntry) -> QueuePublic:
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


def _calibrated(session: SessionDep, project_id: RowId, calibration_id: RowId, strategy: str) -> dict[str, Any]:
    record = get_calibration(session, project_id=project_id, calibration_id=calibration_id)
    per_class: dict[str, Any] = record["report"]["thresholds"][strategy]
    return per_class


@router.get(P + "/models", name="list_models", response_model=list[ModelPublic])
def list_models(project_id: RowId, session: SessionDep) -> list[ModelVersion]:
    return registry.list_models(session, project_id=project_id)


@router.post(P + "/models", name="register_model", response_model=ModelPublic, status_code=201)
def register_model(
    project_id: RowId, body: ModelCreate, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> ModelVersion:
    """Register weights that an operator placed under ``<workspace>/models/``."""
    root = (settings.workspace / "models").resolve()
    path = (root / body.weights_path).resolve()
    if not path.is_relative_to(root):
        raise InvalidInput(f"weights must lie under {root} (a path relative to it)", field="weights_path")
    sv = resolve_schema_ref(session, project_id=project_id, ref=body.schema_ref)
    return registry.register_model(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        name=body.name,
        version=body.version,
        weights=Path(path),
        schema_version_id=sv.id or 0,
        overrides=body.class_map,
        framework=body.framework,
    )


@router.post(P + "/autolabel-runs", name="queue_autolabel_run", response_model=RunPublic, status_code=202)
def queue_autolabel_run(project_id: RowId, body: RunCreate, session: SessionDep, caller: CallerDep) -> RunPublic:
    """Queue a run (``labelgate worker`` executes it); an identical unfinished run is returned instead."""
    per_class = body.class_thresholds
    evidence = None
    if body.calibration_id is not None:
        if per_class is not None:
            raise InvalidInput("give class_thresholds or calibration_id, not both", field="calibration_id")
        per_class = _calibrated(session, project_id, body.calibration_id, body.strategy)
        evidence = {"calibration_id": body.calibration_id, "strategy": body.strategy}
    run, created = runs.queue_run(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        version=body.version,
        model=body.model,
        threshold=body.threshold,
        review_band=body.review_band,
        nms_iou=body.nms_iou,
        device=body.device,
        batch_size=body.batch_size,
        class_thresholds=per_class,
        evidence=evidence,
    )
    return _run_public(session, run, reused=not created)


@router.get(P + "/autolabel-runs", name="list_autolabel_runs", response_model=list[RunPublic])
def list_autolabel_runs(
    project_id: RowId,
    session: SessionDep,
    state: RunState | None = None,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
) -> list[RunPublic]:
    found = runs.list_runs(session, project_id=project_id, state=state, offset=offset, limit=limit)
    return [_run_public(session, r) for r in found]


@router.get(RUN, name="get_autolabel_run", response_model=RunPublic)
def get_autolabel_run(project_id: RowId, run_id: RowId, session: SessionDep) -> RunPublic:
    """A run with its progress (``items_done`` of ``items_total``), throughput, state and error."""
    return _run_public(session, runs.get_run(session, project_id=project_id, run_id=run_id))


@router.post(RUN + "/cancel", name="cancel_autolabel_run", response_model=RunPublic)
def cancel_autolabel_run(project_id: RowId, run_id: RowId, session: SessionDep, caller: CallerDep) -> RunPublic:
    run = runs.get_run(session, project_id=project_id, run_id=run_id)
    return _run_public(session, runs.cancel_run(session, actor=actor_of(caller), run=run))


@router.put(RUN + "/thresholds", name="set_run_thresholds", response_model=RunPublic)
def set_run_thresholds(
    project_id: RowId, run_id: RowId, body: ThresholdsIn, session: SessionDep, caller: CallerDep
) -> RunPublic:
    """Per-class thresholds for a queued run: explicit, or from a calibration record (``strategy``)."""
    run = runs.get_run(session, project_id=project_id, run_id=run_id)
    if (body.calibration_id is None) == (body.class_thresholds is None):
        raise InvalidInput("give exactly one of class_thresholds and calibration_id", field="body")
    if body.calibration_id is not None:
        per_class = _calibrated(session, project_id, body.calibration_id, body.strategy)
        evidence: dict[str, Any] = {"calibration_id": body.calibration_id, "strategy": body.strategy}
    else:
        per_class, evidence = dict(body.class_thresholds or {}), {"source": "explicit"}
    runs.set_class_thresholds(session, actor=actor_of(caller), run=run, per_class=per_class, evidence=evidence)
    return _run_public(session, run)


@router.get(P + "/calibrations/{calibration_id}", name="get_calibration_record")
def get_calibration_record(project_id: RowId, calibration_id: RowId, session: SessionDep) -> dict[str, Any]:
    """The evidence a ``labelgate calibrate`` recorded (per-class thresholds, counts, coverage)."""
    return {"id": calibration_id, **get_calibration(session, project_id=project_id, calibration_id=calibration_id)}


@router.post(RUN + "/active-learning", name="select_active_learning_batch", response_model=list[QueuePublic])
def select_active_learning_batch(
    project_id: RowId, run_id: RowId, body: SelectionIn, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> list[QueuePublic]:
    """Queue the next human batch from the run's pool: most uncertain, thinned for diversity."""
    rows = review.select_next_batch(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        run_id=run_id,
        signals_dir=signals_dir(settings),
        fraction=body.fraction,
        uncertainty=body.uncertainty,
        diversity=body.diversity,
        seed=body.seed,
    )
    return [_queue_public(review.get_entry(session, project_id=project_id, queue_id=r.id or 0)) for r in rows]


@router.get(P + "/review-queue", name="list_review_queue", response_model=list[QueuePublic])
def list_review_queue(
    project_id: RowId,
    session: SessionDep,
    run_id: RowId | None = None,
    version_id: RowId | None = None,
    reason: str | None = None,
    resolved: bool = False,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
) -> list[QueuePublic]:
    """Queued items, lowest confidence first, each with its labels."""
    entries = review.list_queue(
        session,
        project_id=project_id,
        run_id=run_id,
        version_id=version_id,
        reason=reason,
        resolved=resolved,
        offset=offset,
        limit=limit,
    )
    return [_queue_public(e) for e in entries]


@router.get(QUEUE, name="get_review_queue_item", response_model=QueuePublic)
def get_review_queue_item(project_id: RowId, queue_id: RowId, session: SessionDep) -> QueuePublic:
    return _queue_public(review.get_entry(session, project_id=project_id, queue_id=queue_id))


@router.post(QUEUE + "/decisions", name="decide_review_queue_item", response_model=DecisionPublic, status_code=201)
def decide_review_queue_item(
    project_id: RowId, queue_id: RowId, body: DecisionIn, session: SessionDep, caller: CallerDep
) -> DecisionPublic:
    """Accept, reject or correct one of the item's labels (a correction supersedes the model label)."""
    change = None if body.correction is None else BoxChange(**body.correction.model_dump())
    r = review.decide(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        queue_id=queue_id,
        annotation_id=body.annotation_id,
        decision=body.decision,
        comment=body.comment,
        change=change,
        resolve_row=body.resolve,
    )
    return DecisionPublic(
        review_id=r.id or 0,
        annotation_id=r.annotation_id,
        decision=ReviewDecision(r.decision),
        correction_id=r.correction_id,
        resolved=body.resolve,
    )


@router.post(QUEUE + "/labels", name="add_review_queue_label", response_model=LabelPublic, status_code=201)
def add_review_queue_label(
    project_id: RowId, queue_id: RowId, body: NewBoxIn, session: SessionDep, caller: CallerDep
) -> Annotation:
    """Add a box the model missed (a ``human`` label)."""
    new_id = review.add_label(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        queue_id=queue_id,
        category=body.category,
        x=body.x,
        y=body.y,
        w=body.w,
        h=body.h,
    )
    found = session.get(Annotation, new_id)
    assert found is not None
    return found


@router.post(QUEUE + "/resolve", name="resolve_review_queue_item", response_model=QueuePublic)
def resolve_review_queue_item(
    project_id: RowId, queue_id: RowId, body: ResolveIn, session: SessionDep, caller: CallerDep
) -> QueuePublic:
    review.resolve(session, actor=actor_of(caller), project_id=project_id, queue_id=queue_id, note=body.note)
    return _queue_public(review.get_entry(session, project_id=project_id, queue_id=queue_id))
