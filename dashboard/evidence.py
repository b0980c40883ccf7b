"""One gate evaluation's evidence on a page: the plots its gates and plot data support, labelled by the
report's task, the classification evidence of a ``classify`` report, and the raw evidence of every gate.

The report (``quality_gates.verdict.GateReport`` as the API gives it) says its ``task`` (``detect``,
``segment``, ``pose`` or ``classify``; absent: ``detect``, a report written before tasks existed). Its plot
data keep one shape for every task: ``evidence.pr_curves`` and ``evidence.confusion_matrix`` (see
:mod:`dashboard.charts`); what differs is how a prediction was matched to a golden label, which the plot
titles say (:data:`MATCH`). A ``classify`` report also carries its classification evidence
(``evidence.classification``: ``accuracy``, ``hamming_loss``, ``macro``, ``per_class: {class: {precision,
recall, f1, support, ...}}``), shown as figures and a per-class table. Everything is read defensively: a
missing key leaves its plot or table out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import streamlit as st

from dashboard import charts, readable, tables, ui

__all__ = [
    "MATCH",
    "TASKS",
    "classification_of",
    "details",
    "gate_table",
    "golden_of",
    "golden_text",
    "plots",
    "task_of",
    "task_text",
]

#: The tasks a gate report names, and what each measures.
TASKS: dict[str, str] = {
    "detect": "object detection (boxes)",
    "segment": "instance segmentation (polygons and masks)",
    "pose": "pose estimation (keypoints)",
    "classify": "image classification (tags)",
}
#: How a prediction is matched to a golden label per task (None: per item, no geometry).
MATCH: dict[str, str | None] = {"detect": "IoU", "segment": "mask IoU", "pose": "OKS", "classify": None}

#: Gates whose per-class values :func:`charts.per_class_chart` draws: gate name → per-class metric key.
_PER_CLASS_GATES = {"precision": "precision", "recall": "recall", "f1": "f1", "map": "ap", "ap50": "ap50"}


def task_of(evaluation: Mapping[str, Any]) -> str:
    """The report's task; ``detect`` when absent (or not one this dashboard knows, see :func:`task_text`)."""
    task = evaluation.get("task", "detect")
    return task if task in TASKS else "detect"


def task_text(evaluation: Mapping[str, Any]) -> str:
    """``Task: instance segmentation (polygons and masks); predictions matched to golden labels by mask IoU.``"""
    raw = evaluation.get("task", "detect")
    task = task_of(evaluation)
    match = MATCH[task]
    how = f"; predictions matched to golden labels by {match}" if match else "; predictions judged per item"
    unknown = f" (the report names task {raw!r}, unknown to this dashboard)" if raw != task else ""
    return f"Task: {TASKS[task]}{how}.{unknown}"


def golden_of(ev: Mapping[str, Any]) -> Any:
    """The golden set an evaluation measured against: the API's ``golden_set``, else what its evidence recorded."""
    return ev.get("golden_set") or (ev.get("evidence") or {}).get("golden_set")


def golden_text(golden: Any) -> str:
    """``golden set NAME@VERSION (N items, M labels)``; ``no golden set`` when the policy needed none."""
    if not golden:
        return "no golden set"
    if not isinstance(golden, Mapping):  # recorded before golden sets were versioned: a name
        return f"golden set {golden}"
    name = f"{golden.get('name')}@{golden['version']}" if golden.get("version") is not None else golden.get("name")
    size = f" ({golden.get('items')} items, {golden.get('labels')} labels)" if golden.get("items") is not None else ""
    return f"golden set {name}{size}"


def _gate_by_name(evaluation: Mapping[str, Any], *names: str) -> Mapping[str, Any] | None:
    """The first gate of the evaluation named one of ``names`` (None: the policy configures none of them)."""
    return next((g for n in names for g in evaluation.get("gates") or [] if g.get("name") == n), None)


def _golden_plot(evaluation: Mapping[str, Any]) -> charts.Chart | None:
    gate = _gate_by_name(evaluation, "golden_set_error")
    if gate is None or not gate["evidence"].get("per_source"):
        return None
    ev = gate["evidence"]
    sources = dict(ev["per_source"])
    if gate["value"] is not None:  # the overall error over every source, with its own interval
        sources["(all sources)"] = {
            "error": gate["value"],
            "wilson": ev.get("wilson"),
            "clopper_pearson": ev.get("clopper_pearson"),
        }
    return charts.golden_error_chart(sources, max_error=gate["threshold"])


def _per_class_plot(evaluation: Mapping[str, Any]) -> charts.Chart | None:
    per_class = evaluation.get("per_class")
    gates = {g["name"]: g for g in evaluation.get("gates") or [] if g.get("name") in _PER_CLASS_GATES}
    metrics = [_PER_CLASS_GATES[name] for name in _PER_CLASS_GATES if name in gates]
    if not per_class or not metrics:
        return None
    bounds = {_PER_CLASS_GATES[name]: g["threshold"] for name, g in gates.items()}
    return charts.per_class_chart(per_class, metrics, bounds=bounds)


