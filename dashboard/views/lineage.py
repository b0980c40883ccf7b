"""Lineage explorer: an annotation's chain of corrections and copies, a version's ancestry as a graph, and a
version's live labels drawn item by item (boxes, polygons, masks, keypoints, tags)."""

from __future__ import annotations

import streamlit as st

from dashboard import graphs, labelview, state, ui


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Lineage explorer")
    by_label, by_version, on_items = st.tabs(["Annotation", "Dataset version", "Labels on an item"])
    with by_label:
        pid = ui.pick_project(viewer.projects, key="lin_ann_project")
        aid = st.number_input("Annotation id", min_value=1, value=None, step=1, key="lin_annotation_id")
        if pid is not None and aid is not None:
            with ui.api_errors("Annotation lineage"):
                lin = api.annotation_lineage(pid, int(aid))
                st.markdown(f"Annotation **#{lin.get('annotation_id')}** in {lin.get('version')}"
                            f" · {'live' if lin.get('live') else 'superseded or deleted'}")  # fmt: skip
                st.graphviz_chart(graphs.annotation_dot(lin))
                steps = list(lin.get("history", [])) + list(lin.get("superseded_by", []))
                st.dataframe(
                    [
                        {
                            "id": s.get("id"),
                            "version": s.get("version"),
                            "category": s.get("category"),
                            "kind": s.get("kind"),
                            "provenance": str(s.get("provenance")),
                            "at": s.get("created_at"),
                        }
                        for s in steps
                    ],
                    hide_index=True,
                )
                st.markdown("**Versions holding it**")
                st.dataframe(lin.get("versions", []), hide_index=True)
    with by_version:
        ref = ui.pick_version(api, viewer.projects, key="lin_v")
        if ref is not None:
            with ui.api_errors("Version lineage"):
                lin = api.version_lineage(ref.project_id, ref.dataset, ref.version)
                st.graphviz_chart(graphs.ancestry_dot(lin.get("ancestry", [])))
                st.caption(f"{lin.get('labels')} live labels; manifest `{str(lin.get('manifest_hash'))[:16]}…`")
    with on_items:
        ref = ui.pick_version(api, viewer.projects, key="lin_items")
        if ref is not None:
            labelview.item_browser(api, ref, key="lin_items")


if __name__ == "__main__":
    render()
