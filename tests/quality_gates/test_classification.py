"""Classification metrics: hand-computed cases, plain-loop references, and the krippendorff / scipy / scikit-learn
packages as independent references (scikit-learn comparisons skip when it is not installed)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from scipy import stats

from quality_gates.classification import ClassLabels, class_counts, classification_report
from quality_gates.classification_agreement import classification_agreement, reliability_data
from quality_gates.classification_drift import class_share_drift
from quality_gates.classification_golden import classification_golden_error, classification_golden_set_error

NAMES = ["cat", "dog", "bird", "fish"]

# Single-label, K=4: "f" has no prediction (missing), "z" is predicted but not in the truth (extra); "fish" has
# neither support nor predictions, "bird" is predicted once but has no support.
SINGLE_TRUTH = {"a": 0, "b": 0, "c": 0, "d": 1, "e": 1, "f": 0}
SINGLE_PRED = {"a": 0, "b": 1, "c": 2, "d": 1, "e": 0, "z": 1}

# Multi-label, K=3: "c" has no class on both sides (an exact match), "e" is missing, "x" is extra.
MULTI_TRUTH: dict[str, set[int]] = {"a": {0, 1}, "b": {1}, "c": set(), "d": {2}, "e": {0}}
MULTI_PRED: dict[str, set[int]] = {"a": {0, 1}, "b": {1, 2}, "c": set(), "d": {0}, "x": {1}}


def single(labels: Mapping[Any, Any], k: int = 4) -> ClassLabels:
    return ClassLabels.from_mapping(labels, num_classes=k)


def multi(labels: Mapping[Any, Any], k: int = 3) -> ClassLabels:
    return ClassLabels.from_mapping(labels, num_classes=k, multi_label=True)


def strict_json(d: Any) -> Any:
    """Round-trip through JSON that refuses NaN/inf, so undefined values must be None."""
    return json.loads(json.dumps(d, allow_nan=False))


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize("bad", [float("nan"), 1.5, 2.0, "2", True, None, -1, 4, np.float64("nan")])
def test_invalid_class_index_is_refused_naming_the_item(bad: Any) -> None:
    with pytest.raises(ValueError, match="item 'img-7'"):
        single({"img-1": 0, "img-7": bad})
    with pytest.raises(ValueError, match="item 'img-7'"):
        multi({"img-1": [0], "img-7": [1, bad]}, k=4)


@pytest.mark.parametrize("bad", [set(), {0, 1}, [2, 3]])
def test_single_label_needs_exactly_one_class(bad: Any) -> None:
    with pytest.raises(ValueError, match="item 7: single-label needs exactly one class"):
        single({1: 0, 7: bad})
    assert single({1: [2], 7: {3}}).indicator.tolist() == [[0, 0, 1, 0], [0, 0, 0, 1]]


def test_invalid_scores_and_mismatched_sources_are_refused() -> None:
    with pytest.raises(ValueError, match="item 'q'"):
        ClassLabels.from_scores({"p": [0.1, 0.9], "q": [0.5, float("nan")]})
    with pytest.raises(ValueError, match="item 'q'"):
        ClassLabels.from_scores({"p": [0.1, 0.9], "q": [0.5]})
    with pytest.raises(ValueError, match="empty"):
        ClassLabels.from_scores({})
    with pytest.raises(ValueError, match="must agree"):
        classification_report(single({"a": 0}), single({"a": 0}, k=3))
    with pytest.raises(ValueError, match="must agree"):
        classification_report(single({"a": 0}, k=3), multi({"a": [0]}))
    with pytest.raises(ValueError, match="disagree"):
        classification_agreement({"ann1": single({"a": 0}), "ann2": single({"a": 0}, k=3)})
    with pytest.raises(ValueError, match="num_classes"):
        single({}, k=0)


def test_labels_from_scores() -> None:
    s = {"p": [0.2, 0.7, 0.1], "q": [0.4, 0.4, 0.2], "r": [0.3, 0.3, 0.35]}
    top = ClassLabels.from_scores(s)
    assert top.items == ("p", "q", "r") and top.indicator.argmax(axis=1).tolist() == [1, 0, 2]  # tie → lowest
    cut = ClassLabels.from_scores(s, threshold=0.4)
    assert cut.items == ("p", "q")  # "r" tops out at 0.35: no prediction
    rep = classification_report(single({"p": 1, "q": 0, "r": 2}, k=3), cut)
    assert rep.n_missing == 1 and rep.accuracy == pytest.approx(2 / 3)
    ml = ClassLabels.from_scores(s, multi_label=True, threshold=0.35)
    assert ml.indicator.tolist() == [[False, True, False], [True, True, False], [False, False, True]]
    assert ml.scores is not None and ml.scores.shape == (3, 3)


# ---------------------------------------------------------------- report: hand-computed


def test_empty_input_is_defined() -> None:
    rep = classification_report(single({}, k=3), single({}, k=3))
    assert (rep.n_items, rep.n_missing, rep.n_extra, rep.accuracy, rep.hamming_loss) == (0, 0, 0, None, None)
    assert rep.precision == rep.recall == rep.f1 == (None, None, None)
    assert dict(rep.macro) == dict(rep.micro) == {"precision": None, "recall": None, "f1": None}
    assert rep.confusion == ((0, 0, 0),) * 3
    d = strict_json(rep.to_dict())
    assert d["accuracy"] is None and d["per_class"]["0"]["precision"] is None
    # Predictions only, no truth: nothing judged, the predictions are extra.
    rep2 = classification_report(multi({}), multi({"a": [0]}))
    assert (rep2.n_items, rep2.n_extra, rep2.accuracy, rep2.fp) == (0, 1, None, (0, 0, 0))


def test_single_label_by_hand() -> None:
    rep = classification_report(single(SINGLE_TRUTH), single(SINGLE_PRED))
    assert (rep.n_items, rep.n_missing, rep.n_extra) == (6, 1, 1)
    assert rep.accuracy == pytest.approx(2 / 6)
    assert rep.confusion == ((1, 1, 1, 0), (1, 1, 0, 0), (0, 0, 0, 0), (0, 0, 0, 0))
    assert rep.missing_per_class == (1, 0, 0, 0)
    assert (rep.tp, rep.fp, rep.fn, rep.support) == ((1, 1, 0, 0), (1, 1, 1, 0), (3, 1, 0, 0), (4, 2, 0, 0))
    assert rep.precision == (0.5, 0.5, 0.0, None)
    assert rep.recall == (0.25, 0.5, None, None)
    assert rep.f1[0] == pytest.approx(1 / 3) and rep.f1[1:] == (0.5, 0.0, None)
    assert rep.macro["precision"] == pytest.approx(1 / 3)
    assert rep.macro["recall"] == pytest.approx(0.375)
    assert rep.macro["f1"] == pytest.approx(5 / 18)
    assert rep.micro == {"precision": 2 / 5, "recall": pytest.approx(1 / 3), "f1": pytest.approx(4 / 11)}
    # b, c, e wrong: 2 decisions each; f missing: all 4 decisions.
    assert rep.hamming_loss == pytest.approx(10 / 24)
    d = strict_json(rep.to_dict(NAMES))
    assert d["per_class"]["fish"] == {
        "precision": None,
        "recall": None,
        "f1": None,
        "support": 0,
        "tp": 0,
        "fp": 0,
        "fn": 0,
        "missing": 0,
    }
    assert d["per_class"]["bird"]["recall"] is None and d["per_class"]["bird"]["precision"] == 0.0
    assert d["confusion"][0] == [1, 1, 1, 0] and d["class_names"] == NAMES


def test_multi_label_by_hand() -> None:
    rep = classification_report(multi(MULTI_TRUTH), multi(MULTI_PRED))
    assert (rep.n_items, rep.n_missing, rep.n_extra, rep.confusion) == (5, 1, 1, None)
    assert rep.accuracy == pytest.approx(2 / 5)  # a and c exact; b, d differ; e missing
    assert (rep.tp, rep.fp, rep.fn, rep.support) == ((1, 2, 0), (1, 0, 1), (1, 0, 1), (2, 2, 1))
    assert rep.precision == (0.5, 1.0, 0.0) and rep.recall == (0.5, 1.0, 0.0) and rep.f1 == (0.5, 1.0, 0.0)
    assert rep.micro == {"precision": 0.6, "recall": 0.6, "f1": 0.6}
    assert rep.hamming_loss == pytest.approx(6 / 15)  # b: 1, d: 2, e (missing): 3
    assert rep.missing_per_class == (1, 0, 0)


def test_missing_and_extra_rule() -> None:
    truth = single({"a": 0, "b": 1}, k=2)
    # The extra predictions change nothing but n_extra.
    base = classification_report(truth, single({"a": 0, "b": 1}, k=2))
    noisy = classification_report(truth, single({"a": 0, "b": 1, "x": 1, "y": 0}, k=2))
    assert (base.n_extra, noisy.n_extra) == (0, 2)
    assert (
        (noisy.accuracy, noisy.tp, noisy.fp, noisy.fn)
        == (base.accuracy, base.tp, base.fp, base.fn)
        == (
            1.0,
            (1, 1),
            (0, 0),
            (0, 0),
        )
    )
    # A missing prediction is wrong: FN of its class, no FP, left out of the confusion matrix.
    gap = classification_report(truth, single({"a": 0}, k=2))
    assert (gap.accuracy, gap.fn, gap.fp, gap.confusion) == (0.5, (0, 1), (0, 0), ((1, 0), (0, 0)))
    # Multi-label: a missing item is wrong even when its truth set is empty.
    empty_truth = classification_report(multi({"a": set()}), multi({}))
    assert (empty_truth.accuracy, empty_truth.hamming_loss, empty_truth.fn) == (0.0, 1.0, (0, 0, 0))
    ge = classification_golden_error(multi({"a": set()}), multi({}))
    assert (ge.wrong, ge.missing, ge.error) == (1, 1, 1.0)


def test_one_class_only() -> None:
    truth = single({"a": 0, "b": 0}, k=1)
    rep = classification_report(truth, single({"a": 0, "b": 0}, k=1))
    assert (rep.accuracy, rep.precision, rep.recall, rep.f1, rep.confusion) == (1.0, (1.0,), (1.0,), (1.0,), ((2,),))
    assert rep.hamming_loss == 0.0
    ag = classification_agreement({"ann1": truth, "ann2": truth})
    assert ag.alpha is None and ag.per_class == (None,)  # no variation at all


# ---------------------------------------------------------------- report: randomized references


def random_labels(rng: np.random.Generator, n: int, k: int, *, multi_label: bool, keep: float = 1.0) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for i in range(n):
        if rng.random() >= keep:
            continue
        out[i] = set(np.nonzero(rng.random(k) < 0.35)[0].tolist()) if multi_label else int(rng.integers(0, k))
    return out


def as_set(v: Any) -> set[int]:
    return set(v) if isinstance(v, set) else {v}


def loop_reference(truth: dict[int, Any], pred: dict[int, Any], k: int) -> dict[str, Any]:
    """The module docstring's definitions, item by item."""
    tp, fp, fn = [0] * k, [0] * k, [0] * k
    exact, wrong_decisions = 0, 0
    for item, t in truth.items():
        ts = as_set(t)
        if item not in pred:
            fn = [fn[c] + (c in ts) for c in range(k)]
            wrong_decisions += k
            continue
        ps = as_set(pred[item])
        exact += ts == ps
        wrong_decisions += len(ts ^ ps)
        for c in range(k):
            tp[c] += c in ts and c in ps
            fp[c] += c not in ts and c in ps
            fn[c] += c in ts and c not in ps
    n = len(truth)
    return {"tp": tp, "fp": fp, "fn": fn, "accuracy": exact / n, "hamming": wrong_decisions / (n * k)}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("multi_label", [False, True])
