"""Verbs of labelling on the record: read a version's live labels, add labels in bulk, correct a label,
review a label. Annotators write their own ``human`` labels only; golden datasets stay hidden from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func
from sqlmodel import col, select

from lineage import item_lineage as by_item
from lineage import labels as ann
from lineage.datasets.catalog import version_ref
from lineage.errors import InvalidInput, NotFound
from lineage.labels.geometry import implied_box
from lineage.models import (
    Annotation,
    Dataset,
    DatasetVersion,
    Item,
    ProvenanceKind,
    Review,
    ReviewDecision,
    Role,
)
from service.actions.context import Context, authorize
from service.actions.model_lineage import hides_golden
from service.actions.paging import decode_cursor, encode_cursor
from service.actions.versions import find_version

__all__ = [
    "Correction",
    "LabelSpec",
    "add_labels",
    "correct",
    "item_lineage",
    "live_labels",
    "review",
    "version_items",
]

#: The kinds of this module's page cursors (``service.actions.paging``).
_LABELS, _ITEMS = "labels", "items"


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """One label to add: its item by id or by URI (one of them), class, geometry, attributes, and the model's
    confidence for model labels.

    ``geometry_type`` (``box``) and ``geometry`` as ``lineage.labels.geometry`` stores them: a box is ``bbox``
    ``(x, y, w, h)`` alone; a ``polygon`` ``{"polygons": [[x1, y1, ...], ...]}``, a ``mask``
    ``{"rle": {"size": [h, w], "counts": "..."}}`` and ``keypoints`` ``{"keypoints": [[x, y, v], ...]}`` take
    their box from the geometry (keypoints: ``bbox`` when given, else the labelled points' extent); a ``tag``
    has neither."""

    category: str
    bbox: tuple[float, float, float, float] | None = None
    item_id: int | None = None
    item_uri: str | None = None
    attributes: dict[str, Any] | None = None
    confidence: float | None = None
    geometry_type: str = "box"
    geometry: dict[str, Any] | None = None

    def box(self) -> tuple[float | None, float | None, float | None, float | None]:
        """The row's ``x, y, w, h``: given, or implied by the geometry (``lineage.labels.geometry.implied_box``)."""
        return implied_box(self.geometry_type, self.geometry, self.bbox)


@dataclass(frozen=True, slots=True)
class Correction:
    """What a correction changes: the class, any of the box's ``x, y, w, h``, the attributes, the geometry of a
    polygon, mask or keypoint object (None: kept)."""

    category: str | None = None
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    attributes: dict[str, Any] | None = None
    geometry: dict[str, Any] | None = None

    @classmethod
    def of_box(
        cls,
        category: str | None,
        bbox: Sequence[float] | None,
        attributes: dict[str, Any] | None = None,
        geometry: dict[str, Any] | None = None,
    ) -> Correction:
        """A correction giving the whole box ``(x, y, w, h)`` at once (or none of it)."""
        x, y, w, h = bbox if bbox is not None else (None, None, None, None)
        return cls(category=category, x=x, y=y, w=w, h=h, attributes=attributes, geometry=geometry)

    def change(self) -> ann.BoxChange:
        return ann.BoxChange(
            category=self.category,
            x=self.x,
            y=self.y,
            w=self.w,
            h=self.h,
            attributes=self.attributes,
            geometry=self.geometry,
        )


def live_labels(
    ctx: Context,
    project_id: int,
    dataset: str,
    version: str,
    *,
    offset: int = 0,
    limit: int = 100,
    cursor: str | None = None,
    with_total: bool | None = None,
) -> dict[str, Any]:
    """A page (``items``, ``total``, ``offset``, ``limit``, ``next_cursor``) of the version's live labels, in
    id order. ``cursor`` (a page's ``next_cursor``) continues after that page's last label with an index seek
    (``offset`` then skips rows from there); ``total`` is counted on offset pages, or when ``with_total``:
    at a million labels a count reads them all, so keyset pages leave it ``None`` unless asked."""
    authorize(ctx, "list_version_annotations", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    vid = v.id or 0
    stmt = ann.live_labels(vid)
    if cursor is not None:
        (after,) = decode_cursor(cursor, _LABELS, (int,))
        stmt = stmt.where(col(Annotation.id) > after)
    rows = list(ctx.session.exec(stmt.order_by(col(Annotation.id)).offset(offset).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    count = with_total if with_total is not None else cursor is None
    return {
        "items": rows,
        "total": ann.count_live(ctx.session, version_id=vid) if count else None,
        "offset": offset,
        "limit": limit,
        "next_cursor": encode_cursor(_LABELS, rows[-1].id or 0) if more else None,
    }


def _new_labels(ctx: Context, version: DatasetVersion, specs: Sequence[LabelSpec]) -> list[ann.NewLabel]:
    uris = {s.item_uri for s in specs if s.item_uri is not None}
    stmt = select(Item.id, Item.uri).where(Item.dataset_version_id == version.id, col(Item.uri).in_(uris))
    by_uri = {uri: item_id for item_id, uri in ctx.session.exec(stmt)}
    labels = []
    for n, spec in enumerate(specs):
        if (spec.item_id is None) == (spec.item_uri is None):
            raise InvalidInput("name the item by item_id or item_uri (one of them)", field=f"annotations[{n}]")
        item_id = spec.item_id if spec.item_id is not None else by_uri.get(spec.item_uri or "")
        if item_id is None:
            raise InvalidInput(f"no item {spec.item_uri!r} in this version", field=f"annotations[{n}].item_uri")
        x, y, w, h = spec.box()
        labels.append(
            ann.NewLabel(
                item_id=item_id,
                category=spec.category,
                geometry_type=spec.geometry_type,
                x=x,
                y=y,
                w=w,
                h=h,
                geometry=spec.geometry,
                attributes=spec.attributes,
                confidence=spec.confidence,
            )
        )
    return labels


def add_labels(
    ctx: Context,
    project_id: int,
    dataset: str,
    version: str,
    *,
    labels: Sequence[LabelSpec],
    kind: Literal["human", "model", "synthetic"] = "human",
    autolabel_run_id: int | None = None,
    generator_config_hash: str | None = None,
) -> list[int]:
    """Add labels (boxes, polygons, masks, keypoints, tags) to the version, all or nothing; the new labels'
    ids. ``human`` labels are the caller's own;
    ``model`` labels name their auto-label run and ``synthetic`` ones their generator: only ML engineers
    (and admins) write those."""
    roles = authorize(ctx, "bulk_create_annotations", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    if kind != "human" and not ctx.user.is_admin and Role.ml_engineer not in roles:
        raise InvalidInput(
            f"{kind} labels are written by ML engineers; annotators write human labels", field="provenance.kind"
        )
    if kind == "human":
        provenance = ann.Provenance(kind=ProvenanceKind.human, annotator_id=ctx.actor.user_id)
    elif kind == "model":
        if autolabel_run_id is None:
            raise InvalidInput("model labels name their auto-label run", field="provenance.autolabel_run_id")
        provenance = ann.model_provenance(ctx.session, autolabel_run_id=autolabel_run_id, version=v)
    else:
        provenance = ann.Provenance(kind=ProvenanceKind.synthetic, generator_config_hash=generator_config_hash)
    new = _new_labels(ctx, v, labels)
    return ann.add_annotations(ctx.session, actor=ctx.actor, version=v, labels=new, provenance=provenance)


def _visible_annotation(ctx: Context, project_id: int, annotation_id: int) -> Annotation:
    """The annotation, if it belongs to this project and its dataset is visible to the caller (else 404)."""
    a, v, d = ann.get_annotation(ctx.session, annotation_id)
    if d.project_id != project_id:
        raise NotFound(f"no annotation {annotation_id}", field="annotation_id")
    find_version(ctx, project_id, d.name, v.version)
    return a


def correct(
    ctx: Context, project_id: int, annotation_id: int, *, correction: Correction, reason: str = ""
) -> Annotation:
    """Append a human label that supersedes this one (the old one stays in the history)."""
    authorize(ctx, "correct_annotation", project_id=project_id)
    _visible_annotation(ctx, project_id, annotation_id)
    return ann.correct_annotation(
        ctx.session, actor=ctx.actor, annotation_id=annotation_id, change=correction.change(), reason=reason
    )


def review(
    ctx: Context,
    project_id: int,
    annotation_id: int,
    *,
    decision: ReviewDecision,
    comment: str = "",
    correction: Correction | None = None,
) -> Review:
    """Accept, reject or correct a label (a correction supersedes it with the reviewer's)."""
    authorize(ctx, "review_annotation", project_id=project_id)
    _visible_annotation(ctx, project_id, annotation_id)
    return ann.review_annotation(
        ctx.session,
        actor=ctx.actor,
        annotation_id=annotation_id,
        decision=decision,
        comment=comment,
        change=correction.change() if correction is not None else None,
    )


# --- lineage from the image ------------------------------------------------------------------------------


def version_items(
    ctx: Context,
    project_id: int,
    dataset: str,
    version: str,
    *,
    offset: int = 0,
    limit: int = 24,
    cursor: str | None = None,
    with_total: bool | None = None,
) -> dict[str, Any]:
    """A page of the version's items (path order) with their live-label counts, to browse them as pictures.

    The page is read along ``uq_item_uri`` (version, path), from after ``cursor``'s path when given, and only
    its items' labels are counted (``ix_annotations_version_item``): a page costs the same in a version of
    100,000 items as in one of ten. ``total`` as in :func:`live_labels`."""
    authorize(ctx, "version_lineage", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    vid = v.id or 0
    stmt = select(Item).where(Item.dataset_version_id == vid)
    if cursor is not None:
        (after,) = decode_cursor(cursor, _ITEMS, (str,))
        stmt = stmt.where(col(Item.uri) > after)
    found = list(ctx.session.exec(stmt.order_by(col(Item.uri)).offset(offset).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    counts = _live_counts(ctx, vid, [i.id or 0 for i in found])
    items = [by_item.ItemSummary(i.id or 0, i.uri, i.width, i.height, counts.get(i.id or 0, 0)) for i in found]
    count = with_total if with_total is not None else cursor is None
    total = select(func.count()).select_from(Item).where(Item.dataset_version_id == vid)
    return {
        "items": items,
        "total": int(ctx.session.exec(total).one()) if count else None,
        "offset": offset,
        "limit": limit,
        "next_cursor": encode_cursor(_ITEMS, found[-1].uri) if more else None,
    }


def _live_counts(ctx: Context, version_id: int, item_ids: list[int]) -> dict[int, int]:
    """Live labels per item, for these items of the version only."""
    if not item_ids:
        return {}
    live = ann.live_labels(version_id).where(col(Annotation.item_id).in_(item_ids)).subquery()
    stmt = select(live.c.item_id, func.count()).group_by(live.c.item_id)
    return {int(item_id): int(n) for item_id, n in ctx.session.exec(stmt)}


def item_lineage(ctx: Context, project_id: int, item_id: int) -> by_item.ItemLineage:
    """Every live label of an item of the project, each with its whole chain (``NotFound`` when the item is
    another project's, or its dataset is hidden from the caller: golden ones, for annotators)."""
    authorize(ctx, "annotation_lineage", project_id=project_id)
    item = ctx.session.get(Item, item_id)
    version = ctx.session.get(DatasetVersion, item.dataset_version_id) if item is not None else None
    dataset = ctx.session.get(Dataset, version.dataset_id) if version is not None else None
    if item is None or version is None or dataset is None or dataset.project_id != project_id:
        raise NotFound(f"no item {item_id} in this project", field="item_id")
    ds, v = find_version(ctx, project_id, dataset.name, version.version)  # the caller's visibility rules
    hide = hides_golden(ctx, project_id)
    return by_item.item_lineage(ctx.session, item_id=item_id, version=version_ref(ds, v), hide_golden=hide)
