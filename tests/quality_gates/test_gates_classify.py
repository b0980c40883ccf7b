"""Classification gates through ``evaluate`` against scikit-learn (accuracy, precision/recall/F1, confusion
matrix, Hamming loss) and the ``krippendorff`` package (alpha over items), single- and multi-label, with
the policy threshold, missing items and the report's dict form."""

from __future__ import annotations

import math
from typing import Any

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, hamming_loss, precision_recall_fscore_support

from quality_gates import GateInputs, evaluate, parse_policy
from quality_gates.classification import ClassLabels
from quality_gates.errors import GateError, PolicyError
from quality_gates.evidence_classify import ClassAgreementEvidence, ClassGoldenEvidence, ClassificationEvidence
from quality_gates.intervals import clopper_pearson_interval, wilson_interval
from quality_gates.plots import BACKGROUND
from quality_gates.verdict import GateReport

NAMES = ("cat", "dog", "emu", "fox")
K = len(NAMES)

POLICY = """\
name: tags
task: classify
gates:
  golden_set_error: {max: 0.3}
  krippendorff_alpha: {min: 0.5}
  precision: {min: 0.5, threshold: THR}
  recall: {min: 0.5, threshold: THR}
  f1: {min: 0.5, threshold: THR}
  accuracy: {min: 0.5, threshold: THR}
  hamming_loss: {max: 0.3, threshold: THR}
  class_drift_psi: {max: 0.5}
"""


def _policy(thr: float) -> Any:
    return parse_policy(POLICY.replace("THR", str(thr)))


def make(seed: int, *, multi: bool, n: int = 300) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    items = tuple(f"img/{i:04d}.jpg" for i in range(n))
    if multi:
        truth = rng.random((n, K)) < 0.35
    else:
        truth = np.zeros((n, K), bool)
        truth[np.arange(n), rng.integers(0, K, n)] = True

    def noisy(p: float) -> np.ndarray:
        out = truth.copy()
        if multi:
            return out ^ (rng.random((n, K)) < p)
        flip = rng.random(n) < p
        out[flip] = False
        out[np.flatnonzero(flip), rng.integers(0, K, int(flip.sum()))] = True
        return out

    scores = np.where(noisy(0.2), rng.uniform(0.3, 1.0, (n, K)), 0.0)
    if not multi:  # one predicted class per item, with its confidence
        top = scores.argmax(axis=1)
        pred_ind = np.zeros((n, K), bool)
        pred_ind[np.arange(n), top] = True
        scores = np.where(pred_ind, np.maximum(scores, 0.05), 0.0)
    else:
        pred_ind = scores > 0
    pred_items = items[: n - 20] + tuple(f"extra/{i}.jpg" for i in range(5))  # 20 golden items without a prediction
    pred_ind = np.concatenate([pred_ind[: n - 20], np.eye(K, dtype=bool)[np.zeros(5, int)]])
    scores = np.concatenate([scores[: n - 20], np.eye(K)[np.zeros(5, int)]])
    a, b, c = noisy(0.1), noisy(0.3), noisy(0.2)
    return {
        "truth": ClassLabels(items, truth, K, multi),
        "pred": ClassLabels(pred_items, pred_ind, K, multi, scores),
        "annotators": {
            "alice": ClassLabels(items, a, K, multi),
            "bob": ClassLabels(items[50:], b[50:], K, multi),  # bob labelled part of the items
            "carol": ClassLabels(items[::2], c[::2], K, multi),
        },
    }


def inputs(d: dict[str, Any]) -> GateInputs:
    return GateInputs(
        class_names=NAMES, task="classify", golden=d["truth"], predictions=d["pred"], annotators=d["annotators"],
        parent_distribution={"cat": 10.0, "dog": 12.0, "emu": 9.0, "fox": 11.0},
    )  # fmt: skip


