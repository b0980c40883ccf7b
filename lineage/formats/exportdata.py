"""What an export reads of a version: its live labels per item (boxes, polygons, masks, keypoints; tags apart),
its classes in schema order and the schema facts the writers need (``common.ExportData``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from lineage.datasets.catalog import version_ref
from lineage.formats.common import ExportData, ExportLabel, ItemRef, SchemaInfo
from lineage.labels.imports import latest_id_map
from lineage.labels.labelset import DELETED, live_labels
from lineage.models import Dataset, DatasetVersion, Item, LabelSchemaVersion

__all__ = ["export_data", "schema_info"]

_LABEL_COLUMNS = ("id", "item_id", "category", "geometry_type", "x", "y", "w", "h", "geometry", "attributes")


def schema_info(session: Session, version: DatasetVersion) -> SchemaInfo | None:
    """The version's schema as the readers need it (``None`` when the version has no schema)."""
    if version.schema_version_id is None:
        return None
    sv = session.get(LabelSchemaVersion, version.schema_version_id)
    if sv is None:
        return None
    from lineage.schemas import version_classes, version_options

    classes = version_classes(sv)
    spec = {c.name: c.keypoints for c in classes if c.keypoints is not None}
    return SchemaInfo(
        geometry={c.name: str(c.geometry) for c in classes},
        keypoints={name: tuple(k.names) for name, k in spec.items()},
        skeleton={name: tuple((int(a), int(b)) for a, b in k.skeleton) for name, k in spec.items()},
        multi_label=bool(version_options(sv).multi_label),
    )


def export_data(
    session: Session,
    *,
    dataset: Dataset,
    version: DatasetVersion,
    id_map: dict[str, dict[str, int]] | None = None,
) -> ExportData:
    """The version's live boxes per item, classes in schema order (else sorted by name).

    ``id_map``: the source ids a COCO export keeps (default: those of the version's newest COCO import,
    ``lineage.labels.imports.latest_id_map``; ``{}`` numbers everything afresh). Its categories are classes too,
    so a version without a schema still exports the categories that had no boxes."""
    kept = id_map if id_map is not None else latest_id_map(session, version.id or 0)
    # Plain rows, not ORM objects: a million labels load in seconds (what the writers read, nothing more).
    item_rows = select(col(Item.id), col(Item.uri), col(Item.width), col(Item.height))
    items = [
        ItemRef(i.id or 0, i.uri, i.width, i.height)
        for i in session.connection().execute(
            item_rows.where(col(Item.dataset_version_id) == version.id).order_by(col(Item.uri))
        )
    ]
    live = live_labels(version.id or 0).subquery()
    stmt = select(*(live.c[name] for name in _LABEL_COLUMNS)).order_by(live.c.id)
    labels: dict[int, list[ExportLabel]] = {}
    tags: dict[int, list[str]] = {}
    names: set[str] = set()
    for a in session.connection().execute(stmt):
        if a.geometry_type == "tag":
            tags.setdefault(a.item_id, []).append(a.category)
            continue
        if a.geometry_type == DELETED or a.x is None or a.y is None or a.w is None or a.h is None:
            continue
        labels.setdefault(a.item_id, []).append(
            ExportLabel(a.category, a.x, a.y, a.w, a.h, a.attributes, a.geometry_type, a.geometry)
        )
        names.add(a.category)
    schema = schema_info(session, version)
    classes: list[str] = []
    if schema is not None:
        classes = [n for n, g in schema.geometry.items() if g != "tag"]
        order = {n: i for i, n in enumerate(schema.geometry)}
        tags = {i: sorted(set(c), key=lambda n: (order.get(n, len(order)), n)) for i, c in tags.items()}
    source_categories = (kept or {}).get("categories") or {}
    by_id = sorted(source_categories, key=lambda n: (not isinstance(source_categories[n], int), source_categories[n]))
    classes += [n for n in by_id if n not in classes]
    classes += sorted(names - set(classes))
    return ExportData(
        version_ref=version_ref(dataset, version),
        classes=classes,
        items=items,
        labels=labels,
        id_map=kept or None,
        tags=tags,
        schema=schema,
    )
