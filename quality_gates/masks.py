"""Instance masks: mask IoU identical to pycocotools (``rleIou``: integer pixel counts, ``i / u`` in double;
for a *crowd* ground truth the union is the detection's own area; 0 without overlap), the :class:`MaskSet`
of many images, and matching by mask IoU.

Masks are :class:`~quality_gates.rle.Rle` (COCO segmentations become RLEs with
:mod:`quality_gates.segmentation`). Where pycocotools returns -1 (masks of different sizes) these functions
raise :class:`~quality_gates.errors.InputFormatError` naming the rows.
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
from quality_gates.rle import Rle, _pack, _Packed

__all__ = ["MaskSet", "mask_iou_matrix", "mask_pair_iou", "match_masks_by_iou", "match_masks_greedy"]


def _pair_iou(dp: _Packed, gp: _Packed, di: IntArray, gi: IntArray, crowd: BoolArray | None) -> FloatArray:
    """IoU of mask ``di[k]`` with mask ``gi[k]`` for every k (``rleIou``), exact integer counts."""
    di = np.asarray(di, dtype=np.int64)
    gi = np.asarray(gi, dtype=np.int64)
    bad = np.flatnonzero((dp.size[di] != gp.size[gi]).any(axis=1))
    if len(bad):
        k = int(bad[0])
        d_hw, g_hw = dp.size[di[k]].tolist(), gp.size[gi[k]].tolist()
        raise InputFormatError(
            "masks", f"detection row {int(di[k])} vs ground-truth row {int(gi[k])}",
            f"mask sizes differ ({d_hw[0]}x{d_hw[1]} vs {g_hw[0]}x{g_hw[1]}, h x w) on one image",
        )  # fmt: skip
    out = np.zeros(len(di))
    # Masks whose boxes do not meet share no pixel (empty masks have an empty column range).
    db, gb = dp.bbox[di], gp.bbox[gi]
    live = np.flatnonzero(
        (dp.col_lo[di] <= gp.col_hi[gi]) & (gp.col_lo[gi] <= dp.col_hi[di])
        & (db[:, 1] < gb[:, 1] + gb[:, 3]) & (gb[:, 1] < db[:, 1] + db[:, 3])
    )  # fmt: skip
    if len(live) == 0:
        return out
    d, g = di[live], gi[live]
    # Every ground-truth mask gets its own block of one pixel axis; before(x) counts foreground ahead of x.
    big = int((gp.size[:, 0] * gp.size[:, 1]).max()) + 1
    g_start = np.repeat(np.arange(len(gp.area)), np.diff(gp.first)) * big + gp.starts
    g_len = gp.ends - gp.starts
    g_cum = np.cumsum(g_len) - g_len
    nd = dp.first[d + 1] - dp.first[d]
    pair = np.repeat(np.arange(len(d)), nd)
    run = np.repeat(dp.first[d], nd) + np.arange(int(nd.sum())) - np.repeat(np.cumsum(nd) - nd, nd)
    offset = g[pair] * big

    def before(x: IntArray) -> IntArray:
        j = np.maximum(np.searchsorted(g_start, x, side="right") - 1, 0)
        return np.where(x >= g_start[j], g_cum[j] + np.minimum(x - g_start[j], g_len[j]), 0)

    contrib = before(offset + dp.ends[run]) - before(offset + dp.starts[run])
    csum = np.concatenate(([0], np.cumsum(contrib)))
    bounds = np.concatenate(([0], np.cumsum(nd)))
    inter = csum[bounds[1:]] - csum[bounds[:-1]]
    union = dp.area[d] + gp.area[g] - inter
    if crowd is not None:
        union = np.where(crowd[g], dp.area[d], union)
    out[live] = np.divide(inter.astype(np.float64), union.astype(np.float64), out=np.zeros(len(d)), where=inter > 0)
    return out


def mask_iou_matrix(
    dt: Sequence[Rle], gt: Sequence[Rle], crowd: Sequence[bool] | BoolArray | None = None
) -> FloatArray:
    """All-pairs mask IoU, shape (len(dt), len(gt)), equal to ``pycocotools.mask.iou(dt, gt, crowd)``.

    Args:
        dt: detection (or annotator) masks.
        gt: ground-truth masks, all of the detections' size.
        crowd (None): (len(gt),) flags; for a crowd region the union is the detection's area.

    Returns:
        float64 in [0, 1]; masks of different sizes raise :class:`~quality_gates.errors.InputFormatError`
        (pycocotools answers -1).
    """
    c = None if crowd is None else np.asarray(crowd, dtype=bool).reshape(-1)
    if c is not None and len(c) != len(gt):
        raise ValueError(f"crowd has {len(c)} flags for {len(gt)} ground-truth masks")
    n, m = len(dt), len(gt)
    di = np.repeat(np.arange(n), m)
    gi = np.tile(np.arange(m), n)
    return _pair_iou(_pack(dt), _pack(gt), di, gi, c).reshape(n, m)


@dataclass(frozen=True, eq=False)
class MaskSet:
    """Instance masks over many images: the rows of a :class:`~quality_gates.boxes.BoxSet` plus one RLE each.

    Attributes:
        boxes: image, category, score, area, crowd flags and annotation ids per row (``xywh``: the COCO
            ``bbox`` or the mask's box). ``boxes.areas`` decides COCO's area ranges: for ground truth the
            COCO ``area`` field; for detections pycocotools uses the mask area, or ``w * h`` of the record's
            ``bbox`` when the results record carries one.
        masks: one :class:`Rle` per row, sized like its image.
    """

    boxes: BoxSet
    masks: tuple[Rle, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", tuple(self.masks))
        if len(self.masks) != len(self.boxes):
            raise ValueError(f"MaskSet has {len(self.boxes)} rows but {len(self.masks)} masks")

    @classmethod
    def build(
        cls,
        image: Any,
        category: Any,
        masks: Sequence[Rle],
        *,
        score: Any = None,
        area: Any = None,
        iscrowd: Any = None,
        ann_id: Any = None,
        xywh: Any = None,
    ) -> MaskSet:
        """Rows from columns; ``area`` defaults to the mask area and ``xywh`` to the mask's box (as
        pycocotools' ``loadRes`` does for segmentation results)."""
        ms = tuple(masks)
        packed = _pack(ms) if xywh is None or area is None else None
        box = packed.bbox if packed is not None and xywh is None else xywh
        a = packed.area.astype(np.float64) if packed is not None and area is None else area
        out = cls(BoxSet(image, category, box, score=score, area=a, iscrowd=iscrowd, ann_id=ann_id), ms)
        if packed is not None:
            object.__setattr__(out, "_packed", packed)
        return out

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, mask: BoolArray | IntArray) -> MaskSet:
        """Rows chosen by a boolean mask or an index array, in that order."""
        idx = np.arange(len(self))[mask]
        return MaskSet(self.boxes.select(idx), tuple(self.masks[i] for i in idx))


