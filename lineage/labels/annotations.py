"""Annotations with provenance: add, correct, review, inherit; the live label set and its manifest hash.

Nothing is updated in place (database triggers refuse it): a correction is a new row whose
``supersedes_id`` names the old one; a reviewer's ``reject`` appends a tombstone (``geometry_type =
"deleted"``, no geometry) that supersedes the rejected label. The **live label set** of a version is

    its annotations that no other annotation supersedes, tombstones excluded.

When a child version inherits its parent's labels, each live label is copied as a new row of the child
with ``origin_id`` = the original's ``origin_id`` or, for an original, its ``id``; so the versions that
contain annotation X are those holding X or a row whose ``origin_id`` is X.

**Manifest hash** of a version (``manifest_hash``)::

    line(a)  = canonical_json([item.uri, item.sha256, a.category, a.geometry_type, a.x, a.y, a.w, a.h,
                               a.geometry, a.attributes, a.kind, a.annotator_id, a.model_version_id,
                               a.weights_sha256, a.confidence, a.threshold, a.autolabel_run_id,
                               a.source_sha256, a.source_format, a.generator_config_hash])
    manifest = SHA-256( b"labelgate.manifest.v1\\x00" || "\\n".join(sorted(line(a) for a in live set)) )

with ``canonical_json`` compact, key-sorted JSON (floats as Python's shortest repr). Row ids, timestamps,
``origin_id`` and ``supersedes_id`` are left out, so a child that inherits its parent's labels unchanged
has its parent's manifest hash. The empty set hashes to ``SHA-256(b"labelgate.manifest.v1\\x00")``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, insert, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lineage.audit.chain import append_event, next_seq
from lineage.audit.rowdigest import DIGEST_COLUMNS, aggregate, digest_values, normaliser, row_digest
from lineage.context import Actor
from lineage.datasets.versions import ensure_writable, version_ref
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import (
    Annotation,
    AutoLabelRun,
    Dataset,
    DatasetVersion,
    Item,
    LabelSchemaVersion,
    ModelVersion,
    ProvenanceKind,
    Review,
    ReviewDecision,
)
from lineage.models._base import utcnow

__all__ = [
    "ANNOTATION_COLUMNS",
    "DELETED",
    "MANIFEST_DOMAIN",
    "MAX_BATCH",
    "BoxChange",
    "NewLabel",
    "Provenance",
    "add_annotations",
    "check_box",
    "correct_annotation",
    "count_live",
    "get_annotation",
    "inherit_labels",
    "list_live",
    "live_labels",
    "manifest_hash",
    "mark_stale",
    "model_provenance",
    "refresh_manifest",
    "review_annotation",
    "schema_class_names",
    "seal_rows",
]

DELETED = "deleted"
MAX_BATCH = 5000
MANIFEST_DOMAIN = b"labelgate.manifest.v1\x00"
# Tolerance, in pixels, for a box edge beyond the image border (float round-off of normalised formats).
EDGE_EPS = 1e-6

ANNOTATION_COLUMNS = (
    "dataset_version_id",
    "item_id",
    "category",
    "geometry_type",
    "x",
    "y",
    "w",
    "h",
    "geometry",
    "attributes",
    "kind",
    "annotator_id",
    "model_version_id",
    "weights_sha256",
    "confidence",
    "threshold",
    "autolabel_run_id",
    "source_sha256",
    "source_format",
    "generator_config_hash",
    "supersedes_id",
    "origin_id",
    "created_at",
    "created_by",
    "row_digest",
    "audit_seq",
)
# Who wrote a row and how it is sealed: record-keeping, not label content (left out of the manifest).
_RECORD_COLUMNS = frozenset({"created_by", "row_digest", "audit_seq"})
_PROVENANCE_FIELDS = (
    "annotator_id",
    "model_version_id",
    "weights_sha256",
    "threshold",
    "autolabel_run_id",
    "source_sha256",
    "source_format",
    "generator_config_hash",
)
_REQUIRED: dict[ProvenanceKind, tuple[str, ...]] = {
    ProvenanceKind.human: ("annotator_id",),
    ProvenanceKind.model: ("model_version_id", "weights_sha256", "threshold", "autolabel_run_id"),
    ProvenanceKind.import_: ("source_sha256", "source_format"),
    ProvenanceKind.synthetic: ("generator_config_hash",),
}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where labels come from; the fields each ``kind`` needs mirror the database's CHECK constraint.

    ``confidence`` is per label (``NewLabel.confidence``) and is required for ``model`` labels.
    """

    kind: ProvenanceKind
    annotator_id: int | None = None
    model_version_id: int | None = None
    weights_sha256: str | None = None
    threshold: float | None = None
    autolabel_run_id: int | None = None
    source_sha256: str | None = None
    source_format: str | None = None
    generator_config_hash: str | None = None

    def check(self) -> None:
        for name in _REQUIRED[self.kind]:
            if getattr(self, name) is None:
                raise InvalidInput(f"{self.kind.value} provenance needs {name}", field=f"provenance.{name}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InvalidInput("threshold must be within [0, 1]", field="provenance.threshold")

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _PROVENANCE_FIELDS)


