"""Detection metrics at a confidence threshold: precision, recall, F1, PR curves, F1-optimal thresholds and
the confusion matrix.

One class-wise greedy matching (score order, one IoU) serves every threshold: because predictions are taken
in descending score, the predictions at or above a threshold are matched exactly as if the lower ones did
not exist. So counts at any threshold, whole PR curves and the F1-optimal threshold per class come from
cumulative sums over that one matching. Predictions matched to crowd boxes count neither way.

The objects may be boxes, instance masks or keypoint objects (:mod:`quality_gates.shapes`): the matching's
overlap is then mask IoU or OKS (``iou`` is that overlap's threshold).

Undefined ratios (``0 / 0``) are NaN, never silently 0 or 1: precision without predictions, recall without
ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.matching import Matching, PairIouFn, match_greedy
from quality_gates.shapes import Instances, overlap_fn, rows_of

__all__ = [
    "DetectionCounts",
    "DetectionMatch",
    "PRCurve",
    "confusion_cells_by_item",
    "confusion_matrix",
    "match_detections",
]


def _ratio(num: FloatArray | IntArray, den: FloatArray | IntArray) -> FloatArray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True, eq=False)
class DetectionCounts:
    """TP/FP/FN per class at one confidence threshold and IoU.

    Attributes:
        threshold: confidence threshold in [0, 1]; predictions with ``score >= threshold`` count.
        iou: IoU threshold used for matching.
        tp, fp, fn: (K,) int64 counts per class.
    """

    threshold: float
    iou: float
    tp: IntArray
    fp: IntArray
    fn: IntArray

    @property
    def precision(self) -> FloatArray:
        """(K,) TP / (TP + FP); NaN for a class without predictions."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> FloatArray:
        """(K,) TP / (TP + FN); NaN for a class without ground truth."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> FloatArray:
        """(K,) 2TP / (2TP + FP + FN); NaN for a class with neither."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def overall(self) -> dict[str, float]:
        """Micro-averaged precision, recall, F1 (pooled counts) and the macro F1 over classes where defined."""
        tp, fp, fn = int(self.tp.sum()), int(self.fp.sum()), int(self.fn.sum())
        f1 = self.f1
        return {
            "precision": float(_ratio(np.array(tp), np.array(tp + fp))),
            "recall": float(_ratio(np.array(tp), np.array(tp + fn))),
            "f1": float(_ratio(np.array(2 * tp), np.array(2 * tp + fp + fn))),
            "macro_f1": float(np.nanmean(f1)) if np.isfinite(f1).any() else float("nan"),
            "tp": float(tp),
            "fp": float(fp),
            "fn": float(fn),
        }


@dataclass(frozen=True, eq=False)
class PRCurve:
    """Precision/recall of one class as the confidence threshold sweeps down the distinct scores.

    Attributes:
        thresholds: (n,) descending distinct scores; point ``i`` counts predictions with score >= it.
        precision, recall, f1: (n,) values at each threshold (recall NaN without ground truth).
        best_threshold: the threshold of maximum F1 (the highest one among ties); NaN without predictions.
        best_f1: F1 there (0 when the class has ground truth but no prediction; NaN with neither).
    """

    thresholds: FloatArray
    precision: FloatArray
    recall: FloatArray
    f1: FloatArray
    best_threshold: float
    best_f1: float


