"""Schema options: a nullable ``options`` JSON column on label schema versions (``{"multi_label": true}``);
versions published before it keep NULL, which means every option at its default

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy), so the table's append-only triggers stay as they are.
    op.add_column("label_schema_versions", sa.Column("options", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("label_schema_versions", "options")
