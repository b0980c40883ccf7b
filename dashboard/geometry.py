"""Label geometry as the API gives it, read defensively into shapes the overlay draws (pure: numpy only).

A label is a mapping like the API's annotation (``AnnotationPublic``) or review-queue label: ``id``,
``category``, ``geometry_type`` (absent = ``box``), ``x, y, w, h`` (px, COCO xywh), ``geometry``,
``attributes`` and ``confidence``. The geometry per type (the Issue 13 storage contract):

- ``box``: ``x, y, w, h``.
- ``polygon``: ``{"polygons": [[x1, y1, x2, y2, ...], ...]}``, each part at least 3 points.
- ``mask``: ``{"rle": {"size": [height, width], "counts": "<COCO compressed RLE>"}}``; a crowd mask has
  ``attributes.coco.iscrowd = 1``.
- ``keypoints``: ``{"keypoints": [[x, y, v], ...]}``, one entry per point name of the class, ``v`` in {0, 1, 2}.
- ``point``: ``x, y``. ``tag``: no geometry (an image-level class; a model's tag has a ``confidence``).

Whatever does not read (missing keys, NaN, an RLE whose counts do not fill its size, the wrong number of
keypoints) becomes a problem text naming the label and the field, never an exception; the label's box is drawn
instead when it has a valid one. The dashboard may not import ``quality_gates`` (it talks HTTP only), so the
COCO RLE string is decoded here, the way ``pycocotools``' ``rleFrString`` and ``decode`` do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np

__all__ = ["MAX_MASK_PIXELS", "Drawable", "decode_rle", "label_name", "parse_label"]

#: The largest mask decoded, in pixels (a hostile ``size`` is refused before anything is allocated).
MAX_MASK_PIXELS = 64_000_000
GEOMETRIES = ("box", "polygon", "mask", "keypoints", "point", "tag")

Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class Drawable:
    """One label, checked: what to draw. Exactly the fields of its ``geometry_type`` are set.

    Attributes:
        category: the class name; confidence: the model's score in [0, 1] or None.
        geometry_type: what is drawn (``box`` when another geometry failed and the box stands in for it).
        box: (x, y, w, h) px; polygons: parts as (n, 2) float arrays; mask: (h, w) bool; crowd: iscrowd = 1;
        keypoints: (K, 3) float array of x, y, v; point: (x, y).
    """

    category: str
    confidence: float | None = None
    geometry_type: str = "box"
    box: Box | None = None
    polygons: tuple[np.ndarray, ...] = ()
    mask: np.ndarray | None = None
    crowd: bool = False
    keypoints: np.ndarray | None = None
    point: tuple[float, float] | None = None
    problems: tuple[str, ...] = field(default=())


def _finite(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def label_name(label: Mapping[str, Any], index: int) -> str:
    """``label #12 (person)``, or ``label 3 (person)`` (its position) when it has no id."""
    ref = f"#{label['id']}" if label.get("id") is not None else str(index + 1)
    return f"label {ref} ({label.get('category', '?')})"


