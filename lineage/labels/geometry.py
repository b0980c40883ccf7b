"""The one validator of a stored label's geometry, per geometry type (pure: no database).

How each type is stored (the Issue 13 contract):

- ``box``: ``x, y, w, h`` in px (COCO xywh), ``geometry`` None.
- ``polygon``: ``x, y, w, h`` the bounding box of all points; ``geometry = {"polygons": [[x1, y1, x2, y2,
  ...], ...]}`` in px, each part at least 3 points (an even count of finite numbers).
- ``mask``: ``x, y, w, h`` the mask's bounding box (``quality_gates.rle.Rle.bbox``); ``geometry = {"rle":
  {"size": [height, width], "counts": "<COCO compressed RLE>"}}``, the size the image's when known.
- ``keypoints``: ``x, y, w, h`` the object's box; ``geometry = {"keypoints": [[x, y, v], ...]}`` with exactly
  K entries, ``v`` in {0, 1, 2} and ``x = y = 0`` where ``v = 0``.
- ``tag``: ``x = y = w = h = None``, ``geometry`` None.

Coordinates may pass an image edge by at most ``EDGE_EPS`` px (the box check's tolerance). A stored bounding
box must equal the one its geometry implies within ``BBOX_TOLERANCE`` px.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BBOX_TOLERANCE",
    "EDGE_EPS",
    "MAX_MASK_SIDE",
    "check_box",
    "check_geometry",
    "implied_box",
    "polygon_bbox",
]

BBOX_TOLERANCE = 1e-6
EDGE_EPS = 1e-6  # px a coordinate may pass an image edge by
MAX_MASK_SIDE = 100_000  # px per side; a larger RLE size is refused before anything is allocated


def check_box(x: float, y: float, w: float, h: float, width: int | None, height: int | None) -> str | None:
    """What is wrong with a box (``None`` when nothing): sizes positive, inside the image when it is known.
    ``lineage.labels.annotations`` re-exports it."""
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return "expected finite numbers"
    if w <= 0 or h <= 0:
        return f"expected a positive width and height, got w={w:g} h={h:g}"
    if x < -EDGE_EPS or y < -EDGE_EPS:
        return f"box starts outside the image (x={x:g}, y={y:g}; expected >= 0)"
    if width is not None and x + w > width + EDGE_EPS:
        return f"box ends outside the image (x+w={x + w:g} > width {width})"
    if height is not None and y + h > height + EDGE_EPS:
        return f"box ends outside the image (y+h={y + h:g} > height {height})"
    return None


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def polygon_bbox(polygons: list[list[float]]) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of all points of all parts (the parts must be valid)."""
    xs = [v for part in polygons for v in part[0::2]]
    ys = [v for part in polygons for v in part[1::2]]
    x0, y0 = float(min(xs)), float(min(ys))
    return x0, y0, float(max(xs)) - x0, float(max(ys)) - y0


def _bbox_problem(stored: tuple[Any, ...], implied: tuple[float, float, float, float], what: str) -> str | None:
    if not all(_number(v) for v in stored):
        return f"a {what} needs x, y, w, h (its bounding box) as finite numbers"
    if any(abs(float(a) - b) > BBOX_TOLERANCE for a, b in zip(stored, implied, strict=True)):
        got = ", ".join(f"{float(v):g}" for v in stored)
        want = ", ".join(f"{v:g}" for v in implied)
        return f"x, y, w, h ({got}) differ from the {what}'s bounding box ({want})"
    return None


def _inside(xs: list[float], ys: list[float], width: int | None, height: int | None, what: str) -> str | None:
    lo = min(min(xs), min(ys))
    if lo < -EDGE_EPS:
        return f"{what} outside the image (a coordinate of {lo:g}; expected >= 0)"
    if width is not None and max(xs) > width + EDGE_EPS:
        return f"{what} outside the image (x={max(xs):g} > width {width})"
    if height is not None and max(ys) > height + EDGE_EPS:
        return f"{what} outside the image (y={max(ys):g} > height {height})"
    return None


