"""Dataset version: state, DVC identity, schema diff to the parent, composition by provenance, its gate evidence
(the evaluation its release rests on once released, else its newest; later re-checks never replace it) with
the plots it supports, a selector to open any of its evaluations with their plots, what changed since the last
release and who changed it (``dashboard.diffview``), its electronic signatures, and for signers the sign
(re-entering the signing secret) and reject forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import charts, diffview, state, tables, ui
from dashboard import evidence as gate_evidence
from dashboard.access import Viewer
from dashboard.client import SIGNATURE_MEANINGS, Api, NotAvailable

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


#: The version of the gate report an evaluation carries (``report_version``) that this page reads: the API's
#: ``GateReport.to_dict()`` of ``quality_gates.verdict.REPORT_VERSION`` (the dashboard talks HTTP only).
REPORT_VERSION = 1


_PURPOSE = {"release_evidence": "release evidence", "recheck": "re-check", "evaluation": "evaluation"}


def _golden(ev: Mapping[str, Any]) -> str:
    return gate_evidence.golden_text(gate_evidence.golden_of(ev))


def _policy_text(ev: Mapping[str, Any]) -> str:
    version = ev.get("policy_version")
    return f"{ev.get('policy_name')}@{version}" if version is not None else str(ev.get("policy_name"))


def _headline(ev: Mapping[str, Any]) -> str:
    verdict = "PASSED" if ev.get("passed") else "BLOCKED"
    head = (
        f"Gate check {verdict}: evaluation #{ev.get('id')} of policy {_policy_text(ev)} "
        f"(hash `{str(ev.get('policy_hash'))[:12]}…`), {_golden(ev)}, {ev.get('created_at')}"
    )
    if ev.get("purpose") == "release_evidence":
        return "Release evidence — " + head
    if ev.get("purpose") == "recheck":
        return "Re-check (not the release's evidence) — " + head
    return head


def _version_evidence(api: Api, ref: ui.VersionRef) -> Mapping[str, Any]:
    """The server's answer to "what is this version's gate evidence?"; from a server without that route, its
    newest evaluation (as such servers showed it)."""
    try:
        return api.version_evidence(ref.project_id, ref.dataset, ref.version)
    except NotAvailable:
        evaluations = api.evaluations(ref.project_id, ref.dataset, ref.version)
        return {
            "basis": "latest" if evaluations else "none",
            "evidence": evaluations[0] if evaluations else None,
            "evaluations": evaluations,
            "rechecks": [],
        }


def _open_evaluation(api: Api, ref: ui.VersionRef, evaluation_id: int) -> Mapping[str, Any]:
    try:
        return api.evaluation(ref.project_id, evaluation_id)
    except NotAvailable:
        listed = api.evaluations(ref.project_id, ref.dataset, ref.version)
        return next(e for e in listed if e.get("id") == evaluation_id)


def _option(ev: Mapping[str, Any]) -> str:
    verdict = "PASS" if ev.get("passed") else "BLOCK"
    purpose = _PURPOSE.get(str(ev.get("purpose")), "evaluation")
    return f"#{ev.get('id')} · {purpose} · {verdict} · policy {_policy_text(ev)} · {ev.get('created_at')}"


def _pick_evaluation(
    api: Api, ref: ui.VersionRef, listed: Sequence[Mapping[str, Any]], evidence: Mapping[str, Any]
) -> Mapping[str, Any]:
    """A selector over the version's evaluations, opened on its evidence; returns the one chosen, in full."""
    if len(listed) < 2:
        return evidence
    by_id = {int(e["id"]): e for e in listed}
    ids = list(by_id)
    chosen = st.selectbox(
        "Evaluation shown",
        ids,
        index=ids.index(int(evidence["id"])) if int(evidence["id"]) in by_id else 0,
        format_func=lambda i: _option(by_id[i]),
        key=f"dv_eval_{ref.project_id}_{ref.dataset}_{ref.version}",
    )
    if chosen is None or int(chosen) == int(evidence["id"]):
        return evidence
    st.caption(f"Showing evaluation #{chosen}; the version's gate evidence is evaluation #{evidence['id']}.")
    return _open_evaluation(api, ref, int(chosen))


