"""COCO instances JSON, the writing half (``lineage.formats.coco``'s docstring says which ids, ``area``,
``iscrowd``); polygon, mask and keypoints labels write ``segmentation`` or ``keypoints`` (``_coco_shapes``)
and keypoint categories their ``keypoints`` names and 1-based ``skeleton``, as COCO."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypeVar

from lineage.formats._coco_shapes import shape_fields
from lineage.formats.common import ExportData, IdMap

__all__ = ["COCO_KEY", "export_coco", "iter_coco_json"]

COCO_KEY = "coco"
_INF = float("inf")
_K = TypeVar("_K")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def export_coco(data: ExportData, *, id_map: IdMap | None = None) -> dict[str, Any]:
    """The version as a COCO instances document (module docstring: which ids, ``area``, ``iscrowd``).

    ``id_map`` (default ``data.id_map``): the image and category ids to keep."""
    info, images, annotations, categories = _coco_parts(data, id_map)
    return {"info": info, "images": images, "annotations": list(annotations), "categories": categories}


def iter_coco_json(data: ExportData, *, id_map: IdMap | None = None, chunk: int = 1 << 20) -> Iterator[str]:
    """``json.dumps(export_coco(data))``, character for character, in pieces of about ``chunk`` characters:
    the annotations are made and written one at a time, so a million of them never sit in memory as one
    document and one string (an export streams to a file or an HTTP response)."""
    info, images, annotations, categories = _coco_parts(data, id_map)
    dumps = json.dumps
    parts = [f'{{"info": {dumps(info)}, "images": {dumps(images)}, "annotations": [']
    size = len(parts[0])
    for n, ann in enumerate(annotations):
        text = dumps(ann) if n == 0 else ", " + dumps(ann)
        parts.append(text)
        size += len(text)
        if size >= chunk:
            yield "".join(parts)
            parts, size = [], 0
    parts.append(f'], "categories": {dumps(categories)}}}')
    yield "".join(parts)


def _coco_parts(
    data: ExportData, id_map: IdMap | None
) -> tuple[dict[str, Any], list[dict[str, Any]], Iterator[dict[str, Any]], list[dict[str, Any]]]:
    """The document's info, images, annotations (made as they are read) and categories."""
    kept = id_map if id_map is not None else data.id_map or {}
    image_ids = _assign([item.uri for item in data.items], kept.get("images") or {})
    cat_ids = _assign(data.classes, kept.get("categories") or {})
    rows = [(item, lbl) for item in data.items for lbl in data.labels.get(item.id, [])]
    records = [_record(lbl.attributes) for _, lbl in rows]
    ann_ids = _assign(list(range(len(rows))), {i: rec["id"] for i, (_, rec) in enumerate(records) if "id" in rec})
    images = [
        {"id": image_ids[item.uri], "file_name": item.uri, "width": item.width, "height": item.height}
        for item in data.items
    ]

    def annotations() -> Iterator[dict[str, Any]]:
        for n, ((item, lbl), (attrs, rec)) in enumerate(zip(rows, records, strict=True)):
            ann: dict[str, Any] = {
                "id": ann_ids[n],
                "image_id": image_ids[item.uri],
                "category_id": cat_ids[lbl.category],
                "bbox": [lbl.x, lbl.y, lbl.w, lbl.h],
                "area": rec.get("area", lbl.w * lbl.h),
                "iscrowd": rec.get("iscrowd", 0),
            }
            if lbl.geometry_type != "box":
                size = (item.height or int(lbl.y + lbl.h) + 1, item.width or int(lbl.x + lbl.w) + 1)
                ann.update(shape_fields(lbl, size, rec.get("area")))
            if attrs:
                ann["attributes"] = attrs
            yield ann

    info = {"description": f"labelgate export of {data.version_ref}"}
    return info, images, annotations(), [_category(data, cat_ids[name], name) for name in data.classes]


def _category(data: ExportData, cid: int, name: str) -> dict[str, Any]:
    cat: dict[str, Any] = {"id": cid, "name": name, "supercategory": ""}
    schema = data.schema
    if schema is not None and name in schema.keypoints:
        cat["keypoints"] = list(schema.keypoints[name])
        cat["skeleton"] = [[a + 1, b + 1] for a, b in schema.skeleton.get(name, ())]
    return cat


def _record(attributes: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A label's attributes without the reserved key, and the valid values stored under it."""
    attrs = dict(attributes or {})
    stored = attrs.pop(COCO_KEY, None)
    if not isinstance(stored, dict):
        stored = {"iscrowd": attrs.pop("iscrowd", 0)}  # labels imported before the reserved key
    rec: dict[str, Any] = {}
    if _is_int(stored.get("id")):
        rec["id"] = stored["id"]
    area = stored.get("area")
    if isinstance(area, int | float) and not isinstance(area, bool) and 0 <= area < _INF:
        rec["area"] = area
    crowd = stored.get("iscrowd")
    rec["iscrowd"] = 1 if crowd is True or (_is_int(crowd) and crowd == 1) else 0
    return attrs, rec


def _assign(keys: list[_K], kept: dict[_K, Any]) -> dict[_K, int]:
    """An id per key: its kept id when that is an integer not already given to an earlier key; the others
    numbered from one above the largest kept id, in order (so 1..N when nothing is kept)."""
    valid = {k: v for k, v in kept.items() if _is_int(v)}
    fresh = max(valid.values(), default=0) + 1
    taken: set[int] = set()
    out: dict[_K, int] = {}
    for key in keys:
        v = valid.get(key)
        if v is not None and v not in taken:
            out[key] = v
            taken.add(v)
    for key in keys:
        if key not in out:
            out[key] = fresh
            fresh += 1
    return out
