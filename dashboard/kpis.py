"""Annotator KPIs in the dashboard: the API call (``GET .../versions/{version}/annotators``) and its
shaping into a table per version and a trend chart across versions, as pure functions (no Streamlit).

A KPI the server could not compute comes as None with its reason; the table shows "—" and the reasons are
listed under it, never a 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import altair as alt

from dashboard.client import Api

__all__ = ["TREND_KPIS", "annotator_report", "kpi_rows", "reason_lines", "trend_chart"]

#: KPI key → label, for the trend chart's picker and the table's columns.
TREND_KPIS: dict[str, str] = {
    "seconds_per_image": "seconds per image (median)",
    "seconds_per_object": "seconds per object (median)",
    "labels_per_hour": "labels per hour",
    "review_latency_s": "review latency (s, median)",
    "rework_rate": "rework rate",
    "golden_error": "golden-set error",
    "alpha": "agreement (Krippendorff's alpha)",
}


def annotator_report(api: Api, project_id: int, dataset: str, version: str, *, trend: bool = True) -> dict[str, Any]:
    """``GET /projects/{id}/datasets/{dataset}/versions/{version}/annotators`` → ``{dataset, version,
    golden_set, annotators: [...], trend: [{version, annotators}], definitions}``."""
    path = (
        f"/api/v1/projects/{project_id}/datasets/{quote(dataset, safe='')}/versions/{quote(version, safe='')}"
        "/annotators"
    )
    return dict(api.get(path, {"trend": "true" if trend else "false"}))


def _show(value: Any, *, percent: bool = False, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if percent:
        return f"{100 * float(value):.{digits}f} %"
    return f"{float(value):.{digits}f}" if isinstance(value, float) else str(value)


def kpi_rows(annotators: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One table row per annotator, "—" where a KPI could not be computed."""
    rows = []
    for a in annotators:
        low, high = a.get("golden_low"), a.get("golden_high")
        rows.append(
            {
                "annotator": a["annotator"],
                "labels": a["labels"],
                "images": a["images"],
                "s / image": _show(a.get("seconds_per_image")),
                "s / object": _show(a.get("seconds_per_object")),
                "labels / h": _show(a.get("labels_per_hour")),
                "review latency (h)": _show(
                    a["review_latency_s"] / 3600 if a.get("review_latency_s") is not None else None, digits=2
                ),
                "rework": _show(a.get("rework_rate"), percent=True),
                "corrected / rejected / superseded": f"{a['corrected']} / {a['rejected']} / {a['superseded']}",
                "golden error": _show(a.get("golden_error"), percent=True),
                "golden 95 % interval": (
                    f"{100 * low:.1f}–{100 * high:.1f} %" if low is not None and high is not None else "—"
                ),
                "alpha": _show(a.get("alpha"), digits=3),
            }
        )
    return rows


def reason_lines(annotators: Sequence[Mapping[str, Any]]) -> list[str]:
    """``annotator: kpi — reason`` for every KPI shown as "—"."""
    return [
        f"{a['annotator']}: {kpi} — {why}" for a in annotators for kpi, why in sorted((a.get("reasons") or {}).items())
    ]


def trend_chart(trend: Sequence[Mapping[str, Any]], kpi: str) -> alt.Chart:
    """``kpi`` per annotator across versions (in the report's version order); None values are left out."""
    order = [str(t["version"]) for t in trend]
    rows = [
        {"version": str(t["version"]), "annotator": a["annotator"], "value": a.get(kpi)}
        for t in trend
        for a in t["annotators"]
        if isinstance(a.get(kpi), int | float) and math.isfinite(a[kpi])
    ]
    if not rows:
        chart: alt.Chart = (
            alt.Chart(alt.Data(values=[{"text": f"no {TREND_KPIS.get(kpi, kpi)} in any version"}]))  # type: ignore[no-untyped-call]
            .mark_text()
            .encode(text="text:N")
        )
        return chart
    line: alt.Chart = (
        alt.Chart(alt.Data(values=rows))  # type: ignore[no-untyped-call]
        .mark_line(point=True)
        .encode(
            x=alt.X("version:N", sort=order, title="version"),
            y=alt.Y("value:Q", title=TREND_KPIS.get(kpi, kpi)),
            color=alt.Color("annotator:N"),
            tooltip=["version:N", "annotator:N", "value:Q"],
        )
        .properties(title=f"{TREND_KPIS.get(kpi, kpi)} across versions")
    )
    return line
