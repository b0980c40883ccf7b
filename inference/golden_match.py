"""Matching a model's predictions on a golden set to its labels, once, for every task (numpy + quality_gates).

Calibration reads every threshold off one :class:`quality_gates.DetectionMatch` (class-wise, greedy by
score); this module builds it for each task from the golden labels and the predictions, taken exactly as the
runner would take them (:func:`inference.outputs.scored`):

- ``detect``: box IoU at ``iou`` (:func:`quality_gates.match_detections`, as always).
- ``segment``: mask IoU at ``iou`` (:func:`quality_gates.masks.match_masks_greedy`); golden polygons are
  rasterised like pycocotools (:func:`quality_gates.segmentation.rle_from_polygons`), golden masks decoded;
  a prediction is its mask for a ``mask`` class or its outline rasterised the same way for a ``polygon``
  class: what the run would store. Crowd labels (``attributes.coco.iscrowd``) are ignore regions.
- ``pose``: OKS at ``iou`` with the class's sigmas (:func:`quality_gates.keypoints.match_keypoints_greedy`),
  per class (classes may differ in K and sigmas); the OKS scale is the golden label's
  ``attributes.coco.area`` when it has one, else its box area.
- ``classify``: per item, a candidate (top-1, or every class for a multi-label schema) is right when the
  item has a golden tag of that class; a class's golden count is the number of items tagged with it. Items
  without golden tags are left out (they are unlabelled, not "no class").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inference.outputs import KEYPOINT_VISIBLE, scored
from inference.types import BoolArray, FloatArray, IntArray, ItemResult
from lineage.errors import InvalidInput
from quality_gates import BoxSet, DetectionMatch, match_detections
from quality_gates.matching import Matching

__all__ = ["GoldenMatch", "TaskContext", "match_golden", "truth_geometries"]

#: Golden label geometries each task is measured against.
TRUTH_GEOMETRIES: dict[str, tuple[str, ...]] = {
    "detect": ("box",),
    "segment": ("polygon", "mask"),
    "pose": ("keypoints",),
    "classify": ("tag",),
}


def truth_geometries(task: str) -> tuple[str, ...]:
    """The golden label geometries a ``task`` model is calibrated against."""
    return TRUTH_GEOMETRIES[task]


@dataclass(frozen=True)
class TaskContext:
    """What the matching needs of the model and the schema: ``task``, ``class_map`` ``{model index: schema
    class}``, ``names`` (class ``k`` of the matching is ``names[k]``), ``geometry`` ``{class: geometry}``,
    ``sigmas`` ``{keypoint class: OKS sigmas}``, ``multi_label`` and ``dims`` ``{item: (width, height)}``."""

    task: str
    class_map: Mapping[int, str]
    names: Sequence[str]
    geometry: Mapping[str, str] = field(default_factory=dict)
    sigmas: Mapping[str, Sequence[float]] = field(default_factory=dict)
    multi_label: bool = False
    dims: Mapping[int, tuple[int | None, int | None]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class GoldenMatch:
    """The matching, the item of each prediction row, and what was counted (golden labels, predictions,
    items measured)."""

    match: DetectionMatch
    item: IntArray
    golden: int
    predictions: int
    items: tuple[int, ...]


@dataclass
class _Preds:
    item: list[int] = field(default_factory=list)
    cls: list[int] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    result: list[ItemResult] = field(default_factory=list)
    row: list[int] = field(default_factory=list)

    def arrays(self) -> tuple[IntArray, IntArray, FloatArray]:
        return (
            np.asarray(self.item, dtype=np.int64),
            np.asarray(self.cls, dtype=np.int64),
            np.asarray(self.score, dtype=np.float64),
        )


def _predictions(results: Sequence[ItemResult], ctx: TaskContext, keep: set[int] | None = None) -> _Preds:
    index = {n: k for k, n in enumerate(ctx.names)}
    out = _Preds()
    for r in results:
        if keep is not None and r.item_id not in keep:
            continue
        found = scored(r.detections, task=ctx.task, class_map=ctx.class_map, multi_label=ctx.multi_label)
        for s, name, row in zip(found.scores.tolist(), found.names, found.rows.tolist(), strict=True):
            out.item.append(r.item_id)
            out.cls.append(index[name])
            out.score.append(float(s))
            out.result.append(r)
            out.row.append(int(row))
    return out


def _from_matching(
    gt: BoxSet, m: Matching, category: IntArray, score: FloatArray, num_classes: int, iou: float
) -> DetectionMatch:
    """A :class:`DetectionMatch` from one greedy matching, as :func:`match_detections` builds it."""
    row = m.dt_match[0]
    crowd = gt.crowd
    hit = row >= 0
    ignored = np.zeros(len(category), dtype=bool)
    ignored[hit] = crowd[row[hit]]
    gt_by = np.where(crowd, -1, m.gt_match[0])
    n_gt = np.bincount(gt.category[~crowd], minlength=num_classes)[:num_classes].astype(np.int64)
    return DetectionMatch(float(iou), num_classes, category, score, hit & ~ignored, ignored, gt_by, n_gt)


def _coco(a: Any, key: str, default: Any) -> Any:
    coco = (a.attributes or {}).get("coco") if isinstance(a.attributes, dict) else None
    return coco.get(key, default) if isinstance(coco, dict) else default


def _size(ctx: TaskContext, item_id: int, what: str) -> tuple[int, int]:
    w, h = ctx.dims.get(item_id, (None, None))
    if w is None or h is None:
        raise InvalidInput(f"golden item {item_id} has no recorded image size; {what} needs it", field="golden")
    return int(h), int(w)


def _match_boxes(truth: Sequence[Any], results: Sequence[ItemResult], ctx: TaskContext, iou: float) -> GoldenMatch:
    index = {n: k for k, n in enumerate(ctx.names)}
    gt = BoxSet(
        np.array([a.item_id for a in truth], dtype=np.int64),
        np.array([index[a.category] for a in truth], dtype=np.int64),
        np.array([[a.x, a.y, a.w, a.h] for a in truth], dtype=np.float64).reshape(-1, 4),
    )
    p = _predictions(results, ctx)
    item, cls, score = p.arrays()
    boxes = [r.detections.xywh[row] for r, row in zip(p.result, p.row, strict=True)]
    dt = BoxSet(item, cls, np.array(boxes, dtype=np.float64).reshape(-1, 4), score=score)
    match = match_detections(gt, dt, num_classes=len(ctx.names), iou=iou)
    return GoldenMatch(match, item, len(truth), len(item), tuple(r.item_id for r in results))


def _match_masks(truth: Sequence[Any], results: Sequence[ItemResult], ctx: TaskContext, iou: float) -> GoldenMatch:
    from quality_gates.masks import MaskSet, match_masks_greedy
    from quality_gates.rle import Rle
    from quality_gates.segmentation import rle_from_polygons

    index = {n: k for k, n in enumerate(ctx.names)}
    gt_masks = []
    for a in truth:
        if a.geometry_type == "mask":
            size = a.geometry["rle"]["size"]
            gt_masks.append(Rle.from_string(a.geometry["rle"]["counts"], int(size[0]), int(size[1])))
        else:
            h, w = _size(ctx, a.item_id, "rasterising its polygons")
            gt_masks.append(rle_from_polygons(a.geometry["polygons"], h, w))
    gt = MaskSet.build(
        np.array([a.item_id for a in truth], dtype=np.int64),
        np.array([index[a.category] for a in truth], dtype=np.int64),
        gt_masks,
        iscrowd=np.array([int(_coco(a, "iscrowd", 0)) for a in truth], dtype=np.int64),
    )
    p = _predictions(results, ctx)
    keep, dt_masks = [], []
    for n, (r, row, k) in enumerate(zip(p.result, p.row, p.cls, strict=True)):
        det = r.detections
        if ctx.geometry.get(ctx.names[k]) == "mask" and det.rles is not None:
            dt_masks.append(det.rles[row])
        elif det.polygons is not None and len(det.polygons[row]) >= 3:
            h, w = _size(ctx, r.item_id, "rasterising predicted outlines")
            dt_masks.append(rle_from_polygons([det.polygons[row].reshape(-1).tolist()], h, w))
        else:
            continue  # an outline the run could not store either
        keep.append(n)
    all_item, all_cls, all_score = p.arrays()
    item, cls, score = all_item[keep], all_cls[keep], all_score[keep]
    dt = MaskSet.build(item, cls, dt_masks, score=score)
    m = match_masks_greedy(gt, dt, iou_thresholds=(iou,))
    match = _from_matching(gt.boxes, m, cls, score, len(ctx.names), iou)
    return GoldenMatch(match, item, len(truth), len(item), tuple(r.item_id for r in results))


def _match_keypoints(truth: Sequence[Any], results: Sequence[ItemResult], ctx: TaskContext, iou: float) -> GoldenMatch:
    from quality_gates.keypoints import KeypointSet, match_keypoints_greedy

    index = {n: k for k, n in enumerate(ctx.names)}
    p = _predictions(results, ctx)
    item, cls, score = p.arrays()
    truth_cls = np.array([index[a.category] for a in truth], dtype=np.int64)
    matched = np.zeros(len(item), dtype=bool)
    gt_by = np.full(len(truth), -1, dtype=np.int64)
    for k, name in enumerate(ctx.names):
        g_rows, d_rows = np.flatnonzero(truth_cls == k), np.flatnonzero(cls == k)
        if len(g_rows) == 0 or len(d_rows) == 0:
            continue
        sigmas = ctx.sigmas.get(name)
        if not sigmas:
            raise InvalidInput(f"class {name!r} has no keypoint sigmas in the schema", field="golden")
        g = [truth[int(i)] for i in g_rows]
        gt = KeypointSet.build(
            np.array([a.item_id for a in g], dtype=np.int64),
            np.zeros(len(g), dtype=np.int64),
            np.array([a.geometry["keypoints"] for a in g], dtype=np.float64),
            xywh=np.array([[a.x, a.y, a.w, a.h] for a in g], dtype=np.float64),
            area=np.array([float(_coco(a, "area", a.w * a.h)) for a in g], dtype=np.float64),
            iscrowd=np.array([int(_coco(a, "iscrowd", 0)) for a in g], dtype=np.int64),
        )
        points = []
        for n in d_rows:
            kp = p.result[n].detections.keypoints
            assert kp is not None
            one = kp[p.row[n]].copy()
            one[:, 2] = np.where(one[:, 2] >= KEYPOINT_VISIBLE, 2.0, 1.0)
            points.append(one)
        boxes = [p.result[n].detections.xywh[p.row[n]] for n in d_rows]
        dt = KeypointSet.build(
            item[d_rows],
            np.zeros(len(d_rows), dtype=np.int64),
            np.array(points, dtype=np.float64),
            score=score[d_rows],
            xywh=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        )
        m = match_keypoints_greedy(gt, dt, sigmas=sigmas, oks_thresholds=(iou,))
        row = m.dt_match[0]
        hit = row >= 0
        matched[d_rows[hit]] = ~gt.boxes.crowd[row[hit]]
        by = m.gt_match[0]
        gt_by[g_rows[by >= 0]] = d_rows[by[by >= 0]]
    crowd = np.array([int(_coco(a, "iscrowd", 0)) for a in truth], dtype=bool)
    ignored = np.zeros(len(item), dtype=bool)
    for gi in np.flatnonzero(crowd & (gt_by >= 0)):
        ignored[gt_by[gi]] = True
        gt_by[gi] = -1
    n_gt = np.bincount(truth_cls[~crowd], minlength=len(ctx.names))[: len(ctx.names)].astype(np.int64)
    match = DetectionMatch(float(iou), len(ctx.names), cls, score, matched & ~ignored, ignored, gt_by, n_gt)
    return GoldenMatch(match, item, len(truth), len(item), tuple(r.item_id for r in results))


def _match_tags(truth: Sequence[Any], results: Sequence[ItemResult], ctx: TaskContext) -> GoldenMatch:
    index = {n: k for k, n in enumerate(ctx.names)}
    pairs = sorted({(int(a.item_id), index[a.category]) for a in truth})
    tagged = {i for i, _ in pairs}
    p = _predictions(results, ctx, keep=tagged)
    item, cls, score = p.arrays()
    where = {pair: g for g, pair in enumerate(pairs)}
    g_of = np.array([where.get((int(i), int(k)), -1) for i, k in zip(item, cls, strict=True)], dtype=np.int64)
    matched: BoolArray = g_of >= 0
    gt_by = np.full(len(pairs), -1, dtype=np.int64)
    gt_by[g_of[matched]] = np.flatnonzero(matched)
    n_gt = np.bincount(np.array([k for _, k in pairs], dtype=np.int64), minlength=len(ctx.names))
    match = DetectionMatch(
        0.0, len(ctx.names), cls, score, matched, np.zeros(len(item), dtype=bool), gt_by, n_gt[: len(ctx.names)]
    )
    items = tuple(r.item_id for r in results if r.item_id in tagged)
    return GoldenMatch(match, item, len(pairs), len(item), items)


def match_golden(truth: Sequence[Any], results: Sequence[ItemResult], ctx: TaskContext, *, iou: float) -> GoldenMatch:
    """Match the golden labels ``truth`` (annotation rows of :func:`truth_geometries`, classes in
    ``ctx.names``) with the predictions in ``results`` (module docstring); ``iou`` is the box IoU, mask IoU
    or OKS a match needs (unused for classify)."""
    if ctx.task == "segment":
        return _match_masks(truth, results, ctx, iou)
    if ctx.task == "pose":
        return _match_keypoints(truth, results, ctx, iou)
    if ctx.task == "classify":
        return _match_tags(truth, results, ctx)
    return _match_boxes(truth, results, ctx, iou)