@dataclass(frozen=True, slots=True)
class NewLabel:
    """One label to add. Boxes are ``x, y, w, h`` in pixels from the top-left corner (COCO convention)."""

    item_id: int
    category: str
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    geometry_type: str = "box"
    geometry: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class BoxChange:
    """A correction: any field left ``None`` keeps the corrected label's value."""

    category: str | None = None
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    attributes: dict[str, Any] | None = field(default=None)


def check_box(x: float, y: float, w: float, h: float, width: int | None, height: int | None) -> str | None:
    """What is wrong with a box (``None`` when nothing): sizes positive, inside the image when it is known."""
    values = (x, y, w, h)
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        return "expected finite numbers"
    if w <= 0 or h <= 0:
        return f"expected a positive width and height, got w={w:g} h={h:g}"
    if x < -EDGE_EPS or y < -EDGE_EPS:
        return f"box starts outside the image (x={x:g}, y={y:g}; expected >= 0)"
    if width is not None and x + w > width + EDGE_EPS:
        return f"box ends outside the image (x+w={x + w:g} > width {width})"
    if height is not None and y + h > height + EDGE_EPS:
        return f"box ends outside the image (y+h={y + h:g} > height {height})"
    return None


def schema_class_names(session: Session, version: DatasetVersion) -> dict[str, str] | None:
    """``{class name: geometry}`` of the version's schema, or ``None`` when the version has no schema."""
    if version.schema_version_id is None:
        return None
    sv = session.get(LabelSchemaVersion, version.schema_version_id)
    if sv is None:
        return None
    return {str(c["name"]): str(c.get("geometry", "box")) for c in sv.classes}


def _superseded_by() -> Any:
    newer = aliased(Annotation)
    return exists().where(col(newer.supersedes_id) == col(Annotation.id))


def live_labels(version_id: int) -> SelectOfScalar[Annotation]:
    """The statement selecting a version's live label set (see the module docstring)."""
    return (
        select(Annotation)
        .where(Annotation.dataset_version_id == version_id, Annotation.geometry_type != DELETED)
        .where(~_superseded_by())
    )


def list_live(session: Session, *, version_id: int, offset: int = 0, limit: int = 500) -> list[Annotation]:
    stmt = live_labels(version_id).order_by(col(Annotation.id)).offset(offset).limit(limit)
    return list(session.exec(stmt))


def count_live(session: Session, *, version_id: int) -> int:
    sub = live_labels(version_id).subquery()
    return int(session.exec(select(func.count()).select_from(sub)).one())


def get_annotation(session: Session, annotation_id: int) -> tuple[Annotation, DatasetVersion, Dataset]:
    ann = session.get(Annotation, annotation_id)
    version = session.get(DatasetVersion, ann.dataset_version_id) if ann is not None else None
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    if ann is None or version is None or dataset is None:
        raise NotFound(f"no annotation {annotation_id}", field="annotation_id")
    return ann, version, dataset


