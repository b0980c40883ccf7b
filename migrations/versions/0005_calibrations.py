"""Calibrations and run thresholds in their own append-only tables, moved out of the audit events that
held them (``calibration.record``, ``autolabel_run.thresholds``)

Each moved row takes the seq of the event it came from as its id and its ``audit_seq`` (so the
``calibration_id`` earlier events and users cite stays valid), and is read from that event's hashed bytes.
The events stay as they are; one ``record.seal_legacy`` event, appended by this migration, records the
moved rows' digests so that a deep verify proves them from now on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import lineage.models._base
from lineage.audit.chain import GENESIS_HASH, canonical_bytes, event_hash
from lineage.audit.rowdigest import row_digest
from lineage.models._base import UTCDateTime, utcnow

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("calibrations", "run_thresholds")
CALIBRATION_ACTION = "calibration.record"
THRESHOLDS_ACTION = "autolabel_run.thresholds"
ACTOR = "labelgate migrate"

_calibrations = sa.table(
    "calibrations",
    *(
        sa.column(name, kind)
        for name, kind in (
            ("id", sa.Integer()),
            ("project_id", sa.Integer()),
            ("model_version_id", sa.Integer()),
            ("weights_sha256", sa.String()),
            ("dataset_version_id", sa.Integer()),
            ("golden_manifest_hash", sa.String()),
            ("iou", sa.Float()),
            ("target_error", sa.Float()),
            ("level", sa.Float()),
            ("band", sa.Float()),
            ("golden_items", sa.Integer()),
            ("golden_boxes", sa.Integer()),
            ("predictions", sa.Integer()),
            ("ignored_golden_classes", sa.JSON()),
            ("classes", sa.JSON()),
            ("thresholds", sa.JSON()),
            ("coverage", sa.JSON()),
            ("created_by", sa.Integer()),
            ("created_at", UTCDateTime()),
            ("audit_seq", sa.BigInteger()),
        )
    ),
)
_run_thresholds = sa.table(
    "run_thresholds",
    sa.column("id", sa.Integer()),
    sa.column("autolabel_run_id", sa.Integer()),
    sa.column("per_class", sa.JSON()),
    sa.column("calibration_id", sa.Integer()),
    sa.column("strategy", sa.String()),
    sa.column("created_by", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("audit_seq", sa.BigInteger()),
)
_audit_events = sa.table(
    "audit_events",
    sa.column("seq", sa.BigInteger()),
    sa.column("ts", UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.String()),
    sa.column("project_id", sa.Integer()),
    sa.column("request_id", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("canonical", sa.LargeBinary()),
)


def _create_tables() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("weights_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("golden_manifest_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("iou", sa.Float(), nullable=False),
        sa.Column("target_error", sa.Float(), nullable=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("band", sa.Float(), nullable=False),
        sa.Column("golden_items", sa.Integer(), nullable=False),
        sa.Column("golden_boxes", sa.Integer(), nullable=False),
        sa.Column("predictions", sa.Integer(), nullable=False),
        sa.Column("ignored_golden_classes", sa.JSON(), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("coverage", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", lineage.models._base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"]),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_calibrations_model_version_id"), "calibrations", ["model_version_id"], unique=False)
    op.create_index(op.f("ix_calibrations_project_id"), "calibrations", ["project_id"], unique=False)
    op.create_table(
        "run_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("autolabel_run_id", sa.Integer(), nullable=False),
        sa.Column("per_class", sa.JSON(), nullable=False),
        sa.Column("calibration_id", sa.Integer(), nullable=True),
        sa.Column("strategy", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", lineage.models._base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("(calibration_id IS NULL) = (strategy IS NULL)", name="ck_run_thresholds_source"),
        sa.ForeignKeyConstraint(["autolabel_run_id"], ["autolabel_runs.id"]),
        sa.ForeignKeyConstraint(["calibration_id"], ["calibrations.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_run_thresholds_autolabel_run_id"), "run_thresholds", ["autolabel_run_id"], unique=False)


def _triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION labelgate_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION labelgate_append_only()"
            )
        return
    for table in TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'labelgate: {verb} on {table} refused: the table is append-only'); END"
            )


def _events(conn: sa.Connection, action: str) -> list[dict[str, Any]]:
    """The events of ``action`` as they were hashed (their canonical bytes), oldest first."""
    rows = conn.execute(
        sa.text("SELECT canonical FROM audit_events WHERE action = :a ORDER BY seq"), {"a": action}
    ).scalars()
    return [json.loads(bytes(raw)) for raw in rows]


def _golden_versions(conn: sa.Connection) -> dict[tuple[int, str], int]:
    """``(project id, "DATASET@VERSION") → dataset version id``: how a calibration event named its golden set."""
    rows = conn.execute(
        sa.text(
            "SELECT d.project_id, d.name, v.version, v.id FROM dataset_versions v"
            " JOIN datasets d ON d.id = v.dataset_id"
        )
    )
    return {(int(pid), f"{name}@{version}"): int(vid) for pid, name, version, vid in rows}


def _calibration_row(event: dict[str, Any], golden: int, user: int | None) -> dict[str, Any]:
    payload, report = event["payload"], event["payload"]["report"]
    return {
        "id": event["seq"],
        "project_id": event["project_id"],
        "model_version_id": int(event["object_id"]),
        "weights_sha256": payload["weights_sha256"],
        "dataset_version_id": golden,
        "golden_manifest_hash": payload["golden_manifest_hash"],
        "iou": float(report["iou"]),
        "target_error": float(report["target_error"]),
        "level": float(report["level"]),
        "band": float(report["band"]),
        "golden_items": int(payload["golden_items"]),
        "golden_boxes": int(payload["golden_boxes"]),
        "predictions": int(payload["predictions"]),
        "ignored_golden_classes": payload["ignored_golden_classes"],
        "classes": report["classes"],
        "thresholds": report["thresholds"],
        "coverage": report["coverage"],
        "created_by": user,
        "created_at": datetime.fromisoformat(event["ts"]),
        "audit_seq": event["seq"],
    }


def _thresholds_row(event: dict[str, Any], calibrations: set[int], user: int | None) -> dict[str, Any]:
    evidence = event["payload"].get("evidence") or {}
    cited = evidence.get("calibration_id")
    calibrated = cited in calibrations and evidence.get("strategy") is not None
    return {
        "id": event["seq"],
        "autolabel_run_id": int(event["object_id"]),
        "per_class": event["payload"]["per_class"],
        "calibration_id": cited if calibrated else None,
        "strategy": evidence["strategy"] if calibrated else None,
        "created_by": user,
        "created_at": datetime.fromisoformat(event["ts"]),
        "audit_seq": event["seq"],
    }


def _seal(conn: sa.Connection, records: list[dict[str, Any]]) -> None:
    """Append one ``record.seal_legacy`` event recording the moved rows' digests. ``seq`` is the chain's
    primary key, so an append racing this one makes the migration fail instead of forking the chain."""
    head = conn.execute(sa.text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).first()
    seq, prev = (1, GENESIS_HASH) if head is None else (int(head[0]) + 1, str(head[1]))
    fields: dict[str, Any] = {
        "seq": seq,
        "ts": utcnow(),
        "actor": ACTOR,
        "action": "record.seal_legacy",
        "object_type": "workspace",
        "object_id": "record",
        "project_id": None,
        "request_id": None,
        "payload": {
            "reason": "revision 0005 moved calibrations and run thresholds out of the events that held them "
            "(each row's id is the seq of its event)",
            "legacy_records": records,
        },
    }
    canonical = canonical_bytes(**fields)
    conn.execute(
        _audit_events.insert().values(**fields, prev_hash=prev, hash=event_hash(prev, canonical), canonical=canonical)
    )


def _move_events() -> None:
    conn = op.get_bind()
    users = {str(name): int(uid) for uid, name in conn.execute(sa.text("SELECT id, username FROM users"))}
    golden = _golden_versions(conn)
    calibrations = []
    for event in _events(conn, CALIBRATION_ACTION):
        key = (int(event["project_id"]), str(event["payload"]["golden"]))
        if key not in golden:
            raise RuntimeError(f"calibration event {event['seq']}: no dataset version {key[1]} in project {key[0]}")
        calibrations.append(_calibration_row(event, golden[key], users.get(event["actor"])))
    moved = {int(row["id"]) for row in calibrations}
    thresholds = [_thresholds_row(e, moved, users.get(e["actor"])) for e in _events(conn, THRESHOLDS_ACTION)]
    for table, rows in ((_calibrations, calibrations), (_run_thresholds, thresholds)):
        if rows:
            conn.execute(table.insert(), rows)
            if conn.dialect.name == "postgresql":  # ids were given: move the sequence past them
                sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
                conn.execute(sa.text(f"SELECT setval({sequence}, (SELECT max(id) FROM {table.name}))"))
    records = [
        {"table": table, "id": int(row["id"]), "digest": row_digest(table, row)}
        for table, rows in (("calibrations", calibrations), ("run_thresholds", thresholds))
        for row in rows
    ]
    if records:
        _seal(conn, records)


def upgrade() -> None:
    _create_tables()
    _triggers()
    _move_events()


def downgrade() -> None:
    conn = op.get_bind()
    payload = "CAST(e.payload AS TEXT)" if conn.dialect.name == "postgresql" else "e.payload"
    for table in TABLES:
        # Rows recorded since this revision exist only here (their events hold digests, not the data).
        recorded = conn.execute(
            sa.text(
                f"SELECT count(*) FROM {table} t JOIN audit_events e ON e.seq = t.audit_seq"
                f" WHERE {payload} LIKE '%\"records\":%'"
            )
        ).scalar()
        if recorded:
            raise RuntimeError(
                f"{recorded} row(s) of {table} were recorded after revision 0005: downgrading would lose them"
            )
    if conn.dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.drop_index(op.f("ix_run_thresholds_autolabel_run_id"), table_name="run_thresholds")
    op.drop_table("run_thresholds")
    op.drop_index(op.f("ix_calibrations_project_id"), table_name="calibrations")
    op.drop_index(op.f("ix_calibrations_model_version_id"), table_name="calibrations")
    op.drop_table("calibrations")
