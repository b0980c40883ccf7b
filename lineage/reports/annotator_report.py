"""The annotator report of a dataset version: each annotator's KPIs (``lineage.reports.annotators``) with
golden-set error and agreement (``lineage.reports.annotators_quality``), and the same KPIs for every
version of the dataset up to it, in version order (the trend), as JSON-ready data, CSV or HTML.

**The golden set** measured against: the one named by the caller (``NAME@VERSION``), else the one the
version's latest gate evaluation used, else the newest version of the project's golden set when it has
exactly one; otherwise golden-set error is None with its reason. **Nothing of the golden set's items
leaves the report**: only each annotator's error, interval and number of trials. ``only`` restricts the
report to one annotator (what an annotator may see of it).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from lineage.gates.golden import get_golden_set
from lineage.models import Dataset, DatasetVersion, GateEvaluation, GoldenSet
from lineage.reports.annotators import KPI_NAMES, AnnotatorKpis, annotator_kpis, kpi_rows
from lineage.reports.annotators_quality import annotator_quality

__all__ = [
    "CSV_COLUMNS",
    "AnnotatorReport",
    "VersionKpis",
    "annotator_report",
    "choose_golden",
    "report_csv",
    "report_html",
]

#: The columns of the CSV form, one row per (version, annotator).
CSV_COLUMNS = (
    "version",
    "annotator",
    "labels",
    "images",
    "units",
    "seconds_per_image",
    "seconds_per_object",
    "labels_per_hour",
    "reviewed",
    "review_latency_s",
    "rework_rate",
    "corrected",
    "rejected",
    "superseded",
    "golden_error",
    "golden_low",
    "golden_high",
    "golden_trials",
    "alpha",
    "alpha_units",
    "reasons",
)

DEFINITIONS = {
    "seconds_per_image": "median over images of the lead time the annotator spent on each (tool lead times)",
    "seconds_per_object": "median over units of work of lead time / labels in the unit",
    "labels_per_hour": "labels in timed units / hours of lead time",
    "review_latency_s": "median time from a label being made to its first review decision",
    "rework_rate": "share of their labels corrected or rejected in review, or superseded by another person",
    "golden_error": "(FP + FN) / (2·TP + FP + FN) against the golden set on the golden images they labelled; "
    "Wilson 95 % interval",
    "alpha": "Krippendorff's alpha (nominal) of the annotator against the others, pooled over shared units",
}


@dataclass(frozen=True)
class VersionKpis:
    """The annotators' KPIs of one version."""

    version: str
    annotators: list[AnnotatorKpis]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "annotators": [_clean(a.to_dict()) for a in self.annotators]}


@dataclass(frozen=True)
class AnnotatorReport:
    """The report of ``dataset@version``: its annotators and the trend over its versions up to it."""

    dataset: str
    version: str
    golden_set: str | None
    annotators: list[AnnotatorKpis]
    trend: list[VersionKpis] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "golden_set": self.golden_set,
            "annotators": [_clean(a.to_dict()) for a in self.annotators],
            "trend": [t.to_dict() for t in self.trend],
            "definitions": dict(DEFINITIONS),
        }


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities as None (JSON has neither)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def choose_golden(
    session: Session, *, project_id: int, version: DatasetVersion, ref: str | None = None
) -> GoldenSet | None:
    """The golden set the report measures against (module docstring); ``NotFound`` for an unknown ``ref``."""
    if ref:
        return get_golden_set(session, project_id=project_id, ref=ref)
    latest = session.exec(
        select(GateEvaluation)
        .where(GateEvaluation.dataset_version_id == version.id, col(GateEvaluation.golden_set_id).is_not(None))
        .order_by(col(GateEvaluation.id).desc())
    ).first()
    if latest is not None and latest.golden_set_id is not None:
        return session.get(GoldenSet, latest.golden_set_id)
    sets = list(session.exec(select(GoldenSet).where(GoldenSet.project_id == project_id)))
    if len({g.name for g in sets}) == 1:
        return max(sets, key=lambda g: g.version)
    return None