def test_report_matches_loop_reference_with_missing_and_extra(seed: int, multi_label: bool) -> None:
    rng = np.random.default_rng(seed)
    k = 5
    truth = random_labels(rng, 300, k, multi_label=multi_label)
    pred = random_labels(rng, 330, k, multi_label=multi_label, keep=0.85)  # some missing, some extra
    mk = multi if multi_label else single
    rep = classification_report(mk(truth, k), mk(pred, k))
    ref = loop_reference(truth, pred, k)
    assert (list(rep.tp), list(rep.fp), list(rep.fn)) == (ref["tp"], ref["fp"], ref["fn"])
    assert rep.accuracy == pytest.approx(ref["accuracy"]) and rep.hamming_loss == pytest.approx(ref["hamming"])
    assert rep.n_missing == sum(i not in pred for i in truth) > 0
    assert rep.n_extra == sum(i not in truth for i in pred) > 0
    for c in range(k):
        tp, fp, fn = ref["tp"][c], ref["fp"][c], ref["fn"][c]
        assert rep.precision[c] == pytest.approx(tp / (tp + fp))
        assert rep.recall[c] == pytest.approx(tp / (tp + fn))
        assert rep.f1[c] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    if not multi_label:
        assert rep.confusion is not None
        assert sum(map(sum, rep.confusion)) == len(truth) - rep.n_missing
        assert rep.confusion[1][3] == sum(truth[i] == 1 and pred.get(i) == 3 for i in truth)


