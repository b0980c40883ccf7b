"""Audit trail exports that stream: every event a filter selects (the workspace's, a project's) as JSON Lines
or CSV, however many, without an HTTP timeout or the whole log in memory.

The route authorizes and reads the first batch in the request's transaction, so a refusal is an ordinary
error answer and the first bytes leave at once; the rest is read batch by batch (``seq`` keyset) in
transactions of the stream's own, on the app's engine: the request's session is committed and closed before
the body is sent. Each JSON line is the event exactly as ``list_audit_events`` answers it (keys sorted), so
an export equals the list walked page by page; the CSV has the dashboard's columns, payload as compact JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from service.actions.audit_export import AuditExport, audit_export_rows, plan_audit_export
from service.api.deps import ContextDep
from service.api.routes.audit import FilterDep
from service.api.schemas.common import AuditEventPublic, ProjectRef

__all__ = ["EVENT_COLUMNS", "router"]

router = APIRouter(tags=["audit"])

ExportKind = Literal["jsonl", "csv"]
#: The CSV's columns (as the dashboard's own export writes them).
EVENT_COLUMNS: tuple[str, ...] = (
    "seq",
    "ts",
    "actor",
    "action",
    "object_type",
    "object_id",
    "project_id",
    "request_id",
    "payload",
    "prev_hash",
    "hash",
)
_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/x-ndjson": {}, "text/csv": {}},
        "description": "every matching event, oldest first: one JSON object a line, or CSV with a header row",
    }
}
FormatQuery = Annotated[
    ExportKind, Query(alias="format", description="`jsonl` (each event as the list answers it) or `csv`")
]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = AuditEventPublic.model_validate(row).model_dump(mode="json")
    return out


def jsonl_chunks(rows: Iterable[dict[str, Any]], *, per_chunk: int = 1000) -> Iterator[bytes]:
    """Events as JSON Lines (keys sorted, UTF-8), ``per_chunk`` lines a chunk."""
    lines: list[str] = []
    for row in rows:
        lines.append(json.dumps(_public(row), sort_keys=True, ensure_ascii=False) + "\n")
        if len(lines) >= per_chunk:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


def csv_chunks(rows: Iterable[dict[str, Any]], *, per_chunk: int = 1000) -> Iterator[bytes]:
    """Events as UTF-8 CSV: a header of :data:`EVENT_COLUMNS`, then a row each (payload as compact, key-sorted
    JSON; an absent value empty), ``per_chunk`` rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    for n, row in enumerate(rows, start=1):
        event = _public(row)
        event["payload"] = json.dumps(event["payload"] or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        writer.writerow(["" if event.get(c) is None else event[c] for c in EVENT_COLUMNS])
        if n % per_chunk == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _stream(request: Request, plan: AuditExport, kind: ExportKind, filename: str) -> StreamingResponse:
    rows = audit_export_rows(request.app.state.engine, plan)
    body = jsonl_chunks(rows) if kind == "jsonl" else csv_chunks(rows)
    headers = {"Content-Disposition": f'attachment; filename="{filename}.{kind}"', "Cache-Control": "no-store"}
    return StreamingResponse(body, media_type=_MEDIA[kind], headers=headers)


@router.get("/audit/events/export", name="export_audit_events", response_class=StreamingResponse, responses=_RESPONSES)
def export_audit_events(request: Request, ctx: ContextDep, f: FilterDep, kind: FormatQuery = "jsonl") -> Any:
    """Every workspace event the filters select (admins), oldest first, streamed as JSON Lines or CSV: the
    log as it stood when asked, read in batches by ``seq`` so a million events need no page walk."""
    plan = plan_audit_export(ctx, f)
    return _stream(request, plan, kind, "audit-events")


@router.get(
    "/projects/{project_id}/audit/events/export",
    name="export_project_audit_events",
    response_class=StreamingResponse,
    responses=_RESPONSES,
)
def export_project_audit_events(
    project_id: ProjectRef, request: Request, ctx: ContextDep, f: FilterDep, kind: FormatQuery = "jsonl"
) -> Any:
    """One project's events, filtered and streamed as ``/audit/events/export``."""
    plan = plan_audit_export(ctx, f, project_id=project_id)
    return _stream(request, plan, kind, f"audit-events-project-{project_id}")
