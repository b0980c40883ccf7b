"""Sign in with an API token; the token's user and roles decide every page and action offered afterwards."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.client import ApiError, Unauthorized


def render() -> None:
    st.title("labelgate")
    st.caption("Compliance dashboard: audit trail, dataset versions and their gates, lineage, reports.")
    with st.form("sign_in_form"):
        token = st.text_input(
            "API token", type="password", key="sign_in_token", help="A token issued by `labelgate token issue`"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    if not token.strip():
        st.error("Enter a token.", icon=":material/key:")
        return
    try:
        state.sign_in(token)
    except Unauthorized as exc:
        st.error(f"Sign-in refused: {exc.message}.", icon=":material/lock:")
        return
    except ApiError as exc:
        st.error(f"Cannot sign in: {exc.message}", icon=":material/cloud_off:")
        return
    st.rerun()


if __name__ == "__main__":
    render()
