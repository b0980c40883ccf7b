"""COCO instances JSON: read (validated against the target version) and write.

Read: ``images[].file_name`` must be an item path of the version (and its ``width``/``height`` the item's),
``categories[].name`` a class of the schema (one id per name), ``annotations[].bbox`` ``[x, y, w, h]`` in
pixels inside its image; ``iscrowd``, when present, the integer 0 or 1; ``area`` a number >= 0;
``attributes`` a JSON object within the bounds of ``common.attributes_json``. Empty lists are fine.

**The reserved attribute ``coco``.** Each imported label keeps its record's own values in its attributes
under the key ``"coco"``: ``{"id": <annotation id>, "area": <area, when given and not w·h>, "iscrowd": 1
(when a crowd box)}``; the record's ``attributes`` object sits beside it (a source attribute named
``coco`` is refused). The image and category ids go to ``ParsedLabels.id_map``
(``{"images": {uri: id}, "categories": {name: id}}``).

Write: image and category ids from the id map when given (the newest COCO import's), others numbered above
the map's largest id; every class is a category, boxes or not. Each annotation takes back its stored ``id``
(labels without one, or repeating one already written, get fresh ids above the largest stored id),
``area`` (``w·h`` when none was stored) and ``iscrowd``; the ``coco`` key leaves its ``attributes``.
Labels imported before the reserved key carry a top-level ``iscrowd`` attribute, still honoured.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from lineage.formats._coco_export import export_coco, iter_coco_json
from lineage.formats._coco_index import categories_and_images as _categories_and_images
from lineage.formats._coco_shapes import SHAPE_GEOMETRIES, read_shape
from lineage.formats.common import (
    AttributesRefused,
    ItemIndex,
    LabelRow,
    ParsedLabels,
    Problems,
    SchemaInfo,
    ShapeRow,
    attributes_json,
    gc_paused,
    sha256_bytes,
)
from lineage.labels.annotations import EDGE_EPS, check_box

__all__ = ["COCO_KEY", "export_coco", "iter_coco_json", "parse_coco"]  # export_coco, iter_coco_json: _coco_export

COCO_KEY = "coco"  # the reserved attribute holding a label's COCO id, area and iscrowd (module docstring)


def _loads(data: bytes) -> Any:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson ships with DVC's dependencies
        return json.loads(data)
    return orjson.loads(data)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_NUM = (int, float)
_INF = float("inf")
_MAX_FLOAT = sys.float_info.max  # an integer area beyond it has no float to store


def _known(size: float) -> int | None:
    return None if size == _INF else int(size)


def _stored(aid: int, area: float | None, crowd: int, attrs: dict[str, Any] | None) -> str:
    """The label's attributes as stored: the record's ``attributes`` plus the reserved ``coco`` key.

    Raises ``AttributesRefused`` for attributes out of bounds or holding the reserved key."""
    if not attrs:
        # A million times for a large file: the text json.dumps gives (keys sorted), without a dict.
        inner = f'"id": {aid}'
        if area is not None:
            inner = f'"area": {float(area)!r}, {inner}'
        if crowd:
            inner += ', "iscrowd": 1'
        return f'{{"{COCO_KEY}": {{{inner}}}}}'
    if COCO_KEY in attrs:
        raise AttributesRefused(
            f"attribute {COCO_KEY!r} is reserved (labelgate keeps the record's id, area and iscrowd under it)"
        )
    record: dict[str, Any] = {"id": aid}
    if area is not None:
        record["area"] = float(area)
    if crowd:
        record["iscrowd"] = 1
    return attributes_json({**attrs, COCO_KEY: record})


def _extras_problem(a: dict[str, Any]) -> str | None:
    """What is wrong with a record's ``iscrowd``, ``area`` or ``attributes`` types (``None``: nothing)."""
    crowd = a.get("iscrowd", 0)
    if type(crowd) is not int or crowd not in (0, 1):
        return f"expected iscrowd 0 or 1 (an integer), got {crowd!r}"
    area = a.get("area")
    if area is not None and (type(area) not in _NUM or not 0 <= area <= _MAX_FLOAT):
        return f"expected area as a number >= 0, got {area!r}"
    attrs = a.get("attributes")
    if attrs is not None and not isinstance(attrs, dict):
        return f"expected attributes as a JSON object, got {json.dumps(attrs)[:40]}"
    return None


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


