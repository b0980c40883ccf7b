"""Image classification, single- and multi-label: the labels of a source and P/R/F1, accuracy, Hamming loss
and the confusion matrix of predictions against truth.

Every source (ground truth, golden set, model, annotator) is a :class:`ClassLabels`: per item id the set of
class indices in ``0..K-1`` (single-label: exactly one; multi-label: any, possibly none).

Items on one side only. The truth (or golden) side defines what is judged:

- a truth item without a prediction is *missing* and counts as wrong on every decision: the item is not an
  exact match (even when its truth set is empty), each of its true classes is a false negative and each of
  its K per-class decisions counts in the Hamming loss and the per-class error; it adds no false positive;
- a prediction on an item outside the truth set is *extra* and ignored (only counted, as ``n_extra``).

Undefined ratios (``0 / 0``: precision of a class never predicted, recall of a class without support,
anything over zero items) are None, never NaN, 0 or 1; macro averages are taken over the classes where the
metric is defined (scikit-learn's default instead counts undefined values as 0).

The golden-set error, the agreement between annotators and the class-share drift of classification labels
are in :mod:`quality_gates.classification_golden`, :mod:`quality_gates.classification_agreement` and
:mod:`quality_gates.classification_drift`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray, JsonDict

__all__ = [
    "ClassLabels",
    "ClassificationReport",
    "ItemId",
    "class_counts",
    "classification_report",
]

ItemId: TypeAlias = int | str
V = TypeVar("V")
# Mapping is invariant in its key: spelled out so dict[str, ...] and dict[int, ...] are both accepted.
ItemMap: TypeAlias = Mapping[str, V] | Mapping[int, V] | Mapping[ItemId, V]


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
    #: True: the caller built ``items`` unique (factorised codes, a table's distinct keys, a cut of a checked
    #: set), so the O(n) hashing that checks it is skipped.
    unique_items: bool = field(default=False, kw_only=True, repr=False, compare=False)
    _row: dict[ItemId, int] | None = field(init=False, repr=False, compare=False)
    # (items of the set this one was cut from, row here of each of its rows or -1): lookups without a dict
    _origin: tuple[tuple[ItemId, ...], IntArray] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if np.shape(self.indicator) != (len(self.items), self.num_classes):
            raise ValueError(f"indicator must have shape {(len(self.items), self.num_classes)}")
        object.__setattr__(self, "indicator", np.asarray(self.indicator, dtype=bool))
        if not self.unique_items and len(set(self.items)) != len(self.items):
            raise ValueError("item ids must be unique")
        if not self.multi_label and len(self.items):
            bad = np.nonzero(self.indicator.sum(axis=1) != 1)[0]
            if len(bad):
                raise ValueError(f"item {self.items[int(bad[0])]!r}: single-label needs exactly one class")
        object.__setattr__(self, "_row", None)  # built on first use: many sets are never looked up by item
        object.__setattr__(self, "_origin", None)

    def __len__(self) -> int:
        return len(self.items)

    def _rows_by_item(self) -> dict[ItemId, int]:
        if self._row is None:
            object.__setattr__(self, "_row", {item: i for i, item in enumerate(self.items)})
        assert self._row is not None
        return self._row

    def row(self, item: ItemId) -> int:
        """Row of ``item``, -1 when absent."""
        return self._rows_by_item().get(item, -1)

    def rows(self, items: Sequence[ItemId]) -> IntArray:
        """(len(items),) the row of each of ``items``, -1 where absent (one pass; the same item tuple, as
        sources built from one file share, costs nothing)."""
        if items is self.items or (len(items) == len(self.items) and items == self.items):
            return np.arange(len(items), dtype=np.int64)
        origin = self._origin
        if origin is not None and (items is origin[0] or (len(items) == len(origin[0]) and items == origin[0])):
            return origin[1].copy()
        get = self._rows_by_item().get
        return np.fromiter((get(i, -1) for i in items), dtype=np.int64, count=len(items))

    def at_threshold(self, threshold: float) -> ClassLabels:
        """The predicted classes scoring at least ``threshold`` (all of them without scores): multi-label
        keeps each class on its own; single-label keeps an item only when its class does (else it has no
        prediction)."""
        if self.scores is None or (threshold <= 0.0 and (self.scores[self.indicator] >= 0).all()):
            return self
        keep = self.indicator & (self.scores >= threshold)
        if self.multi_label:
            return ClassLabels(self.items, keep, self.num_classes, True, self.scores, unique_items=True)
        rows = keep.any(axis=1)
        if rows.all():
            return self
        items = tuple(np.asarray(self.items, dtype=object)[rows].tolist())
        out = object.__new__(ClassLabels)  # rows of a checked set: unique items, one class each
        origin = np.full(len(self.items), -1, dtype=np.int64)
        origin[rows] = np.arange(len(items))
        for name, value in (("items", items), ("indicator", self.indicator[rows]), ("num_classes", self.num_classes),
                            ("multi_label", False), ("scores", self.scores[rows]), ("unique_items", True),
                            ("_row", None), ("_origin", (self.items, origin))):  # fmt: skip
            object.__setattr__(out, name, value)
        return out

    def content_hash(self, *, items_sha256: bytes | None = None) -> str:
        """SHA-256 hex of the contents: items (with their types), the class sets, K, the mode and the scores.
        ``items_sha256`` (None): :func:`items_digest` of ``items`` when already known (sources sharing one
        item tuple hash it once)."""
        h = hashlib.sha256(b"labelgate.classlabels.v1")
        h.update(np.array([self.num_classes, int(self.multi_label), len(self.items)], dtype=np.int64).tobytes())
        h.update(items_sha256 if items_sha256 is not None else items_digest(self.items))
        h.update(np.packbits(self.indicator).tobytes())
        h.update(b"\x00" if self.scores is None else b"\x01" + np.ascontiguousarray(self.scores).tobytes())
        return h.hexdigest()

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


def items_digest(items: tuple[ItemId, ...]) -> bytes:
    """SHA-256 of an item tuple (types and values), part of :meth:`ClassLabels.content_hash`."""
    h = hashlib.sha256()
    try:  # the common case, in one piece: every item with its length
        text = "".join(items)  # type: ignore[arg-type]
        h.update(b"str" + np.fromiter(map(len, items), np.int64, len(items)).tobytes())  # type: ignore[arg-type]
        h.update(text.encode())
    except TypeError:
        for item in items:
            piece = f"{type(item).__name__}:{item}".encode()
            h.update(len(piece).to_bytes(8, "little") + piece)
    return h.digest()


def _align(truth: ClassLabels, pred: ClassLabels) -> tuple[BoolArray, BoolArray, BoolArray, int]:
    """Truth rows, prediction rows aligned to them (all False where missing), the present mask, n_extra."""
    if (truth.num_classes, truth.multi_label) != (pred.num_classes, pred.multi_label):
        raise ValueError(
            f"truth has K={truth.num_classes}, multi_label={truth.multi_label}; predictions have "
            f"K={pred.num_classes}, multi_label={pred.multi_label}: they must agree"
        )
    rows = pred.rows(truth.items)
    present = rows >= 0
    p = np.zeros_like(truth.indicator)
    p[present] = pred.indicator[rows[present]]
    n_extra = len(pred) - int(present.sum())
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


def class_counts(labels: ClassLabels) -> tuple[int, ...]:
    """Per class, the items that have it (a multi-label item counts once for each of its classes)."""
    return tuple(int(x) for x in labels.indicator.sum(axis=0))
