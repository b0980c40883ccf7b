"""The report metrics and plot data of a classification evaluation (``task: classify``), beside its gates.

``metrics`` holds :data:`~quality_gates.verdict.METRIC_KEYS` plus accuracy and Hamming loss (micro P/R/F1,
accuracy and Hamming loss of the model at its threshold against the golden set; the misclassification rate
pooled over sources; alpha over items; drift; review); ``per_class`` per class ``n_gt`` (golden support),
``tp``/``fp``/``fn``, precision, recall, F1, the F1-optimal threshold, the golden error, alpha and ``n_pred``
(items the model gives the class at its threshold). The plot data are the PR curves of the class scores and
the item confusion matrix (:class:`~quality_gates.plots.ConfusionMatrixPlot`, no ``iou``).
"""

from __future__ import annotations

import math
from typing import Any

from quality_gates.class_measure import ClassMeasurements, item_confusion
from quality_gates.drift import jensen_shannon, psi
from quality_gates.errors import MissingInputError
from quality_gates.gates import model_threshold
from quality_gates.inputs import Measurements
from quality_gates.plots import ReportEvidence, classification_evidence
from quality_gates.policy import Policy
from quality_gates.verdict import metric_keys

__all__ = ["class_metrics", "class_plots"]


def _num(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def class_metrics(policy: Policy, m: Measurements, per_class: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The report's ``metrics`` of a classification evaluation; fills ``per_class`` in place."""
    assert isinstance(m, ClassMeasurements)
    g = policy.gates
    inp = m.inputs
    names = list(inp.class_names)
    thr = model_threshold(policy)
    out: dict[str, float | None] = dict.fromkeys(metric_keys("classify"))
    out["threshold"] = thr
    if inp.golden is not None and inp.predictions is not None:
        rep = m.report(baseline="golden", threshold=thr, gate="metrics")
        out.update({k: _num(rep.micro[k]) for k in ("precision", "recall", "f1")})
        out["accuracy"], out["hamming_loss"] = _num(rep.accuracy), _num(rep.hamming_loss)
        best = m.f1_optimal(baseline="golden", gate="metrics")
        for k, n in enumerate(names):
            per_class[n].update({"n_gt": rep.support[k], "tp": rep.tp[k], "fp": rep.fp[k], "fn": rep.fn[k],
                                 "precision": rep.precision[k], "recall": rep.recall[k], "f1": rep.f1[k],
                                 "f1_optimal_threshold": _num(best[k])})  # fmt: skip
    if inp.golden is not None and (inp.annotators or inp.predictions is not None):
        ge = g.golden_set_error
        gthr = ge.threshold if ge is not None and ge.threshold is not None else thr
        grep = m.class_golden(model_threshold=gthr, gate="metrics")
        out["golden_error"] = _num(grep.overall.error)
        for k, (n_wrong, n_judged) in grep.overall.per_class.items():
            per_class[names[k]]["golden_error"] = n_wrong / n_judged if n_judged else None
    if len(inp.annotators or {}) >= 2:
        agr = m.class_agreement(gate="metrics")
        out["krippendorff_alpha"] = _num(agr.alpha)
        for k, a in enumerate(agr.per_class):
            per_class[names[k]]["krippendorff_alpha"] = _num(a)
    if inp.parent_distribution is not None:
        try:
            cur = m.current_distribution(model_threshold=thr, gate="metrics")
        except MissingInputError:
            cur = None
        if cur is not None:
            par = m.parent_distribution(gate="metrics")
            eps = g.class_drift_psi.epsilon if g.class_drift_psi is not None else 1e-4
            out["class_drift_psi"] = _num(psi(cur, par, epsilon=eps))
            out["class_drift_js"] = _num(jensen_shannon(cur, par))
    if inp.review is not None:
        out["review_coverage"] = _num(inp.review.reviewed_share)
        out["routed_review_coverage"] = _num(inp.review.routed_reviewed_share)
    if inp.predictions is not None:
        n_pred = m.class_predictions(threshold=thr, gate="metrics").indicator.sum(axis=0)
        for k, n in enumerate(names):
            per_class[n]["n_pred"] = int(n_pred[k])
    return out


def class_plots(policy: Policy, m: Measurements) -> ReportEvidence:
    """PR curves of the class scores and the item confusion matrix at the model threshold (empty without
    golden labels and predictions)."""
    assert isinstance(m, ClassMeasurements)
    if m.inputs.golden is None or m.inputs.predictions is None:
        return ReportEvidence()
    rep = m.report(baseline="golden", threshold=model_threshold(policy), gate="plots")
    curves = m.curves(baseline="golden", gate="plots")
    return classification_evidence(curves, item_confusion(rep), class_names=m.inputs.class_names)
