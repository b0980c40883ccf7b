"""COCO bounding-box AP/AR, numerically identical to pycocotools' ``COCOeval`` (``iouType="bbox"``).

The algorithm is COCOeval's, reorganised for arrays: one candidate-pair table for all images, one greedy
sweep per area range for all ten IoU thresholds at once (see :mod:`quality_gates.matching`), then the
accumulation per (class, area range, max detections) with cumulative sums. Detections beyond the best
``max(max_dets)`` per (image, class) are dropped, and smaller ``max_dets`` truncate the same matching, exactly
as COCOeval does. Ground-truth ``area`` (the COCO field, not ``w*h``) decides the area ranges; detection
area is ``w*h``.

pycocotools' id-0 rule is reproduced too: ``evaluateImg`` stores the matched ground-truth *id* in ``dtm``
(a zero-initialised array) and ``accumulate`` reads ``dtm != 0`` as "matched", so a detection matched to the
annotation with ``id == 0`` counts as a false positive (or is ignored, when its own area lies outside the
range), while that annotation is still taken (no later detection can match it) and still counts as a
missed positive. The ids come from ``gt.ann_id`` (set by :func:`~quality_gates.coco.parse_coco_instances`);
without them no id is 0. :attr:`CocoEvalResult.id_zero_matches` says when the rule changed anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.matching import candidate_pairs, greedy_assign

__all__ = ["COCO_STAT_NAMES", "CocoEvalParams", "CocoEvalResult", "coco_evaluate"]

COCO_STAT_NAMES: tuple[str, ...] = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


def _default_iou() -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1))


def _default_rec() -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1))


@dataclass(frozen=True)
class CocoEvalParams:
    """COCOeval's default bbox parameters.

    Attributes:
        iou_thresholds: 0.50:0.05:0.95 (10 values).
        recall_thresholds: 0:0.01:1 (101 values).
        max_dets: (1, 10, 100) detections per image and class.
        area_ranges: all / small / medium / large in px², bounds inclusive.
    """

    iou_thresholds: tuple[float, ...] = field(default_factory=_default_iou)
    recall_thresholds: tuple[float, ...] = field(default_factory=_default_rec)
    max_dets: tuple[int, ...] = (1, 10, 100)
    area_ranges: tuple[tuple[float, float], ...] = (
        (0.0, 1e10),
        (0.0, 32.0**2),
        (32.0**2, 96.0**2),
        (96.0**2, 1e10),
    )
    area_labels: tuple[str, ...] = ("all", "small", "medium", "large")


@dataclass(frozen=True, eq=False)
class CocoEvalResult:
    """COCOeval's outputs.

    Attributes:
        stats: (12,) the summary in ``COCO_STAT_NAMES`` order; -1 where undefined (as COCOeval).
        precision: (T, R, K, A, M) interpolated precision, -1 where undefined.
        recall: (T, K, A, M) final recall, -1 where undefined.
        params: the parameters used.
        id_zero_matches (0): detections matched, at some IoU threshold and area range, to a regular (not
            ignored) ground-truth box whose annotation id is 0; pycocotools, and so these numbers, count
            each such match as a false positive and the box as missed. 0: the rule played no part.
    """

    stats: FloatArray
    precision: FloatArray
    recall: FloatArray
    params: CocoEvalParams
    id_zero_matches: int = 0

    def stats_dict(self) -> dict[str, float]:
        """The 12 summary numbers by name."""
        return {n: float(v) for n, v in zip(COCO_STAT_NAMES, self.stats, strict=True)}

    def per_class_ap(self, *, iou: float | None = None) -> FloatArray:
        """(K,) AP per class (area all, the largest max_dets), mean over IoU thresholds or at ``iou``;
        NaN for classes without ground truth."""
        p = self.precision[..., 0, -1]
        if iou is not None:
            p = p[np.flatnonzero(np.isclose(np.asarray(self.params.iou_thresholds), iou))]
        out = np.full(p.shape[2], np.nan)
        for k in range(p.shape[2]):
            v = p[:, :, k]
            v = v[v > -1]
            if v.size:
                out[k] = float(np.mean(v))
        return out


def _mean_valid(s: FloatArray) -> float:
    v = s[s > -1]
    return -1.0 if v.size == 0 else float(np.mean(v))


def _summarize(precision: FloatArray, recall: FloatArray, params: CocoEvalParams) -> FloatArray:
    iou = np.asarray(params.iou_thresholds)
    top = params.max_dets[-1]

    def ap(iou_thr: float | None = None, area: str = "all", max_det: int = top, is_ap: bool = True) -> float:
        a = params.area_labels.index(area)
        m = params.max_dets.index(max_det)
        if is_ap:
            s = precision if iou_thr is None else precision[np.flatnonzero(iou_thr == iou)]
            return _mean_valid(s[:, :, :, a, m])
        r = recall if iou_thr is None else recall[np.flatnonzero(iou_thr == iou)]
        return _mean_valid(r[:, :, a, m])

    md = params.max_dets
    return np.array(
        [
            ap(),
            ap(0.5, max_det=top),
            ap(0.75, max_det=top),
            ap(area="small"),
            ap(area="medium"),
            ap(area="large"),
            ap(max_det=md[0], is_ap=False),
            ap(max_det=md[1], is_ap=False),
            ap(max_det=md[2], is_ap=False),
            ap(area="small", is_ap=False),
            ap(area="medium", is_ap=False),
            ap(area="large", is_ap=False),
        ]
    )


def coco_evaluate(
    gt: BoxSet,
    dt: BoxSet,
    *,
    num_classes: int,
    image_ids: IntArray | Sequence[int] | None = None,
    params: CocoEvalParams | None = None,
) -> CocoEvalResult:
    """Evaluate detections like ``COCOeval(cocoGt, cocoDt, "bbox")`` followed by evaluate/accumulate/summarize.

    Args:
        gt: ground truth; ``area`` should carry the COCO ``area`` field, ``iscrowd`` the crowd flags,
            ``ann_id`` the annotation ids (a match to id 0 counts as a miss, as in pycocotools).
        dt: detections with ``score`` (required).
        num_classes: K, the number of categories in the ground truth's category list (category index
            ``0..K-1`` in ascending COCO id order, as ``COCOeval`` sorts ``catIds``).
        image_ids (None): the evaluated images (COCOeval's ``imgIds``); boxes on other images are dropped.
            None keeps every image.
        params (None): :class:`CocoEvalParams`; defaults are COCOeval's.

    Returns:
        :class:`CocoEvalResult`; ``stats`` equals COCOeval's ``stats``.
    """
    p = params or CocoEvalParams()
    if dt.score is None:
        raise ValueError("detections need scores for COCO evaluation")
    if image_ids is not None:
        ids = np.asarray(image_ids, dtype=np.int64)
        gt = gt.select(np.isin(gt.image, ids))
        dt = dt.select(np.isin(dt.image, ids))
    for name, s in (("ground truth", gt), ("detections", dt)):
        if len(s) and (s.category.min() < 0 or s.category.max() >= num_classes):
            raise ValueError(f"{name} has class indices outside 0..{num_classes - 1}")
    assert dt.score is not None

    iou_thr = np.asarray(p.iou_thresholds, dtype=np.float64)
    rec_thr = np.asarray(p.recall_thresholds, dtype=np.float64)
    n_t, n_r, n_k, n_a, n_m = len(iou_thr), len(rec_thr), num_classes, len(p.area_ranges), len(p.max_dets)
    precision = -np.ones((n_t, n_r, n_k, n_a, n_m))
    recall = -np.ones((n_t, n_k, n_a, n_m))

    top = max(p.max_dets)
    pairs = candidate_pairs(gt, dt, min_iou=float(min(iou_thr.min(), 1 - 1e-10)), max_dets=top)
    kept = np.flatnonzero(pairs.dt_rank < top)
    # Accumulation order: class, descending score, image, rank in image (COCOeval's stable mergesort).
    _, img_dense = np.unique(dt.image[kept], return_inverse=True)
    rank = pairs.dt_rank[kept]
    cat = dt.category[kept]
    order = np.lexsort((rank, img_dense.reshape(-1), -dt.score[kept], cat))
    rows = kept[order]
    cat_sorted = cat[order]
    rank_sorted = rank[order]
    seg = np.searchsorted(cat_sorted, np.arange(n_k + 1))

    gt_area = gt.areas
    dt_area = dt.xywh[:, 2] * dt.xywh[:, 3]
    crowd = gt.crowd
    # -1 (unmatched) indexes the appended False, so an empty ground truth needs no special case.
    id_zero = np.append(gt.ann_id == 0 if gt.ann_id is not None else np.zeros(len(gt), dtype=bool), False)
    zero_hit = np.zeros(len(rows), dtype=bool)
    for a, (lo, hi) in enumerate(p.area_ranges):
        gt_ign = crowd | (gt_area < lo) | (gt_area > hi)
        dt_out = ((dt_area < lo) | (dt_area > hi))[rows]
        dt_match, _ = greedy_assign(pairs, iou_thresholds=iou_thr, gt_ignore=gt_ign, gt_crowd=crowd)
        m_sorted = dt_match[:, rows]
        matched = m_sorted >= 0
        # COCOeval's dtm holds the matched gt id, so a match to id 0 reads as "unmatched" from here on.
        counted = matched & ~id_zero[m_sorted]
        m_ign = np.append(gt_ign, False)[m_sorted]
        dt_ig = (matched & m_ign) | (~counted & dt_out[None, :])
        tps = counted & ~dt_ig
        fps = ~counted & ~dt_ig
        zero_hit |= (matched & ~counted & ~m_ign).any(axis=0)
        npig = np.bincount(gt.category[~gt_ign], minlength=n_k)
        for k in range(n_k):
            if npig[k] == 0:
                continue
            s0, s1 = int(seg[k]), int(seg[k + 1])
            seg_rank = rank_sorted[s0:s1]
            cache: dict[int, tuple[FloatArray, FloatArray]] = {}
            for m, max_det in enumerate(p.max_dets):
                sel = seg_rank < max_det
                n_sel = int(sel.sum())
                if n_sel not in cache:
                    tp = tps[:, s0:s1][:, sel] if n_sel < s1 - s0 else tps[:, s0:s1]
                    fp = fps[:, s0:s1][:, sel] if n_sel < s1 - s0 else fps[:, s0:s1]
                    cache[n_sel] = _precision_recall(tp, fp, int(npig[k]), rec_thr)
                q, rc_last = cache[n_sel]
                precision[:, :, k, a, m] = q
                recall[:, k, a, m] = rc_last
    stats = _summarize(precision, recall, p)
    return CocoEvalResult(stats, precision, recall, p, id_zero_matches=int(zero_hit.sum()))


def _precision_recall(
    tps: np.ndarray, fps: np.ndarray, npig: int, rec_thr: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """COCOeval's per-(class, area, maxDet) accumulation for all IoU thresholds (rows) at once."""
    n_t, nd = tps.shape
    q = np.zeros((n_t, len(rec_thr)))
    if nd == 0:
        return q, np.zeros(n_t)
    tp_sum = np.cumsum(tps, axis=1, dtype=np.float64)
    fp_sum = np.cumsum(fps, axis=1, dtype=np.float64)
    rc = tp_sum / npig
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    for t in range(n_t):
        inds = np.searchsorted(rc[t], rec_thr, side="left")
        ok = inds < nd
        q[t, ok] = pr[t, inds[ok]]
    return q, rc[:, -1].copy()
