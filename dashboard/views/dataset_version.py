"""Dataset version: state, DVC identity, schema diff to the parent, composition by provenance, its gate evidence
(the evaluation its release rests on once released, else its newest; later re-checks never replace it) with
the plots it supports, a selector to open any of its evaluations with their plots, what changed since the last
release and who changed it (``dashboard.diffview``), its electronic signatures, and for signers the sign
(re-entering the signing secret) and reject forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import approval, charts, confusion_cells, diffview, readable, state, tables, ui
from dashboard import evidence as gate_evidence
from dashboard.client import Api, NotAvailable

_STATE_ICON = {
    "draft": ":material/edit_note:",
    "candidate": ":material/pending:",
    "released": ":material/verified:",
    "rejected": ":material/block:",
    "deprecated": ":material/archive:",
}


def _identity(v: Mapping[str, Any], lineage: Mapping[str, Any] | None) -> None:
    dvc = dict((lineage or {}).get("dvc") or {})
    plain = {
        "data path": dvc.get("data_path", v.get("data_path")),
        "items": dvc.get("items", v.get("item_count")),
        "release tag": dvc.get("git_tag"),
    }
    for field, value in plain.items():
        st.markdown(f"**{field}**: {'—' if value is None else ui.plain(value)}")
    # Hashes shortened on purpose (first and last four characters); the full value is in the hover help.
    ui.hash_line("git revision", dvc.get("git_revision", v.get("git_revision")))
    ui.hash_line("DVC hash", dvc.get("dvc_hash", v.get("dvc_hash")))
    ui.hash_line("manifest hash", (lineage or {}).get("manifest_hash", v.get("manifest_hash")))


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
        f"(hash `{readable.short_hash(ev.get('policy_hash'))}`), {_golden(ev)}, {ui.when(ev.get('created_at'))}"
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
    return f"#{ev.get('id')} · {purpose} · {verdict} · policy {_policy_text(ev)} · {ui.when(ev.get('created_at'))}"


def _pick_evaluation(
    api: Api, ref: ui.VersionRef, listed: Sequence[Mapping[str, Any]], evidence: Mapping[str, Any]
) -> Mapping[str, Any]:
    """A selector over the version's evaluations, opened on its evidence; returns the one chosen, in full."""
    if len(listed) < 2:
        return evidence
    key = f"{ref.project_id}_{ref.dataset}_{ref.version}"
    by_id = {int(e["id"]): e for e in _filtered(listed, key)}
    if not by_id:
        st.caption("No evaluation of this version matches the filters; showing its gate evidence.")
        return evidence
    ids = list(by_id)
    chosen = st.selectbox(
        "Evaluation shown",
        ids,
        index=ids.index(int(evidence["id"])) if int(evidence["id"]) in by_id else 0,
        format_func=lambda i: _option(by_id[i]),
        key=f"dv_eval_{key}",
    )
    if chosen is None or int(chosen) == int(evidence["id"]):
        return evidence
    st.caption(f"Showing evaluation #{chosen}; the version's gate evidence is evaluation #{evidence['id']}.")
    return _open_evaluation(api, ref, int(chosen))


def _filtered(listed: Sequence[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    """The evaluations left by the filters over policy, verdict and day (UTC)."""
    policies = sorted({_policy_text(e) for e in listed})
    days = sorted({ui.when(e.get("created_at"))[:10] for e in listed})
    cols = st.columns(3)
    chosen_policies = cols[0].multiselect("Policy", policies, default=policies, key=f"dv_eval_policy_{key}")
    verdict = cols[1].segmented_control(
        "Verdict", ["all", "PASS", "BLOCK"], default="all", key=f"dv_eval_verdict_{key}"
    )
    day = cols[2].selectbox("Day (UTC)", ["any", *days], key=f"dv_eval_day_{key}")
    return [
        e
        for e in listed
        if _policy_text(e) in chosen_policies
        and verdict in (None, "all", "PASS" if e.get("passed") else "BLOCK")
        and day in ("any", ui.when(e.get("created_at"))[:10])
    ]


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
                "policy": _policy_text(e),
                "policy hash": readable.short_hash(e.get("policy_hash")),
                "golden set": _golden(e).removeprefix("golden set "),
                "blocking": ", ".join(str(b) for b in blocking),
                "at": ui.when(e.get("created_at")),
            }
        )
    return rows


def _evaluation_section(ev: Mapping[str, Any], api: Api | None = None, ref: ui.VersionRef | None = None) -> None:
    """One evaluation: headline, blocking gates, the gate table, its evidence plots and details; a report of
    another version than :data:`REPORT_VERSION` is named, not read."""
    if ev.get("report_version") != REPORT_VERSION:
        st.error(
            f"Evaluation #{ev.get('id')} is a gate report of version {ev.get('report_version')}; this dashboard "
            f"reads version {REPORT_VERSION}. Use the dashboard of the server's labelgate release."
        )
        return
    ui.verdict_badge(bool(ev["passed"]))
    (st.success if ev["passed"] else st.error)(_headline(ev))
    blocking = [g for g in ev["gates"] if not g["passed"]]
    if blocking:
        st.markdown(
            "**Blocking gates**\n\n" + "\n".join(f"- **{g['name']}**: {ui.plain(g['explanation'])}" for g in blocking)
        )
    gate_evidence.gate_table(ev)
    st.caption(gate_evidence.task_text(ev))
    gate_evidence.plots(ev)
    if api is not None and ref is not None:
        confusion_cells.render(api, ref, ev)  # the items behind a cell of the matrix, drawn
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
        _evaluation_section(_pick_evaluation(api, ref, listed, evidence), api, ref)
        if len(listed) > 1:
            st.markdown("**Evaluations of this version** (newest first)")
            ui.verdict_table(
                _evaluation_rows(listed), widths={"golden set": "medium", "blocking": "large", "at": "medium"}
            )
    return listed


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
        golden = any(d.get("is_golden") for d in api.datasets(ref.project_id) if d.get("name") == ref.dataset)
        approval.render(api, viewer, ref, version_state, evaluated=bool(evaluations), golden=golden)


if __name__ == "__main__":
    render()
