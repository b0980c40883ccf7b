"""Greedy, score-ordered matching of predictions to ground truth, vectorised across images.

The rule is COCOeval's: within each group (one image and, when class-wise, one class) predictions are taken
in descending score (ties: earlier row first); each takes the still-free ground-truth box with the highest
IoU at or above the threshold (ties: the later ground-truth row). A ground-truth box flagged *ignore* is only
taken when no regular box qualifies; *crowd* boxes may be taken by many predictions.

Instead of a Python loop per (image, class), all candidate pairs (IoU at or above the lowest threshold) are
built at once and the greedy sweep runs over *ranks*: step ``r`` settles the ``r``-th prediction of every
group simultaneously, which is exact because groups share no boxes. The loop has as many steps as the most
crowded group has predictions (at most ``max_dets``).

The overlap is box IoU unless an ``iou_fn`` is given: a function of (prediction rows, ground-truth rows) that
returns the overlap of each pair, such as mask IoU (:func:`quality_gates.masks.mask_pair_iou`) or OKS
(:func:`quality_gates.keypoints.oks_pair_fn`); the matching rule stays the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.boxes import BoxColumns, BoxSet, iou_at, pair_iou

__all__ = [
    "CandidatePairs",
    "Matching",
    "PairIouFn",
    "candidate_pairs",
    "greedy_assign",
    "match_by_iou",
    "match_greedy",
    "rank_in_groups",
]


PairIouFn: TypeAlias = Callable[[IntArray, IntArray], FloatArray]
"""Overlap of prediction row ``di[k]`` with ground-truth row ``gi[k]`` for every k, in [0, 1]."""


def rank_in_groups(group: IntArray, score: FloatArray | None = None) -> IntArray:
    """Rank of each row inside its group: by descending ``score`` (stable), else by row order; 0 = first."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(group, kind="stable") if score is None else np.lexsort((-score, group))
    sg = group[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(sg[1:], sg[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    rank_sorted = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    return rank


@dataclass(frozen=True, eq=False)
class CandidatePairs:
    """Every (prediction, ground truth) pair in one group with IoU at or above ``min_iou``.

    Pairs are sorted by (prediction rank, prediction row, IoU, ground-truth row), so the pairs of one rank
    are contiguous (``rank_bounds``) and, inside one prediction, the best candidate comes last.

    Attributes:
        det, gt: (P,) row indices into the prediction and ground-truth sets.
        iou: (P,) IoU of each pair.
        dt_rank: (D,) rank of every prediction inside its group (score order).
        rank_bounds: (R + 1,) pairs of rank ``r`` are ``[rank_bounds[r], rank_bounds[r + 1])``.
        n_dt, n_gt: sizes of the two sets.
    """

    det: IntArray
    gt: IntArray
    iou: FloatArray
    dt_rank: IntArray
    rank_bounds: IntArray
    n_dt: int
    n_gt: int


def _group_keys(gt: BoxSet, dt: BoxSet, *, classwise: bool) -> tuple[IntArray, IntArray]:
    images = np.concatenate([gt.image, dt.image])
    _, dense = np.unique(images, return_inverse=True)
    dense = dense.astype(np.int64).reshape(-1)
    if not classwise:
        return dense[: len(gt)], dense[len(gt) :]
    k = int(max(gt.category.max(initial=-1), dt.category.max(initial=-1))) + 1
    cats = np.concatenate([gt.category, dt.category])
    key = dense * max(k, 1) + cats
    return key[: len(gt)], key[len(gt) :]


def candidate_pairs(
    gt: BoxSet,
    dt: BoxSet,
    *,
    min_iou: float = 0.5,
    classwise: bool = True,
    max_dets: int | None = None,
    iou_fn: PairIouFn | None = None,
) -> CandidatePairs:
    """Build the candidate pairs of a matching.

    Args:
        gt: ground-truth boxes (``iscrowd`` honoured in the IoU).
        dt: predictions; ``score`` orders them, unscored sets keep row order.
        min_iou (0.5): pairs below this IoU can never match and are dropped.
        classwise (True): groups are (image, class); else (image) only, for class-agnostic matching.
        max_dets (None): keep only the best ``max_dets`` predictions per group (COCO's 100); None keeps all.
        iou_fn (None): overlap of (prediction rows, ground-truth rows); None: box IoU of ``xywh``.
    """
    g_key, d_key = _group_keys(gt, dt, classwise=classwise)
    dt_rank = rank_in_groups(d_key, dt.score)
    keep = np.arange(len(dt)) if max_dets is None else np.flatnonzero(dt_rank < max_dets)

    g_order = np.argsort(g_key, kind="stable")
    ug, gstart, gcount = np.unique(g_key[g_order], return_index=True, return_counts=True)
    kd = d_key[keep]
    if len(ug) == 0 or len(kd) == 0:
        z = np.zeros(0, dtype=np.int64)
        return CandidatePairs(z, z, np.zeros(0), dt_rank, np.zeros(1, dtype=np.int64), len(dt), len(gt))
    pos = np.minimum(np.searchsorted(ug, kd), len(ug) - 1)
    cnt = np.where(ug[pos] == kd, gcount[pos], 0).astype(np.int64)
    total = int(cnt.sum())
    det = np.repeat(keep, cnt)
    within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    gt_rows = g_order[np.repeat(gstart[pos], cnt) + within].astype(np.int64)
    if iou_fn is not None:
        iou = np.asarray(iou_fn(det, gt_rows), dtype=np.float64)
    else:
        crowd = gt.iscrowd if gt.iscrowd is not None and gt.iscrowd.any() else None
        iou = iou_at(BoxColumns.from_xywh(dt.xywh), BoxColumns.from_xywh(gt.xywh), det, gt_rows, crowd=crowd)
    ok = iou >= min_iou
    det, gt_rows, iou = det[ok], gt_rows[ok], iou[ok]

    rank = dt_rank[det]
    order = np.lexsort((gt_rows, iou, det, rank))
    det, gt_rows, iou, rank = det[order], gt_rows[order], iou[order], rank[order]
    n_ranks = int(rank.max()) + 1 if len(rank) else 0
    bounds = np.searchsorted(rank, np.arange(n_ranks + 1)).astype(np.int64)
    return CandidatePairs(det, gt_rows, iou, dt_rank, bounds, len(dt), len(gt))


def greedy_assign(
    pairs: CandidatePairs,
    *,
    iou_thresholds: Sequence[float] | FloatArray = (0.5,),
    gt_ignore: BoolArray | None = None,
    gt_crowd: BoolArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Run the greedy sweep at every IoU threshold at once.

    Args:
        pairs: from :func:`candidate_pairs`.
        iou_thresholds ((0.5,)): T thresholds in (0, 1]; a pair matches when ``iou >= min(t, 1 - 1e-10)``.
        gt_ignore (None): (G,) bool; ignored boxes are taken only when no regular box qualifies.
        gt_crowd (None): (G,) bool; crowd boxes stay available after being taken.

    Returns:
        ``(dt_match, gt_match)``: (T, D) matched ground-truth row per prediction and (T, G) matched
        prediction row per ground-truth box (the last one for crowd boxes); -1 where unmatched.
    """
    thr = np.minimum(np.asarray(iou_thresholds, dtype=np.float64), 1 - 1e-10)
    n_t = len(thr)
    dt_match = np.full((n_t, pairs.n_dt), -1, dtype=np.int64)
    gt_match = np.full((n_t, pairs.n_gt), -1, dtype=np.int64)
    taken = np.zeros((n_t, pairs.n_gt), dtype=bool)
    any_crowd = gt_crowd is not None and bool(gt_crowd.any())
    any_ignore = gt_ignore is not None and bool(gt_ignore.any())
    bounds = pairs.rank_bounds
    for r in range(len(bounds) - 1):
        a, b = int(bounds[r]), int(bounds[r + 1])
        if a == b:
            continue
        pg, pd = pairs.gt[a:b], pairs.det[a:b]
        starts = np.flatnonzero(np.concatenate(([True], pd[1:] != pd[:-1])))
        valid = pairs.iou[None, a:b] >= thr[:, None]
        blocked = taken[:, pg]
        if any_crowd:
            assert gt_crowd is not None
            blocked &= ~gt_crowd[pg]
        valid &= ~blocked
        idx = np.arange(b - a)
        if any_ignore:
            assert gt_ignore is not None
            ig = gt_ignore[pg]
            best = np.maximum.reduceat(np.where(valid & ~ig, idx, -1), starts, axis=1)
            fallback = np.maximum.reduceat(np.where(valid & ig, idx, -1), starts, axis=1)
            best = np.where(best >= 0, best, fallback)
        else:
            best = np.maximum.reduceat(np.where(valid, idx, -1), starts, axis=1)
        ti, si = np.nonzero(best >= 0)
        p = best[ti, si]
        taken[ti, pg[p]] = True
        gt_match[ti, pg[p]] = pd[p]
        dt_match[ti, pd[p]] = pg[p]
    return dt_match, gt_match


@dataclass(frozen=True, eq=False)
class Matching:
    """Result of :func:`match_greedy`.

    Attributes:
        iou_thresholds: (T,) thresholds used.
        dt_match: (T, D) matched ground-truth row per prediction, -1 if none.
        gt_match: (T, G) matched prediction row per ground-truth box, -1 if none.
        dt_rank: (D,) rank of each prediction inside its group by descending score.
        dt_iou: (T, D) IoU with the matched box, 0 where unmatched.
    """

    iou_thresholds: FloatArray
    dt_match: IntArray
    gt_match: IntArray
    dt_rank: IntArray
    dt_iou: FloatArray


def match_greedy(
    gt: BoxSet,
    dt: BoxSet,
    *,
    iou_thresholds: Sequence[float] | FloatArray = (0.5,),
    classwise: bool = True,
    gt_ignore: BoolArray | None = None,
    max_dets: int | None = None,
    iou_fn: PairIouFn | None = None,
) -> Matching:
    """Match predictions to ground truth greedily by score at each IoU threshold.

    Args:
        gt: ground truth; crowd boxes (``iscrowd``) are treated as ignore regions.
        dt: predictions (unscored sets are taken in row order).
        iou_thresholds ((0.5,)): IoU thresholds in (0, 1].
        classwise (True): only boxes of the same class can match.
        gt_ignore (None): (G,) extra ignore flags (e.g. an area range); crowd boxes are always ignored.
        max_dets (None): predictions beyond this rank in their group stay unmatched.
        iou_fn (None): overlap of (prediction rows, ground-truth rows), crowd semantics included; None: box IoU.
    """
    thr = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
    pairs = candidate_pairs(
        gt,
        dt,
        min_iou=float(min(thr.min(initial=1.0), 1 - 1e-10)),
        classwise=classwise,
        max_dets=max_dets,
        iou_fn=iou_fn,
    )
    ignore = gt.crowd if gt_ignore is None else (np.asarray(gt_ignore, dtype=bool) | gt.crowd)
    dt_match, gt_match = greedy_assign(pairs, iou_thresholds=thr, gt_ignore=ignore, gt_crowd=gt.crowd)
    dt_iou = np.zeros(dt_match.shape, dtype=np.float64)
    ti, di = np.nonzero(dt_match >= 0)
    if len(ti) and iou_fn is not None:
        dt_iou[ti, di] = iou_fn(di, dt_match[ti, di])
    elif len(ti):
        dt_iou[ti, di] = pair_iou(dt.xywh[di], gt.xywh[dt_match[ti, di]], crowd=gt.crowd[dt_match[ti, di]])
    return Matching(thr, dt_match, gt_match, pairs.dt_rank, dt_iou)


def match_by_iou(
    gt: BoxSet,
    dt: BoxSet,
    *,
    iou_threshold: float = 0.5,
    classwise: bool = True,
    iou_fn: PairIouFn | None = None,
) -> tuple[IntArray, IntArray, FloatArray]:
    """One-to-one matching by descending IoU, independent of row order and scores.

    The result equals the sequential greedy that takes the pair of highest IoU first (ties: lower
    prediction row, then lower ground-truth row), computed in rounds of mutually-best pairs. Used where
    neither side has scores (annotators against the golden set, annotators against each other).

    Args:
        gt, dt: the two box sets (``dt`` scores are ignored; crowd flags are not special here).
        iou_threshold (0.5): pairs need ``iou >= iou_threshold``.
        classwise (True): only boxes of the same class can match.
        iou_fn (None): overlap of (``dt`` rows, ``gt`` rows); None: box IoU without crowd semantics.

    Returns:
        ``(dt_match, gt_match, dt_iou)``: (D,) ground-truth row per ``dt`` row, (G,) ``dt`` row per
        ground-truth row (-1 where unmatched) and (D,) IoU of the matched pair (0 where unmatched).
    """
    plain_gt = BoxSet(gt.image, gt.category, gt.xywh)
    plain_dt = BoxSet(dt.image, dt.category, dt.xywh)
    pairs = candidate_pairs(plain_gt, plain_dt, min_iou=iou_threshold, classwise=classwise, iou_fn=iou_fn)
    # A strict total order on pairs: IoU descending, then prediction row, then ground-truth row.
    order = np.lexsort((pairs.gt, pairs.det, -pairs.iou))
    det, gtr, iou = pairs.det[order], pairs.gt[order], pairs.iou[order]
    dt_match = np.full(len(dt), -1, dtype=np.int64)
    gt_match = np.full(len(gt), -1, dtype=np.int64)
    dt_iou = np.zeros(len(dt), dtype=np.float64)
    while len(det):
        _, first_d = np.unique(det, return_index=True)
        _, first_g = np.unique(gtr, return_index=True)
        mutual = np.intersect1d(first_d, first_g, assume_unique=True)
        dt_match[det[mutual]] = gtr[mutual]
        gt_match[gtr[mutual]] = det[mutual]
        dt_iou[det[mutual]] = iou[mutual]
        free = (dt_match[det] < 0) & (gt_match[gtr] < 0)
        det, gtr, iou = det[free], gtr[free], iou[free]
    return dt_match, gt_match, dt_iou
