"""One shape of a CVAT ``<image>`` read into a :class:`~lineage.formats.work.ToolLabel` (pixels, the record's
storage contract of ``lineage.labels.geometry``), and CVAT's mask RLE converted to and from COCO's.

- ``<box xtl ytl xbr ybr>`` -> box ``x = xtl, w = xbr - xtl``; a non-zero ``rotation`` is refused (the
  record has no rotated box: set it to 0 in CVAT, or draw a polygon).
- ``<polygon points="x1,y1;x2,y2;...">`` -> a one-part polygon.
- ``<points>`` of a keypoints class: exactly the class's K points in the schema's order, each visible
  (``v = 2``), or occluded (``v = 1``) when the shape is; ``<skeleton>`` of a keypoints class: its child
  ``<points label="<keypoint name>" points="x,y" occluded outside>``, matched by name (``outside="1"`` or a
  missing name: ``v = 0`` at 0, 0; ``occluded="1"``: ``v = 1``); the object's box is the labelled points'
  extent.
- ``<mask rle left top width height>``: CVAT's RLE is the run lengths over the mask's own box
  (``width x height`` px at ``left, top``), row-major, alternating 0 and 1 and starting with a (possibly
  empty) run of 0 (CVAT's ``dataset_manager/formats/cvat.py`` writes it as ``", ".join`` of the runs);
  it becomes a COCO compressed RLE over the whole image (``quality_gates.rle``).
- ``<tag>`` -> a tag label. ``<polyline>``, ``<cuboid>`` and ``<ellipse>`` are refused: the record has no
  such geometry.

**Attributes.** ``<attribute name="n">value</attribute>`` become the label's attributes, typed by the
label's spec in the meta: ``checkbox`` -> true/false, ``number`` -> an integer or a float; others (and an
empty value, which CVAT writes for an unset text) stay text. CVAT's own shape fields sit under the reserved
key ``cvat``: ``occluded`` (bool) and ``z_order`` (int) for shapes, ``group_id`` when non-zero, ``source``
when neither ``manual`` nor ``auto`` (per label: a unit mixes manual and semi-automatic shapes), and
``elements`` (attributes of skeleton points, by point name) when any.

**Edges.** A coordinate past an image edge by no more than ``lineage.labels.geometry.EDGE_EPS`` (float noise
of the tool's arithmetic) is moved onto the edge, as the other readers do; one further out is refused,
saying by how much (CVAT rounds with ``%.2f``, which never carries a point inside the image past an
integer edge, so such a shape was drawn outside the image).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from lineage.formats._cvat_xml import Node
from lineage.formats.common import SchemaInfo
from lineage.formats.work import ToolLabel
from lineage.labels.geometry import EDGE_EPS, MAX_MASK_SIDE, check_geometry, polygon_bbox

__all__ = ["CVAT_KEY", "SHAPE_TAGS", "ShapeContext", "coco_to_cvat_rle", "read_shape"]

CVAT_KEY = "cvat"  # the reserved attribute holding CVAT's occluded, z_order, group_id (module docstring)
RESERVED = ("cvat", "made")
SHAPE_TAGS = ("box", "polygon", "points", "skeleton", "mask", "tag")
REFUSED_TAGS = {
    "polyline": "a polyline (an open line) has no geometry in the record (its schema has box, polygon, mask, "
    "keypoints and tag classes); convert it to a polygon in CVAT or delete it",
    "cuboid": "a cuboid has no geometry in the record",
    "ellipse": "an ellipse has no geometry in the record; convert it to a polygon or mask in CVAT",
}
_GEOMETRY = {"box": "box", "polygon": "polygon", "points": "keypoints", "skeleton": "keypoints"}
_GEOMETRY |= {"mask": "mask", "tag": "tag"}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True, slots=True)
class ShapeContext:
    width: int | None
    height: int | None
    schema: SchemaInfo | None
    attr_types: dict[str, dict[str, str]]


class _Bad(ValueError):
    """What is wrong with the shape (the caller names the element)."""


def _number(text: str, what: str) -> float:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise _Bad(f"expected a number for {what}, got {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value):
        raise _Bad(f"expected a finite number for {what}, got {text[:40]!r}")
    return value


def _onto(value: float, side: int | None, what: str) -> float:
    """``value`` moved onto the edge it passes by at most ``EDGE_EPS``; ``_Bad`` when further out."""
    if value < 0:
        if value < -EDGE_EPS:
            raise _Bad(f"{what} = {value:g} lies outside the image, {-value:.3g} px before its edge (expected >= 0)")
        return 0.0
    if side is not None and value > side:
        if value > side + EDGE_EPS:
            raise _Bad(f"{what} = {value:g} lies outside the image, {value - side:.3g} px past its {side} px edge")
        return float(side)
    return value


def _coord(node: Node, name: str, side: int | None) -> float:
    if name not in node.attrib:
        raise _Bad(f"expected attribute {name}")
    return _onto(_number(node.attrib[name], name), side, name)


def _points(text: str | None, ctx: ShapeContext) -> list[tuple[float, float]]:
    if not text or not text.strip():
        raise _Bad('expected points="x1,y1;x2,y2;..."')
    out: list[tuple[float, float]] = []
    for i, pair in enumerate(text.strip().split(";")):
        parts = pair.split(",")
        if len(parts) != 2:
            raise _Bad(f'point {i} is {pair.strip()[:40]!r}, expected "x,y"')
        x, y = _number(parts[0], f"point {i} x"), _number(parts[1], f"point {i} y")
        out.append((_onto(x, ctx.width, f"point {i} x"), _onto(y, ctx.height, f"point {i} y")))
    return out


def _int_attr(node: Node, name: str, default: int = 0) -> int:
    text = node.attrib.get(name, "").strip()
    if not text:
        return default
    if not _INT.fullmatch(text):
        raise _Bad(f"expected {name} as an integer, got {text[:40]!r}")
    return int(text)


def _flag(node: Node, name: str) -> bool:
    text = node.attrib.get(name, "0").strip()
    if text not in ("0", "1"):
        raise _Bad(f"expected {name} 0 or 1, got {text[:40]!r}")
    return text == "1"


def _attributes(node: Node, types: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in node.findall("attribute"):
        name = attr.attrib.get("name", "")
        if not name:
            raise _Bad(f"line {attr.line}: expected <attribute name=...>")
        if name in out:
            raise _Bad(f"line {attr.line}: attribute {name[:60]!r} given twice")
        if name in RESERVED:
            raise _Bad(f"line {attr.line}: attribute {name!r} is reserved (labelgate keeps its own record under it)")
        out[name] = _typed(attr.text, types.get(name, "text"), name, attr.line)
    return out


def _typed(text: str, kind: str, name: str, line: int) -> Any:
    value = text.strip()
    if not value:
        return text  # CVAT writes an unset value as empty text: kept as written
    if kind == "checkbox":
        if value.lower() not in ("true", "false"):
            raise _Bad(f"line {line}: checkbox attribute {name!r} is {value[:40]!r}, expected true or false")
        return value.lower() == "true"
    if kind == "number":
        if _INT.fullmatch(value):
            return int(value)
        try:
            return _number(value, f"attribute {name!r}")
        except _Bad as exc:
            raise _Bad(f"line {line}: {exc}") from None
    return text


def _keypoints(node: Node, category: str, ctx: ShapeContext) -> tuple[list[list[float | int]], dict[str, Any]]:
    names = (ctx.schema.keypoints.get(category) if ctx.schema is not None else None) or ()
    if not names:
        raise _Bad(f"class {category!r} has no keypoint names in the schema")
    if node.tag == "points":
        pts = _points(node.attrib.get("points"), ctx)
        if len(pts) != len(names):
            raise _Bad(f"{len(pts)} points, class {category!r} has K={len(names)} keypoints ({', '.join(names)})")
        v = 1 if _flag(node, "occluded") else 2
        return [[x, y, v] for x, y in pts], {}
    index = {n: i for i, n in enumerate(names)}
    out: list[list[float | int]] = [[0.0, 0.0, 0] for _ in names]
    seen: set[str] = set()
    elements: dict[str, Any] = {}
    for child in node.children:
        if child.tag == "attribute":
            continue
        name = child.attrib.get("label", "")
        if child.tag != "points":
            raise _Bad(f"line {child.line}: a skeleton holds <points> elements, got <{child.tag}>")
        if name not in index:
            raise _Bad(
                f"line {child.line}: keypoint {name[:60]!r} is not one of class {category!r}'s ({', '.join(names)})"
            )
        if name in seen:
            raise _Bad(f"line {child.line}: keypoint {name!r} given twice")
        seen.add(name)
        attrs = _attributes(child, {})
        if attrs:
            elements[name] = attrs
        if _flag(child, "outside"):
            continue
        pts = _points(child.attrib.get("points"), ctx)
        if len(pts) != 1:
            raise _Bad(f"line {child.line}: keypoint {name!r} has {len(pts)} points, expected one")
        out[index[name]] = [pts[0][0], pts[0][1], 1 if _flag(child, "occluded") else 2]
    return out, elements


def _mask(node: Node, ctx: ShapeContext) -> dict[str, Any]:
    from quality_gates.rle import Rle

    if ctx.width is None or ctx.height is None:
        raise _Bad("a mask needs the image's width and height")
    if not 0 < ctx.width <= MAX_MASK_SIDE or not 0 < ctx.height <= MAX_MASK_SIDE:
        raise _Bad(f"image size {ctx.width}x{ctx.height} out of range for a mask (1..{MAX_MASK_SIDE} px a side)")
    left, top, w, h = (_int_attr(node, k, -1) for k in ("left", "top", "width", "height"))
    if min(left, top) < 0 or min(w, h) < 1:
        raise _Bad("expected left, top >= 0 and width, height >= 1 (integers)")
    if left + w > ctx.width or top + h > ctx.height:
        raise _Bad(f"mask box {left},{top} {w}x{h} passes the image's edge ({ctx.width}x{ctx.height})")
    texts = node.attrib.get("rle", "").split(",")
    if not all(_INT.fullmatch(t.strip()) for t in texts):
        raise _Bad('expected rle="<run lengths>" (non-negative integers separated by commas)')
    runs = np.array([int(t) for t in texts], dtype=np.int64)  # each run <= w*h <= 10^10 is checked below
    if runs.min() < 0 or runs.max() > w * h or int(runs.sum()) != w * h:
        raise _Bad(f"rle runs add up to {int(runs.sum())} pixels, the mask's {w}x{h} box has {w * h}")
    values = (np.arange(len(runs)) % 2).astype(np.uint8)
    full = np.zeros((ctx.height, ctx.width), dtype=np.uint8)
    full[top : top + h, left : left + w] = np.repeat(values, runs).reshape(h, w)
    rle = Rle.from_mask(full)
    if rle.area == 0:
        raise _Bad("mask is empty")
    return {"rle": {"size": [ctx.height, ctx.width], "counts": rle.to_string()}}


def coco_to_cvat_rle(rle: dict[str, Any], box: tuple[float, float, float, float]) -> tuple[str, int, int, int, int]:
    """A stored mask as CVAT writes it: ``(rle text, left, top, width, height)`` over the mask's box."""
    from quality_gates.rle import Rle

    h_img, w_img = rle["size"]
    full = Rle.from_string(rle["counts"], h_img, w_img).to_mask()
    left, top, w, h = (round(v) for v in box)
    flat = full[top : top + h, left : left + w].ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size])))
    if flat.size and flat[0]:
        runs = np.concatenate(([0], runs))
    return ", ".join(str(int(r)) for r in runs), left, top, w, h


