"""Verbs of auto-labelling: the model registry, runs (queued here, executed by a runner), calibration
records, the review queue and active-learning selection.

A run is returned as a dict of its columns with its per-class thresholds (``class_thresholds``) and whether
an identical unfinished run was returned instead of a new one (``reused``): the fields of the API's
``RunPublic``. Review-queue rows are returned as ``inference.review.QueueEntry`` (the row, its item, its
labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from inference import registry, review, runs, weights
from inference.active import Diversity, Uncertainty
from inference.calibrate import calibration_evidence, get_calibration
from inference.review import QueueEntry
from lineage.audit.chain import record_event
from lineage.errors import InvalidInput
from lineage.labels.geometry import implied_box
from lineage.models import (
    Annotation,
    AutoLabelRun,
    Dataset,
    DatasetVersion,
    ModelVersion,
    Review,
    ReviewDecision,
    RunState,
)
from lineage.naming import display_names
from lineage.schemas import resolve_schema_ref
from service.actions.context import Context, authorize
from service.actions.labels import Correction
from service.actions.runs import signals_dir

__all__ = [
    "add_review_label",
    "calibration_of",
    "cancel_run",
    "decide_review",
    "export_model",
    "model_detail",
    "model_weights",
    "models_of",
    "queue_run",
    "register_model",
    "resolve_review",
    "review_item",
    "review_queue",
    "run_of",
    "runs_of",
    "select_batch",
    "set_thresholds",
]


def _run_view(ctx: Context, run: AutoLabelRun, *, reused: bool = False) -> dict[str, Any]:
    per_class = dict(runs.run_thresholds(ctx.session, run).per_class)
    # The state column holds the state's text; the API's RunPublic reads it back as a RunState.
    return {**run.model_dump(warnings=False), "class_thresholds": per_class, "reused": reused}


def models_of(ctx: Context, project_id: int) -> list[ModelVersion]:
    authorize(ctx, "list_models", project_id=project_id)
    return registry.list_models(ctx.session, project_id=project_id)


def model_detail(ctx: Context, project_id: int, ref: str) -> dict[str, Any]:
    """``NAME@VERSION``'s columns with the dataset versions it was trained and validated on (``training_data``:
    role, ``DATASET@VERSION``, item count and the pins recorded at registration): the API's ``ModelDetail``."""
    authorize(ctx, "get_model", project_id=project_id)
    model = registry.resolve_model_ref(ctx.session, project_id=project_id, ref=ref)
    links = registry.training_data(ctx.session, model_version_id=model.id or 0)
    names = display_names(ctx.session, [("dataset_version", str(link.dataset_version_id)) for link in links])
    data = [
        {
            "role": link.role,
            "version": names[("dataset_version", str(link.dataset_version_id))],
            "dataset_version_id": link.dataset_version_id,
            "item_count": link.item_count,
            "manifest_hash": link.manifest_hash,
            "dvc_hash": link.dvc_hash,
        }
        for link in links
    ]
    return {**model.model_dump(), "training_data": data}


def model_weights(ctx: Context, project_id: int, ref: str) -> tuple[ModelVersion, Path]:
    """``NAME@VERSION`` and its weights file, hash re-checked (restored from DVC if missing from the tree)."""
    authorize(ctx, "download_model_weights", project_id=project_id)
    model = registry.resolve_model_ref(ctx.session, project_id=project_id, ref=ref)
    return model, weights.weights_file(model, ctx.settings.repo_dir)


def export_model(ctx: Context, project_id: int, ref: str, dest: Path, *, overwrite: bool = False) -> Path:
    """Write ``NAME@VERSION``'s exact registered bytes to ``dest`` (a file, or a folder for
    ``<name>-<version>.pt``); the hash is re-checked on the stored file and on the copy."""
    authorize(ctx, "download_model_weights", project_id=project_id)
    model = registry.resolve_model_ref(ctx.session, project_id=project_id, ref=ref)
    written = weights.export_weights(model, ctx.settings.repo_dir, dest, overwrite=overwrite)
    record_event(
        ctx.session,
        ctx.actor,
        "model.export",
        ("model_version", str(model.id)),
        project_id=project_id,
        payload={
            "model": f"{model.name}@{model.version}",
            "weights_sha256": model.weights_sha256,
            "path": str(written),
        },
    )
    return written


