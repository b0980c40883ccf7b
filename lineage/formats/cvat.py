"""CVAT for images 1.1 XML: read into a :class:`~lineage.formats.work.WorkBatch` (who made which shapes on
which frame, and when) and write a version's live labels back (``export_cvat``).

**Read** (task, job and project exports; ``_cvat_meta`` reads the meta, ``_cvat_shapes`` the shapes, both
say how). The file is read safely (``_cvat_xml``: no DTD or entities, a size bound, ``file:line:column``
for malformed XML). Each ``<image id name width height>`` names a version item by its path (folders
included) and must have its size; ``<track>`` elements (CVAT for video) are refused. Every problem names
``file:line`` and the element, and nothing is returned on any problem.

**Units.** One unit per image and kind of author: ``task:<task id>/frame:<image id>`` for the human shapes
(``source`` manual, semi-auto, file or consensus; an image without any is an empty unit, so a frame whose
shapes were all deleted in CVAT supersedes its earlier labels), and ``.../auto`` for the machine shapes
(``source="auto"``; recorded as an import, ``made.source = "auto"``). A job export that does not name its
task keys its units ``job:<job id>/frame:<n>``, and a project export's image ids are CVAT's project-wide
frame numbers: import one kind of export per task. ``updated_at``/``created_at``: the task's (or job's)
``updated``/``created``; a unit's labels are the shapes in file order (``result`` their index). The author
of a human unit: the assignee the meta names for the frame (``_cvat_meta``), else ``annotator`` (the
CLI's ``--annotator``), else the file is refused naming the task. ``origin`` (default ``"cvat"``) names
the CVAT server, so units of one task are the same across its exports.
"""

from __future__ import annotations

from dataclasses import replace

from lineage.formats._cvat_export import export_cvat
from lineage.formats._cvat_meta import Meta, read_meta
from lineage.formats._cvat_shapes import REFUSED_TAGS, SHAPE_TAGS, ShapeContext, read_shape
from lineage.formats._cvat_xml import MAX_CVAT_BYTES, Node, read_xml
from lineage.formats.common import (
    AttributesRefused,
    ItemIndex,
    ItemRef,
    Problems,
    SchemaInfo,
    attributes_json,
    sha256_bytes,
)
from lineage.formats.work import Author, ToolLabel, WorkBatch, WorkUnit

__all__ = ["DEFAULT_ORIGIN", "export_cvat", "parse_cvat"]

DEFAULT_ORIGIN = "cvat"
_HUMAN_SOURCES = ("manual", "semi-auto", "file", "consensus")
_SKIPPED = ("version", "meta")


def parse_cvat(
    data: bytes,
    *,
    source: str,
    items: ItemIndex,
    schema: SchemaInfo | None,
    annotator: str | None = None,
    origin: str | None = None,
    max_bytes: int = MAX_CVAT_BYTES,
) -> WorkBatch:
    """Read a CVAT for images 1.1 file; raises ``ImportInvalid`` listing every problem with its place."""
    problems = Problems()
    root = read_xml(data, source=source, max_bytes=max_bytes)
    meta = read_meta(root, source=source, problems=problems)
    problems.raise_if_any()
    assert meta is not None
    batch = WorkBatch(tool="cvat", origin=origin or DEFAULT_ORIGIN, source=source, source_sha256=sha256_bytes(data))
    batch.authors.update(meta.authors)
    if annotator:
        batch.authors.setdefault(annotator, _author(annotator))
    claimed: dict[tuple[str, str], int] = {}
    unassigned: dict[str, int] = {}
    for node in root.children:
        if node.tag == "image":
            _read_image(node, meta, batch, source, items, schema, annotator, claimed, unassigned, problems)
        elif node.tag == "track":
            problems.add(
                f"{source}:{node.line}: <track>",
                "tracks are CVAT for video; export the task as CVAT for images 1.1",
            )
        elif node.tag not in _SKIPPED:
            problems.add(f"{source}:{node.line}: <{node.tag}>", "unexpected element under <annotations>")
    for ref, line in unassigned.items():
        problems.add(
            f"{source}:{line}",
            f"the file names no assignee for {ref}'s frames: pass --annotator with the person who labelled them",
        )
    problems.raise_if_any()
    used = {u.author for u in batch.units if u.author}
    batch.authors = {k: a for k, a in batch.authors.items() if k in used}
    return batch


def _author(key: str) -> Author:
    return Author(key=key, email=key) if "@" in key else Author(key=key, username=key)


def _image_item(node: Node, where: str, items: ItemIndex, problems: Problems) -> ItemRef | None:
    name = node.attrib.get("name", "")
    if not name:
        problems.add(where, "expected name= with the image's path")
        return None
    item = items.get(name) or items.get(name.removeprefix("./"))
    if item is None:
        problems.add(where, f"image {name[:200]!r} is not in dataset version {items.version_ref}{items.hint(name)}")
        return None
    for key, expected in (("width", item.width), ("height", item.height)):
        text = node.attrib.get(key, "").strip()
        if not text:
            continue
        if not text.isdigit() or int(text) <= 0:
            problems.add(where, f"expected {key} as a positive integer, got {text[:40]!r}")
            return None
        if expected is not None and int(text) != expected:
            problems.add(where, f"{key} {text} differs from the image's {expected} px")
            return None
    return item


