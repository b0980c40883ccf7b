"""Request and response bodies. Inputs forbid unknown fields; server-owned fields are never inputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from lineage.models import Role

__all__ = [
    "AuditEventPublic",
    "AuditVerifyPublic",
    "MemberCreate",
    "MemberPublic",
    "MembershipPublic",
    "Page",
    "ProjectCreate",
    "ProjectPublic",
    "TokenCreate",
    "TokenIssued",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
]

T = TypeVar("T")


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(OutputModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class UserCreate(InputModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    is_admin: bool = False


class UserPublic(OutputModel):
    id: int
    username: str
    full_name: str
    email: str | None
    is_admin: bool
    is_active: bool
    created_at: datetime


class TokenCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class TokenPublic(OutputModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenPublic):
    token: str = Field(description="The bearer token. Shown once; only its hash is stored.")


class ProjectCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z0-9_.-]+$")
    description: str = Field(default="", max_length=2000)


class ProjectPublic(OutputModel):
    id: int
    name: str
    description: str
    created_at: datetime


class MemberCreate(InputModel):
    username: str = Field(min_length=2, max_length=64)
    role: Role


class MemberPublic(OutputModel):
    user_id: int
    username: str
    role: Role


class MembershipPublic(OutputModel):
    project_id: int
    project_name: str
    role: Role


class AuditEventPublic(OutputModel):
    seq: int
    ts: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    project_id: int | None
    request_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerifyPublic(OutputModel):
    ok: bool
    events: int
    head_seq: int | None
    head_hash: str | None
    broken_seq: int | None
    kind: str | None
    reason: str
