"""The evidence plots are pure: sample evidence dicts in, Vega-Lite specs out (checked through ``to_dict``)."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard import charts

CURVES = {
    "cat": {"precision": [1.0, 0.95, 0.8], "recall": [0.3, 0.7, 0.9], "thresholds": [0.9, 0.5, 0.2]},
    "dog": {"precision": [1.0, 0.9], "recall": [0.4, 0.8], "thresholds": [0.8, 0.3]},
}


def spec(chart: charts.Chart) -> dict[str, Any]:
    return chart.to_dict()  # type: ignore[no-any-return]


def layers(chart: charts.Chart) -> list[dict[str, Any]]:
    """The chart's layers, each with its data (Altair moves data shared by all layers to the top)."""
    d = spec(chart)
    return [{"data": d.get("data"), **layer} for layer in d.get("layer", [d])]


def values(layer: dict[str, Any]) -> list[dict[str, Any]]:
    return layer["data"]["values"]  # type: ignore[no-any-return]


def is_no_data(chart: charts.Chart, message: str) -> bool:
    d = spec(chart)
    return d["mark"]["type"] == "text" and values(d) == [{"message": message}]


# ---- PR curves ----------------------------------------------------------------------------------------------


def test_threshold_points_pick_the_point_in_force_at_the_threshold() -> None:
    # cat: scores >= 0.5 count → the point of threshold 0.5; dog: >= 0.5 → only the 0.8 point.
    pts = charts.threshold_points(CURVES, 0.5)
    assert pts == [
        {"class": "cat", "recall": 0.7, "precision": 0.95, "threshold": 0.5, "score": 0.5},
        {"class": "dog", "recall": 0.4, "precision": 1.0, "threshold": 0.5, "score": 0.8},
    ]


def test_threshold_points_edge_cases() -> None:
    assert charts.threshold_points(CURVES, None) == []
    assert charts.threshold_points(CURVES, 0.95) == []  # above every score: no prediction counts
    assert [p["score"] for p in charts.threshold_points(CURVES, 0.0)] == [0.2, 0.3]  # everything counts
    per_class = charts.threshold_points(CURVES, {"cat": 0.9})
    assert per_class == [{"class": "cat", "recall": 0.3, "precision": 1.0, "threshold": 0.9, "score": 0.9}]
    undefined = {"cat": {"precision": [None], "recall": [0.5], "thresholds": [0.9]}}
    assert charts.threshold_points(undefined, 0.5) == []


def test_pr_curves_chart_draws_every_point_and_marks_the_threshold() -> None:
    lines, marks = layers(charts.pr_curves_chart(CURVES, threshold=0.5))
    assert len(values(lines)) == 5
    assert lines["mark"]["type"] == "line"
    assert lines["encoding"]["x"]["field"] == "recall" and lines["encoding"]["y"]["field"] == "precision"
    assert marks["mark"]["shape"] == "diamond"
    assert [(v["class"], v["precision"]) for v in values(marks)] == [("cat", 0.95), ("dog", 1.0)]


def test_pr_curves_chart_without_threshold_has_no_marker_and_drops_undefined_points() -> None:
    curves = {"cat": {"precision": [1.0, None], "recall": [0.5, 0.9], "thresholds": [0.9, 0.1]}}
    only = layers(charts.pr_curves_chart(curves))
    assert len(only) == 1 and values(only[0]) == [{"class": "cat", "recall": 0.5, "precision": 1.0, "threshold": 0.9}]


def test_pr_curves_chart_empty() -> None:
    assert is_no_data(charts.pr_curves_chart({}), "no PR curve data")
    assert is_no_data(
        charts.pr_curves_chart({"cat": {"precision": [], "recall": [], "thresholds": []}}), "no PR curve data"
    )


# ---- confusion matrix --------------------------------------------------------------------------------------


def test_confusion_matrix_chart_has_one_cell_per_pair_in_order() -> None:
    labels = ["cat", "dog", "background"]
    matrix = [[40, 2, 3], [1, 30, 4], [2, 1, 0]]
    cells, text = layers(charts.confusion_matrix_chart(labels, matrix))
    rows = values(cells)
    assert len(rows) == 9
    assert {"truth": "dog", "predicted": "cat", "count": 1} in rows
    assert {"truth": "background", "predicted": "cat", "count": 2} in rows
    assert cells["encoding"]["x"]["sort"] == labels and text["mark"]["type"] == "text"


def test_confusion_matrix_chart_refuses_a_wrong_shape_and_accepts_empty() -> None:
    with pytest.raises(ValueError, match=r"must be 2×2"):
        charts.confusion_matrix_chart(["a", "b"], [[1, 2]])
    with pytest.raises(ValueError):
        charts.confusion_matrix_chart(["a", "b"], [[1, 2], [3]])
    assert is_no_data(charts.confusion_matrix_chart([], []), "no confusion matrix")


# ---- golden-set error, alpha, drift ------------------------------------------------------------------------

PER_SOURCE = {
    "alice": {"error": 0.05, "tp": 40, "fp": 2, "fn": 2, "wilson": [0.02, 0.11], "clopper_pearson": [0.015, 0.12]},
    "bob": {"error": None, "tp": 0, "fp": 0, "fn": 0, "wilson": [None, None], "clopper_pearson": [None, None]},
    "model:yolo": {"error": 0.01, "tp": 90, "fp": 1, "fn": 1},
}


