"""Audit trail exports: every event matching a filter, as CSV or JSON Lines bytes.

JSON Lines keeps each event exactly as the API returned it (``prev_hash`` and ``hash`` included), so an
export can be re-verified offline with ``labelgate audit verify``; CSV is for spreadsheets (payload as JSON).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from dashboard.client import Api, AuditQuery, path_of, send

__all__ = ["EVENT_COLUMNS", "MAX_EXPORT", "events_csv", "events_jsonl", "fetch_all_events"]

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
MAX_EXPORT = 200_000
_PAGE = 500  # the API's largest page


def events_csv(events: Iterable[Mapping[str, Any]]) -> bytes:
    """UTF-8 CSV with a header row of :data:`EVENT_COLUMNS`; ``payload`` as compact, key-sorted JSON."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    for e in events:
        row = []
        for col in EVENT_COLUMNS:
            value = e.get(col)
            if col == "payload":
                value = json.dumps(value or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            row.append("" if value is None else value)
        writer.writerow(row)
    return buf.getvalue().encode()


def events_jsonl(events: Iterable[Mapping[str, Any]]) -> bytes:
    """One JSON object per line (keys sorted), each event as the API gave it."""
    lines = [json.dumps(dict(e), sort_keys=True, ensure_ascii=False) for e in events]
    return ("\n".join(lines) + ("\n" if lines else "")).encode()


def fetch_all_events(
    api: Api, query: AuditQuery, *, project_id: int | None = None, cap: int = MAX_EXPORT
) -> list[dict[str, Any]]:
    """Every event matching ``query`` (oldest first), page by page, uncached, at most ``cap``."""
    path = path_of("audit_events") if project_id is None else path_of("project_audit_events", project_id=project_id)
    out: list[dict[str, Any]] = []
    while len(out) < cap:
        limit = min(_PAGE, cap - len(out))
        page = send(api.http, api.token, "GET", path, params={**query.params(), "offset": len(out), "limit": limit})
        items = page["items"]
        out.extend(items)
        if len(items) < limit or len(out) >= int(page["total"]):
            break
    return out
