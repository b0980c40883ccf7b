"""Evidence plots as pure functions: plain dicts and lists in, an Altair (Vega-Lite) chart out.

No Streamlit and no I/O here: pages pass the evidence a gate evaluation returned and show the chart with
``st.altair_chart``. Every function accepts empty input and then returns a chart that says "no data".
Values of ``None`` (a metric the inputs did not define; NaN in the API's JSON) are left out of a chart.

What a stored evaluation (``GET .../evaluations``, ``GateReport.to_dict()``) carries, per gate's ``evidence``:

- ``golden_set_error``: ``{iou, model_threshold, trials, errors, wilson: [lo, hi], clopper_pearson: [lo, hi],
  per_source: {source: {error, tp, fp, fn, wilson, clopper_pearson}}}`` (sources: annotators and
  ``model:NAME@VERSION``) → :func:`golden_error_chart`.
- ``krippendorff_alpha``: ``{level, iou, units, pairable_units, coders, per_class: {class: alpha}}`` →
  :func:`alpha_chart`.
- ``precision`` / ``recall`` / ``f1``: ``{threshold, iou, baseline, tp, fp, fn, per_class: {class: value},
  f1_optimal_threshold: {class: score}}`` → :func:`per_class_chart`, :func:`optimal_threshold_chart`.
- ``map`` / ``ap50``: ``{baseline, coco_stats, per_class: {class: AP}}`` → :func:`per_class_chart`.
- ``class_drift_psi`` / ``class_drift_js``: ``{current: {class: share}, parent: {class: share},
  pending_schema_changes, ...}`` → :func:`drift_chart`.
- ``expectations`` (``outcomes``) and ``review_coverage`` (counts) are tables, not plots.

The evaluation's top-level ``per_class`` holds every class's metrics (``precision``, ``recall``, ``f1``, ``ap``,
``ap50``, ``golden_error``, ``krippendorff_alpha``, ...). Its ``evidence`` carries the report's plot data,
computed once when the gates run (``quality_gates.plots``), whenever the inputs held golden labels and
predictions (both keys, or neither): ``pr_curves`` (``{class: {thresholds: [...], precision: [...],
recall: [...]}}``, thresholds descending, at most 200 points a class) → :func:`pr_curves_chart`, and
``confusion_matrix`` (``{labels: [class..., "background"], matrix: [[count]], iou}``, rows golden, columns
predicted, at the model threshold) → :func:`confusion_matrix_chart`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt

__all__ = [
    "Chart",
    "alpha_chart",
    "confusion_matrix_chart",
    "drift_chart",
    "golden_error_chart",
    "optimal_threshold_chart",
    "per_class_chart",
    "pr_curves_chart",
    "provenance_chart",
    "state_chart",
    "threshold_points",
]

Chart = alt.Chart | alt.LayerChart
#: Pixels per class of a confusion matrix's side (the chart is sized to the class count, 320 to 900 px).
CM_CELL_PX = 64
_BOUND = "#d62728"  # the colour of a policy bound (threshold line / marker)


def _data(rows: list[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _class_axis(title: str = "class") -> alt.X:
    """A class axis whose labels read at 45° (not turned 90°), long names kept whole."""
    return alt.X("class:N", title=title, axis=alt.Axis(labelAngle=-45, labelLimit=180, labelOverlap=False))


def _layer(*charts: alt.Chart) -> alt.LayerChart:
    return alt.LayerChart(layer=list(charts))


def _no_data(message: str = "no data") -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(_data([{"message": message}]))
        .mark_text(size=14, color="gray")
        .encode(text="message:N")
        .properties(height=60)
    )
    return chart


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def threshold_points(
    curves: Mapping[str, Mapping[str, Sequence[float | None]]], threshold: float | Mapping[str, float] | None
) -> list[dict[str, Any]]:
    """Per class, the curve point in force at the confidence threshold: the last point whose threshold is
    ``>=`` it (predictions scoring at least the threshold count). A class with no such point (threshold
    above every score, or an undefined value there) gets none; ``threshold`` None gives ``[]``.
    """
    if threshold is None:
        return []
    out = []
    for cls, c in curves.items():
        thr = threshold.get(cls) if isinstance(threshold, Mapping) else threshold
        if not _finite(thr):
            continue
        ts = list(c["thresholds"])
        idx = [i for i, t in enumerate(ts) if _finite(t) and t >= thr]  # type: ignore[operator]
        if not idx:
            continue
        i = idx[-1]
        p, r = c["precision"][i], c["recall"][i]
        if _finite(p) and _finite(r):
            out.append({"class": cls, "recall": r, "precision": p, "threshold": thr, "score": ts[i]})
    return out


def pr_curves_chart(
    curves: Mapping[str, Mapping[str, Sequence[float | None]]],
    *,
    threshold: float | Mapping[str, float] | None = None,
    title: str = "Precision–recall",
) -> Chart:
    """Precision (y) against recall (x) per class, with a diamond where each class's threshold puts it.

    Args:
        curves: class → ``precision``, ``recall``, ``thresholds`` of equal length.
        threshold (None): one confidence threshold for all classes, or one per class; None: no marker.
        title ("Precision–recall"): the plot's title (the task's matching, e.g. "Precision–recall, OKS"),
            followed by " per class" or " (◆ threshold)".
    """
    rows = [
        {"class": cls, "recall": r, "precision": p, "threshold": t}
        for cls, c in curves.items()
        for p, r, t in zip(c["precision"], c["recall"], c["thresholds"], strict=True)
        if _finite(p) and _finite(r)
    ]
    if not rows:
        return _no_data("no PR curve data")
    unit = alt.Scale(domain=[0, 1])
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("recall:Q", scale=unit, title="recall"),
        y=alt.Y("precision:Q", scale=unit, title="precision"),
        color=alt.Color("class:N", title="class"),
    )
    lines = base.mark_line(point=True).encode(tooltip=["class:N", "threshold:Q", "precision:Q", "recall:Q"])
    marks = threshold_points(curves, threshold)
    if not marks:
        chart: alt.Chart = lines.properties(title=f"{title} per class")
        return chart
    markers = (
        alt.Chart(_data(marks))
        .mark_point(shape="diamond", size=160, filled=True, stroke=_BOUND, strokeWidth=2)
        .encode(
            x="recall:Q",
            y="precision:Q",
            color="class:N",
            tooltip=["class:N", "threshold:Q", "precision:Q", "recall:Q"],
        )
    )
    return _layer(lines, markers).properties(title=f"{title} (◆ threshold)")


def confusion_matrix_chart(
    labels: Sequence[str], matrix: Sequence[Sequence[int]], *, title: str = "Confusion matrix"
) -> Chart:
    """Heat map of counts, rows the true class, columns the predicted one, titled ``title``; raises ValueError
    on a shape that does not match ``labels`` (a square matrix of ``len(labels)`` rows)."""
    if not labels:
        return _no_data("no confusion matrix")
    n = len(labels)
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError(f"confusion matrix must be {n}×{n} for labels {list(labels)}")
    rows = [
        {"truth": labels[i], "predicted": labels[j], "count": int(matrix[i][j])} for i in range(n) for j in range(n)
    ]
    order = list(labels)
    top = max((int(matrix[i][j]) for i in range(n) for j in range(n)), default=0)
    side = max(320, min(900, CM_CELL_PX * n))  # sized to the class count: every cell readable
    axis = alt.Axis(labelAngle=-45, labelLimit=180, labelOverlap=False)
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("predicted:N", sort=order, title="predicted", axis=axis),
        y=alt.Y("truth:N", sort=order, title="ground truth", axis=alt.Axis(labelLimit=180)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")), tooltip=["truth:N", "predicted:N", "count:Q"]
    )
    # White on dark cells, near-black on light ones: the count stays legible on every shade.
    text = base.mark_text(fontSize=14, fontWeight="bold").encode(
        text="count:Q",
        color=alt.condition(f"datum.count > {top / 2}", alt.value("white"), alt.value("#1b1b1b")),
    )
    return _layer(cells, text).properties(title=title, width=side, height=side)


def golden_error_chart(
    per_source: Mapping[str, Mapping[str, Any]], *, max_error: float | None = None, interval: str = "clopper_pearson"
) -> Chart:
    """Golden-set error per annotator (or model run) with its confidence interval, and the policy's maximum.

    Args:
        per_source: source → ``error`` and ``interval`` as ``[low, high]`` (plus tp/fp/fn for tooltips).
        max_error (None): the gate's bound, drawn as a vertical rule.
        interval ("clopper_pearson"): which interval of the evidence to draw (or "wilson").
    """
    rows = []
    for source, s in per_source.items():
        err = s["error"]
        if not _finite(err):
            continue
        bounds = list(s.get(interval) or [])
        lo, hi = (bounds[0], bounds[1]) if len(bounds) == 2 else (err, err)
        rows.append(
            {
                "source": source,
                "error": err,
                "low": lo if _finite(lo) else err,
                "high": hi if _finite(hi) else err,
                **{k: s.get(k) for k in ("tp", "fp", "fn")},
            }
        )
    if not rows:
        return _no_data("no golden-set error per source")
    base = alt.Chart(_data(rows)).encode(y=alt.Y("source:N", title=None, axis=alt.Axis(labelLimit=260)))
    axis_title = f"golden-set error ({interval.replace('_', '–').title()} interval)"
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title=axis_title), x2="high:Q")
    points = base.mark_point(filled=True, size=80).encode(
        x="error:Q", tooltip=["source:N", "error:Q", "low:Q", "high:Q", "tp:Q", "fp:Q", "fn:Q"]
    )
    layers: list[alt.Chart] = [bars, points]
    if _finite(max_error):
        layers.append(_rule_x(max_error, "max"))  # type: ignore[arg-type]
    return _layer(*layers).properties(title="Golden-set error per source")


def _rule_x(value: float, label: str) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(_data([{"bound": value, "label": label}]))
        .mark_rule(color=_BOUND, strokeDash=[6, 4])
        .encode(x="bound:Q", tooltip=["label:N", "bound:Q"])
    )
    return chart


def _rule_y(value: float, label: str) -> alt.Chart:
    chart: alt.Chart = (
        alt.Chart(_data([{"bound": value, "label": label}]))
        .mark_rule(color=_BOUND, strokeDash=[6, 4])
        .encode(y="bound:Q", tooltip=["label:N", "bound:Q"])
    )
    return chart


def alpha_chart(per_class: Mapping[str, float | None], *, min_alpha: float | None = None) -> Chart:
    """Krippendorff's alpha per class as bars, the policy's minimum as a horizontal rule."""
    rows = [{"class": c, "alpha": a} for c, a in per_class.items() if _finite(a)]
    if not rows:
        return _no_data("no alpha per class")
    bars = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=_class_axis(),
            y=alt.Y("alpha:Q", title="Krippendorff's alpha"),
            tooltip=["class:N", "alpha:Q"],
        )
    )
    if not _finite(min_alpha):
        chart: alt.Chart = bars.properties(title="Agreement per class")
        return chart
    return _layer(bars, _rule_y(min_alpha, "min")).properties(title="Agreement per class")  # type: ignore[arg-type]


def drift_chart(current: Mapping[str, float | None], parent: Mapping[str, float | None]) -> Chart:
    """Class shares of this version next to its parent's (grouped bars)."""
    rows = [
        {"class": c, "version": which, "share": v}
        for which, dist in (("parent", parent), ("this version", current))
        for c, v in dist.items()
        if _finite(v)
    ]
    if not rows:
        return _no_data("no class distribution")
    chart: alt.Chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=_class_axis(),
            xOffset=alt.XOffset("version:N", sort=["parent", "this version"]),
            y=alt.Y("share:Q", title="share of labels", axis=alt.Axis(format="%")),
            color=alt.Color("version:N", sort=["parent", "this version"], title=None),
            tooltip=["class:N", "version:N", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(title="Class distribution vs parent")
    )
    return chart