@dataclass(frozen=True, eq=False)
class DetectionMatch:
    """One class-wise matching of predictions to ground truth at one IoU, reusable for every threshold.

    Build it with :func:`match_detections`.

    Attributes:
        iou: IoU threshold of the matching.
        num_classes: K.
        category: (D,) class of each prediction.
        score: (D,) confidence of each prediction.
        matched: (D,) true where the prediction matched a regular (non-crowd) ground-truth box.
        ignored: (D,) true where it matched a crowd box (neither TP nor FP).
        gt_matched_by: (G,) prediction row matched to each ground-truth box, -1 if none.
        n_gt: (K,) non-crowd ground-truth boxes per class.
    """

    iou: float
    num_classes: int
    category: IntArray
    score: FloatArray
    matched: BoolArray
    ignored: BoolArray
    gt_matched_by: IntArray
    n_gt: IntArray

    def counts(self, threshold: float = 0.0) -> DetectionCounts:
        """TP/FP/FN per class counting predictions with ``score >= threshold``."""
        sel = (self.score >= threshold) & ~self.ignored
        k = self.num_classes
        tp = np.bincount(self.category[sel & self.matched], minlength=k)[:k].astype(np.int64)
        fp = np.bincount(self.category[sel & ~self.matched], minlength=k)[:k].astype(np.int64)
        return DetectionCounts(float(threshold), self.iou, tp, fp, self.n_gt - tp)

    def counts_per_class_threshold(self, thresholds: FloatArray) -> DetectionCounts:
        """Counts where class ``k`` uses its own threshold ``thresholds[k]`` (NaN: no prediction counts)."""
        thr = np.asarray(thresholds, dtype=np.float64)
        per_det = thr[self.category] if len(self.category) else np.zeros(0)
        sel = (self.score >= per_det) & ~self.ignored
        k = self.num_classes
        tp = np.bincount(self.category[sel & self.matched], minlength=k)[:k].astype(np.int64)
        fp = np.bincount(self.category[sel & ~self.matched], minlength=k)[:k].astype(np.int64)
        return DetectionCounts(float("nan"), self.iou, tp, fp, self.n_gt - tp)

    def curves(self) -> list[PRCurve]:
        """One :class:`PRCurve` per class, from cumulative sums over the score-sorted predictions."""
        keep = ~self.ignored
        cat, score, hit = self.category[keep], self.score[keep], self.matched[keep]
        order = np.lexsort((-score, cat))
        cat, score, hit = cat[order], score[order], hit[order]
        bounds = np.searchsorted(cat, np.arange(self.num_classes + 1))
        out = []
        for k in range(self.num_classes):
            s0, s1 = int(bounds[k]), int(bounds[k + 1])
            sc, h = score[s0:s1], hit[s0:s1]
            n_gt = int(self.n_gt[k])
            if s1 == s0:
                e = np.zeros(0)
                out.append(PRCurve(e, e, e, e, float("nan"), 0.0 if n_gt else float("nan")))
                continue
            tp = np.cumsum(h, dtype=np.int64)
            fp = np.cumsum(~h, dtype=np.int64)
            # The last position of each run of equal scores: a threshold admits all of a tie.
            last = np.flatnonzero(np.append(sc[1:] != sc[:-1], True))
            tp, fp, thr = tp[last], fp[last], sc[last]
            precision = tp / (tp + fp)
            recall = _ratio(tp, np.full(len(tp), n_gt))
            f1 = _ratio(2 * tp, 2 * tp + fp + (n_gt - tp))
            best = int(np.argmax(np.nan_to_num(f1, nan=-1.0)))
            out.append(PRCurve(thr, precision, recall, f1, float(thr[best]), float(f1[best])))
        return out

    def f1_optimal_thresholds(self) -> FloatArray:
        """(K,) the F1-maximising confidence threshold per class (NaN for classes without predictions)."""
        return np.array([c.best_threshold for c in self.curves()], dtype=np.float64)


def match_detections(
    gt: Instances,
    dt: Instances,
    *,
    num_classes: int,
    iou: float = 0.5,
    sigmas: Sequence[float] | FloatArray | None = None,
) -> DetectionMatch:
    """Match predictions to ground truth once (class-wise, greedy by score) for threshold-based metrics.

    Args:
        gt: ground truth: boxes, masks or keypoint objects (crowd objects act as ignore regions).
        dt: predictions of the same kind with ``score``; an unscored set counts as all scores 1.0.
        num_classes: K; class indices are ``0..K-1``.
        iou (0.5): overlap threshold in (0, 1]: box IoU, mask IoU or OKS.
        sigmas (None): OKS sigmas, required for keypoint objects.
    """
    g, d = rows_of(gt), rows_of(dt)
    m = _match(g, d, iou, overlap_fn(dt, gt, sigmas=sigmas))
    score = d.score if d.score is not None else np.ones(len(d))
    row = m.dt_match[0]
    crowd = g.crowd
    hit = row >= 0
    ignored = np.zeros(len(d), dtype=bool)
    ignored[hit] = crowd[row[hit]]
    gt_by = np.where(crowd, -1, m.gt_match[0])
    n_gt = np.bincount(g.category[~crowd], minlength=num_classes)[:num_classes].astype(np.int64)
    return DetectionMatch(float(iou), num_classes, d.category, score, hit & ~ignored, ignored, gt_by, n_gt)


def _match(gt: BoxSet, dt: BoxSet, iou: float, fn: PairIouFn | None) -> Matching:
    score = dt.score if dt.score is not None else np.ones(len(dt))
    scored = BoxSet(dt.image, dt.category, dt.xywh, score=score)
    return match_greedy(gt, scored, iou_thresholds=(iou,), iou_fn=fn)