def parse_coco(
    data: bytes, *, source: str, items: ItemIndex, classes: set[str] | None, schema: SchemaInfo | None = None
) -> ParsedLabels:
    """Parse and validate a COCO document; every problem names ``source`` and the record.

    Records of the schema's polygon, mask and keypoints classes are read by ``_coco_shapes`` (slow path).

    Fast path: ``msgspec`` decodes straight into typed records (no dict per annotation) and one tight loop
    checks them. Any problem at all sends the file down the slow path, which reads it as plain JSON and
    lists every problem with its place; so both paths accept exactly the same files.
    """
    sha = sha256_bytes(data)
    shapes = {name: g for name, g in (schema.geometry if schema is not None else {}).items() if g in SHAPE_GEOMETRIES}
    if shapes:
        classes = (classes or set()) | set(shapes)
    with gc_paused():
        fast = _parse_fast(data, sha=sha, source=source, items=items, classes=classes, shapes=shapes)
        if fast is not None:
            return fast
        return _parse_slow(data, sha=sha, source=source, items=items, classes=classes, shapes=shapes, schema=schema)


def _malformed(problems: Problems, source: str, data: bytes, pos: int | None, message: str) -> None:
    if pos is None:
        problems.add(source, f"malformed JSON ({message})")
        return
    line = data.count(b"\n", 0, pos) + 1
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    problems.add(f"{source}:{line}:{col}", f"malformed JSON ({message})")


def _parse_fast(
    data: bytes,
    *,
    sha: str,
    source: str,
    items: ItemIndex,
    classes: set[str] | None,
    shapes: dict[str, str] | None = None,
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
        # msgspec names no byte for a file that ends inside a value: the problem is at its end.
        pos = int(match.group(1)) if match else len(data) if "truncated" in str(exc) else None
        _malformed(problems, source, data, pos, str(exc).split(" (byte")[0])
        problems.raise_if_any()
        raise AssertionError("unreachable") from None
    problems = Problems()
    cats, images, id_map = _categories_and_images(doc.categories, doc.images, problems, source, items, classes)
    if problems:
        problems.raise_if_any()
    if shapes and any(name in shapes for name in cats.values()):
        return None
    labels: list[LabelRow] = []
    append = labels.append
    seen: set[int] = set()
    add_seen = seen.add
    key = COCO_KEY
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
        crowd, area, attrs = a.iscrowd, a.area, a.attributes
        if (crowd != 0 and crowd != 1) or (area is not None and not 0 <= area < _INF):
            return None
        if area is not None and area == w * h:
            area = None  # what the export writes anyway: keeping it would only differ after a round trip
        if attrs or crowd:
            try:
                text = _stored(aid, area, crowd, attrs)
            except AttributesRefused:
                return None
        elif area is None:  # _stored's text, inlined for the common cases
            text = f'{{"{key}": {{"id": {aid}}}}}'
        else:
            text = f'{{"{key}": {{"area": {float(area)!r}, "id": {aid}}}}}'
        append((item_id, category, x, y, w, h, text, sha))
    return ParsedLabels(
        format="coco", labels=labels, files={source: sha}, source_sha256=sha, images=len(images), id_map=id_map
    )


def _parse_slow(
    data: bytes,
    *,
    sha: str,
    source: str,
    items: ItemIndex,
    classes: set[str] | None,
    shapes: dict[str, str] | None = None,
    schema: SchemaInfo | None = None,
) -> ParsedLabels:
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
    cats, images, id_map = _categories_and_images(doc["categories"], doc["images"], problems, source, items, classes)
    if schema is not None and schema.keypoints:
        _check_point_names(doc["categories"], schema, problems, source)

    labels: list[LabelRow] = []
    append = labels.append
    shaped: list[ShapeRow] = []
    seen: dict[int, int] = {}
    for n, a in enumerate(doc["annotations"]):
        if (
            shapes
            and isinstance(a, dict)
            and _shape(a, n, source, sha, images, cats, shapes, schema, seen, shaped, problems)
        ):
            continue
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
        where = f"{source}: annotations[{n}] (id {aid})"
        if type(x) not in _NUM or type(y) not in _NUM or type(w) not in _NUM or type(h) not in _NUM:
            problems.add(where, "expected four numbers in bbox")
            continue
        if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width + EDGE_EPS and y + h <= height + EDGE_EPS):
            problem = check_box(float(x), float(y), float(w), float(h), _known(width), _known(height))
            if problem:
                problems.add(where, problem)
                continue
        problem = _extras_problem(a)
        if problem is not None:
            problems.add(where, problem)
            continue
        area = a.get("area")
        if area is not None and area == float(w) * float(h):
            area = None  # as the fast path
        try:
            attrs = _stored(aid, area, a.get("iscrowd", 0), a.get("attributes"))
        except AttributesRefused as exc:
            problems.add(where, str(exc))
            continue
        append((item_id, category, x, y, w, h, attrs, sha))
    problems.raise_if_any()
    return ParsedLabels(
        format="coco",
        labels=labels,
        files={source: sha},
        source_sha256=sha,
        images=len(images),
        id_map=id_map,
        shapes=shaped,
    )