#: Display names of per-class metric keys.
METRIC_TITLES: dict[str, str] = {
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "ap": "AP@[.50:.95]",
    "ap50": "AP50",
}


def per_class_chart(
    per_class: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str],
    *,
    bounds: Mapping[str, float | None] | None = None,
) -> Chart:
    """Per class, one bar per metric (grouped), each policy minimum a dashed rule in its metric's colour.

    Args:
        per_class: class → metric key → value (the evaluation's ``per_class``); undefined values are left out.
        metrics: the metric keys to draw, in order (see :data:`METRIC_TITLES` for their names).
        bounds (None): metric key → the gate's minimum.
    """
    names = [METRIC_TITLES.get(m, m) for m in metrics]
    rows = [
        {"class": cls, "metric": METRIC_TITLES.get(m, m), "value": values.get(m)}
        for cls, values in per_class.items()
        for m in metrics
        if _finite(values.get(m))
    ]
    if not rows:
        return _no_data("no per-class metrics")
    colour = alt.Color("metric:N", sort=names, title=None)
    bars = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=_class_axis(),
            xOffset=alt.XOffset("metric:N", sort=names),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title="value"),
            color=colour,
            tooltip=["class:N", "metric:N", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    marks = [
        {"metric": METRIC_TITLES.get(m, m), "bound": b}
        for m, b in (bounds or {}).items()
        if m in metrics and _finite(b)
    ]
    if not marks:
        chart: alt.Chart = bars.properties(title="Per-class metrics")
        return chart
    rules = (
        alt.Chart(_data(marks))
        .mark_rule(strokeDash=[6, 4], strokeWidth=2)
        .encode(y="bound:Q", color=colour, tooltip=["metric:N", alt.Tooltip("bound:Q", title="policy minimum")])
    )
    return _layer(bars, rules).properties(title="Per-class metrics (- - policy minimum)")


def optimal_threshold_chart(optimal: Mapping[str, float | None], *, threshold: float | None = None) -> Chart:
    """Per class, the confidence threshold that maximises F1 on the baseline, and the threshold in force."""
    rows = [{"class": c, "optimal": t} for c, t in optimal.items() if _finite(t)]
    if not rows:
        return _no_data("no F1-optimal thresholds")
    bars = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=_class_axis(),
            y=alt.Y("optimal:Q", scale=alt.Scale(domain=[0, 1]), title="F1-optimal confidence threshold"),
            tooltip=["class:N", alt.Tooltip("optimal:Q", format=".3f")],
        )
    )
    if not _finite(threshold):
        chart: alt.Chart = bars.properties(title="F1-optimal threshold per class")
        return chart
    rule = _rule_y(threshold, "threshold in force")  # type: ignore[arg-type]
    return _layer(bars, rule).properties(title="F1-optimal threshold per class (- - threshold in force)")


