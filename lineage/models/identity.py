"""Users, API tokens, projects and per-project role memberships."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from lineage.models._base import UTCDateTime, utcnow

__all__ = ["ApiToken", "Membership", "Project", "Role", "User"]


class Role(StrEnum):
    """What a person (or a CI job) may do. ``admin`` is global; the others are granted per project."""

    admin = "admin"
    ml_engineer = "ml_engineer"
    annotator = "annotator"
    reviewer = "reviewer"
    compliance_officer = "compliance_officer"
    ci = "ci"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    is_admin: bool = Field(default=False)
    is_active: bool = Field(default=True)
    # Second factor for electronic signatures (scrypt hash); never the token.
    signing_secret_hash: str | None = Field(default=None, max_length=300)
    # A one-time enrolment code (hashed) issued by an admin: the only way to set a first signing secret.
    signing_enrolment_hash: str | None = Field(default=None, max_length=300)
    signing_enrolment_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ApiToken(SQLModel, table=True):
    """A bearer token. Only its SHA-256 is stored; ``prefix`` lets a person tell tokens apart."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # The token that minted this one (None: issued by an operator or admin). Revoking a parent revokes it.
    parent_id: int | None = Field(default=None, foreign_key="api_tokens.id")


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    description: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    created_by: int = Field(foreign_key="users.id")


class Membership(SQLModel, table=True):
    """A role granted to a user in one project; a user may hold several roles in a project."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "project_id", "role", name="uq_membership"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    role: Role = Field(sa_type=String(32))
    granted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
