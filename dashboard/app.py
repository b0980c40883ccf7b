"""The labelgate compliance dashboard (Streamlit entry point).

Run it with ``labelgate dashboard`` or ``streamlit run dashboard/app.py -- --api-url URL``. Until a token
is accepted only the sign-in page exists; afterwards the pages the caller's roles allow
(:meth:`dashboard.access.Viewer.pages`) are the only ones registered, so the others have no URL at all.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import state
from dashboard.access import PAGES

VIEWS = Path(__file__).resolve().parent / "views"
_ICONS = {
    "sign_in": ":material/login:",
    "overview": ":material/dashboard:",
    "audit_trail": ":material/policy:",
    "dataset_version": ":material/dataset:",
    "lineage": ":material/account_tree:",
    "autolabel": ":material/smart_toy:",
    "reports": ":material/description:",
    "annotators": ":material/groups:",
}


def _sidebar() -> None:
    viewer = state.viewer()
    if viewer is None:
        return
    with st.sidebar:
        st.markdown(f"Signed in as **{viewer.username}**" + (" · admin" if viewer.is_admin else ""))
        for p in viewer.projects:
            st.caption(f"{p['name']}: {viewer.role_label(int(p['id']))}")
        cols = st.columns(2)
        if cols[0].button("Refresh", key="refresh", icon=":material/refresh:", help="Fetch fresh data from the API"):
            state.refresh()
            st.rerun()
        if cols[1].button("Sign out", key="sign_out", icon=":material/logout:"):
            state.sign_out()
            st.rerun()


def main() -> None:
    st.set_page_config(page_title="labelgate", page_icon=":material/verified_user:", layout="wide")
    viewer = state.viewer()
    if viewer is None:
        pages = [st.Page(VIEWS / "sign_in.py", title="Sign in", icon=_ICONS["sign_in"], url_path="sign_in")]
    else:
        pages = [
            st.Page(VIEWS / f"{page}.py", title=PAGES[page], icon=_ICONS[page], url_path=page, default=i == 0)
            for i, page in enumerate(viewer.pages())
        ]
    current = st.navigation(pages)
    _sidebar()
    current.run()


if __name__ == "__main__":
    main()
