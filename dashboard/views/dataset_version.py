"""Dataset version: state, DVC identity, schema diff to the parent, composition by provenance, gate results
with their evidence plots, approvals, and approve (an electronic signature) or reject for approvers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard import charts, state, tables, ui
from dashboard.access import Viewer
from dashboard.client import SIGNATURE_MEANINGS, Api

_FLASH = "dv_flash"
_STATE_ICON = {
    "draft": ":material/edit_note:",
    "candidate": ":material/pending:",
    "released": ":material/verified:",
    "rejected": ":material/block:",
    "deprecated": ":material/archive:",
}


def _identity(v: Mapping[str, Any], lineage: Mapping[str, Any] | None) -> None:
    dvc = dict((lineage or {}).get("dvc") or {})
    rows = {
        "git revision": dvc.get("git_revision", v.get("git_revision")),
        "DVC hash": dvc.get("dvc_hash", v.get("dvc_hash")),
        "data path": dvc.get("data_path", v.get("data_path")),
        "items": dvc.get("items", v.get("item_count")),
        "manifest hash": (lineage or {}).get("manifest_hash", v.get("manifest_hash")),
        "release tag": dvc.get("git_tag"),
    }
    st.dataframe([{"field": k, "value": "—" if val is None else str(val)} for k, val in rows.items()], hide_index=True)


def _gate_by_name(evaluation: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((g for g in evaluation.get("gates", []) if g.get("name") == name), None)


def _evidence_plots(evaluation: Mapping[str, Any]) -> None:
    """Every plot the evaluation's evidence allows; a plot whose evidence is absent is skipped."""
    evidence = evaluation.get("evidence") or {}
    plots: list[tuple[str, charts.Chart]] = []
    if evidence.get("pr_curves"):
        thr = (evaluation.get("metrics") or {}).get("threshold")
        plots.append(("PR curves", charts.pr_curves_chart(evidence["pr_curves"], threshold=thr)))
    cm = evidence.get("confusion_matrix")
    if cm:
        try:
            plots.append(("Confusion matrix", charts.confusion_matrix_chart(cm["labels"], cm["matrix"])))
        except (KeyError, ValueError) as exc:
            st.warning(f"Confusion matrix evidence is malformed: {exc}")
    golden = _gate_by_name(evaluation, "golden_set_error")
    if golden and (golden.get("evidence") or {}).get("per_source"):
        chart = charts.golden_error_chart(golden["evidence"]["per_source"], max_error=golden.get("threshold"))
        plots.append(("Golden-set error per annotator", chart))
    alpha = _gate_by_name(evaluation, "krippendorff_alpha")
    if alpha and (alpha.get("evidence") or {}).get("per_class"):
        plots.append(
            ("Alpha per class", charts.alpha_chart(alpha["evidence"]["per_class"], min_alpha=alpha.get("threshold")))
        )
    drift = _gate_by_name(evaluation, "class_drift_psi") or _gate_by_name(evaluation, "class_drift_js")
    if drift and (drift.get("evidence") or {}).get("current") is not None:
        ev = drift["evidence"]
        plots.append(("Class drift vs parent", charts.drift_chart(ev.get("current") or {}, ev.get("parent") or {})))
    if not plots:
        st.caption("This evaluation carries no plottable evidence.")
    for i in range(0, len(plots), 2):
        cols = st.columns(2)
        for col, (title, chart) in zip(cols, plots[i : i + 2], strict=False):
            with col:
                st.altair_chart(chart, width="stretch", alt=title)


def _gates(api: Api, ref: ui.VersionRef) -> None:
    st.subheader("Quality gates")
    with ui.api_errors("Gate results"):
        evaluations = api.evaluations(ref.project_id, ref.dataset, ref.version)
        if not evaluations:
            st.caption("No gate evaluation for this version yet.")
            return
        ev = evaluations[0]
        verdict = "PASSED" if ev.get("passed") else "BLOCKED"
        (st.success if ev.get("passed") else st.error)(
            f"Gate check {verdict} (policy {ev.get('policy_name')!r}, hash `{str(ev.get('policy_hash'))[:12]}…`, "
            f"{ev.get('created_at')})"
        )
        st.dataframe(tables.gate_rows(ev.get("gates", [])), hide_index=True)
        _evidence_plots(ev)