def floats(values: tuple[float | None, ...]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values])


def indicator_map(m: np.ndarray) -> dict[int, set[int]]:
    return {i: set(np.nonzero(r)[0].tolist()) for i, r in enumerate(m)}


@pytest.mark.parametrize("seed", range(3))
def test_report_matches_sklearn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    k, n = 4, 400
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n))
    rep = classification_report(single(dict(enumerate(t.tolist())), k), single(dict(enumerate(p.tolist())), k))
    labels = list(range(k))
    assert rep.accuracy == pytest.approx(metrics.accuracy_score(t, p))
    assert np.array_equal(np.array(rep.confusion), metrics.confusion_matrix(t, p, labels=labels))
    pr, rc, f1, sup = metrics.precision_recall_fscore_support(t, p, labels=labels)
    assert np.allclose(floats(rep.precision), pr) and np.allclose(floats(rep.recall), rc)
    assert np.allclose(floats(rep.f1), f1)
    assert list(rep.support) == sup.tolist()
    assert rep.macro["f1"] == pytest.approx(metrics.f1_score(t, p, average="macro"))
    assert rep.micro["f1"] == pytest.approx(metrics.f1_score(t, p, average="micro"))
    # Multi-label: indicator matrices.
    ti = rng.random((n, k)) < 0.4
    pi = np.where(rng.random((n, k)) < 0.8, ti, ~ti)
    mrep = classification_report(multi(indicator_map(ti), k), multi(indicator_map(pi), k))
    assert mrep.accuracy == pytest.approx(metrics.accuracy_score(ti, pi))
    assert mrep.hamming_loss == pytest.approx(metrics.hamming_loss(ti, pi))
    pr, rc, f1, _ = metrics.precision_recall_fscore_support(ti, pi)
    assert np.allclose(floats(mrep.precision), pr) and np.allclose(floats(mrep.recall), rc)
    assert np.allclose(floats(mrep.f1), f1)
    assert mrep.micro["precision"] == pytest.approx(metrics.precision_score(ti, pi, average="micro"))