def confusion_matrix(
    gt: Instances,
    dt: Instances,
    *,
    num_classes: int,
    iou: float = 0.5,
    threshold: float = 0.0,
    match: DetectionMatch | None = None,
    sigmas: Sequence[float] | FloatArray | None = None,
) -> IntArray:
    """Confusion matrix with a background row and column, shape (K + 1, K + 1).

    Rows are ground-truth classes, columns predicted classes; index K is background. ``cm[g, p]`` counts a
    ground-truth box of class ``g`` matched to a prediction of class ``p``; ``cm[K, p]`` predictions that
    match nothing (false positives), ``cm[g, K]`` ground-truth boxes nobody found.

    Same-class pairs are matched first (so the diagonal equals the TP of :meth:`DetectionMatch.counts`);
    the left-overs are then matched across classes at the same IoU, greedily by score, to expose confusions.
    Crowd boxes and predictions matched to them are left out.

    Args:
        gt, dt: ground truth and predictions (boxes, masks or keypoint objects, both of one kind).
        num_classes: K.
        iou (0.5): overlap threshold (box IoU, mask IoU or OKS).
        threshold (0.0): predictions with ``score >= threshold`` count.
        match (None): a :class:`DetectionMatch` from the same inputs and IoU, to avoid matching twice.
        sigmas (None): OKS sigmas, required for keypoint objects.
    """
    k = num_classes
    dm = match or match_detections(gt, dt, num_classes=k, iou=iou, sigmas=sigmas)
    base = overlap_fn(dt, gt, sigmas=sigmas)
    return _confusion(rows_of(gt), rows_of(dt), dm, base, k=k, iou=iou, threshold=threshold)


def _remap(base: PairIouFn, d_rows: IntArray, g_rows: IntArray) -> PairIouFn:
    """``base`` read through row subsets: row ``i`` of the subset is row ``rows[i]`` of the full set."""

    def fn(di: IntArray, gi: IntArray) -> FloatArray:
        return base(d_rows[di], g_rows[gi])

    return fn


def _confusion(
    gt: BoxSet, dt: BoxSet, dm: DetectionMatch, base: PairIouFn | None, *, k: int, iou: float, threshold: float
) -> IntArray:
    cm = np.zeros((k + 1, k + 1), dtype=np.int64)
    _, truth, predicted = _confusion_pairs(gt, dt, dm, base, k=k, iou=iou, threshold=threshold)
    np.add.at(cm, (truth, predicted), 1)
    return cm


def confusion_cells_by_item(
    gt: Instances,
    dt: Instances,
    *,
    num_classes: int,
    iou: float = 0.5,
    threshold: float = 0.0,
    match: DetectionMatch | None = None,
    sigmas: Sequence[float] | FloatArray | None = None,
) -> dict[int, IntArray]:
    """The confusion matrix of :func:`confusion_matrix` split by image: image id → its (K + 1, K + 1) counts,
    for the images with at least one count. The same matching builds both, so the per-image matrices sum to
    :func:`confusion_matrix` of the same arguments exactly; that is what lets a reader open the images behind
    one cell of a stored matrix."""
    k = num_classes
    dm = match or match_detections(gt, dt, num_classes=k, iou=iou, sigmas=sigmas)
    base = overlap_fn(dt, gt, sigmas=sigmas)
    image, truth, predicted = _confusion_pairs(
        rows_of(gt), rows_of(dt), dm, base, k=k, iou=iou, threshold=threshold
    )  # fmt: skip
    out: dict[int, IntArray] = {}
    for img in np.unique(image):
        sel = image == img
        cm = np.zeros((k + 1, k + 1), dtype=np.int64)
        np.add.at(cm, (truth[sel], predicted[sel]), 1)
        out[int(img)] = cm
    return out


def _confusion_pairs(
    gt: BoxSet, dt: BoxSet, dm: DetectionMatch, base: PairIouFn | None, *, k: int, iou: float, threshold: float
) -> tuple[IntArray, IntArray, IntArray]:
    """``(image, truth, predicted)`` of every count of the matrix (background is ``k``), one row per count."""
    active = (dm.score >= threshold) & ~dm.ignored
    hit = active & dm.matched
    gt_free = ~gt.crowd
    matched_gt = dm.gt_matched_by >= 0
    matched_gt[matched_gt] = active[dm.gt_matched_by[matched_gt]]
    gt_free &= ~matched_gt
    dt_free = active & ~dm.matched
    g_rows, d_rows = np.flatnonzero(gt_free), np.flatnonzero(dt_free)
    sub = match_greedy(
        gt.select(g_rows),
        BoxSet(dt.image[d_rows], dt.category[d_rows], dt.xywh[d_rows], score=dm.score[d_rows]),
        iou_thresholds=(iou,),
        classwise=False,
        iou_fn=None if base is None else _remap(base, d_rows, g_rows),
    )
    pair = sub.dt_match[0]
    ok = pair >= 0
    missed = np.ones(len(g_rows), dtype=bool)
    missed[pair[ok]] = False
    n_fp, n_missed = int((~ok).sum()), int(missed.sum())
    image = np.concatenate([dt.image[hit], dt.image[d_rows[ok]], dt.image[d_rows[~ok]], gt.image[g_rows[missed]]])
    truth = np.concatenate(
        [dm.category[hit], gt.category[g_rows[pair[ok]]], np.full(n_fp, k), gt.category[g_rows[missed]]]
    )
    predicted = np.concatenate(
        [dm.category[hit], dt.category[d_rows[ok]], dt.category[d_rows[~ok]], np.full(n_missed, k)]
    )
    as_int = np.int64
    return image.astype(as_int), truth.astype(as_int), predicted.astype(as_int)