def predicted_at(d: dict[str, Any], thr: float) -> np.ndarray:
    """(n, K) the model's classes on the golden items at the threshold, all False where missing."""
    pred, truth = d["pred"], d["truth"]
    out = np.zeros_like(truth.indicator)
    for r, item in enumerate(truth.items):
        j = pred.row(item)
        if j >= 0:
            out[r] = pred.indicator[j] & (pred.scores[j] >= thr)
    result: np.ndarray = out
    return result


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("thr", [0.0, 0.5])
def test_metrics_are_sklearn(multi: bool, thr: float) -> None:
    d = make(1, multi=multi)
    report = evaluate(_policy(thr), inputs(d))
    y, p = d["truth"].indicator, predicted_at(d, thr)
    listed = np.array([d["pred"].row(i) >= 0 for i in d["truth"].items])
    # missing: no prediction at all (multi-label: an empty set at the threshold is an answer)
    missing = ~listed if multi else ~p.any(axis=1)
    if multi:
        y_s, p_s = y.astype(int), p.astype(int)
        # a missing multi-label item is wrong on every decision, even where its truth is empty
        ham = (hamming_loss(y_s[~missing], p_s[~missing]) * (~missing).sum() * K + missing.sum() * K) / (len(y) * K)
        acc = accuracy_score(y_s, p_s, normalize=False) - int((missing & ~y.any(axis=1)).sum())
        acc /= len(y)
        avg = "micro"
    else:
        labels = np.arange(K + 1)
        y_s = y.argmax(axis=1)
        p_s = np.where(missing, K, p.argmax(axis=1))  # missing = a wrong class of its own
        ok = ~missing  # sklearn over the items with a prediction; each missing one is wrong on all K decisions
        ham = (hamming_loss(y[ok].astype(int), p[ok].astype(int)) * ok.sum() * K + missing.sum() * K) / (len(y) * K)
        acc = accuracy_score(y_s, p_s)
        avg = "micro"
        cm = confusion_matrix(y_s, p_s, labels=labels)
        plot = report.evidence.confusion_matrix
        assert plot is not None and plot.labels == (*NAMES, BACKGROUND) and plot.iou is None
        assert np.array_equal(np.array(plot.matrix), cm)
    lab = list(range(K))
    prec, rec, f1, support = precision_recall_fscore_support(y_s, p_s, labels=lab, average=None, zero_division=np.nan)
    mp, mr, mf, _ = precision_recall_fscore_support(y_s, p_s, labels=lab, average=avg, zero_division=np.nan)
    gates = {g.name: g for g in report.gates}
    assert gates["accuracy"].value == pytest.approx(acc, abs=1e-12)
    assert gates["hamming_loss"].value == pytest.approx(ham, abs=1e-12)
    assert gates["precision"].value == pytest.approx(mp, abs=1e-12)
    assert gates["recall"].value == pytest.approx(mr, abs=1e-12)
    assert gates["f1"].value == pytest.approx(mf, abs=1e-12)
    ev = gates["f1"].evidence
    assert isinstance(ev, ClassificationEvidence)
    for k, name in enumerate(NAMES):
        for got, want in ((ev.precision[name], prec[k]), (ev.recall[name], rec[k]), (ev.f1[name], f1[k])):
            assert (got is None and math.isnan(want)) or got == pytest.approx(want, abs=1e-12)
        assert ev.support[name] == support[k]
        assert report.per_class[name]["precision"] == ev.precision[name]
    assert ev.n_missing == int(missing.sum()) and ev.n_extra == 5
    assert report.metrics["accuracy"] == gates["accuracy"].value


def test_a_missing_single_label_item_is_wrong_in_hamming_loss() -> None:
    d = make(2, multi=False)
    report = evaluate(_policy(0.5), inputs(d))
    y, p = d["truth"].indicator, predicted_at(d, 0.5)
    present = p.any(axis=1)
    wrong = (y != p)[present].sum() + K * (~present).sum()
    assert report.result("hamming_loss").value == pytest.approx(wrong / (len(y) * K), abs=1e-12)  # type: ignore[union-attr]


@pytest.mark.parametrize("multi", [False, True])
def test_alpha_is_the_krippendorff_package_over_items(multi: bool) -> None:
    d = make(3, multi=multi)
    report = evaluate(_policy(0.0), inputs(d))
    ann, items = d["annotators"], d["truth"].items
    coders = sorted(ann)
    if multi:
        data = np.full((3, len(items) * K), np.nan)
        for r, c in enumerate(coders):
            for item, row in zip(ann[c].items, ann[c].indicator, strict=True):
                i = items.index(item)
                data[r, i * K : (i + 1) * K] = row
    else:
        data = np.full((3, len(items)), np.nan)
        for r, c in enumerate(coders):
            for item, row in zip(ann[c].items, ann[c].indicator, strict=True):
                data[r, items.index(item)] = row.argmax()
    want = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    gate = report.result("krippendorff_alpha")
    assert gate is not None and gate.value == pytest.approx(want, abs=1e-12)
    assert isinstance(gate.evidence, ClassAgreementEvidence) and gate.evidence.multi_label is multi
    for k, name in enumerate(NAMES):
        if multi:
            per = data.reshape(3, len(items), K)[:, :, k]
        else:
            per = np.where(np.isnan(data), np.nan, (data == k).astype(float))
        want_k = krippendorff.alpha(reliability_data=per, level_of_measurement="nominal")
        assert gate.evidence.per_class[name] == pytest.approx(want_k, abs=1e-12)