# ---------------------------------------------------------------- golden error


def scipy_intervals(k: int, n: int, confidence: float = 0.95) -> tuple[tuple[float, float], tuple[float, float]]:
    res = stats.binomtest(k, n)
    w, cp = res.proportion_ci(confidence, method="wilson"), res.proportion_ci(confidence, method="exact")
    return (w.low, w.high), (cp.low, cp.high)


def test_golden_error_single_label_by_hand() -> None:
    ge = classification_golden_error(single(SINGLE_TRUTH), single(SINGLE_PRED), source="model")
    assert (ge.source, ge.n, ge.wrong, ge.missing) == ("model", 6, 4, 1)
    assert ge.error == pytest.approx(4 / 6) and ge.wrong_items == ("b", "c", "e", "f")
    assert dict(ge.per_class) == {0: (3, 4), 1: (1, 2), 2: (0, 0), 3: (0, 0)}
    wilson, cp = scipy_intervals(4, 6)
    assert ge.wilson == pytest.approx(wilson, abs=1e-9) and ge.clopper_pearson == pytest.approx(cp, abs=1e-9)
    d = strict_json(ge.to_dict(NAMES))
    assert d["per_class"]["cat"] == {"wrong": 3, "n": 4, "error": 0.75}
    assert d["per_class"]["fish"]["error"] is None and d["wrong_items"] == ["b", "c", "e", "f"]


