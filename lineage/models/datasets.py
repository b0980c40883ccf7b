"""Datasets, their versions (DVC-tracked content + label set) and the items in a version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from lineage.models._base import UTCDateTime, utcnow

__all__ = ["Dataset", "DatasetVersion", "Item", "VersionState"]


class VersionState(StrEnum):
    """``draft → candidate → released | rejected``; ``released → deprecated``."""

    draft = "draft"
    candidate = "candidate"
    released = "released"
    rejected = "rejected"
    deprecated = "deprecated"


class Dataset(SQLModel, table=True):
    """A named dataset of a project. A golden dataset (``is_golden``) is hidden from annotators."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_dataset_name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=2000)
    is_golden: bool = Field(default=False)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class DatasetVersion(SQLModel, table=True):
    """Content pinned by git revision + DVC hash, labels pinned by ``manifest_hash``."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="datasets.id", index=True)
    version: str = Field(max_length=64)
    parent_id: int | None = Field(default=None, foreign_key="dataset_versions.id")
    schema_version_id: int | None = Field(default=None, foreign_key="label_schema_versions.id")
    state: VersionState = Field(default=VersionState.draft, sa_type=String(16))
    git_revision: str | None = Field(default=None, max_length=64)
    dvc_hash: str | None = Field(default=None, max_length=80)
    data_path: str | None = Field(default=None, max_length=500)
    item_count: int = Field(default=0, ge=0)
    manifest_hash: str | None = Field(default=None, max_length=64)
    created_by: int = Field(foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Item(SQLModel, table=True):
    """One image (or other asset) of a version: its path in the version's content and its bytes' hash."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("dataset_version_id", "uri", name="uq_item_uri"),
        # Content across versions: a golden item in a model's training data, by the bytes' hash (0008).
        Index("ix_items_sha256", "sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id", index=True)
    uri: str = Field(max_length=1000)
    sha256: str = Field(max_length=64)
    size_bytes: int = Field(ge=0)
    width: int | None = Field(default=None, ge=0)
    height: int | None = Field(default=None, ge=0)
