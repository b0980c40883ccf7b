"""Auto-label runs: state, progress, throughput, thresholds, and the review queue size."""

from __future__ import annotations

import streamlit as st

from dashboard import state, tables, ui


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Auto-label runs")
    pid = ui.pick_project(viewer.projects, key="al_project")
    if pid is None:
        return
    with ui.api_errors("Review queue"):
        st.metric("Items waiting for human review", api.review_queue_size(pid))
    with ui.api_errors("Auto-label runs"):
        rows = tables.run_rows(api.autolabel_runs(pid))
        if not rows:
            st.caption("No auto-label run in this project yet.")
            return
        st.dataframe(
            rows,
            hide_index=True,
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
                "images_per_s": st.column_config.NumberColumn("images/s", format="%.1f"),
            },
        )


if __name__ == "__main__":
    render()
