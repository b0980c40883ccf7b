"""Models on the record: a model version's weights in the workspace's DVC repository (size, git revision),
its library versions and input size, what its training recorded and its card's words; the dataset versions
it was trained and validated on (``model_training_data``); an index on items' content hash (a golden item
in a model's training data is found by its bytes).

Both tables become append-only (triggers) and recorded: each row's digest is recorded by the event that
creates it, and a deep verify names a row edited, inserted without an event, or deleted. Model versions
registered before this revision are recorded once, by a ``record.seal_legacy`` event this migration appends.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 18:10:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import lineage.models._base
from lineage.audit.chain import GENESIS_HASH, canonical_bytes, event_hash
from lineage.audit.rowdigest import row_digest
from lineage.models._base import UTCDateTime, utcnow

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("model_versions", "model_training_data")
ACTOR = "labelgate migrate"
_NEW_COLUMNS = (
    sa.Column("weights_bytes", sa.BigInteger(), nullable=True),
    sa.Column("weights_rev", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column("ultralytics_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column("torch_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column("imgsz", sa.Integer(), nullable=True),
    sa.Column("training", lineage.models._base.JSONType(), nullable=True),
    sa.Column("card", lineage.models._base.JSONType(), nullable=True),
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


def _create() -> None:
    for column in _NEW_COLUMNS:
        op.add_column("model_versions", column)
    op.create_table(
        "model_training_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("manifest_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("dvc_hash", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("created_at", lineage.models._base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('train', 'val')", name="ck_model_training_role"),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"]),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_version_id", "dataset_version_id", "role", name="uq_model_training_data"),
    )
    op.create_index(
        "ix_model_training_data_model_version_id", "model_training_data", ["model_version_id"], unique=False
    )
    op.create_index(
        "ix_model_training_data_dataset_version_id", "model_training_data", ["dataset_version_id"], unique=False
    )
    op.create_index("ix_items_sha256", "items", ["sha256"], unique=False)


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


def _drop_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def _seal_existing() -> None:
    """Append one ``record.seal_legacy`` event recording the digests of the model versions already there.
    ``seq`` is the chain's primary key, so an append racing this one makes the migration fail instead of
    forking the chain."""
    conn = op.get_bind()
    rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM model_versions ORDER BY id"))]
    if not rows:
        return
    records = [{"table": "model_versions", "id": int(r["id"]), "digest": row_digest("model_versions", r)} for r in rows]
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
            "reason": "revision 0008 records model versions (their rows were written before row sealing covered them)",
            "legacy_records": records,
        },
    }
    canonical = canonical_bytes(**fields)
    conn.execute(
        _audit_events.insert().values(**fields, prev_hash=prev, hash=event_hash(prev, canonical), canonical=canonical)
    )


def upgrade() -> None:
    _create()
    _triggers()
    _seal_existing()


def downgrade() -> None:
    conn = op.get_bind()
    # Models registered since this revision keep what only these columns and rows hold (stored weights,
    # training lineage, card): dropping them would lose it.
    recorded = conn.execute(sa.text("SELECT count(*) FROM model_versions WHERE weights_rev IS NOT NULL")).scalar()
    links = conn.execute(sa.text("SELECT count(*) FROM model_training_data")).scalar()
    if recorded or links:
        raise RuntimeError(
            f"{recorded} model version(s) and {links} training-data row(s) were recorded after revision 0008: "
            "downgrading would lose them"
        )
    _drop_triggers()
    op.drop_index("ix_items_sha256", table_name="items")
    op.drop_index("ix_model_training_data_dataset_version_id", table_name="model_training_data")
    op.drop_index("ix_model_training_data_model_version_id", table_name="model_training_data")
    op.drop_table("model_training_data")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 and PostgreSQL): a batch copy of model_versions would
    # drop a table that annotations, runs and calibrations reference.
    for column in reversed(_NEW_COLUMNS):
        op.execute(f"ALTER TABLE model_versions DROP COLUMN {column.name}")
