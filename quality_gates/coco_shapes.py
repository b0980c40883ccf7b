"""COCO masks and keypoints, ground truth and results, validated and converted to
:class:`~quality_gates.masks.MaskSet` and :class:`~quality_gates.keypoints.KeypointSet` (no file I/O).

The task of a COCO instances dict follows its annotations (:func:`coco_task`): ``keypoints`` → pose,
``segmentation`` → segment, else detect. Ground truth keeps the COCO ``area``, ``iscrowd`` and ids of
:func:`~quality_gates.coco.parse_coco_instances`; a crowd region's RLE is a crowd mask.

Results follow pycocotools' ``loadRes``: each record has ``image_id``, ``category_id``, ``score`` and a
``segmentation`` (an RLE ``{"size": [h, w], "counts"}``, or polygons) or ``keypoints`` (3K numbers). When the
*first* record carries a ``bbox``, every record needs one and its ``w * h`` is the area COCO's area ranges
read (``loadRes``' bbox branch); otherwise the area is the mask's (segm) or the keypoints' extent (keypoints),
and so is the box. Every problem raises :class:`~quality_gates.errors.InputFormatError` naming the record.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.coco import CocoDataset, _column, _label, _lookup
from quality_gates.errors import InputFormatError
from quality_gates.keypoints import KeypointSet
from quality_gates.masks import MaskSet
from quality_gates.rle import _pack
from quality_gates.segmentation import rles_from_segmentations

__all__ = [
    "coco_task",
    "parse_coco_keypoints",
    "parse_coco_masks",
    "parse_keypoint_results",
    "parse_mask_results",
    "result_flags",
]

ShapeTask = Literal["detect", "segment", "pose"]


def coco_task(data: Any) -> ShapeTask:
    """``pose`` when an annotation carries ``keypoints``, ``segment`` when one carries a ``segmentation``,
    else ``detect`` (a dict that is not COCO-shaped is ``detect``: its parser names the problem)."""
    anns = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(anns, list):
        return "detect"
    if any(isinstance(a, dict) and "keypoints" in a for a in anns):
        return "pose"
    if any(isinstance(a, dict) and "segmentation" in a for a in anns):
        return "segment"
    return "detect"


def _sizes(ds: CocoDataset, image: IntArray) -> tuple[IntArray, IntArray]:
    pos = np.minimum(np.searchsorted(ds.image_ids, image), max(len(ds.image_ids) - 1, 0))
    wh = ds.image_size[pos] if len(ds.image_ids) else np.zeros((0, 2))
    return np.round(wh[:, 1]).astype(np.int64), np.round(wh[:, 0]).astype(np.int64)


def _require(records: list[Any], key: str, *, source: str, section: str) -> list[Any]:
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise InputFormatError(source, f"{section}[{i}]" if section else f"[{i}]", "must be an object")
        if key not in r:
            raise InputFormatError(source, f"{_label(section, i, r)}.{key}", "missing")
        out.append(r[key])
    return out


def _masks(
    segs: list[Any], records: list[Any], image: IntArray, ds: CocoDataset, *, source: str, section: str
) -> list[Any]:
    h, w = _sizes(ds, image)
    names = [f"{_label(section, i, r)}.segmentation" for i, r in enumerate(records)]
    try:
        return rles_from_segmentations(segs, h, w, names=names)
    except InputFormatError as exc:
        field = exc.source if not exc.field else f"{exc.source} {exc.field}"
        raise InputFormatError(source, field, exc.message) from None


def parse_coco_masks(data: Any, dataset: CocoDataset, *, source: str = "ground truth") -> MaskSet:
    """The ``segmentation`` of every annotation of ``data`` (already parsed as ``dataset``) as masks at its
    image's size (polygons rasterised as pycocotools' ``annToRLE``; RLE sizes must equal the image's)."""
    anns = data["annotations"]
    segs = _require(anns, "segmentation", source=source, section="annotations")
    return MaskSet(dataset.boxes, tuple(_masks(segs, anns, dataset.boxes.image, dataset, source=source,
                                               section="annotations")))  # fmt: skip


def _points(values: list[Any], records: list[Any], k: int | None, *, source: str, section: str) -> FloatArray:
    lens = {len(v) if isinstance(v, list) else -1 for v in values}
    want = 3 * k if k is not None else None
    for i, v in enumerate(values):
        n = len(v) if isinstance(v, list) else -1
        if n <= 0 or n % 3 or (want is not None and n != want):
            expect = f"{want} numbers ({k} points x, y, v)" if want else "3 numbers (x, y, v) per point"
            raise InputFormatError(source, f"{_label(section, i, records[i])}.keypoints", f"expected {expect}")
    if len(lens) > 1:
        first = len(values[0])
        i = next(i for i, v in enumerate(values) if len(v) != first)
        raise InputFormatError(
            source,
            f"{_label(section, i, records[i])}.keypoints",
            f"{len(values[i]) // 3} points, the first has {first // 3}",
        )
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    bad = np.arange(len(values)) if arr is None else np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        i = int(bad[0])
        raise InputFormatError(source, f"{_label(section, i, records[i])}.keypoints", "must be finite numbers")
    assert arr is not None
    return arr.reshape(len(values), -1, 3) if len(values) else np.zeros((0, k or 0, 3))


