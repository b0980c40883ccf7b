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
    "SignablePublic",
    "SigningEnrolmentCreate",
    "SigningEnrolmentIssued",
    "SigningSecretSet",
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
    """A token minted with a token may not outlive it: from an expiring token, ``expires_in_days`` is
    required and at most the minting token's remaining lifetime."""

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
    parent_id: int | None = Field(description="the token that minted this one; null when an operator issued it")


class TokenIssued(TokenPublic):
    token: str = Field(description="The bearer token. Shown once; only its hash is stored.")


class SigningSecretSet(InputModel):
    """A first secret needs ``enrolment_code`` (from an admin); a change needs ``current``. Secrets travel
    only in this body, never in the URL."""

    secret: str = Field(min_length=8, max_length=200, description="the new signing secret (8–200 characters)")
    current: str | None = Field(default=None, min_length=1, max_length=200, description="the current secret")
    enrolment_code: str | None = Field(
        default=None, min_length=1, max_length=200, description="the one-time code an admin issued"
    )


class SigningEnrolmentCreate(InputModel):
    valid_for_hours: float = Field(default=24, gt=0, le=24 * 14, description="validity of the code (24 h)")


class SigningEnrolmentIssued(OutputModel):
    user_id: int
    expires_at: datetime
    enrolment_code: str = Field(description="Shown once; only its scrypt hash is stored. Deliver it in person.")


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
    # Signed checkpoints (workspace git, release bundles) the chain was compared with.
    checkpoints: int = 0
    latest_checkpoint_seq: int | None = None
    problems: list[str] = []
    # With ``deep``: rows checked per table, and each row problem named.
    deep: bool = False
    rows_checked: dict[str, int] = {}
    row_problems: list[str] = []


class ReleaseVerifyPublic(OutputModel):
    """A release compared with the live record: every bundle field that the record contradicts."""

    version: str
    ok: bool
    checked: list[str]
    differences: list[str]


class SignablePublic(OutputModel):
    """Whether the caller may sign a dataset version now, and if not, why (the reason the signature would
    be refused with). ``meanings``: the same answer for each signature meaning (``null``: may sign)."""

    meaning: str
    can_sign: bool
    reason: str | None
    meanings: dict[str, str | None]
