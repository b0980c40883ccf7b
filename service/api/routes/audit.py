"""Audit routes: the event log (the workspace's, a project's), the chain verified (shallow or deep), and a
release re-verified against the live record; each calls its verb of ``service.actions.audit``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from lineage.audit.query import AuditFilter
from service import actions
from service.api.deps import ContextDep, Offset
from service.api.routes.datasets import VERSION
from service.api.schemas.common import (
    AuditEventPublic,
    AuditVerifyPublic,
    IsoDateTime,
    Page,
    ReleaseVerifyPublic,
    RowId,
)

router = APIRouter(tags=["audit"])


def audit_filter(
    actor: str | None = None,
    action: str | None = Query(None, description="exact action, or a prefix ending with '.'"),
    object_type: str | None = None,
    object_id: str | None = None,
    since: IsoDateTime | None = Query(None, description="inclusive, ISO 8601 with a zone"),
    until: IsoDateTime | None = Query(None, description="exclusive, ISO 8601 with a zone"),
) -> AuditFilter:
    return AuditFilter(
        actor=actor, action=action, object_type=object_type, object_id=object_id, since=since, until=until
    )


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size, at most 500")]


@router.get("/audit/events", name="list_audit_events", response_model=Page[AuditEventPublic])
def list_audit_events(ctx: ContextDep, f: FilterDep, offset: Offset = 0, limit: Limit = 100) -> dict[str, Any]:
    return actions.audit_events(ctx, f, offset=offset, limit=limit)


@router.get(
    "/projects/{project_id}/audit/events",
    name="list_project_audit_events",
    response_model=Page[AuditEventPublic],
)
def list_project_audit_events(
    project_id: RowId, ctx: ContextDep, f: FilterDep, offset: Offset = 0, limit: Limit = 100
) -> dict[str, Any]:
    return actions.audit_events(ctx, f, project_id=project_id, offset=offset, limit=limit)


@router.get("/audit/verify", name="verify_audit_chain", response_model=AuditVerifyPublic)
def verify_audit_chain(
    ctx: ContextDep,
    deep: bool = Query(False, description="also check every append-only domain row against its recorded digest"),
) -> AuditVerifyPublic:
    """The whole chain, every readable column included, against every signed checkpoint found (workspace
    git, release bundles); with ``deep``, every annotation, review, approval, evaluation, release,
    membership, token and version pin against the digest its audit event recorded."""
    return AuditVerifyPublic.model_validate(actions.verify_audit(ctx, deep=deep))


@router.get(VERSION + "/release/verify", name="verify_release", response_model=ReleaseVerifyPublic)
def verify_release(
    project_id: RowId,
    dataset: str,
    version: str,
    ctx: ContextDep,
    content: bool = Query(True, description="re-hash every item's bytes from DVC"),
) -> ReleaseVerifyPublic:
    """Re-derive the version's release from the live record (manifest from its live labels, DVC content,
    approvals, the evaluation it rests on, the audit head) and compare it with the signed bundle; every
    difference is named. 404 when the version has no release."""
    check = actions.verify_release(ctx, project_id, dataset, version, content=content)
    return ReleaseVerifyPublic.model_validate(check)
