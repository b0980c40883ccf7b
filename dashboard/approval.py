"""The approval screen's decision part: the electronic signatures so far, the release rules and the authors
four-eyes excludes (``GET .../signoff``), the sign form only when a signature can count (the caller holds a
signing role, is not excluded, the version is a candidate whose latest evaluation passed, and they have not
signed it yet: the server's ``GET .../signable`` answers that), else one line saying why not; and the reject
form, never for a golden set (the reference other versions are measured against)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard import readable, signing, state, ui
from dashboard.access import Viewer
from dashboard.client import SIGNATURE_MEANINGS, Api, ApiError, Forbidden, NotAvailable

__all__ = ["FLASH", "render"]

FLASH = "dv_flash"


def _done(message: str) -> None:
    """After a decision: drop cached answers and show the page again, with ``message`` on top."""
    state.refresh()
    st.session_state[FLASH] = message
    st.rerun()


def _signoff(api: Api, ref: ui.VersionRef) -> Mapping[str, Any] | None:
    try:
        return api.signoff(ref.project_id, ref.dataset, ref.version)
    except NotAvailable:
        return None


def _four_eyes(answer: Mapping[str, Any] | None, ref: ui.VersionRef) -> None:
    """The release rules and who four-eyes excludes, by name."""
    if answer is None or not answer.get("evaluated"):
        return
    roles = " or ".join(str(r).replace("_", " ") for r in answer.get("approver_roles") or []) or "an approver"
    st.markdown(
        f"**Release rule**: {answer.get('approvals_needed')} approval(s) by a {roles}; "
        f"{answer.get('approvals_counting')} counting now."
    )
    excluded = answer.get("excluded") or []
    if not answer.get("four_eyes"):
        st.caption("Four-eyes is off in this version's policy: its authors may approve it.")
    elif excluded:
        names = ", ".join(f"{ui.plain(u.get('full_name'))} ({ui.plain(u.get('username'))})" for u in excluded)
        st.markdown(
            f":material/visibility_off: **Four-eyes**: these people labelled or changed {ref.ref} (or the labels "
            f"it inherited), so their approval does not count: {names}."
        )


def render(api: Api, viewer: Viewer, ref: ui.VersionRef, version_state: str, *, evaluated: bool, golden: bool) -> None:
    st.subheader("Approvals")
    if FLASH in st.session_state:
        st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")
    with ui.api_errors("Approvals"):
        approvals = api.approvals(ref.project_id, ref.dataset, ref.version)
        if approvals:
            st.dataframe(
                readable.readable_approval_rows(approvals),
                hide_index=True,
                width="stretch",
                column_config={
                    "content hash": st.column_config.TextColumn(help="shortened; the full value is in the API"),
                    "signature hash": st.column_config.TextColumn(help="shortened; the full value is in the API"),
                },
            )
        else:
            st.caption("No signatures yet.")
    with ui.api_errors("Four-eyes"):
        _four_eyes(_signoff(api, ref), ref)
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
        if golden:
            st.caption(
                f"{ref.ref} is a golden set, the reference other versions are measured against: it is not "
                "rejected here (register a new golden-set version instead)."
            )
        else:
            _reject_form(api, ref)


def _signing_answer(api: Api, ref: ui.VersionRef) -> Mapping[str, Any]:
    """The server's answer to "may I sign this version now?" (``{}`` from a server without the route: it
    still refuses at signing, with the reason)."""
    try:
        return api.signable(ref.project_id, ref.dataset, ref.version)
    except NotAvailable:
        return {}


def _approve_form(api: Api, ref: ui.VersionRef) -> None:
    """The sign form when an approval by the caller would count; otherwise the one-line reason why not."""
    answer: Mapping[str, Any] | None = None
    with ui.api_errors("Signing"):
        answer = _signing_answer(api, ref)
    if answer is None:
        return
    refused = {str(m): str(why) for m, why in (answer.get("meanings") or {}).items() if why}
    if "approval" in refused:
        reason = refused["approval"]
        if len(refused) == len(SIGNATURE_MEANINGS) and len(set(refused.values())) == 1:
            st.caption(f":material/lock: Signing is not open to you now: {ui.plain(reason)}")
        else:
            st.caption(f":material/lock: You may not approve {ref.ref}: {ui.plain(reason)}")
        if "signing secret" in reason:
            signing.secret_form(api, expanded=True)
        return
    offered = [m for m in SIGNATURE_MEANINGS if m not in refused]
    with st.form("approve_form", clear_on_submit=True):
        st.markdown("**Sign (electronic signature)**")
        meaning = st.radio(
            "Meaning of the signature",
            offered,
            index=offered.index("approval"),
            key="approve_meaning",
            horizontal=True,
        )
        secret = st.text_input("Signing secret (re-enter to sign)", type="password", key="approve_secret")
        confirm = st.checkbox(f"I sign {ref.ref} with the meaning above", key="approve_confirm")
        if st.form_submit_button("Sign and approve", type="primary"):
            if not secret or not confirm:
                st.error("Enter your signing secret and tick the confirmation to sign.")
            else:
                _sign(api, ref, meaning=str(meaning), secret=secret)
    signing.secret_form(api)


def _sign(api: Api, ref: ui.VersionRef, *, meaning: str, secret: str) -> None:
    try:
        api.approve(ref.project_id, ref.dataset, ref.version, meaning=meaning, signing_secret=secret)
    except Forbidden as exc:
        if exc.field == "secret":  # a wrong secret: say what to do here, not at a command line
            st.error(signing.WRONG_SECRET, icon=":material/key_off:")
        else:
            st.error(f"Signature refused: {exc.message}", icon=":material/block:")
        return
    except ApiError as exc:
        with ui.api_errors("Signature refused", refusal_is_error=True):
            raise exc
        return
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
