"""COCO ``segmentation`` and ``keypoints`` records: read into stored polygon, mask and keypoints rows, and
written back (``lineage.formats.coco``'s shapes; the stored forms are ``lineage.labels.geometry``'s).

Read, for a record whose category is a ``polygon``/``mask`` class of the schema: ``segmentation`` as a list
of polygons (each flat ``[x1, y1, ...]`` in px) becomes a polygon row (coordinates as floats, exactly); an RLE
``{"size": [h, w], "counts": ...}`` (compressed string or uncompressed list) becomes a mask row holding the
compressed string (``quality_gates.rle``, pycocotools' encoding), crowd kept in ``attributes.coco.iscrowd``.
The row's box is the points' extent (polygon) or the mask's box (``toBbox``); the file's ``bbox`` is not
stored. For a ``keypoints`` class: ``keypoints`` (3K numbers ``x, y, v``) and ``num_keypoints`` (must equal
the labelled count when given), the box the record's ``bbox`` or, without one, the labelled points' extent.
``area`` is kept (``attributes.coco.area``) only when it differs from the natural one: pycocotools' area of
the mask or rasterised polygon, or ``w·h`` for keypoints.
"""

from __future__ import annotations

import json
import math
from typing import Any

from lineage.formats.common import ExportLabel, ShapeRow
from lineage.labels.geometry import check_geometry, polygon_bbox

__all__ = ["SHAPE_GEOMETRIES", "natural_area", "read_shape", "shape_fields"]

SHAPE_GEOMETRIES = frozenset({"polygon", "mask", "keypoints"})


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def natural_area(geometry_type: str, geometry: dict[str, Any], w: float, h: float, size: tuple[int, int]) -> float:
    """The area an export writes when none was stored: pycocotools' mask area, ``w·h`` for keypoints.

    ``size``: the image's ``(height, width)``, for rasterising a polygon."""
    from quality_gates.rle import Rle
    from quality_gates.segmentation import rle_from_polygons

    if geometry_type == "mask":
        rle = geometry["rle"]
        return float(Rle.from_string(rle["counts"], rle["size"][0], rle["size"][1]).area)
    if geometry_type == "polygon":
        return float(rle_from_polygons(geometry["polygons"], size[0], size[1]).area)
    return float(w * h)


def _polygon(seg: list[Any]) -> tuple[dict[str, Any], tuple[float, float, float, float]] | str:
    for i, part in enumerate(seg):
        if not isinstance(part, list) or not all(_num(v) for v in part):
            return f"polygon part {i} must be a flat list of numbers [x1, y1, x2, y2, ...]"
        if not all(math.isfinite(v) for v in part):
            return f"polygon part {i} holds NaN or infinity"
        if len(part) % 2:
            return f"polygon part {i} has an odd number of coordinates ({len(part)})"
        if len(part) < 6:
            return f"polygon part {i} has {len(part) // 2} points, needs at least 3"
    polygons = [[float(v) for v in part] for part in seg]
    return {"polygons": polygons}, polygon_bbox(polygons)


def _mask(seg: dict[str, Any], iid: int, width: int | None, height: int | None) -> tuple[dict[str, Any], Any] | str:
    from quality_gates.errors import InputFormatError
    from quality_gates.rle import Rle

    size, counts = seg.get("size"), seg.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int and v > 0 for v in size)):
        return f"RLE size must be [height, width] (two positive integers), got {json.dumps(size)[:40]}"
    h, w = size
    if (width is not None and w != width) or (height is not None and h != height):
        return f"RLE size [{h}, {w}] differs from image {iid}'s size {width}x{height} (size is [height, width])"
    if max(h, w) > 100_000:
        return f"RLE size [{h}, {w}] too large (at most 100000 px a side)"
    try:
        if isinstance(counts, str):
            if len(counts) > 7 * (h * w + 1):
                return "RLE counts longer than any mask of this size"
            if not counts.isascii():
                return "compressed RLE counts must be a non-empty string of characters '0'..'o'"
            rle = Rle.from_string(counts, h, w, name="RLE")
        elif isinstance(counts, list) and all(type(v) is int for v in counts):
            # Checked here in Python integers: runs that overflow int64 could wrap around to add up to h*w.
            if not counts:
                return "RLE counts must be a non-empty list of run lengths"
            if min(counts) < 0:
                return "RLE counts must be non-negative"
            if max(counts) > h * w:
                return f"RLE counts hold a run of {max(counts)} pixels, longer than the {h}x{w} mask ({h * w})"
            if sum(counts) != h * w:
                return f"RLE counts add up to {sum(counts)} pixels, the {h}x{w} size has {h * w}"
            rle = Rle(h, w, counts)  # type: ignore[arg-type]
        else:
            return "RLE counts must be a compressed string or a list of integers"
    except InputFormatError as exc:
        return exc.message
    if rle.area == 0:
        return "mask is empty"
    return {"rle": {"size": [h, w], "counts": rle.to_string()}}, rle.bbox