def test_golden_error_multi_label_by_hand() -> None:
    ge = classification_golden_error(multi(MULTI_TRUTH), multi(MULTI_PRED), confidence=0.9)
    assert (ge.n, ge.wrong, ge.missing) == (5, 3, 1) and ge.error == pytest.approx(0.6)
    assert ge.wrong_items == ("b", "d", "e")
    # Presence differs: class 0 on d and e, class 1 on e, class 2 on b, d and e.
    assert dict(ge.per_class) == {0: (2, 5), 1: (1, 5), 2: (3, 5)}
    wilson, cp = scipy_intervals(3, 5, 0.9)
    assert ge.wilson == pytest.approx(wilson, abs=1e-9) and ge.clopper_pearson == pytest.approx(cp, abs=1e-9)


def test_golden_error_scope_and_pooling() -> None:
    golden = single(SINGLE_TRUTH)
    # Asked for a, b, d only: b is wrong; c, e, f are not charged. "q" in scope but not golden: ignored.
    alice = classification_golden_error(golden, single({"a": 0, "b": 1, "d": 1}), scope={"a", "b", "d", "q"})
    assert (alice.n, alice.wrong, alice.missing) == (3, 1, 0)
    # Asked for a and f, labelled only a: f is missing, hence wrong.
    bob = classification_golden_error(golden, single({"a": 0}), scope=["a", "f"])
    assert (bob.n, bob.wrong, bob.missing, bob.wrong_items) == (2, 1, 1, ("f",))
    rep = classification_golden_set_error(
        golden,
        {"alice": single({"a": 0, "b": 1, "d": 1}), "bob": single({"a": 0}), "model": single(SINGLE_PRED)},
        scopes={"alice": {"a", "b", "d"}, "bob": ["a", "f"]},
    )
    assert rep.per_source["alice"].error == pytest.approx(1 / 3) and rep.per_source["bob"].error == 0.5
    o = rep.overall
    assert (o.source, o.n, o.wrong, o.missing) == ("overall", 3 + 2 + 6, 1 + 1 + 4, 0 + 1 + 1)
    assert o.per_class[0] == (1 + 1 + 3, 2 + 2 + 4)  # cats judged: alice a, b; bob a, f; model a, b, c, f
    worst = rep.worst()
    assert worst is not None and worst.source == "model"
    assert strict_json(rep.to_dict(NAMES))["per_source"]["bob"]["wrong_items"] == ["f"]


def test_golden_error_empty_is_undefined() -> None:
    ge = classification_golden_error(single({}), single({"a": 1}))
    assert (ge.n, ge.wrong, ge.error, ge.wilson, ge.clopper_pearson) == (0, 0, None, (0.0, 1.0), (0.0, 1.0))
    assert strict_json(ge.to_dict())["error"] is None
    rep = classification_golden_set_error(single({}), {})
    assert rep.overall.error is None and rep.worst() is None


def test_golden_error_of_one_class_only() -> None:
    ge = classification_golden_error(single({"a": 0, "b": 0}, k=1), single({"a": 0, "b": 0}, k=1))
    assert ge.error == 0.0 and ge.clopper_pearson == pytest.approx((0.0, 1 - 0.025 ** (1 / 2)))


