"""Audit events by object: an index on ``(object_type, object_id)``, so the audit trail's object filter (a type,
an id, or a display name resolved to ids) reads the matching events from the index instead of scanning the log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain CREATE INDEX (no table copy): the table's append-only triggers stay as they are.
    op.create_index("ix_audit_events_object", "audit_events", ["object_type", "object_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_object", table_name="audit_events")
