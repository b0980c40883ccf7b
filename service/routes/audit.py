from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from lineage.audit.deep import deep_verify
from lineage.audit.query import AuditFilter, count_events, list_events
from lineage.audit.whole import verify_chain
from lineage.release.check import reverify_release
from service.checkpointing import require_public_key, workspace_public_key
from service.deps import CallerDep, Offset, SessionDep, SettingsDep
from service.routes.datasets import VERSION, visible_version
from service.schemas import AuditEventPublic, AuditVerifyPublic, IsoDateTime, Page, ReleaseVerifyPublic, RowId

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
    project_id: RowId, session: SessionDep, f: FilterDep, offset: Offset = 0, limit: Limit = 100
) -> dict[str, object]:
    return _page(session, replace(f, project_id=project_id), offset, limit)


@router.get("/audit/verify", name="verify_audit_chain", response_model=AuditVerifyPublic)
def verify_audit_chain(
    session: SessionDep,
    settings: SettingsDep,
    deep: bool = Query(False, description="also check every append-only domain row against its recorded digest"),
) -> AuditVerifyPublic:
    """The whole chain, every readable column included, against every signed checkpoint found (workspace
    git, release bundles); with ``deep``, every annotation, review, approval, evaluation, release,
    membership, token and version pin against the digest its audit event recorded."""
    repo = settings.repo_dir if (settings.repo_dir / ".git").exists() else None
    report = verify_chain(session, public_key=workspace_public_key(settings), repo_dir=repo)
    rows = deep_verify(session) if deep else None
    r = report.result
    latest = report.latest_witness
    return AuditVerifyPublic(
        ok=report.ok,
        events=r.events,
        head_seq=r.head.seq if r.head else None,
        head_hash=r.head.hash if r.head else None,
        broken_seq=r.broken_seq,
        kind=r.kind,
        reason=r.reason or "; ".join(report.problems),
        checkpoints=len(report.witnesses),
        latest_checkpoint_seq=latest.seq if latest else None,
        problems=report.problems,
        deep=rows is not None,
        rows_checked=rows.rows if rows else {},
        row_problems=[p.line() for p in rows.problems] if rows else [],
    ).model_copy(update={"ok": report.ok and (rows is None or rows.ok)})


@router.get(VERSION + "/release/verify", name="verify_release", response_model=ReleaseVerifyPublic)
def verify_release(
    project_id: RowId,
    dataset: str,
    version: str,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    content: bool = Query(True, description="re-hash every item's bytes from DVC"),
) -> ReleaseVerifyPublic:
    """Re-derive the version's release from the live record (manifest from its live labels, DVC content,
    approvals, the evaluation it rests on, the audit head) and compare it with the signed bundle; every
    difference is named. 404 when the version has no release."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    check = reverify_release(
        session, version=v, repo_dir=settings.repo_dir, public_key=require_public_key(settings), content=content
    )
    return ReleaseVerifyPublic(version=check.version, ok=check.ok, checked=check.checked, differences=check.differences)