def register_model(
    ctx: Context,
    project_id: int,
    *,
    name: str,
    version: str,
    weights: Path,
    schema_ref: str,
    class_map: Mapping[str, str] | None = None,
    framework: str = "ultralytics",
    weights_root: Path | None = None,
    task: str | None = None,
    training: registry.TrainingRecord | None = None,
    card: registry.CardWords | None = None,
) -> ModelVersion:
    """Register ``name@version`` from a weights file (stored in the workspace's DVC, hashed, its classes
    mapped onto label schema ``schema_ref``, ``NAME`` or ``NAME@N``; ``class_map``: ``{model class: schema
    class}`` where the names differ; ``task``: the task it must be; ``training``: the dataset versions it was
    trained and validated on, hyper-parameters and metrics; ``card``: intended use and caveats). With
    ``weights_root``, ``weights`` is taken relative to it and must lie within it: loading a ``.pt``
    unpickles it, so the API opens no path outside ``<workspace>/models``."""
    authorize(ctx, "register_model", project_id=project_id)
    if weights_root is not None:
        root = weights_root.resolve()
        weights = (root / weights).resolve()
        if not weights.is_relative_to(root):
            raise InvalidInput(f"weights must lie under {root} (a path relative to it)", field="weights_path")
    schema = resolve_schema_ref(ctx.session, project_id=project_id, ref=schema_ref)
    return registry.register_model(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        name=name,
        version=version,
        weights=weights,
        schema_version_id=schema.id or 0,
        overrides=dict(class_map or {}),
        framework=framework,
        repo_dir=ctx.settings.repo_dir,
        task=task,
        training=training,
        card=card,
    )


def queue_run(
    ctx: Context,
    project_id: int,
    *,
    version: str,
    model: str,
    threshold: float,
    review_band: float = 0.0,
    nms_iou: float = 0.7,
    device: str = "auto",
    batch_size: int = 32,
    class_thresholds: Mapping[str, float | None] | None = None,
    calibration_id: int | None = None,
    strategy: str = "tbal",
    reuse: bool = True,
) -> dict[str, Any]:
    """Queue a run of ``model`` (``NAME@VERSION``) over ``version`` (``DATASET@VERSION``); with ``reuse``
    (True) an identical run that was not cancelled is returned instead (``reused``). Parameters as
    ``inference.runs.queue_run``: per-class thresholds explicit, or a calibration's ``strategy``."""
    authorize(ctx, "queue_autolabel_run", project_id=project_id)
    run, created = runs.queue_run(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        version=version,
        model=model,
        threshold=threshold,
        review_band=review_band,
        nms_iou=nms_iou,
        device=device,
        batch_size=batch_size,
        class_thresholds=class_thresholds,
        calibration_id=calibration_id,
        strategy=strategy,
        reuse=reuse,
    )
    return _run_view(ctx, run, reused=not created)


def runs_of(
    ctx: Context,
    project_id: int,
    *,
    state: RunState | None = None,
    offset: int = 0,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The project's runs, newest first (only those in ``state`` when given); with ``before_id``, only runs
    older than that one (keyset: a primary-key seek, where ``offset`` reads every skipped run)."""
    authorize(ctx, "list_autolabel_runs", project_id=project_id)
    stmt = (
        select(AutoLabelRun)
        .join(DatasetVersion, col(DatasetVersion.id) == col(AutoLabelRun.dataset_version_id))
        .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
        .where(Dataset.project_id == project_id)
    )
    if state is not None:
        stmt = stmt.where(AutoLabelRun.state == state.value)
    if before_id is not None:
        stmt = stmt.where(col(AutoLabelRun.id) < before_id)
    found = ctx.session.exec(stmt.order_by(col(AutoLabelRun.id).desc()).offset(offset).limit(limit))
    return [_run_view(ctx, r) for r in found]


def run_of(ctx: Context, project_id: int, run_id: int) -> dict[str, Any]:
    """A run with its progress (``items_done`` of ``items_total``), throughput, state and error."""
    authorize(ctx, "get_autolabel_run", project_id=project_id)
    return _run_view(ctx, runs.get_run(ctx.session, project_id=project_id, run_id=run_id))


def cancel_run(ctx: Context, project_id: int, run_id: int, *, reason: str = "") -> dict[str, Any]:
    """Cancel a queued, running or failed run (a runner executing it stops before its next batch)."""
    authorize(ctx, "cancel_autolabel_run", project_id=project_id)
    run = runs.get_run(ctx.session, project_id=project_id, run_id=run_id)
    return _run_view(ctx, runs.cancel_run(ctx.session, actor=ctx.actor, run=run, reason=reason))


def select_batch(
    ctx: Context,
    project_id: int,
    run_id: int,
    *,
    fraction: float = 0.03,
    uncertainty: Uncertainty = "entropy",
    diversity: Diversity = "kcenter",
    seed: int = 0,
) -> list[QueueEntry]:
    """Queue the next human batch from the run's pool: ``fraction`` (0.03) of it, the most uncertain
    (``entropy`` or ``margin``), thinned for diversity (``kcenter``, ``kmeans`` seeded by ``seed``, or
    ``none``)."""
    authorize(ctx, "select_active_learning_batch", project_id=project_id)
    rows = review.select_next_batch(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        run_id=run_id,
        signals_dir=signals_dir(ctx.settings),
        fraction=fraction,
        uncertainty=uncertainty,
        diversity=diversity,
        seed=seed,
    )
    return [review.get_entry(ctx.session, project_id=project_id, queue_id=r.id or 0) for r in rows]


def review_queue(
    ctx: Context,
    project_id: int,
    *,
    run_id: int | None = None,
    version_id: int | None = None,
    reason: str | None = None,
    resolved: bool = False,
    offset: int = 0,
    limit: int = 100,
    after: int | None = None,
) -> list[QueueEntry]:
    """Open (or, with ``resolved``, resolved) queue rows, least confident first, each with its labels: ordered
    by the row's score ``priority`` (the best confidence among the item's not-accepted predictions; 1 −
    uncertainty for an active-learning pick), then by id, in SQL (``inference.review.list_queue``), so pages
    follow one another. Pages show that score as the row's confidence."""
    authorize(ctx, "list_review_queue", project_id=project_id)
    return review.list_queue(
        ctx.session,
        project_id=project_id,
        run_id=run_id,
        version_id=version_id,
        reason=reason,
        resolved=resolved,
        offset=offset,
        limit=limit,
        after=after,
    )


