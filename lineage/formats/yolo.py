"""YOLO detection labels (Ultralytics, Darknet, CVAT, Roboflow layouts: see ``_yolo_layout``): read and write.

A label file holds one ``class cx cy w h`` line per box, normalised to [0, 1] by the image's width and
height; it belongs to the version's image of the same path (``labels/`` swapped for ``images/``, or the
same folder) or, failing that, the one image whose file stem matches. An image without a label file, or
with an empty one, has no objects. Pixel boxes are ``x = (cx - w/2)·W``, ``w = w·W``.

**Rounding at the edges.** Writers round coordinates: to six decimals (``%.6f``: CVAT, labelImg) or to six
significant digits (``%g``: Ultralytics' converters), so a box that touches an edge can be written a hair
past it. A coordinate is taken to be off by up to half a unit of its rounding: the file's finest decimal
place (at least 10⁻⁴) or six significant digits, whichever is coarser; an edge ``cx ± w/2`` then by up to
½ unit of ``cx`` plus ¼ unit of ``w``, times the image side. A box past an edge by more than ``EDGE_EPS``
but within that is moved onto the edge and counted (``ParsedLabels.clipped``); one further out is refused,
naming ``file:line``. Segmentation, pose and oriented-box lines are refused saying which they look like.

**Writing.** One label file per image under ``labels/`` (empty when it has no objects) and ``data.yaml``.
A line is written with six decimals when those read back to the same box (within 10⁻⁹ px, inside the
image); otherwise each value as the shortest decimal that reads back to the exact float, so an export
re-imports to the boxes it came from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from lineage.formats._yolo_layout import find_layout, image_stems, label_stems
from lineage.formats._yolo_shapes import kpt_shape, read_shape_line, shape_line
from lineage.formats.common import (
    NULL_JSON,
    ExportData,
    FileWriter,
    ItemIndex,
    ItemRef,
    LabelRow,
    ParsedLabels,
    Problems,
    SchemaInfo,
    ShapeRow,
    sha256_bytes,
)
from lineage.labels.annotations import EDGE_EPS, check_box

__all__ = ["export_yolo", "parse_yolo"]

_MIN_DECIMALS = 4  # a file written with fewer decimals is still taken as rounded at the 4th
_EXACT_PX = 1e-9  # how close a six-decimal line must read back to be written that way


def parse_yolo(
    root: Path, *, items: ItemIndex, classes: set[str] | None, schema: SchemaInfo | None = None
) -> ParsedLabels:
    """Parse and validate a YOLO folder; problems name ``file:line``. Lines of the schema's polygon and
    keypoints classes are segmentation and pose lines (``_yolo_shapes``)."""
    shapes = {n: g for n, g in (schema.geometry if schema is not None else {}).items() if g != "box"}
    if shapes:
        classes = (classes or set()) | set(shapes)
    problems = Problems()
    if not root.is_dir():
        problems.add(str(root), "expected a folder with data.yaml (or obj.names), and label files")
        problems.raise_if_any()
    layout = find_layout(root, problems)
    files: dict[str, str] = dict(layout.meta)
    names = layout.names
    if classes is not None:
        for cid, name in sorted(names.items()):
            if name not in classes:
                problems.add(f"{root / layout.names_file}: names[{cid}]", f"class {name!r} is not in the schema")
    problems.raise_if_any()

    for rel in layout.image_files:
        if _image_item(rel, items) is None:
            folders = rel.split("/")[:-1]
            shown = rel.split("/")[len(folders) - folders[::-1].index("images") :] if "images" in folders else [rel]
            problems.add(str(root / rel), f"image {'/'.join(shown)!r} is not in dataset version {items.version_ref}")
    for list_rel, entries in layout.lists.items():
        for lineno, entry in entries:
            if _image_item(entry, items) is None:
                problems.add(
                    f"{root / list_rel}:{lineno}",
                    f"image {entry!r} listed here is not in dataset version {items.version_ref}",
                )

    labels: list[LabelRow] = []
    shaped: list[ShapeRow] = []
    ctx = _Shapes(shapes, schema, layout.kpt_shape, shaped)
    for name, k in (schema.keypoints if schema is not None else {}).items():
        if layout.kpt_shape is not None and name in shapes and layout.kpt_shape[0] != len(k):
            problems.add(
                f"{root / layout.names_file}: kpt_shape",
                f"kpt_shape {list(layout.kpt_shape)}: class {name!r} has K={len(k)}",
            )
    claimed: dict[int, str] = {}
    images = clipped = 0
    for rel in layout.label_files:
        path = root / rel
        item = items.find(label_stems(rel[: -len(".txt")]))
        if item is None:
            problems.add(str(path), f"no image for this label file in dataset version {items.version_ref}")
            continue
        if item.id in claimed:
            problems.add(str(path), f"a second label file for image {item.uri!r} (also {claimed[item.id]})")
            continue
        claimed[item.id] = str(path)
        raw = path.read_bytes()
        files[rel] = sha = sha256_bytes(raw)
        images += 1
        clipped += _parse_label_file(path, raw, item, names, sha, labels, problems, layout.kpt_shape, ctx)
    problems.raise_if_any()
    return ParsedLabels(
        format="yolo",
        labels=labels,
        files=files,
        source_sha256=ParsedLabels.folder_hash(files),
        images=images,
        clipped=clipped,
        shapes=shaped,
    )


class _Shapes(NamedTuple):
    geometry: dict[str, str]
    schema: SchemaInfo | None
    kpt_shape: tuple[int, int] | None
    out: list[ShapeRow]


def _image_item(rel: str, items: ItemIndex) -> ItemRef | None:
    stems = image_stems(rel)
    suffix = rel[rel.rfind(".") :] if "." in rel.rsplit("/", 1)[-1] else ""
    for stem in stems:  # the exact path first: ``a.jpg`` and ``a.png`` share a stem
        item = items.get(stem + suffix)
        if item is not None:
            return item
    return items.find(stems)


def _decimals(token: str) -> int:
    mantissa, _, exponent = token.lower().partition("e")
    fraction = mantissa.partition(".")[2]
    try:
        shift = int(exponent) if exponent else 0
    except ValueError:
        shift = 0
    return max(0, len(fraction) - shift)


def _unit(value: float, file_unit: float) -> float:
    """The rounding unit of a written coordinate: the file's finest decimal place, or six significant
    digits (``%g`` drops trailing zeros, so ``0.5`` may stand for 0.5000004), whichever is coarser."""
    magnitude = min(abs(value), 0.9999995)
    significant = 10.0 ** (math.floor(math.log10(magnitude)) - 5) if magnitude > 0 else 0.0
    return max(file_unit, significant)


def _parse_label_file(
    path: Path,
    raw: bytes,
    item: ItemRef,
    names: dict[int, str],
    sha: str,
    out: list[LabelRow],
    problems: Problems,
    kpt_shape: tuple[int, int] | None,
    shapes: _Shapes | None = None,
) -> int:
    """Append the file's boxes to ``out`` (segmentation and pose lines to ``shapes.out``); returns how many
    boxes were moved onto an edge."""
    if item.width is None or item.height is None:
        problems.add(str(path), f"image {item.uri!r} has no known size; YOLO boxes cannot be converted")
        return 0
    width, height = item.width, item.height
    read: list[tuple[str, str, tuple[float, float, float, float]]] = []
    decimals = _MIN_DECIMALS
    for lineno, line in enumerate(raw.decode("utf-8-sig", errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{lineno}"
        shape = _shape_class(parts, names, shapes)
        if shape is not None and shapes is not None:
            k = shapes.schema.keypoints.get(shape) if shapes.schema is not None else None
            got = read_shape_line(
                parts,
                geometry=shapes.geometry[shape],
                category=shape,
                item=(item.id, width, height),
                k=len(k) if k is not None else None,
                dim=kpt_shape[1] if kpt_shape is not None else None,
                sha=sha,
            )
            if isinstance(got, str):
                problems.add(where, got)
            else:
                shapes.out.append(got)
            continue
        if len(parts) != 5:
            problems.add(where, _not_a_box(len(parts), kpt_shape))
            continue
        try:
            cid = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:])
        except ValueError:
            problems.add(where, "expected an integer class id and four numbers")
            continue
        if not all(math.isfinite(v) for v in (cx, cy, w, h)):
            problems.add(where, "expected finite numbers")
            continue
        name = names.get(cid)
        if name is None:
            problems.add(where, f"unknown class id {cid} (class names have ids {', '.join(map(str, sorted(names)))})")
            continue
        decimals = max(decimals, *(_decimals(p) for p in parts[1:]))
        read.append((where, name, (cx, cy, w, h)))
    file_unit = 10.0**-decimals
    clipped = 0
    for where, name, (cx, cy, w, h) in read:
        box = _to_pixels(cx, cy, w, h, width, height, file_unit)
        if isinstance(box, str):
            problems.add(where, f"{box} (normalised cx={cx:g} cy={cy:g} w={w:g} h={h:g})")
            continue
        x, y, bw, bh, moved = box
        clipped += moved
        out.append((item.id, name, x, y, bw, bh, NULL_JSON, sha))
    return clipped


def _shape_class(parts: list[str], names: dict[int, str], shapes: _Shapes | None) -> str | None:
    """The class name when the line's class is a polygon or keypoints class."""
    if shapes is None or not shapes.geometry or not parts[0].lstrip("-").isdigit():
        return None
    name = names.get(int(parts[0]))
    return name if name in shapes.geometry else None


