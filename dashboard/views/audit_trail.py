"""Audit trail: filter events by action, actor, object, time and free text; pages read from the server by cursor
(newest first by default), objects and projects by name; an event's detail with its payload (old and new values
where it records them); chain verification on demand; CSV and JSON Lines export."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import streamlit as st

from dashboard import export, state, tables, ui
from dashboard.client import Api, AuditQuery

ALL = "All projects"
PAGE_SIZES = (25, 50, 100, 500)


def _day_start(d: date | None, *, days: int = 0) -> str | None:
    return None if d is None else f"{(d + timedelta(days=days)).isoformat()}T00:00:00Z"


def _filters() -> AuditQuery:
    """The filter widgets and the query they make."""
    c = st.columns(3)
    action = c[0].text_input(
        "Action", key="audit_action", placeholder="part of it (gate) or a list: gate.evaluate,release.create"
    )
    actor = c[1].text_input("Actor", key="audit_actor", placeholder="username or part of it")
    obj = c[2].text_input("Object", key="audit_object", placeholder="street@v2, dataset_version:3 or a type")
    c = st.columns(3)
    since = c[0].date_input("From (UTC day, inclusive)", value=None, key="audit_since")
    until = c[1].date_input("To (UTC day, inclusive)", value=None, key="audit_until")
    q = c[2].text_input("Search", key="audit_q", placeholder="any text: action, actor, object, payload")
    return AuditQuery(
        actor=actor.strip() or None,
        action=action.strip() or None,
        object=obj.strip() or None,
        q=q.strip() or None,
        since=_day_start(since),
        until=_day_start(until, days=1),
    )


def when(ts: str) -> str:
    """An event's time as people read it: ``2026-12-03 14:05:12 UTC`` (no microseconds)."""
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _object(e: Mapping[str, Any]) -> str:
    return str(e.get("object_name") or f"{e['object_type']}:{e['object_id']}")


def rows(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Events as table rows: seq, time, actor, action, object and project by name, request id."""
    return [
        {
            "seq": e["seq"],
            "time": when(str(e["ts"])),
            "actor": e["actor"],
            "action": e["action"],
            "object": _object(e),
            "project": e.get("project_name") or (e.get("project_id") if e.get("project_id") is not None else ""),
            "request_id": e.get("request_id"),
        }
        for e in events
    ]


def _detail(items: list[dict[str, Any]]) -> None:
    if not items:
        return
    st.subheader("Event detail")
    by_seq = {int(e["seq"]): e for e in items}
    seq = st.selectbox(
        "Event",
        list(by_seq),
        format_func=lambda s: f"seq {s} · {by_seq[s]['action']} · {_object(by_seq[s])}",
        key="audit_event",
    )
    event = by_seq[seq]
    left, right = st.columns(2)
    with left:
        keys = ("seq", "ts", "actor", "action", "object_name", "object_type", "object_id", "project_name", "project_id")
        meta = {k: event.get(k) for k in keys}
        st.json({**meta, "request_id": event.get("request_id"), "prev_hash": event["prev_hash"], "hash": event["hash"]})
    with right:
        changes = tables.payload_changes(event.get("payload") or {})
        if changes:
            st.markdown("**Changed values**")
            st.dataframe([{k: str(v) for k, v in row.items()} for row in changes], hide_index=True)
        st.markdown("**Payload**")
        st.json(event.get("payload") or {})


def _exporter(api: Api, query: AuditQuery, project_id: int | None, fmt: str) -> Callable[[], bytes]:
    def make() -> bytes:  # runs when the button is clicked, not on every rerun
        events = export.fetch_all_events(api, query, project_id=project_id)
        return export.events_csv(events) if fmt == "csv" else export.events_jsonl(events)

    return make


def _verify(api: Api) -> None:
    st.subheader("Chain verification")
    if st.button("Verify the chain now", key="audit_verify", icon=":material/verified:"):
        with ui.api_errors("Chain verification"):
            st.session_state["audit_verify_result"] = api.verify_chain()
    result: Mapping[str, Any] | None = st.session_state.get("audit_verify_result")
    if result is not None:
        ui.chain_status(result)


def _paging_key(scope: str, query: AuditQuery, order: str, size: int) -> str:
    return repr((scope, query, order, size))


def _go(cursor: str | None) -> None:
    st.session_state["audit_cursor"] = cursor


def _page(api: Api, query: AuditQuery, project_id: int | None, scope: str, order: str, size: int) -> dict[str, Any]:
    """The page the cursor in the session points at; a change of filter, scope, order or size starts again at
    the first page. The total is counted once per filter (on its first page), not on every page."""
    key = _paging_key(scope, query, order, size)
    if st.session_state.get("audit_paging_key") != key:
        st.session_state["audit_paging_key"] = key
        st.session_state["audit_cursor"] = None
        st.session_state.pop("audit_total", None)
    cursor = st.session_state.get("audit_cursor")
    wants_total = "audit_total" not in st.session_state
    page = api.audit_page(query, project_id=project_id, cursor=cursor, order=order, limit=size, with_total=wants_total)
    if wants_total and page.get("total") is not None:
        st.session_state["audit_total"] = int(page["total"])
    return page


def _caption(items: list[dict[str, Any]], total: int | None) -> str:
    counted = "?" if total is None else str(total)
    if not items:
        return f"{counted} matching events; none on this page."
    seqs = [int(e["seq"]) for e in items]
    return f"{counted} matching events; this page: {len(items)} (seq {min(seqs)} to {max(seqs)})."


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Audit trail")
    scopes: dict[str, int | None] = {ALL: None} if viewer.is_admin else {}
    scopes |= {str(p["name"]): int(p["id"]) for p in viewer.projects_where("list_project_audit_events")}
    if not scopes:
        st.info("Your roles do not include reading an audit trail.")
        return
    scope = st.selectbox("Scope", list(scopes), key="audit_scope")
    project_id = scopes[scope]
    query = _filters()
    c = st.columns([1, 1, 1, 1])
    size = int(c[0].selectbox("Page size", PAGE_SIZES, index=1, key="audit_page_size"))
    newest_first = c[1].toggle("Newest first", value=True, key="audit_newest_first")
    order = "desc" if newest_first else "asc"
    with ui.api_errors("Audit events"):
        page = _page(api, query, project_id, scope, order, size)
        items = list(page["items"])
        total = st.session_state.get("audit_total")
        prev_cursor, next_cursor = page.get("prev_cursor"), page.get("next_cursor")
        c[2].button("Previous page", key="audit_prev", disabled=prev_cursor is None, on_click=_go, args=(prev_cursor,))
        c[3].button("Next page", key="audit_next", disabled=next_cursor is None, on_click=_go, args=(next_cursor,))
        st.caption(_caption(items, total))
        st.dataframe(rows(items), hide_index=True)
        c = st.columns([1, 1, 4])
        name = "all" if project_id is None else scope
        c[0].download_button(
            "Export CSV",
            _exporter(api, query, project_id, "csv"),
            file_name=f"audit-{name}.csv",
            mime="text/csv",
            on_click="ignore",
            key="audit_export_csv",
            icon=":material/download:",
        )
        c[1].download_button(
            "Export JSON Lines",
            _exporter(api, query, project_id, "jsonl"),
            file_name=f"audit-{name}.jsonl",
            mime="application/x-ndjson",
            on_click="ignore",
            key="audit_export_jsonl",
            icon=":material/download:",
        )
        _detail(items)
    if viewer.can_verify_chain():
        _verify(api)


if __name__ == "__main__":
    render()
