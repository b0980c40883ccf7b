"""COCO AP/AR, numerically identical to pycocotools' ``COCOeval`` for ``iouType`` "bbox", "segm" and "keypoints".

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

The three IoU types share that machinery and differ in the overlap and in what is ignored: "segm" uses
mask IoU (:mod:`quality_gates.masks`; crowd regions count the detection's area as the union); "keypoints" uses
OKS (:mod:`quality_gates.keypoints`) with ``CocoEvalParams.keypoints()`` defaults (max 20 detections, area
ranges all/medium/large, 10 summary numbers) and ignores ground truth whose ``num_keypoints`` is 0, as
pycocotools does. Detection area: ``w*h`` of the box for "bbox", ``boxes.areas`` of the set for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.keypoints import COCO_PERSON_SIGMAS, KeypointSet, check_sigmas, oks_pair_fn
from quality_gates.masks import MaskSet, mask_pair_iou
from quality_gates.matching import PairIouFn, candidate_pairs, greedy_assign

__all__ = [
    "COCO_STAT_NAMES",
    "KEYPOINT_STAT_NAMES",
    "CocoEvalParams",
    "CocoEvalResult",
    "Instances",
    "IouType",
    "coco_evaluate",
]

IouType: TypeAlias = Literal["bbox", "segm", "keypoints"]
Instances: TypeAlias = BoxSet | MaskSet | KeypointSet

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

KEYPOINT_STAT_NAMES: tuple[str, ...] = (
    "AP",
    "AP50",
    "AP75",
    "AP_medium",
    "AP_large",
    "AR",
    "AR50",
    "AR75",
    "AR_medium",
    "AR_large",
)


def _default_iou() -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1))


def _default_rec() -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1))


@dataclass(frozen=True)
class CocoEvalParams:
    """COCOeval's parameters; the defaults are its bbox and segm ones (see :meth:`keypoints` for keypoints).

    Attributes:
        iou_thresholds: 0.50:0.05:0.95 (10 values).
        recall_thresholds: 0:0.01:1 (101 values).
        max_dets: (1, 10, 100) detections per image and class.
        area_ranges: all / small / medium / large in px², bounds inclusive.
        oks_sigmas (None): (K,) per-keypoint sigmas of "keypoints" evaluation (pycocotools'
            ``kpt_oks_sigmas``); None: the 17 COCO person sigmas.
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
    oks_sigmas: tuple[float, ...] | None = None

    @classmethod
    def keypoints(cls, sigmas: Sequence[float] | FloatArray | None = None) -> CocoEvalParams:
        """``Params(iouType="keypoints")``: max_dets (20,), area ranges all / medium / large, and ``sigmas``
        (default: the 17 COCO person sigmas)."""
        return cls(
            max_dets=(20,),
            area_ranges=((0.0, 1e10), (32.0**2, 96.0**2), (96.0**2, 1e10)),
            area_labels=("all", "medium", "large"),
            oks_sigmas=COCO_PERSON_SIGMAS if sigmas is None else tuple(float(v) for v in check_sigmas(sigmas)),
        )


@dataclass(frozen=True, eq=False)
class CocoEvalResult:
    """COCOeval's outputs.

    Attributes:
        stats: (12,) the summary in ``COCO_STAT_NAMES`` order, for "keypoints" (10,) in
            ``KEYPOINT_STAT_NAMES`` order; -1 where undefined (as COCOeval).
        precision: (T, R, K, A, M) interpolated precision, -1 where undefined.
        recall: (T, K, A, M) final recall, -1 where undefined.
        params: the parameters used.
        id_zero_matches (0): detections matched, at some IoU threshold and area range, to a regular (not
            ignored) ground-truth box whose annotation id is 0; pycocotools, and so these numbers, count
            each such match as a false positive and the box as missed. 0: the rule played no part.
        iou_type ("bbox"): the overlap used.
    """

    stats: FloatArray
    precision: FloatArray
    recall: FloatArray
    params: CocoEvalParams
    id_zero_matches: int = 0
    iou_type: IouType = "bbox"

    @property
    def stat_names(self) -> tuple[str, ...]:
        """Names of ``stats``, in order."""
        return KEYPOINT_STAT_NAMES if self.iou_type == "keypoints" else COCO_STAT_NAMES

    def stats_dict(self) -> dict[str, float]:
        """The summary numbers by name (12; 10 for keypoints)."""
        return {n: float(v) for n, v in zip(self.stat_names, self.stats, strict=True)}

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