def _packed(ms: MaskSet) -> _Packed:
    """The set's masks packed (:func:`~quality_gates.rle._pack`), computed once per set."""
    p = ms.__dict__.get("_packed")
    if p is None:
        p = _pack(ms.masks)
        object.__setattr__(ms, "_packed", p)
    return p


def mask_pair_iou(dt: MaskSet, gt: MaskSet, *, crowd: bool = True) -> PairIouFn:
    """The IoU function of a matching between two mask sets, for :mod:`quality_gates.matching`'s ``iou_fn``.

    Args:
        dt, gt: the two sets; rows are what the function's index arguments refer to.
        crowd (True): honour ``gt``'s crowd flags (the union of a crowd region is the detection's area).
    """
    dp, gp = _packed(dt), _packed(gt)
    c = gt.boxes.crowd if crowd and gt.boxes.crowd.any() else None

    def iou(di: IntArray, gi: IntArray) -> FloatArray:
        return _pair_iou(dp, gp, di, gi, c)

    return iou


def match_masks_greedy(
    gt: MaskSet,
    dt: MaskSet,
    *,
    iou_thresholds: Sequence[float] | FloatArray = (0.5,),
    classwise: bool = True,
    gt_ignore: BoolArray | None = None,
    max_dets: int | None = None,
) -> Matching:
    """:func:`~quality_gates.matching.match_greedy` with mask IoU (crowd masks are ignore regions)."""
    return match_greedy(
        gt.boxes, dt.boxes, iou_thresholds=iou_thresholds, classwise=classwise, gt_ignore=gt_ignore,
        max_dets=max_dets, iou_fn=mask_pair_iou(dt, gt),
    )  # fmt: skip


def match_masks_by_iou(
    gt: MaskSet, dt: MaskSet, *, iou_threshold: float = 0.5, classwise: bool = True
) -> tuple[IntArray, IntArray, FloatArray]:
    """:func:`~quality_gates.matching.match_by_iou` with mask IoU (crowd flags not special), for golden-set
    error and agreement between people."""
    fn = mask_pair_iou(dt, gt, crowd=False)
    return match_by_iou(gt.boxes, dt.boxes, iou_threshold=iou_threshold, classwise=classwise, iou_fn=fn)
