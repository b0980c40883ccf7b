"""The audit log table: append-only (database triggers refuse UPDATE, DELETE and TRUNCATE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from lineage.models._base import JSONType, UTCDateTime

__all__ = ["AuditEvent"]


class AuditEvent(SQLModel, table=True):
    """One event of the hash chain.

    ``canonical`` holds the exact bytes that were hashed, so verification never re-serialises:
    ``hash = sha256(DOMAIN || bytes.fromhex(prev_hash) || canonical)`` (see ``lineage.audit.chain``).
    ``seq`` starts at 1 and has no gaps.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    seq: int = Field(sa_column=Column(BigInteger(), primary_key=True, autoincrement=False))
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=100, index=True)
    action: str = Field(max_length=100, index=True)
    object_type: str = Field(max_length=50)
    object_id: str = Field(max_length=100)
    project_id: int | None = Field(default=None, index=True)
    request_id: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    canonical: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