def version_kpis(session: Session, version: DatasetVersion, *, golden: GoldenSet | None) -> list[AnnotatorKpis]:
    """Every annotator's KPIs in one version."""
    rows, reviews, users = kpi_rows(session, version_id=version.id or 0)
    quality = annotator_quality(session, version=version, golden=golden)
    return annotator_kpis(rows, reviews, users=users, quality=quality)


def annotator_report(
    session: Session,
    *,
    dataset: Dataset,
    version: DatasetVersion,
    golden: GoldenSet | None,
    only: str | None = None,
    trend: bool = True,
) -> AnnotatorReport:
    """The report of ``version`` (and, with ``trend``, of every version of ``dataset`` created up to it, in
    order); ``only``: keep that annotator's rows alone."""
    versions = [version]
    if trend:
        versions = list(
            session.exec(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == dataset.id, col(DatasetVersion.id) <= (version.id or 0))
                .order_by(col(DatasetVersion.id))
            )
        )
    per = {v.id: version_kpis(session, v, golden=golden) for v in versions}
    if only is not None:
        per = {k: [a for a in rows if a.annotator == only] for k, rows in per.items()}
    return AnnotatorReport(
        dataset=dataset.name,
        version=version.version,
        golden_set=f"{golden.name}@{golden.version}" if golden is not None else None,
        annotators=per[version.id],
        trend=[VersionKpis(v.version, per[v.id]) for v in versions] if trend else [],
    )


def _rows(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    trend = data.get("trend") or [{"version": data["version"], "annotators": data["annotators"]}]
    return [(t["version"], a) for t in trend for a in t["annotators"]]


def report_csv(data: dict[str, Any]) -> str:
    """CSV of :meth:`AnnotatorReport.to_dict` data: one row per version and annotator (the trend, or the
    version alone); an empty cell is a KPI that could not be computed, its reason in ``reasons``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for version, a in _rows(data):
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted((a.get("reasons") or {}).items()))
        values = [version, *(a.get(c) for c in CSV_COLUMNS[1:-1]), reasons]
        writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def _show(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def report_html(data: dict[str, Any]) -> str:
    """Self-contained HTML of :meth:`AnnotatorReport.to_dict` data (``lineage/templates/annotators.html.j2``):
    the version's table, the trend per KPI, and every "—" with its reason."""
    from lineage.reports.html import render

    rows = []
    for a in data["annotators"]:
        rows.append(
            {
                "annotator": a["annotator"],
                "labels": a["labels"],
                "images": a["images"],
                "spi": _show(a["seconds_per_image"]),
                "spo": _show(a["seconds_per_object"]),
                "lph": _show(a["labels_per_hour"]),
                "latency": _show(a["review_latency_s"] / 3600 if a["review_latency_s"] is not None else None, 2),
                "rework": _show(a["rework_rate"] * 100 if a["rework_rate"] is not None else None),
                "rework_counts": f"{a['corrected']} / {a['rejected']} / {a['superseded']}",
                "golden": _show(a["golden_error"] * 100 if a["golden_error"] is not None else None),
                "golden_ci": (
                    f"{a['golden_low'] * 100:.1f}–{a['golden_high'] * 100:.1f}"
                    if a["golden_low"] is not None and a["golden_high"] is not None
                    else "—"
                ),
                "alpha": _show(a["alpha"], 3),
                "reasons": sorted((a.get("reasons") or {}).items()),
            }
        )
    trend = []
    for name in KPI_NAMES:
        series = [(t["version"], {a["annotator"]: a.get(name) for a in t["annotators"]}) for t in data["trend"]]
        trend.append({"kpi": name, "series": series})
    people = sorted({a["annotator"] for t in data["trend"] for a in t["annotators"]})
    return render(
        "annotators.html.j2",
        data=data,
        rows=rows,
        trend=trend,
        people=people,
        show=_show,
        definitions=DEFINITIONS,
    )