# ---------------------------------------------------------------- agreement


# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers × 12 units, values 1..5.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_alpha_krippendorff_2011_worked_example() -> None:
    ann = {
        f"obs{r}": single({u: v - 1 for u, v in enumerate(row) if v is not None}, k=5) for r, row in enumerate(K2011)
    }
    ag = classification_agreement(ann)
    assert ag.alpha is not None and round(ag.alpha, 3) == 0.743
    assert (ag.n_units, ag.n_pairable, ag.coders) == (12, 11, ("obs0", "obs1", "obs2", "obs3"))


def test_alpha_all_agree_no_variation_and_too_few_coders() -> None:
    same = single({"a": 0, "b": 1, "c": 1}, k=3)
    ag = classification_agreement({"ann1": same, "ann2": same})
    assert ag.alpha == 1.0 and ag.per_class == (1.0, 1.0, None)  # class 2: never used, no variation
    flat = single({"a": 2, "b": 2}, k=3)
    assert classification_agreement({"ann1": flat, "ann2": flat}).alpha is None
    alone = classification_agreement({"ann1": same})
    assert (alone.alpha, alone.n_pairable, alone.n_units) == (None, 0, 3)
    # Disjoint items: nothing pairable.
    apart = classification_agreement({"ann1": single({"a": 0}, k=3), "ann2": single({"b": 1}, k=3)})
    assert (apart.alpha, apart.n_pairable) == (None, 0)
    empty = classification_agreement({})
    assert (empty.alpha, empty.n_units, empty.coders, empty.per_class) == (None, 0, (), ())
    d = strict_json(ag.to_dict(["cat", "dog", "bird"]))
    assert d["per_class"] == {"cat": 1.0, "dog": 1.0, "bird": None} and d["alpha"] == 1.0


def test_alpha_with_missing_ratings_by_hand() -> None:
    # Units: a (0, 0), b (0, 1), c (1, 1, 1), d (1; alone, unpairable).
    ann = {
        "x": single({"a": 0, "b": 0, "c": 1, "d": 1}, k=2),
        "y": single({"a": 0, "b": 1, "c": 1}, k=2),
        "z": single({"c": 1}, k=2),
    }
    # Coincidences: a gives o00 = 2; b gives o01 = o10 = 1; c gives o11 = 3·2/2 = 3; d none.
    # n0 = 3, n1 = 4, n = 7; D_o = 2 / 7, D_e = 2·3·4 / (7·6); alpha = 1 − D_o / D_e = 1/2.
    expected = 0.5
    ag = classification_agreement(ann)
    assert ag.alpha == pytest.approx(expected) and (ag.n_units, ag.n_pairable) == (4, 3)
    assert ag.per_class[0] == pytest.approx(expected) and ag.per_class[1] == pytest.approx(expected)


def ref_alpha(data: np.ndarray) -> float | None:
    """The krippendorff package, with "undefined" mapped to None as the module does."""
    krippendorff = pytest.importorskip("krippendorff")
    values = data[~np.isnan(data)]
    pairable = ((~np.isnan(data)).sum(axis=0) >= 2).any()
    if len(np.unique(values)) < 2 or not pairable:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_reliability_data_layout() -> None:
    ann = {"y": multi({"a": [0], "b": [1, 2]}), "x": multi({"b": [2]})}
    items, data = reliability_data(ann)
    assert items == ("b", "a")  # first appearance, coders by name (x first)
    nan = np.nan
    expected = [[0, 0, 1, nan, nan, nan], [0, 1, 1, 1, 0, 0]]
    assert np.array_equal(data, np.array(expected), equal_nan=True)
    assert np.array_equal(reliability_data(ann, class_index=2)[1], np.array([[1, nan], [1, 0]]), equal_nan=True)
    with pytest.raises(ValueError, match="class_index"):
        reliability_data(ann, class_index=3)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("multi_label", [False, True])