def _evaluation_rows(listed: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in listed:
        blocking = e.get("blocking")
        if blocking is None:
            blocking = [g.get("name") for g in e.get("gates", []) if not g.get("passed")]
        rows.append(
            {
                "evaluation": e.get("id"),
                "purpose": _PURPOSE.get(str(e.get("purpose")), "evaluation"),
                "verdict": "PASS" if e.get("passed") else "BLOCK",
                "policy": f"{_policy_text(e)} ({str(e.get('policy_hash') or '')[:12]})",
                "golden set": _golden(e).removeprefix("golden set "),
                "blocking": ", ".join(str(b) for b in blocking),
                "at": e.get("created_at"),
            }
        )
    return rows


def _evaluation_section(ev: Mapping[str, Any]) -> None:
    """One evaluation: headline, blocking gates, the gate table, its evidence plots and details; a report of
    another version than :data:`REPORT_VERSION` is named, not read."""
    if ev.get("report_version") != REPORT_VERSION:
        st.error(
            f"Evaluation #{ev.get('id')} is a gate report of version {ev.get('report_version')}; this dashboard "
            f"reads version {REPORT_VERSION}. Use the dashboard of the server's labelgate release."
        )
        return
    (st.success if ev["passed"] else st.error)(_headline(ev))
    blocking = [g for g in ev["gates"] if not g["passed"]]
    if blocking:
        st.markdown(
            "**Blocking gates**\n\n" + "\n".join(f"- **{g['name']}**: {ui.plain(g['explanation'])}" for g in blocking)
        )
    st.dataframe(
        tables.gate_rows(ev["gates"]),
        hide_index=True,
        column_config={"explanation": st.column_config.TextColumn("explanation", width="large")},
    )
    st.caption(gate_evidence.task_text(ev))
    gate_evidence.plots(ev)
    gate_evidence.details(ev)


def _gates(api: Api, ref: ui.VersionRef) -> list[dict[str, Any]]:
    """The gate section: the version's evidence (its release's evaluation once released, else its newest), a
    selector over every evaluation, and their list; returns the evaluations ([] when none or not readable)."""
    st.subheader("Quality gates")
    listed: list[dict[str, Any]] = []
    with ui.api_errors("Gate results"):
        view = _version_evidence(api, ref)
        listed = [dict(e) for e in view.get("evaluations") or []]
        evidence = view.get("evidence")
        if evidence is None:
            st.caption("No gate evaluation for this version yet (`labelgate gate check` or the API runs one).")
            return listed
        if view.get("basis") == "release":
            rechecks = ", ".join(f"#{i}" for i in view.get("rechecks") or [])
            st.caption(
                f":material/verified: {ref.ref} was released on evaluation #{evidence.get('id')}: that is its gate "
                "evidence. "
                + (f"Later evaluations ({rechecks}) are re-checks; they do not replace it." if rechecks else "")
            )
        _evaluation_section(_pick_evaluation(api, ref, listed, evidence))
        if len(listed) > 1:
            st.markdown("**Evaluations of this version** (newest first)")
            st.dataframe(_evaluation_rows(listed), hide_index=True)
    return listed


def _done(message: str) -> None:
    """After a decision: drop cached answers and show the page again, with ``message`` on top."""
    state.refresh()
    st.session_state[_FLASH] = message
    st.rerun()


def _decision(api: Api, viewer: Viewer, ref: ui.VersionRef, version_state: str, evaluated: bool) -> None:
    st.subheader("Approvals")
    if _FLASH in st.session_state:
        st.success(st.session_state.pop(_FLASH), icon=":material/check_circle:")
    with ui.api_errors("Approvals"):
        approvals = api.approvals(ref.project_id, ref.dataset, ref.version)
        if approvals:
            st.dataframe(tables.approval_rows(approvals), hide_index=True)
        else:
            st.caption("No signatures yet.")
    if not viewer.can_approve(ref.project_id):
        st.caption(
            "Signing or rejecting a version is offered to compliance officers, reviewers, ML engineers and admins."
        )
        return
    if version_state not in ("candidate", "draft"):
        st.caption(
            f"Only a candidate version can be signed, and a draft or candidate rejected; this one is {version_state}."
        )
        return
    left, right = st.columns(2)
    with left:
        if version_state != "candidate":
            st.caption(f"Only a candidate version can be signed; this one is {version_state}.")
        elif not evaluated:
            st.caption("Signing needs a gate evaluation of this version: there is nothing to sign off yet.")
        else:
            _approve_form(api, ref)
    with right:
        _reject_form(api, ref)


def _signing_answer(api: Api, ref: ui.VersionRef) -> Mapping[str, Any]:
    """The server's answer to "may I sign this version now?" (``{}`` from a server without the route: it
    still refuses at signing, with the reason)."""
    try:
        return api.signable(ref.project_id, ref.dataset, ref.version)
    except NotAvailable:
        return {}


def _approve_form(api: Api, ref: ui.VersionRef) -> None:
    """The sign form, offering the meanings the server would accept now; the reason instead when none."""
    answer: Mapping[str, Any] | None = None
    with ui.api_errors("Signing"):
        answer = _signing_answer(api, ref)
    if answer is None:
        return
    refused = {str(m): str(why) for m, why in (answer.get("meanings") or {}).items() if why}
    offered = [m for m in SIGNATURE_MEANINGS if m not in refused]
    if not offered:
        st.markdown("**Sign (electronic signature)**")
        reason = answer.get("reason") or next(iter(refused.values()))
        st.caption(f":material/lock: Signing is not open to you now: {ui.plain(reason)}")
        return
    if "approval" in refused:
        st.caption(
            f":material/lock: You may not approve {ref.ref}: {ui.plain(refused['approval'])}. "
            "You may still sign with another meaning."
        )
    with st.form("approve_form", clear_on_submit=True):
        st.markdown("**Sign (electronic signature)**")
        meaning = st.radio(
            "Meaning of the signature",
            offered,
            index=offered.index("approval") if "approval" in offered else 0,
            key="approve_meaning",
            horizontal=True,
        )
        secret = st.text_input("Signing secret (re-enter to sign)", type="password", key="approve_secret")
        confirm = st.checkbox(f"I sign {ref.ref} with the meaning above", key="approve_confirm")
        if st.form_submit_button("Sign and approve" if "approval" in offered else "Sign", type="primary"):
            if not secret or not confirm:
                st.error("Enter your signing secret and tick the confirmation to sign.")
            else:
                with ui.api_errors("Signature refused", refusal_is_error=True):
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
                with ui.api_errors("Rejection refused", refusal_is_error=True):
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
        evaluations = _gates(api, ref)
        diffview.render_changes(api, ref)
        _decision(api, viewer, ref, version_state, evaluated=bool(evaluations))


if __name__ == "__main__":
    render()