def review_item(ctx: Context, project_id: int, queue_id: int) -> QueueEntry:
    authorize(ctx, "get_review_queue_item", project_id=project_id)
    return review.get_entry(ctx.session, project_id=project_id, queue_id=queue_id)


def decide_review(
    ctx: Context,
    project_id: int,
    queue_id: int,
    *,
    annotation_id: int,
    decision: ReviewDecision,
    comment: str = "",
    correction: Correction | None = None,
    resolve: bool = False,
) -> Review:
    """Accept, reject or correct (``correction``) one of the row's labels; ``resolve`` also resolves the row."""
    authorize(ctx, "decide_review_queue_item", project_id=project_id)
    return review.decide(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        queue_id=queue_id,
        annotation_id=annotation_id,
        decision=decision,
        comment=comment,
        change=correction.change() if correction is not None else None,
        resolve_row=resolve,
    )


def add_review_label(
    ctx: Context,
    project_id: int,
    queue_id: int,
    *,
    category: str,
    x: float | None = None,
    y: float | None = None,
    w: float | None = None,
    h: float | None = None,
    geometry_type: str = "box",
    geometry: dict[str, Any] | None = None,
) -> Annotation:
    """Add a label the model missed to the row's item (a ``human`` label): a box (pixels, top-left corner),
    or a polygon, mask, keypoint object or tag with its geometry, whose box follows from it."""
    authorize(ctx, "add_review_queue_label", project_id=project_id)
    if geometry_type != "box":
        x, y, w, h = implied_box(geometry_type, geometry, None if None in (x, y, w, h) else (x, y, w, h))  # type: ignore[arg-type]
    new_id = review.add_label(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        queue_id=queue_id,
        category=category,
        x=x,
        y=y,
        w=w,
        h=h,
        geometry_type=geometry_type,
        geometry=geometry,
    )
    found = ctx.session.get(Annotation, new_id)
    assert found is not None
    return found


def resolve_review(ctx: Context, project_id: int, queue_id: int, *, note: str = "") -> QueueEntry:
    """Mark the row done (its labels stay as the reviewer left them)."""
    authorize(ctx, "resolve_review_queue_item", project_id=project_id)
    review.resolve(ctx.session, actor=ctx.actor, project_id=project_id, queue_id=queue_id, note=note)
    return review.get_entry(ctx.session, project_id=project_id, queue_id=queue_id)


def set_thresholds(
    ctx: Context,
    project_id: int,
    run_id: int,
    *,
    class_thresholds: Mapping[str, float | None] | None = None,
    calibration_id: int | None = None,
    strategy: str = "tbal",
) -> dict[str, Any]:
    """Per-class thresholds for a queued run: exactly one of ``class_thresholds`` and ``calibration_id`` (its
    ``strategy`` thresholds, ``tbal`` or ``f1``), as ``inference.runs.set_class_thresholds``."""
    authorize(ctx, "set_run_thresholds", project_id=project_id)
    run = runs.get_run(ctx.session, project_id=project_id, run_id=run_id)
    runs.set_class_thresholds(
        ctx.session,
        actor=ctx.actor,
        run=run,
        per_class=class_thresholds,
        calibration_id=calibration_id,
        strategy=strategy,
    )
    return _run_view(ctx, run)


def calibration_of(ctx: Context, project_id: int, calibration_id: int) -> dict[str, Any]:
    """What a ``labelgate calibrate`` recorded (``inference.calibrate.calibration_evidence``: per-class
    thresholds, counts, coverage) with its ``id``, ``created_at`` and ``audit_seq`` (the event that recorded
    it): the fields of the API's ``CalibrationPublic``."""
    authorize(ctx, "get_calibration_record", project_id=project_id)
    row = get_calibration(ctx.session, project_id=project_id, calibration_id=calibration_id)
    evidence = calibration_evidence(ctx.session, row)
    return {"id": row.id or 0, "created_at": row.created_at, "audit_seq": row.audit_seq, **evidence}
