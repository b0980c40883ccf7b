"""The categories and images of a COCO document, checked against the version (``lineage.formats.coco``)."""

from __future__ import annotations

from typing import Any

from lineage.formats.common import IdMap, ItemIndex, Problems

__all__ = ["categories_and_images"]

_INF = float("inf")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def categories_and_images(
    categories: list[Any],
    image_records: list[Any],
    problems: Problems,
    source: str,
    items: ItemIndex,
    classes: set[str] | None,
) -> tuple[dict[int, str], dict[int, tuple[int, float, float]], IdMap]:
    """``{category id: class name}``, ``{image id: (item id, width, height)}`` and the source's ids
    (``ParsedLabels.id_map``); problems are recorded."""
    cats: dict[int, str] = {}
    cat_at: dict[int, int] = {}
    cat_ids: dict[str, int] = {}
    for n, c in enumerate(categories):
        where = f"{source}: categories[{n}]"
        if not isinstance(c, dict) or not _is_int(c.get("id")) or not isinstance(c.get("name"), str):
            problems.add(where, "expected {id: integer, name: string}")
            continue
        cid, name = c["id"], c["name"]
        if cid in cats:
            problems.add(where, f"duplicate category id {cid} (also categories[{cat_at[cid]}])")
            continue
        if name in cat_ids:
            problems.add(where, f"category name {name!r} is used by two ids (also categories[{cat_at[cat_ids[name]]}])")
            continue
        if classes is not None and name not in classes:
            problems.add(where, f"class {name!r} is not in the schema (expected one of {', '.join(sorted(classes))})")
        cats[cid], cat_at[cid], cat_ids[name] = name, n, cid
    images: dict[int, tuple[int, float, float]] = {}
    image_at: dict[int, int] = {}
    image_ids: dict[str, int] = {}
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
        if name in image_ids:
            problems.add(where, f"image {name!r} is listed twice (also images[{image_at[image_ids[name]]}])")
            continue
        item = items.get(name)
        if item is None:
            problems.add(where, f"image {name!r} is not in dataset version {items.version_ref}{items.hint(name)}")
            continue
        for label, v, expected in (("width", im.get("width"), item.width), ("height", im.get("height"), item.height)):
            if v is None:
                continue
            if not _is_int(v) or v <= 0:
                problems.add(where, f"expected a positive integer {label}, got {v!r}")
            elif expected is not None and v != expected:
                problems.add(where, f"{label} {v} differs from the image's {expected} px")
        images[iid], image_at[iid], image_ids[name] = (item.id, item.width or _INF, item.height or _INF), n, iid
    return cats, images, {"images": image_ids, "categories": cat_ids}