@pytest.mark.parametrize("multi", [False, True])
def test_golden_error_is_the_misclassification_rate_with_its_intervals(multi: bool) -> None:
    d = make(4, multi=multi)
    report = evaluate(_policy(0.5), inputs(d))
    gate = report.result("golden_set_error")
    assert gate is not None and isinstance(gate.evidence, ClassGoldenEvidence)
    truth = d["truth"]
    total_wrong = total_n = 0
    for name, ls in d["annotators"].items():
        wrong = sum(not np.array_equal(ls.indicator[ls.row(i)], truth.indicator[r])
                    for r, i in enumerate(truth.items) if ls.row(i) >= 0)  # fmt: skip
        src = gate.evidence.per_source[name]
        assert (src.wrong, src.n, src.missing) == (wrong, len(ls), 0)
        assert src.wilson == wilson_interval(wrong, len(ls)) and src.clopper_pearson == clopper_pearson_interval(
            wrong, len(ls))  # fmt: skip
        total_wrong, total_n = total_wrong + wrong, total_n + len(ls)
    p = predicted_at(d, 0.5)
    model = gate.evidence.per_source["model:model"]
    m_wrong = int(((p != truth.indicator).any(axis=1) | ~p.any(axis=1) & ~multi).sum())
    if multi:  # multi-label: missing = not predicted at all (the 20 items), an empty set at the threshold is an answer
        listed = np.array([d["pred"].row(i) >= 0 for i in truth.items])
        m_wrong = int(((p != truth.indicator).any(axis=1) | ~listed).sum())
    assert (model.wrong, model.n) == (m_wrong, len(truth))
    assert gate.value == pytest.approx((total_wrong + m_wrong) / (total_n + len(truth)), abs=1e-12)


def test_report_round_trips_and_dashboard_keys_are_there() -> None:
    report = evaluate(_policy(0.5), inputs(make(5, multi=True)))
    d = report.to_dict()
    assert d["task"] == "classify" and {"accuracy", "hamming_loss"} <= set(d["metrics"])
    assert GateReport.from_dict(d) == report and GateReport.from_dict(d).to_dict() == d
    golden = next(g for g in d["gates"] if g["name"] == "golden_set_error")["evidence"]
    assert {"error", "wilson", "clopper_pearson"} <= set(next(iter(golden["per_source"].values())))
    prf = next(g for g in d["gates"] if g["name"] == "precision")["evidence"]
    assert set(prf["f1_optimal_threshold"]) == set(NAMES) and "threshold" in prf
    assert set(d["evidence"]) == {"pr_curves", "confusion_matrix"} and "iou" not in d["evidence"]["confusion_matrix"]
    assert "golden.classes" in d["data_hashes"]


def test_policies_and_inputs_of_another_task_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"gates.map.*task 'classify'"):
        parse_policy("name: x\ntask: classify\ngates:\n  map: {min: 0.5}\n")
    with pytest.raises(PolicyError, match=r"gates.expectations.*task 'classify'"):
        parse_policy("name: x\ntask: classify\ngates:\n  expectations: {}\n")
    with pytest.raises(PolicyError, match=r"gates.hamming_loss.*need `task: classify`"):
        parse_policy("name: x\ntask: segment\ngates:\n  hamming_loss: {max: 0.5}\n")
    with pytest.raises(PolicyError, match="level"):
        parse_policy("name: x\ntask: classify\ngates:\n  krippendorff_alpha: {min: 0.5, level: ordinal}\n")
    with pytest.raises(PolicyError, match=r"'detect'.*labels are 'classify'"):
        evaluate(parse_policy("name: x\ngates:\n  review_coverage: {min: 0}\n"), inputs(make(0, multi=False)))
    with pytest.raises(GateError, match="task 'classify' takes ClassLabels"):
        GateInputs(class_names=NAMES, task="classify", golden=make(0, multi=False)["annotators"])
