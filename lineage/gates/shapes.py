"""Label rows as the pure layer's sets, one kind per task: boxes (detect), masks (segment), keypoint objects
(pose) and class sets (classify).

Every function takes live ``Annotation`` rows, the image id of each item (images are matched across versions
by content, see :mod:`lineage.gates.inputs`) and the class index, and keeps only rows of known items and
classes. Geometry is read as ``lineage.labels.geometry`` stores it: a polygon's parts
(``{"polygons": [[x1, y1, ...], ...]}``) are rasterised and a mask's COCO RLE (``{"rle": {"size", "counts"}}``)
decoded at the item's size, as pycocotools' ``annToRLE`` does; a keypoint object is its ``K`` points
``[x, y, v]`` and its box; a tag row is one class of its item. The COCO extras an import kept
(``attributes.coco.area``/``iscrowd``) are the ground truth's area and crowd flag, as for boxes; a stored
geometry the pure layer refuses raises :class:`~lineage.errors.InvalidInput` naming the label.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lineage.errors import InvalidInput
from lineage.models import Annotation, Item
from lineage.schema_classes import LabelClass
from quality_gates import BoxSet
from quality_gates.classification import ClassLabels
from quality_gates.errors import InputFormatError
from quality_gates.keypoints import KeypointSet
from quality_gates.masks import MaskSet
from quality_gates.segmentation import rles_from_segmentations

__all__ = ["box_set", "class_labels", "coco_extras", "keypoint_set", "mask_set", "pose_sigmas"]


def coco_extras(a: Annotation) -> tuple[float | None, bool]:
    """A label's COCO ``area`` and ``iscrowd`` as its source gave them (``lineage.formats.coco`` keeps them
    under the ``coco`` attribute; older imports kept a top-level ``iscrowd``): None when no area was given."""
    attrs = a.attributes if isinstance(a.attributes, dict) else {}
    found = attrs.get("coco")
    coco: dict[str, Any] = found if isinstance(found, dict) else {}
    area = coco.get("area")
    crowd = bool(coco.get("iscrowd") == 1 or attrs.get("iscrowd") == 1)
    if isinstance(area, int | float) and not isinstance(area, bool) and area >= 0:
        return float(area), crowd
    return None, crowd


def _known(rows: Sequence[Annotation], image_of: Mapping[int, int], index: Mapping[str, int]) -> list[Annotation]:
    return [a for a in rows if a.item_id in image_of and a.category in index]


def box_set(
    rows: Sequence[Annotation], image_of: Mapping[int, int], index: Mapping[str, int], *, scored: bool
) -> BoxSet:
    """Boxes of the rows that have one; ground truth (``scored`` False) carries COCO area and crowd flags."""
    rows = [a for a in _known(rows, image_of, index) if a.w is not None]
    if not rows:
        return BoxSet.empty(scored=scored)
    xywh = np.array([[a.x, a.y, a.w, a.h] for a in rows], dtype=np.float64)
    image = np.array([image_of[a.item_id] for a in rows], dtype=np.int64)
    category = np.array([index[a.category] for a in rows], dtype=np.int64)
    if scored:
        return BoxSet(image, category, xywh, score=np.array([a.confidence for a in rows], dtype=np.float64))
    extras = [coco_extras(a) for a in rows]
    given = np.array([np.nan if e[0] is None else e[0] for e in extras], dtype=np.float64)
    area = np.where(np.isnan(given), xywh[:, 2] * xywh[:, 3], given)
    return BoxSet(image, category, xywh, area=area, iscrowd=np.array([e[1] for e in extras], dtype=np.bool_))


def _image_size(a: Annotation, items: Mapping[int, Item]) -> tuple[int, int]:
    item = items.get(a.item_id)
    if item is None or not item.height or not item.width:
        raise InvalidInput(
            f"label {a.id} is on item {a.item_id}, whose image size is unknown; mask gates need it",
            field=f"annotations[{a.id}]",
        )
    return int(item.height), int(item.width)


def _segmentation(a: Annotation) -> Any:
    g = a.geometry if isinstance(a.geometry, dict) else {}
    return g.get("polygons") if a.geometry_type == "polygon" else g.get("rle")


def mask_set(
    rows: Sequence[Annotation],
    image_of: Mapping[int, int],
    index: Mapping[str, int],
    items: Mapping[int, Item],
    *,
    scored: bool,
) -> MaskSet:
    """Masks of the polygon and mask rows; ground truth's area is its COCO area when the import kept one,
    else the mask's area (as detections' always is, like pycocotools' ``loadRes``)."""
    rows = [a for a in _known(rows, image_of, index) if a.geometry_type in ("polygon", "mask")]
    sizes = [_image_size(a, items) for a in rows]
    try:
        rles = rles_from_segmentations(
            [_segmentation(a) for a in rows],
            [h for h, _ in sizes],
            [w for _, w in sizes],
            names=[f"label {a.id} ({a.geometry_type})" for a in rows],
        )
    except InputFormatError as exc:
        raise InvalidInput(str(exc), field="geometry") from None
    image = np.array([image_of[a.item_id] for a in rows], dtype=np.int64)
    category = np.array([index[a.category] for a in rows], dtype=np.int64)
    if scored:
        score = np.array([a.confidence for a in rows], dtype=np.float64)
        return MaskSet.build(image, category, rles, score=score)
    extras = [coco_extras(a) for a in rows]
    area = np.array([e[0] if e[0] is not None else float(r.area) for e, r in zip(extras, rles, strict=True)])
    crowd = np.array([e[1] for e in extras], dtype=np.bool_)
    return MaskSet.build(image, category, rles, area=area, iscrowd=crowd)