def decode_rle(counts: Any, height: Any, width: Any) -> np.ndarray:
    """The (height, width) bool mask of a COCO compressed RLE string (column-major runs, zeros first).

    Raises:
        ValueError: the size is not two positive integers (or exceeds :data:`MAX_MASK_PIXELS`), the string is
            not made of the characters '0'..'o', ends inside a number, or its runs do not add up to
            ``height * width``.
    """
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        raise ValueError(f"size must be two positive integers [height, width], got [{height!r}, {width!r}]")
    if height * width > MAX_MASK_PIXELS:
        raise ValueError(f"size {height}x{width} exceeds {MAX_MASK_PIXELS} pixels")
    if not isinstance(counts, str) or not counts:
        raise ValueError("counts must be a non-empty COCO compressed RLE string")
    runs: list[int] = []
    value, shift = 0, 0
    for ch in counts:
        c = ord(ch) - 48
        if not 0 <= c <= 63:
            raise ValueError(f"counts hold {ch!r}; a compressed RLE uses the characters '0'..'o'")
        value |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:  # the sign bit of the number's last 5-bit group
            value |= -1 << shift
        runs.append(value + runs[-2] if len(runs) > 2 else value)  # runs after the second are deltas
        value, shift = 0, 0
    if shift:
        raise ValueError("counts end inside a number")
    total = sum(runs)
    if min(runs) < 0 or total != height * width:
        raise ValueError(f"the runs add up to {total} pixels; the size {height}x{width} has {height * width}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(width, height).T.copy()


def _box(label: Mapping[str, Any]) -> tuple[Box | None, str | None]:
    found = [float(v) for k in ("x", "y", "w", "h") if _finite(v := label.get(k))]
    if len(found) != 4:
        return None, "x, y, w, h must be finite numbers"
    x, y, w, h = found
    if w < 0 or h < 0:
        return None, f"the box has a negative size ({w:g} x {h:g})"
    return (x, y, w, h), None


def _polygons(geometry: Mapping[str, Any]) -> tuple[tuple[np.ndarray, ...], str | None]:
    parts = geometry.get("polygons")
    if not isinstance(parts, Sequence) or isinstance(parts, str) or not parts:
        return (), "geometry.polygons must be a non-empty list of parts"
    out = []
    for i, part in enumerate(parts):
        numbers = part if isinstance(part, Sequence) and not isinstance(part, str) else None
        if numbers is None or len(numbers) < 6 or len(numbers) % 2:
            n = len(numbers) if numbers is not None else "no"
            return (), f"geometry.polygons[{i}] has {n} numbers; a part needs an even count, at least 6"
        if not all(_finite(v) for v in numbers):
            return (), f"geometry.polygons[{i}] holds a value that is not a finite number"
        out.append(np.asarray(numbers, dtype=np.float64).reshape(-1, 2))
    return tuple(out), None


def _mask(geometry: Mapping[str, Any], size: tuple[int, int] | None) -> tuple[np.ndarray | None, str | None]:
    rle = geometry.get("rle")
    if not isinstance(rle, Mapping):
        return None, "geometry.rle must be {size: [height, width], counts: string}"
    dims = rle.get("size")
    if not isinstance(dims, Sequence) or isinstance(dims, str) or len(dims) != 2:
        return None, "geometry.rle.size must be [height, width]"
    if size is not None and tuple(dims) != tuple(size):
        return None, f"geometry.rle.size {list(dims)} differs from the image's [height, width] {list(size)}"
    try:
        return decode_rle(rle.get("counts"), dims[0], dims[1]), None
    except ValueError as exc:
        return None, f"geometry.rle: {exc}"


def _keypoints(geometry: Mapping[str, Any], expected: int | None) -> tuple[np.ndarray | None, str | None]:
    points = geometry.get("keypoints")
    if not isinstance(points, Sequence) or isinstance(points, str) or not points:
        return None, "geometry.keypoints must be a non-empty list of [x, y, v]"
    if expected is not None and len(points) != expected:
        return None, f"geometry.keypoints has {len(points)} points; the class names {expected}"
    for i, p in enumerate(points):
        if not isinstance(p, Sequence) or isinstance(p, str) or len(p) != 3 or not all(_finite(v) for v in p):
            return None, f"geometry.keypoints[{i}] must be [x, y, v] of finite numbers"
        if p[2] not in (0, 1, 2):
            return None, f"geometry.keypoints[{i}] has v={p[2]!r}; v must be 0, 1 or 2"
    return np.asarray(points, dtype=np.float64), None


def _crowd(label: Mapping[str, Any]) -> bool:
    coco = (label.get("attributes") or {}).get("coco") if isinstance(label.get("attributes"), Mapping) else None
    return isinstance(coco, Mapping) and coco.get("iscrowd") in (1, True)


def parse_label(
    label: Any, *, index: int = 0, size: tuple[int, int] | None = None, keypoint_count: int | None = None
) -> Drawable:
    """Read one label into what to draw; what cannot be drawn is named in :attr:`Drawable.problems`.

    Args:
        label: the API's label mapping (anything else is reported, not read).
        index (0): its position, to name it when it has no id.
        size (None): the image's (height, width) in px; a mask of another size is not drawn.
        keypoint_count (None): the number of point names of the label's class; None: not checked.

    Returns:
        A :class:`Drawable`: ``geometry_type`` ``none`` when nothing is drawn, ``box`` when the box stands in
        for a geometry that does not read; ``problems`` say why, prefixed with the label's name.
    """
    if not isinstance(label, Mapping):
        return Drawable(category="?", geometry_type="none", problems=(f"label {index + 1} is not an object",))
    name = label_name(label, index)
    category = str(label.get("category", "?"))
    conf = label.get("confidence")
    confidence = float(conf) if _finite(conf) else None
    kind = label.get("geometry_type") or "box"
    if kind == "tag":
        return Drawable(category, confidence, "tag")
    box, box_problem = _box(label)
    geometry = label.get("geometry")
    problem: str | None = None
    if kind not in GEOMETRIES:
        problem = f"unknown geometry_type {kind!r}"
    elif kind == "box":
        problem = box_problem
    elif kind == "point":
        if _finite(label.get("x")) and _finite(label.get("y")):
            return Drawable(category, confidence, "point", point=(float(label["x"]), float(label["y"])))
        problem = "a point needs finite x, y"
    elif not isinstance(geometry, Mapping):
        problem = f"a {kind} label has no geometry"
    elif kind == "polygon":
        polygons, problem = _polygons(geometry)
        if problem is None:
            return Drawable(category, confidence, "polygon", box=box, polygons=polygons)
    elif kind == "mask":
        mask, problem = _mask(geometry, size)
        if problem is None:
            return Drawable(category, confidence, "mask", box=box, mask=mask, crowd=_crowd(label))
    else:
        points, problem = _keypoints(geometry, keypoint_count)
        if problem is None:
            return Drawable(category, confidence, "keypoints", box=box, keypoints=points)
    if problem is None:
        return Drawable(category, confidence, "box", box=box)
    if kind != "box" and box is not None:
        return Drawable(category, confidence, "box", box=box, problems=(f"{name}: {problem}; its box is drawn",))
    return Drawable(category, confidence, "none", problems=(f"{name}: {problem}; not drawn",))
