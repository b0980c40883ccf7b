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
    """Every event matching ``query`` (oldest first), page by page, uncached, at most ``cap``. After the first
    page, each page follows the one before by its ``next_cursor`` (a keyset page: the same cost at the
    millionth event as at the first); a server that gives none is paged by offset."""
    path = path_of("audit_events") if project_id is None else path_of("project_audit_events", project_id=project_id)
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(out) < cap:
        limit = min(_PAGE, cap - len(out))
        where = {"cursor": cursor} if cursor else {"offset": len(out)}
        page = send(api.http, api.token, "GET", path, params={**query.params(), **where, "limit": limit})
        items = page["items"]
        out.extend(items)
        cursor = page.get("next_cursor")
        if cursor is None and (len(items) < limit or len(out) >= int(page.get("total") or 0)):
            break  # a free-text page may come short with a cursor: more may follow it
    return out
