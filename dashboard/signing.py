"""The signing secret on the approval screen: what a refused secret means for the person at the screen, and
a form to set a first secret (with an admin's one-time enrolment code) or change it, over ``PUT
/me/signing-secret``, so nobody is sent to a command line to sign."""

from __future__ import annotations

import streamlit as st

from dashboard import ui
from dashboard.client import Api

__all__ = ["NO_SECRET", "WRONG_SECRET", "secret_form"]

WRONG_SECRET = (
    "The signing secret did not match, so nothing was signed. Re-enter it; if you have forgotten it or never "
    "set one, ask an admin for an enrolment code and set a new secret under “Set or change your signing "
    "secret” below."
)
NO_SECRET = (
    "You have no signing secret yet: ask an admin for an enrolment code and set one under “Set or change your "
    "signing secret” below."
)


def secret_form(api: Api, *, expanded: bool = False) -> None:
    """An expander with the form: new secret twice, and the enrolment code (first secret) or the current
    secret (a change). The server checks the code or the current secret; its refusal is shown here."""
    with (
        st.expander("Set or change your signing secret", icon=":material/key:", expanded=expanded),
        st.form("signing_secret_form", clear_on_submit=True),
    ):
        st.caption(
            "A first secret needs the one-time enrolment code an admin gave you; a change needs your current "
            "secret. The secret is re-entered at each signature (8 to 200 characters)."
        )
        code = st.text_input("Enrolment code (first secret)", type="password", key="secret_code")
        current = st.text_input("Current secret (to change it)", type="password", key="secret_current")
        new = st.text_input("New signing secret", type="password", key="secret_new")
        again = st.text_input("New signing secret, again", type="password", key="secret_again")
        if st.form_submit_button("Save signing secret"):
            if len(new) < 8 or new != again:
                st.error("Type the same new secret twice, at least 8 characters.")
            elif not code and not current:
                st.error("Enter the enrolment code an admin gave you, or your current secret.")
            else:
                with ui.api_errors("Signing secret not set", refusal_is_error=True):
                    api.set_signing_secret(secret=new, enrolment_code=code or None, current=current or None)
                    st.success("Signing secret saved: use it to sign.", icon=":material/check_circle:")