def mark_stale(session: Session, *, version_id: int) -> None:
    """Labels changed: the pinned manifest hash no longer holds (recomputed on the next state change)."""
    session.execute(update(DatasetVersion).where(col(DatasetVersion.id) == version_id).values(manifest_hash=None))


def manifest_hash(session: Session, *, version_id: int) -> str:
    """The version's manifest hash, computed now from its live label set (definition in the module doc)."""
    items = SQLModel.metadata.tables["items"]
    live = live_labels(version_id).subquery()
    stmt = sa_select(items.c.uri, items.c.sha256, *[live.c[name] for name in _MANIFEST_COLUMNS]).join_from(
        live, items, items.c.id == live.c.item_id
    )
    lines = sorted(
        json.dumps(list(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for row in session.execute(stmt)
    )
    return hashlib.sha256(MANIFEST_DOMAIN + "\n".join(lines).encode()).hexdigest()


# Everything but row identity, placement in history and time: see the manifest definition above.
_MANIFEST_COLUMNS = tuple(
    c
    for c in ANNOTATION_COLUMNS
    if c not in {"dataset_version_id", "item_id", "supersedes_id", "origin_id", "created_at"} | _RECORD_COLUMNS
)


def refresh_manifest(session: Session, *, version: DatasetVersion) -> str:
    """Compute the manifest hash and store it on the version."""
    version.manifest_hash = manifest_hash(session, version_id=version.id or 0)
    session.add(version)
    session.flush()
    return version.manifest_hash


def seal_rows(session: Session, rows: Sequence[dict[str, Any]], *, created_by: int) -> dict[str, Any]:
    """Stamp annotation rows (dicts, about to be inserted) with their writer, their content digest and the
    seq of the audit event that will record them (reserved now: append that event next, with
    ``expect_seq``); returns what the event records of them: ``{"seq", "count", "digest"}``."""
    seq = next_seq(session)
    norm = normaliser("annotations")
    names = [name for name, _ in DIGEST_COLUMNS["annotations"]]
    digests = []
    for row in rows:
        row["created_by"] = created_by
        row["audit_seq"] = seq
        digest = digest_values("annotations", [row.get(n) for n in names], norm)
        row["row_digest"] = digest
        digests.append(digest)
    return {"seq": seq, "count": len(digests), "digest": aggregate(digests)}


def _seal_orm(session: Session, row: Annotation, *, created_by: int) -> dict[str, Any]:
    """``seal_rows`` for one ORM annotation (before it is added)."""
    seq = next_seq(session)
    row.created_by = created_by
    row.audit_seq = seq
    row.row_digest = row_digest("annotations", row)
    return {"seq": seq, "count": 1, "digest": aggregate([row.row_digest])}


def model_provenance(session: Session, *, autolabel_run_id: int, version: DatasetVersion) -> Provenance:
    """Model provenance from an auto-label run of this version: model, weights hash and threshold are the
    run's (the server's), never a client's."""
    run = session.get(AutoLabelRun, autolabel_run_id)
    if run is None or run.dataset_version_id != version.id:
        raise NotFound(f"no auto-label run {autolabel_run_id} for this version", field="provenance.autolabel_run_id")
    model = session.get(ModelVersion, run.model_version_id)
    assert model is not None
    return Provenance(
        kind=ProvenanceKind.model,
        model_version_id=model.id,
        weights_sha256=model.weights_sha256,
        threshold=run.threshold,
        autolabel_run_id=run.id,
    )


def _validate_labels(
    session: Session, version: DatasetVersion, labels: Sequence[NewLabel], provenance: Provenance
) -> None:
    item_ids = {lbl.item_id for lbl in labels}
    dims: dict[int, tuple[int | None, int | None]] = {
        row[0]: (row[1], row[2])
        for row in session.execute(
            select(Item.id, Item.width, Item.height).where(
                Item.dataset_version_id == version.id, col(Item.id).in_(item_ids)
            )
        )
    }
    classes = schema_class_names(session, version)
    for n, lbl in enumerate(labels):
        where = f"annotations[{n}]"
        if lbl.item_id not in dims:
            raise InvalidInput(f"item {lbl.item_id} is not part of this version", field=f"{where}.item")
        if classes is not None and lbl.category not in classes:
            raise InvalidInput(
                f"unknown class {lbl.category!r} (the schema has {', '.join(sorted(classes))})",
                field=f"{where}.category",
            )
        if classes is not None and classes[lbl.category] != lbl.geometry_type:
            raise InvalidInput(
                f"class {lbl.category!r} expects {classes[lbl.category]} geometry, got {lbl.geometry_type}",
                field=f"{where}.geometry_type",
            )
        if lbl.geometry_type == "box":
            if None in (lbl.x, lbl.y, lbl.w, lbl.h):
                raise InvalidInput("a box needs x, y, w and h", field=f"{where}.bbox")
            problem = check_box(lbl.x, lbl.y, lbl.w, lbl.h, *dims[lbl.item_id])  # type: ignore[arg-type]
            if problem:
                raise InvalidInput(problem, field=f"{where}.bbox")
        elif lbl.geometry is None:
            raise InvalidInput(f"a {lbl.geometry_type} label needs its geometry", field=f"{where}.geometry")
        if provenance.kind is ProvenanceKind.model and lbl.confidence is None:
            raise InvalidInput("model labels need a confidence", field=f"{where}.confidence")
        if lbl.confidence is not None and not 0.0 <= lbl.confidence <= 1.0:
            raise InvalidInput("confidence must be within [0, 1]", field=f"{where}.confidence")


def add_annotations(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    labels: Sequence[NewLabel],
    provenance: Provenance,
    max_batch: int = MAX_BATCH,
) -> list[int]:
    """Validate every label, then insert them all (or nothing) with one audit event; returns the new ids.

    ``max_batch`` (5000): larger batches are refused; the importers take the fast path for files.
    """
    ensure_writable(session, actor=actor, version=version, attempted="adding annotations")
    if not labels:
        raise InvalidInput("expected at least one annotation", field="annotations")
    if len(labels) > max_batch:
        raise InvalidInput(f"at most {max_batch} annotations per batch, got {len(labels)}", field="annotations")
    provenance.check()
    _validate_labels(session, version, labels, provenance)
    now = utcnow()
    rows = [
        {
            "dataset_version_id": version.id,
            "item_id": lbl.item_id,
            "category": lbl.category,
            "geometry_type": lbl.geometry_type,
            "x": lbl.x,
            "y": lbl.y,
            "w": lbl.w,
            "h": lbl.h,
            "geometry": lbl.geometry,
            "attributes": lbl.attributes,
            "kind": provenance.kind.value,
            "confidence": lbl.confidence,
            "created_at": now,
            **{f: getattr(provenance, f) for f in _PROVENANCE_FIELDS},
        }
        for lbl in labels
    ]
    sealed = seal_rows(session, rows, created_by=actor.user_id)
    result = session.execute(insert(Annotation).returning(col(Annotation.id), sort_by_parameter_order=True), rows)
    ids = [int(r[0]) for r in result]
    mark_stale(session, version_id=version.id or 0)
    dataset = session.get(Dataset, version.dataset_id)
    assert dataset is not None
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="annotation.add",
        object_type="dataset_version",
        object_id=str(version.id),
        project_id=dataset.project_id,
        payload={
            "version": version_ref(dataset, version),
            "count": len(ids),
            "first_id": ids[0],
            "last_id": ids[-1],
            "provenance": {k: v for k, v in _provenance_dict(provenance).items() if v is not None},
            "sealed": sealed,
        },
        expect_seq=sealed["seq"],
    )
    return ids


def _provenance_dict(p: Provenance) -> dict[str, Any]:
    return {"kind": p.kind.value, **{f: getattr(p, f) for f in _PROVENANCE_FIELDS}}


def _live_target(session: Session, annotation_id: int) -> tuple[Annotation, DatasetVersion, Dataset]:
    ann, version, dataset = get_annotation(session, annotation_id)
    if session.get_bind().dialect.name == "postgresql":
        # Two concurrent corrections of one label would fork its history; the row lock orders them.
        session.exec(select(Annotation.id).where(Annotation.id == annotation_id).with_for_update()).first()
    newer = session.exec(select(Annotation.id).where(Annotation.supersedes_id == annotation_id)).first()
    if newer is not None:
        raise Conflict(
            f"annotation {annotation_id} was already superseded by annotation {newer}; act on that one",
            field="annotation_id",
        )
    if ann.geometry_type == DELETED:
        raise Conflict(f"annotation {annotation_id} is a deletion record", field="annotation_id")
    return ann, version, dataset


def correct_annotation(
    session: Session,
    *,
    actor: Actor,
    annotation_id: int,
    change: BoxChange,
    reason: str = "",
) -> Annotation:
    """Append a ``human`` annotation (by ``actor``) that supersedes ``annotation_id`` with ``change`` applied."""
    old, version, dataset = _live_target(session, annotation_id)
    ensure_writable(session, actor=actor, version=version, attempted=f"correcting annotation {annotation_id}")
    new, sealed = _corrected(session, actor=actor, old=old, version=version, change=change)
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="annotation.correct",
        object_type="annotation",
        object_id=str(new.id),
        project_id=dataset.project_id,
        payload={
            "supersedes": old.id,
            "superseded_digest": row_digest("annotations", old),
            "version": version_ref(dataset, version),
            "reason": reason,
            "change": {k: v for k, v in _change_dict(change).items() if v is not None},
            "sealed": sealed,
        },
        expect_seq=sealed["seq"],
    )
    return new


