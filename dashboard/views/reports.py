"""Reports: the project's audit trail (CSV and JSON Lines exports, the chain verification, the server's HTML
audit trail report for a time range), and per dataset version the regulatory reports (data governance, gate
reports) and, once released, its signed evidence bundle."""

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


def _audit_reports(api: Api, pid: int, name: str, can_verify: bool) -> None:
    st.subheader("Audit trail")
    c = st.columns(3)
    c[0].download_button(
        "Audit trail (JSON Lines)",
        _fetcher(lambda: export.events_jsonl(export.fetch_all_events(api, AuditQuery(), project_id=pid))),
        file_name=f"audit-{name}.jsonl",
        mime="application/x-ndjson",
        on_click="ignore",
        key="rep_audit_jsonl",
        icon=":material/download:",
    )
    c[1].download_button(
        "Audit trail (CSV)",
        _fetcher(lambda: export.events_csv(export.fetch_all_events(api, AuditQuery(), project_id=pid))),
        file_name=f"audit-{name}.csv",
        mime="text/csv",
        on_click="ignore",
        key="rep_audit_csv",
        icon=":material/download:",
    )
    if can_verify:
        c[2].download_button(
            "Chain verification (JSON)",
            _fetcher(lambda: json.dumps(api.verify_chain(), indent=2).encode()),
            file_name="audit-chain-verification.json",
            mime="application/json",
            on_click="ignore",
            key="rep_verify",
            icon=":material/download:",
        )
    c = st.columns(3)
    since = c[0].date_input("Report from (UTC day, inclusive)", value=None, key="rep_since")
    until = c[1].date_input("Report to (UTC day, inclusive)", value=None, key="rep_until")
    start, end = _day_start(since), _day_start(until, days=1)
    span = f"{start or 'the beginning'} to {end or 'now'}"
    for kind, (title, mime) in PROJECT_REPORT_KINDS.items():
        c[2].download_button(
            title,
            _fetcher(_project_report(api, pid, kind, since=start, until=end)),
            file_name=f"{name}-{kind}",
            mime=mime,
            on_click="ignore",
            key=f"rep_project_{kind}",
            icon=":material/download:",
            help=f"Events from {span}, with the chain's verification",
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
            label,
            _fetcher(fetch),
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
    pid = ui.pick_project(projects, key="rep_project")
    if pid is None:
        return
    name = next(str(p["name"]) for p in projects if int(p["id"]) == pid)
    if viewer.can_read_audit(pid):
        _audit_reports(api, pid, name, viewer.can_verify_chain())
    st.subheader("Dataset version reports")
    ref = ui.pick_version(api, projects, key="rep_v", project_id=pid)
    if ref is None:
        return
    with ui.api_errors("Dataset version reports"):
        _version_reports(api, ref)


if __name__ == "__main__":
    render()
