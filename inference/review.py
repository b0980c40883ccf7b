"""The review queue: what reviewers see, their decisions, and the active-learning pick of the next batch.

Queue rows come from runs (``no_label``, ``uncertain``, ``unreadable``) and from active learning
(``active_learning``, no run). Reviewers act on a row's model labels through ``lineage.labels.reviews``
(``accept``, ``reject`` = a tombstone, ``correct`` = a human label superseding the model's), may add labels
the model missed, and resolve the row. Everything is audited; nothing is updated in place except the row's
``resolved_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from inference.active import Diversity, Uncertainty, batch_size_for, select_batch
from inference.runs import get_run, run_context
from inference.signals import load_signals
from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets import list_items
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.labels import (
    BoxChange,
    NewLabel,
    Provenance,
    add_annotations,
    live_labels,
    review_annotation,
)
from lineage.models import (
    Annotation,
    Dataset,
    DatasetVersion,
    Item,
    ProvenanceKind,
    Review,
    ReviewDecision,
    ReviewQueueItem,
)
from lineage.models._base import utcnow

__all__ = [
    "REASON_ACTIVE",
    "QueueEntry",
    "add_label",
    "decide",
    "get_entry",
    "list_queue",
    "resolve",
    "select_next_batch",
]

REASON_ACTIVE = "active_learning"


@dataclass(frozen=True)
class QueueEntry:
    """A queue row with its item and the item's live labels in the row's version (model labels of the row's
    run, or every live label for an active-learning row)."""

    row: ReviewQueueItem
    item: Item
    labels: list[Annotation]


def _row(session: Session, *, project_id: int, queue_id: int) -> ReviewQueueItem:
    row = session.get(ReviewQueueItem, queue_id)
    version = session.get(DatasetVersion, row.dataset_version_id) if row is not None else None
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    if row is None or dataset is None or dataset.project_id != project_id:
        raise NotFound(f"no review-queue item {queue_id} in this project", field="queue_id")
    return row


def _labels(session: Session, row: ReviewQueueItem) -> list[Annotation]:
    stmt = live_labels(row.dataset_version_id).where(Annotation.item_id == row.item_id)
    if row.autolabel_run_id is not None:
        stmt = stmt.where(
            (col(Annotation.autolabel_run_id) == row.autolabel_run_id) | (Annotation.kind != ProvenanceKind.model.value)
        )
    return list(session.exec(stmt.order_by(col(Annotation.id))))


def _entry(session: Session, row: ReviewQueueItem) -> QueueEntry:
    item = session.get(Item, row.item_id)
    assert item is not None
    return QueueEntry(row, item, _labels(session, row))


def get_entry(session: Session, *, project_id: int, queue_id: int) -> QueueEntry:
    return _entry(session, _row(session, project_id=project_id, queue_id=queue_id))


def list_queue(
    session: Session,
    *,
    project_id: int,
    version_id: int | None = None,
    run_id: int | None = None,
    reason: str | None = None,
    resolved: bool = False,
    offset: int = 0,
    limit: int = 100,
    after: int | None = None,
) -> list[QueueEntry]:
    """Queue rows of the project, lowest ``priority`` (least confident) first, then oldest; with ``after``
    (a queue row's id), the rows that follow that row in this order (a seek, not a count of rows skipped;
    an id that is no row of the project's queue is refused)."""
    stmt = (
        select(ReviewQueueItem)
        .join(DatasetVersion, col(DatasetVersion.id) == col(ReviewQueueItem.dataset_version_id))
        .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
        .where(Dataset.project_id == project_id)
    )
    done = col(ReviewQueueItem.resolved_at)
    stmt = stmt.where(done.is_not(None) if resolved else done.is_(None))
    if version_id is not None:
        stmt = stmt.where(ReviewQueueItem.dataset_version_id == version_id)
    if run_id is not None:
        stmt = stmt.where(ReviewQueueItem.autolabel_run_id == run_id)
    if reason is not None:
        stmt = stmt.where(ReviewQueueItem.reason == reason)
    if after is not None:
        held = session.get(ReviewQueueItem, after)
        version = session.get(DatasetVersion, held.dataset_version_id) if held is not None else None
        dataset = session.get(Dataset, version.dataset_id) if version is not None else None
        if held is None or dataset is None or dataset.project_id != project_id:
            raise InvalidInput(f"no review-queue item {after} in this project to continue after", field="after")
        priority, ident = col(ReviewQueueItem.priority), col(ReviewQueueItem.id)
        stmt = stmt.where(or_(priority > held.priority, and_(priority == held.priority, ident > held.id)))
    stmt = stmt.order_by(col(ReviewQueueItem.priority), col(ReviewQueueItem.id)).offset(offset).limit(limit)
    return [_entry(session, row) for row in session.exec(stmt)]


def _open(row: ReviewQueueItem) -> None:
    if row.resolved_at is not None:
        raise Conflict(f"review-queue item {row.id} was already resolved", field="queue_id")


def _resolve(session: Session, *, actor: Actor, project_id: int, row: ReviewQueueItem, note: str) -> None:
    session.execute(update(ReviewQueueItem).where(col(ReviewQueueItem.id) == row.id).values(resolved_at=utcnow()))
    record_event(
        session,
        actor,
        "review_queue.resolve",
        ("review_queue_item", str(row.id)),
        project_id=project_id,
        payload={"item_id": row.item_id, "run_id": row.autolabel_run_id, "reason": row.reason, "note": note},
    )
    session.refresh(row)


def decide(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    queue_id: int,
    annotation_id: int,
    decision: ReviewDecision,
    comment: str = "",
    change: BoxChange | None = None,
    resolve_row: bool = False,
) -> Review:
    """Accept, reject or correct one of the row's labels; ``resolve_row`` also resolves the row."""
    row = _row(session, project_id=project_id, queue_id=queue_id)
    _open(row)
    ann = session.get(Annotation, annotation_id)
    if ann is None or ann.item_id != row.item_id or ann.dataset_version_id != row.dataset_version_id:
        raise InvalidInput(f"annotation {annotation_id} is not a label of this queue item", field="annotation_id")
    review = review_annotation(
        session, actor=actor, annotation_id=annotation_id, decision=decision, comment=comment, change=change
    )
    if resolve_row:
        _resolve(session, actor=actor, project_id=project_id, row=row, note=f"{decision.value} {annotation_id}")
    return review


def add_label(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    queue_id: int,
    category: str,
    x: float | None = None,
    y: float | None = None,
    w: float | None = None,
    h: float | None = None,
    geometry_type: str = "box",
    geometry: dict[str, Any] | None = None,
) -> int:
    """Add a human label the model missed to the row's item; returns the new annotation's id.

    A box by default; other schemas give their class's ``geometry_type`` and ``geometry`` as the Issue 13
    contract stores them (a ``tag`` has neither coordinates nor geometry), validated by lineage as any label.
    """
    row = _row(session, project_id=project_id, queue_id=queue_id)
    _open(row)
    version = session.get(DatasetVersion, row.dataset_version_id)
    assert version is not None
    label = NewLabel(
        item_id=row.item_id, category=category, x=x, y=y, w=w, h=h, geometry_type=geometry_type, geometry=geometry
    )
    ids = add_annotations(
        session,
        actor=actor,
        version=version,
        labels=[label],
        provenance=Provenance(kind=ProvenanceKind.human, annotator_id=actor.user_id),
    )
    return ids[0]


def resolve(session: Session, *, actor: Actor, project_id: int, queue_id: int, note: str = "") -> ReviewQueueItem:
    """Mark the row done (its labels are as the reviewer left them)."""
    row = _row(session, project_id=project_id, queue_id=queue_id)
    _open(row)
    _resolve(session, actor=actor, project_id=project_id, row=row, note=note)
    return row


def select_next_batch(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    run_id: int,
    signals_dir: Path,
    fraction: float = 0.03,
    uncertainty: Uncertainty = "entropy",
    diversity: Diversity = "kcenter",
    seed: int = 0,
) -> list[ReviewQueueItem]:
    """Queue the next human batch from run ``run_id``'s pool by uncertainty, thinned for diversity.

    The pool is the run's items with signals that have no live human label and no open queue row; the batch
    is ``ceil(fraction * pool)`` items (:mod:`inference.active`). Rows get reason ``active_learning`` and
    priority ``1 - uncertainty`` (the most uncertain first).
    """
    if not 0.0 < fraction <= 1.0:
        raise InvalidInput(f"fraction must be within (0, 1], got {fraction}", field="fraction")
    if uncertainty not in ("entropy", "margin"):
        raise InvalidInput(f"unknown uncertainty {uncertainty!r} (entropy or margin)", field="uncertainty")
    if diversity not in ("kcenter", "kmeans", "none"):
        raise InvalidInput(f"unknown diversity {diversity!r} (kcenter, kmeans or none)", field="diversity")
    run = get_run(session, project_id=project_id, run_id=run_id)
    _, version, _ = run_context(session, run)
    signals = load_signals(signals_dir, run_id=run_id)
    in_version = {i.id for i in list_items(session, version_id=version.id or 0)}
    live = live_labels(version.id or 0).subquery()
    human = {
        int(r[0]) for r in session.execute(sa_select(live.c.item_id).where(live.c.kind == ProvenanceKind.human.value))
    }
    queued = set(
        session.exec(
            select(ReviewQueueItem.item_id).where(
                ReviewQueueItem.dataset_version_id == version.id, col(ReviewQueueItem.resolved_at).is_(None)
            )
        )
    )
    ids = signals.item_id
    mask = np.array([int(i) in in_version and int(i) not in human and int(i) not in queued for i in ids], dtype=bool)
    pool = np.flatnonzero(mask)
    budget = batch_size_for(len(pool), fraction)
    scores = (signals.entropy if uncertainty == "entropy" else signals.margin)[pool]
    picked = pool[select_batch(scores, signals.features[pool], budget, diversity=diversity, seed=seed)]
    u = signals.entropy if uncertainty == "entropy" else signals.margin
    now = utcnow()
    rows = [
        {
            "dataset_version_id": version.id,
            "item_id": int(ids[i]),
            "autolabel_run_id": None,
            "reason": REASON_ACTIVE,
            "priority": float(1.0 - u[i]),
            "created_at": now,
        }
        for i in picked
    ]
    if rows:
        session.execute(insert(ReviewQueueItem), rows)
    record_event(
        session,
        actor,
        "review_queue.select",
        ("autolabel_run", run_id),
        project_id=project_id,
        payload={
            "fraction": fraction,
            "uncertainty": uncertainty,
            "diversity": diversity,
            "seed": seed,
            "pool": len(pool),
            "budget": int(budget),
            "items": [int(ids[i]) for i in picked],
            "scores": [round(float(u[i]), 6) for i in picked],
        },
    )
    picked_ids = [int(ids[i]) for i in picked]
    if not picked_ids:
        return []
    found = session.exec(
        select(ReviewQueueItem).where(
            ReviewQueueItem.dataset_version_id == version.id,
            ReviewQueueItem.reason == REASON_ACTIVE,
            col(ReviewQueueItem.item_id).in_(picked_ids),
            col(ReviewQueueItem.resolved_at).is_(None),
        )
    )
    order = {item: n for n, item in enumerate(picked_ids)}
    return sorted(found, key=lambda r: order[r.item_id])
