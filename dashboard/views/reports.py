"""Reports: one project (by name) and one date range at the top, applying to every report of the page that
covers a period (the audit trail exports, CSV and JSON Lines, and the server's HTML audit trail report); the
chain verification; and per dataset version the regulatory reports (data governance, gate reports) and, once
released, its signed evidence bundle (a version's reports cover that version, not a period)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta

import streamlit as st

from dashboard import export, state, ui
from dashboard.client import GATE_REPORT_KINDS, PROJECT_REPORT_KINDS, REPORT_KINDS, Api, ApiError, AuditQuery


def _fetcher(fetch: Callable[[], bytes]) -> Callable[[], bytes]:
    def run() -> bytes:  # runs on click; an error becomes the file's text rather than a broken download
        try:
            return fetch()
        except ApiError as exc:
            return f"error: {exc.message}\n".encode()

    return run


def _day_start(d: date | None, *, days: int = 0) -> str | None:
    return None if d is None else f"{(d + timedelta(days=days)).isoformat()}T00:00:00Z"


def _project_report(api: Api, pid: int, kind: str, *, since: str | None, until: str | None) -> Callable[[], bytes]:
    return lambda: api.project_report(pid, kind, since=since, until=until)


def _audit_reports(api: Api, pid: int, name: str, can_verify: bool, *, since: str | None, until: str | None) -> None:
    st.subheader(f"Audit trail of {name}")
    span = f"{ui.when(since) if since else 'the beginning'} to {ui.when(until) if until else 'now'}"
    st.caption(f"Events from {span} (the date range above).")
    query = AuditQuery(since=since, until=until)
    c = st.columns(4 if can_verify else 3)
    c[0].download_button(
        "Audit trail (JSON Lines)",
        _fetcher(lambda: export.events_jsonl(export.fetch_all_events(api, query, project_id=pid))),
        file_name=f"audit-{name}.jsonl",
        mime="application/x-ndjson",
        on_click="ignore",
        key="rep_audit_jsonl",
        icon=":material/download:",
        width="stretch",
    )
    c[1].download_button(
        "Audit trail (CSV)",
        _fetcher(lambda: export.events_csv(export.fetch_all_events(api, query, project_id=pid))),
        file_name=f"audit-{name}.csv",
        mime="text/csv",
        on_click="ignore",
        key="rep_audit_csv",
        icon=":material/download:",
        width="stretch",
    )
    for kind, (title, mime) in PROJECT_REPORT_KINDS.items():
        c[2].download_button(
            title,
            _fetcher(_project_report(api, pid, kind, since=since, until=until)),
            file_name=f"{name}-{kind}",
            mime=mime,
            on_click="ignore",
            key=f"rep_project_{kind}",
            icon=":material/download:",
            help=f"Events of {name} from {span}, with the chain's verification",
            width="stretch",
        )
    if can_verify:
        c[3].download_button(
            "Chain verification (JSON)",
            _fetcher(lambda: json.dumps(api.verify_chain(), indent=2).encode()),
            file_name="audit-chain-verification.json",
            mime="application/json",
            on_click="ignore",
            key="rep_verify",
            icon=":material/download:",
            help="The whole chain, now (not limited to the date range)",
            width="stretch",
        )


def _bundle_bytes(api: Api, ref: ui.VersionRef) -> bytes:
    bundle = api.evidence_bundle(ref.project_id, ref.dataset, ref.version)
    return (json.dumps(bundle, indent=2, sort_keys=True) + "\n").encode()


def _report(api: Api, ref: ui.VersionRef, kind: str) -> Callable[[], bytes]:
    return lambda: api.report(ref.project_id, ref.dataset, ref.version, kind)


def _version_reports(api: Api, ref: ui.VersionRef) -> None:
    version = api.version(ref.project_id, ref.dataset, ref.version)
    version_state = str(version.get("state", "?"))
    evaluated = bool(api.evaluations(ref.project_id, ref.dataset, ref.version))
    downloads: list[tuple[str, str, str, Callable[[], bytes]]] = []
    if version_state == "released":
        downloads.append(
            (
                "Evidence bundle (signed, JSON)",
                f"{ref.dataset}-{ref.version}-evidence.json",
                "application/json",
                lambda: _bundle_bytes(api, ref),
            )
        )
    for kind, (title, mime) in REPORT_KINDS.items():
        if kind in GATE_REPORT_KINDS and not evaluated:
            continue
        downloads.append((title, f"{ref.dataset}-{ref.version}-{kind}", mime, _report(api, ref, kind)))
    c = st.columns(3)
    for i, (label, file_name, mime, fetch) in enumerate(downloads):
        c[i % 3].download_button(
            width="stretch",
            label=label,
            data=_fetcher(fetch),
            file_name=file_name,
            mime=mime,
            on_click="ignore",
            key=f"rep_v_{file_name}",
            icon=":material/download:",
        )
    if version_state != "released":
        st.caption(f"The signed evidence bundle exists once the version is released; {ref.ref} is {version_state}.")
    if not evaluated:
        st.caption("The gate reports need a gate evaluation of this version; it has none yet.")


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Reports")
    projects = viewer.projects_where("get_version_report")
    c = st.columns(3)
    with c[0]:
        pid = ui.pick_project(projects, key="rep_project")
    since_day = c[1].date_input("From (UTC day, inclusive)", value=None, key="rep_since")
    until_day = c[2].date_input("To (UTC day, inclusive)", value=None, key="rep_until")
    if pid is None:
        return
    name = next(str(p["name"]) for p in projects if int(p["id"]) == pid)
    since, until = _day_start(since_day), _day_start(until_day, days=1)
    if viewer.can_read_audit(pid):
        _audit_reports(api, pid, name, viewer.can_verify_chain(), since=since, until=until)
    st.subheader(f"Dataset version reports of {name}")
    ref = ui.pick_version(api, projects, key="rep_v", project_id=pid)
    if ref is None:
        return
    st.caption(f"Reports of {ref.ref} cover that version as recorded now, whatever the date range.")
    with ui.api_errors("Dataset version reports"):
        _version_reports(api, ref)


if __name__ == "__main__":
    render()
