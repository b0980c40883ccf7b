"""A child version inherits its parent's live labels: each is copied onto the child's item with the same
path and bytes, as a new row whose ``origin_id`` points at the first row of the label's lineage (see
``lineage.labels.labelset``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session

from lineage.labels.labelset import ANNOTATION_COLUMNS, DELETED, seal_rows
from lineage.models import Annotation
from lineage.models._base import utcnow

__all__ = ["inherit_labels"]

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
