"""One batch, one transaction; and the run's terminal records (finished, failed).

:func:`commit_batch` writes a batch's ``model`` annotations, its review-queue rows, the run's progress and an
``autolabel_run.batch`` audit event (label counts per class, thresholds, routed items, unreadable items), all
in one transaction, after checking that the run is still running and its version still writable.

Annotations are inserted with one Core ``executemany``: the rows ``lineage.labels.annotations.add_annotations`` would
write, without its per-call validation queries and ``RETURNING``. Their provenance is what
``model_provenance`` gives (model version, weights hash, run), each label's confidence and the threshold it
was held to; classes come from the model's class map (checked against the version's schema when the run was
queued). Each accepted prediction is stored with its schema class's geometry (:mod:`inference.outputs`: box,
polygon, mask, keypoints or tag) and must pass lineage's own check of that geometry against the recorded
image size (``check_box``, ``lineage.labels.geometry.check_geometry``); a prediction that cannot be stored is
counted as dropped in the batch's event. The batch's active-learning signals are written just before the
commit (classify models: from the class probabilities, :func:`inference.active.probability_entropy`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from inference.active import entropy_uncertainty, margin_uncertainty, probability_entropy, probability_margin
from inference.executors import WorkerSpec
from inference.outputs import LabelShape, label_shape, scored
from inference.routing import REASON_UNREADABLE, Thresholds, route_item
from inference.runs import run_project_id
from inference.signals import write_batch_signals
from inference.types import BatchResult, BatchTask
from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets import ensure_writable
from lineage.db import session_scope
from lineage.labels import mark_stale, model_provenance, seal_rows
from lineage.models import Annotation, AutoLabelRun, DatasetVersion, ProvenanceKind, ReviewQueueItem, RunState
from lineage.models._base import utcnow
from lineage.openlineage_jobs import emit_autolabel

__all__ = ["Cancelled", "RunPlan", "Tally", "commit_batch", "fail_run", "finish_run", "run_event"]


@dataclass(frozen=True)
class RunPlan:
    """What an execution works from, fixed when it starts. ``task`` is the model's; ``geometry`` maps each
    schema class to its geometry (absent: ``box``), ``keypoints`` a keypoint class to its K; ``multi_label``
    is the schema's option (classify)."""

    run_id: int
    project_id: int
    version_id: int
    actor: Actor
    thresholds: Thresholds
    class_map: dict[int, str]
    tasks: list[BatchTask]
    dims: dict[int, tuple[int | None, int | None]]
    total: int
    done_before: int
    spec: WorkerSpec
    task: str = "detect"
    geometry: dict[str, str] = field(default_factory=dict)
    keypoints: dict[str, int] = field(default_factory=dict)
    multi_label: bool = False


class Cancelled(Exception):
    """The run left the ``running`` state (cancelled) while it executed."""


def run_event(
    session: Session, plan: RunPlan, action: str, payload: dict[str, Any], *, expect_seq: int | None = None
) -> None:
    record_event(
        session,
        plan.actor,
        action,
        ("autolabel_run", plan.run_id),
        project_id=plan.project_id,
        payload=payload,
        expect_seq=expect_seq,
    )


@dataclass
class Tally:
    processed: int = 0
    labels: int = 0
    routed: int = 0
    errors: int = 0


def _stored(plan: RunPlan, det: Any, row: int, name: str, width: int | None, height: int | None) -> LabelShape | None:
    """The accepted prediction's stored geometry, or None when lineage's geometry check would refuse it."""
    shape = label_shape(
        det,
        row,
        geometry_type=plan.geometry.get(name, "box"),
        width=width,
        height=height,
        keypoint_count=plan.keypoints.get(name),
    )
    if shape is None or shape.geometry_type == "box":
        return shape
    from lineage.labels.geometry import check_geometry

    problem = check_geometry(
        shape.geometry_type,
        shape.x,
        shape.y,
        shape.w,
        shape.h,
        shape.geometry,
        image_size=(width, height),
        keypoint_count=plan.keypoints.get(name),
    )
    return None if problem else shape