def _pr_title(task: str) -> str:
    match = MATCH[task]
    if task == "detect":
        return "Precision–recall"  # the title reports have always had
    return f"Precision–recall, {match}" if match else "Precision–recall per class"


def _cm_title(task: str, cm: Mapping[str, Any]) -> str:
    match, iou = MATCH[task], cm.get("iou")
    if task == "classify":
        return "Confusion matrix of classes"
    if task == "detect" or not isinstance(iou, int | float):
        return "Confusion matrix" if task == "detect" else f"Confusion matrix ({match})"
    return f"Confusion matrix ({match} ≥ {iou:g})"


def _report_plots(evaluation: Mapping[str, Any], task: str) -> list[tuple[str, charts.Chart]]:
    """The report's PR curves and confusion matrix, titled by task; each left out when its data is absent."""
    found: list[tuple[str, charts.Chart]] = []
    evidence = evaluation.get("evidence") or {}
    if isinstance(evidence.get("pr_curves"), Mapping):
        thr = (evaluation.get("metrics") or {}).get("threshold")
        title = _pr_title(task)
        chart = charts.pr_curves_chart(evidence["pr_curves"], threshold=thr, title=title)
        found.append(("PR curves" if task == "detect" else title, chart))
    cm = evidence.get("confusion_matrix")
    if isinstance(cm, Mapping):
        title = _cm_title(task, cm)
        try:
            found.append(
                (title, charts.confusion_matrix_chart(cm.get("labels") or [], cm.get("matrix") or [], title=title))
            )
        except (ValueError, TypeError) as exc:
            st.warning(f"{title}: the report's matrix does not read ({exc}); not drawn.", icon=":material/warning:")
    return found


def plots(evaluation: Mapping[str, Any]) -> None:
    """Every plot the evaluation's evidence supports, two a row; a plot whose gate or plot data is absent is
    left out; a ``classify`` report's classification evidence follows."""
    task = task_of(evaluation)
    found: list[tuple[str, charts.Chart]] = []
    golden = _golden_plot(evaluation)
    if golden is not None:
        found.append(("Golden-set error per source", golden))
    per_class = _per_class_plot(evaluation)
    if per_class is not None:
        found.append(("Per-class metrics", per_class))
    alpha = _gate_by_name(evaluation, "krippendorff_alpha")
    if alpha is not None and alpha["evidence"].get("per_class"):
        found.append(
            ("Alpha per class", charts.alpha_chart(alpha["evidence"]["per_class"], min_alpha=alpha["threshold"]))
        )
    drift = _gate_by_name(evaluation, "class_drift_psi", "class_drift_js")
    if drift is not None and "current" in drift["evidence"]:
        ev = drift["evidence"]
        found.append(("Class drift vs parent", charts.drift_chart(ev["current"], ev.get("parent") or {})))
    prf = _gate_by_name(evaluation, "precision", "recall", "f1")
    if prf is not None and prf["evidence"].get("f1_optimal_threshold"):
        ev = prf["evidence"]
        chart = charts.optimal_threshold_chart(ev["f1_optimal_threshold"], threshold=ev.get("threshold"))
        found.append(("F1-optimal threshold", chart))
    found += _report_plots(evaluation, task)
    if not found:
        st.caption("This evaluation carries no plottable evidence.")
    for i in range(0, len(found), 2):
        cols = st.columns(2)
        for col, (title, chart) in zip(cols, found[i : i + 2], strict=False):
            with col:
                # A confusion matrix keeps its size (sized to the class count); other plots fill the column.
                width: Literal["content", "stretch"] = "content" if title.startswith("Confusion matrix") else "stretch"
                st.altair_chart(chart, width=width, alt=title)
    classification = classification_of(evaluation)
    if classification is not None:
        _classification(classification)


#: The classify gates whose evidence is the classification report at the model's threshold.
_CLASSIFY_GATES = ("accuracy", "f1", "precision", "recall", "hamming_loss")


def _from_gate(ev: Mapping[str, Any]) -> dict[str, Any]:
    """A classify gate's evidence (``quality_gates.evidence_classify.ClassificationEvidence``: per-class
    ``precision``/``recall``/``f1``/``support`` maps) in the shape :func:`_classification` draws."""
    names = [str(n) for n in (ev.get("support") or {})]
    per = {n: {k: (ev.get(k) or {}).get(n) for k in ("precision", "recall", "f1", "support")} for n in names}
    f1s = [v for v in (per[n]["f1"] for n in names) if isinstance(v, int | float)]
    keys = ("multi_label", "accuracy", "hamming_loss", "n_items", "n_missing", "threshold")
    return {**{k: ev.get(k) for k in keys}, "macro": {"f1": sum(f1s) / len(f1s) if f1s else None}, "per_class": per}


