"""Label schemas: a named schema per project and its immutable, hashed versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from lineage.models._base import JSONType, UTCDateTime, utcnow

__all__ = ["LabelSchema", "LabelSchemaVersion"]


class LabelSchema(SQLModel, table=True):
    __tablename__ = "label_schemas"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_label_schema_name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    name: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class LabelSchemaVersion(SQLModel, table=True):
    """One published version. ``classes`` is a list of ``{name, description, attributes, geometry[, keypoints]}``;
    ``options`` the schema options that differ from their defaults (``lineage.schema_classes.SchemaOptions``).

    ``content_hash`` is the SHA-256 of the canonical JSON of ``classes`` (and ``options`` when set); ``diff`` is
    the computed difference to ``parent_id`` (added / removed / renamed / redefined classes, changed options).
    """

    __tablename__ = "label_schema_versions"
    __table_args__ = (UniqueConstraint("schema_id", "version", name="uq_label_schema_version"),)

    id: int | None = Field(default=None, primary_key=True)
    schema_id: int = Field(foreign_key="label_schemas.id", index=True)
    version: int = Field(ge=1)
    parent_id: int | None = Field(default=None, foreign_key="label_schema_versions.id")
    classes: list[dict[str, Any]] = Field(sa_type=JSONType)
    # ``{"multi_label": true}``; None: all options at their defaults (and every version before revision 0006).
    options: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    content_hash: str = Field(max_length=64)
    diff: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    git_revision: str | None = Field(default=None, max_length=64)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