def _keypoints(a: dict[str, Any], count: int) -> tuple[dict[str, Any], tuple[float, ...] | None] | str:
    flat = a.get("keypoints")
    if not isinstance(flat, list) or not all(_num(v) for v in flat):
        return "keypoints must be a flat list of numbers [x1, y1, v1, ...]"
    if len(flat) != 3 * count:
        return (
            f"{len(flat)} values, {len(flat) / 3:g} keypoints; the schema's class has K={count} (expected {3 * count})"
        )
    if not all(math.isfinite(v) for v in flat):
        return "keypoints hold NaN or infinity"
    points = [[float(flat[i]), float(flat[i + 1]), flat[i + 2]] for i in range(0, len(flat), 3)]
    for i, p in enumerate(points):
        if p[2] not in (0, 1, 2):
            return f"keypoint {i}: visibility {p[2]!r} (expected 0 unlabelled, 1 occluded or 2 visible)"
        p[2] = int(p[2])
    labelled = sum(1 for p in points if p[2] > 0)
    num = a.get("num_keypoints")
    if num is not None and (type(num) is not int or num != labelled):
        return f"num_keypoints {num!r} differs from the {labelled} labelled keypoints"
    bbox = a.get("bbox")
    if bbox is not None:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_num(v) for v in bbox)):
            return "expected bbox [x, y, width, height]"
        return {"keypoints": points}, tuple(float(v) for v in bbox)
    xs = [p[0] for p in points if p[2]]
    ys = [p[1] for p in points if p[2]]
    if not xs:
        return "no bbox and no labelled keypoint: the object has no box"
    return {"keypoints": points}, (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def read_shape(
    a: dict[str, Any],
    *,
    geometry: str,
    category: str,
    item: tuple[int, float, float],
    iid: int,
    keypoint_count: int | None,
    stored: Any,
    sha: str,
) -> ShapeRow | str:
    """The stored row of one COCO record of a shape class, or what is wrong (a message; the caller names
    the record and its field). ``stored(area)`` gives the attributes JSON text for the kept area."""
    item_id, w_, h_ = item
    width = None if w_ == math.inf else int(w_)
    height = None if h_ == math.inf else int(h_)
    if geometry == "keypoints":
        got: Any = _keypoints(a, keypoint_count or 0)
        gtype, field = "keypoints", "keypoints"
    else:
        seg = a.get("segmentation")
        field = "segmentation"
        if isinstance(seg, list) and seg:
            got, gtype = _polygon(seg), "polygon"
        elif isinstance(seg, dict):
            got, gtype = _mask(seg, iid, width, height), "mask"
        else:
            return "segmentation: expected polygons (a list of [x1, y1, ...]) or an RLE {size, counts}"
    if isinstance(got, str):
        return f"{field}: {got}"
    geom, box = got
    x, y, w, h = (float(v) for v in box)
    problem = check_geometry(
        gtype,
        x,
        y,
        w,
        h,
        geom,
        image_size=(width, height),
        keypoint_count=keypoint_count if gtype == "keypoints" else None,
    )
    if problem:
        return f"{field}: {problem}"
    area = a.get("area")
    if area is not None and (type(area) not in (int, float) or not 0 <= area < math.inf):
        return f"expected area as a number >= 0, got {area!r}"
    size = (height or math.ceil(y + h) + 1, width or math.ceil(x + w) + 1)
    if area is not None and area == natural_area(gtype, geom, w, h, size):
        area = None
    try:
        attrs = stored(area)
    except ValueError as exc:
        return str(exc)
    return (item_id, category, gtype, x, y, w, h, json.dumps(geom), attrs, sha)


def shape_fields(lbl: ExportLabel, size: tuple[int, int], area: float | None) -> dict[str, Any]:
    """The COCO fields of a stored shape: ``segmentation`` or ``keypoints``/``num_keypoints``, and ``area``
    (the stored one, else the natural one). ``size``: the image's ``(height, width)``."""
    geom = lbl.geometry or {}
    out: dict[str, Any] = {}
    if lbl.geometry_type == "polygon":
        out["segmentation"] = geom["polygons"]
    elif lbl.geometry_type == "mask":
        out["segmentation"] = dict(geom["rle"])
    elif lbl.geometry_type == "keypoints":
        points = geom["keypoints"]
        out["keypoints"] = [v for p in points for v in p]
        out["num_keypoints"] = sum(1 for p in points if p[2] > 0)
    out["area"] = area if area is not None else natural_area(lbl.geometry_type, geom, lbl.w, lbl.h, size)
    return out
