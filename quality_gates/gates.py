"""One function per gate: a policy entry plus the shared measurements → a :class:`GateResult`.

These are the gates of the object tasks (detect, segment, pose: :data:`GATE_FUNCTIONS`); the overlap is box
IoU, mask IoU or OKS as the inputs' task says, and the explanations name it. Classification's are in
:mod:`quality_gates.gates_classify`; ``training_leakage``, whose inputs exist on the record only (no file says
what a model was trained on), is in :mod:`quality_gates.leakage`; :func:`gate_functions` gives a task's
whole table.

Each explanation is one line that says what was measured against which bound and, when the gate blocks,
where to look first (the worst source, class or expectation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from quality_gates import policy as pol
from quality_gates._json import finite_or_none
from quality_gates.drift import aligned_proportions, jensen_shannon, psi
from quality_gates.evidence import (
    AgreementEvidence,
    CocoEvidence,
    DriftEvidence,
    ExpectationsEvidence,
    GateEvidence,
    GoldenErrorEvidence,
    PrecisionRecallEvidence,
    ReviewEvidence,
    SourceError,
)
from quality_gates.inputs import Measurements
from quality_gates.leakage import RECORD_GATE_FUNCTIONS
from quality_gates.verdict import GateResult, Op

__all__ = ["GATE_FUNCTIONS", "gate_functions", "model_threshold"]


def _f(x: float) -> str:
    return "undefined" if not math.isfinite(x) else f"{x:.3f}"


def _pct(x: float) -> str:
    return "undefined" if not math.isfinite(x) else f"{100 * x:.1f}%"


def model_threshold(policy: pol.Policy) -> float:
    """The confidence threshold applied to model labels outside the P/R/F1 gates: the first one set among
    precision, recall, f1, accuracy, hamming_loss and golden_set_error; 0.0 (every prediction counts) when
    none is."""
    g = policy.gates
    for gate in (g.precision, g.recall, g.f1, g.accuracy, g.hamming_loss, g.golden_set_error):
        if gate is not None and gate.threshold is not None:
            return float(gate.threshold)
    return 0.0


def _ov(m: Measurements) -> str:
    """What ``iou`` means for these inputs: IoU, mask IoU or OKS."""
    return {"segment": "mask IoU", "pose": "OKS"}.get(m.inputs.task, "IoU")


def _result(
    name: str,
    metric: str,
    value: float,
    op: Op,
    bound: float,
    ok_text: str,
    fail_text: str,
    evidence: GateEvidence,
    *,
    extra_ok: bool = True,
) -> GateResult:
    passed = GateResult.compare(value, op, bound) and extra_ok
    return GateResult(name, metric, float(value), float(bound), op, passed, ok_text if passed else fail_text, evidence)


def golden_set_error_gate(gate: pol.GoldenSetErrorGate, m: Measurements, policy: pol.Policy) -> GateResult:
    thr = gate.threshold if gate.threshold is not None else model_threshold(policy)
    rep = m.golden(iou=gate.iou, model_threshold=thr, gate="golden_set_error")
    o = rep.overall
    evidence = GoldenErrorEvidence(
        float(gate.iou),
        float(thr),
        o.trials,
        o.fp + o.fn,
        o.wilson,
        o.clopper_pearson,
        {name: SourceError.of(g) for name, g in rep.per_source.items()},
    )
    head = f"golden-set error {_pct(o.error)} vs max {_pct(gate.max)} ({_ov(m)} {gate.iou:g}, {o.trials} trials)"
    worst = rep.worst()
    hint = ""
    if worst is not None:
        lo, hi = worst.clopper_pearson
        hint = (
            f"; worst source {worst.source} at {_pct(worst.error)} (95% CI {_pct(lo)}–{_pct(hi)}, "
            f"{worst.fp} extra, {worst.fn} missed): review its labels"
        )
    if not math.isfinite(o.error):
        hint = "; nothing to judge: the golden images have no labels and no objects"
    return _result("golden_set_error", "golden_error", o.error, "<=", gate.max, head, head + hint, evidence)


def krippendorff_alpha_gate(gate: pol.KrippendorffAlphaGate, m: Measurements, policy: pol.Policy) -> GateResult:
    rep = m.agreement(iou=gate.iou, level=gate.level, gate="krippendorff_alpha")
    names = m.inputs.class_names
    per = {names[k]: finite_or_none(a) for k, a in rep.per_class.items()}
    evidence = AgreementEvidence(gate.level, float(gate.iou), rep.n_units, rep.n_pairable, tuple(rep.coders), per)
    head = (
        f"Krippendorff's alpha {_f(rep.alpha)} vs min {gate.min:g} ({len(rep.coders)} annotators, "
        f"{rep.n_pairable} object units)"
    )
    if m.inputs.task != "detect":
        head += f" grouped by {_ov(m)} {gate.iou:g}"
    finite = {k: v for k, v in per.items() if v is not None}
    hint = ""
    if finite:
        worst = min(finite, key=lambda k: finite[k])
        hint = f"; lowest agreement on class {worst!r} ({_f(finite[worst])}): clarify its labelling guideline"
    if not math.isfinite(rep.alpha):
        hint = "; alpha undefined: no object labelled by two annotators, or no variation at all"
    return _result("krippendorff_alpha", "krippendorff_alpha", rep.alpha, ">=", gate.min, head, head + hint, evidence)


def _prf_gate(name: str, gate: pol.PrecisionGate | pol.RecallGate | pol.F1Gate, m: Measurements) -> GateResult:
    thr = gate.threshold if gate.threshold is not None else 0.0
    dm = m.detection_match(baseline=gate.baseline, iou=gate.iou, gate=name)
    counts = dm.counts(thr)
    overall = counts.overall()
    value = overall[name]
    names = m.inputs.class_names
    per_arr = {"precision": counts.precision, "recall": counts.recall, "f1": counts.f1}[name]
    per = {names[k]: finite_or_none(per_arr[k]) for k in range(len(names))}
    best = dm.f1_optimal_thresholds()
    evidence = PrecisionRecallEvidence(
        float(thr),
        float(gate.iou),
        gate.baseline,
        int(counts.tp.sum()),
        int(counts.fp.sum()),
        int(counts.fn.sum()),
        per,
        {names[k]: finite_or_none(best[k]) for k in range(len(names))},
    )
    thr_text = f"threshold {thr:g}" if gate.threshold is not None else "all predictions (no threshold set)"
    head = f"{name} {_f(value)} vs min {gate.min:g} at {thr_text}, {_ov(m)} {gate.iou:g}, baseline {gate.baseline}"
    hint = ""
    errors, what = {
        "precision": (counts.fp, "false positives"),
        "recall": (counts.fn, "missed objects"),
        "f1": (counts.fp + counts.fn, "errors (false positives + missed objects)"),
    }[name]
    if errors.sum():
        k = int(np.argmax(errors))
        opt = float(best[k])
        # Point the threshold the way that helps this gate, and only when the F1 optimum lies that way.
        helps = {"precision": opt > thr, "recall": opt < thr, "f1": math.isfinite(opt) and opt != thr}[name]
        move = f"move its threshold toward {_f(opt)} (F1-optimal)" if helps else "retrain or check its golden labels"
        hint = f"; most {what} in class {names[k]!r} ({int(errors[k])}): {move}"
    if not math.isfinite(value):
        hint = "; undefined: no predictions at this threshold" if name == "precision" else "; undefined: no objects"
    return _result(name, name, value, ">=", gate.min, head, head + hint, evidence)


def precision_gate(gate: pol.PrecisionGate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _prf_gate("precision", gate, m)


def recall_gate(gate: pol.RecallGate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _prf_gate("recall", gate, m)


def f1_gate(gate: pol.F1Gate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _prf_gate("f1", gate, m)


def _ap_gate(name: str, gate: pol.MapGate, m: Measurements) -> GateResult:
    res = m.coco(baseline=gate.baseline, gate=name)
    stats = res.stats_dict()
    value = stats["AP"] if name == "map" else stats["AP50"]
    names = m.inputs.class_names
    per_ap = res.per_class_ap() if name == "map" else res.per_class_ap(iou=0.5)
    per = {names[k]: finite_or_none(per_ap[k]) for k in range(len(names))}
    label = "mAP@[.50:.95]" if name == "map" else "AP50"
    kind = {"segment": " segm", "pose": " keypoints"}.get(m.inputs.task, "")
    head = f"COCO{kind} {label} {_f(value)} vs min {gate.min:g} (baseline {gate.baseline})"
    finite = {k: v for k, v in per.items() if v is not None}
    hint = ""
    if finite:
        worst = min(finite, key=lambda k: finite[k])
        hint = f"; weakest class {worst!r} (AP {_f(finite[worst])}): inspect its predictions"
    if res.id_zero_matches:
        n = res.id_zero_matches
        head += (
            f"; {n} match{'es' if n > 1 else ''} to ground-truth annotation id 0 counted as "
            f"miss{'es' if n > 1 else ''}, as pycocotools does (ids from 1 avoid this)"
        )
    if value < 0:
        value, hint = float("nan"), "; undefined: the baseline has no objects"
    coco_stats = {k: finite_or_none(v) for k, v in stats.items()}
    evidence = CocoEvidence(gate.baseline, coco_stats, per, int(res.id_zero_matches))
    return _result(name, name, value, ">=", gate.min, head, head + hint, evidence)


def map_gate(gate: pol.MapGate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _ap_gate("map", gate, m)


def ap50_gate(gate: pol.Ap50Gate, m: Measurements, policy: pol.Policy) -> GateResult:
    return _ap_gate("ap50", gate, m)


def _drift(
    m: Measurements, name: str, policy: pol.Policy, *, epsilon: float | None = None
) -> tuple[dict[str, float], dict[str, float], DriftEvidence, str, str]:
    """Both distributions, the evidence, the shift hint and the pending-schema-changes hint ("" if none)."""
    cur = m.current_distribution(model_threshold=model_threshold(policy), gate=name)
    par = m.parent_distribution(gate=name)
    cls, p, q = aligned_proportions(cur, par)
    shift = int(np.argmax(np.abs(p - q)))
    pending = tuple(c.key for c in m.pending_changes())
    evidence = DriftEvidence(
        dict(zip(cls, p.tolist(), strict=True)), dict(zip(cls, q.tolist(), strict=True)), pending, epsilon
    )
    hint = f"; biggest shift: class {cls[shift]!r} {_pct(float(q[shift]))} → {_pct(float(p[shift]))}"
    schema_hint = f"; schema changes need acknowledgement: {', '.join(pending[:5])}" if pending else ""
    return cur, par, evidence, hint, schema_hint


def class_drift_psi_gate(gate: pol.ClassDriftPsiGate, m: Measurements, policy: pol.Policy) -> GateResult:
    cur, par, evidence, hint, schema_hint = _drift(m, "class_drift_psi", policy, epsilon=float(gate.epsilon))
    value = psi(cur, par, epsilon=gate.epsilon)
    ok = not evidence.pending_schema_changes
    head = f"class-distribution PSI {_f(value)} vs max {gate.max:g} against the parent version"
    fail = head + (schema_hint if GateResult.compare(value, "<=", gate.max) else hint + schema_hint)
    return _result("class_drift_psi", "psi", value, "<=", gate.max, head, fail, evidence, extra_ok=ok)


def class_drift_js_gate(gate: pol.ClassDriftJsGate, m: Measurements, policy: pol.Policy) -> GateResult:
    cur, par, evidence, hint, schema_hint = _drift(m, "class_drift_js", policy)
    value = jensen_shannon(cur, par)
    ok = not evidence.pending_schema_changes
    head = f"class-distribution Jensen–Shannon divergence {_f(value)} vs max {gate.max:g} against the parent"
    fail = head + (schema_hint if GateResult.compare(value, "<=", gate.max) else hint + schema_hint)
    return _result("class_drift_js", "js_divergence", value, "<=", gate.max, head, fail, evidence, extra_ok=ok)


def expectations_gate(gate: pol.ExpectationsGate, m: Measurements, policy: pol.Policy) -> GateResult:
    rep = m.expectations(duplicate_iou=gate.duplicate_iou, gate="expectations")
    failed = rep.failed
    evidence = ExpectationsEvidence(gate.suite, tuple(rep.outcomes))
    head = f"{len(failed)} of {len(rep.outcomes)} data expectations fail (suite {gate.suite})"
    parts = [
        f"{o.name}: {o.unexpected_count} rows" + (f", e.g. row {o.examples[0][0]}" if o.examples else "")
        for o in failed[:3]
    ]
    fail = head + ("; " + "; ".join(parts) + ": fix those annotations" if parts else "")
    return _result("expectations", "expectations_failed", float(len(failed)), "<=", 0.0, head, fail, evidence)


def review_coverage_gate(gate: pol.ReviewCoverageGate, m: Measurements, policy: pol.Policy) -> GateResult:
    rc = m.review(gate="review_coverage")
    # Nothing labelled by a model means nothing to review: vacuously complete, stated in the explanation.
    value = rc.reviewed_share if rc.model_labels else 1.0
    evidence = ReviewEvidence(
        rc.model_labels,
        rc.reviewed,
        rc.routed,
        rc.routed_reviewed,
        finite_or_none(rc.routed_reviewed_share),
        gate.min_routed,
    )
    head = f"{_pct(value)} of {rc.model_labels} model labels reviewed vs min {_pct(gate.min)}"
    routed_ok = True
    if gate.min_routed is not None:
        routed_ok = GateResult.compare(rc.routed_reviewed_share, ">=", gate.min_routed) or rc.routed == 0
        head += f"; routed reviewed {_pct(rc.routed_reviewed_share)} vs min {_pct(gate.min_routed)}"
    need = max(0, math.ceil(gate.min * rc.model_labels) - rc.reviewed)
    fail = head + (f": review at least {need} more model labels" if need else ": review the routed queue")
    if rc.model_labels == 0:
        head = "no model labels, nothing to review"
    return _result(
        "review_coverage", "review_coverage", value, ">=", gate.min, head, fail, evidence, extra_ok=routed_ok
    )


GATE_FUNCTIONS: dict[str, Callable[[Any, Measurements, pol.Policy], GateResult]] = {
    "golden_set_error": golden_set_error_gate,
    "krippendorff_alpha": krippendorff_alpha_gate,
    "precision": precision_gate,
    "recall": recall_gate,
    "f1": f1_gate,
    "map": map_gate,
    "ap50": ap50_gate,
    "class_drift_psi": class_drift_psi_gate,
    "class_drift_js": class_drift_js_gate,
    "expectations": expectations_gate,
    "review_coverage": review_coverage_gate,
}


def gate_functions(task: str) -> dict[str, Callable[[Any, Measurements, pol.Policy], GateResult]]:
    """Gate name → gate function for ``task``: the task's table, plus the gates whose inputs exist on the record
    only (:data:`quality_gates.leakage.RECORD_GATE_FUNCTIONS`, which every task may configure)."""
    if task == "classify":
        from quality_gates.gates_classify import CLASSIFY_GATE_FUNCTIONS

        return {**CLASSIFY_GATE_FUNCTIONS, **RECORD_GATE_FUNCTIONS}
    return {**GATE_FUNCTIONS, **RECORD_GATE_FUNCTIONS}
