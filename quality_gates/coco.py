"""Validation and conversion of already-loaded COCO data (no file I/O here).

``parse_coco_instances`` takes an ``instances.json``-shaped dict, ``parse_coco_results`` a results list
(``[{"image_id", "category_id", "bbox", "score"}, ...]``). Both return arrays (:class:`~quality_gates.boxes.BoxSet`)
or raise :class:`~quality_gates.errors.InputFormatError` naming the input, the record (index and id) and the
field. The common case is converted column-wise; only when a column fails to convert are the records
walked one by one to name the first bad one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from quality_gates._types import BoolArray, FloatArray, IntArray
from quality_gates.boxes import BoxSet
from quality_gates.errors import InputFormatError

__all__ = ["CocoDataset", "CocoResults", "check_same_categories", "parse_coco_instances", "parse_coco_results"]


@dataclass(frozen=True, eq=False)
class CocoDataset:
    """A validated COCO instances dict as arrays.

    Attributes:
        image_ids: (I,) sorted image ids.
        image_size: (I, 2) width, height in px, aligned with ``image_ids``.
        category_ids: (K,) sorted category ids; ``boxes.category`` indexes this array.
        class_names: (K,) names aligned with ``category_ids``.
        boxes: the annotations (``area`` from the COCO field, ``iscrowd`` honoured, ``ann_id`` the ids).
        annotation_ids: (n,) the annotations' ids, aligned with ``boxes``.
    """

    image_ids: IntArray
    image_size: FloatArray
    category_ids: IntArray
    class_names: tuple[str, ...]
    boxes: BoxSet
    annotation_ids: IntArray

    @property
    def categories(self) -> dict[int, str]:
        """Category id → name."""
        return dict(zip(self.category_ids.tolist(), self.class_names, strict=True))


@dataclass(frozen=True, eq=False)
class CocoResults:
    """A validated COCO results list as arrays.

    Attributes:
        boxes: detections with ``score``; categories index the dataset's ``category_ids``.
        reviewed: (n,) bool from an optional per-record ``"reviewed"`` field, None when no record has it.
        routed: (n,) bool from an optional ``"routed"`` field (sent to the review queue), None when absent.
    """

    boxes: BoxSet
    reviewed: BoolArray | None = None
    routed: BoolArray | None = None


def _fail(source: str, field: str, message: str) -> InputFormatError:
    return InputFormatError(source, field, message)


def _records(data: Mapping[str, Any], key: str, source: str) -> list[Any]:
    if key not in data:
        raise _fail(source, key, "missing; a COCO instances file needs 'images', 'categories' and 'annotations'")
    value = data[key]
    if not isinstance(value, list):
        raise _fail(source, key, f"must be a list, got {type(value).__name__}")
    return value


def _label(section: str, i: int, rec: Any) -> str:
    rid = rec.get("id") if isinstance(rec, dict) else None
    base = f"{section}[{i}]" if section else f"[{i}]"
    return f"{base} (id {rid})" if rid is not None and not isinstance(rid, (dict, list)) else base


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _is_flag(v: Any) -> bool:
    return isinstance(v, bool) or (_is_int(v) and v in (0, 1))


def _where(section: str, i: int) -> str:
    return f"{section}[{i}]" if section else f"[{i}]"


def _column(records: list[Any], key: str, *, source: str, section: str, kind: str, default: Any = None) -> Any:
    """Extract one field of every record as an array, or raise naming the first bad record."""
    if not records:  # np.array([]) is float64, which would fail the integer check of an empty list
        return np.zeros(0, dtype={"int": np.int64, "num": np.float64, "bool": np.bool_}[kind])
    try:
        values = [r[key] for r in records] if default is None else [r.get(key, default) for r in records]
        arr = np.array(values)
        ok = {"int": "iu", "num": "iuf", "bool": "biu"}[kind]
        if arr.dtype.kind in ok and (kind != "num" or arr.ndim == 1):
            return arr
    except (KeyError, TypeError, AttributeError, ValueError):
        pass
    test = {"int": _is_int, "num": _is_num, "bool": _is_flag}[kind]
    expected = {"int": "an integer", "num": "a number", "bool": "true/false or 0/1"}[kind]
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise _fail(source, _where(section, i), f"must be an object, got {type(r).__name__}")
        if key not in r:
            if default is not None:
                continue
            raise _fail(source, f"{_label(section, i, r)}.{key}", "missing")
        if not test(r[key]):
            raise _fail(source, f"{_label(section, i, r)}.{key}", f"must be {expected}, got {r[key]!r}")
    raise _fail(source, f"{section}.{key}" if section else key, f"could not be read as {expected}")


def _bboxes(records: list[Any], *, source: str, section: str) -> FloatArray:
    try:
        arr = np.array([r["bbox"] for r in records])
        if (arr.dtype.kind in "iuf" and arr.ndim == 2 and arr.shape[1] == 4) or len(records) == 0:
            box = arr.astype(np.float64).reshape(-1, 4)
            bad = ~np.isfinite(box).all(axis=1) | (box[:, 2] < 0) | (box[:, 3] < 0)
            if not bad.any():
                return box
            i = int(np.flatnonzero(bad)[0])
            raise _fail(
                source,
                f"{_label(section, i, records[i])}.bbox",
                f"invalid box {records[i]['bbox']!r}: expected [x, y, width, height], finite, width and height >= 0",
            )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, InputFormatError):
            raise
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise _fail(source, _where(section, i), f"must be an object, got {type(r).__name__}")
        b = r.get("bbox")
        if not (isinstance(b, (list, tuple)) and len(b) == 4 and all(_is_num(v) for v in b)):
            raise _fail(source, f"{_label(section, i, r)}.bbox", f"invalid box {b!r}: expected [x, y, width, height]")
    raise _fail(source, f"{section}.bbox" if section else "bbox", "could not be read as [x, y, width, height] boxes")


def _unique(ids: IntArray, *, source: str, section: str) -> None:
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = int(uniq[counts > 1][0])
        first, second = np.flatnonzero(ids == dup)[:2].tolist()
        raise _fail(source, f"{section}[{second}].id", f"duplicate id {dup} (also at {section}[{first}])")


def _lookup(
    values: IntArray, known: IntArray, records: list[Any], *, source: str, section: str, key: str, what: str
) -> IntArray:
    pos = np.searchsorted(known, values)
    pos_c = np.minimum(pos, max(len(known) - 1, 0))
    ok = (pos < len(known)) & (known[pos_c] == values) if len(known) else np.zeros(len(values), dtype=bool)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise _fail(source, f"{_label(section, i, records[i])}.{key}", f"unknown {what} {int(values[i])}")
    return pos_c.astype(np.int64)


def parse_coco_instances(data: Any, *, source: str = "ground truth", allow_empty: bool = True) -> CocoDataset:
    """Validate a COCO instances dict and convert it to arrays.

    Args:
        data: the loaded JSON (a dict with ``images``, ``categories``, ``annotations``).
        source ("ground truth"): the name used in error messages (a file name).
        allow_empty (True): accept a dataset without annotations (images with no objects); a dataset
            without images or without categories is always an error.

    Raises:
        InputFormatError: naming the record and field: missing fields, non-integer or duplicate ids,
            images without positive ``width``/``height``, boxes that are not 4 finite numbers or have
            negative sizes, unknown ``image_id``/``category_id``, empty category names.
    """
    if not isinstance(data, dict):
        raise _fail(source, "", f"must be a COCO instances object, got {type(data).__name__}")
    images = _records(data, "images", source)
    cats = _records(data, "categories", source)
    anns = _records(data, "annotations", source)
    if not images:
        raise _fail(source, "images", "is empty; a COCO dataset needs at least one image")
    if not cats:
        raise _fail(source, "categories", "is empty; a COCO dataset needs at least one category")
    if not anns and not allow_empty:
        raise _fail(source, "annotations", "is empty")

    img_id = _column(images, "id", source=source, section="images", kind="int").astype(np.int64)
    _unique(img_id, source=source, section="images")
    size = np.stack(
        [
            _column(images, k, source=source, section="images", kind="num").astype(np.float64)
            for k in ("width", "height")
        ],
        axis=1,
    )
    bad = ~(np.isfinite(size).all(axis=1) & (size > 0).all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(source, f"{_label('images', i, images[i])}", "width and height must be positive numbers")
    order = np.argsort(img_id, kind="stable")

    cat_id = _column(cats, "id", source=source, section="categories", kind="int").astype(np.int64)
    _unique(cat_id, source=source, section="categories")
    names = [c.get("name") for c in cats]
    for i, nm in enumerate(names):
        if not isinstance(nm, str) or not nm.strip():
            raise _fail(source, f"{_label('categories', i, cats[i])}.name", f"must be a non-empty string, got {nm!r}")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise _fail(source, "categories", f"category name {dup!r} is used by two ids")
    c_order = np.argsort(cat_id, kind="stable")
    cat_sorted = cat_id[c_order]

    ann_id = _column(anns, "id", source=source, section="annotations", kind="int").astype(np.int64).reshape(-1)
    _unique(ann_id, source=source, section="annotations")
    box = _bboxes(anns, source=source, section="annotations")
    a_img = _column(anns, "image_id", source=source, section="annotations", kind="int").astype(np.int64).reshape(-1)
    a_cat = _column(anns, "category_id", source=source, section="annotations", kind="int").astype(np.int64)
    img_sorted = img_id[order]
    _lookup(a_img, img_sorted, anns, source=source, section="annotations", key="image_id", what="image id")
    cat_idx = _lookup(
        a_cat.reshape(-1), cat_sorted, anns, source=source, section="annotations", key="category_id", what="category id"
    )
    # A missing area is NaN here and becomes w * h; a given one must be a finite number >= 0.
    area = _column(anns, "area", source=source, section="annotations", kind="num", default=np.nan)
    area = np.asarray(area, dtype=np.float64).reshape(-1)
    bad_area = np.isinf(area) | (area < 0)
    if bad_area.any():
        i = int(np.flatnonzero(bad_area)[0])
        raise _fail(source, f"{_label('annotations', i, anns[i])}.area", f"must be >= 0, got {anns[i]['area']!r}")
    area = np.where(np.isnan(area), box[:, 2] * box[:, 3], area) if len(anns) else np.zeros(0)
    crowd = _column(anns, "iscrowd", source=source, section="annotations", kind="bool", default=False)
    return CocoDataset(
        image_ids=img_sorted,
        image_size=size[order],
        category_ids=cat_sorted,
        class_names=tuple(str(names[i]) for i in c_order.tolist()),
        boxes=BoxSet(a_img, cat_idx, box, area=area, iscrowd=np.asarray(crowd, dtype=bool).reshape(-1), ann_id=ann_id),
        annotation_ids=ann_id,
    )


def parse_coco_results(
    data: Any,
    *,
    dataset: CocoDataset,
    source: str = "predictions",
    allow_empty: bool = False,
) -> CocoResults:
    """Validate a COCO results list against its dataset and convert it to arrays.

    Args:
        data: the loaded JSON, a list of ``{"image_id", "category_id", "bbox", "score"}`` records; optional
            boolean ``"reviewed"`` / ``"routed"`` fields feed the review-coverage gate.
        dataset: the ground truth the results refer to (image and category ids).
        source ("predictions"): the name used in error messages.
        allow_empty (False): accept an empty list.

    Raises:
        InputFormatError: naming the record index and field: not a list, empty, missing fields, invalid
            boxes, ``image_id`` or ``category_id`` not in the dataset, NaN/infinite/negative scores.
    """
    if isinstance(data, dict) and "annotations" in data:
        raise _fail(source, "", "is a COCO instances object; expected a COCO results list of detections")
    if not isinstance(data, list):
        raise _fail(source, "", f"must be a COCO results list, got {type(data).__name__}")
    if not data and not allow_empty:
        raise _fail(source, "", "is empty; expected at least one detection")
    box = _bboxes(data, source=source, section="")
    img = _column(data, "image_id", source=source, section="", kind="int").astype(np.int64).reshape(-1)
    cat = _column(data, "category_id", source=source, section="", kind="int").astype(np.int64).reshape(-1)
    score = _column(data, "score", source=source, section="", kind="num").astype(np.float64).reshape(-1)
    bad = ~np.isfinite(score) | (score < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(source, f"[{i}].score", f"must be a finite number >= 0, got {data[i]['score']!r}")
    _lookup(img, dataset.image_ids, data, source=source, section="", key="image_id", what="image id")
    cat_idx = _lookup(cat, dataset.category_ids, data, source=source, section="", key="category_id", what="category id")
    flags: dict[str, BoolArray | None] = {}
    for key in ("reviewed", "routed"):
        has = any(key in r for r in data)
        flags[key] = (
            np.asarray(_column(data, key, source=source, section="", kind="bool", default=False), dtype=bool)
            if has
            else None
        )
    return CocoResults(BoxSet(img, cat_idx, box, score=score), reviewed=flags["reviewed"], routed=flags["routed"])


def check_same_categories(reference: CocoDataset, other: CocoDataset, *, source: str, reference_name: str) -> None:
    """Raise when ``other`` does not have exactly the categories (ids and names) of ``reference``."""
    a, b = reference.categories, other.categories
    if a == b:
        return
    for cid in sorted(set(a) | set(b)):
        if a.get(cid) != b.get(cid):
            here = repr(b[cid]) if cid in b else "absent"
            there = repr(a[cid]) if cid in a else "absent"
            raise _fail(
                source,
                f"categories (id {cid})",
                f"disagrees with {reference_name}: {here} here, {there} in {reference_name}",
            )
