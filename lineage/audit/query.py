"""Reading the audit log: filtered, paginated queries (the chain itself lives in ``lineage.audit.chain``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.models import AuditEvent

__all__ = ["AuditFilter", "count_events", "list_events"]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every field narrows the result; ``since`` is inclusive, ``until`` exclusive (UTC)."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    project_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(f: AuditFilter) -> list[object]:
    clauses: list[object] = []
    if f.actor is not None:
        clauses.append(AuditEvent.actor == f.actor)
    if f.action is not None:
        # "dataset." matches every dataset action; a full name matches exactly. The prefix is matched
        # literally: "%" and "_" in it are escaped, not LIKE wildcards.
        if f.action.endswith("."):
            clauses.append(col(AuditEvent.action).startswith(f.action, autoescape=True))
        else:
            clauses.append(AuditEvent.action == f.action)
    if f.object_type is not None:
        clauses.append(AuditEvent.object_type == f.object_type)
    if f.object_id is not None:
        clauses.append(AuditEvent.object_id == f.object_id)
    if f.project_id is not None:
        clauses.append(AuditEvent.project_id == f.project_id)
    if f.since is not None:
        clauses.append(col(AuditEvent.ts) >= f.since)
    if f.until is not None:
        clauses.append(col(AuditEvent.ts) < f.until)
    return clauses


def list_events(session: Session, f: AuditFilter, *, offset: int = 0, limit: int = 100) -> list[AuditEvent]:
    """Events matching ``f``, oldest first."""
    stmt = select(AuditEvent).where(*_where(f)).order_by(col(AuditEvent.seq)).offset(offset).limit(limit)  # type: ignore[arg-type]
    return list(session.exec(stmt))


def count_events(session: Session, f: AuditFilter) -> int:
    stmt = select(func.count()).select_from(AuditEvent).where(*_where(f))  # type: ignore[arg-type]
    return int(session.exec(stmt).one())