def _labels(plan: RunPlan, result: BatchResult) -> tuple[list[_Label], list[dict[str, Any]], dict[str, Any]]:
    """Route every item of the batch: the labels to write, the queue rows, and the per-item signals/errors."""
    labels: list[_Label] = []
    queue_rows: list[dict[str, Any]] = []
    entropy, margin = np.zeros(len(result.items)), np.zeros(len(result.items))
    errors: list[dict[str, Any]] = []
    dropped = 0
    now = utcnow()
    for n, item in enumerate(result.items):
        det = item.detections
        found = scored(det, task=plan.task, class_map=plan.class_map, multi_label=plan.multi_label)
        route = route_item(found.scores, found.names, plan.thresholds)
        if plan.task == "classify":
            probs = det.probs if det.probs is not None else np.zeros(0)
            entropy[n], margin[n] = probability_entropy(probs), probability_margin(probs)
        else:
            entropy[n] = entropy_uncertainty(found.scores)
            margin[n] = margin_uncertainty(found.scores, route.thresholds)
        width, height = plan.dims.get(item.item_id, (None, None))
        for i in np.flatnonzero(route.accepted):
            name = found.names[i]
            shape = _stored(plan, det, int(found.rows[i]), name, width, height)
            if shape is None:
                dropped += 1
                continue
            labels.append(_Label(item.item_id, name, shape, float(found.scores[i]), float(route.thresholds[i])))
        if item.error is not None:
            errors.append({"item_id": item.item_id, "error": item.error})
            reason, priority = REASON_UNREADABLE, 0.0
        elif route.review:
            reason, priority = str(route.reason), route.priority
        else:
            continue
        queue_rows.append(
            {
                "dataset_version_id": plan.version_id,
                "item_id": item.item_id,
                "autolabel_run_id": plan.run_id,
                "reason": reason,
                "priority": priority,
                "created_at": now,
            }
        )
    extra = {"entropy": entropy, "margin": margin, "errors": errors, "dropped": dropped}
    return labels, queue_rows, extra


@dataclass(frozen=True, slots=True)
class _Label:
    item_id: int
    category: str
    shape: LabelShape
    confidence: float
    threshold: float


def _write_labels(
    session: Session, plan: RunPlan, version: DatasetVersion, labels: list[_Label]
) -> tuple[dict[str, int], dict[str, Any] | None]:
    """Insert the labels (one Core ``executemany``, no ``RETURNING``) with the provenance ``model_provenance``
    gives, checked for every threshold used, sealed for the batch's event (``seal_rows``); returns the
    count per class and the seal."""
    base = model_provenance(session, autolabel_run_id=plan.run_id, version=version)
    for threshold in {lbl.threshold for lbl in labels}:
        replace(base, threshold=threshold).check()
    now = utcnow()
    shared = {
        "dataset_version_id": plan.version_id,
        "attributes": None,
        "kind": ProvenanceKind.model.value,
        "model_version_id": base.model_version_id,
        "weights_sha256": base.weights_sha256,
        "autolabel_run_id": plan.run_id,
        "created_at": now,
    }
    rows = [
        {
            **shared,
            "item_id": lbl.item_id,
            "category": lbl.category,
            "geometry_type": lbl.shape.geometry_type,
            "x": lbl.shape.x,
            "y": lbl.shape.y,
            "w": lbl.shape.w,
            "h": lbl.shape.h,
            "geometry": lbl.shape.geometry,
            "confidence": lbl.confidence,
            "threshold": lbl.threshold,
        }
        for lbl in labels
    ]
    sealed: dict[str, Any] | None = None
    if rows:
        sealed = seal_rows(session, rows, created_by=plan.actor.user_id)
        session.execute(insert(Annotation), rows)
        mark_stale(session, version_id=plan.version_id)
    by_class: dict[str, int] = defaultdict(int)
    for lbl in labels:
        by_class[lbl.category] += 1
    return dict(sorted(by_class.items())), sealed


