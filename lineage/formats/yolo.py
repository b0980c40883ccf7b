"""Ultralytics YOLO detection layout: ``data.yaml`` (``names``), ``images/`` and ``labels/``.

A label file ``labels/<path>.txt`` holds one ``class cx cy w h`` line per box, normalised to [0, 1] by the
image's width and height; it belongs to the version's image ``<path>.<ext>`` (or, failing that, the one
image whose file stem matches). An image without a label file, or with an empty one, has no objects.
Pixel boxes are ``x = (cx - w/2)·W``, ``w = w·W``; written back with 6 decimals, as Ultralytics does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lineage.annotations import check_box
from lineage.datasets import IMAGE_EXTENSIONS
from lineage.formats.common import (
    NULL_JSON,
    ExportData,
    ItemIndex,
    ItemRef,
    LabelRow,
    ParsedLabels,
    Problems,
    confined,
    confined_files,
    sha256_bytes,
)

__all__ = ["export_yolo", "parse_yolo"]


def _read_names(root: Path, problems: Problems) -> tuple[dict[int, str], str | None]:
    import yaml

    path = root / "data.yaml"
    if not confined(path, root=root, problems=problems):
        return {}, None
    if not path.is_file():
        problems.add(str(path), "missing data.yaml (expected `names:` listing the classes)")
        return {}, None
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problems.add(where, f"malformed YAML ({getattr(exc, 'problem', None) or exc})")
        return {}, None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return dict(enumerate(names)), sha256_bytes(raw)
    if isinstance(names, dict) and all(isinstance(k, int) and isinstance(v, str) for k, v in names.items()):
        return dict(names), sha256_bytes(raw)
    problems.add(f"{path}: names", "expected `names` as a list of class names or a {id: name} mapping")
    return {}, None


def parse_yolo(root: Path, *, items: ItemIndex, classes: set[str] | None) -> ParsedLabels:
    """Parse and validate a YOLO folder; problems name ``file:line``."""
    problems = Problems()
    if not root.is_dir():
        problems.add(str(root), "expected a folder with data.yaml, images/ and labels/")
        problems.raise_if_any()
    files: dict[str, str] = {}
    names, yaml_sha = _read_names(root, problems)
    if yaml_sha:
        files["data.yaml"] = yaml_sha
    if classes is not None:
        for cid, name in sorted(names.items()):
            if name not in classes:
                problems.add(f"{root / 'data.yaml'}: names[{cid}]", f"class {name!r} is not in the schema")
    labels_dir = root / "labels"
    if not labels_dir.is_dir():
        problems.add(str(labels_dir), "missing labels/ folder")
    label_files = confined_files(labels_dir, root=root, problems=problems, suffix=".txt")
    problems.raise_if_any()

    images_dir = root / "images"
    if images_dir.is_dir():
        for img in sorted(images_dir.rglob("*")):
            if img.is_file() and img.suffix.lower() in IMAGE_EXTENSIONS:
                rel = img.relative_to(images_dir).as_posix()
                if items.get(rel) is None and items.by_stem(rel.rsplit(".", 1)[0]) is None:
                    problems.add(str(img), f"image {rel!r} is not in dataset version {items.version_ref}")

    labels: list[LabelRow] = []
    claimed: dict[int, str] = {}
    images = 0
    for path in label_files:
        rel = path.relative_to(labels_dir).as_posix()
        item = items.by_stem(rel[: -len(".txt")])
        if item is None:
            problems.add(str(path), f"no image for this label file in dataset version {items.version_ref}")
            continue
        if item.id in claimed:
            problems.add(str(path), f"a second label file for image {item.uri!r} (also {claimed[item.id]})")
            continue
        claimed[item.id] = str(path)
        raw = path.read_bytes()
        sha = sha256_bytes(raw)
        files[f"labels/{rel}"] = sha
        images += 1
        _parse_label_file(path, raw, item, names, sha, labels, problems)
    problems.raise_if_any()
    return ParsedLabels(
        format="yolo", labels=labels, files=files, source_sha256=ParsedLabels.folder_hash(files), images=images
    )


def _parse_label_file(
    path: Path,
    raw: bytes,
    item: ItemRef,
    names: dict[int, str],
    sha: str,
    out: list[LabelRow],
    problems: Problems,
) -> None:
    if item.width is None or item.height is None:
        problems.add(str(path), f"image {item.uri!r} has no known size; YOLO boxes cannot be converted")
        return
    width, height = item.width, item.height
    for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{lineno}"
        if len(parts) != 5:
            problems.add(where, f"expected 5 values `class cx cy w h`, got {len(parts)}")
            continue
        try:
            cid = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:])
        except ValueError:
            problems.add(where, "expected an integer class id and four numbers")
            continue
        name = names.get(cid)
        if name is None:
            problems.add(where, f"unknown class id {cid} (data.yaml names ids {', '.join(map(str, sorted(names)))})")
            continue
        if w <= 0 or h <= 0:
            problems.add(where, f"expected a positive width and height, got w={w:g} h={h:g}")
            continue
        x, y, bw, bh = (cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height
        problem = check_box(x, y, bw, bh, width, height)
        if problem:
            problems.add(where, f"{problem} (normalised cx={cx:g} cy={cy:g} w={w:g} h={h:g})")
            continue
        out.append((item.id, name, x, y, bw, bh, NULL_JSON, sha))


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
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "data.yaml").write_text(
        yaml.safe_dump(
            {
                "path": root if root is not None else str(out_dir.resolve()),
                "train": "images",
                "val": "images",
                "names": dict(enumerate(data.classes)),
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    boxes = 0
    for item in data.items:
        lines = []
        assert item.width and item.height, f"{item.uri}: unknown image size"
        for lbl in data.labels.get(item.id, []):
            cx = (lbl.x + lbl.w / 2) / item.width
            cy = (lbl.y + lbl.h / 2) / item.height
            lines.append(f"{ids[lbl.category]} {cx:.6f} {cy:.6f} {lbl.w / item.width:.6f} {lbl.h / item.height:.6f}\n")
        stem = item.uri.rsplit(".", 1)[0]
        label_path = out_dir / "labels" / f"{stem}.txt"
        label_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.write_text("".join(lines), encoding="utf-8")
        boxes += len(lines)
        if image_bytes is not None:
            image_path = out_dir / "images" / item.uri
            image_path.parent.mkdir(parents=True, exist_ok=True)
            image_path.write_bytes(image_bytes(item.uri))
    return boxes