def _rows(s: Instances) -> BoxSet:
    return s if isinstance(s, BoxSet) else s.boxes


def _iou_type(gt: Instances, dt: Instances, iou_type: IouType | None) -> IouType:
    kinds: dict[type, IouType] = {BoxSet: "bbox", MaskSet: "segm", KeypointSet: "keypoints"}
    if type(gt) is not type(dt):
        raise TypeError(f"ground truth and detections differ in kind: {type(gt).__name__}, {type(dt).__name__}")
    if type(gt) not in kinds:
        raise TypeError(f"COCO evaluation takes a BoxSet, MaskSet or KeypointSet, got {type(gt).__name__}")
    kind = iou_type or kinds[type(gt)]
    if kind not in ("bbox", "segm", "keypoints"):
        raise ValueError(f"unknown IoU type {kind!r}; expected 'bbox', 'segm' or 'keypoints'")
    if kind != "bbox" and kinds[type(gt)] != kind:
        raise TypeError(f"IoU type {kind!r} needs {'MaskSet' if kind == 'segm' else 'KeypointSet'} inputs")
    return kind


def _summarize_keypoints(precision: FloatArray, recall: FloatArray, params: CocoEvalParams) -> FloatArray:
    """COCOeval's ``_summarizeKps`` (its fixed maxDets=20 read as the largest of ``max_dets``)."""
    iou = np.asarray(params.iou_thresholds)
    m = len(params.max_dets) - 1
    out = []
    for is_ap in (True, False):
        for iou_thr, area in ((None, "all"), (0.5, "all"), (0.75, "all"), (None, "medium"), (None, "large")):
            a = params.area_labels.index(area)
            s = precision if is_ap else recall
            if iou_thr is not None:
                s = s[np.flatnonzero(iou_thr == iou)]
            out.append(_mean_valid(s[:, :, :, a, m] if is_ap else s[:, :, a, m]))
    return np.array(out)


