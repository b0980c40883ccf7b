"""Annotations with provenance: adding labels to a version and correcting them.

Every label is checked against the version's items and schema before anything is written, and a batch is
inserted whole or not at all. A correction never edits a row: it appends a ``human`` label by the
corrector that supersedes the old one (what is live, and how rows are sealed, is
``lineage.labels.labelset``; a reviewer's decision is ``lineage.labels.reviews``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.audit.rowdigest import row_digest
from lineage.context import Actor
from lineage.datasets.catalog import version_ref
from lineage.datasets.states import ensure_writable
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.labels.geometry import EDGE_EPS, check_box, check_geometry, implied_box
from lineage.labels.labelset import DELETED, get_annotation, mark_stale, seal_row, seal_rows
from lineage.models import (
    Annotation,
    AutoLabelRun,
    Dataset,
    DatasetVersion,
    Item,
    LabelSchemaVersion,
    ModelVersion,
    ProvenanceKind,
)
from lineage.models._base import utcnow

__all__ = [
    "EDGE_EPS",
    "MAX_BATCH",
    "BoxChange",
    "NewLabel",
    "Provenance",
    "add_annotations",
    "check_box",
    "correct_annotation",
    "live_annotation",
    "model_provenance",
    "schema_class_names",
    "write_correction",
]

MAX_BATCH = 5000
# Tolerance, in pixels, for a box edge beyond the image border (float round-off of normalised formats).

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
    """A correction: any field left ``None`` keeps the corrected label's value. ``geometry`` replaces a
    polygon's, mask's or keypoint object's geometry (its box then follows from it, see
    ``lineage.labels.geometry.implied_box``; a keypoint object keeps a box given with it)."""

    category: str | None = None
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    attributes: dict[str, Any] | None = field(default=None)
    geometry: dict[str, Any] | None = field(default=None)

    def fields(self) -> dict[str, Any]:
        """``{category, x, y, w, h, attributes, geometry}``, ``None`` for a field left unchanged."""
        return {k: getattr(self, k) for k in ("category", "x", "y", "w", "h", "attributes", "geometry")}


def schema_class_names(session: Session, version: DatasetVersion) -> dict[str, str] | None:
    """``{class name: geometry}`` of the version's schema, or ``None`` when the version has no schema."""
    if version.schema_version_id is None:
        return None
    sv = session.get(LabelSchemaVersion, version.schema_version_id)
    if sv is None:
        return None
    return {str(c["name"]): str(c.get("geometry", "box")) for c in sv.classes}


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
    sv = session.get(LabelSchemaVersion, version.schema_version_id) if version.schema_version_id else None
    keypoint_counts: dict[str, int] = {
        str(c["name"]): len(c["keypoints"]["names"])
        for c in (sv.classes if sv is not None else [])
        if isinstance(c.get("keypoints"), dict) and isinstance(c["keypoints"].get("names"), list | tuple)
    }
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
        else:
            problem = check_geometry(
                lbl.geometry_type,
                lbl.x,
                lbl.y,
                lbl.w,
                lbl.h,
                lbl.geometry,
                image_size=dims[lbl.item_id],
                keypoint_count=keypoint_counts.get(lbl.category),
            )
            if problem:
                raise InvalidInput(problem, field=f"{where}.geometry")
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
    record_event(
        session,
        actor,
        "annotation.add",
        ("dataset_version", str(version.id)),
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


def live_annotation(session: Session, annotation_id: int) -> tuple[Annotation, DatasetVersion, Dataset]:
    """Annotation ``annotation_id`` with its version and dataset, to be corrected or reviewed: ``Conflict``
    when it is already superseded or is a deletion record (on PostgreSQL its row stays locked until the
    transaction ends)."""
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
    old, version, dataset = live_annotation(session, annotation_id)
    ensure_writable(session, actor=actor, version=version, attempted=f"correcting annotation {annotation_id}")
    new, sealed = write_correction(session, actor=actor, old=old, version=version, change=change)
    record_event(
        session,
        actor,
        "annotation.correct",
        ("annotation", str(new.id)),
        project_id=dataset.project_id,
        payload={
            "supersedes": old.id,
            "superseded_digest": row_digest("annotations", old),
            "version": version_ref(dataset, version),
            "reason": reason,
            "change": {k: v for k, v in change.fields().items() if v is not None},
            "sealed": sealed,
        },
        expect_seq=sealed["seq"],
    )
    return new


def _carried_attributes(old: Annotation, change: BoxChange) -> dict[str, Any] | None:
    """The correction's attributes: the change's, else the old label's, less a source COCO ``area`` once
    the box moved (it described the old box; ``lineage.formats.coco`` keeps it under ``coco``)."""
    attrs = change.attributes if change.attributes is not None else old.attributes
    moved = change.geometry is not None or any(
        getattr(change, k) is not None and getattr(change, k) != getattr(old, k) for k in "xywh"
    )
    coco = attrs.get("coco") if isinstance(attrs, dict) else None
    if not moved or not isinstance(coco, dict) or "area" not in coco:
        return attrs
    kept = {k: v for k, v in coco.items() if k != "area"}
    rest = {k: v for k, v in (attrs or {}).items() if k != "coco"}
    return {**rest, "coco": kept} if kept else (rest or None)


def write_correction(
    session: Session, *, actor: Actor, old: Annotation, version: DatasetVersion, change: BoxChange
) -> tuple[Annotation, dict[str, Any]]:
    """Validate and append the ``human`` label by ``actor`` that supersedes ``old`` with ``change`` applied,
    sealed for the audit event the caller appends next (``expect_seq``); returns it and its seal."""
    x = change.x if change.x is not None else old.x
    y = change.y if change.y is not None else old.y
    w = change.w if change.w is not None else old.w
    h = change.h if change.h is not None else old.h
    if change.geometry is not None:
        given = (x, y, w, h) if None not in (change.x, change.y, change.w, change.h) else None
        x, y, w, h = implied_box(old.geometry_type, change.geometry, given)  # type: ignore[arg-type]
    label = NewLabel(
        item_id=old.item_id,
        category=change.category if change.category is not None else old.category,
        x=x,
        y=y,
        w=w,
        h=h,
        geometry_type=old.geometry_type,
        geometry=change.geometry if change.geometry is not None else old.geometry,
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
    sealed = seal_row(session, new, created_by=actor.user_id)
    session.add(new)
    session.flush()
    mark_stale(session, version_id=version.id or 0)
    return new, sealed
