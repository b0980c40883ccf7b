"""The gates of a classification policy (``task: classify``): a policy entry plus the shared
:class:`~quality_gates.class_measure.ClassMeasurements` → a :class:`~quality_gates.verdict.GateResult`.

``golden_set_error`` is the misclassification rate (an item is wrong when its class set differs from the
golden one, or when it has none), per source and pooled, with Wilson and Clopper–Pearson intervals;
``krippendorff_alpha`` is nominal alpha over the items (per class: present/absent); ``precision``,
``recall`` and ``f1`` are micro averages over the (item, class) decisions against the baseline; ``accuracy``
(subset accuracy for multi-label) and ``hamming_loss`` are classification's own. The drift and review gates
are the ones every task shares (:mod:`quality_gates.gates`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from quality_gates import policy as pol
from quality_gates._json import finite_or_none
from quality_gates.class_measure import ClassMeasurements
from quality_gates.evidence_classify import (
    ClassAgreementEvidence,
    ClassGoldenEvidence,
    ClassificationEvidence,
    ClassSourceError,
)
from quality_gates.gates import _f, _pct, _result, model_threshold
from quality_gates.gates import class_drift_js_gate as _drift_js
from quality_gates.gates import class_drift_psi_gate as _drift_psi
from quality_gates.gates import review_coverage_gate as _review
from quality_gates.inputs import Measurements
from quality_gates.verdict import GateResult, Op

__all__ = ["CLASSIFY_GATE_FUNCTIONS"]


def _m(m: Measurements) -> ClassMeasurements:
    assert isinstance(m, ClassMeasurements)
    return m


def golden_set_error_gate(gate: pol.GoldenSetErrorGate, m: Measurements, policy: pol.Policy) -> GateResult:
    thr = gate.threshold if gate.threshold is not None else model_threshold(policy)
    rep = _m(m).class_golden(model_threshold=thr, gate="golden_set_error")
    o = rep.overall
    evidence = ClassGoldenEvidence(
        float(thr), o.n, o.wrong, o.missing, o.wilson, o.clopper_pearson,
        {name: ClassSourceError.of(g) for name, g in rep.per_source.items()},
    )  # fmt: skip
    value = o.error if o.error is not None else float("nan")
    head = f"golden-set error (misclassified items) {_pct(value)} vs max {_pct(gate.max)} ({o.n} item judgements)"
    worst = rep.worst()
    hint = ""
    if worst is not None and worst.error is not None:
        lo, hi = worst.clopper_pearson
        some = ", ".join(map(str, worst.wrong_items[:3]))
        hint = (
            f"; worst source {worst.source} at {_pct(worst.error)} (95% CI {_pct(lo)}–{_pct(hi)}, {worst.wrong} "
            f"wrong of {worst.n}, {worst.missing} without a label)" + (f", e.g. {some}" if some else "")
            + ": review its labels"
        )  # fmt: skip
    if o.error is None:
        hint = "; nothing to judge: no golden item was labelled by any source"
    return _result("golden_set_error", "golden_error", value, "<=", gate.max, head, head + hint, evidence)


def krippendorff_alpha_gate(gate: pol.KrippendorffAlphaGate, m: Measurements, policy: pol.Policy) -> GateResult:
    rep = _m(m).class_agreement(gate="krippendorff_alpha")
    names = m.inputs.class_names
    per = {names[c]: finite_or_none(a) for c, a in enumerate(rep.per_class)}
    evidence = ClassAgreementEvidence("nominal", rep.multi_label, rep.n_units, rep.n_pairable, rep.coders, per)
    value = rep.alpha if rep.alpha is not None else float("nan")
    what = "(item, class) decisions" if rep.multi_label else "class labels"
    head = (
        f"Krippendorff's alpha {_f(value)} vs min {gate.min:g} over {what} ({len(rep.coders)} annotators, "
        f"{rep.n_pairable} items labelled twice or more)"
    )
    finite = {k: v for k, v in per.items() if v is not None}
    hint = ""
    if finite:
        worst = min(finite, key=lambda k: finite[k])
        hint = f"; lowest agreement on class {worst!r} ({_f(finite[worst])}): clarify its labelling guideline"
    if rep.alpha is None:
        hint = "; alpha undefined: no item labelled by two annotators, or no variation at all"
    return _result("krippendorff_alpha", "krippendorff_alpha", value, ">=", gate.min, head, head + hint, evidence)


_Gate = pol.PrecisionGate | pol.RecallGate | pol.F1Gate | pol.AccuracyGate | pol.HammingLossGate


def _class_gate(name: str, gate: _Gate, m: Measurements) -> GateResult:
    cm = _m(m)
    thr = gate.threshold if gate.threshold is not None else 0.0
    rep = cm.report(baseline=gate.baseline, threshold=thr, gate=name)
    names = tuple(m.inputs.class_names)
    best = cm.f1_optimal(baseline=gate.baseline, gate=name)
    evidence = ClassificationEvidence.of(
        rep, threshold=thr, baseline=gate.baseline, class_names=names,
        f1_optimal={n: finite_or_none(float(best[k])) for k, n in enumerate(names)},
    )  # fmt: skip
    value: float | None = {
        "precision": rep.micro["precision"],
        "recall": rep.micro["recall"],
        "f1": rep.micro["f1"],
        "accuracy": rep.accuracy,
        "hamming_loss": rep.hamming_loss,
    }[name]
    v = float("nan") if value is None else float(value)
    op: Op = "<=" if isinstance(gate, pol.HammingLossGate) else ">="
    bound = gate.max if isinstance(gate, pol.HammingLossGate) else gate.min
    thr_text = f"threshold {thr:g}" if gate.threshold is not None else "every predicted class (no threshold set)"
    label = {"hamming_loss": "Hamming loss", "f1": "micro F1"}.get(name, f"micro {name}")
    label = "accuracy" + (" (exact class set)" if rep.multi_label else "") if name == "accuracy" else label
    head = (
        f"{label} {_f(v)} vs {'max' if op == '<=' else 'min'} {bound:g} at {thr_text}, baseline {gate.baseline} "
        f"({rep.n_items} items, {rep.n_missing} without a prediction)"
    )
    errors = np.asarray(rep.fp) + np.asarray(rep.fn)
    hint = ""
    if errors.sum():
        k = int(np.argmax(errors))
        opt = float(best[k])
        move = f"move the threshold toward {_f(opt)} (its F1-optimal)" if math.isfinite(opt) and opt != thr else (
            "retrain or check its golden labels")  # fmt: skip
        hint = f"; most errors in class {names[k]!r} ({int(rep.fp[k])} false, {int(rep.fn[k])} missed): {move}"
    if value is None:
        hint = "; undefined: no predictions at this threshold" if name == "precision" else "; undefined: no items"
    return _result(name, name, v, op, float(bound), head, head + hint, evidence)


def precision_gate(gate: pol.PrecisionGate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _class_gate("precision", gate, m)


def recall_gate(gate: pol.RecallGate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _class_gate("recall", gate, m)


def f1_gate(gate: pol.F1Gate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _class_gate("f1", gate, m)


def accuracy_gate(gate: pol.AccuracyGate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _class_gate("accuracy", gate, m)


def hamming_loss_gate(gate: pol.HammingLossGate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _class_gate("hamming_loss", gate, m)


CLASSIFY_GATE_FUNCTIONS: dict[str, Callable[[Any, Measurements, pol.Policy], GateResult]] = {
    "golden_set_error": golden_set_error_gate,
    "krippendorff_alpha": krippendorff_alpha_gate,
    "precision": precision_gate,
    "recall": recall_gate,
    "f1": f1_gate,
    "accuracy": accuracy_gate,
    "hamming_loss": hamming_loss_gate,
    "class_drift_psi": _drift_psi,
    "class_drift_js": _drift_js,
    "review_coverage": _review,
}