def coco_evaluate(
    gt: Instances,
    dt: Instances,
    *,
    num_classes: int,
    image_ids: IntArray | Sequence[int] | None = None,
    params: CocoEvalParams | None = None,
    iou_type: IouType | None = None,
) -> CocoEvalResult:
    """Evaluate detections like ``COCOeval(cocoGt, cocoDt, iou_type)`` followed by evaluate/accumulate/summarize.

    Args:
        gt: ground truth: a :class:`BoxSet`, :class:`~quality_gates.masks.MaskSet` or
            :class:`~quality_gates.keypoints.KeypointSet`; its rows' ``area`` should carry the COCO ``area``
            field, ``iscrowd`` the crowd flags, ``ann_id`` the annotation ids (a match to id 0 counts as a miss,
            as in pycocotools).
        dt: detections of the same kind, with ``score`` (required).
        num_classes: K, the number of categories in the ground truth's category list (category index
            ``0..K-1`` in ascending COCO id order, as ``COCOeval`` sorts ``catIds``).
        image_ids (None): the evaluated images (COCOeval's ``imgIds``); objects on other images are dropped.
            None keeps every image.
        params (None): :class:`CocoEvalParams`; defaults are COCOeval's for the IoU type
            (:meth:`CocoEvalParams.keypoints` for "keypoints").
        iou_type (None): "bbox", "segm" (mask IoU) or "keypoints" (OKS); None: from the inputs' kind. "bbox"
            also evaluates the boxes of mask or keypoint sets.

    Returns:
        :class:`CocoEvalResult`; ``stats`` equals COCOeval's ``stats``.

    Raises:
        ValueError: unscored detections, class indices outside ``0..K-1``, masks of different sizes on one
            image, or keypoint counts that differ from the sigmas.
    """
    kind = _iou_type(gt, dt, iou_type)
    p = params or (CocoEvalParams.keypoints() if kind == "keypoints" else CocoEvalParams())
    if kind == "keypoints" and p.oks_sigmas is None:
        p = replace(p, oks_sigmas=COCO_PERSON_SIGMAS)
    if _rows(dt).score is None:
        raise ValueError("detections need scores for COCO evaluation")
    if image_ids is not None:
        ids = np.asarray(image_ids, dtype=np.int64)
        keep_gt, keep_dt = np.isin(_rows(gt).image, ids), np.isin(_rows(dt).image, ids)
        # Selecting every row would only copy the set (and drop what it has computed once, like packed masks).
        gt = gt if keep_gt.all() else gt.select(keep_gt)
        dt = dt if keep_dt.all() else dt.select(keep_dt)
    for name, s in (("ground truth", _rows(gt)), ("detections", _rows(dt))):
        if len(s) and (s.category.min() < 0 or s.category.max() >= num_classes):
            raise ValueError(f"{name} has class indices outside 0..{num_classes - 1}")
    iou_fn: PairIouFn | None = None
    gt_base_ignore = np.zeros(len(gt), dtype=bool)
    if kind == "segm":
        assert isinstance(gt, MaskSet) and isinstance(dt, MaskSet)
        iou_fn = mask_pair_iou(dt, gt)
    elif kind == "keypoints":
        assert isinstance(gt, KeypointSet) and isinstance(dt, KeypointSet) and p.oks_sigmas is not None
        iou_fn = oks_pair_fn(dt, gt, sigmas=p.oks_sigmas)
        gt_base_ignore = gt.labelled == 0
    precision, recall, zero_hits = _evaluate(_rows(gt), _rows(dt), gt_base_ignore, iou_fn, kind, p, num_classes)
    stats = _summarize_keypoints(precision, recall, p) if kind == "keypoints" else _summarize(precision, recall, p)
    return CocoEvalResult(stats, precision, recall, p, id_zero_matches=zero_hits, iou_type=kind)


def _evaluate(
    gt: BoxSet,
    dt: BoxSet,
    gt_base_ignore: np.ndarray,
    iou_fn: PairIouFn | None,
    kind: IouType,
    p: CocoEvalParams,
    num_classes: int,
) -> tuple[FloatArray, FloatArray, int]:
    """COCOeval's evaluate + accumulate: ``(precision, recall, id_zero_matches)``."""
    assert dt.score is not None

    iou_thr = np.asarray(p.iou_thresholds, dtype=np.float64)
    rec_thr = np.asarray(p.recall_thresholds, dtype=np.float64)
    n_t, n_r, n_k, n_a, n_m = len(iou_thr), len(rec_thr), num_classes, len(p.area_ranges), len(p.max_dets)
    precision = -np.ones((n_t, n_r, n_k, n_a, n_m))
    recall = -np.ones((n_t, n_k, n_a, n_m))

    top = max(p.max_dets)
    pairs = candidate_pairs(gt, dt, min_iou=float(min(iou_thr.min(), 1 - 1e-10)), max_dets=top, iou_fn=iou_fn)
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
    dt_area = dt.xywh[:, 2] * dt.xywh[:, 3] if kind == "bbox" else dt.areas
    crowd = gt.crowd
    # -1 (unmatched) indexes the appended False, so an empty ground truth needs no special case.
    id_zero = np.append(gt.ann_id == 0 if gt.ann_id is not None else np.zeros(len(gt), dtype=bool), False)
    zero_hit = np.zeros(len(rows), dtype=bool)
    for a, (lo, hi) in enumerate(p.area_ranges):
        gt_ign = gt_base_ignore | crowd | (gt_area < lo) | (gt_area > hi)
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
    return precision, recall, int(zero_hit.sum())


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