def _polygons(geometry: Any, box: tuple[Any, ...], width: int | None, height: int | None) -> str | None:
    if not isinstance(geometry, Mapping) or set(geometry) != {"polygons"}:
        return 'a polygon label needs geometry {"polygons": [[x1, y1, x2, y2, ...], ...]}'
    parts = geometry["polygons"]
    if not isinstance(parts, list) or not parts:
        return "a polygon needs at least one part"
    for i, part in enumerate(parts):
        if not isinstance(part, list) or not all(_number(v) for v in part):
            return f"polygon part {i} must be a flat list of finite numbers [x1, y1, x2, y2, ...]"
        if len(part) % 2:
            return f"polygon part {i} has an odd number of coordinates ({len(part)})"
        if len(part) < 6:
            return f"polygon part {i} has {len(part) // 2} points, needs at least 3"
    xs = [float(v) for part in parts for v in part[0::2]]
    ys = [float(v) for part in parts for v in part[1::2]]
    problem = _inside(xs, ys, width, height, "polygon point")
    if problem:
        return problem
    implied = polygon_bbox(parts)
    if implied[2] <= 0 or implied[3] <= 0:
        return "polygon has no area (its points span zero width or height)"
    return _bbox_problem(box, implied, "polygon")


def _mask(geometry: Any, box: tuple[Any, ...], width: int | None, height: int | None) -> str | None:
    from quality_gates.errors import InputFormatError
    from quality_gates.rle import Rle

    rle = geometry.get("rle") if isinstance(geometry, Mapping) and set(geometry) == {"rle"} else None
    if not isinstance(rle, Mapping) or set(rle) != {"size", "counts"}:
        return 'a mask label needs geometry {"rle": {"size": [height, width], "counts": "<compressed RLE>"}}'
    size, counts = rle["size"], rle["counts"]
    if not (
        isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        return "RLE size must be [height, width] (two integers)"
    h, w = size
    if not (0 < h <= MAX_MASK_SIDE and 0 < w <= MAX_MASK_SIDE):
        return f"RLE size {size} out of range (each side 1..{MAX_MASK_SIDE} px)"
    if (width is not None and w != width) or (height is not None and h != height):
        return f"RLE size [{h}, {w}] differs from the image's size {width}x{height} (size is [height, width])"
    if not isinstance(counts, str) or not counts or not counts.isascii():
        return "RLE counts must be a non-empty COCO compressed string (characters '0'..'o')"
    if len(counts) > 7 * (h * w + 1):
        return "RLE counts longer than any mask of this size"
    try:
        decoded = Rle.from_string(counts, h, w, name="RLE")
    except InputFormatError as exc:
        return exc.message
    if decoded.to_string() != counts:
        return "RLE counts are not in canonical COCO form (they do not re-encode to the same string)"
    if decoded.area == 0:
        return "mask is empty"
    bx = decoded.bbox
    return _bbox_problem(box, (float(bx[0]), float(bx[1]), float(bx[2]), float(bx[3])), "mask")


def _keypoints(
    geometry: Any, box: tuple[Any, ...], width: int | None, height: int | None, count: int | None
) -> str | None:
    points = geometry.get("keypoints") if isinstance(geometry, Mapping) and set(geometry) == {"keypoints"} else None
    if not isinstance(points, list):
        return 'a keypoints label needs geometry {"keypoints": [[x, y, v], ...]}'
    if count is not None and len(points) != count:
        return f"{len(points)} keypoints, the schema's class has K={count}"
    xs: list[float] = []
    ys: list[float] = []
    for i, p in enumerate(points):
        if not isinstance(p, list) or len(p) != 3 or not all(_number(v) for v in p):
            return f"keypoint {i} must be [x, y, v] with finite numbers"
        x, y, v = p
        if v not in (0, 1, 2) or not float(v).is_integer():
            return f"keypoint {i}: visibility {v!r} (expected 0 unlabelled, 1 occluded or 2 visible)"
        if v == 0:
            if x != 0 or y != 0:
                return f"keypoint {i} is unlabelled (v=0) but has x={x:g}, y={y:g} (expected 0, 0)"
            continue
        xs.append(float(x))
        ys.append(float(y))
    if xs:
        problem = _inside(xs, ys, width, height, "keypoint")
        if problem:
            return problem
    if not all(_number(v) for v in box):
        return "a keypoints label needs x, y, w, h (the object's box) as finite numbers"
    bx, by, bw, bh = (float(v) for v in box)
    return check_box(bx, by, bw, bh, width, height)


def check_geometry(
    geometry_type: str,
    x: float | None,
    y: float | None,
    w: float | None,
    h: float | None,
    geometry: Any,
    *,
    image_size: tuple[int | None, int | None],
    keypoint_count: int | None = None,
) -> str | None:
    """What is wrong with a label's stored geometry, or None.

    Args:
        geometry_type: ``box``, ``polygon``, ``mask``, ``keypoints``, ``tag`` (``point`` and others: only a
            geometry is required).
        x, y, w, h: the row's box in px.
        geometry: the row's geometry JSON value (module docstring).
        image_size: the item's ``(width, height)`` in px, None where unknown.
        keypoint_count: K of the class (``keypoints`` only; None: not checked).

    Returns:
        A one-line message a person can act on (``"polygon part 0 has 2 points, needs at least 3"``), or None.
    """
    width, height = image_size
    box = (x, y, w, h)
    if geometry_type == "box":
        if geometry is not None:
            return "a box label carries no geometry (only x, y, w, h)"
        if not all(_number(v) for v in box):
            return "a box needs x, y, w and h as finite numbers"
        return check_box(float(x), float(y), float(w), float(h), width, height)  # type: ignore[arg-type]
    if geometry_type == "tag":
        if any(v is not None for v in box) or geometry is not None:
            return "a tag label has no x, y, w, h and no geometry"
        return None
    if geometry_type == "polygon":
        return _polygons(geometry, box, width, height)
    if geometry_type == "mask":
        return _mask(geometry, box, width, height)
    if geometry_type == "keypoints":
        return _keypoints(geometry, box, width, height, keypoint_count)
    if geometry is None:
        return f"a {geometry_type} label needs its geometry"
    return None


def implied_box(
    geometry_type: str, geometry: Any, bbox: tuple[float, float, float, float] | None = None
) -> tuple[float | None, float | None, float | None, float | None]:
    """The ``x, y, w, h`` a label of this geometry is stored with: a polygon's points' extent, a mask's
    box, a keypoint object's ``bbox`` when given (else its labelled points' extent), a box's ``bbox``, none
    for a tag. None where the geometry cannot be read: :func:`check_geometry` then names what is wrong."""
    none = (None, None, None, None)
    g = geometry if isinstance(geometry, Mapping) else {}
    try:
        if geometry_type == "polygon":
            return polygon_bbox(g["polygons"])
        if geometry_type == "mask":
            from quality_gates.errors import InputFormatError
            from quality_gates.rle import Rle

            h, w = g["rle"]["size"]
            try:
                x, y, bw, bh = Rle.from_string(g["rle"]["counts"], int(h), int(w)).bbox.tolist()
            except InputFormatError:
                return none
            return float(x), float(y), float(bw), float(bh)
        if geometry_type == "keypoints" and bbox is None:
            seen = [(float(p[0]), float(p[1])) for p in g["keypoints"] if p[2] > 0]
            xs, ys = [p[0] for p in seen], [p[1] for p in seen]
            return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    except (KeyError, TypeError, ValueError, IndexError):
        return none
    if geometry_type == "tag":
        return none
    return bbox if bbox is not None else none
