"""Golden-set error of label sources (annotators, model runs) against expert labels.

Objects are matched by class and overlap: box IoU for boxes, mask IoU for instance masks, OKS for
keypoint objects (the golden object giving the scale; :mod:`quality_gates.shapes`). Human labels (no scores)
are matched one-to-one by descending overlap; scored model labels greedily by score (COCO's rule) after the
confidence threshold is applied.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.boxes import LabelSet
from quality_gates.intervals import clopper_pearson_interval, wilson_interval
from quality_gates.matching import match_by_iou, match_greedy
from quality_gates.shapes import Instances, overlap_fn, rows_of

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


Sigmas = Sequence[float] | FloatArray | None


def _counts(
    golden: Instances, labels: Instances, *, num_classes: int, iou: float, sigmas: Sigmas = None
) -> tuple[IntArray, IntArray, IntArray]:
    g = golden.select(~rows_of(golden).crowd)
    fn_ = overlap_fn(labels, g, sigmas=sigmas, crowd=False)
    gr, lr = rows_of(g), rows_of(labels)
    if lr.score is None:
        dt_match, _, _ = match_by_iou(gr, lr, iou_threshold=iou, iou_fn=fn_)
        hit = dt_match >= 0
    else:
        hit = match_greedy(gr, lr, iou_thresholds=(iou,), iou_fn=fn_).dt_match[0] >= 0
    k = num_classes
    tp = np.bincount(lr.category[hit], minlength=k)[:k].astype(np.int64)
    fp = np.bincount(lr.category[~hit], minlength=k)[:k].astype(np.int64)
    fn = np.bincount(gr.category, minlength=k)[:k].astype(np.int64) - tp
    return tp, fp, fn


def golden_error(
    golden: Instances,
    labels: LabelSet,
    *,
    num_classes: int,
    iou: float = 0.5,
    threshold: float = 0.0,
    confidence: float = 0.95,
    source: str = "labels",
    golden_images: IntArray | None = None,
    sigmas: Sigmas = None,
) -> GoldenError:
    """Golden-set error of one label source.

    Args:
        golden: the expert labels (boxes, masks or keypoint objects).
        labels: the source's labels (of the same kind) and the images it labelled (None: every golden image).
        num_classes: K.
        iou (0.5): overlap threshold for a match, in (0, 1]: box IoU, mask IoU or OKS.
        threshold (0.0): scored labels below this confidence are dropped first.
        confidence (0.95): coverage of the intervals.
        source ("labels"): name carried into the result.
        golden_images (None): ids of the golden set's images, including those without objects (labels
            there are false positives); default: the images that have golden boxes.
        sigmas (None): (K_points,) OKS sigmas, required for keypoint objects.
    """
    g_rows = rows_of(golden)
    scope = np.unique(g_rows.image) if golden_images is None else np.asarray(golden_images, dtype=np.int64)
    if labels.images is not None:
        scope = np.intersect1d(scope, labels.images)
    g = golden.select(np.isin(g_rows.image, scope))
    mine = labels.boxes
    m_rows = rows_of(mine)
    keep = np.isin(m_rows.image, scope)
    if m_rows.score is not None:
        keep &= m_rows.score >= threshold
    tp, fp, fn = _counts(g, mine.select(keep), num_classes=num_classes, iou=iou, sigmas=sigmas)
    return GoldenError.from_counts(source, tp, fp, fn, confidence=confidence)


def golden_set_error(
    golden: Instances,
    sources: Mapping[str, LabelSet],
    *,
    num_classes: int,
    iou: float = 0.5,
    thresholds: Mapping[str, float] | None = None,
    confidence: float = 0.95,
    golden_images: IntArray | None = None,
    sigmas: Sigmas = None,
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
        sigmas (None): OKS sigmas for keypoint objects.
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
            sigmas=sigmas,
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
