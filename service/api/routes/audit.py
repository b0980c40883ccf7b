"""Audit routes: the event log (the workspace's, a project's), the chain verified (shallow or deep), and a
release re-verified against the live record; each calls its verb of ``service.actions.audit``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from lineage.audit.query import AuditFilter
from service import actions
from service.actions.context import Context
from service.api.deps import ContextDep, Offset
from service.api.routes.datasets import VERSION
from service.api.schemas.audit import AuditEventPage
from service.api.schemas.common import (
    INT64_MAX,
    AuditVerifyPublic,
    IsoDateTime,
    ProjectRef,
    ReleaseVerifyPublic,
)

router = APIRouter(tags=["audit"])


def audit_filter(
    actor: str | None = Query(None, max_length=200, description="the username, or part of it (case-insensitive)"),
    action: str | None = Query(
        None,
        max_length=1000,
        description="part of the action, case-insensitive (`gate` and `evaluate` find `gate.evaluate`, "
        "`dataset.` every dataset action), or a comma-separated list of exact actions "
        "(`gate.evaluate,release.create`); `%` and `_` match themselves",
    ),
    object: str | None = Query(
        None,
        max_length=200,
        description="an object type (`dataset_version`), an id, `type:id`, or a display name (`street@v2`; "
        "`street` also finds its versions; part of a name matches when no name equals it)",
    ),
    object_type: str | None = Query(None, max_length=50, description="exact object type"),
    object_id: str | None = Query(None, max_length=100, description="exact object id"),
    q: str | None = Query(
        None,
        max_length=200,
        description="free text, case-insensitive, found in the action, the actor, the object's name or the "
        "payload's text; `%` and `_` match themselves. No index serves it: a page reads at most 200,000 events "
        "and may come short (even empty) with a `next_cursor` to go on from",
    ),
    since: IsoDateTime | None = Query(None, description="inclusive, ISO 8601 with a zone"),
    until: IsoDateTime | None = Query(None, description="exclusive, ISO 8601 with a zone"),
) -> AuditFilter:
    def text(value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    return AuditFilter(
        actor=text(actor),
        action=text(action),
        object_type=text(object_type),
        object_id=text(object_id),
        object=text(object),
        q=text(q),
        since=since,
        until=until,
    )


@dataclass(frozen=True, slots=True)
class Paging:
    """Where a page starts: keyset (``cursor``, ``after_seq``, ``before_seq``) or ``offset``, and its order."""

    offset: int
    limit: int
    order: Literal["asc", "desc"]
    cursor: str | None
    after_seq: int | None
    before_seq: int | None
    with_total: bool | None


def paging(
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="page size, at most 500")] = 100,
    order: Annotated[
        Literal["asc", "desc"], Query(description="`asc`: oldest first (the default); `desc`: newest first")
    ] = "asc",
    cursor: Annotated[
        str | None,
        Query(max_length=40, description="a page's `next_cursor` or `prev_cursor`, passed back as it came"),
    ] = None,
    after_seq: Annotated[int | None, Query(ge=0, le=INT64_MAX, description="only events with a larger seq")] = None,
    before_seq: Annotated[int | None, Query(ge=0, le=INT64_MAX, description="only events with a smaller seq")] = None,
    with_total: Annotated[
        bool | None,
        Query(
            description="count the matching events (`total`): by default only on offset pages; a filtered "
            "count reads every matching event, so keyset clients ask for it once, not on every page"
        ),
    ] = None,
) -> Paging:
    return Paging(offset, limit, order, cursor, after_seq, before_seq, with_total)


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]
PagingDep = Annotated[Paging, Depends(paging)]


def _page(ctx: Context, f: AuditFilter, p: Paging, project_id: int | None = None) -> dict[str, Any]:
    return actions.audit_events(
        ctx,
        f,
        project_id=project_id,
        offset=p.offset,
        limit=p.limit,
        order=p.order,
        cursor=p.cursor,
        after_seq=p.after_seq,
        before_seq=p.before_seq,
        with_total=p.with_total,
    )


@router.get("/audit/events", name="list_audit_events", response_model=AuditEventPage)
def list_audit_events(ctx: ContextDep, f: FilterDep, p: PagingDep) -> dict[str, Any]:
    """The workspace's events (admins), filtered; keyset pages by ``cursor`` (``next_cursor``/``prev_cursor``
    of the page before), or by ``offset`` as before. Each event carries its object's and project's names."""
    return _page(ctx, f, p)


@router.get(
    "/projects/{project_id}/audit/events",
    name="list_project_audit_events",
    response_model=AuditEventPage,
)
def list_project_audit_events(project_id: ProjectRef, ctx: ContextDep, f: FilterDep, p: PagingDep) -> dict[str, Any]:
    """One project's events, filtered and paged as ``/audit/events``."""
    return _page(ctx, f, p, project_id)


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
    project_id: ProjectRef,
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
