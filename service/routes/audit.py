from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from lineage.audit_query import AuditFilter, count_events, list_events
from lineage.audit_verify import verify_database
from service.deps import SessionDep
from service.schemas import AuditEventPublic, AuditVerifyPublic, Page

router = APIRouter(tags=["audit"])


def audit_filter(
    actor: str | None = None,
    action: str | None = Query(None, description="exact action, or a prefix ending with '.'"),
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = Query(None, description="inclusive, ISO 8601 with a zone"),
    until: datetime | None = Query(None, description="exclusive, ISO 8601 with a zone"),
) -> AuditFilter:
    return AuditFilter(
        actor=actor, action=action, object_type=object_type, object_id=object_id, since=since, until=until
    )


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size, at most 500")]


def _page(session: SessionDep, f: AuditFilter, offset: int, limit: int) -> dict[str, object]:
    return {
        "items": list_events(session, f, offset=offset, limit=limit),
        "total": count_events(session, f),
        "offset": offset,
        "limit": limit,
    }


@router.get("/audit/events", name="list_audit_events", response_model=Page[AuditEventPublic])
def list_audit_events(session: SessionDep, f: FilterDep, offset: Offset = 0, limit: Limit = 100) -> dict[str, object]:
    return _page(session, f, offset, limit)


@router.get(
    "/projects/{project_id}/audit/events",
    name="list_project_audit_events",
    response_model=Page[AuditEventPublic],
)
def list_project_audit_events(
    project_id: int, session: SessionDep, f: FilterDep, offset: Offset = 0, limit: Limit = 100
) -> dict[str, object]:
    return _page(session, replace(f, project_id=project_id), offset, limit)


@router.get("/audit/verify", name="verify_audit_chain", response_model=AuditVerifyPublic)
def verify_audit_chain(session: SessionDep) -> AuditVerifyPublic:
    r = verify_database(session)
    return AuditVerifyPublic(
        ok=r.ok,
        events=r.events,
        head_seq=r.head.seq if r.head else None,
        head_hash=r.head.hash if r.head else None,
        broken_seq=r.broken_seq,
        kind=r.kind,
        reason=r.reason,
    )