def classification_of(evaluation: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The classification evidence of a report: the evidence of its first classify gate (accuracy, f1,
    precision, recall, hamming_loss: the classification report at the model's threshold), else
    ``evidence.classification`` or a top-level ``classification``; None when the report has none."""
    for name in _CLASSIFY_GATES:
        gate = _gate_by_name(evaluation, name)
        ev = gate.get("evidence") if gate is not None else None
        if isinstance(ev, Mapping) and isinstance(ev.get("support"), Mapping):
            return _from_gate(ev)
    evidence = evaluation.get("evidence") or {}
    found = evidence.get("classification") if isinstance(evidence, Mapping) else None
    if found is None:
        found = evaluation.get("classification")
    return found if isinstance(found, Mapping) else None


def _figure(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def _classification(ev: Mapping[str, Any]) -> None:
    """Accuracy, Hamming loss, macro F1 and the items judged, then per class precision, recall, F1, support."""
    st.markdown("**Classification evidence**" + (" (multi-label)" if ev.get("multi_label") else ""))
    raw = ev.get("macro")
    macro: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    cols = st.columns(4)
    cols[0].metric("Accuracy" + (" (subset)" if ev.get("multi_label") else ""), _figure(ev.get("accuracy")))
    cols[1].metric("Hamming loss", _figure(ev.get("hamming_loss")))
    cols[2].metric("Macro F1", _figure(macro.get("f1")))
    cols[3].metric("Items judged", str(ev.get("n_items", "n/a")))
    rows = tables.classification_rows(ev.get("per_class"))
    if rows:
        st.dataframe(rows, hide_index=True)
    else:
        st.caption("The classification evidence has no per-class table.")


def gate_table(evaluation: Mapping[str, Any]) -> None:
    """The gate table: value and bound in the metric's unit (rates as percentages), verdicts coloured, no
    column cut short (the explanation wraps in a wide column)."""
    rows = readable.readable_gate_rows(evaluation.get("gates") or [])
    ui.verdict_table(
        rows,
        widths={"gate": "medium", "verdict": "small", "value": "small", "bound": "small", "explanation": "large"},
        bound="the policy's threshold",
    )


def _evidence_rows(evidence: Mapping[str, Any]) -> list[dict[str, str]]:
    """A gate's evidence as ``{field, value}`` rows: numbers with three decimals, short lists and maps inline,
    internal keys (a leading underscore) left out."""

    def text(value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return "—" if value is None else ("yes" if value else "no")
        if isinstance(value, float):
            return f"{value:.3f}"
        if isinstance(value, Mapping):
            return ", ".join(f"{k}: {text(v)}" for k, v in value.items()) or "—"
        if isinstance(value, list | tuple):
            return "[" + ", ".join(text(v) for v in value) + "]" if value else "—"
        return str(value)

    return [
        {"field": str(k).replace("_", " "), "value": text(v)}
        for k, v in readable.public(evidence).items()
        if k not in ("outcomes",)
    ]


def details(evaluation: Mapping[str, Any]) -> None:
    """An expander with the data expectations (as Great Expectations' Data Docs show them), the review
    coverage, the data hashes (shortened, full value on hover) and each gate's evidence as a table."""
    with st.expander("Evidence details: data expectations, review coverage, data hashes, each gate's evidence"):
        expectations = _gate_by_name(evaluation, "expectations")
        if expectations is not None and expectations["evidence"].get("outcomes"):
            ev = expectations["evidence"]
            st.markdown(f"**Data expectations** (suite {ui.plain(ev.get('suite'))})")
            ui.verdict_table(
                readable.expectation_table(ev["outcomes"]),
                colour="success",
                widths={"expectation": "large", "observed value": "medium", "expected": "medium"},
            )
        coverage = _gate_by_name(evaluation, "review_coverage")
        if coverage is not None:
            ev = coverage["evidence"]
            st.markdown(
                f"**Review coverage**: {ev.get('reviewed')} of {ev.get('model_labels')} model labels reviewed; "
                f"{ev.get('routed_reviewed')} of {ev.get('routed')} routed items reviewed."
            )
        st.markdown(f"**Data hashes** (what was evaluated; {golden_text(golden_of(evaluation))})")
        for name, value in readable.public(evaluation.get("data_hashes") or {}).items():
            ui.hash_line(str(name), value)
        for gate in evaluation.get("gates") or []:
            rows = _evidence_rows(gate.get("evidence") or {})
            if rows:
                st.markdown(f"**{ui.plain(gate.get('name'))}**")
                st.dataframe(
                    rows,
                    hide_index=True,
                    width="stretch",
                    column_config={"value": st.column_config.TextColumn("value", width="large")},
                )