def _to_pixels(
    cx: float, cy: float, w: float, h: float, width: int, height: int, file_unit: float | None
) -> tuple[float, float, float, float, bool] | str:
    """The pixel box of a line, moved onto the edges it passes within the rounding of ``file_unit``
    (``None``: no rounding allowed); a string says what is wrong."""
    if w <= 0 or h <= 0:
        return f"expected a positive width and height, got w={w:g} h={h:g}"
    x, y, bw, bh = (cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height
    moved = False
    axes = ((x, bw, width, cx, w), (y, bh, height, cy, h))
    fixed: list[tuple[float, float]] = []
    for lo, size, side, centre, extent in axes:
        over = max(-lo, lo + size - side)
        if over > EDGE_EPS:
            slack = 0.0 if file_unit is None else (_unit(centre, file_unit) / 2 + _unit(extent, file_unit) / 4) * side
            if over > slack + EDGE_EPS:
                problem = check_box(x, y, bw, bh, width, height) or "box outside the image"
                return problem if file_unit is None else f"{problem}, by {over:.3g} px: more than rounding explains"
            start, end = max(lo, 0.0), min(lo + size, float(side))
            if end <= start:
                return "box lies outside the image"
            lo, size, moved = start, end - start, True
        fixed.append((lo, size))
    (x, bw), (y, bh) = fixed
    return x, y, bw, bh, moved


def _not_a_box(count: int, kpt_shape: tuple[int, int] | None) -> str:
    """Why a line of ``count`` values is not a detection box, naming the YOLO task it looks like."""
    expected = f"expected 5 values `class cx cy w h`, got {count}"
    if count == 6:
        looks = "a YOLO prediction line with a confidence (class cx cy w h conf)"
    elif kpt_shape is not None and count == 5 + kpt_shape[0] * kpt_shape[1]:
        looks = f"a YOLO pose line (box and {kpt_shape[0]} keypoints, kpt_shape {list(kpt_shape)})"
    elif count == 9:
        looks = "a YOLO oriented-box line (class x1 y1 x2 y2 x3 y3 x4 y4), or a 4-point segmentation polygon"
    elif count >= 7 and count % 2 == 1:
        looks = f"a YOLO segmentation line (polygon of {(count - 1) // 2} points)"
    elif count >= 8 and (count - 5) % 3 == 0:
        looks = f"a YOLO pose line (box and {(count - 5) // 3} keypoints x y visibility)"
    else:
        return expected
    return f"{expected}: this looks like {looks}; only detection boxes (class cx cy w h) can be imported"


def export_yolo(
    data: ExportData,
    out_dir: Path,
    *,
    image_bytes: Callable[[str], bytes] | None = None,
    root: str | None = None,
) -> int:
    """Write ``data.yaml`` and one label file per image (empty when it has no objects); with
    ``image_bytes`` also the images. ``root`` is data.yaml's ``path`` (default: ``out_dir``, absolute,
    which Ultralytics needs; ``"."`` for an archive). Returns the number of boxes written."""
    import yaml

    ids = {name: i for i, name in enumerate(data.classes)}
    shape = kpt_shape(data)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "data.yaml").write_text(
        yaml.safe_dump(
            {
                "path": root if root is not None else str(out_dir.resolve()),
                "train": "images",
                "val": "images",
                "nc": len(data.classes),
                "names": dict(enumerate(data.classes)),
                **({"kpt_shape": list(shape)} if shape is not None else {}),
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    boxes = 0
    with FileWriter() as files:
        for item in data.items:
            lines = []
            assert item.width and item.height, f"{item.uri}: unknown image size"
            for lbl in data.labels.get(item.id, []):
                if lbl.geometry_type != "box":
                    lines += [f"{line}\n" for line in shape_line(lbl, ids[lbl.category], item.width, item.height)]
                    continue
                values = _line_values(lbl.x, lbl.y, lbl.w, lbl.h, item.width, item.height)
                lines.append(f"{ids[lbl.category]} {' '.join(values)}\n")
            stem = item.uri.rsplit(".", 1)[0]
            files.write(out_dir / "labels" / f"{stem}.txt", "".join(lines).encode("utf-8"))
            boxes += len(lines)
            if image_bytes is not None:
                files.write(out_dir / "images" / item.uri, image_bytes(item.uri))
    return boxes


def _line_values(x: float, y: float, w: float, h: float, width: int, height: int) -> list[str]:
    """``cx cy w h`` of a pixel box as written: six decimals when they read back to the box (within
    ``_EXACT_PX``, inside the image), else the shortest decimals of the exact normalised floats."""
    normalised = ((x + w / 2) / width, (y + h / 2) / height, w / width, h / height)
    six = [f"{v:.6f}" for v in normalised]
    cx, cy, nw, nh = (float(v) for v in six)
    back = _to_pixels(cx, cy, nw, nh, width, height, None)
    if isinstance(back, str) or back[4]:
        return [_shortest(v) for v in normalised]
    if all(abs(a - b) <= _EXACT_PX for a, b in zip(back[:4], (x, y, w, h), strict=True)):
        return six
    return [_shortest(v) for v in normalised]


def _shortest(value: float) -> str:
    # repr is the shortest decimal that reads back to the same float; without exponent for any reader.
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text or "E" in text else text