def commit_batch(
    engine: Engine, plan: RunPlan, result: BatchResult, tally: Tally, rate: float, signals: Path | None
) -> None:
    """Write one batch's results in one transaction (see the module docstring); ``Cancelled`` when the run
    is no longer running."""
    labels, queue_rows, extra = _labels(plan, result)
    done_now = len(result.items)
    with session_scope(engine) as session:
        state = session.execute(sa_select(col(AutoLabelRun.state)).where(col(AutoLabelRun.id) == plan.run_id)).scalar()
        if state != RunState.running.value:
            raise Cancelled(str(state))
        version = session.get(DatasetVersion, plan.version_id)
        assert version is not None
        ensure_writable(session, actor=plan.actor, version=version, attempted=f"auto-labelling (run {plan.run_id})")
        by_class, sealed = _write_labels(session, plan, version, labels)
        if queue_rows:
            session.execute(insert(ReviewQueueItem), queue_rows)
        session.execute(
            update(AutoLabelRun)
            .where(col(AutoLabelRun.id) == plan.run_id)
            .values(items_done=AutoLabelRun.items_done + done_now, images_per_s=rate)
        )
        run_event(
            session,
            plan,
            "autolabel_run.batch",
            {
                "batch": result.index,
                "items": done_now,
                "first_item": result.items[0].item_id,
                "last_item": result.items[-1].item_id,
                "labels": len(labels),
                "labels_by_class": by_class,
                "thresholds": sorted({lbl.threshold for lbl in labels}),
                "routed": len(queue_rows),
                "errors": extra["errors"],
                "dropped_boxes": extra["dropped"],
                "predict_s": round(result.predict_s, 4),
                **({"sealed": sealed} if sealed else {}),
            },
            expect_seq=sealed["seq"] if sealed else None,
        )
        if signals is not None:
            feats = [i.feature if i.feature is not None else np.zeros(0) for i in result.items]
            width = max((len(f) for f in feats), default=0)
            matrix = np.array([f if len(f) == width else np.zeros(width) for f in feats], dtype=np.float64)
            write_batch_signals(
                signals,
                run_id=plan.run_id,
                batch_index=result.index,
                item_id=np.array([i.item_id for i in result.items], dtype=np.int64),
                entropy=extra["entropy"],
                margin=extra["margin"],
                features=matrix.reshape(len(feats), width),
            )
    tally.processed += done_now
    tally.labels += len(labels)
    tally.routed += len(queue_rows)
    tally.errors += len(extra["errors"])


def finish_run(engine: Engine, plan: RunPlan, tally: Tally, seconds: float, rate: float | None) -> str:
    with session_scope(engine) as session:
        run = session.get(AutoLabelRun, plan.run_id)
        assert run is not None
        if run.state != RunState.running.value:
            return str(run.state)
        session.execute(
            update(AutoLabelRun)
            .where(col(AutoLabelRun.id) == plan.run_id)
            .values(state=RunState.succeeded.value, finished_at=utcnow(), images_per_s=rate)
        )
        run_event(
            session,
            plan,
            "autolabel_run.finish",
            {
                "items": plan.total,
                "processed": tally.processed,
                "labels": tally.labels,
                "routed": tally.routed,
                "errors": tally.errors,
                "seconds": round(seconds, 3),
                "images_per_s": None if rate is None else round(rate, 3),
                "device": plan.spec.device,
            },
        )
        emit_autolabel(
            session, run=run, state="complete", actor=plan.actor, labels=tally.labels,
            details={"processed": tally.processed, "routed": tally.routed, "device": plan.spec.device},
        )  # fmt: skip
    return RunState.succeeded.value


def fail_run(engine: Engine, run_id: int, actor: Actor, exc: BaseException) -> None:
    message = (str(exc) or type(exc).__name__)[:3900]
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    with session_scope(engine) as session:
        run = session.get(AutoLabelRun, run_id)
        if run is None or run.state in (RunState.cancelled.value, RunState.succeeded.value):
            return
        session.execute(
            update(AutoLabelRun)
            .where(col(AutoLabelRun.id) == run_id)
            .values(state=RunState.failed.value, error=message, finished_at=utcnow())
        )
        record_event(
            session,
            actor,
            "autolabel_run.fail",
            ("autolabel_run", run_id),
            project_id=run_project_id(session, run),
            payload={"error": message, "type": type(exc).__name__, "items_done": run.items_done},
        )
        emit_autolabel(session, run=run, state="fail", actor=actor, error=message)
