"""Overview: what needs attention first (per project: versions awaiting approval, blocked versions, stale
evaluations, recent releases, each named ``dataset@version`` and linked to its page; the audit chain's status
and its last signed checkpoint), then projects and your roles, dataset versions by state, latest gate
verdicts and recent activity, by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard import charts, readable, state, tables, ui
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


def _line(project_id: int, row: Mapping[str, Any], text: str) -> None:
    """One attention entry: the version's link, then what about it."""
    left, right = st.columns([1, 4], vertical_alignment="center")
    with left:
        ui.version_link(project_id, str(row["dataset"]), str(row["version"]))
    right.markdown(text)


def _attention(project: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
    pid, name = int(project["id"]), str(project["name"])
    awaiting, blocked, stale = (
        answer.get("awaiting_approval") or [],
        answer.get("blocked") or [],
        answer.get("stale") or [],
    )
    releases = answer.get("recent_releases") or []
    st.markdown(f"#### {ui.plain(name)}")
    if not (awaiting or blocked or stale):
        st.caption(f"Nothing waits for a decision in {name}.")
    if awaiting:
        st.markdown(f"**Awaiting approval** ({len(awaiting)}): a passing evaluation, not enough signatures")
        for r in awaiting:
            _line(pid, r, (
                f":green-badge[PASSED] evaluation #{r['evaluation_id']} under {ui.plain(r['policy'])}, "
                f"{ui.when(r['evaluated_at'])}; approvals {r.get('approvals')} of {r.get('approvals_needed')}"
            ))  # fmt: skip
    if blocked:
        st.markdown(f"**Blocked** ({len(blocked)}): the latest evaluation blocked")
        for r in blocked:
            _line(pid, r, (
                f":red-badge[BLOCKED] evaluation #{r['evaluation_id']} under {ui.plain(r['policy'])}, "
                f"{ui.when(r['evaluated_at'])}; blocking: {ui.plain(', '.join(r.get('blocking') or []))}"
            ))  # fmt: skip
    if stale:
        st.markdown(f"**Stale evaluations** ({len(stale)})", help=str(answer.get("stale_definition") or ""))
        st.caption(str(answer.get("stale_definition") or ""))
        for r in stale:
            _line(pid, r, (
                f":orange-badge[STALE] evaluation #{r['evaluation_id']} ({ui.when(r['evaluated_at'])}): "
                + ui.plain("; ".join(r.get("reasons") or []))
            ))  # fmt: skip
    if releases:
        st.markdown("**Recent releases**")
        for r in releases:
            tag = f", tag `{r['git_tag']}`" if r.get("git_tag") else ""
            _line(pid, r, (
                f":blue-badge[RELEASED] {ui.when(r['released_at'])} by {ui.plain(r['released_by'])} on evaluation "
                f"#{r['evaluation_id']}{tag}"
            ))  # fmt: skip


def _checkpoint(chain: Mapping[str, Any] | None) -> None:
    """The last signed checkpoint of the audit chain, and how many events only the hash chain covers."""
    if chain is None:
        return
    if chain.get("checkpoint_seq") is None:
        st.caption(
            f":material/history_toggle_off: No signed checkpoint of the audit chain yet: its "
            f"{chain.get('head_seq') or 0} events are covered by the hash chain only."
        )
    else:
        after = int(chain.get("events_after_checkpoint") or 0)
        st.markdown(
            f":material/approval: Last signed checkpoint: seq **{chain['checkpoint_seq']}** at "
            f"{ui.when(chain.get('checkpoint_ts'))}, head `{readable.short_hash(chain.get('checkpoint_hash'))}` "
            f"(key `{chain.get('checkpoint_key_id')}`); "
            + (f"{after} later event(s) are covered by the hash chain only." if after else "the chain ends there.")
        )
    for problem in chain.get("problems") or []:
        st.warning(f"Checkpoint problem: {problem}", icon=":material/warning:")


def needs_attention(api: Api, viewer: Viewer) -> list[Mapping[str, Any]]:
    """Render "Needs attention" for every visible project; returns the answers (their ``chain`` is the same
    workspace chain in each)."""
    st.subheader("Needs attention")
    answers: list[Mapping[str, Any]] = []
    for p in viewer.projects:
        with ui.api_errors(f"Needs attention in {p['name']}"):
            answer = api.project_overview(int(p["id"]))
            answers.append(answer)
            _attention(p, answer)
    return answers


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Overview")
    answers = needs_attention(api, viewer)

    st.subheader("Audit chain")
    if viewer.can_verify_chain():
        with ui.api_errors("Audit chain status"):
            ui.chain_status(api.verify_chain(fresh=False))
        _checkpoint(next((a.get("chain") for a in answers if a.get("chain") is not None), None))
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
        width="stretch",
    )

    st.subheader("Dataset versions by state")
    with ui.api_errors("Dataset versions"):
        versions = [
            v
            for p in viewer.projects
            for d in api.datasets(int(p["id"]))
            for v in api.versions(int(p["id"]), d["name"])
        ]
        st.altair_chart(charts.state_chart(tables.state_counts(versions)), width="stretch", alt="versions by state")
    st.subheader("Latest gate verdicts")
    with ui.api_errors("Gate verdicts"):
        verdicts = [
            {"project": p["name"], **row}
            for p in viewer.projects
            for row in readable.readable_evaluation_rows(api.project_evaluations(int(p["id"]), limit=5))
        ]
        if verdicts:
            ui.verdict_table(verdicts, widths={"blocking": "large", "at": "medium"})
        else:
            st.caption("No gate evaluations yet.")

    st.subheader("Recent activity")
    if viewer.can_read_audit():
        with ui.api_errors("Recent activity"):
            names = {int(p["id"]): str(p["name"]) for p in viewer.projects}
            st.dataframe(
                readable.activity_rows(recent_events(api, viewer), projects=names),
                hide_index=True,
                width="stretch",
                column_config={"object": st.column_config.TextColumn("object", width="medium")},
            )
    else:
        st.caption("Activity is shown to compliance officers, ML engineers, reviewers and admins.")


if __name__ == "__main__":
    render()
