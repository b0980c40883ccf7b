"""Import a COCO / YOLO / VOC source into a dataset version, and export any version back.

An import validates the whole source first (every problem names its file and line or record), then
inserts every box in one transaction through the fast path (``RowWriter``), one audit event per batch and
one for the import. Labels are ``import`` annotations (the source file's SHA-256 and format), or
``human`` ones attributed to ``annotator_id`` (the source hash is kept too). An OpenLineage run event is
emitted when the transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text
from sqlmodel import Session

from lineage import progress
from lineage.audit.chain import next_seq, record_event
from lineage.audit.rowdigest import aggregate
from lineage.context import Actor
from lineage.datasets.catalog import version_ref
from lineage.datasets.items import read_item
from lineage.datasets.states import ensure_writable
from lineage.errors import InvalidInput
from lineage.formats.classes import CLASS_FORMATS, export_classes, parse_classes
from lineage.formats.coco import iter_coco_json, parse_coco
from lineage.formats.common import ExportData, ItemIndex, ItemRef, ParsedLabels, SchemaInfo
from lineage.formats.exportdata import export_data, schema_info
from lineage.formats.results import ExportResult, ImportResult
from lineage.formats.rows import RowWriter
from lineage.formats.tool_import import TOOL_FORMATS, tool_import
from lineage.formats.voc import export_voc, parse_voc
from lineage.formats.yolo import export_yolo, parse_yolo
from lineage.labels.annotations import schema_class_names
from lineage.labels.attribution import check_attribution
from lineage.labels.imports import PriorImport, claim, prior_import, refuse_race
from lineage.labels.labelset import mark_stale
from lineage.models import (
    Dataset,
    DatasetVersion,
    LabelImport,
    ProvenanceKind,
)
from lineage.openlineage import LineageEmitter
from lineage.openlineage_jobs import emit_import

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "ExportResult",
    "ImportResult",
    "export_data",
    "export_version",
    "import_annotations",
]

Format = Literal["coco", "yolo", "voc", "classes-folder", "classes-csv", "classes-json", "labelstudio", "cvat"]
FORMATS: tuple[Format, ...] = (
    "coco",
    "yolo",
    "voc",
    "classes-folder",
    "classes-csv",
    "classes-json",
    "labelstudio",
    "cvat",
)
#: Formats an export writes (a Label Studio export is read, not written).
EXPORT_FORMATS: tuple[Format, ...] = tuple(f for f in FORMATS if f != "labelstudio")
DEFAULT_BATCH = 50_000


def item_index(session: Session, dataset: Dataset, version: DatasetVersion) -> ItemIndex:
    # Core text query: a version may hold a million items, and ORM row handling would dominate.
    rows = session.connection().execute(
        text("SELECT id, uri, width, height FROM items WHERE dataset_version_id = :v"), {"v": version.id}
    )
    return ItemIndex(
        (ItemRef(i, uri, w, h) for i, uri, w, h in rows.tuples()), version_ref=version_ref(dataset, version)
    )


def box_classes(session: Session, version: DatasetVersion) -> set[str] | None:
    classes = schema_class_names(session, version)
    return None if classes is None else {name for name, geometry in classes.items() if geometry == "box"}


def parse_source(
    fmt: str,
    *,
    items: ItemIndex,
    classes: set[str] | None,
    path: Path | None,
    data: bytes | None,
    source: str,
    schema: SchemaInfo | None = None,
) -> ParsedLabels:
    if fmt in CLASS_FORMATS:
        return parse_classes(fmt, path=path, data=data, source=source, items=items, schema=schema)
    if fmt == "coco":
        if data is None:
            if path is None or not path.is_file():
                raise InvalidInput(f"no such file: {path}", field="path")
            data = path.read_bytes()
        return parse_coco(data, source=source, items=items, classes=classes, schema=schema)
    if path is None:
        raise InvalidInput(f"a {fmt} import reads a folder; give its path", field="path")
    if fmt == "yolo":
        return parse_yolo(path, items=items, classes=classes, schema=schema)
    if fmt == "voc":
        return parse_voc(path, items=items, classes=classes)
    raise InvalidInput(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", field="format")


def import_annotations(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    fmt: str,
    path: Path | None = None,
    data: bytes | None = None,
    source_name: str | None = None,
    annotator_id: int | None = None,
    emitter: LineageEmitter | None = None,
    batch_size: int = DEFAULT_BATCH,
    reimport: bool = False,
    user_map: dict[str, str] | None = None,
) -> ImportResult:
    """Import a source into ``version`` (all or nothing; idempotent per content, ``lineage.labels.imports``).

    ``path``: the COCO file or the YOLO/VOC folder; a COCO document may come as ``data`` (bytes) instead,
    named ``source_name``. ``annotator_id``: record the labels as ``human`` work of that user, who must be
    a member with an annotating role, attributed by an ML engineer or admin (``lineage.labels.attribution``).
    ``batch_size`` (50,000): rows per insert batch and per audit event. A source whose SHA-256 was already
    imported into the version with the same attribution writes nothing (``status="already_imported"``)
    unless ``reimport``; the same bytes attributed to another annotator are another delivery (the next
    generation).
    """
    if fmt in TOOL_FORMATS:
        return tool_import(
            session, actor=actor, version=version, fmt=fmt, path=path, data=data, source_name=source_name,
            annotator_id=annotator_id, user_map=user_map, emitter=emitter,
        )  # fmt: skip
    if user_map:
        raise InvalidInput("a user map (--users) is for labelstudio and cvat imports", field="users")
    dataset = session.get(Dataset, version.dataset_id)
    assert dataset is not None
    ensure_writable(session, actor=actor, version=version, attempted=f"importing {fmt} annotations")
    attributed_to = (
        check_attribution(session, actor=actor, project_id=dataset.project_id, annotator=annotator_id)
        if annotator_id is not None
        else None
    )
    source = source_name or (str(path) if path is not None else f"{fmt} upload")
    with progress.phase("read and check the labels"):
        parsed = parse_source(
            fmt,
            items=item_index(session, dataset, version),
            classes=box_classes(session, version),
            path=path,
            data=data,
            source=source,
            schema=schema_info(session, version),
        )
    kind = ProvenanceKind.human if annotator_id is not None else ProvenanceKind.import_
    ref = version_ref(dataset, version)

    def already(prior: PriorImport) -> ImportResult:
        return ImportResult(
            format=fmt,
            version=ref,
            annotations=0,
            images=parsed.images,
            files=len(parsed.files),
            source_sha256=parsed.source_sha256,
            kind=kind.value,
            batches=0,
            status="already_imported",
            import_id=prior.import_id,
            generation=prior.generation,
            duplicate_of=prior.describe(),
        )

    same = prior_import(
        session, version_id=version.id or 0, source_sha256=parsed.source_sha256, annotator_id=annotator_id
    )
    if same is not None and not reimport:
        return already(same)
    prior = prior_import(session, version_id=version.id or 0, source_sha256=parsed.source_sha256)
    record = LabelImport(
        dataset_version_id=version.id or 0,
        source_sha256=parsed.source_sha256,
        generation=prior.generation + 1 if prior is not None else 0,
        format=parsed.format,
        source=source[:1000],
        kind=kind.value,
        annotator_id=annotator_id,
        annotations=parsed.count,
        images=parsed.images,
        clipped=parsed.clipped,
        id_map=parsed.id_map,
        created_by=actor.user_id,
    )
    if not claim(session, record):
        # A concurrent import of the same source committed first (PostgreSQL; SQLite serialises writers).
        winner = prior_import(
            session, version_id=version.id or 0, source_sha256=parsed.source_sha256, annotator_id=annotator_id
        )
        if reimport or winner is None:  # None: the concurrent one was another annotator's delivery
            raise refuse_race(ref, parsed.source_sha256)
        return already(winner)
    writer = RowWriter(session)
    labels = parsed.labels
    batches = 0
    chunks: list[tuple[bool, int, Sequence[Any]]] = [
        (False, start, labels[start : start + batch_size]) for start in range(0, len(labels), batch_size)
    ]
    shapes = parsed.shapes
    chunks += [(True, start, shapes[start : start + batch_size]) for start in range(0, len(shapes), batch_size)]
    with progress.phase("write labels", total=len(labels) + len(shapes)) as ticker:
        for is_shape, start, chunk in chunks:
            seq = next_seq(session)
            write = writer.write_shapes if is_shape else writer.write_boxes
            digests = write(
                chunk,
                version_id=version.id or 0,
                kind=kind,
                annotator_id=annotator_id,
                source_format=parsed.format,
                created_by=actor.user_id,
                audit_seq=seq,
            )
            batches += 1
            offset = len(labels) if is_shape else 0
            record_event(
                session,
                actor,
                "annotation.import.batch",
                ("dataset_version", str(version.id)),
                project_id=dataset.project_id,
                payload={
                    "version": version_ref(dataset, version),
                    "batch": batches,
                    "source_records": [offset + start, offset + start + len(chunk) - 1],
                    "rows": len(chunk),
                    "source_sha256": parsed.source_sha256,
                    "sealed": {"seq": seq, "count": len(digests), "digest": aggregate(digests)},
                },
                expect_seq=seq,
            )
            ticker.advance(len(chunk))
    mark_stale(session, version_id=version.id or 0)
    result = ImportResult(
        format=fmt,
        version=ref,
        annotations=parsed.count,
        images=parsed.images,
        files=len(parsed.files),
        source_sha256=parsed.source_sha256,
        kind=kind.value,
        batches=batches,
        import_id=record.id,
        generation=record.generation,
        clipped=parsed.clipped,
    )
    event = record_event(
        session,
        actor,
        "annotation.import",
        ("dataset_version", str(version.id)),
        project_id=dataset.project_id,
        payload={
            "version": result.version,
            "format": fmt,
            "source": source,
            "source_sha256": parsed.source_sha256,
            "files": parsed.files if len(parsed.files) <= 1000 else {"count": len(parsed.files)},
            "annotations": parsed.count,
            "images": parsed.images,
            "kind": kind.value,
            "annotator_id": annotator_id,
            "imported_by": actor.username,
            "attributed_to": attributed_to.username if attributed_to is not None else None,
            "batches": batches,
            "import_id": record.id,
            "generation": record.generation,
            "clipped": parsed.clipped,
        },
        rows=[record],
    )
    emit_import(
        session,
        dataset=dataset,
        version=version,
        result=asdict(result),
        source=source,
        actor=actor,
        audit_seq=event.seq,
        emitter=emitter,
    )
    return result


def export_version(
    session: Session,
    *,
    dataset: Dataset,
    version: DatasetVersion,
    fmt: str,
    out: Path,
    repo_dir: Path | None = None,
    include_images: bool = False,
    yolo_root: str | None = None,
    id_map: dict[str, dict[str, int]] | None = None,
) -> ExportResult:
    """Write the version in ``fmt`` to ``out`` (a ``.json`` file for COCO, a folder otherwise).

    ``include_images`` copies the images too, read from DVC at the version's revision (``repo_dir``);
    ``yolo_root`` is the ``path`` written in YOLO's data.yaml (default: the absolute output folder);
    ``id_map``: the COCO ids to keep (see :func:`export_data`).
    """
    with progress.phase("read the labels"):
        data = export_data(session, dataset=dataset, version=version, id_map=id_map)
    with progress.phase(f"write {fmt}", total=len(data.items)) as writing:
        result = _write_export(
            data, fmt, out, version=version, repo_dir=repo_dir, include_images=include_images, yolo_root=yolo_root
        )
        writing.advance(len(data.items))
    return result


def _write_export(
    data: ExportData,
    fmt: str,
    out: Path,
    *,
    version: DatasetVersion,
    repo_dir: Path | None,
    include_images: bool,
    yolo_root: str | None,
) -> ExportResult:
    reader: Callable[[str], bytes] | None = None
    if include_images:
        if repo_dir is None:
            raise InvalidInput("exporting images needs the workspace repository", field="repo_dir")

        def reader(uri: str) -> bytes:
            return read_item(repo_dir=repo_dir, version=version, uri=uri)

    boxes = sum(len(v) for v in data.labels.values())
    if fmt in CLASS_FORMATS:
        out, tags = export_classes(data, fmt, out, image_bytes=reader)
        return ExportResult(
            format=fmt, version=data.version_ref, path=str(out), images=len(data.items), annotations=tags
        )
    if fmt == "coco":
        target = out if out.suffix == ".json" else out / "annotations.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as fh:
            fh.writelines(iter_coco_json(data))
        if reader is not None:
            for item in data.items:
                image_path = target.parent / "images" / item.uri
                image_path.parent.mkdir(parents=True, exist_ok=True)
                image_path.write_bytes(reader(item.uri))
        out = target
    elif fmt == "yolo":
        export_yolo(data, out, image_bytes=reader, root=yolo_root)
    elif fmt == "voc":
        export_voc(data, out, image_bytes=reader)
    elif fmt == "cvat":
        from lineage.formats.cvat import export_cvat

        target = out if out.suffix == ".xml" else out / "annotations.xml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(export_cvat(data))
        if reader is not None:
            for item in data.items:
                image_path = target.parent / "images" / item.uri
                image_path.parent.mkdir(parents=True, exist_ok=True)
                image_path.write_bytes(reader(item.uri))
        out = target
    else:
        raise InvalidInput(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", field="format")
    return ExportResult(format=fmt, version=data.version_ref, path=str(out), images=len(data.items), annotations=boxes)
