"""Auto-labelling routes: model registry, runs (queued here, executed by ``labelgate worker``), calibration
records, active-learning selection and the review queue.

Runs never execute inside a request: ``POST .../autolabel-runs`` queues one and answers 202 with its id.
Models are registered from weights already on the server, under ``<workspace>/models/`` only: loading a
``.pt`` unpickles it, so the API never opens a path a client chose elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from inference.registry import CardWords, TrainingRecord
from lineage.models import Annotation, ModelVersion, ReviewDecision, RunState
from service import actions
from service.actions.labels import Correction
from service.api.deps import ContextDep, Offset
from service.api.routes.paging import CutDep, next_link
from service.api.schemas.common import INT32_MAX, ProjectRef, RowId
from service.api.schemas.inference import (
    CalibrationPublic,
    DecisionIn,
    DecisionPublic,
    LabelPublic,
    ModelCreate,
    ModelDetail,
    ModelPublic,
    NewBoxIn,
    QueuePublic,
    ResolveIn,
    RunCancel,
    RunCreate,
    RunPublic,
    SelectionIn,
    ThresholdsIn,
    queue_public,
)

router = APIRouter(tags=["auto-labelling"])
P = "/projects/{project_id}"
RUN = P + "/autolabel-runs/{run_id}"
ModelRef = Annotated[str, PathParam(min_length=3, max_length=129, description="the model's NAME@VERSION")]
QUEUE = P + "/review-queue/{queue_id}"


@router.get(P + "/models", name="list_models", response_model=list[ModelPublic])
def list_models(project_id: ProjectRef, ctx: ContextDep, cut: CutDep) -> list[ModelVersion]:
    return cut(actions.models_of(ctx, project_id))


@router.post(P + "/models", name="register_model", response_model=ModelPublic, status_code=201)
def register_model(project_id: ProjectRef, body: ModelCreate, ctx: ContextDep) -> ModelVersion:
    """Register weights that an operator placed under ``<workspace>/models/``."""
    return actions.register_model(
        ctx,
        project_id,
        name=body.name,
        version=body.version,
        weights=Path(body.weights_path),
        schema_ref=body.schema_ref,
        class_map=body.class_map,
        framework=body.framework,
        weights_root=ctx.settings.workspace / "models",
        task=body.task,
        training=TrainingRecord(
            train=tuple(body.trained_on),
            val=tuple(body.validated_on),
            hyperparameters=body.hyperparameters,
            metrics=body.metrics,
        )
        if body.trained_on or body.validated_on or body.hyperparameters or body.metrics
        else None,
        card=CardWords(intended_use=body.intended_use, caveats=tuple(body.caveats)),
    )


@router.get(P + "/models/{ref}", name="get_model", response_model=ModelDetail)
def get_model(project_id: ProjectRef, ref: ModelRef, ctx: ContextDep) -> dict[str, Any]:
    """One model version, with the dataset versions it was trained and validated on."""
    return actions.model_detail(ctx, project_id, ref)


@router.get(
    P + "/models/{ref}/weights",
    name="download_model_weights",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the registered bytes"}},
)
def download_model_weights(project_id: ProjectRef, ref: ModelRef, ctx: ContextDep) -> FileResponse:
    """The model version's exact registered weights, after their SHA-256 is checked again (409 when the stored
    file changed). The digest is in the ``X-Labelgate-SHA256`` header."""
    model, path = actions.model_weights(ctx, project_id, ref)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=f"{model.name}-{model.version}.pt",
        headers={"X-Labelgate-SHA256": model.weights_sha256},
    )


@router.post(P + "/autolabel-runs", name="queue_autolabel_run", response_model=RunPublic, status_code=202)
def queue_autolabel_run(project_id: ProjectRef, body: RunCreate, ctx: ContextDep) -> dict[str, Any]:
    """Queue a run (``labelgate worker`` executes it); an identical unfinished run is returned instead."""
    return actions.queue_run(
        ctx,
        project_id,
        version=body.version,
        model=body.model,
        threshold=body.threshold,
        review_band=body.review_band,
        nms_iou=body.nms_iou,
        device=body.device,
        batch_size=body.batch_size,
        class_thresholds=body.class_thresholds,
        calibration_id=body.calibration_id,
        strategy=body.strategy,
    )


@router.get(P + "/autolabel-runs", name="list_autolabel_runs", response_model=list[RunPublic])
def list_autolabel_runs(
    project_id: ProjectRef,
    ctx: ContextDep,
    request: Request,
    response: Response,
    state: RunState | None = None,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
    after: Annotated[
        int | None,
        Query(ge=0, le=INT32_MAX, description='the id of the last run held: the older runs (see `Link: rel="next"`)'),
    ] = None,
) -> list[dict[str, Any]]:
    """The project's runs, newest first, ``limit`` at a time; when a page is full, ``Link: rel="next"`` names
    the next one (``after`` the last run's id: a primary-key seek, where ``offset`` reads every run skipped)."""
    found = actions.runs_of(ctx, project_id, state=state, offset=offset, limit=limit + 1, before_id=after)
    if len(found) > limit:
        found = found[:limit]
        response.headers["Link"] = next_link(request, after=found[-1]["id"], offset=0)
    return found


@router.get(RUN, name="get_autolabel_run", response_model=RunPublic)
def get_autolabel_run(project_id: ProjectRef, run_id: RowId, ctx: ContextDep) -> dict[str, Any]:
    """A run with its progress (``items_done`` of ``items_total``), throughput, state and error."""
    return actions.run_of(ctx, project_id, run_id)


@router.post(RUN + "/cancel", name="cancel_autolabel_run", response_model=RunPublic)
def cancel_autolabel_run(
    project_id: ProjectRef, run_id: RowId, ctx: ContextDep, body: RunCancel | None = None
) -> dict[str, Any]:
    """Cancel a queued, running or failed run (a runner executing it stops before its next batch); the
    body, optional, gives the reason the audit log records."""
    return actions.cancel_run(ctx, project_id, run_id, reason=body.reason if body else "")


@router.put(RUN + "/thresholds", name="set_run_thresholds", response_model=RunPublic)
def set_run_thresholds(project_id: ProjectRef, run_id: RowId, body: ThresholdsIn, ctx: ContextDep) -> dict[str, Any]:
    """Per-class thresholds for a queued run: explicit, or from a calibration record (``strategy``)."""
    return actions.set_thresholds(
        ctx,
        project_id,
        run_id,
        class_thresholds=body.class_thresholds,
        calibration_id=body.calibration_id,
        strategy=body.strategy,
    )


@router.get(P + "/calibrations/{calibration_id}", name="get_calibration_record", response_model=CalibrationPublic)
def get_calibration_record(project_id: ProjectRef, calibration_id: RowId, ctx: ContextDep) -> dict[str, Any]:
    """What a ``labelgate calibrate`` found (per-class thresholds, counts, coverage), and its audit event."""
    return actions.calibration_of(ctx, project_id, calibration_id)


@router.post(RUN + "/active-learning", name="select_active_learning_batch", response_model=list[QueuePublic])
def select_active_learning_batch(
    project_id: ProjectRef, run_id: RowId, body: SelectionIn, ctx: ContextDep
) -> list[QueuePublic]:
    """Queue the next human batch from the run's pool: most uncertain, thinned for diversity."""
    picked = actions.select_batch(
        ctx,
        project_id,
        run_id,
        fraction=body.fraction,
        uncertainty=body.uncertainty,
        diversity=body.diversity,
        seed=body.seed,
    )
    return [queue_public(e) for e in picked]


@router.get(P + "/review-queue", name="list_review_queue", response_model=list[QueuePublic])
def list_review_queue(
    project_id: ProjectRef,
    ctx: ContextDep,
    request: Request,
    response: Response,
    run_id: RowId | None = None,
    version_id: RowId | None = None,
    reason: str | None = None,
    resolved: bool = False,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
    after: Annotated[
        int | None,
        Query(ge=0, le=INT32_MAX, description='the id of the last item held: the items after it (`Link: rel="next"`)'),
    ] = None,
) -> list[QueuePublic]:
    """Queued items, lowest confidence first, each with its labels, ``limit`` at a time; when a page is full,
    ``Link: rel="next"`` names the next one (``after`` the last item's id: a seek on (priority, id))."""
    entries = actions.review_queue(
        ctx,
        project_id,
        run_id=run_id,
        version_id=version_id,
        reason=reason,
        resolved=resolved,
        offset=offset,
        limit=limit + 1,
        after=after,
    )
    if len(entries) > limit:
        entries = entries[:limit]
        response.headers["Link"] = next_link(request, after=entries[-1].row.id, offset=0)
    return [queue_public(e) for e in entries]


@router.get(QUEUE, name="get_review_queue_item", response_model=QueuePublic)
def get_review_queue_item(project_id: ProjectRef, queue_id: RowId, ctx: ContextDep) -> QueuePublic:
    return queue_public(actions.review_item(ctx, project_id, queue_id))


@router.post(QUEUE + "/decisions", name="decide_review_queue_item", response_model=DecisionPublic, status_code=201)
def decide_review_queue_item(
    project_id: ProjectRef, queue_id: RowId, body: DecisionIn, ctx: ContextDep
) -> DecisionPublic:
    """Accept, reject or correct one of the item's labels (a correction supersedes the model label)."""
    correction = None if body.correction is None else Correction(**body.correction.model_dump())
    r = actions.decide_review(
        ctx,
        project_id,
        queue_id,
        annotation_id=body.annotation_id,
        decision=body.decision,
        comment=body.comment,
        correction=correction,
        resolve=body.resolve,
    )
    return DecisionPublic(
        review_id=r.id or 0,
        annotation_id=r.annotation_id,
        decision=ReviewDecision(r.decision),
        correction_id=r.correction_id,
        resolved=body.resolve,
    )


@router.post(QUEUE + "/labels", name="add_review_queue_label", response_model=LabelPublic, status_code=201)
def add_review_queue_label(project_id: ProjectRef, queue_id: RowId, body: NewBoxIn, ctx: ContextDep) -> Annotation:
    """Add a label the model missed (a ``human`` label): a box, or a polygon, mask, keypoints or tag."""
    return actions.add_review_label(
        ctx,
        project_id,
        queue_id,
        category=body.category,
        x=body.x,
        y=body.y,
        w=body.w,
        h=body.h,
        geometry_type=body.geometry_type,
        geometry=body.geometry,
    )


@router.post(QUEUE + "/resolve", name="resolve_review_queue_item", response_model=QueuePublic)
def resolve_review_queue_item(project_id: ProjectRef, queue_id: RowId, body: ResolveIn, ctx: ContextDep) -> QueuePublic:
    return queue_public(actions.resolve_review(ctx, project_id, queue_id, note=body.note))
