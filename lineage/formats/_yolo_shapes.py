"""YOLO segmentation and pose lines (Ultralytics), read into stored polygon and keypoints rows and written back.

Which a line is follows its class's geometry in the schema: a ``polygon`` class reads ``cls x1 y1 x2 y2 ...``
(at least 3 points, normalised by the image's width and height); a ``keypoints`` class with K points reads
``cls cx cy w h`` then K points, ``x y v`` (3K values) or ``x y`` (2K values, every point then visible, v=2,
except ``0 0`` which is unlabelled, v=0); a ``kpt_shape: [K, D]`` in data.yaml must agree with the schema's K
and fixes D. ``v`` is 0, 1 or 2; an unlabelled point is stored at ``0, 0``. Pixel values are the normalised
ones times the image side.

Writing: a polygon line per polygon part, a pose line ``cls cx cy w h x y v ...`` (data.yaml gets
``kpt_shape: [K, 3]``); every value as the shortest decimal that reads back to the exact normalised float,
so an export re-imports to within 1e-9 px of the stored coordinates (the division and multiplication by
the image side may move the last bit). Masks have no YOLO form and are refused.
"""

from __future__ import annotations

import json
import math

from lineage.errors import InvalidInput
from lineage.formats.common import NULL_JSON, ExportData, ExportLabel, ShapeRow
from lineage.labels.geometry import check_geometry, polygon_bbox

__all__ = ["kpt_shape", "read_shape_line", "shape_line"]


def _floats(parts: list[str]) -> list[float] | str:
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return "expected numbers after the class id"
    if not all(math.isfinite(v) for v in values):
        return "expected finite numbers (found NaN or infinity)"
    return values


def read_shape_line(
    parts: list[str],
    *,
    geometry: str,
    category: str,
    item: tuple[int, int, int],
    k: int | None,
    dim: int | None,
    sha: str,
) -> ShapeRow | str:
    """The stored row of a segmentation or pose line (``parts`` split on blanks), or what is wrong."""
    item_id, width, height = item
    if geometry not in ("polygon", "keypoints"):
        return f"class {category!r} is a {geometry} class: YOLO lines carry boxes, polygons or keypoints"
    values = _floats(parts[1:])
    if isinstance(values, str):
        return values
    if geometry == "polygon":
        if len(values) % 2 or len(values) < 6:
            return f"{len(parts)} values for a segmentation line: expected `class x1 y1 x2 y2 x3 y3 ...` (3+ points)"
        poly = [v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]
        geom: dict[str, object] = {"polygons": [poly]}
        box = polygon_bbox([poly])
        gtype = "polygon"
    else:
        kk = k or 0
        n = len(values) - 4
        with_v = {3 * kk: True, 2 * kk: False}
        if dim is not None:
            with_v = {dim * kk: dim == 3}
        if n not in with_v:
            want = " or ".join(f"{5 + m} ({'with' if v else 'without'} visibility)" for m, v in with_v.items())
            return f"{len(parts)} values for pose with K={kk}: expected {want}"
        cx, cy, bw, bh = values[:4]
        box = ((cx - bw / 2) * width, (cy - bh / 2) * height, bw * width, bh * height)
        step = 3 if with_v[n] else 2
        points: list[list[float | int]] = []
        for i in range(kk):
            x, y = values[4 + step * i], values[5 + step * i]
            if step == 3:
                v = values[6 + step * i]
                if v not in (0.0, 1.0, 2.0):
                    return f"keypoint {i}: visibility {parts[7 + step * i]!r} (expected 0, 1 or 2)"
            else:
                v = 0.0 if x == 0 and y == 0 else 2.0
            points.append([0.0, 0.0, 0] if v == 0 else [x * width, y * height, int(v)])
        geom = {"keypoints": points}
        gtype = "keypoints"
    problem = check_geometry(gtype, *box, geom, image_size=(width, height), keypoint_count=k)
    if problem:
        return problem
    return (item_id, category, gtype, *box, json.dumps(geom), NULL_JSON, sha)


def kpt_shape(data: ExportData) -> tuple[int, int] | None:
    """``(K, 3)`` when the classes hold keypoints (one K for all, as Ultralytics needs)."""
    schema = data.schema
    if schema is None:
        return None
    ks = {len(schema.keypoints[c]) for c in data.classes if c in schema.keypoints}
    if len(ks) > 1:
        raise InvalidInput(f"keypoint classes with different K ({sorted(ks)}): YOLO has one kpt_shape", field="format")
    return (ks.pop(), 3) if ks else None


def _num(value: float) -> str:
    from decimal import Decimal

    text = repr(float(value))
    return format(Decimal(text), "f") if "e" in text or "E" in text else text


def shape_line(lbl: ExportLabel, cid: int, width: int, height: int) -> list[str]:
    """The YOLO lines of a stored polygon or keypoints label."""
    geom = lbl.geometry or {}
    if lbl.geometry_type == "polygon":
        return [
            f"{cid} " + " ".join(_num(v / (width if i % 2 == 0 else height)) for i, v in enumerate(part))
            for part in geom["polygons"]
        ]
    if lbl.geometry_type == "keypoints":
        box = ((lbl.x + lbl.w / 2) / width, (lbl.y + lbl.h / 2) / height, lbl.w / width, lbl.h / height)
        values = [_num(v) for v in box]
        for x, y, v in geom["keypoints"]:
            values += [_num(x / width), _num(y / height), str(int(v))]
        return [f"{cid} {' '.join(values)}"]
    raise InvalidInput(
        f"{lbl.geometry_type} labels have no YOLO form (class {lbl.category!r}); export COCO instead", field="format"
    )
