"""One Label Studio annotation's (or prediction's) ``result`` list read into labels (``ToolLabel``, pixels).

Label Studio gives positions in percent of the image (``original_width``/``original_height``); a label's
pixels are ``percent * size / 100``, rounded to 1e-6 px (what is left of a round trip through percent is
float noise: 33.300000000000004 % of 1000 px is 333 px). Per result ``type``:

- ``rectanglelabels``: ``value.x/y/width/height`` -> a box; a non-zero ``rotation`` is refused (the record
  keeps axis-aligned boxes).
- ``polygonlabels``: ``value.points`` (``[[x, y], ...]`` percent, at least 3) -> ``{"polygons": [[x1, y1,
  ...]]}``, the box the points' extent.
- ``brushlabels``: ``value.rle`` (``format: "rle"``, ``_labelstudio_brush``) -> ``{"rle": {"size": [h, w],
  "counts": <COCO compressed>}}``, the box the mask's.
- ``keypointlabels``: each point is its own result, its label a keypoint *name* of a ``keypoints`` class of
  the schema. Points sharing a ``parentID`` make one instance (its box the parent rectangle's when the parent
  is one, and its ``result`` id the parent's); points without make one instance per class per unit
  (``result`` ``"keypoints:<class>"``). Missing points are ``[0, 0, 0]``, placed ones ``v = 2``; without a
  parent rectangle the box is the points' extent, widened to 1 px where it is flat.
- ``choices``: ``value.choices`` -> one ``tag`` label each.

A result naming several labels gives one label each, ``result`` ``"<id>/<label>"`` (else the result's id).
``score`` is the result's when given; a result's ``meta`` (Label Studio's region notes) is kept as the
attribute ``meta``. Other types (``textarea``, ``rating``, ``relation``, ...) carry no label: counted,
not read. Every problem is a message; the caller names the place.
"""

from __future__ import annotations

import math
from typing import Any

from lineage.formats._labelstudio_brush import BrushError, decode_brush
from lineage.formats.common import AttributesRefused, ItemRef, SchemaInfo, attributes_json
from lineage.formats.work import ToolLabel
from lineage.labels.geometry import EDGE_EPS, MAX_MASK_SIDE, check_box, polygon_bbox

__all__ = ["GEOMETRY_OF", "ResultReader"]

#: the schema geometry each result type makes
GEOMETRY_OF = {
    "rectanglelabels": "box",
    "polygonlabels": "polygon",
    "brushlabels": "mask",
    "keypointlabels": "keypoints",
    "choices": "tag",
}
_NUM = (int, float)


class Refused(ValueError):
    """A result that cannot be read; the message says why."""


def _num(v: Any, what: str) -> float:
    if type(v) not in _NUM or not math.isfinite(v):
        raise Refused(f"expected {what} as a finite number, got {v!r}"[:200])
    return float(v)


def _px(percent: float, size: int) -> float:
    """``percent`` of ``size`` px, to 1e-6 px (module docstring)."""
    return round(percent * size * 1e4) / 1e6


def _size(r: dict[str, Any], item: ItemRef) -> tuple[int, int]:
    """The image's (width, height) in px: the result's ``original_*``, which must agree with the item's."""
    ow, oh = r.get("original_width"), r.get("original_height")
    if ow is None and oh is None and item.width is not None and item.height is not None:
        return item.width, item.height
    if type(ow) is not int or type(oh) is not int or ow <= 0 or oh <= 0:
        raise Refused(f"expected original_width and original_height as positive integers, got {ow!r}, {oh!r}")
    if (item.width is not None and ow != item.width) or (item.height is not None and oh != item.height):
        raise Refused(
            f"the result is on a {ow}x{oh} image, item {item.uri!r} is {item.width}x{item.height}"
            " (was the image resized after labelling?)"
        )
    return ow, oh


def _inside(xs: list[float], ys: list[float], width: int, height: int, what: str) -> None:
    if min(xs) < -EDGE_EPS or min(ys) < -EDGE_EPS or max(xs) > width + EDGE_EPS or max(ys) > height + EDGE_EPS:
        raise Refused(f"{what} outside the {width}x{height} image")


