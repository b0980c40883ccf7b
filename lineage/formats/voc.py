"""Pascal VOC XML: one ``<annotation>`` file per image, boxes as ``xmin ymin xmax ymax`` in pixels.

Read: a folder of ``.xml`` files (its ``Annotations/`` subfolder when there is one) or a single file.
``<filename>`` names the version's image (tried as ``<folder of the xml>/<filename>``, then as is);
``<size>`` must match the image. Pixel boxes are ``x = xmin``, ``w = xmax - xmin`` (no ±1 shift), so
numbers round-trip exactly; ``difficult``/``truncated``/``occluded`` must be 0 or 1 when present, and
those set to 1 are kept as attributes. Image sets (``ImageSets/Main/<subset>.txt``, one image id per line;
per-class lists ``<class>_<subset>.txt`` add a ``1``/``-1``/``0`` column) are read when present: each id
listed must have its ``Annotations/<id>.xml``.

Write: ``Annotations/<path>.xml`` per image and ``ImageSets/Main/trainval.txt`` listing every image id
(its path without extension), which torchvision's ``VOCDetection`` and CVAT/Datumaro read.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from lineage.formats.common import (
    NULL_JSON,
    ExportData,
    FileWriter,
    ItemIndex,
    ItemRef,
    LabelRow,
    ParsedLabels,
    Problems,
    confined,
    confined_files,
    fmt_number,
    sha256_bytes,
)
from lineage.labels.annotations import check_box

__all__ = ["export_voc", "parse_voc"]

_FLAGS = ("difficult", "truncated", "occluded")
IMAGE_SET = "trainval"  # the subset an export lists: a name torchvision's VOCDetection accepts


def _xml_files(root: Path, problems: Problems) -> tuple[Path, list[Path]]:
    if root.is_file():
        return root.parent, [root]
    base = root / "Annotations" if (root / "Annotations").is_dir() else root
    return base, confined_files(base, root=root, problems=problems, suffix=".xml")


def _number(node: ET.Element | None, tag: str) -> float | None:
    el = node.find(tag) if node is not None else None
    if el is None or el.text is None:
        return None
    return float(el.text.strip())


def parse_voc(root: Path, *, items: ItemIndex, classes: set[str] | None) -> ParsedLabels:
    problems = Problems()
    if not root.exists():
        problems.add(str(root), "no such file or folder")
        problems.raise_if_any()
    base, xml_files = _xml_files(root, problems)
    if not xml_files and not problems:
        problems.add(str(root), "expected Pascal VOC .xml files")
    problems.raise_if_any()
    labels: list[LabelRow] = []
    files: dict[str, str] = {}
    claimed: dict[int, str] = {}
    for path in xml_files:
        raw = path.read_bytes()
        sha = sha256_bytes(raw)
        files[path.relative_to(base).as_posix()] = sha
        try:
            doc = ET.fromstring(raw)
        except ET.ParseError as exc:
            line, col = exc.position
            problems.add(f"{path}:{line}:{col + 1}", f"malformed XML ({exc.msg if hasattr(exc, 'msg') else exc})")
            continue
        item = _item_for(doc, path, base, items, problems)
        if item is None:
            continue
        if item.id in claimed:
            problems.add(str(path), f"a second annotation file for image {item.uri!r} (also {claimed[item.id]})")
            continue
        claimed[item.id] = str(path)
        _read_objects(doc, path, item, sha, classes, labels, problems)
    if root.is_dir():
        _read_image_sets(root, base, files, problems)
    problems.raise_if_any()
    return ParsedLabels(
        format="voc", labels=labels, files=files, source_sha256=ParsedLabels.folder_hash(files), images=len(claimed)
    )


def _read_image_sets(root: Path, base: Path, files: dict[str, str], problems: Problems) -> None:
    """Check the ids of ``ImageSets/Main/*.txt`` against the annotation files read (``files``), and add
    the lists to ``files``; an id without its ``.xml`` is a problem naming the list and line."""
    folder = root / "ImageSets" / "Main"
    if not folder.is_dir() or not confined(folder, root=root, problems=problems):
        return
    annotated = {name[: -len(".xml")] for name in files if name.endswith(".xml")}
    for path in confined_files(folder, root=root, problems=problems, suffix=".txt"):
        raw = path.read_bytes()
        files[path.relative_to(root).as_posix()] = sha256_bytes(raw)
        for lineno, line in enumerate(raw.decode("utf-8-sig", errors="replace").splitlines(), start=1):
            image_id = line.split()[0] if line.split() else ""
            if image_id and image_id not in annotated:
                rel = (base / f"{image_id}.xml").relative_to(root).as_posix()
                problems.add(f"{path}:{lineno}", f"image {image_id!r} is listed but has no annotation file {rel}")


def _item_for(doc: ET.Element, path: Path, base: Path, items: ItemIndex, problems: Problems) -> ItemRef | None:
    if doc.tag != "annotation":
        problems.add(str(path), f"expected an <annotation> root element, got <{doc.tag}>")
        return None
    filename = (doc.findtext("filename") or "").strip()
    if not filename:
        problems.add(f"{path}: filename", "expected <filename> naming the image")
        return None
    rel_dir = path.parent.relative_to(base).as_posix()
    candidates = [f"{rel_dir}/{filename}"] if rel_dir != "." else []
    item = next((items.get(c) for c in [*candidates, filename] if items.get(c) is not None), None)
    if item is None:
        problems.add(
            f"{path}: filename",
            f"image {filename!r} is not in dataset version {items.version_ref}{items.hint(filename)}",
        )
        return None
    size = doc.find("size")
    try:
        width, height = _number(size, "width"), _number(size, "height")
    except ValueError:
        problems.add(f"{path}: size", "expected numeric <width> and <height>")
        return None
    for label, v, expected in (("width", width, item.width), ("height", height, item.height)):
        if v is None:
            continue
        if v <= 0:
            problems.add(f"{path}: size", f"expected a positive {label}, got {fmt_number(v)}")
            return None
        if expected is not None and v != expected:
            problems.add(f"{path}: size", f"{label} {fmt_number(v)} differs from the image's {expected} px")
            return None
    return item


def _read_objects(
    doc: ET.Element,
    path: Path,
    item: ItemRef,
    sha: str,
    classes: set[str] | None,
    out: list[LabelRow],
    problems: Problems,
) -> None:
    for n, obj in enumerate(doc.findall("object")):
        name = (obj.findtext("name") or "").strip()
        where = f"{path}: object[{n}]" + (f" ({name!r})" if name else "")
        if not name:
            problems.add(where, "expected <name> with the class")
            continue
        if classes is not None and name not in classes:
            problems.add(where, f"class {name!r} is not in the schema (expected one of {', '.join(sorted(classes))})")
            continue
        box = obj.find("bndbox")
        try:
            coords = [_number(box, t) for t in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            problems.add(where, "expected numbers in <bndbox>")
            continue
        if box is None or any(c is None for c in coords):
            problems.add(where, "expected <bndbox> with xmin, ymin, xmax, ymax")
            continue
        xmin, ymin, xmax, ymax = (float(c) for c in coords)  # type: ignore[arg-type]
        problem = check_box(xmin, ymin, xmax - xmin, ymax - ymin, item.width, item.height)
        if problem:
            problems.add(where, problem)
            continue
        flags = {f: obj.findtext(f) for f in _FLAGS if obj.find(f) is not None}
        bad = next((f for f, v in flags.items() if (v or "").strip() not in ("0", "1")), None)
        if bad is not None:
            problems.add(f"{where}: {bad}", f"expected <{bad}> to be 0 or 1, got {(flags[bad] or '').strip()!r}")
            continue
        attrs = {f: 1 for f, v in flags.items() if (v or "").strip() == "1"}
        attrs_json = json.dumps(attrs, sort_keys=True) if attrs else NULL_JSON
        out.append((item.id, name, xmin, ymin, xmax - xmin, ymax - ymin, attrs_json, sha))


def export_voc(data: ExportData, out_dir: Path, *, image_bytes: Callable[[str], bytes] | None = None) -> int:
    """Write ``Annotations/<path>.xml`` per image (no ``<object>`` when it has none); with ``image_bytes``
    also ``JPEGImages/<path>``; ``ImageSets/Main/trainval.txt`` lists every image. Returns the number of
    boxes written."""
    boxes = 0
    image_set = out_dir / "ImageSets" / "Main" / f"{IMAGE_SET}.txt"
    image_set.parent.mkdir(parents=True, exist_ok=True)
    image_set.write_text("".join(f"{item.uri.rsplit('.', 1)[0]}\n" for item in data.items), encoding="utf-8")
    with FileWriter() as files:
        for item in data.items:
            root = ET.Element("annotation")
            ET.SubElement(root, "folder").text = "JPEGImages"
            ET.SubElement(root, "filename").text = item.uri.rsplit("/", 1)[-1]
            size = ET.SubElement(root, "size")
            ET.SubElement(size, "width").text = str(item.width)
            ET.SubElement(size, "height").text = str(item.height)
            ET.SubElement(size, "depth").text = "3"
            for lbl in (b for b in data.labels.get(item.id, []) if b.geometry_type == "box"):
                obj = ET.SubElement(root, "object")
                ET.SubElement(obj, "name").text = lbl.category
                for flag in _FLAGS:
                    if (lbl.attributes or {}).get(flag):
                        ET.SubElement(obj, flag).text = "1"
                bb = ET.SubElement(obj, "bndbox")
                for tag, value in (
                    ("xmin", lbl.x),
                    ("ymin", lbl.y),
                    ("xmax", lbl.x + lbl.w),
                    ("ymax", lbl.y + lbl.h),
                ):
                    ET.SubElement(bb, tag).text = fmt_number(value)
                boxes += 1
            ET.indent(root)
            stem = item.uri.rsplit(".", 1)[0]
            xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            files.write(out_dir / "Annotations" / f"{stem}.xml", xml)
            if image_bytes is not None:
                files.write(out_dir / "JPEGImages" / item.uri, image_bytes(item.uri))
    return boxes
