"""Evaluate a gate policy on a set of inputs → :class:`~quality_gates.verdict.GateReport`.

Every configured gate is computed; a configured gate whose input is absent raises
:class:`~quality_gates.errors.MissingInputError` before anything is computed (a gate never passes for
want of data). Metrics that the inputs allow but no gate asks for are still reported (COCO AP, P/R/F1,
golden error, alpha, drift, review coverage) as evidence; the expectations suite runs only when configured.
With golden labels and predictions, the report's evidence holds the plot data (:mod:`quality_gates.plots`):
PR curves per class and the confusion matrix, at the precision (else recall) gate's IoU (default 0.5) and
the model threshold (:func:`~quality_gates.gates.model_threshold`), for the predictions on the golden images
(all of them when ``golden_images`` is not given).

The policy's task must be the inputs' (:class:`~quality_gates.errors.PolicyError` otherwise). Masks are matched
by mask IoU and judged by COCO ``segm``, keypoint objects by OKS with the inputs' sigmas and COCO
``keypoints``; classification (:mod:`quality_gates.evaluate_classify`) measures items: accuracy, Hamming
loss, micro P/R/F1, the misclassification rate and alpha over items, and its plot data are the PR curves of
the class scores and the item confusion matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from quality_gates.classification import ClassLabels
from quality_gates.drift import jensen_shannon, psi
from quality_gates.errors import MissingInputError, PolicyError
from quality_gates.gates import gate_functions, model_threshold
from quality_gates.inputs import GateInputs, Measurements
from quality_gates.leakage import RECORD_PHASES
from quality_gates.plots import ReportEvidence, detection_evidence
from quality_gates.policy import Policy, policy_hash
from quality_gates.shapes import rows_of
from quality_gates.verdict import METRIC_KEYS, GateReport

__all__ = ["CLASSIFY_PHASES", "PHASES", "Progress", "evaluate", "missing_inputs", "phases"]

#: Told the name of each phase of an evaluation as it starts (for a progress line; never part of the result).
Progress = Callable[[str], None]

#: The phase each gate's measurement belongs to, as :func:`evaluate` announces it (once per phase).
PHASES: dict[str, str] = {
    "golden_set_error": "golden-set error: matching labels to the golden set…",
    "krippendorff_alpha": "Krippendorff's alpha: matching the annotators' boxes…",
    "precision": "matching predictions to the golden set…",
    "recall": "matching predictions to the golden set…",
    "f1": "matching predictions to the golden set…",
    "map": "COCO evaluation…",
    "ap50": "COCO evaluation…",
    "class_drift_psi": "class drift…",
    "class_drift_js": "class drift…",
    "expectations": "Great Expectations…",
    "review_coverage": "review coverage…",
}

#: The phases of a classification evaluation.
CLASSIFY_PHASES: dict[str, str] = {
    "golden_set_error": "golden-set error: comparing labels with the golden items…",
    "krippendorff_alpha": "Krippendorff's alpha over the annotators' items…",
    "precision": "scoring predictions against the golden items…",
    "recall": "scoring predictions against the golden items…",
    "f1": "scoring predictions against the golden items…",
    "accuracy": "scoring predictions against the golden items…",
    "hamming_loss": "scoring predictions against the golden items…",
    "class_drift_psi": "class drift…",
    "class_drift_js": "class drift…",
    "review_coverage": "review coverage…",
}


def phases(task: str) -> dict[str, str]:
    """Gate name → the phase :func:`evaluate` announces for it, for ``task`` (with the record-only gates')."""
    return {**(CLASSIFY_PHASES if task == "classify" else PHASES), **RECORD_PHASES}


def missing_inputs(policy: Policy, inputs: GateInputs) -> list[MissingInputError]:
    """One error per configured gate whose inputs are absent (empty when all is there)."""
    g = policy.gates
    out: list[MissingInputError] = []
    ann = inputs.annotators or {}
    refs = inputs.references or {}

    def need(ok: bool, gate: str, what: str, hint: str = "") -> None:
        if not ok:
            out.append(MissingInputError(gate, what, hint=hint))

    if g.golden_set_error is not None:
        need(inputs.golden is not None, "golden_set_error", "the golden set (ground truth)")
        need(
            bool(ann) or inputs.predictions is not None,
            "golden_set_error",
            "labels to judge (annotator label sets or model predictions)",
        )
    if g.krippendorff_alpha is not None:
        need(len(ann) >= 2, "krippendorff_alpha", f"label sets of two or more annotators (got {len(ann)})")
    for name in ("precision", "recall", "f1", "accuracy", "hamming_loss", "map", "ap50"):
        gate = getattr(g, name)
        if gate is None:
            continue
        need(inputs.predictions is not None, name, "model predictions")
        if gate.baseline == "golden":
            need(inputs.golden is not None, name, "the golden set (ground truth)")
        else:
            known = ", ".join(["golden", *sorted(refs)])
            need(gate.baseline in refs, name, f"baseline {gate.baseline!r}", f"available baselines: {known}")
    for name in ("class_drift_psi", "class_drift_js"):
        if getattr(g, name) is not None:
            need(inputs.parent_distribution is not None, name, "the parent version's class distribution")
            need(
                inputs.current_distribution is not None or bool(ann) or inputs.predictions is not None,
                name,
                "the class distribution of this version (labels or predictions)",
            )
    if g.expectations is not None:
        need(
            inputs.annotation_frame is not None,
            "expectations",
            "the annotation table (a data frame of boxes with provenance)",
        )
    if g.review_coverage is not None:
        need(inputs.review is not None, "review_coverage", "review statistics (model labels reviewed / routed)")
    if g.training_leakage is not None:
        leak = inputs.leakage
        need(leak is not None, "training_leakage", "the training data of the models whose labels are judged")
        if g.training_leakage.golden != "off":
            need(
                leak is None or leak.golden is not None,
                "training_leakage",
                "the golden set's item hashes (the golden check is on)",
            )
    return out


def _try(fn: Any) -> Any:
    try:
        return fn()
    except MissingInputError:
        return None


def _num(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _metrics(policy: Policy, m: Measurements, per_class: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    g = policy.gates
    inp = m.inputs
    names = list(inp.class_names)
    thr = model_threshold(policy)
    out: dict[str, float | None] = dict.fromkeys(METRIC_KEYS)
    out["threshold"] = thr

    def row(k: int) -> dict[str, Any]:
        return per_class.setdefault(names[k], {})

    iou = next((x.iou for x in (g.precision, g.recall, g.f1) if x is not None), 0.5)
    if inp.golden is not None and inp.predictions is not None:
        dm = m.detection_match(baseline="golden", iou=iou, gate="metrics")
        counts = dm.counts(thr)
        overall = counts.overall()
        out.update({k: _num(overall[k]) for k in ("precision", "recall", "f1")})
        best = dm.f1_optimal_thresholds()
        for k in range(len(names)):
            row(k).update(
                {
                    "n_gt": int(dm.n_gt[k]),
                    "tp": int(counts.tp[k]),
                    "fp": int(counts.fp[k]),
                    "fn": int(counts.fn[k]),
                    "precision": _num(counts.precision[k]),
                    "recall": _num(counts.recall[k]),
                    "f1": _num(counts.f1[k]),
                    "f1_optimal_threshold": _num(best[k]),
                }
            )
        coco = m.coco(baseline="golden", gate="metrics")
        stats = coco.stats_dict()
        out["map"] = _num(stats["AP"]) if stats["AP"] >= 0 else None
        out["ap50"] = _num(stats["AP50"]) if stats["AP50"] >= 0 else None
        ap, ap50 = coco.per_class_ap(), coco.per_class_ap(iou=0.5)
        for k in range(len(names)):
            row(k).update({"ap": _num(ap[k]), "ap50": _num(ap50[k])})
    if inp.golden is not None and (inp.annotators or inp.predictions is not None):
        ge = g.golden_set_error
        gthr = ge.threshold if ge is not None and ge.threshold is not None else thr
        rep = m.golden(iou=ge.iou if ge is not None else 0.5, model_threshold=gthr, gate="metrics")
        out["golden_error"] = _num(rep.overall.error)
        for k, (tp, fp, fn) in rep.overall.per_class.items():
            n = 2 * tp + fp + fn
            row(k)["golden_error"] = (fp + fn) / n if n else None
    if len(inp.annotators or {}) >= 2:
        ka = g.krippendorff_alpha
        rep_a = m.agreement(iou=ka.iou if ka else 0.5, level=ka.level if ka else "nominal", gate="metrics")
        out["krippendorff_alpha"] = _num(rep_a.alpha)
        for k, a in rep_a.per_class.items():
            row(k)["krippendorff_alpha"] = _num(a)
    if inp.parent_distribution is not None:
        cur = _try(lambda: m.current_distribution(model_threshold=thr, gate="metrics"))
        if cur is not None:
            par = m.parent_distribution(gate="metrics")
            eps = g.class_drift_psi.epsilon if g.class_drift_psi is not None else 1e-4
            out["class_drift_psi"] = _num(psi(cur, par, epsilon=eps))
            out["class_drift_js"] = _num(jensen_shannon(cur, par))
    if inp.review is not None:
        rc = inp.review
        out["review_coverage"] = _num(rc.reviewed_share)
        out["routed_review_coverage"] = _num(rc.routed_reviewed_share)
    if g.expectations is not None:
        out["expectations_failed"] = float(
            len(m.expectations(duplicate_iou=g.expectations.duplicate_iou, gate="expectations").failed)
        )
    if inp.predictions is not None:
        assert not isinstance(inp.predictions, ClassLabels)
        n_pred = rows_of(inp.predictions).at_threshold(thr).class_counts(len(names))
        for k in range(len(names)):
            row(k)["n_pred"] = int(n_pred[k])
    return out


def _plots(policy: Policy, m: Measurements) -> ReportEvidence:
    inp = m.inputs
    if inp.golden is None or inp.predictions is None:
        return ReportEvidence()
    gate = policy.gates.precision or policy.gates.recall
    iou = float(gate.iou) if gate is not None else 0.5
    match = m.detection_match(baseline="golden", iou=iou, gate="plots")
    predictions = m.predictions(gate="plots", baseline="golden")
    return detection_evidence(
        m.baseline("golden", gate="plots"), predictions, match, class_names=inp.class_names,
        threshold=model_threshold(policy), sigmas=inp.sigmas,
    )  # fmt: skip


def evaluate(policy: Policy, inputs: GateInputs, *, progress: Progress | None = None) -> GateReport:
    """Compute every configured gate of ``policy`` on ``inputs``.

    Args:
        policy: a validated policy (:func:`quality_gates.policy.parse_policy`).
        inputs: the data; see :class:`~quality_gates.inputs.GateInputs`.
        progress (None): called with each phase's name (:data:`PHASES`, then ``"metrics for the report…"``)
            as it starts, once per phase; the result does not depend on it.

    Returns:
        a frozen :class:`~quality_gates.verdict.GateReport`; ``passed`` is true only if every gate passed.

    Raises:
        PolicyError: the policy's task (``detect`` when unset) is not the inputs' task.
        MissingInputError: a configured gate lacks its input (the message names the gate and the input, and
            how many other gates lack theirs).
    """
    if policy.effective_task != inputs.task:
        unset = " (unset: detect)" if policy.task is None else ""
        raise PolicyError(
            "task",
            f"the policy gates task {policy.effective_task!r}{unset} but the labels are {inputs.task!r}; "
            f"set `task: {inputs.task}` and {inputs.task} gates in the policy",
        )
    missing = missing_inputs(policy, inputs)
    if missing:
        first = missing[0]
        if len(missing) > 1:
            others = ", ".join(sorted({e.gate for e in missing[1:]} - {first.gate}))
            if others:
                raise MissingInputError(first.gate, first.missing, hint=f"also missing inputs for: {others}")
        raise first
    if inputs.task == "classify":
        from quality_gates.class_measure import ClassMeasurements

        m: Measurements = ClassMeasurements(inputs)
    else:
        m = Measurements(inputs)
    announced: set[str] = set()
    functions, phase_of = gate_functions(inputs.task), phases(inputs.task)

    def phase(name: str) -> None:
        if progress is not None and name not in announced:
            announced.add(name)
            progress(name)

    results = []
    for name in policy.gates.configured():
        phase(phase_of.get(name, name))
        results.append(functions[name](getattr(policy.gates, name), m, policy))
    per_class: dict[str, dict[str, Any]] = {n: {} for n in inputs.class_names}
    phase("metrics for the report…")
    if inputs.task == "classify":
        from quality_gates.evaluate_classify import class_metrics, class_plots

        metrics = class_metrics(policy, m, per_class)
        evidence = class_plots(policy, m)
    else:
        metrics = _metrics(policy, m, per_class)
        evidence = _plots(policy, m)
    return GateReport(
        passed=all(r.passed for r in results),
        policy_name=policy.name,
        policy_hash=policy_hash(policy),
        gates=tuple(results),
        metrics=metrics,
        per_class=per_class,
        data_hashes=inputs.content_hashes(),
        evidence=evidence,
        task=inputs.task,
    )