def _done(message: str) -> None:
    """After a decision: drop cached answers and show the page again, with ``message`` on top."""
    state.refresh()
    st.session_state[_FLASH] = message
    st.rerun()


def _decision(api: Api, viewer: Viewer, ref: ui.VersionRef, version_state: str) -> None:
    st.subheader("Approvals")
    if _FLASH in st.session_state:
        st.success(st.session_state.pop(_FLASH), icon=":material/check_circle:")
    with ui.api_errors("Approvals"):
        approvals = api.approvals(ref.project_id, ref.dataset, ref.version)
        if approvals:
            st.dataframe(approvals, hide_index=True)
        else:
            st.caption("No signatures yet.")
    if not viewer.can_approve(ref.project_id):
        st.caption("Approving or rejecting a version is offered to compliance officers, reviewers and admins.")
        return
    if version_state != "candidate":
        st.caption(f"Only a candidate version can be approved or rejected; this one is {version_state}.")
        return
    left, right = st.columns(2)
    if not api.offers("approvals", "POST"):
        with left:
            ui.not_available("Approval with an electronic signature")
    else:
        with left:
            _approve_form(api, ref)
    with right:
        _reject_form(api, ref)


def _approve_form(api: Api, ref: ui.VersionRef) -> None:
    with st.form("approve_form", clear_on_submit=True):
        st.markdown("**Approve (electronic signature)**")
        meaning = st.radio(
            "Meaning of the signature", SIGNATURE_MEANINGS, index=1, key="approve_meaning", horizontal=True
        )
        secret = st.text_input("Signing secret (re-enter to sign)", type="password", key="approve_secret")
        confirm = st.checkbox(f"I sign {ref.ref} with the meaning above", key="approve_confirm")
        if st.form_submit_button("Sign and approve", type="primary"):
            if not secret or not confirm:
                st.error("Enter your signing secret and tick the confirmation to sign.")
            else:
                with ui.api_errors("Approval"):
                    api.approve(ref.project_id, ref.dataset, ref.version, meaning=meaning, signing_secret=secret)
                    _done(f"Signed {ref.ref} ({meaning}).")


def _reject_form(api: Api, ref: ui.VersionRef) -> None:
    with st.form("reject_form", clear_on_submit=True):
        st.markdown("**Reject**")
        reason = st.text_area("Reason (recorded in the audit trail)", key="reject_reason")
        if st.form_submit_button("Reject version"):
            if not reason.strip():
                st.error("A rejection needs a reason.")
            else:
                with ui.api_errors("Rejection"):
                    api.reject(ref.project_id, ref.dataset, ref.version, reason=reason.strip())
                    _done(f"Rejected {ref.ref}.")


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Dataset version")
    ref = ui.pick_version(api, viewer.projects, key="dv")
    if ref is None:
        return
    with ui.api_errors("Dataset version"):
        v = api.version(ref.project_id, ref.dataset, ref.version)
        version_state = str(v.get("state", "?"))
        st.header(f"{ref.ref}")
        st.markdown(f"{_STATE_ICON.get(version_state, '')} state **{version_state}**")
        lineage: Mapping[str, Any] | None = None
        with ui.api_errors("Version lineage"):
            lineage = api.version_lineage(ref.project_id, ref.dataset, ref.version)
        left, right = st.columns(2)
        with left:
            st.subheader("DVC identity")
            _identity(v, lineage)
        with right:
            if lineage is not None:
                st.altair_chart(charts.provenance_chart(lineage.get("by_kind") or {}), width="stretch")
        st.subheader("Schema diff to parent")
        ancestry = (lineage or {}).get("ancestry") or []
        if not ancestry or len(ancestry) < 2:
            st.caption("No parent version." if lineage is not None else "Lineage not available.")
        else:
            rows = tables.schema_diff_rows(ancestry[0].get("schema_diff"))
            if rows:
                st.dataframe(rows, hide_index=True)
            else:
                st.caption("Same schema as the parent.")
        _gates(api, ref)
        _decision(api, viewer, ref, version_state)


if __name__ == "__main__":
    render()