def _read_image(
    node: Node,
    meta: Meta,
    batch: WorkBatch,
    source: str,
    items: ItemIndex,
    schema: SchemaInfo | None,
    annotator: str | None,
    claimed: dict[tuple[str, str], int],
    unassigned: dict[str, int],
    problems: Problems,
) -> None:
    frame_text = node.attrib.get("id", "").strip()
    where = f"{source}:{node.line}: <image id={frame_text[:20]!r} name={node.attrib.get('name', '')[:200]!r}>"
    if not frame_text.isdigit():
        problems.add(where, f"expected id= as the frame number, got {frame_text[:40]!r}")
        return
    frame = int(frame_text)
    task_key = 0
    if meta.kind == "project":
        tid = node.attrib.get("task_id", "").strip()
        if not tid.isdigit() or int(tid) not in meta.tasks:
            problems.add(where, f"task_id {tid[:40]!r} is not one of the project's tasks in <meta>")
            return
        task_key = int(tid)
    elif 0 not in meta.tasks:
        return  # the meta's own problem is already listed
    task = meta.tasks[task_key]
    item = _image_item(node, where, items, problems)
    if item is None:
        return
    ref = f"{task.ref}/frame:{frame}"
    if (task.ref, frame_text) in claimed or (task.ref, item.uri) in claimed:
        problems.add(
            where, f"a second <image> for {ref} or {item.uri!r} (also line {claimed.get((task.ref, frame_text))})"
        )
        return
    claimed[(task.ref, frame_text)] = claimed[(task.ref, item.uri)] = node.line
    ctx = ShapeContext(item.width, item.height, schema, meta.attr_types)
    human: list[ToolLabel] = []
    machine: list[ToolLabel] = []
    sources: set[str] = set()
    for child in node.children:
        label = _read_child(child, source, ctx, schema, problems)
        if label is None:
            continue
        shape_source = child.attrib.get("source", "manual").strip() or "manual"
        (machine if shape_source == "auto" else human).append(label)
        if shape_source != "auto":
            sources.add(shape_source)
    author = meta.author_of(task_key, frame) or annotator
    if author is None:
        unassigned.setdefault(task.ref, node.line)
    common = {"task": task.task, "uri": item.uri, "created_at": task.created, "updated_at": task.updated}
    batch.units.append(
        WorkUnit(
            ref=ref,
            kind="human",
            author=author,
            source=sources.pop() if len(sources) == 1 else "manual",
            labels=_numbered(human),
            where=where,
            **common,  # type: ignore[arg-type]
        )
    )
    if machine:
        batch.units.append(
            WorkUnit(ref=f"{ref}/auto", kind="machine", source="auto", labels=_numbered(machine), where=where, **common)  # type: ignore[arg-type]
        )


def _numbered(labels: list[ToolLabel]) -> list[ToolLabel]:
    return [replace(label, result=str(i)) for i, label in enumerate(labels)]


def _read_child(
    child: Node, source: str, ctx: ShapeContext, schema: SchemaInfo | None, problems: Problems
) -> ToolLabel | None:
    category = child.attrib.get("label", "")
    where = f"{source}:{child.line}: <{child.tag} label={category[:100]!r}>"
    if child.tag in REFUSED_TAGS:
        problems.add(where, REFUSED_TAGS[child.tag])
        return None
    if child.tag not in SHAPE_TAGS:
        problems.add(where, f"unexpected element <{child.tag[:40]}> in an <image>")
        return None
    shape_source = child.attrib.get("source", "manual").strip() or "manual"
    if shape_source not in (*_HUMAN_SOURCES, "auto"):
        problems.add(where, f"source {shape_source[:40]!r} (expected manual, semi-auto, auto, file or consensus)")
        return None
    problem = _class_problem(child.tag, category, schema)
    if problem:
        problems.add(where, problem)
        return None
    try:
        label = read_shape(child, category, shape_source, ctx)
        if label.attributes:
            attributes_json(label.attributes)
    except AttributesRefused as exc:
        problems.add(where, str(exc))
        return None
    except ValueError as exc:
        problems.add(where, str(exc))
        return None
    return label


def _class_problem(tag: str, category: str, schema: SchemaInfo | None) -> str | None:
    want = {"box": "box", "polygon": "polygon", "points": "keypoints", "skeleton": "keypoints", "mask": "mask"}
    geometry = want.get(tag, "tag")
    if not category:
        return "expected label= with the class"
    if schema is None:
        return None if geometry == "box" else f"a <{tag}> needs a schema with a {geometry} class {category!r}"
    known = schema.geometry.get(category)
    if known is None:
        names = ", ".join(sorted(schema.geometry))
        return f"class {category[:100]!r} is not in the schema (expected one of {names[:400]})"
    if known != geometry:
        return f"class {category!r} is a {known} class in the schema, got a <{tag}>"
    return None
