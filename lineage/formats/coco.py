"""COCO instances JSON: read (validated against the target version) and write.

Read: ``images[].file_name`` must be an item path of the version (and its ``width``/``height`` the item's),
``categories[].name`` a class of the schema, ``annotations[].bbox`` ``[x, y, w, h]`` in pixels inside its
image. ``iscrowd: 1`` and an ``attributes`` object are kept as the label's attributes.
Write: image ids 1..N in path order, category ids 1..K in schema order, one annotation per live box.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lineage.annotations import EDGE_EPS, check_box
from lineage.formats.common import (
    NULL_JSON,
    ExportData,
    ItemIndex,
    LabelRow,
    ParsedLabels,
    Problems,
    gc_paused,
    sha256_bytes,
)

__all__ = ["export_coco", "parse_coco"]


def _loads(data: bytes) -> Any:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson ships with DVC's dependencies
        return json.loads(data)
    return orjson.loads(data)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_NUM = (int, float)
_INF = float("inf")


def _known(size: float) -> int | None:
    return None if size == _INF else int(size)


def _attributes(a: dict[str, Any]) -> str:
    attrs = a.get("attributes") if isinstance(a.get("attributes"), dict) else None
    merged = {**(attrs or {}), **({"iscrowd": 1} if a.get("iscrowd") else {})}
    return json.dumps(merged, sort_keys=True) if merged else NULL_JSON


def _diagnose(
    problems: Problems,
    source: str,
    n: int,
    a: Any,
    images: dict[int, tuple[int, float, float]],
    cats: dict[int, str],
    seen: dict[int, int],
) -> None:
    """Say what is wrong with annotation record ``n`` (the slow path of parse_coco)."""
    where = f"{source}: annotations[{n}]"
    if not isinstance(a, dict):
        problems.add(where, "expected an object")
        return
    aid = a.get("id")
    if not _is_int(aid):
        problems.add(where, "expected an integer id")
        return
    assert isinstance(aid, int)
    where = f"{where} (id {aid})"
    if aid in seen:
        problems.add(where, f"duplicate annotation id (also annotations[{seen[aid]}])")
        return
    seen[aid] = n
    image_id, category_id, bbox = a.get("image_id"), a.get("category_id"), a.get("bbox")
    if not isinstance(image_id, int | str) or image_id not in images:
        problems.add(where, f"unknown image_id {image_id!r}")
    elif not isinstance(category_id, int | str) or category_id not in cats:
        known = ", ".join(str(k) for k in sorted(cats))
        problems.add(where, f"unknown category_id {category_id!r} (the file's categories: {known})")
    elif not isinstance(bbox, list) or len(bbox) != 4:
        problems.add(where, "expected bbox [x, y, width, height]")
    else:
        problems.add(where, "unreadable record")


def parse_coco(data: bytes, *, source: str, items: ItemIndex, classes: set[str] | None) -> ParsedLabels:
    """Parse and validate a COCO document; every problem names ``source`` and the record.

    Fast path: ``msgspec`` decodes straight into typed records (no dict per annotation) and one tight loop
    checks them. Any problem at all sends the file down the slow path, which reads it as plain JSON and
    lists every problem with its place; so both paths accept exactly the same files.
    """
    sha = sha256_bytes(data)
    with gc_paused():
        fast = _parse_fast(data, sha=sha, source=source, items=items, classes=classes)
        if fast is not None:
            return fast
        return _parse_slow(data, sha=sha, source=source, items=items, classes=classes)


def _malformed(problems: Problems, source: str, data: bytes, pos: int | None, message: str) -> None:
    if pos is None:
        problems.add(source, f"malformed JSON ({message})")
        return
    line = data.count(b"\n", 0, pos) + 1
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    problems.add(f"{source}:{line}:{col}", f"malformed JSON ({message})")


def _parse_fast(
    data: bytes, *, sha: str, source: str, items: ItemIndex, classes: set[str] | None
) -> ParsedLabels | None:
    """``None`` when msgspec is missing or anything needs a closer look (the slow path explains it)."""
    try:
        import msgspec
    except ImportError:  # pragma: no cover - the slow path alone is correct, only slower
        return None
    from lineage.formats import _coco_records as rec

    try:
        doc = rec.DECODER.decode(data)
    except msgspec.ValidationError:  # a subclass of DecodeError: valid JSON, unexpected shape
        return None
    except msgspec.DecodeError as exc:
        problems = Problems()
        match = re.search(r"\(byte (\d+)\)", str(exc))
        _malformed(problems, source, data, int(match.group(1)) if match else None, str(exc).split(" (byte")[0])
        problems.raise_if_any()
        raise AssertionError("unreachable") from None
    problems = Problems()
    cats, images = _categories_and_images(doc.categories, doc.images, problems, source, items, classes)
    if problems:
        problems.raise_if_any()
    labels: list[LabelRow] = []
    append = labels.append
    seen: set[int] = set()
    add_seen = seen.add
    null = NULL_JSON
    # Runs once per box (a million times for a large file): no branch builds a message here.
    for a in doc.annotations:
        aid = a.id
        image = images.get(a.image_id)
        category = cats.get(a.category_id)
        if aid in seen or image is None or category is None:
            return None
        add_seen(aid)
        item_id, width, height = image
        x, y, w, h = a.bbox
        if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width + EDGE_EPS and y + h <= height + EDGE_EPS):
            return None
        if a.iscrowd or a.attributes:
            append(
                (item_id, category, x, y, w, h, _attributes({"iscrowd": a.iscrowd, "attributes": a.attributes}), sha)
            )
        else:
            append((item_id, category, x, y, w, h, null, sha))
    return ParsedLabels(format="coco", labels=labels, files={source: sha}, source_sha256=sha, images=len(images))


def _parse_slow(data: bytes, *, sha: str, source: str, items: ItemIndex, classes: set[str] | None) -> ParsedLabels:
    problems = Problems()
    try:
        doc = _loads(data)
    except (json.JSONDecodeError, ValueError) as exc:
        pos = getattr(exc, "pos", None)
        _malformed(problems, source, data, pos if isinstance(pos, int) else None, str(getattr(exc, "msg", exc)))
        problems.raise_if_any()
    if not isinstance(doc, dict):
        problems.add(source, "expected a COCO object with images, annotations and categories")
        problems.raise_if_any()
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            problems.add(f"{source}: {key}", f"expected a list under {key!r}")
    problems.raise_if_any()
    cats, images = _categories_and_images(doc["categories"], doc["images"], problems, source, items, classes)

    labels: list[LabelRow] = []
    append = labels.append
    seen: dict[int, int] = {}
    null = NULL_JSON
    for n, a in enumerate(doc["annotations"]):
        try:
            aid = a["id"]
            item_id, width, height = images[a["image_id"]]
            category = cats[a["category_id"]]
            x, y, w, h = a["bbox"]
        except (KeyError, TypeError, ValueError):
            _diagnose(problems, source, n, a, images, cats, seen)
            continue
        if type(aid) is not int or aid in seen:
            _diagnose(problems, source, n, a, images, cats, seen)
            continue
        seen[aid] = n
        if type(x) not in _NUM or type(y) not in _NUM or type(w) not in _NUM or type(h) not in _NUM:
            problems.add(f"{source}: annotations[{n}] (id {aid})", "expected four numbers in bbox")
            continue
        if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width + EDGE_EPS and y + h <= height + EDGE_EPS):
            problem = check_box(float(x), float(y), float(w), float(h), _known(width), _known(height))
            if problem:
                problems.add(f"{source}: annotations[{n}] (id {aid})", problem)
                continue
        if a.get("iscrowd") or a.get("attributes"):
            append((item_id, category, x, y, w, h, _attributes(a), sha))
        else:
            append((item_id, category, x, y, w, h, null, sha))
    problems.raise_if_any()
    return ParsedLabels(format="coco", labels=labels, files={source: sha}, source_sha256=sha, images=len(images))


def _categories_and_images(
    categories: list[Any],
    image_records: list[Any],
    problems: Problems,
    source: str,
    items: ItemIndex,
    classes: set[str] | None,
) -> tuple[dict[int, str], dict[int, tuple[int, float, float]]]:
    """``{category id: class name}`` and ``{image id: (item id, width, height)}``; problems are recorded."""
    cats: dict[int, str] = {}
    cat_at: dict[int, int] = {}
    for n, c in enumerate(categories):
        where = f"{source}: categories[{n}]"
        if not isinstance(c, dict) or not _is_int(c.get("id")) or not isinstance(c.get("name"), str):
            problems.add(where, "expected {id: integer, name: string}")
            continue
        cid, name = c["id"], c["name"]
        if cid in cats:
            problems.add(where, f"duplicate category id {cid} (also categories[{cat_at[cid]}])")
            continue
        if classes is not None and name not in classes:
            problems.add(where, f"class {name!r} is not in the schema (expected one of {', '.join(sorted(classes))})")
        cats[cid], cat_at[cid] = name, n
    images: dict[int, tuple[int, float, float]] = {}
    image_at: dict[int, int] = {}
    for n, im in enumerate(image_records):
        where = f"{source}: images[{n}]"
        if not isinstance(im, dict) or not _is_int(im.get("id")) or not isinstance(im.get("file_name"), str):
            problems.add(where, "expected {id: integer, file_name: string, width, height}")
            continue
        iid, name = im["id"], im["file_name"]
        where = f"{where} (id {iid}, {name!r})"
        if iid in images:
            problems.add(where, f"duplicate image id {iid} (also images[{image_at[iid]}])")
            continue
        item = items.get(name)
        if item is None:
            problems.add(where, f"image {name!r} is not in dataset version {items.version_ref}")
            continue
        for label, v, expected in (("width", im.get("width"), item.width), ("height", im.get("height"), item.height)):
            if v is None:
                continue
            if not _is_int(v) or v <= 0:
                problems.add(where, f"expected a positive integer {label}, got {v!r}")
            elif expected is not None and v != expected:
                problems.add(where, f"{label} {v} differs from the image's {expected} px")
        images[iid], image_at[iid] = (item.id, item.width or _INF, item.height or _INF), n
    return cats, images


def export_coco(data: ExportData) -> dict[str, Any]:
    """The version as a COCO instances document (``iscrowd`` from attributes, other attributes kept)."""
    cat_ids = {name: i + 1 for i, name in enumerate(data.classes)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, item in enumerate(data.items, start=1):
        images.append({"id": image_id, "file_name": item.uri, "width": item.width, "height": item.height})
        for lbl in data.labels.get(item.id, []):
            attrs = dict(lbl.attributes or {})
            iscrowd = int(attrs.pop("iscrowd", 0) or 0)
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cat_ids[lbl.category],
                "bbox": [lbl.x, lbl.y, lbl.w, lbl.h],
                "area": lbl.w * lbl.h,
                "iscrowd": iscrowd,
            }
            if attrs:
                ann["attributes"] = attrs
            annotations.append(ann)
    return {
        "info": {"description": f"labelgate export of {data.version_ref}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": cat_ids[name], "name": name, "supercategory": ""} for name in data.classes],
    }