def parse_coco_keypoints(data: Any, dataset: CocoDataset, *, source: str = "ground truth") -> KeypointSet:
    """The ``keypoints`` (3K numbers, ``v`` in 0/1/2) and ``num_keypoints`` (default: points with ``v > 0``) of
    every annotation of ``data`` (already parsed as ``dataset``); all objects have the same K."""
    anns = data["annotations"]
    values = _require(anns, "keypoints", source=source, section="annotations")
    kp = _points(values, anns, None, source=source, section="annotations")
    vis = kp[:, :, 2]
    bad = np.flatnonzero(~np.isin(vis, (0.0, 1.0, 2.0)).all(axis=1))
    if len(bad):
        i = int(bad[0])
        raise InputFormatError(
            source, f"{_label('annotations', i, anns[i])}.keypoints", "visibility v must be 0, 1 or 2"
        )
    default = (vis > 0).sum(axis=1) if len(anns) else np.zeros(0, dtype=np.int64)
    nk = np.asarray(
        _column(anns, "num_keypoints", source=source, section="annotations", kind="int", default=-1), dtype=np.int64
    ).reshape(-1)
    nk = np.where(nk < 0, default, nk) if len(anns) else np.zeros(0, dtype=np.int64)
    return KeypointSet(dataset.boxes, kp, nk)


def _result_rows(data: Any, dataset: CocoDataset, source: str) -> tuple[list[Any], IntArray, IntArray, FloatArray]:
    if isinstance(data, dict) and "annotations" in data:
        raise InputFormatError(source, "", "is a COCO instances object; expected a COCO results list of detections")
    if not isinstance(data, list):
        raise InputFormatError(source, "", f"must be a COCO results list, got {type(data).__name__}")
    if not data:
        raise InputFormatError(source, "", "is empty; expected at least one detection")
    img = _column(data, "image_id", source=source, section="", kind="int").astype(np.int64).reshape(-1)
    cat = _column(data, "category_id", source=source, section="", kind="int").astype(np.int64).reshape(-1)
    score = _column(data, "score", source=source, section="", kind="num").astype(np.float64).reshape(-1)
    bad = ~np.isfinite(score) | (score < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(source, f"[{i}].score", f"must be a finite number >= 0, got {data[i]['score']!r}")
    _lookup(img, dataset.image_ids, data, source=source, section="", key="image_id", what="image id")
    cat_idx = _lookup(cat, dataset.category_ids, data, source=source, section="", key="category_id", what="category id")
    return data, img, cat_idx, score


def _given_boxes(data: list[Any], source: str) -> FloatArray | None:
    """The records' ``bbox`` when the first record has one (``loadRes``' bbox branch), else None."""
    first = data[0].get("bbox") if isinstance(data[0], dict) else None
    if first is None or first == []:
        return None
    boxes = []
    for i, r in enumerate(data):
        b = r.get("bbox")
        ok = isinstance(b, list) and len(b) == 4 and all(isinstance(v, int | float) and not isinstance(v, bool)
                                                         for v in b)  # fmt: skip
        if not ok or not np.isfinite(b).all() or b[2] < 0 or b[3] < 0:
            raise InputFormatError(
                source, f"[{i}].bbox",
                f"invalid box {b!r}: the first record has a bbox, so every record needs [x, y, width, height]",
            )  # fmt: skip
        boxes.append(b)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def parse_mask_results(data: Any, dataset: CocoDataset, *, source: str = "predictions") -> MaskSet:
    """A COCO segm results list (``segmentation`` per record) against ``dataset``, as a scored mask set."""
    records, img, cat, score = _result_rows(data, dataset, source)
    segs = _require(records, "segmentation", source=source, section="")
    masks = _masks(segs, records, img, dataset, source=source, section="")
    given = _given_boxes(records, source)
    packed = _pack(masks)
    xywh = packed.bbox.astype(np.float64, copy=True) if given is None else given
    area = packed.area.astype(np.float64) if given is None else given[:, 2] * given[:, 3]
    if given is None:  # a record's own bbox is kept as its box (loadRes), the area stays the mask's
        for i, r in enumerate(records):
            b = r.get("bbox")
            if isinstance(b, list) and len(b) == 4:
                xywh[i] = b
    return MaskSet(BoxSet(img, cat, xywh, score=score, area=area), tuple(masks))


def parse_keypoint_results(
    data: Any, dataset: CocoDataset, *, num_points: int, source: str = "predictions"
) -> KeypointSet:
    """A COCO keypoints results list (``keypoints``: ``3 * num_points`` numbers per record) as a scored set."""
    records, img, cat, score = _result_rows(data, dataset, source)
    values = _require(records, "keypoints", source=source, section="")
    kp = _points(values, records, num_points, source=source, section="")
    given = _given_boxes(records, source)
    if given is None:
        return KeypointSet.build(img, cat, kp, score=score)
    return KeypointSet.build(img, cat, kp, score=score, xywh=given, area=given[:, 2] * given[:, 3])


def result_flags(data: list[Any], *, source: str = "predictions") -> tuple[Any, Any]:
    """The optional boolean ``reviewed`` and ``routed`` fields of results records (review coverage): each an
    (n,) bool array, or None when no record has the field."""
    out = []
    for key in ("reviewed", "routed"):
        has = any(isinstance(r, dict) and key in r for r in data)
        col = _column(data, key, source=source, section="", kind="bool", default=False) if has else None
        out.append(None if col is None else np.asarray(col, dtype=bool).reshape(-1))
    return out[0], out[1]
