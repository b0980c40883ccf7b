"""From one item's model output to labels as the Issue 13 contract stores them (numpy and quality_gates only).

Two steps, so routing (:mod:`inference.routing`) sees every task the same way:

1. :func:`scored`: what competes for a label, as ``(scores, class names)`` plus the row of the model output
   each came from. Box tasks (detect, segment, pose): every predicted object whose class maps onto the
   schema. Classify: a **single-label** schema offers the top-1 class with its probability; a
   **multi-label** schema offers every mapped class with its probability (each one that clears its
   threshold becomes a tag).
2. :func:`label_shape`: an accepted prediction's stored geometry, by the schema class's geometry:

   - ``box``: ``x, y, w, h`` (as always);
   - ``polygon``: the model's outline (Ultralytics ``masks.xy``, px, clipped to the image, rounded to 0.01 px)
     as one part, ``x, y, w, h`` its bounding box;
   - ``mask``: the model's mask at the image's size as a COCO RLE (``Rle.from_mask``), ``x, y, w, h`` its
     box (``Rle.bbox``);
   - ``keypoints``: the K points ``[x, y, v]`` with the object's box; ``v = 2`` (visible) when the point's
     confidence is at least :data:`KEYPOINT_VISIBLE`, else ``v = 1`` (labelled, maybe hidden: the position is
     kept for the reviewer to judge; OKS uses every point of a prediction whatever its ``v``);
   - ``tag``: no coordinates, no geometry.

   ``None`` means the prediction cannot be stored (an outline of fewer than 3 points, an empty mask, a mask
   or box off the item's recorded size): the runner counts it as dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.types import Detections, FloatArray, IntArray
from lineage.labels import check_box

__all__ = ["KEYPOINT_VISIBLE", "LabelShape", "Scored", "label_shape", "scored"]

#: A keypoint whose confidence is at least this is stored visible (v = 2), below it v = 1.
KEYPOINT_VISIBLE = 0.5
_DECIMALS = 2


@dataclass(frozen=True, eq=False)
class Scored:
    """What competes for labels in one item: ``scores[i]`` of class ``names[i]``, from output row ``rows[i]``
    (a box index, or a class index of ``probs`` for classify)."""

    scores: FloatArray
    names: list[str]
    rows: IntArray


def scored(det: Detections, *, task: str, class_map: Mapping[int, str], multi_label: bool = False) -> Scored:
    """The item's candidates (module docstring); classes the class map lacks are left out."""
    if task == "classify":
        p = det.probs if det.probs is not None else np.zeros(0)
        known = np.array([k for k in range(len(p)) if k in class_map], dtype=np.int64)
        if len(known) and not multi_label:
            known = known[[int(np.argmax(p[known]))]]
        return Scored(p[known].astype(np.float64), [class_map[int(k)] for k in known], known)
    rows = np.array([i for i, c in enumerate(det.cls.tolist()) if int(c) in class_map], dtype=np.int64)
    return Scored(det.score[rows], [class_map[int(det.cls[i])] for i in rows], rows)


@dataclass(frozen=True, slots=True)
class LabelShape:
    """The geometry columns of one stored label (``x, y, w, h`` None for a tag)."""

    geometry_type: str
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    geometry: dict[str, Any] | None = None


def _box(det: Detections, row: int, width: int | None, height: int | None) -> LabelShape | None:
    x, y, w, h = (float(v) for v in det.xywh[row])
    if check_box(x, y, w, h, width, height) is not None:
        return None  # clipped to the decoded image; only a size disagreeing with the record lands here
    return LabelShape("box", x, y, w, h)


def _clip(xy: FloatArray, width: int | None, height: int | None) -> FloatArray:
    out = np.asarray(xy, dtype=np.float64).copy()
    out[:, 0] = out[:, 0].clip(0.0, None if width is None else float(width))
    out[:, 1] = out[:, 1].clip(0.0, None if height is None else float(height))
    return np.round(out, _DECIMALS)


def _polygon(det: Detections, row: int, width: int | None, height: int | None) -> LabelShape | None:
    if det.polygons is None:
        return None
    xy = _clip(det.polygons[row].reshape(-1, 2), width, height)
    if len(xy) < 3:
        return None
    part = [float(v) for v in xy.reshape(-1)]
    xs, ys = part[0::2], part[1::2]
    x0, y0 = min(xs), min(ys)
    w, h = max(xs) - x0, max(ys) - y0
    if w <= 0 or h <= 0:
        return None
    return LabelShape("polygon", x0, y0, w, h, {"polygons": [part]})


def _mask(det: Detections, row: int, width: int | None, height: int | None) -> LabelShape | None:
    if det.rles is None:
        return None
    rle = det.rles[row]
    if rle.area == 0 or (width is not None and rle.width != width) or (height is not None and rle.height != height):
        return None
    x, y, w, h = (float(v) for v in rle.bbox)
    return LabelShape("mask", x, y, w, h, {"rle": rle.to_coco()})


def _keypoints(
    det: Detections, row: int, width: int | None, height: int | None, count: int | None
) -> LabelShape | None:
    box = _box(det, row, width, height)
    if det.keypoints is None or box is None:
        return None
    kp = det.keypoints[row]
    if count is not None and len(kp) != count:
        return None
    xy = _clip(kp[:, :2], width, height)
    v = np.where(kp[:, 2] >= KEYPOINT_VISIBLE, 2, 1)
    points = [[float(px), float(py), int(vis)] for (px, py), vis in zip(xy.tolist(), v.tolist(), strict=True)]
    return LabelShape("keypoints", box.x, box.y, box.w, box.h, {"keypoints": points})


def label_shape(
    det: Detections,
    row: int,
    *,
    geometry_type: str,
    width: int | None,
    height: int | None,
    keypoint_count: int | None = None,
) -> LabelShape | None:
    """The stored geometry of output row ``row`` for a class of ``geometry_type`` (module docstring); None
    when it cannot be stored. ``width``, ``height``: the item's recorded size (None: unknown)."""
    if geometry_type == "tag":
        return LabelShape("tag")
    if geometry_type == "polygon":
        return _polygon(det, row, width, height)
    if geometry_type == "mask":
        return _mask(det, row, width, height)
    if geometry_type == "keypoints":
        return _keypoints(det, row, width, height, keypoint_count)
    return _box(det, row, width, height)