def test_alpha_equals_krippendorff_package_with_missing_ratings(seed: int, multi_label: bool) -> None:
    rng = np.random.default_rng(seed)
    k, n_items, names = 4, 150, ["ann-c", "ann-a", "ann-d", "ann-b"]
    truth = random_labels(rng, n_items, k, multi_label=multi_label)
    ann_maps: dict[str, dict[int, Any]] = {}
    for name in names:
        noisy = random_labels(rng, n_items, k, multi_label=multi_label)
        agree = rng.random(n_items) < 0.7
        labelled = rng.random(n_items) < 0.75  # a missing rating where False
        ann_maps[name] = {i: truth[i] if agree[i] else noisy[i] for i in range(n_items) if labelled[i]}
    mk = multi if multi_label else single
    ag = classification_agreement({name: mk(m, k) for name, m in ann_maps.items()})
    # Reliability data built here, independently: rows = coders (any order), columns = items.
    coders = sorted(ann_maps)

    def value(name: str, i: int, c: int | None) -> float:
        if i not in ann_maps[name]:
            return np.nan
        v = ann_maps[name][i]
        return float(v) if c is None else float(c in as_set(v))

    per_ref = [ref_alpha(np.array([[value(a, i, c) for i in range(n_items)] for a in coders])) for c in range(k)]
    if multi_label:
        overall = np.array([[value(a, i, c) for i in range(n_items) for c in range(k)] for a in coders])
    else:
        overall = np.array([[value(a, i, None) for i in range(n_items)] for a in coders])
    ref = ref_alpha(overall)
    assert ref is not None and 0.2 < ref < 0.95  # the data has real, imperfect agreement
    assert ag.alpha == pytest.approx(ref, abs=1e-9)
    assert ag.per_class == pytest.approx(per_ref, abs=1e-9)
    labelled_by = [sum(i in m for m in ann_maps.values()) for i in range(n_items)]
    assert ag.n_pairable == sum(c >= 2 for c in labelled_by)


# ---------------------------------------------------------------- drift


def test_class_share_drift_by_hand() -> None:
    cur = single({"a": 0, "b": 0, "c": 0, "d": 1}, k=2)
    par = single({"a": 0, "b": 1}, k=2)
    d = class_share_drift(cur, par, class_names=["cat", "dog"])
    p, q = np.array([0.75, 0.25]), np.array([0.5, 0.5])
    m = (p + q) / 2
    js = 0.5 * float(np.sum(p * np.log2(p / m))) + 0.5 * float(np.sum(q * np.log2(q / m)))
    assert d.psi == pytest.approx(0.25 * math.log(3)) and d.js == pytest.approx(js)
    assert d.current == {"cat": 0.75, "dog": 0.25} and d.parent == {"cat": 0.5, "dog": 0.5}
    assert d.largest_shift == "cat"
    assert strict_json(d.to_dict())["psi"] == pytest.approx(0.25 * math.log(3))
    same = class_share_drift(cur, cur)
    assert same.psi == pytest.approx(0.0, abs=1e-15) and same.js == pytest.approx(0.0, abs=1e-15)


def test_class_share_drift_multi_label_and_schema_change() -> None:
    cur = multi({"a": {1}, "b": {1}, "c": {1, 2}, "d": {0}, "e": set()})
    assert class_counts(cur) == (1, 3, 1)
    # The parent had only two classes; "bird" is new (share 0 in the parent).
    par = multi({"a": {0}, "b": {1}}, k=2)
    d = class_share_drift(cur, par, class_names=["cat", "dog", "bird"], parent_class_names=["cat", "dog"])
    assert d.current == pytest.approx({"bird": 0.2, "cat": 0.2, "dog": 0.6})
    assert d.parent == {"bird": 0.0, "cat": 0.5, "dog": 0.5}
    assert d.largest_shift == "cat"  # shifts: bird 0.2, cat 0.3, dog 0.1
    with pytest.raises(ValueError, match="parent_class_names"):
        class_share_drift(cur, par)
    with pytest.raises(ValueError, match="empty"):
        class_share_drift(multi({"a": set()}), cur)
