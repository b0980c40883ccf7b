"""Annotators: per dataset version each annotator's KPIs (speed from the tools' lead times, review latency,
rework, golden-set error with its interval, agreement), and a KPI's trend across the dataset's versions.
An annotator sees only their own row; golden items are never listed."""

from __future__ import annotations

import streamlit as st

from dashboard import kpis, state, ui


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Annotators")
    ref = ui.pick_version(api, viewer.projects_where("annotator_kpis"), key="kpi")
    if ref is None:
        return
    with ui.api_errors(f"Annotator KPIs of {ref.ref}"):
        report = kpis.annotator_report(api, ref.project_id, ref.dataset, ref.version)
        golden = report.get("golden_set")
        st.caption(
            f"Golden set: {golden}" if golden else "No golden set measured against (golden-set error not shown)."
        )
        versions = [t["version"] for t in report["trend"]] or [report["version"]]
        by_version = {t["version"]: t["annotators"] for t in report["trend"]} or {
            report["version"]: report["annotators"]
        }
        shown = st.selectbox("Version", list(reversed(versions)), key=f"kpi_table_{ref.ref}")
        annotators = by_version.get(shown, [])
        st.subheader(f"{ref.dataset}@{shown}")
        if annotators:
            st.dataframe(kpis.kpi_rows(annotators), hide_index=True)
            for line in kpis.reason_lines(annotators):
                st.caption(line)
        else:
            st.caption("No annotator work is recorded in this version (imported or machine labels only).")
        st.subheader("Trend across versions")
        kpi = st.selectbox(
            "KPI", list(kpis.TREND_KPIS), format_func=kpis.TREND_KPIS.__getitem__, key=f"kpi_trend_{ref.ref}"
        )
        st.altair_chart(kpis.trend_chart(report["trend"], kpi), width="stretch")
        with st.expander("Definitions"):
            for name, text in report.get("definitions", {}).items():
                st.markdown(f"**{name}**: {text}")


if __name__ == "__main__":
    render()
