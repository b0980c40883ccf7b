"""The fast insert path for many annotations (imports): through the session's own DBAPI connection, so
inside its transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, SQLModel

from lineage.audit.rowdigest import DIGEST_COLUMNS, box_digests, digest_values, loads_exact, normaliser
from lineage.errors import InvalidInput
from lineage.labels.labelset import ANNOTATION_COLUMNS
from lineage.models import ProvenanceKind
from lineage.models._base import utcnow

__all__ = ["RowWriter"]

_DIGEST_NAMES = [name for name, _ in DIGEST_COLUMNS["annotations"]]


class RowWriter:
    """The fast insert path for many annotations: DBAPI ``executemany`` on SQLite, ``COPY`` on PostgreSQL,
    through the session's own connection (so in its transaction). Rows follow ``ANNOTATION_COLUMNS``;
    ``now`` and ``json`` give values already in the form the driver stores.
    """

    def __init__(self, session: Session) -> None:
        session.flush()
        self._conn = session.connection()
        self.dialect = self._conn.dialect.name
        column = SQLModel.metadata.tables["annotations"].c.created_at
        processor = column.type.dialect_impl(self._conn.dialect).bind_processor(self._conn.dialect)
        stamp = utcnow()
        self.stamp = stamp
        self.now: Any = processor(stamp) if processor is not None and self.dialect == "sqlite" else stamp

    @staticmethod
    def json(value: Any) -> str:
        # Same text the ORM writes for a JSON column (None becomes JSON null).
        return json.dumps(value)

    def write_boxes(
        self,
        boxes: Sequence[tuple[int, str, float, float, float, float, str, str]],
        *,
        version_id: int,
        kind: ProvenanceKind,
        annotator_id: int | None,
        source_format: str,
        created_by: int,
        audit_seq: int,
        parsed: Sequence[Any] | None = None,
    ) -> list[str]:
        """Insert boxes given as ``(item_id, category, x, y, w, h, attributes_json, source_sha256)``.

        The values shared by every row (version, kind, annotator, format, timestamp) are written once per
        statement, not bound once per row: on SQLite they are literals of the INSERT (validated server
        values: integers, the enum, a format name of letters, our own timestamp), so each row binds 8
        parameters instead of 23; on PostgreSQL the COPY lists only the columns that are not NULL.

        Each row is sealed (``lineage.audit.rowdigest``): ``created_by``, its content digest and ``audit_seq``,
        the seq of the event the caller appends for this batch. Returns the rows' digests, in order.
        """
        if not boxes:
            return []
        if not source_format.isalpha():
            raise InvalidInput(f"bad source format {source_format!r}", field="format")
        raw = self._conn.connection.driver_connection
        assert raw is not None
        digests = self._digests(
            boxes, version_id=version_id, kind=kind, annotator_id=annotator_id, fmt=source_format, by=created_by,
            parsed=parsed,
        )  # fmt: skip
        if self.dialect == "postgresql":
            cols = [
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
                "source_sha256",
                "source_format",
                "created_at",
                "created_by",
                "row_digest",
                "audit_seq",
            ]
            extra: tuple[Any, ...] = ()
            if annotator_id is not None:
                cols.append("annotator_id")
                extra = (annotator_id,)
            vid, k, fmt, now, by, seq = version_id, kind.value, source_format, self.now, created_by, audit_seq
            with raw.cursor() as cur, cur.copy(f"COPY annotations ({', '.join(cols)}) FROM STDIN") as copy:
                write_row = copy.write_row
                for (item_id, cat, x, y, w, h, attrs, sha), d in zip(boxes, digests, strict=True):
                    write_row(
                        (vid, item_id, cat, "box", x, y, w, h, "null", attrs, k, sha, fmt, now, by, d, seq, *extra)
                    )
            return digests
        annotator = "NULL" if annotator_id is None else str(int(annotator_id))
        values = (
            f"{int(version_id)}, ?, ?, 'box', ?, ?, ?, ?, 'null', ?, '{kind.value}', {annotator}, NULL, NULL, NULL,"
            f" NULL, NULL, ?, '{source_format}', NULL, NULL, NULL, '{self.now}', {int(created_by)}, ?, {int(audit_seq)}"
        )
        cur = raw.cursor()
        try:
            # A bulk import touches many index pages at random: a 256 MiB page cache keeps them in memory.
            cur.execute("PRAGMA cache_size = -262144")
            cur.executemany(
                f"INSERT INTO annotations ({', '.join(ANNOTATION_COLUMNS)}) VALUES ({values})",
                ((*box, d) for box, d in zip(boxes, digests, strict=True)),
            )
        finally:
            cur.close()
        return digests

    def write_shapes(
        self,
        shapes: Sequence[tuple[int, str, str, float | None, float | None, float | None, float | None, str, str, str]],
        *,
        version_id: int,
        kind: ProvenanceKind,
        annotator_id: int | None,
        source_format: str,
        created_by: int,
        audit_seq: int,
    ) -> list[str]:
        """Insert polygon, mask, keypoints and tag labels given as ``(item_id, category, geometry_type, x, y,
        w, h, geometry_json, attributes_json, source_sha256)`` (``common.ShapeRow``), sealed as
        :meth:`write_boxes` seals boxes; returns the rows' digests, in order. Through SQLAlchemy Core's
        ``executemany`` on the session's connection (these rows are few next to boxes, and heavy already)."""
        if not shapes:
            return []
        if not source_format.isalpha():
            raise InvalidInput(f"bad source format {source_format!r}", field="format")
        table = SQLModel.metadata.tables["annotations"]
        norm = normaliser("annotations")
        rows: list[dict[str, Any]] = []
        digests: list[str] = []
        for item_id, cat, gtype, x, y, w, h, geometry, attrs, sha in shapes:
            row: dict[str, Any] = {
                "dataset_version_id": version_id,
                "item_id": item_id,
                "category": cat,
                "geometry_type": gtype,
                "x": x,
                "y": y,
                "w": w,
                "h": h,
                "geometry": None if geometry == "null" else loads_exact(geometry),
                "attributes": None if attrs == "null" else loads_exact(attrs),
                "kind": kind.value,
                "annotator_id": annotator_id,
                "source_sha256": sha,
                "source_format": source_format,
                "created_at": self.stamp,
                "created_by": created_by,
                "audit_seq": audit_seq,
            }
            digest = digest_values("annotations", [row.get(name) for name in _DIGEST_NAMES], norm)
            row["row_digest"] = digest
            rows.append(row)
            digests.append(digest)
        self._conn.execute(table.insert(), rows)
        return digests

    def _digests(
        self,
        boxes: Sequence[tuple[int, str, float, float, float, float, str, str]],
        *,
        version_id: int,
        kind: ProvenanceKind,
        annotator_id: int | None,
        fmt: str,
        by: int,
        parsed: Sequence[Any] | None = None,
    ) -> list[str]:
        return box_digests(
            boxes,
            version_id=version_id,
            kind=kind.value,
            annotator_id=annotator_id,
            source_format=fmt,
            created_at=self.now,
            created_by=by,
            parsed=parsed,
        )
