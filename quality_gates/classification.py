"""Image classification, single- and multi-label: P/R/F1, confusion, golden error, agreement and class drift.

Every source (ground truth, golden set, model, annotator) is a :class:`ClassLabels`: per item id the set of
class indices in ``0..K-1`` (single-label: exactly one; multi-label: any, possibly none).

Items on one side only. The truth (or golden) side defines what is judged:

- a truth item without a prediction is *missing* and counts as wrong on every decision: the item is not an
  exact match (even when its truth set is empty), each of its true classes is a false negative and each of
  its K per-class decisions counts in the Hamming loss and the per-class error; it adds no false positive;
- a prediction on an item outside the truth set is *extra* and ignored (only counted, as ``n_extra``).

For the golden error of an annotator, ``scope`` names the items that source was asked to label: golden items
outside it are not judged (nobody is charged for what they never saw); golden items inside it that it left
unlabelled are missing, hence wrong.

Undefined ratios (``0 / 0``: precision of a class never predicted, recall of a class without support,
anything over zero items) are None, never NaN, 0 or 1; macro averages are taken over the classes where the
metric is defined (scikit-learn's default instead counts undefined values as 0).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray, JsonDict
from quality_gates.agreement import krippendorff_alpha
from quality_gates.drift import aligned_proportions, jensen_shannon, psi
from quality_gates.intervals import clopper_pearson_interval, wilson_interval

__all__ = [
    "ClassLabels",
    "ClassShareDrift",
    "ClassificationAgreement",
    "ClassificationGoldenError",
    "ClassificationGoldenSetReport",
    "ClassificationReport",
    "ItemId",
    "class_counts",
    "class_share_drift",
    "classification_agreement",
    "classification_golden_error",
    "classification_golden_set_error",
    "classification_report",
    "reliability_data",
]

ItemId: TypeAlias = int | str
V = TypeVar("V")
# Mapping is invariant in its key: spelled out so dict[str, ...] and dict[int, ...] are both accepted.
ItemMap: TypeAlias = Mapping[str, V] | Mapping[int, V] | Mapping[ItemId, V]

#: Wrong items listed in ``ClassificationGoldenError.to_dict()`` (all of them stay on the object).
MAX_EXAMPLES = 20


def _ratio(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


def _mean(values: Iterable[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def _class_index(item: ItemId, value: object, k: int) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValueError(f"item {item!r}: class index {value!r} is not an integer in 0..{k - 1}")
    if not 0 <= int(value) < k:
        raise ValueError(f"item {item!r}: class index {int(value)} is outside 0..{k - 1}")
    return int(value)


@dataclass(frozen=True, eq=False)
class ClassLabels:
    """The class sets of one source, one row per item; build it with :meth:`from_mapping` or :meth:`from_scores`.

    Attributes:
        items: item ids (unique), the rows.
        indicator: (items, K) bool; ``indicator[i, c]`` says item ``i`` has class ``c``.
        num_classes: K >= 1.
        multi_label: False: every row has exactly one class.
        scores (None): (items, K) per-class scores the labels were derived from, if any.
    """

    items: tuple[ItemId, ...]
    indicator: BoolArray
    num_classes: int
    multi_label: bool = False
    scores: FloatArray | None = None
    _row: dict[ItemId, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if np.shape(self.indicator) != (len(self.items), self.num_classes):
            raise ValueError(f"indicator must have shape {(len(self.items), self.num_classes)}")
        object.__setattr__(self, "indicator", np.asarray(self.indicator, dtype=bool))
        row = {item: i for i, item in enumerate(self.items)}
        if len(row) != len(self.items):
            raise ValueError("item ids must be unique")
        if not self.multi_label and len(self.items):
            bad = np.nonzero(self.indicator.sum(axis=1) != 1)[0]
            if len(bad):
                raise ValueError(f"item {self.items[int(bad[0])]!r}: single-label needs exactly one class")
        object.__setattr__(self, "_row", row)

    def __len__(self) -> int:
        return len(self.items)

    def row(self, item: ItemId) -> int:
        """Row of ``item``, -1 when absent."""
        return self._row.get(item, -1)

    @classmethod
    def from_mapping(
        cls, labels: ItemMap[int | Collection[int]], *, num_classes: int, multi_label: bool = False
    ) -> ClassLabels:
        """From item id → class index (or collection of class indices).

        Args:
            labels: per item an ``int`` or a collection of ``int`` in ``0..num_classes-1`` (bool, float, NaN
                and strings are refused).
            num_classes: K.
            multi_label (False): single-label needs exactly one class per item.

        Raises:
            ValueError: naming the first item with an invalid class index or class count.
        """
        ind = np.zeros((len(labels), num_classes), dtype=bool)
        for r, (item, value) in enumerate(labels.items()):
            values = (value,) if not isinstance(value, Collection) or isinstance(value, str | bytes) else value
            classes = {_class_index(item, v, num_classes) for v in values}
            if not multi_label and len(classes) != 1:
                raise ValueError(f"item {item!r}: single-label needs exactly one class, got {sorted(classes)}")
            ind[r, sorted(classes)] = True
        return cls(tuple(labels), ind, num_classes, multi_label)

    @classmethod
    def from_scores(
        cls, scores: ItemMap[Sequence[float]], *, multi_label: bool = False, threshold: float | None = None
    ) -> ClassLabels:
        """From item id → K class scores (model output).

        Args:
            scores: per item K finite scores (K taken from the first item).
            multi_label (False): single-label takes the top class (lowest index on ties); multi-label takes
                every class with ``score >= threshold``.
            threshold (None): single-label default 0.0 (an item whose top score is below it gets no
                prediction, hence is missing); multi-label default 0.5.
        """
        thr = (0.5 if multi_label else 0.0) if threshold is None else float(threshold)
        if not scores:
            raise ValueError("scores are empty: K cannot be inferred; use from_mapping({}, num_classes=K)")
        k = len(next(iter(scores.values())))
        if k < 1:
            raise ValueError("need at least one class score per item")
        mat = np.zeros((len(scores), k))
        for r, (item, s) in enumerate(scores.items()):
            row = np.asarray(s, dtype=np.float64)
            if row.shape != (k,) or not np.isfinite(row).all():
                raise ValueError(f"item {item!r}: need {k} finite scores, got {list(s)!r}")
            mat[r] = row
        items = tuple(scores)
        if multi_label:
            return cls(items, mat >= thr, k, True, mat)
        keep = mat.max(axis=1, initial=-np.inf) >= thr
        ind = np.zeros_like(mat, dtype=bool)
        ind[np.arange(len(mat)), mat.argmax(axis=1)] = True
        return cls(tuple(i for i, ok in zip(items, keep, strict=True) if ok), ind[keep], k, False, mat[keep])


def _align(truth: ClassLabels, pred: ClassLabels) -> tuple[BoolArray, BoolArray, BoolArray, int]:
    """Truth rows, prediction rows aligned to them (all False where missing), the present mask, n_extra."""
    if (truth.num_classes, truth.multi_label) != (pred.num_classes, pred.multi_label):
        raise ValueError(
            f"truth has K={truth.num_classes}, multi_label={truth.multi_label}; predictions have "
            f"K={pred.num_classes}, multi_label={pred.multi_label}: they must agree"
        )
    rows = np.array([pred.row(i) for i in truth.items], dtype=np.int64)
    present = rows >= 0
    p = np.zeros_like(truth.indicator)
    p[present] = pred.indicator[rows[present]]
    n_extra = sum(truth.row(i) < 0 for i in pred.items)
    return truth.indicator, p, present, n_extra


@dataclass(frozen=True)
class ClassificationReport:
    """Predictions scored against truth; per-class tuples are indexed by class.

    Attributes:
        multi_label, num_classes: as the inputs.
        n_items: truth items judged; n_missing: those without a prediction; n_extra: ignored predictions.
        accuracy: share of items predicted exactly (single-label accuracy, multi-label subset accuracy).
        hamming_loss: share of the ``n_items × K`` per-class decisions that are wrong, in [0, 1].
        tp, fp, fn, support: per-class counts (support = truth items having the class).
        precision, recall, f1: per class, None where undefined.
        macro, micro: ``{"precision", "recall", "f1"}`` averages (macro over defined classes; micro pooled).
        confusion: single-label K×K counts, rows = truth, columns = prediction, missing items left out;
            None for multi-label.
        missing_per_class: per truth class, items without a prediction (multi-label: per true class).
    """

    multi_label: bool
    num_classes: int
    n_items: int
    n_missing: int
    n_extra: int
    accuracy: float | None
    hamming_loss: float | None
    tp: tuple[int, ...]
    fp: tuple[int, ...]
    fn: tuple[int, ...]
    support: tuple[int, ...]
    precision: tuple[float | None, ...]
    recall: tuple[float | None, ...]
    f1: tuple[float | None, ...]
    macro: Mapping[str, float | None]
    micro: Mapping[str, float | None]
    confusion: tuple[tuple[int, ...], ...] | None
    missing_per_class: tuple[int, ...]

    def to_dict(self, class_names: Sequence[str] | None = None) -> JsonDict:
        """JSON-safe evidence; ``per_class`` keyed by ``class_names`` (default ``"0"``, ``"1"``, ...)."""
        names = _names(class_names, self.num_classes)
        per = {
            n: {
                "precision": self.precision[c],
                "recall": self.recall[c],
                "f1": self.f1[c],
                "support": self.support[c],
                "tp": self.tp[c],
                "fp": self.fp[c],
                "fn": self.fn[c],
                "missing": self.missing_per_class[c],
            }
            for c, n in enumerate(names)
        }
        keys = ("multi_label", "n_items", "n_missing", "n_extra", "accuracy", "hamming_loss")
        out: JsonDict = {k: getattr(self, k) for k in keys}
        out |= {"macro": dict(self.macro), "micro": dict(self.micro), "per_class": per, "class_names": names}
        out["confusion"] = None if self.confusion is None else [list(r) for r in self.confusion]
        return out


def _names(class_names: Sequence[str] | None, k: int) -> list[str]:
    names = [str(c) for c in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"need {k} class names, got {len(names)}")
    return names


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def classification_report(truth: ClassLabels, predictions: ClassLabels) -> ClassificationReport:
    """Accuracy, per-class precision/recall/F1, their averages, Hamming loss and (single-label) confusion.

    Args:
        truth: the ground truth (or golden set); its items are the ones judged.
        predictions: the labels to score; same K and mode as ``truth``. Missing and extra items follow the
            module's rule (missing = wrong, extra = ignored).

    Returns:
        A :class:`ClassificationReport`; with no truth items every ratio is None.
    """
    t, p, present, n_extra = _align(truth, predictions)
    n, k = len(truth), truth.num_classes
    tp = (t & p).sum(axis=0)
    fp = (~t & p).sum(axis=0)
    fn = (t & ~p).sum(axis=0)
    exact = int((present & (t == p).all(axis=1)).sum())
    wrong_decisions = int((t != p)[present].sum()) + k * int((~present).sum())
    per = [_prf(int(a), int(b), int(c)) for a, b, c in zip(tp, fp, fn, strict=True)]
    confusion = None
    if not truth.multi_label:
        ti, pi = t[present].argmax(axis=1), p[present].argmax(axis=1)
        cm = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k)
        confusion = tuple(tuple(int(x) for x in r) for r in cm)
    return ClassificationReport(
        multi_label=truth.multi_label,
        num_classes=k,
        n_items=n,
        n_missing=int((~present).sum()),
        n_extra=n_extra,
        accuracy=_ratio(exact, n),
        hamming_loss=_ratio(wrong_decisions, n * k),
        tp=tuple(int(x) for x in tp),
        fp=tuple(int(x) for x in fp),
        fn=tuple(int(x) for x in fn),
        support=tuple(int(x) for x in t.sum(axis=0)),
        precision=tuple(m["precision"] for m in per),
        recall=tuple(m["recall"] for m in per),
        f1=tuple(m["f1"] for m in per),
        macro={key: _mean(m[key] for m in per) for key in ("precision", "recall", "f1")},
        micro=_prf(int(tp.sum()), int(fp.sum()), int(fn.sum())),
        confusion=confusion,
        missing_per_class=tuple(int(x) for x in t[~present].sum(axis=0)),
    )


@dataclass(frozen=True)
class ClassificationGoldenError:
    """Misclassification rate of one source against the golden labels.

    Attributes:
        source: the source's name.
        n: golden items judged (in scope); wrong: items whose class set differs or that are missing;
            missing: in-scope golden items the source did not label.
        error: wrong / n in [0, 1]; None when n == 0.
        wilson, clopper_pearson: (low, high) intervals for ``wrong`` of ``n`` items (one trial per item, so
            unlike detection's golden error the trials are independent); (0, 1) when n == 0.
        confidence: two-sided coverage of the intervals.
        per_class: class → (wrong, n). Single-label: among golden items of that class, those not given it
            (1 − recall). Multi-label: among all judged items, those where the class's presence differs.
        wrong_items: ids of the wrong items, in golden order.
    """

    source: str
    n: int
    wrong: int
    missing: int
    error: float | None
    wilson: tuple[float, float]
    clopper_pearson: tuple[float, float]
    confidence: float
    per_class: Mapping[int, tuple[int, int]]
    wrong_items: tuple[ItemId, ...]

    @classmethod
    def from_counts(
        cls,
        source: str,
        wrong: int,
        n: int,
        *,
        missing: int = 0,
        per_class: Mapping[int, tuple[int, int]] | None = None,
        wrong_items: tuple[ItemId, ...] = (),
        confidence: float = 0.95,
    ) -> ClassificationGoldenError:
        """Build from counts, computing the error and both intervals (``0 <= wrong <= n``)."""
        wi = wilson_interval(wrong, n, confidence=confidence)
        cp = clopper_pearson_interval(wrong, n, confidence=confidence)
        return cls(source, n, wrong, missing, _ratio(wrong, n), wi, cp, confidence, dict(per_class or {}), wrong_items)

    def to_dict(self, class_names: Sequence[str] | None = None) -> JsonDict:
        """JSON-safe evidence; per-class error None where that class has no trial; at most
        :data:`MAX_EXAMPLES` wrong item ids (as strings)."""
        names = _names(class_names, len(self.per_class)) if class_names is not None else None
        per = {
            (names[c] if names else str(c)): {"wrong": w, "n": n, "error": _ratio(w, n)}
            for c, (w, n) in sorted(self.per_class.items())
        }
        keys = ("source", "n", "wrong", "missing", "error", "confidence")
        out: JsonDict = {k: getattr(self, k) for k in keys}
        out |= {"wilson": list(self.wilson), "clopper_pearson": list(self.clopper_pearson), "per_class": per}
        out["wrong_items"] = [str(i) for i in self.wrong_items[:MAX_EXAMPLES]]
        return out


def classification_golden_error(
    golden: ClassLabels,
    labels: ClassLabels,
    *,
    scope: Collection[ItemId] | None = None,
    confidence: float = 0.95,
    source: str = "labels",
) -> ClassificationGoldenError:
    """Golden-set error of one source: an item is wrong when its class set differs from the golden one.

    Args:
        golden: the expert labels.
        labels: the source's labels (same K and mode); labels on non-golden items are ignored.
        scope (None): items the source was asked to label; golden items outside it are not judged.
            None: every golden item.
        confidence (0.95): coverage of the intervals, in (0, 1).
        source ("labels"): name carried into the result.
    """
    if scope is not None:
        wanted = set(scope)
        keep = np.array([i in wanted for i in golden.items], dtype=bool)
        golden = ClassLabels(
            tuple(i for i, ok in zip(golden.items, keep, strict=True) if ok),
            golden.indicator[keep],
            golden.num_classes,
            golden.multi_label,
        )
    t, p, present, _ = _align(golden, labels)
    wrong = ~present | (t != p).any(axis=1)
    if golden.multi_label:
        differs = (t != p) | ~present[:, None]
        per = {c: (int(differs[:, c].sum()), len(golden)) for c in range(golden.num_classes)}
    else:
        per = {c: (int((wrong & t[:, c]).sum()), int(t[:, c].sum())) for c in range(golden.num_classes)}
    return ClassificationGoldenError.from_counts(
        source,
        int(wrong.sum()),
        len(golden),
        missing=int((~present).sum()),
        per_class=per,
        wrong_items=tuple(i for i, w in zip(golden.items, wrong, strict=True) if w),
        confidence=confidence,
    )


@dataclass(frozen=True)
class ClassificationGoldenSetReport:
    """Golden error per source and pooled over all sources (``overall``: counts summed, same formula)."""

    per_source: Mapping[str, ClassificationGoldenError]
    overall: ClassificationGoldenError

    def worst(self) -> ClassificationGoldenError | None:
        """The source with the highest defined error (None without one)."""
        rated = [g for g in self.per_source.values() if g.error is not None]
        return max(rated, key=lambda g: g.error or 0.0) if rated else None

    def to_dict(self, class_names: Sequence[str] | None = None) -> JsonDict:
        """JSON-safe evidence: ``{"overall": ..., "per_source": {name: ...}}``."""
        per = {name: g.to_dict(class_names) for name, g in self.per_source.items()}
        return {"overall": self.overall.to_dict(class_names), "per_source": per}


def classification_golden_set_error(
    golden: ClassLabels,
    sources: Mapping[str, ClassLabels],
    *,
    scopes: Mapping[str, Collection[ItemId]] | None = None,
    confidence: float = 0.95,
) -> ClassificationGoldenSetReport:
    """Golden error of each source (annotators, model runs) and pooled.

    Args:
        golden: the expert labels.
        sources: name → labels.
        scopes (None): name → items that source was asked to label (see :func:`classification_golden_error`).
        confidence (0.95): coverage of the intervals.
    """
    sc = dict(scopes or {})
    per = {
        name: classification_golden_error(golden, ls, scope=sc.get(name), confidence=confidence, source=name)
        for name, ls in sources.items()
    }
    pooled = {c: (0, 0) for c in range(golden.num_classes)}
    for g in per.values():
        for c, (w, n) in g.per_class.items():
            pooled[c] = (pooled[c][0] + w, pooled[c][1] + n)
    overall = ClassificationGoldenError.from_counts(
        "overall",
        sum(g.wrong for g in per.values()),
        sum(g.n for g in per.values()),
        missing=sum(g.missing for g in per.values()),
        per_class=pooled,
        confidence=confidence,
    )
    return ClassificationGoldenSetReport(per, overall)


def reliability_data(
    annotators: Mapping[str, ClassLabels], *, class_index: int | None = None
) -> tuple[tuple[ItemId, ...], FloatArray]:
    """Krippendorff reliability data (coders in name order × units), NaN where a coder did not label an item.

    Args:
        annotators: name → labels (same K and mode).
        class_index (None): None: single-label values are class indices; multi-label values are 0/1
            presence over (item, class) units, item-major. An int ``c``: 0/1 presence of class ``c``.

    Returns:
        ``(items, data)``: the items in order of first appearance (annotators by name) and the data.
    """
    coders = sorted(annotators)
    modes = {(annotators[a].num_classes, annotators[a].multi_label) for a in coders}
    if len(modes) > 1:
        raise ValueError(f"annotators disagree on K / multi_label: {sorted(modes)}")
    items = tuple(dict.fromkeys(i for a in coders for i in annotators[a].items))
    k = next(iter(modes))[0] if modes else 1
    multi = bool(modes) and next(iter(modes))[1]
    pooled = class_index is None and multi
    data = np.full((len(coders), len(items) * (k if pooled else 1)), np.nan)
    for r, a in enumerate(coders):
        ls = annotators[a]
        rows = np.array([ls.row(i) for i in items], dtype=np.int64)
        seen = rows >= 0
        ind = ls.indicator[rows[seen]]
        if pooled:
            data[r].reshape(len(items), k)[seen] = ind
        elif class_index is None:
            data[r, seen] = ind.argmax(axis=1)
        else:
            if not 0 <= class_index < k:
                raise ValueError(f"class_index {class_index} is outside 0..{k - 1}")
            data[r, seen] = ind[:, class_index]
    return items, data


@dataclass(frozen=True)
class ClassificationAgreement:
    """Krippendorff's alpha (nominal) between annotators over the items themselves.

    Attributes:
        multi_label: as the inputs.
        alpha: single-label: over class indices; multi-label: over (item, class) presence units. None when
            undefined (no item labelled twice, or no variation at all).
        per_class: per class, alpha of present/absent (single-label: "c" versus "not c"); None where undefined.
        n_units: items labelled by anyone; n_pairable: items labelled by two or more annotators.
        coders: annotator names.
    """

    multi_label: bool
    alpha: float | None
    per_class: tuple[float | None, ...]
    n_units: int
    n_pairable: int
    coders: tuple[str, ...]

    def to_dict(self, class_names: Sequence[str] | None = None) -> JsonDict:
        """JSON-safe evidence, ``per_class`` keyed by class name."""
        names = _names(class_names, len(self.per_class))
        keys = ("multi_label", "alpha", "n_units", "n_pairable")
        out: JsonDict = {k: getattr(self, k) for k in keys}
        return out | {"coders": list(self.coders), "per_class": dict(zip(names, self.per_class, strict=True))}


def _alpha(data: FloatArray) -> float | None:
    value = krippendorff_alpha(data, level="nominal")
    return value if np.isfinite(value) else None


def classification_agreement(annotators: Mapping[str, ClassLabels]) -> ClassificationAgreement:
    """Nominal Krippendorff's alpha between annotators, overall and per class, with missing ratings allowed.

    Args:
        annotators: name → labels (same K and mode); an item an annotator did not label is a missing value.
    """
    items, data = reliability_data(annotators)
    k = next(iter(annotators.values())).num_classes if annotators else 0
    per = tuple(_alpha(reliability_data(annotators, class_index=c)[1]) for c in range(k))
    counts: IntArray = np.zeros(len(items), dtype=np.int64)
    for ls in annotators.values():
        counts += np.array([ls.row(i) >= 0 for i in items], dtype=np.int64)
    multi = any(ls.multi_label for ls in annotators.values())
    return ClassificationAgreement(
        multi, _alpha(data), per, len(items), int((counts >= 2).sum()), tuple(sorted(annotators))
    )


def class_counts(labels: ClassLabels) -> tuple[int, ...]:
    """Per class, the items that have it (a multi-label item counts once for each of its classes)."""
    return tuple(int(x) for x in labels.indicator.sum(axis=0))


@dataclass(frozen=True)
class ClassShareDrift:
    """Drift of the class shares of a version against its parent (see :mod:`quality_gates.drift`).

    Attributes:
        psi: population stability index, >= 0; js: Jensen–Shannon divergence (base 2) in [0, 1].
        current, parent: class name → share (union of both sides' names, sorted; absent = 0).
        largest_shift: the class whose share moved most.
        epsilon: PSI's proportion floor.
    """

    psi: float
    js: float
    current: Mapping[str, float]
    parent: Mapping[str, float]
    largest_shift: str
    epsilon: float

    def to_dict(self) -> JsonDict:
        """JSON-safe evidence."""
        keys = ("psi", "js", "largest_shift", "epsilon")
        return {k: getattr(self, k) for k in keys} | {"current": dict(self.current), "parent": dict(self.parent)}


def class_share_drift(
    current: ClassLabels,
    parent: ClassLabels,
    *,
    class_names: Sequence[str] | None = None,
    parent_class_names: Sequence[str] | None = None,
    epsilon: float = 1e-4,
) -> ClassShareDrift:
    """PSI and Jensen–Shannon divergence of the class shares (:func:`class_counts` normalised).

    Args:
        current: labels of the version.
        parent: labels of its parent (its K may differ when the schema changed).
        class_names (None): names of ``current``'s classes; default ``"0"``, ``"1"``, ...
        parent_class_names (None): names of ``parent``'s classes; default ``class_names`` (required when K
            differs).
        epsilon (1e-4): PSI's proportion floor.

    Raises:
        ValueError: a side without any class label (its shares are undefined); K differs and
            ``parent_class_names`` is not given.
    """
    cur_names = _names(class_names, current.num_classes)
    if parent_class_names is None:
        if parent.num_classes != current.num_classes:
            raise ValueError(
                f"the parent has K={parent.num_classes}, this version K={current.num_classes}: pass "
                "class_names and parent_class_names so classes are matched by name"
            )
        parent_class_names = cur_names
    par_names = _names(parent_class_names, parent.num_classes)
    cur = dict(zip(cur_names, map(float, class_counts(current)), strict=True))
    par = dict(zip(par_names, map(float, class_counts(parent)), strict=True))
    names, p, q = aligned_proportions(cur, par)
    return ClassShareDrift(
        psi(cur, par, epsilon=epsilon),
        jensen_shannon(cur, par),
        dict(zip(names, p.tolist(), strict=True)),
        dict(zip(names, q.tolist(), strict=True)),
        names[int(np.argmax(np.abs(p - q)))],
        epsilon,
    )
