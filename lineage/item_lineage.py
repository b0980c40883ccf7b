"""Lineage from the image: a version's items (to browse them) and, for one item, every live label on it with
its whole chain (``lineage.provenance.annotation_lineage``) in one answer.

"Who labelled this box, with which model?" starts from a picture, not from an annotation id: one call lists a
page of items with their live-label counts, one call answers every label of the chosen item (drawable
geometry plus author, model, confidence, threshold, run, reviews, corrections, schema and the versions
holding it), so a page never asks once per label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.errors import NotFound
from lineage.labels.labelset import live_labels
from lineage.model_lineage import LoopGraph, label_loop
from lineage.models import Annotation, Item
from lineage.provenance import AnnotationLineage, annotation_lineage, run_ids_of

__all__ = ["ItemLabel", "ItemLineage", "ItemSummary", "item_lineage", "version_items"]

#: The most labels :func:`item_lineage` answers for one item (each carries its whole chain).
MAX_ITEM_LABELS = 200


@dataclass(frozen=True, slots=True)
class ItemSummary:
    """One item of a version: its path in the version, its size (px, None when unknown), its live labels."""

    id: int
    uri: str
    width: int | None
    height: int | None
    labels: int


@dataclass(frozen=True, slots=True)
class ItemLabel:
    """A live label of an item, drawable (the fields ``dashboard.geometry`` reads) with its lineage."""

    id: int
    category: str
    geometry_type: str
    x: float | None
    y: float | None
    w: float | None
    h: float | None
    geometry: dict[str, Any] | None
    attributes: dict[str, Any] | None
    kind: str
    confidence: float | None
    threshold: float | None
    lineage: AnnotationLineage


@dataclass(frozen=True, slots=True)
class ItemLineage:
    """An item, its version (``dataset@version``) and its live labels (id order), at most
    :data:`MAX_ITEM_LABELS` (``total`` counts them all)."""

    item_id: int
    uri: str
    width: int | None
    height: int | None
    version: str
    total: int
    labels: list[ItemLabel]
    #: The loop of every model step of these labels, one graph for them all (``lineage.model_lineage``).
    loop: LoopGraph | None = None


def version_items(session: Session, *, version_id: int, offset: int = 0, limit: int = 24) -> dict[str, Any]:
    """A page ``{items: [ItemSummary], total, offset, limit}`` of the version's items, ordered by path."""
    live = live_labels(version_id).subquery()
    counts = select(live.c.item_id, func.count().label("n")).group_by(live.c.item_id).subquery()
    stmt = (
        select(Item, counts.c.n)
        .outerjoin(counts, counts.c.item_id == col(Item.id))
        .where(Item.dataset_version_id == version_id)
        .order_by(col(Item.uri), col(Item.id))
        .offset(offset)
        .limit(limit)
    )
    items = [
        ItemSummary(item.id or 0, item.uri, item.width, item.height, int(n or 0)) for item, n in session.exec(stmt)
    ]
    total = session.exec(select(func.count()).select_from(Item).where(Item.dataset_version_id == version_id)).one()
    return {"items": items, "total": int(total), "offset": offset, "limit": limit}


def item_lineage(session: Session, *, item_id: int, version: str, hide_golden: bool = False) -> ItemLineage:
    """Every live label of item ``item_id`` in its version (named ``version`` in the answer) with its chain,
    and one loop graph for all their model steps (golden versions left out with ``hide_golden``)."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}", field="item_id")
    stmt = live_labels(item.dataset_version_id).where(Annotation.item_id == item_id)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(Annotation.id)).limit(MAX_ITEM_LABELS)).all()
    labels = [
        ItemLabel(
            id=a.id or 0,
            category=a.category,
            geometry_type=a.geometry_type,
            x=a.x,
            y=a.y,
            w=a.w,
            h=a.h,
            geometry=a.geometry,
            attributes=a.attributes,
            kind=str(a.kind),
            confidence=a.confidence,
            threshold=a.threshold,
            lineage=annotation_lineage(session, annotation_id=a.id or 0, loop=False),
        )
        for a in rows
    ]
    runs = [r for lab in labels for r in run_ids_of([*lab.lineage.history, *lab.lineage.superseded_by])]
    loop = label_loop(session, run_ids=runs, hide_golden=hide_golden)
    return ItemLineage(item_id, item.uri, item.width, item.height, version, int(total), labels, loop)