def _change_dict(change: BoxChange) -> dict[str, Any]:
    return {k: getattr(change, k) for k in ("category", "x", "y", "w", "h", "attributes")}


def _carried_attributes(old: Annotation, change: BoxChange) -> dict[str, Any] | None:
    """The correction's attributes: the change's, else the old label's, less a source COCO ``area`` once
    the box moved (it described the old box; ``lineage.formats.coco`` keeps it under ``coco``)."""
    attrs = change.attributes if change.attributes is not None else old.attributes
    moved = any(getattr(change, k) is not None and getattr(change, k) != getattr(old, k) for k in "xywh")
    coco = attrs.get("coco") if isinstance(attrs, dict) else None
    if not moved or not isinstance(coco, dict) or "area" not in coco:
        return attrs
    kept = {k: v for k, v in coco.items() if k != "area"}
    rest = {k: v for k, v in (attrs or {}).items() if k != "coco"}
    return {**rest, "coco": kept} if kept else (rest or None)


def _corrected(
    session: Session, *, actor: Actor, old: Annotation, version: DatasetVersion, change: BoxChange
) -> tuple[Annotation, dict[str, Any]]:
    label = NewLabel(
        item_id=old.item_id,
        category=change.category if change.category is not None else old.category,
        x=change.x if change.x is not None else old.x,
        y=change.y if change.y is not None else old.y,
        w=change.w if change.w is not None else old.w,
        h=change.h if change.h is not None else old.h,
        geometry_type=old.geometry_type,
        geometry=old.geometry,
        attributes=_carried_attributes(old, change),
    )
    provenance = Provenance(kind=ProvenanceKind.human, annotator_id=actor.user_id)
    _validate_labels(session, version, [label], provenance)
    new = Annotation(
        dataset_version_id=version.id or 0,
        item_id=label.item_id,
        category=label.category,
        geometry_type=label.geometry_type,
        x=label.x,
        y=label.y,
        w=label.w,
        h=label.h,
        geometry=label.geometry,
        attributes=label.attributes,
        kind=ProvenanceKind.human,
        annotator_id=actor.user_id,
        supersedes_id=old.id,
    )
    sealed = _seal_orm(session, new, created_by=actor.user_id)
    session.add(new)
    session.flush()
    mark_stale(session, version_id=version.id or 0)
    return new, sealed


