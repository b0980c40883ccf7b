"""Overview: projects and your roles, audit chain status, dataset versions by state, latest gate verdicts,
recent activity."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import charts, state, tables, ui
from dashboard.access import Viewer
from dashboard.client import Api, AuditQuery

RECENT = 10


def recent_events(api: Api, viewer: Viewer, n: int = RECENT) -> list[dict[str, Any]]:
    """The newest ``n`` events the caller may read (every event for admin, else their readable projects)."""
    scopes: list[int | None] = (
        [None] if viewer.is_admin else [int(p["id"]) for p in viewer.projects_where("list_project_audit_events")]
    )
    events: list[dict[str, Any]] = []
    for scope in scopes:
        total = int(api.audit_events(AuditQuery(), project_id=scope, limit=1)["total"])
        page = api.audit_events(AuditQuery(), project_id=scope, offset=max(0, total - n), limit=n)
        events += page["items"]
    return sorted(events, key=lambda e: e["seq"], reverse=True)[:n]


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Overview")

    st.subheader("Audit chain")
    if viewer.can_verify_chain():
        with ui.api_errors("Audit chain status"):
            ui.chain_status(api.verify_chain(fresh=False))
    else:
        st.caption("Chain verification is offered to compliance officers and admins.")

    st.subheader("Projects")
    st.dataframe(
        [
            {
                "project": p["name"],
                "description": p.get("description", ""),
                "your roles": viewer.role_label(int(p["id"])),
            }
            for p in viewer.projects
        ],
        hide_index=True,
    )

    left, right = st.columns(2)
    with left:
        st.subheader("Dataset versions by state")
        with ui.api_errors("Dataset versions"):
            versions = [
                v
                for p in viewer.projects
                for d in api.datasets(int(p["id"]))
                for v in api.versions(int(p["id"]), d["name"])
            ]
            st.altair_chart(charts.state_chart(tables.state_counts(versions)), width="stretch", alt="versions by state")
    with right:
        st.subheader("Latest gate verdicts")
        with ui.api_errors("Gate verdicts"):
            verdicts = [
                {"project": p["name"], **row}
                for p in viewer.projects
                for row in tables.evaluation_rows(api.project_evaluations(int(p["id"]), limit=5))
            ]
            if verdicts:
                st.dataframe(verdicts, hide_index=True)
            else:
                st.caption("No gate evaluations yet.")

    st.subheader("Recent activity")
    if viewer.can_read_audit():
        with ui.api_errors("Recent activity"):
            st.dataframe(tables.event_rows(recent_events(api, viewer)), hide_index=True)
    else:
        st.caption("Activity is shown to compliance officers, ML engineers, reviewers and admins.")


if __name__ == "__main__":
    render()
