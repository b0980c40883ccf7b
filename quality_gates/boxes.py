"""Axis-aligned boxes in the COCO ``[x, y, width, height]`` convention and their IoU.

Coordinates are in pixels, ``x, y`` the top-left corner, ``width, height >= 0``. The IoU follows
pycocotools' ``maskApi.c`` exactly (the same floating-point operations in the same order), so a threshold
comparison ``iou >= t`` gives the same verdict as COCOeval. A "crowd" ground-truth box uses the detection's
own area as the union (COCO's ignore-region semantics).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray

if TYPE_CHECKING:
    from quality_gates.keypoints import KeypointSet
    from quality_gates.masks import MaskSet

__all__ = ["BoxColumns", "BoxSet", "LabelSet", "box_iou", "iou_at", "pair_iou"]


def _as_xywh(a: FloatArray | list[list[float]], name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) in xywh, got {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class BoxColumns:
    """Boxes as corner columns for fast indexed IoU: ``x, y, x2 = w + x, y2 = h + y, area = w * h``.

    The derived columns use pycocotools' own expressions, so IoUs computed from them are bit-identical.
    """

    x: FloatArray
    y: FloatArray
    x2: FloatArray
    y2: FloatArray
    area: FloatArray

    @classmethod
    def from_xywh(cls, xywh: FloatArray) -> BoxColumns:
        """Columns of an (n, 4) xywh array."""
        b = _as_xywh(xywh, "xywh")
        x, y, w, h = (np.ascontiguousarray(b[:, i]) for i in range(4))
        return cls(x, y, w + x, h + y, w * h)


def iou_at(dt: BoxColumns, gt: BoxColumns, di: IntArray, gi: IntArray, *, crowd: BoolArray | None = None) -> FloatArray:
    """IoU of ``dt[di[k]]`` with ``gt[gi[k]]`` for every k, testing widths first so that the many
    non-overlapping pairs of a large candidate set cost little.

    Args:
        dt, gt: box columns.
        di, gi: (n,) row indices into ``dt`` and ``gt``.
        crowd (None): (len(gt),) bool per ground-truth row; crowd unions are the detection's area.
    """
    out = np.zeros(len(di), dtype=np.float64)
    # pycocotools' bbIou: w = min(x2) - max(x); skip if w <= 0; same for h; union = da + ga - inter.
    w = np.minimum(dt.x2[di], gt.x2[gi]) - np.maximum(dt.x[di], gt.x[gi])
    k = np.flatnonzero(w > 0)
    d, g, w = di[k], gi[k], w[k]
    h = np.minimum(dt.y2[d], gt.y2[g]) - np.maximum(dt.y[d], gt.y[g])
    ok = h > 0
    k, d, g = k[ok], d[ok], g[ok]
    inter = w[ok] * h[ok]
    da = dt.area[d]
    union = da + gt.area[g] - inter
    if crowd is not None:
        union = np.where(crowd[g], da, union)
    out[k] = inter / union
    return out


def pair_iou(dt: FloatArray, gt: FloatArray, *, crowd: BoolArray | None = None) -> FloatArray:
    """IoU of row ``i`` of ``dt`` with row ``i`` of ``gt`` (element-wise, not all pairs).

    Args:
        dt: (n, 4) detection boxes, xywh pixels.
        gt: (n, 4) ground-truth boxes, xywh pixels.
        crowd (None): (n,) bool; where true the union is the detection's area (COCO crowd regions).

    Returns:
        (n,) float64 in [0, 1]; 0 where the boxes do not overlap with positive width and height.
        Bit-identical to pycocotools' ``maskApi.c`` (same operations in the same order).
    """
    dt = _as_xywh(dt, "dt")
    gt = _as_xywh(gt, "gt")
    if len(dt) != len(gt):
        raise ValueError(f"pair_iou needs equal lengths, got {len(dt)} and {len(gt)}")
    idx = np.arange(len(dt))
    c = None if crowd is None else np.asarray(crowd, dtype=bool)
    return iou_at(BoxColumns.from_xywh(dt), BoxColumns.from_xywh(gt), idx, idx, crowd=c)


def box_iou(dt: FloatArray, gt: FloatArray, *, crowd: BoolArray | None = None) -> FloatArray:
    """All-pairs IoU matrix, shape (len(dt), len(gt)), like ``pycocotools.mask.iou(dt, gt, iscrowd)``.

    Args:
        dt: (n, 4) boxes, xywh pixels.
        gt: (m, 4) boxes, xywh pixels.
        crowd (None): (m,) bool per ground-truth box, see :func:`pair_iou`.
    """
    dt = _as_xywh(dt, "dt")
    gt = _as_xywh(gt, "gt")
    n, m = len(dt), len(gt)
    di = np.repeat(np.arange(n), m)
    gi = np.tile(np.arange(m), n)
    c = None if crowd is None else np.asarray(crowd, dtype=bool)[gi]
    return pair_iou(dt[di], gt[gi], crowd=c).reshape(n, m)


@dataclass(frozen=True, eq=False)
class BoxSet:
    """A flat table of boxes over many images: ground truth, predictions or one annotator's labels.

    Row order is meaningful: among equal scores, earlier rows come first (as in COCO files).

    Attributes:
        image: (n,) int64 image ids (any integers; sorted order is the image order).
        category: (n,) int64 class index in ``0 .. K-1`` (an index into a class-name list, not a COCO id).
        xywh: (n, 4) float64 boxes in pixels.
        score (None): (n,) float64 confidences in [0, 1]; ``None`` for ground truth and human labels.
        area (None): (n,) float64 area in px² used for COCO's area ranges; default ``w * h``.
        iscrowd (None): (n,) bool crowd flags (ground truth only); default all false.
        ann_id (None): (n,) int64 annotation ids (the COCO ``id`` field, ground truth only); None when
            unknown. Only COCO evaluation reads them: pycocotools counts a match to id 0 as a miss.
    """

    image: IntArray
    category: IntArray
    xywh: FloatArray
    score: FloatArray | None = None
    area: FloatArray | None = None
    iscrowd: BoolArray | None = None
    ann_id: IntArray | None = None

    def __post_init__(self) -> None:
        image = np.asarray(self.image, dtype=np.int64).reshape(-1)
        category = np.asarray(self.category, dtype=np.int64).reshape(-1)
        xywh = _as_xywh(self.xywh, "xywh")
        n = len(image)
        if len(category) != n or len(xywh) != n:
            raise ValueError(f"BoxSet columns disagree in length: {n}, {len(category)}, {len(xywh)}")
        object.__setattr__(self, "image", image)
        object.__setattr__(self, "category", category)
        object.__setattr__(self, "xywh", xywh)
        for name, dtype in (("score", np.float64), ("area", np.float64), ("iscrowd", np.bool_), ("ann_id", np.int64)):
            value = getattr(self, name)
            if value is not None:
                arr = np.asarray(value, dtype=dtype).reshape(-1)
                if len(arr) != n:
                    raise ValueError(f"BoxSet.{name} has length {len(arr)}, expected {n}")
                object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.image)

    @classmethod
    def empty(cls, *, scored: bool = False) -> BoxSet:
        """A set with no boxes (``score`` is an empty array when ``scored``)."""
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, np.zeros((0, 4)), score=np.zeros(0) if scored else None)

    @property
    def areas(self) -> FloatArray:
        """Area per box in px²: the ``area`` column when given, else ``w * h``."""
        if self.area is not None:
            return self.area
        return self.xywh[:, 2] * self.xywh[:, 3]

    @property
    def crowd(self) -> BoolArray:
        """Crowd flag per box (all false when not given)."""
        if self.iscrowd is not None:
            return self.iscrowd
        return np.zeros(len(self), dtype=bool)

    def select(self, mask: BoolArray | IntArray) -> BoxSet:
        """Rows chosen by a boolean mask or an index array, in that order."""

        return BoxSet(
            self.image[mask],
            self.category[mask],
            self.xywh[mask],
            score=None if self.score is None else self.score[mask],
            area=None if self.area is None else self.area[mask],
            iscrowd=None if self.iscrowd is None else self.iscrowd[mask],
            ann_id=None if self.ann_id is None else self.ann_id[mask],
        )

    def at_threshold(self, threshold: float) -> BoxSet:
        """Rows whose score is at or above ``threshold`` (all rows when unscored)."""
        if self.score is None:
            return self
        return self.select(self.score >= threshold)

    def class_counts(self, num_classes: int) -> IntArray:
        """Boxes per class index, shape (num_classes,)."""
        return np.bincount(self.category, minlength=num_classes).astype(np.int64)[:num_classes]

    def content_hash(self) -> str:
        """SHA-256 hex of the table's contents (column bytes in a fixed order), for gate evidence."""
        h = hashlib.sha256(b"labelgate.boxset.v1")
        # ann_id stays out so that the hashes already on record keep verifying.
        for a in (self.image, self.category, self.xywh, self.score, self.area, self.iscrowd):
            h.update(b"\x00" if a is None else b"\x01" + np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


@dataclass(frozen=True, eq=False)
class LabelSet:
    """One source's labels together with the images it labelled.

    Attributes:
        boxes: the labels: boxes, or for segmentation a :class:`~quality_gates.masks.MaskSet`, for pose a
            :class:`~quality_gates.keypoints.KeypointSet` (the field keeps its name for every kind).
        images (None): (m,) int64 ids of the images this source labelled; an image listed here without
            boxes means "no object", an image not listed means "not labelled" (missing). None: every image
            in scope counts as labelled.
    """

    boxes: BoxSet | MaskSet | KeypointSet
    images: IntArray | None = None

    def __post_init__(self) -> None:
        if self.images is not None:
            object.__setattr__(self, "images", np.unique(np.asarray(self.images, dtype=np.int64)))