class ResultReader:
    """Reads result lists against the schema (``None``: any class is a box class, nothing else is read)."""

    def __init__(self, schema: SchemaInfo | None) -> None:
        self.schema = schema
        self.ignored: dict[str, int] = {}
        point_classes: dict[str, list[str]] = {}
        for cls, names in (schema.keypoints if schema is not None else {}).items():
            for name in names:
                point_classes.setdefault(name, []).append(cls)
        self._point_classes = point_classes
        self._box_classes = None if schema is None else schema.of("box")

    def class_problem(self, name: Any, geometry: str, type_: str) -> str | None:
        if not isinstance(name, str) or not name:
            return f"expected label names as non-empty strings in {type_}, got {name!r}"
        if self.schema is None:
            if geometry == "box":
                return None
            return f"a {type_} result needs a schema with {geometry} classes (the version has no schema)"
        have = self.schema.geometry.get(name)
        if have is None:
            known = ", ".join(sorted(self.schema.of(geometry))) or "none"
            return f"class {name!r} is not in the schema (its {geometry} classes: {known})"
        if have != geometry:
            return f"class {name!r} is a {have} class in the schema, the export gives it as {type_}"
        return None

    def read(self, results: Any, item: ItemRef) -> list[ToolLabel]:
        """The labels of one unit's results; raises ``Refused`` naming the result at fault.

        A plain rectangle (one class of the schema's boxes, the item's size, no rotation, score or meta: nearly
        every result of a large export) is read inline; anything else goes through the checking readers."""
        if not isinstance(results, list):
            raise Refused(f"expected result as a list, got {type(results).__name__}")
        out: list[ToolLabel] = []
        append = out.append
        points: list[tuple[str, dict[str, Any], int, int]] = []
        boxes: dict[str, tuple[float, float, float, float]] = {}
        iw, ih = item.width, item.height
        box_classes = self._box_classes
        num = _NUM
        for r in results:
            if type(r) is dict and r.get("type") == "rectanglelabels" and iw is not None and ih is not None:
                v = r.get("value")
                if (
                    type(v) is dict
                    and r.get("original_width") == iw
                    and r.get("original_height") == ih
                    and not v.get("rotation")
                    and "score" not in r
                    and "meta" not in r
                ):
                    names = v.get("rectanglelabels")
                    px: Any = v.get("x")
                    py: Any = v.get("y")
                    pw: Any = v.get("width")
                    ph: Any = v.get("height")
                    if (
                        type(names) is list
                        and len(names) == 1
                        and (box_classes is None or names[0] in box_classes)
                        and type(names[0]) is str
                        and type(px) in num
                        and type(py) in num
                        and type(pw) in num
                        and type(ph) in num
                    ):
                        x, y = round(px * iw * 1e4) / 1e6, round(py * ih * 1e4) / 1e6
                        w, h = round(pw * iw * 1e4) / 1e6, round(ph * ih * 1e4) / 1e6
                        if w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= iw + EDGE_EPS and y + h <= ih + EDGE_EPS:
                            rid = r.get("id")
                            if rid is not None and type(rid) is not str:
                                rid = str(rid)
                            append(ToolLabel(names[0], "box", x, y, w, h, None, None, rid, None))
                            if rid is not None:
                                boxes[rid] = (x, y, w, h)
                            continue
            self._one(r, item, out, boxes, points)
        if points:
            out.extend(self._keypoints(points, boxes))
        return out

    def _one(
        self,
        r: Any,
        item: ItemRef,
        out: list[ToolLabel],
        boxes: dict[str, tuple[float, float, float, float]],
        points: list[tuple[str, dict[str, Any], int, int]],
    ) -> None:
        if not isinstance(r, dict):
            raise Refused("expected each result as an object")
        t = r.get("type")
        try:
            if t == "rectanglelabels":
                self._rectangle(r, item, out, boxes)
            elif t == "keypointlabels":
                w, h = _size(r, item)
                points.append((str(r.get("id")), r, w, h))
            elif t == "polygonlabels":
                self._polygon(r, item, out)
            elif t == "brushlabels":
                self._brush(r, item, out)
            elif t == "choices":
                self._choices(r, out)
            else:
                key = str(t)[:40]
                self.ignored[key] = self.ignored.get(key, 0) + 1
        except Refused as exc:
            raise Refused(f"result {r.get('id')!r} ({t}): {exc}") from None
        except (KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise Refused(f"result {r.get('id')!r} ({t}): unreadable ({type(exc).__name__}: {exc})") from None

    def _labels(self, r: dict[str, Any], key: str, geometry: str) -> list[tuple[str, str | None]]:
        """``(class, result id)`` per label name of the result, each checked against the schema."""
        names = r["value"][key]
        if not isinstance(names, list) or not names:
            raise Refused(f"expected value.{key} as a non-empty list of label names")
        for name in names:
            problem = self.class_problem(name, geometry, r["type"])
            if problem:
                raise Refused(problem)
        rid = r.get("id")
        rid = None if rid is None else str(rid)
        if len(names) == 1:
            return [(names[0], rid)]
        return [(name, None if rid is None else f"{rid}/{name}") for name in names]

    @staticmethod
    def _extras(r: dict[str, Any]) -> tuple[float | None, dict[str, Any] | None]:
        score = r.get("score")
        if score is not None:
            score = _num(score, "score")
        meta = r.get("meta")
        if meta is None:
            return score, None
        attrs = {"meta": meta}
        try:
            attributes_json(attrs)
        except AttributesRefused as exc:
            raise Refused(f"meta: {exc}") from None
        return score, attrs

    def _rectangle(
        self,
        r: dict[str, Any],
        item: ItemRef,
        out: list[ToolLabel],
        boxes: dict[str, tuple[float, float, float, float]],
    ) -> None:
        v = r["value"]
        rot = v.get("rotation")
        if rot:
            raise Refused(
                f"a rotated rectangle (rotation {rot!r}°) cannot be stored: labelgate keeps axis-aligned boxes"
            )
        width, height = _size(r, item)
        px, py, pw, ph = v["x"], v["y"], v["width"], v["height"]
        if type(px) not in _NUM or type(py) not in _NUM or type(pw) not in _NUM or type(ph) not in _NUM:
            raise Refused("expected value.x, y, width and height as numbers (percent of the image)")
        x, y = _px(px, width), _px(py, height)
        w, h = _px(pw, width), _px(ph, height)
        if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width + EDGE_EPS and y + h <= height + EDGE_EPS):
            raise Refused(check_box(x, y, w, h, width, height) or "a box outside the image")
        score, attrs = self._extras(r) if ("score" in r or "meta" in r) else (None, None)
        for name, rid in self._labels(r, "rectanglelabels", "box"):
            out.append(ToolLabel(name, "box", x, y, w, h, None, attrs, rid, score))
        if r.get("id") is not None:
            boxes[str(r["id"])] = (x, y, w, h)

    def _polygon(self, r: dict[str, Any], item: ItemRef, out: list[ToolLabel]) -> None:
        width, height = _size(r, item)
        pts = r["value"]["points"]
        if not isinstance(pts, list) or len(pts) < 3:
            raise Refused("expected value.points as a list of at least 3 [x, y] points")
        flat: list[float] = []
        for p in pts:
            if not isinstance(p, list) or len(p) != 2:
                raise Refused("expected each point as [x, y] (percent of the image)")
            flat.append(_px(_num(p[0], "a point's x"), width))
            flat.append(_px(_num(p[1], "a point's y"), height))
        _inside(flat[0::2], flat[1::2], width, height, "a polygon point")
        x, y, w, h = polygon_bbox([flat])
        if w <= 0 or h <= 0:
            raise Refused("the polygon has no area (its points span zero width or height)")
        score, attrs = self._extras(r)
        for name, rid in self._labels(r, "polygonlabels", "polygon"):
            out.append(ToolLabel(name, "polygon", x, y, w, h, {"polygons": [list(flat)]}, attrs, rid, score))

    def _brush(self, r: dict[str, Any], item: ItemRef, out: list[ToolLabel]) -> None:
        from quality_gates.rle import Rle

        v = r["value"]
        if v.get("format", "rle") != "rle":
            raise Refused(f"brush format {v.get('format')!r} is not read (expected 'rle')")
        width, height = _size(r, item)
        if width > MAX_MASK_SIDE or height > MAX_MASK_SIDE:
            raise Refused(f"a {width}x{height} mask is too large (at most {MAX_MASK_SIDE} px a side)")
        labels = self._labels(r, "brushlabels", "mask")
        try:
            mask = decode_brush(v["rle"], width=width, height=height)
        except BrushError as exc:
            raise Refused(str(exc)) from None
        rle = Rle.from_mask(mask)
        if rle.area == 0:
            raise Refused("the brush mask is empty")
        x, y, w, h = (float(b) for b in rle.bbox)
        geometry = {"rle": {"size": [height, width], "counts": rle.to_string()}}
        score, attrs = self._extras(r)
        for name, rid in labels:
            out.append(ToolLabel(name, "mask", x, y, w, h, geometry, attrs, rid, score))

    def _choices(self, r: dict[str, Any], out: list[ToolLabel]) -> None:
        score, attrs = self._extras(r)
        for name, rid in self._labels(r, "choices", "tag"):
            out.append(ToolLabel(name, "tag", None, None, None, None, None, attrs, rid, score))

    def _point_class(self, name: Any) -> str:
        if not isinstance(name, str) or not name:
            raise Refused(f"expected a keypoint name as a non-empty string, got {name!r}")
        classes = self._point_classes.get(name)
        if not classes:
            known = ", ".join(sorted(self._point_classes)) or "none: the schema has no keypoints class"
            raise Refused(f"keypoint {name!r} is not a point of any keypoints class of the schema (points: {known})")
        if len(classes) > 1:
            raise Refused(f"keypoint {name!r} is a point of several keypoints classes ({', '.join(sorted(classes))})")
        return classes[0]

    def _keypoints(
        self,
        points: list[tuple[str, dict[str, Any], int, int]],
        boxes: dict[str, tuple[float, float, float, float]],
    ) -> list[ToolLabel]:
        groups: dict[tuple[str, str | None], dict[str, tuple[float, float]]] = {}
        sizes: dict[tuple[str, str | None], tuple[int, int]] = {}
        for rid, r, width, height in points:
            try:
                v = r["value"]
                names = v["keypointlabels"]
                if not isinstance(names, list) or not names:
                    raise Refused("expected value.keypointlabels as a non-empty list of keypoint names")
                x = _px(_num(v["x"], "value.x"), width)
                y = _px(_num(v["y"], "value.y"), height)
                _inside([x], [y], width, height, "the keypoint")
                parent = r.get("parentID")
                for name in names:
                    key = (self._point_class(name), None if parent is None else str(parent))
                    group = groups.setdefault(key, {})
                    if name in group:
                        raise Refused(f"keypoint {name!r} placed twice in one instance")
                    group[name] = (x, y)
                    sizes[key] = (width, height)
            except Refused as exc:
                raise Refused(f"result {rid!r} (keypointlabels): {exc}") from None
            except (KeyError, TypeError) as exc:
                raise Refused(f"result {rid!r} (keypointlabels): unreadable ({type(exc).__name__}: {exc})") from None
        assert self.schema is not None  # a point class was found in it
        out: list[ToolLabel] = []
        for (cls, parent), placed in groups.items():
            kps = [[*placed[n], 2] if n in placed else [0.0, 0.0, 0] for n in self.schema.keypoints[cls]]
            box = boxes.get(parent) if parent is not None else None
            if box is None:
                box = _extent(list(placed.values()), *sizes[(cls, parent)])
            rid = parent if parent is not None else f"keypoints:{cls}"
            out.append(ToolLabel(cls, "keypoints", *box, {"keypoints": kps}, None, rid, None))
        return out


def _extent(points: list[tuple[float, float]], width: int, height: int) -> tuple[float, float, float, float]:
    """The points' box, each flat side widened to 1 px (kept inside the image)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]

    def side(lo: float, hi: float, limit: int) -> tuple[float, float]:
        if hi - lo >= 1:
            return lo, hi - lo
        start = min(max(0.0, (lo + hi) / 2 - 0.5), max(0.0, limit - 1.0))
        return start, min(1.0, float(limit))

    x, w = side(min(xs), max(xs), width)
    y, h = side(min(ys), max(ys), height)
    return x, y, w, h
