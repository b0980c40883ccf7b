"""The approval screen's "What changed since the last release, and who changed it": the label diff of the
version being approved against the dataset's last release (else its parent), per class and per author, and
its first changes.

The call is made here (``GET /projects/{id}/datasets/{dataset}/diff?to=...``: ``service/api/routes/diff.py``,
the answer is its ``LabelDiffPublic``); the page (``dashboard.views.dataset_version``) only calls
:func:`render_changes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import streamlit as st

from dashboard import ui
from dashboard.client import Api, ApiError, NotAvailable

__all__ = ["DIFF_PATH", "change_rows", "fetch_diff", "render_changes", "summary_text"]

#: The label diff route (``from`` left out: the server compares with the last release, else the parent).
DIFF_PATH = "/api/v1/projects/{project_id}/datasets/{dataset}/diff"
#: How many changes the screen lists (the counts always cover the whole diff).
LISTED = 50
_BASELINE = {"release": "the last release", "parent": "the parent version"}


def fetch_diff(api: Api, ref: ui.VersionRef, *, limit: int = LISTED) -> dict[str, Any]:
    """``GET .../datasets/{dataset}/diff?to={version}`` → ``{dataset, from_version, to_version, baseline, iou,
    totals, classes, class_changes, authors, items, changes, changes_total, offset, limit}``."""
    path = DIFF_PATH.format(project_id=ref.project_id, dataset=quote(ref.dataset, safe=""))
    return dict(api.get(path, {"to": ref.version, "limit": limit}))


def summary_text(d: Mapping[str, Any]) -> str:
    t = d["totals"]
    base = _BASELINE.get(str(d.get("baseline")), "the chosen version")
    text = (
        f"Compared with **{d['dataset']}@{d['from_version']}** ({base}), shapes matching at IoU ≥ {d['iou']:g}: "
        f"{t['unchanged']} unchanged, **{t['changed']} changed, {t['added']} added, {t['removed']} removed** "
        f"on {t['items_changed']} item(s)"
    )
    if t.get("moved"):
        text += f"; {t['moved']} moved within the threshold"
    return text + "."


def change_rows(d: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per listed change: what, where, both sides' ids and classes, who."""
    rows = []
    for c in d.get("changes") or []:
        what = ", ".join(c.get("fields") or []) or c["change"]
        if c.get("attributes"):
            what += f" ({', '.join(c['attributes'])})"
        who = c.get("author") if c["change"] != "removed" else (c.get("removed_by") or c.get("from_author"))
        rows.append(
            {
                "change": c["change"],
                "item": c["uri"],
                "from": f"#{c['from_id']} {c['from_class']}" if c.get("from_id") is not None else "",
                "to": f"#{c['to_id']} {c['to_class']}" if c.get("to_id") is not None else "",
                "what": what,
                "IoU": None if c.get("iou") is None else round(float(c["iou"]), 3),
                "by": who or "",
            }
        )
    return rows


def render_changes(api: Api, ref: ui.VersionRef) -> None:
    """The section; a version with nothing to compare with (no release, no parent) says so."""
    st.subheader("What changed since the last release, and who changed it")
    with ui.api_errors("Label changes"):
        try:
            d = fetch_diff(api, ref)
        except NotAvailable:
            raise
        except ApiError as exc:
            if exc.status == 422 and exc.field == "from":
                st.caption("Nothing to compare with: the dataset has no release and this version no parent.")
                return
            raise
        st.markdown(summary_text(d))
        if d.get("class_changes"):
            moves = ", ".join(f"{c['from']} → {c['to']} ({c['count']})" for c in d["class_changes"])
            st.caption(f"Class changes: {moves}")
        if not d.get("changes_total"):
            return
        left, right = st.columns(2)
        with left:
            st.markdown("**Per class**")
            st.dataframe(d["classes"], hide_index=True)
        with right:
            st.markdown("**Who changed it**")
            authors = [
                {k: a[k] for k in ("author", "kind", "added", "changed", "removed", "deleted")} for a in d["authors"]
            ]
            st.dataframe(authors, hide_index=True)
        shown = len(d.get("changes") or [])
        st.markdown(f"**Changes** ({shown} of {d['changes_total']} shown)")
        st.dataframe(
            change_rows(d),
            hide_index=True,
            width="stretch",
            column_config={"item": st.column_config.TextColumn("item", width="large")},
        )
