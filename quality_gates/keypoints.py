"""Keypoints and their object keypoint similarity (OKS), identical to pycocotools' ``COCOeval.computeOks``.

A keypoint object has K points ``(x, y, v)`` in px; ``v > 0`` marks a labelled point (COCO: 1 occluded,
2 visible), ``v == 0`` an unlabelled one that OKS skips. With ``vars = (2 * sigma)**2`` and the ground truth's
``area`` (the COCO field, px²)::

    e_k = (dx_k² + dy_k²) / vars_k / (area + eps) / 2,      OKS = mean over labelled k of exp(-e_k)

A ground truth without labelled points is scored against the box ``bbox`` enlarged to three times its size
(``dx_k`` is the distance from the detection's point to that box, 0 inside), averaging over all K points. The
floating-point operations are pycocotools', in its order (sums of one pair's terms are taken over a
contiguous row, as numpy sums pycocotools' vector), so a threshold test ``oks >= t`` gives COCOeval's verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.errors import InputFormatError
from quality_gates.matching import Matching, PairIouFn, match_by_iou, match_greedy

__all__ = [
    "COCO_PERSON_SIGMAS",
    "KeypointSet",
    "check_sigmas",
    "match_keypoints_by_oks",
    "match_keypoints_greedy",
    "oks_matrix",
    "oks_pair_fn",
]

# pycocotools' Params.kpt_oks_sigmas (COCO person: nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
# ankles), computed as it computes them so the values are the same doubles.
COCO_PERSON_SIGMAS: tuple[float, ...] = tuple(
    float(v)
    for v in np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
                       0.89, 0.89]) / 10.0
)  # fmt: skip


def check_sigmas(
    sigmas: Sequence[float] | FloatArray, *, num_keypoints: int | None = None, name: str = "sigmas"
) -> FloatArray:
    """Sigmas as a (K,) float64 array: finite and positive, and K equal to ``num_keypoints`` when given."""
    s = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if s.size == 0 or not np.isfinite(s).all() or (s <= 0).any():
        raise InputFormatError(name, "", "OKS sigmas must be a non-empty list of positive finite numbers")
    if num_keypoints is not None and s.size != num_keypoints:
        raise InputFormatError(name, "", f"{s.size} sigmas for keypoints with {num_keypoints} points each")
    return s


def _as_keypoints(kp: Any, name: str, *, need_v: bool) -> FloatArray:
    """(n, K, 3) float64 from (n, K, 3), (n, K, 2) or the flat COCO (n, 3K); finite."""
    arr = np.asarray(kp, dtype=np.float64)
    if arr.ndim == 2:
        if arr.shape[1] % 3:
            raise InputFormatError(name, "", f"flat COCO keypoints need 3 numbers per point, got {arr.shape[1]}")
        arr = arr.reshape(arr.shape[0], -1, 3)
    if arr.ndim != 3 or arr.shape[2] not in (2, 3) or (need_v and arr.shape[2] != 3):
        want = "(n, K, 3) x, y, v" if need_v else "(n, K, 2) or (n, K, 3)"
        raise InputFormatError(name, "", f"keypoints must have shape {want}, got {arr.shape}")
    if arr.shape[2] == 2:
        arr = np.concatenate([arr, np.full((*arr.shape[:2], 1), 2.0)], axis=2)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=(1, 2)))
    if len(bad):
        raise InputFormatError(
            name, f"row {int(bad[0])}", "keypoint coordinates must be finite (found NaN or infinity)"
        )
    return arr


@dataclass(frozen=True, eq=False)
class KeypointSet:
    """Keypoint objects over many images: the rows of a :class:`~quality_gates.boxes.BoxSet` plus K points each.

    Attributes:
        boxes: image, category, score, area, crowd flags and annotation ids per row; ``xywh`` is the COCO
            ``bbox`` (it bounds a ground truth without labelled points); ``boxes.areas`` is the OKS scale and
            decides the area ranges (ground truth: the COCO ``area`` field; detections: the keypoints'
            extent, or ``w * h`` of the record's ``bbox`` when the results record carries one, as
            pycocotools' ``loadRes`` does).
        keypoints: (n, K, 3) float64 ``x, y, v``.
        num_keypoints (None): (n,) the COCO ``num_keypoints`` field; a ground truth with 0 is ignored in COCO
            evaluation. None: the count of points with ``v > 0``.
    """

    boxes: BoxSet
    keypoints: FloatArray
    num_keypoints: IntArray | None = None

    def __post_init__(self) -> None:
        kp = _as_keypoints(self.keypoints, "keypoints", need_v=False)
        if len(kp) != len(self.boxes):
            raise ValueError(f"KeypointSet has {len(self.boxes)} rows but {len(kp)} keypoint objects")
        object.__setattr__(self, "keypoints", kp)
        if self.num_keypoints is not None:
            nk = np.asarray(self.num_keypoints, dtype=np.int64).reshape(-1)
            if len(nk) != len(kp):
                raise ValueError(f"KeypointSet.num_keypoints has length {len(nk)}, expected {len(kp)}")
            object.__setattr__(self, "num_keypoints", nk)

    @classmethod
    def build(
        cls,
        image: Any,
        category: Any,
        keypoints: Any,
        *,
        score: Any = None,
        area: Any = None,
        iscrowd: Any = None,
        ann_id: Any = None,
        xywh: Any = None,
        num_keypoints: Any = None,
    ) -> KeypointSet:
        """Rows from columns; ``xywh`` and ``area`` default to the extent of all K points (``loadRes``)."""
        kp = _as_keypoints(keypoints, "keypoints", need_v=False)
        if kp.shape[1] == 0:
            raise InputFormatError("keypoints", "", "keypoint objects need at least one point")
        x, y = kp[:, :, 0], kp[:, :, 1]
        x0, x1, y0, y1 = x.min(axis=1), x.max(axis=1), y.min(axis=1), y.max(axis=1)
        box = np.column_stack([x0, y0, x1 - x0, y1 - y0]) if xywh is None else xywh
        a = (x1 - x0) * (y1 - y0) if area is None else area
        rows = BoxSet(image, category, box, score=score, area=a, iscrowd=iscrowd, ann_id=ann_id)
        return cls(rows, kp, num_keypoints)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def labelled(self) -> IntArray:
        """(n,) ``num_keypoints`` when given, else the count of points with ``v > 0``."""
        if self.num_keypoints is not None:
            return self.num_keypoints
        return np.asarray((self.keypoints[:, :, 2] > 0).sum(axis=1), dtype=np.int64)

    def select(self, mask: BoolArray | IntArray) -> KeypointSet:
        """Rows chosen by a boolean mask or an index array, in that order."""
        nk = None if self.num_keypoints is None else self.num_keypoints[mask]
        return KeypointSet(self.boxes.select(mask), self.keypoints[mask], nk)


def _oks_pairs(
    dt_kp: FloatArray, gt_kp: FloatArray, gt_area: FloatArray, gt_xywh: FloatArray, sigmas: FloatArray,
    di: IntArray, gi: IntArray,
) -> FloatArray:  # fmt: skip
    """OKS of ``dt_kp[di[k]]`` against ``gt_kp[gi[k]]`` for every k, pycocotools' operations in its order."""
    out = np.zeros(len(di))
    if len(di) == 0:
        return out
    k = len(sigmas)
    var = (sigmas * 2) ** 2
    xd, yd = dt_kp[di, :, 0], dt_kp[di, :, 1]
    xg, yg, vis = gt_kp[gi, :, 0], gt_kp[gi, :, 1], gt_kp[gi, :, 2] > 0
    n_vis = vis.sum(axis=1)
    scale = gt_area[gi][:, None] + np.spacing(1)
    has = n_vis > 0
    dx, dy = np.empty_like(xd), np.empty_like(yd)
    dx[has], dy[has] = xd[has] - xg[has], yd[has] - yg[has]
    if (~has).any():
        bb = gt_xywh[gi[~has]]
        x0, x1 = (bb[:, 0] - bb[:, 2])[:, None], (bb[:, 0] + bb[:, 2] * 2)[:, None]
        y0, y1 = (bb[:, 1] - bb[:, 3])[:, None], (bb[:, 1] + bb[:, 3] * 2)[:, None]
        xn, yn = xd[~has], yd[~has]
        dx[~has] = np.maximum(0.0, x0 - xn) + np.maximum(0.0, xn - x1)
        dy[~has] = np.maximum(0.0, y0 - yn) + np.maximum(0.0, yn - y1)
    e = (dx**2 + dy**2) / var / scale / 2
    rows = np.flatnonzero(~has)
    if len(rows):
        out[rows] = np.sum(np.exp(-np.ascontiguousarray(e[rows])), axis=1) / k
    # Pairs with c labelled points: their c terms, in point order, as one contiguous row each.
    for c in np.unique(n_vis[has]):
        rows = np.flatnonzero(n_vis == c)
        terms = e[rows][vis[rows]].reshape(len(rows), int(c))
        out[rows] = np.sum(np.exp(-terms), axis=1) / int(c)
    return out


def oks_matrix(
    dt: Any,
    gt: Any,
    sigmas: Sequence[float] | FloatArray,
    gt_areas: Any,
    *,
    gt_boxes: Any = None,
) -> FloatArray:
    """All-pairs OKS, shape (len(dt), len(gt)), equal to pycocotools' ``computeOks`` for one image and class.

    Args:
        dt: (D, K, 2|3) or flat (D, 3K) detection points, px; ``v`` of detections is not read.
        gt: (G, K, 3) or flat (G, 3K) ground-truth points with visibility ``v`` (0: unlabelled, skipped).
        sigmas: (K,) per-keypoint OKS sigmas (COCO person: :data:`COCO_PERSON_SIGMAS`).
        gt_areas: (G,) ground-truth areas in px² (the COCO ``area`` field).
        gt_boxes (None): (G, 4) ground-truth ``bbox`` xywh; needed only for ground truth without labelled
            points (then OKS measures the distance to the box enlarged three times).

    Returns:
        float64 in [0, 1]. Raises :class:`~quality_gates.errors.InputFormatError` (a ``ValueError``) for a
        point count that differs from the sigmas, NaN coordinates, or a missing ``gt_boxes``.
    """
    d = _as_keypoints(dt, "detection keypoints", need_v=False)
    g = _as_keypoints(gt, "ground-truth keypoints", need_v=True)
    s = check_sigmas(sigmas)
    for name, arr in (("detection keypoints", d), ("ground-truth keypoints", g)):
        if len(arr) and arr.shape[1] != len(s):
            raise InputFormatError(name, "", f"{arr.shape[1]} points per object, but {len(s)} sigmas")
    area = np.asarray(gt_areas, dtype=np.float64).reshape(-1)
    if len(area) != len(g):
        raise ValueError(f"gt_areas has {len(area)} values for {len(g)} ground-truth objects")
    if gt_boxes is None:
        if len(g) and not (g[:, :, 2] > 0).any(axis=1).all():
            raise InputFormatError("ground-truth keypoints", "", "an object without labelled points needs gt_boxes")
        boxes = np.zeros((len(g), 4))
    else:
        boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(len(g), 4)
    n, m = len(d), len(g)
    di, gi = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    return _oks_pairs(d, g, area, boxes, s, di, gi).reshape(n, m)


def oks_pair_fn(dt: KeypointSet, gt: KeypointSet, *, sigmas: Sequence[float] | FloatArray) -> PairIouFn:
    """OKS as the overlap of a matching (:mod:`quality_gates.matching`'s ``iou_fn``); ``gt.boxes.areas`` is
    the scale and ``gt.boxes.xywh`` bounds ground truth without labelled points.

    Raises:
        InputFormatError: either set's point count differs from the sigmas.
    """
    s = check_sigmas(sigmas)
    for name, ks in (("detection keypoints", dt), ("ground-truth keypoints", gt)):
        if len(ks) and ks.keypoints.shape[1] != len(s):
            raise InputFormatError(name, "", f"{ks.keypoints.shape[1]} points per object, but {len(s)} sigmas")
    d_kp, g_kp = dt.keypoints, gt.keypoints
    g_area, g_box = gt.boxes.areas, gt.boxes.xywh

    def oks(di: IntArray, gi: IntArray) -> FloatArray:
        return _oks_pairs(d_kp, g_kp, g_area, g_box, s, di, gi)

    return oks


def match_keypoints_greedy(
    gt: KeypointSet,
    dt: KeypointSet,
    *,
    sigmas: Sequence[float] | FloatArray,
    oks_thresholds: Sequence[float] | FloatArray = (0.5,),
    classwise: bool = True,
    gt_ignore: BoolArray | None = None,
    max_dets: int | None = None,
) -> Matching:
    """:func:`~quality_gates.matching.match_greedy` with OKS in place of IoU (``Matching.dt_iou`` holds OKS)."""
    return match_greedy(
        gt.boxes, dt.boxes, iou_thresholds=oks_thresholds, classwise=classwise, gt_ignore=gt_ignore,
        max_dets=max_dets, iou_fn=oks_pair_fn(dt, gt, sigmas=sigmas),
    )  # fmt: skip


def match_keypoints_by_oks(
    gt: KeypointSet,
    dt: KeypointSet,
    *,
    sigmas: Sequence[float] | FloatArray,
    oks_threshold: float = 0.5,
    classwise: bool = True,
) -> tuple[IntArray, IntArray, FloatArray]:
    """:func:`~quality_gates.matching.match_by_iou` with OKS (``gt`` gives the scale and visibility), for
    golden-set error and agreement between people. Returns ``(dt_match, gt_match, dt_oks)``."""
    fn = oks_pair_fn(dt, gt, sigmas=sigmas)
    return match_by_iou(gt.boxes, dt.boxes, iou_threshold=oks_threshold, classwise=classwise, iou_fn=fn)
