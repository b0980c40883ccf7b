"""Image classification labels: class-per-folder (the Ultralytics/ImageNet layout) and a CSV or JSON of
item -> classes (``quality_gates.classfile`` parses both, the same parser the offline CI gate uses).

Read: every record names an item of the version (the key is the image's path relative to the dataset root;
a folder layout's ``<split>/<class>/<image>`` also finds the item ``<class>/<image>`` or, failing that, the
one item whose file name is ``<image>``) and a ``tag`` class of the schema; a single-label schema takes
exactly one class per item. Each (item, class) becomes one ``tag`` row (no box, no geometry). Score columns
are predictions, not labels, and are refused here.

Source identity: a CSV or JSON file is its SHA-256; a folder is its labels, i.e. the sorted list of image
paths (SHA-256 over ``"<path>\\n"`` lines): the image bytes carry no labels and are not read.

Write: ``classes-csv`` a ``labels.csv`` (``item,class``, one row per tag, items by path, classes in schema
order); ``classes-json`` a ``labels.json`` (``{item: class}``, multi-label ``{item: [classes]}``; a single-label
item holding several tags, e.g. from two annotators, is written as a list too rather than losing one);
``classes-folder`` the images themselves under ``<class>/`` (their own path when it already is
``[<split>/]<class>/<image>``, else ``<class>/<file name>``), single-label schemas only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from lineage.errors import InvalidInput
from lineage.formats.common import (
    NULL_JSON,
    ExportData,
    ItemIndex,
    ItemRef,
    ParsedLabels,
    Problems,
    SchemaInfo,
    ShapeRow,
    confined_files,
    sha256_bytes,
)
from quality_gates.classfile import (
    SPLIT_NAMES,
    ClassTable,
    class_table_from_paths,
    read_class_table,
    to_class_labels,
)
from quality_gates.errors import InputFormatError

__all__ = ["CLASS_FORMATS", "export_classes", "parse_classes"]

CLASS_FORMATS = ("classes-folder", "classes-csv", "classes-json")


def _by_file_name(items: ItemIndex) -> dict[str, ItemRef | None]:
    """Items by file name (the path's last part, extension included); ``None`` where two items share one."""
    out: dict[str, ItemRef | None] = {}
    for uri, item in items.by_uri.items():
        name = uri.rsplit("/", 1)[-1]
        out[name] = None if name in out else item
    return out


def _item_for(
    key: str, items: ItemIndex, *, folder: bool, names: dict[str, ItemRef | None] | None = None
) -> ItemRef | None:
    """The item ``key`` names: its path; for a folder layout also ``<class>/<image>`` without the split, else
    the one item whose file name (extension included: ``1.png`` is not ``1.jpg``) is the key's."""
    found = items.get(key)
    if found is not None or not folder:
        return found
    parts = key.split("/")
    if len(parts) == 3 and parts[0].lower() in SPLIT_NAMES:
        found = items.get("/".join(parts[1:]))
        if found is not None:
            return found
    return (names if names is not None else _by_file_name(items)).get(parts[-1])


def parse_classes(
    fmt: str, *, path: Path | None, data: bytes | None, source: str, items: ItemIndex, schema: SchemaInfo | None
) -> ParsedLabels:
    """Parse and validate a classification source; any problem raises ``ImportInvalid`` naming the record."""
    problems = Problems()
    if fmt == "classes-folder":
        if path is None or not path.is_dir():
            raise InvalidInput(f"a class-per-folder import reads a folder; {path} is not one", field="path")
        found = confined_files(path, root=path, problems=problems)
        problems.raise_if_any()
        rels = [p.relative_to(path).as_posix() for p in found]
        table_source = str(path)
    else:
        if data is None:
            if path is None or not path.is_file():
                raise InvalidInput(f"no such file: {path}", field="path")
            data = path.read_bytes()
        table_source = source
    try:
        if fmt == "classes-folder":
            table = class_table_from_paths(rels, source=table_source)
        else:
            table = read_class_table(data or b"", source=table_source, fmt="csv" if fmt == "classes-csv" else "json")
    except InputFormatError as exc:
        problems.add(f"{exc.source}: {exc.field}" if exc.field else exc.source, exc.message)
        problems.raise_if_any()
        raise AssertionError("unreachable") from None
    if table.scores is not None:
        problems.add(table_source, "scores are predictions; import labels (item, class) without a score")
        problems.raise_if_any()
    if fmt == "classes-folder":
        listing = "".join(f"{key}\n" for key in table.items).encode()
        sha = sha256_bytes(listing)
        files = {str(path): sha}
    else:
        sha = sha256_bytes(data or b"")
        files = {source: sha}
    rows = _rows(table, items, schema, problems, sha=sha, folder=fmt == "classes-folder")
    problems.raise_if_any()
    return ParsedLabels(
        format=fmt.replace("-", ""),
        labels=[],
        shapes=rows,
        files=files,
        source_sha256=sha,
        images=len(table.items),
    )


def _rows(
    table: ClassTable, items: ItemIndex, schema: SchemaInfo | None, problems: Problems, *, sha: str, folder: bool
) -> list[ShapeRow]:
    if schema is not None:
        names = [n for n, g in schema.geometry.items() if g == "tag"]
        if not names:
            problems.add(table.source, "the version's schema has no tag classes; classification labels need them")
            return []
        multi = schema.multi_label
    else:
        names, multi = list(table.classes), False
    if folder and multi:
        problems.add(table.source, "a class-per-folder layout holds single-label data; the schema is multi-label")
        return []
    try:
        to_class_labels(table, names, multi_label=multi)
    except InputFormatError as exc:
        problems.add(f"{exc.source}: {exc.field}" if exc.field else exc.source, exc.message)
        return []
    by_name = _by_file_name(items) if folder else None
    refs: list[ItemRef | None] = [_item_for(key, items, folder=folder, names=by_name) for key in table.items]
    by_item: dict[int, str] = {}
    first: dict[int, int] = {}
    for r, i in enumerate(table.item_index.tolist()):
        first.setdefault(i, r)
    for i, ref in enumerate(refs):
        shown = table.records[first[i]] if i in first else json.dumps([table.items[i]], ensure_ascii=False)
        record = f"{table.source}: {shown}"
        if ref is None:
            problems.add(
                record,
                f"item {table.items[i]!r} is not in dataset version {items.version_ref}{items.hint(table.items[i])}",
            )
        elif ref.id in by_item:
            problems.add(record, f"item {table.items[i]!r} is the same image as {by_item[ref.id]!r}")
        else:
            by_item[ref.id] = table.items[i]
    if problems:
        return []
    out: list[ShapeRow] = []
    for row in range(len(table)):
        ref = refs[int(table.item_index[row])]
        assert ref is not None
        cat = table.classes[int(table.class_index[row])]
        out.append((ref.id, cat, "tag", None, None, None, None, NULL_JSON, NULL_JSON, sha))
    order = {n: i for i, n in enumerate(names)}
    out.sort(key=lambda r: (r[0], order.get(r[1], len(order))))
    return out


def _folder_path(uri: str, cls: str) -> str:
    parts = uri.split("/")
    if len(parts) >= 2 and parts[-2] == cls and (len(parts) == 2 or (len(parts) == 3 and parts[0] in SPLIT_NAMES)):
        return uri
    return f"{cls}/{parts[-1]}"


def export_classes(
    data: ExportData, fmt: str, out: Path, *, image_bytes: Callable[[str], bytes] | None = None
) -> tuple[Path, int]:
    """Write the version's tags in ``fmt``; returns the path written and the number of tags."""
    multi = data.schema.multi_label if data.schema is not None else False
    uris = {item.id: item.uri for item in data.items}
    tagged = sorted((uris[i], classes) for i, classes in data.tags.items() if i in uris and classes)
    count = sum(len(c) for _, c in tagged)
    if fmt == "classes-csv":
        target = out if out.suffix == ".csv" else out / "labels.csv"
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["item", "class"])
        writer.writerows([uri, c] for uri, classes in tagged for c in classes)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(buf.getvalue(), encoding="utf-8")
        return target, count
    if fmt == "classes-json":
        target = out if out.suffix == ".json" else out / "labels.json"
        # A single-label item tagged twice (two annotators) keeps both, as a list: never drop a label.
        doc = {uri: list(classes) if multi or len(classes) > 1 else classes[0] for uri, classes in tagged}
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        return target, count
    if fmt != "classes-folder":
        raise InvalidInput(f"unknown classification format {fmt!r}", field="format")
    if multi:
        raise InvalidInput(
            "a class-per-folder export holds single-label data; the schema is multi-label", field="format"
        )
    if image_bytes is None:
        raise InvalidInput("a class-per-folder export is the images themselves: export with the images", field="images")
    written: dict[str, str] = {}
    for uri, classes in tagged:
        if len(classes) != 1:
            raise InvalidInput(f"item {uri!r} has {len(classes)} classes; a folder layout holds one", field="format")
        rel = _folder_path(uri, classes[0])
        if rel in written:
            raise InvalidInput(f"items {written[rel]!r} and {uri!r} would both be written as {rel}", field="format")
        written[rel] = uri
    for rel, uri in written.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image_bytes(uri))
    return out, count
