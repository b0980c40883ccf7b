"""Golden-set error of classification labels: an item is wrong when its class set differs from the golden one.

For the golden error of an annotator, ``scope`` names the items that source was asked to label: golden items
outside it are not judged (nobody is charged for what they never saw); golden items inside it that it left
unlabelled are missing, hence wrong (see :mod:`quality_gates.classification` for missing and extra items).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quality_gates._types import JsonDict
from quality_gates.classification import ClassLabels, ItemId, _names, _ratio
from quality_gates.intervals import clopper_pearson_interval, wilson_interval

__all__ = [
    "MAX_EXAMPLES",
    "ClassificationGoldenError",
    "ClassificationGoldenSetReport",
    "classification_golden_error",
    "classification_golden_set_error",
]

#: Wrong items listed in ``ClassificationGoldenError.to_dict()`` (all of them stay on the object).
MAX_EXAMPLES = 20


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
    _check_mode(golden, labels)
    rows = labels.rows(golden.items)
    if scope is None:
        keep = None
    elif scope is labels.items:  # the items the source labelled: those it has a row for
        keep = rows >= 0
    else:
        wanted = set(scope)
        keep = np.fromiter((i in wanted for i in golden.items), dtype=bool, count=len(golden))
    t = golden.indicator if keep is None else golden.indicator[keep]
    r = rows if keep is None else rows[keep]
    present = r >= 0
    p = np.zeros_like(t)
    p[present] = labels.indicator[r[present]]
    wrong = ~present | (t != p).any(axis=1)
    n = len(t)
    if golden.multi_label:
        differs = ((t != p) | ~present[:, None]).sum(axis=0)
        per = {c: (int(differs[c]), n) for c in range(golden.num_classes)}
    else:
        wrong_of = np.bincount(t[wrong].argmax(axis=1), minlength=golden.num_classes) if n else t.sum(axis=0)
        support = t.sum(axis=0)
        per = {c: (int(wrong_of[c]), int(support[c])) for c in range(golden.num_classes)}
    judged = np.arange(len(golden)) if keep is None else np.flatnonzero(keep)
    bad = judged[wrong]
    wrong_items = tuple(np.asarray(golden.items, dtype=object)[bad].tolist()) if len(bad) else ()
    return ClassificationGoldenError.from_counts(
        source,
        int(wrong.sum()),
        n,
        missing=int((~present).sum()),
        per_class=per,
        wrong_items=wrong_items,
        confidence=confidence,
    )


def _check_mode(golden: ClassLabels, labels: ClassLabels) -> None:
    if (golden.num_classes, golden.multi_label) != (labels.num_classes, labels.multi_label):
        raise ValueError(
            f"truth has K={golden.num_classes}, multi_label={golden.multi_label}; predictions have "
            f"K={labels.num_classes}, multi_label={labels.multi_label}: they must agree"
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