def review_annotation(
    session: Session,
    *,
    actor: Actor,
    annotation_id: int,
    decision: ReviewDecision,
    comment: str = "",
    change: BoxChange | None = None,
) -> Review:
    """Record a reviewer's decision. ``correct`` appends the corrected label (``change`` required);
    ``reject`` appends a tombstone that takes the label out of the live set; ``accept`` appends nothing."""
    old, version, dataset = _live_target(session, annotation_id)
    ensure_writable(session, actor=actor, version=version, attempted=f"reviewing annotation {annotation_id}")
    correction: Annotation | None = None
    sealed: dict[str, Any] | None = None
    if decision is ReviewDecision.correct:
        if change is None or all(v is None for v in _change_dict(change).values()):
            raise InvalidInput("a correction needs at least one changed field", field="correction")
        correction, sealed = _corrected(session, actor=actor, old=old, version=version, change=change)
    elif change is not None:
        raise InvalidInput(f"a {decision.value} decision takes no correction", field="correction")
    elif decision is ReviewDecision.reject:
        correction = Annotation(
            dataset_version_id=version.id or 0,
            item_id=old.item_id,
            category=old.category,
            geometry_type=DELETED,
            kind=ProvenanceKind.human,
            annotator_id=actor.user_id,
            supersedes_id=old.id,
        )
        sealed = _seal_orm(session, correction, created_by=actor.user_id)
        session.add(correction)
        session.flush()
        mark_stale(session, version_id=version.id or 0)
    review = Review(
        annotation_id=old.id or 0,
        reviewer_id=actor.user_id,
        decision=decision,
        correction_id=correction.id if correction is not None else None,
        comment=comment,
    )
    session.add(review)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="annotation.review",
        object_type="annotation",
        object_id=str(old.id),
        project_id=dataset.project_id,
        payload={
            "decision": decision.value,
            "review_id": review.id,
            "correction_id": review.correction_id,
            "version": version_ref(dataset, version),
            "comment": comment,
            "reviewed_digest": row_digest("annotations", old),
            **({"sealed": sealed} if sealed else {}),
        },
        rows=[review],
        expect_seq=sealed["seq"] if sealed else None,
    )
    return review


