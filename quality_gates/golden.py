"""Golden-set error of label sources (annotators, model runs) against expert labels.

Objects are matched by class and IoU. Human labels (no scores) are matched one-to-one by descending IoU;
scored model labels greedily by score (COCO's rule) after the confidence threshold is applied.

Definition. With TP matched pairs, FP labels that match no golden object and FN golden objects that no label
matches::

    error = (FP + FN) / (2·TP + FP + FN)

The denominator counts *trials*: every label and every golden object is one trial (``n = #labels +
#golden objects``), and a trial fails when it is left unmatched (``k = FP + FN``). For classification (one
label and one golden object per item) a correct item gives two successful trials and a wrong one two failed
ones, so the error is the plain error rate. The Wilson and Clopper–Pearson intervals are computed for
``k`` of ``n``; the two trials of a wrong classification are not independent, so read the intervals as
approximate. ``n == 0`` (nothing to judge) gives NaN and the interval (0, 1).

Only golden images the source actually labelled are judged (an annotator who never saw an image is not
charged with missing its objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from quality_gates._types import IntArray
from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.intervals import clopper_pearson_interval, wilson_interval
from quality_gates.matching import match_by_iou, match_greedy

__all__ = ["GoldenError", "GoldenSetReport", "golden_error", "golden_set_error"]


@dataclass(frozen=True)
class GoldenError:
    """Golden-set error of one label source (or of all pooled).

    Attributes:
        source: the source's name (``"alice"``, ``"model:run-12"``, ``"overall"``).
        tp, fp, fn: matched labels, unmatched labels, unmatched golden objects.
        error: (FP + FN) / (2·TP + FP + FN) in [0, 1]; NaN when there is nothing to judge.
        wilson, clopper_pearson: (low, high) intervals for ``error`` at ``confidence``.
        confidence: two-sided coverage of the intervals.
        per_class: class index → (tp, fp, fn).
    """

    source: str
    tp: int
    fp: int
    fn: int
    error: float
    wilson: tuple[float, float]
    clopper_pearson: tuple[float, float]
    confidence: float
    per_class: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def trials(self) -> int:
        """2·TP + FP + FN: labels plus golden objects."""
        return 2 * self.tp + self.fp + self.fn

    @classmethod
    def from_counts(
        cls,
        source: str,
        tp: IntArray,
        fp: IntArray,
        fn: IntArray,
        *,
        confidence: float = 0.95,
    ) -> GoldenError:
        """Build from per-class count arrays (K,)."""
        t, f_p, f_n = int(tp.sum()), int(fp.sum()), int(fn.sum())
        n, k = 2 * t + f_p + f_n, f_p + f_n
        per_class = {c: (int(tp[c]), int(fp[c]), int(fn[c])) for c in range(len(tp)) if tp[c] or fp[c] or fn[c]}
        return cls(
            source,
            t,
            f_p,
            f_n,
            k / n if n else float("nan"),
            wilson_interval(k, n, confidence=confidence),
            clopper_pearson_interval(k, n, confidence=confidence),
            confidence,
            per_class,
        )


@dataclass(frozen=True)
class GoldenSetReport:
    """Golden-set errors per source and pooled over all sources (``overall``)."""

    per_source: dict[str, GoldenError]
    overall: GoldenError

    def worst(self) -> GoldenError | None:
        """The source with the highest error (None without sources)."""
        rated = [g for g in self.per_source.values() if np.isfinite(g.error)]
        return max(rated, key=lambda g: g.error) if rated else None


def _counts(golden: BoxSet, labels: BoxSet, *, num_classes: int, iou: float) -> tuple[IntArray, IntArray, IntArray]:
    regular = ~golden.crowd
    g = golden.select(regular)
    if labels.score is None:
        dt_match, _, _ = match_by_iou(g, labels, iou_threshold=iou)
        hit = dt_match >= 0
    else:
        hit = match_greedy(g, labels, iou_thresholds=(iou,)).dt_match[0] >= 0
    k = num_classes
    tp = np.bincount(labels.category[hit], minlength=k)[:k].astype(np.int64)
    fp = np.bincount(labels.category[~hit], minlength=k)[:k].astype(np.int64)
    fn = np.bincount(g.category, minlength=k)[:k].astype(np.int64) - tp
    return tp, fp, fn


def golden_error(
    golden: BoxSet,
    labels: LabelSet,
    *,
    num_classes: int,
    iou: float = 0.5,
    threshold: float = 0.0,
    confidence: float = 0.95,
    source: str = "labels",
    golden_images: IntArray | None = None,
) -> GoldenError:
    """Golden-set error of one label source.

    Args:
        golden: the expert labels.
        labels: the source's labels and the images it labelled (None: every golden image).
        num_classes: K.
        iou (0.5): IoU threshold for a match, in (0, 1].
        threshold (0.0): scored labels below this confidence are dropped first.
        confidence (0.95): coverage of the intervals.
        source ("labels"): name carried into the result.
        golden_images (None): ids of the golden set's images, including those without objects (labels
            there are false positives); default: the images that have golden boxes.
    """
    scope = np.unique(golden.image) if golden_images is None else np.asarray(golden_images, dtype=np.int64)
    if labels.images is not None:
        scope = np.intersect1d(scope, labels.images)
    g = golden.select(np.isin(golden.image, scope))
    boxes = labels.boxes.at_threshold(threshold)
    boxes = boxes.select(np.isin(boxes.image, scope))
    tp, fp, fn = _counts(g, boxes, num_classes=num_classes, iou=iou)
    return GoldenError.from_counts(source, tp, fp, fn, confidence=confidence)


def golden_set_error(
    golden: BoxSet,
    sources: Mapping[str, LabelSet],
    *,
    num_classes: int,
    iou: float = 0.5,
    thresholds: Mapping[str, float] | None = None,
    confidence: float = 0.95,
    golden_images: IntArray | None = None,
) -> GoldenSetReport:
    """Golden-set error per source and pooled (counts summed over sources, then the same formula).

    Args:
        golden: the expert labels.
        sources: name → labels (annotators and model runs).
        num_classes: K.
        iou (0.5): IoU threshold for a match.
        thresholds (None): name → confidence threshold for scored sources (default 0.0).
        confidence (0.95): coverage of the intervals.
        golden_images (None): the golden set's image ids, see :func:`golden_error`.
    """
    thr = dict(thresholds or {})
    per = {
        name: golden_error(
            golden,
            ls,
            num_classes=num_classes,
            iou=iou,
            threshold=thr.get(name, 0.0),
            confidence=confidence,
            source=name,
            golden_images=golden_images,
        )
        for name, ls in sources.items()
    }
    k = num_classes
    tp, fp, fn = (np.zeros(k, dtype=np.int64) for _ in range(3))
    for ge in per.values():
        for c, (a, b, d) in ge.per_class.items():
            tp[c] += a
            fp[c] += b
            fn[c] += d
    return GoldenSetReport(per, GoldenError.from_counts("overall", tp, fp, fn, confidence=confidence))