def test_golden_error_chart_draws_intervals_and_the_maximum() -> None:
    bars, points, bound = layers(charts.golden_error_chart(PER_SOURCE, max_error=0.02))
    rows = values(bars)
    assert [r["source"] for r in rows] == ["alice", "model:yolo"]  # undefined error left out
    assert (rows[0]["low"], rows[0]["high"]) == (0.015, 0.12)
    assert (rows[1]["low"], rows[1]["high"]) == (0.01, 0.01)  # no interval: a point
    assert bars["encoding"]["x2"]["field"] == "high" and points["encoding"]["x"]["field"] == "error"
    assert values(bound) == [{"bound": 0.02, "label": "max"}]
    wilson = layers(charts.golden_error_chart(PER_SOURCE, interval="wilson"))
    assert len(wilson) == 2 and (values(wilson[0])[0]["low"], values(wilson[0])[0]["high"]) == (0.02, 0.11)


def test_golden_error_chart_empty() -> None:
    assert is_no_data(charts.golden_error_chart({}), "no golden-set error per source")
    assert is_no_data(charts.golden_error_chart({"x": {"error": None}}), "no golden-set error per source")


def test_alpha_chart_bars_and_minimum() -> None:
    bars, bound = layers(charts.alpha_chart({"cat": 0.9, "dog": 0.78, "bird": None}, min_alpha=0.8))
    assert values(bars) == [{"class": "cat", "alpha": 0.9}, {"class": "dog", "alpha": 0.78}]
    assert values(bound) == [{"bound": 0.8, "label": "min"}] and bound["encoding"]["y"]["field"] == "bound"
    assert len(layers(charts.alpha_chart({"cat": 0.9}))) == 1
    assert is_no_data(charts.alpha_chart({}), "no alpha per class")


def test_drift_chart_sets_parent_beside_current() -> None:
    d = spec(charts.drift_chart({"cat": 0.6, "dog": 0.4}, {"cat": 0.55, "dog": 0.45, "bird": None}))
    assert values(d) == [
        {"class": "cat", "version": "parent", "share": 0.55},
        {"class": "dog", "version": "parent", "share": 0.45},
        {"class": "cat", "version": "this version", "share": 0.6},
        {"class": "dog", "version": "this version", "share": 0.4},
    ]
    assert d["encoding"]["xOffset"]["field"] == "version"
    assert is_no_data(charts.drift_chart({}, {}), "no class distribution")


PER_CLASS = {
    "cat": {"precision": 0.95, "recall": 0.7, "ap": 0.6, "n_gt": 10},
    "dog": {"precision": None, "recall": 0.9, "ap": 0.8},
}


def test_per_class_chart_groups_metrics_and_draws_each_minimum() -> None:
    bars, rules = layers(charts.per_class_chart(PER_CLASS, ["precision", "recall", "ap"], bounds={"recall": 0.85}))
    assert values(bars) == [
        {"class": "cat", "metric": "precision", "value": 0.95},
        {"class": "cat", "metric": "recall", "value": 0.7},
        {"class": "cat", "metric": "AP@[.50:.95]", "value": 0.6},
        {"class": "dog", "metric": "recall", "value": 0.9},  # an undefined value is left out
        {"class": "dog", "metric": "AP@[.50:.95]", "value": 0.8},
    ]
    assert bars["encoding"]["xOffset"]["field"] == "metric"
    assert bars["encoding"]["color"]["sort"] == ["precision", "recall", "AP@[.50:.95]"]
    assert values(rules) == [{"metric": "recall", "bound": 0.85}] and rules["encoding"]["y"]["field"] == "bound"
    assert len(layers(charts.per_class_chart(PER_CLASS, ["recall"], bounds={"precision": 0.9}))) == 1
    assert is_no_data(charts.per_class_chart(PER_CLASS, ["f1"]), "no per-class metrics")


def test_optimal_threshold_chart_marks_the_threshold_in_force() -> None:
    bars, rule = layers(charts.optimal_threshold_chart({"cat": 0.3, "dog": None, "car": 0.62}, threshold=0.5))
    assert values(bars) == [{"class": "cat", "optimal": 0.3}, {"class": "car", "optimal": 0.62}]
    assert values(rule) == [{"bound": 0.5, "label": "threshold in force"}]
    assert len(layers(charts.optimal_threshold_chart({"cat": 0.3}))) == 1
    assert is_no_data(charts.optimal_threshold_chart({}), "no F1-optimal thresholds")


def test_provenance_and_state_charts() -> None:
    shares = {"human": {"count": 120, "share": 0.4}, "model": {"count": 150, "share": 0.5}}
    assert values(spec(charts.provenance_chart(shares))) == [
        {"provenance": "human", "labels": 120},
        {"provenance": "model", "labels": 150},
    ]
    assert values(spec(charts.provenance_chart({"import": 3}))) == [{"provenance": "import", "labels": 3}]
    assert is_no_data(charts.provenance_chart({}), "no labels")
    d = spec(charts.state_chart({"draft": 1, "candidate": 0, "released": 2}))
    assert [v["versions"] for v in values(d)] == [1, 0, 2] and d["encoding"]["x"]["sort"] == [
        "draft",
        "candidate",
        "released",
    ]
    assert is_no_data(charts.state_chart({"draft": 0}), "no dataset versions")