_INHERIT_SQL = f"""
SELECT ci.id, a.category, a.geometry_type, a.x, a.y, a.w, a.h, a.geometry, a.attributes, a.kind,
       a.annotator_id, a.model_version_id, a.weights_sha256, a.confidence, a.threshold, a.autolabel_run_id,
       a.source_sha256, a.source_format, a.generator_config_hash, COALESCE(a.origin_id, a.id)
FROM annotations a
JOIN items pi ON pi.id = a.item_id
JOIN items ci ON ci.dataset_version_id = :child AND ci.uri = pi.uri AND ci.sha256 = pi.sha256
WHERE a.dataset_version_id = :parent AND a.geometry_type <> '{DELETED}'
  AND NOT EXISTS (SELECT 1 FROM annotations s WHERE s.supersedes_id = a.id)
ORDER BY a.id
"""
# The columns the inheritance query selects, in its order: the label and its provenance, then its origin.
_INHERITED = (
    *ANNOTATION_COLUMNS[ANNOTATION_COLUMNS.index("item_id") : ANNOTATION_COLUMNS.index("supersedes_id")],
    "origin_id",
)


def inherit_labels(session: Session, *, parent_id: int, child_id: int, created_by: int) -> dict[str, Any] | None:
    """Copy the parent's live labels onto the child's items with the same path and bytes, sealed for the
    audit event the caller appends next (``expect_seq``); returns ``seal_rows``' record, ``None`` when
    nothing was copied.

    Provenance fields are copied; ``origin_id`` points at the first row of the label's lineage; the
    copies' ``created_by`` is whoever created the child (the parent's authors stay its authors through
    ``origin_id``).
    """
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for values in session.execute(text(_INHERIT_SQL), {"child": child_id, "parent": parent_id}):
        row = dict(zip(_INHERITED, values, strict=True))
        for name in ("geometry", "attributes"):  # JSON text on SQLite, parsed on PostgreSQL
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        row.update(dataset_version_id=child_id, supersedes_id=None, created_at=now)
        rows.append(row)
    if not rows:
        return None
    sealed = seal_rows(session, rows, created_by=created_by)
    session.execute(insert(Annotation), rows)
    return sealed