def provenance_chart(by_kind: Mapping[str, Any]) -> Chart:
    """Live labels per provenance kind; values are counts or ``{"count", "share"}`` (as the lineage gives)."""
    rows = []
    for kind, v in by_kind.items():
        count = v.get("count") if isinstance(v, Mapping) else v
        if _finite(count):
            rows.append({"provenance": kind, "labels": count})
    if not rows:
        return _no_data("no labels")
    chart: alt.Chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("labels:Q", title="live labels", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("provenance:N", title=None, sort=["human", "model", "import", "synthetic"]),
            color=alt.Color("provenance:N", legend=None),
            tooltip=["provenance:N", "labels:Q"],
        )
        .properties(title="Composition by provenance")
    )
    return chart


def state_chart(counts: Mapping[str, int]) -> Chart:
    """Dataset versions per state (bars, in the given order)."""
    rows = [{"state": s, "versions": n} for s, n in counts.items()]
    if not rows or not any(n for n in counts.values()):
        return _no_data("no dataset versions")
    chart: alt.Chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("state:N", sort=list(counts), title=None),
            y=alt.Y("versions:Q", title="versions", axis=alt.Axis(tickMinStep=1, format="d")),
            tooltip=["state:N", "versions:Q"],
        )
    )
    return chart
