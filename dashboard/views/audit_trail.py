"""Audit trail: filter events by actor, action, object and time; an event's detail with its payload (old and
new values where it records them); chain verification on demand; CSV and JSON Lines export."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import streamlit as st

from dashboard import export, state, tables, ui
from dashboard.client import Api, AuditQuery

ALL = "All projects"
PAGE_SIZES = (25, 50, 100, 500)


def _day_start(d: date | None, *, days: int = 0) -> str | None:
    return None if d is None else f"{(d + timedelta(days=days)).isoformat()}T00:00:00Z"


def _filters() -> tuple[AuditQuery, Sequence[Any]]:
    """The filter widgets and the query they make; also the two free columns of their second row."""
    c = st.columns(4)
    actor = c[0].text_input("Actor", key="audit_actor", placeholder="username")
    action = c[1].text_input("Action", key="audit_action", placeholder="e.g. project.create or dataset.")
    object_type = c[2].text_input("Object type", key="audit_object_type", placeholder="e.g. dataset_version")
    object_id = c[3].text_input("Object id", key="audit_object_id")
    c = st.columns(4)
    since = c[0].date_input("From (UTC day, inclusive)", value=None, key="audit_since")
    until = c[1].date_input("To (UTC day, inclusive)", value=None, key="audit_until")
    query = AuditQuery(
        actor=actor.strip() or None,
        action=action.strip() or None,
        object_type=object_type.strip() or None,
        object_id=object_id.strip() or None,
        since=_day_start(since),
        until=_day_start(until, days=1),
    )
    return query, c[2:]


def _detail(items: list[dict[str, Any]]) -> None:
    if not items:
        return
    st.subheader("Event detail")
    by_seq = {int(e["seq"]): e for e in items}
    seq = st.selectbox(
        "Event",
        list(by_seq),
        format_func=lambda s: f"seq {s} · {by_seq[s]['action']} · {by_seq[s]['object_type']}:{by_seq[s]['object_id']}",
        key="audit_event",
    )
    event = by_seq[seq]
    left, right = st.columns(2)
    with left:
        meta = {k: event.get(k) for k in ("seq", "ts", "actor", "action", "object_type", "object_id", "project_id")}
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
    query, c = _filters()
    with ui.api_errors("Audit events"):
        total = int(api.audit_events(query, project_id=project_id, limit=1)["total"])
        size = c[0].selectbox("Page size", PAGE_SIZES, index=1, key="audit_page_size")
        pages = max(1, math.ceil(total / size))
        page = min(pages, int(c[1].number_input(f"Page (of {pages})", min_value=1, value=1, key="audit_page")))
        newest_first = st.toggle("Newest first", value=True, key="audit_newest_first")
        if newest_first:
            end = total - (page - 1) * size
            offset, limit = max(0, end - size), max(1, min(size, end))
        else:
            offset, limit = (page - 1) * size, size
        items = list(api.audit_events(query, project_id=project_id, offset=offset, limit=limit)["items"])
        if newest_first:
            items.reverse()
        st.caption(f"{total} matching events; page {page} of {pages}.")
        st.dataframe(tables.event_rows(items), hide_index=True)
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
