"""Reading the whole audit log out, however long: the events a filter selects, batch by batch along ``seq``.

:func:`plan_audit_export` authorizes the caller and reads the first batch in the caller's transaction (so a
refusal, a bad filter or a database error is answered before anything is sent); :func:`audit_export_rows`
then yields every event, the later batches read by keyset (``seq > last``, an index seek each) in short
transactions of their own: a door streaming the rows after its request's transaction ended opens them from
the engine. The export is the log as it stood when asked: events appended meanwhile (``seq`` above the head
read then) are left out, so two exports of the same filter and head are identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from lineage.audit.query import AuditFilter, decode_cursor, page_events
from lineage.models import AuditEvent
from service.actions.audit import named_events
from service.actions.context import Context, authorize

__all__ = ["EXPORT_BATCH", "AuditExport", "audit_export_rows", "plan_audit_export"]

#: Events read per transaction: big enough that a million events take a thousand seeks, small enough that
#: a batch (with its display names) stays a few MiB.
EXPORT_BATCH = 1000


@dataclass(frozen=True, slots=True)
class AuditExport:
    """What to export: the filter (the project's scope applied), the head ``seq`` when asked (events above it
    are left out), the first batch already read, and where the next batch starts (``None``: nothing more)."""

    filter: AuditFilter
    head_seq: int
    first: list[dict[str, Any]]
    resume: str | None


def plan_audit_export(
    ctx: Context, f: AuditFilter, *, project_id: int | None = None, batch: int = EXPORT_BATCH
) -> AuditExport:
    """Authorize an export of the events ``f`` selects (the workspace's: admins, under
    ``export_audit_events``; a project's: its audit readers, under ``export_project_audit_events``) and read
    its first ``batch`` events (named as the list route names them, oldest first)."""
    if project_id is None:
        authorize(ctx, "export_audit_events")
    else:
        authorize(ctx, "export_project_audit_events", project_id=project_id)
        f = replace(f, project_id=project_id)
    head = int(ctx.session.exec(select(func.coalesce(func.max(col(AuditEvent.seq)), 0))).one())
    first, resume = _batch(ctx.session, f, head, None, batch)
    return AuditExport(filter=f, head_seq=head, first=first, resume=resume)


def audit_export_rows(engine: Engine, plan: AuditExport, *, batch: int = EXPORT_BATCH) -> Iterator[dict[str, Any]]:
    """Every event of ``plan``, oldest first: its first batch, then the rest, each batch read in its own
    short read-only transaction on ``engine`` (no transaction stays open while a slow client reads)."""
    yield from plan.first
    resume = plan.resume
    while resume is not None:
        with Session(engine) as session:
            rows, resume = _batch(session, plan.filter, plan.head_seq, resume, batch)
            session.rollback()  # nothing was written: end the read transaction before the rows are sent
        yield from rows


def _batch(
    session: Session, f: AuditFilter, head: int, resume: str | None, batch: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One batch after ``resume`` (a page cursor; ``None``: from the first event), up to ``head``, and the
    cursor of the next. A free-text batch may be empty while more follow (its scan window ended it)."""
    after = decode_cursor(resume)[1] if resume is not None else 0  # seqs start at 1
    page = page_events(session, f, order="asc", after_seq=after, before_seq=head + 1, limit=batch)
    return named_events(session, page.events), page.next_cursor
