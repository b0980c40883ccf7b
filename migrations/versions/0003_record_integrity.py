"""Record integrity: row digests and authorship of annotations, token lineage, signing enrolment,
versioned golden sets bound to evaluations, append-only triggers on every append-only table

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import lineage.models._base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose rows are never updated nor deleted (0001 covered audit_events, annotations, approvals).
NEW_APPEND_ONLY = ("gate_evaluations", "releases", "reviews", "memberships")
# api_tokens: only revoked_at and last_used_at may change, and rows are never deleted.
TOKEN_FROZEN = ("user_id", "name", "prefix", "token_hash", "created_at", "expires_at", "parent_id")


def _triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION labelgate_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION labelgate_append_only()"
            )
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in TOKEN_FROZEN)
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION labelgate_token_frozen() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR {changed} THEN
                    RAISE EXCEPTION 'labelgate: % on api_tokens refused: only revocation and last use may change',
                        TG_OP USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER api_tokens_frozen BEFORE UPDATE OR DELETE ON api_tokens "
            "FOR EACH ROW EXECUTE FUNCTION labelgate_token_frozen()"
        )
        op.execute(
            "CREATE TRIGGER api_tokens_no_truncate BEFORE TRUNCATE ON api_tokens "
            "FOR EACH STATEMENT EXECUTE FUNCTION labelgate_append_only()"
        )
        return
    for table in NEW_APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'labelgate: {verb} on {table} refused: the table is append-only'); END"
            )
    op.execute(
        f"CREATE TRIGGER api_tokens_frozen BEFORE UPDATE OF {', '.join(TOKEN_FROZEN)} ON api_tokens "
        "BEGIN SELECT RAISE(ABORT, 'labelgate: UPDATE on api_tokens refused: only revocation and last use may change');"
        " END"
    )
    op.execute(
        "CREATE TRIGGER api_tokens_no_delete BEFORE DELETE ON api_tokens "
        "BEGIN SELECT RAISE(ABORT, 'labelgate: DELETE on api_tokens refused: revoke the token instead'); END"
    )


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS api_tokens_frozen ON api_tokens")
        op.execute("DROP TRIGGER IF EXISTS api_tokens_no_truncate ON api_tokens")
        op.execute("DROP FUNCTION IF EXISTS labelgate_token_frozen()")
        return
    for table in NEW_APPEND_ONLY:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.execute("DROP TRIGGER IF EXISTS api_tokens_frozen")
    op.execute("DROP TRIGGER IF EXISTS api_tokens_no_delete")


def _add_fk_column(table: str, column: str, target: str) -> None:
    """A nullable integer column referencing ``target``; on SQLite a plain ADD COLUMN ... REFERENCES, so the
    table is not rebuilt (a rebuild would drop its append-only triggers)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES {target.replace('.', '(')})")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), sa.ForeignKey(target), nullable=True))


def upgrade() -> None:
    _add_fk_column("annotations", "created_by", "users.id")
    op.add_column("annotations", sa.Column("row_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column("annotations", sa.Column("audit_seq", sa.BigInteger(), nullable=True))
    op.create_index("ix_annotations_audit_seq", "annotations", ["audit_seq"], unique=False)

    _add_fk_column("api_tokens", "parent_id", "api_tokens.id")
    op.add_column(
        "users", sa.Column("signing_enrolment_hash", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True)
    )
    op.add_column(
        "users",
        sa.Column("signing_enrolment_expires_at", lineage.models._base.UTCDateTime(timezone=True), nullable=True),
    )
    _add_fk_column("gate_evaluations", "golden_set_id", "golden_sets.id")
    # golden_sets has no triggers, so SQLite may rebuild it to swap the unique constraint.
    with op.batch_alter_table("golden_sets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_constraint("uq_golden_set_name", type_="unique")
        batch_op.create_unique_constraint("uq_golden_set_version", ["project_id", "name", "version"])
    with op.batch_alter_table("golden_sets", schema=None) as batch_op:
        batch_op.alter_column("version", server_default=None)
    _triggers()


def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table("golden_sets", schema=None) as batch_op:
        batch_op.drop_constraint("uq_golden_set_version", type_="unique")
        batch_op.create_unique_constraint("uq_golden_set_name", ["project_id", "name"])
        batch_op.drop_column("version")
    with op.batch_alter_table("gate_evaluations", schema=None) as batch_op:
        batch_op.drop_column("golden_set_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("signing_enrolment_expires_at")
        batch_op.drop_column("signing_enrolment_hash")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("parent_id")
    op.drop_index("ix_annotations_audit_seq", table_name="annotations")
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_column("audit_seq")
        batch_op.drop_column("row_digest")
        batch_op.drop_column("created_by")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite rebuilt the table above, dropping the append-only triggers of revision 0001: restore them.
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS annotations_no_{verb.lower()} BEFORE {verb} ON annotations "
                f"BEGIN SELECT RAISE(ABORT, 'labelgate: {verb} on annotations refused: the table is append-only'); END"
            )
