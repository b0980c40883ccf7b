"""Reports: the audit trail export and chain verification (served today), and per dataset version the
signed evidence bundle and the regulatory reports (when the server offers them)."""

from __future__ import annotations

import json
from collections.abc import Callable

import streamlit as st

from dashboard import export, state, ui
from dashboard.access import REPORT_READERS
from dashboard.client import REPORT_KINDS, Api, ApiError, AuditQuery


def _fetcher(fetch: Callable[[], bytes]) -> Callable[[], bytes]:
    def run() -> bytes:  # runs on click; an error becomes the file's text rather than a broken download
        try:
            return fetch()
        except ApiError as exc:
            return f"error: {exc.message}\n".encode()

    return run


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


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Reports")
    projects = viewer.projects_where(REPORT_READERS)
    pid = ui.pick_project(projects, key="rep_project")
    if pid is None:
        return
    name = next(str(p["name"]) for p in projects if int(p["id"]) == pid)
    _audit_reports(api, pid, name, viewer.can_verify_chain())
    st.subheader("Dataset version reports")
    ref = ui.pick_version(api, projects, key="rep_v", project_id=pid)
    if ref is None:
        return
    c = st.columns(3)
    downloads = [
        ("evidence_bundle", "Evidence bundle (signed, zip)", f"{ref.dataset}-{ref.version}-evidence.zip",
         "application/zip", lambda: api.evidence_bundle(ref.project_id, ref.dataset, ref.version)),
    ] + [
        ("report", f"Report: {kind}", f"{ref.dataset}-{ref.version}-{suffix}", mime,
         lambda kind=kind: api.report(ref.project_id, ref.dataset, ref.version, kind))
        for kind, (suffix, mime) in REPORT_KINDS.items()
    ]  # fmt: skip
    offered = {name: api.offers(name) for name in ("evidence_bundle", "report")}
    for i, (endpoint, label, file_name, mime, fetch) in enumerate(downloads):
        if not offered[endpoint]:
            continue
        c[i % 3].download_button(
            label,
            _fetcher(fetch),
            file_name=file_name,
            mime=mime,
            on_click="ignore",
            key=f"rep_{i}",
            icon=":material/download:",
        )
    if not offered["evidence_bundle"]:
        ui.not_available("Evidence bundle")
    if not offered["report"]:
        ui.not_available("Regulatory reports")


if __name__ == "__main__":
    render()