def _check_point_names(categories: list[Any], schema: SchemaInfo, problems: Problems, source: str) -> None:
    """A keypoints category that lists its point names must list the schema's, in the schema's order: points are
    matched by position, so another order would store every point under the wrong name."""
    for n, c in enumerate(categories):
        if not isinstance(c, dict) or c.get("name") not in schema.keypoints or "keypoints" not in c:
            continue
        want = list(schema.keypoints[c["name"]])
        got = c["keypoints"]
        if not isinstance(got, list) or not all(isinstance(v, str) for v in got):
            problems.add(f"{source}: categories[{n}]", "expected keypoints as a list of point names")
        elif got != want:
            problems.add(
                f"{source}: categories[{n}]",
                f"keypoint names {json.dumps(got)[:200]} differ from class {c['name']!r} of the schema "
                f"(K={len(want)}: {json.dumps(want)[:200]}); points are matched by position",
            )


def _shape(
    a: dict[str, Any],
    n: int,
    source: str,
    sha: str,
    images: dict[int, tuple[int, float, float]],
    cats: dict[int, str],
    shapes: dict[str, str],
    schema: SchemaInfo | None,
    seen: dict[int, int],
    out: list[ShapeRow],
    problems: Problems,
) -> bool:
    """Read record ``n`` when its category is a shape class (True: handled, a row or a problem)."""
    category = cats.get(a.get("category_id"))  # type: ignore[arg-type]
    aid, image = a.get("id"), images.get(a.get("image_id"))  # type: ignore[arg-type]
    if category not in shapes or type(aid) is not int or aid in seen or image is None:
        return False
    seen[aid] = n
    where = f"{source}: annotations[{n}] (id {aid})"
    problem = _extras_problem(a)
    if problem is not None:
        problems.add(where, problem)
        return True
    k = schema.keypoints.get(category) if schema is not None else None
    got = read_shape(
        a,
        geometry=shapes[category],
        category=category,
        item=image,
        iid=a["image_id"],
        keypoint_count=len(k) if k is not None else None,
        stored=lambda area: _stored(aid, area, a.get("iscrowd", 0), a.get("attributes")),
        sha=sha,
    )
    if isinstance(got, str):
        field, _, message = got.partition(": ") if got.startswith(("segmentation: ", "keypoints: ")) else ("", "", got)
        problems.add(f"{where}.{field}" if field else where, message)
    else:
        out.append(got)
    return True