def pose_sigmas(classes: Sequence[LabelClass]) -> tuple[float, ...]:
    """The one OKS sigma vector of a pose schema: every keypoints class must have the same points' sigmas
    (COCO evaluates with one vector)."""
    specs = {c.keypoints.sigmas for c in classes if c.keypoints is not None}
    if len(specs) != 1:
        raise InvalidInput(
            "keypoint gates need every keypoints class of the schema to share one list of OKS sigmas "
            f"({len(specs)} different lists here)",
            field="schema",
        )
    return specs.pop()


def keypoint_set(
    rows: Sequence[Annotation], image_of: Mapping[int, int], index: Mapping[str, int], k: int, *, scored: bool
) -> KeypointSet:
    """Keypoint objects of the keypoints rows (each with its box); ground truth's area is its COCO area when
    kept, else the box's ``w * h``."""
    rows = [a for a in _known(rows, image_of, index) if a.geometry_type == "keypoints"]
    points = np.zeros((len(rows), k, 3))
    for n, a in enumerate(rows):
        found = a.geometry.get("keypoints") if isinstance(a.geometry, dict) else None
        arr = np.asarray(found if isinstance(found, list) else [], dtype=np.float64)
        if arr.shape != (k, 3) or not np.isfinite(arr).all():
            raise InvalidInput(f"label {a.id}: expected {k} finite [x, y, v] keypoints", field="geometry")
        points[n] = arr
    image = np.array([image_of[a.item_id] for a in rows], dtype=np.int64)
    category = np.array([index[a.category] for a in rows], dtype=np.int64)
    xywh = np.array([[a.x, a.y, a.w, a.h] for a in rows], dtype=np.float64).reshape(-1, 4)
    if scored:
        score = np.array([a.confidence for a in rows], dtype=np.float64)
        return KeypointSet.build(image, category, points, score=score, xywh=xywh, area=xywh[:, 2] * xywh[:, 3])
    extras = [coco_extras(a) for a in rows]
    area = np.array([e[0] if e[0] is not None else w * h for e, (_, _, w, h) in zip(extras, xywh, strict=True)])
    crowd = np.array([e[1] for e in extras], dtype=np.bool_)
    return KeypointSet.build(image, category, points, xywh=xywh, area=area.reshape(-1), iscrowd=crowd)


def class_labels(
    rows: Sequence[Annotation],
    image_of: Mapping[int, Any],
    index: Mapping[str, int],
    *,
    multi_label: bool,
    scored: bool,
) -> ClassLabels:
    """One row per image (``image_of`` maps an item to its image's id: an int, or the name the gates report
    it by) with its tag classes. Predictions (``scored``) carry each predicted class's
    confidence as its score (0 for classes not predicted). A single-label source that gave one image two
    classes is refused, naming the image's labels."""
    k = len(index)
    classes: dict[Any, dict[int, float]] = defaultdict(dict)
    label_ids: dict[Any, list[int]] = defaultdict(list)
    for a in _known(rows, image_of, index):
        if a.geometry_type != "tag":
            continue
        img = image_of[a.item_id]
        c = index[a.category]
        classes[img][c] = max(classes[img].get(c, 0.0), float(a.confidence or 0.0))
        label_ids[img].append(a.id or 0)
    items = tuple(sorted(classes))
    indicator = np.zeros((len(items), k), dtype=bool)
    scores = np.zeros((len(items), k)) if scored else None
    for r, img in enumerate(items):
        found = classes[img]
        if not multi_label and len(found) != 1:
            raise InvalidInput(
                f"labels {label_ids[img]} give one item {len(found)} classes in a single-label schema",
                field="annotations",
            )
        cols = np.fromiter(found, dtype=np.int64, count=len(found))
        indicator[r, cols] = True
        if scores is not None:
            scores[r, cols] = list(found.values())
    return ClassLabels(items, indicator, k, multi_label, scores)