def _cvat_fields(node: Node, source: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if node.tag != "tag":
        fields["occluded"] = _flag(node, "occluded")
        fields["z_order"] = _int_attr(node, "z_order")
    group = _int_attr(node, "group_id")
    if group:
        fields["group_id"] = group
    if source not in ("manual", "auto"):
        fields["source"] = source
    return fields


def read_shape(node: Node, category: str, source: str, ctx: ShapeContext) -> ToolLabel:
    """The label of one shape element; raises ``ValueError`` (a message without the element's place)."""
    geometry_type = _GEOMETRY[node.tag]
    if node.attrib.get("rotation", "0").strip() not in ("", "0", "0.0", "0.00"):
        raise _Bad(
            f"rotation {node.attrib['rotation'][:20]!r}: the record has no rotated box "
            "(set the rotation to 0 in CVAT, or draw a polygon)"
        )
    attributes = _attributes(node, ctx.attr_types.get(category, {}))
    fields = _cvat_fields(node, source)
    x = y = w = h = None
    geometry: dict[str, Any] | None = None
    if geometry_type == "box":
        x0, y0 = _coord(node, "xtl", ctx.width), _coord(node, "ytl", ctx.height)
        x, y = x0, y0
        w, h = _coord(node, "xbr", ctx.width) - x0, _coord(node, "ybr", ctx.height) - y0
    elif geometry_type == "polygon":
        pts = _points(node.attrib.get("points"), ctx)
        geometry = {"polygons": [[v for p in pts for v in p]]}
        if len(pts) >= 3:
            x, y, w, h = polygon_bbox(geometry["polygons"])
    elif geometry_type == "keypoints":
        points, elements = _keypoints(node, category, ctx)
        if elements:
            fields["elements"] = elements
        geometry = {"keypoints": points}
        seen = [(p[0], p[1]) for p in points if p[2]]
        if seen:
            xs, ys = [p[0] for p in seen], [p[1] for p in seen]
            x, y, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    elif geometry_type == "mask":
        geometry = _mask(node, ctx)
        from quality_gates.rle import Rle

        counts = geometry["rle"]["counts"]
        x, y, w, h = (float(v) for v in Rle.from_string(counts, ctx.height or 0, ctx.width or 0).bbox)
    if geometry_type == "keypoints" and x is None:
        raise _Bad("no labelled keypoint: the object has no box")
    count = len(geometry["keypoints"]) if geometry_type == "keypoints" and geometry else None
    problem = check_geometry(
        geometry_type, x, y, w, h, geometry, image_size=(ctx.width, ctx.height), keypoint_count=count
    )
    if problem:
        raise _Bad(problem)
    if fields:
        attributes[CVAT_KEY] = fields
    return ToolLabel(
        category=category,
        geometry_type=geometry_type,
        x=x,
        y=y,
        w=w,
        h=h,
        geometry=geometry,
        attributes=attributes or None,
    )
