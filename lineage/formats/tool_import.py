"""``labelgate import --format labelstudio|cvat``: a labelling tool's file through its reader
(``lineage.formats.labelstudio``, ``lineage.formats.cvat``) onto the record (``lineage.labels.work``), and
the user map that says who the tool's people are.

**User map** (``--users FILE``): a CSV of ``tool user,labelgate user`` lines (a header line naming
``tool_user`` is skipped), or a JSON object ``{"tool user": "labelgate user"}``. The tool user is its id as
the export gives it (Label Studio's numeric user id, CVAT's username) or its email; the labelgate user a
username or an email. Bad lines are refused naming the line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlmodel import Session

from lineage.context import Actor
from lineage.errors import InvalidInput
from lineage.formats.common import ItemIndex, ItemRef, sha256_bytes
from lineage.formats.exportdata import schema_info
from lineage.formats.results import ImportResult
from lineage.formats.work import WorkBatch
from lineage.labels.work import WorkResult, record_work
from lineage.models import Dataset, DatasetVersion, User
from lineage.openlineage import LineageEmitter

__all__ = ["TOOL_FORMATS", "import_tool_source", "parse_tool_source", "read_user_map", "tool_import"]

TOOL_FORMATS = ("labelstudio", "cvat")
MAX_USER_MAP_BYTES = 1 << 20


def read_user_map(data: bytes, *, source: str) -> dict[str, str]:
    """The user map in ``data`` (module docstring); ``InvalidInput`` naming the line when malformed."""
    if len(data) > MAX_USER_MAP_BYTES:
        raise InvalidInput(f"{source}: a user map is at most 1 MiB", field="users")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{source}: a user map is UTF-8 text", field="users") from None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{source}: line {exc.lineno} column {exc.colno}: {exc.msg}", field="users") from None
        if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()):
            raise InvalidInput(f"{source}: every key and value of the user map is a non-empty string", field="users")
        return dict(value)
    mapping: dict[str, str] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if n == 1 and row[0].strip().casefold() in {"tool_user", "tool user", "from"}:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise InvalidInput(f"{source}: line {n}: expected 'tool user,labelgate user', got {row!r}", field="users")
        key = row[0].strip()
        if key in mapping and mapping[key] != row[1].strip():
            raise InvalidInput(f"{source}: line {n}: {key!r} is mapped twice", field="users")
        mapping[key] = row[1].strip()
    return mapping


def _items(session: Session, dataset: Dataset, version: DatasetVersion) -> ItemIndex:
    from sqlalchemy import text

    rows = session.connection().execute(
        text("SELECT id, uri, width, height FROM items WHERE dataset_version_id = :v"), {"v": version.id}
    )
    return ItemIndex((ItemRef(i, uri, w, h) for i, uri, w, h in rows), version_ref=f"{dataset.name}@{version.version}")


def parse_tool_source(
    session: Session,
    *,
    version: DatasetVersion,
    fmt: str,
    data: bytes,
    source: str,
    annotator: str | None = None,
) -> WorkBatch:
    """Read a tool's file against the version's items and schema."""
    dataset = session.get(Dataset, version.dataset_id)
    assert dataset is not None
    items = _items(session, dataset, version)
    schema = schema_info(session, version)
    if fmt == "labelstudio":
        from lineage.formats.labelstudio import parse_labelstudio

        if annotator is not None:
            raise InvalidInput(
                "a Label Studio export names each annotation's author; map its users with --users instead of "
                "--annotator",
                field="annotator",
            )
        return parse_labelstudio(data, source=source, items=items, schema=schema)
    if fmt == "cvat":
        from lineage.formats.cvat import parse_cvat

        return parse_cvat(data, source=source, items=items, schema=schema, annotator=annotator)
    raise InvalidInput(f"unknown tool format {fmt!r} (expected one of {', '.join(TOOL_FORMATS)})", field="format")


def import_tool_source(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    fmt: str,
    path: Path | None,
    data: bytes | None,
    source_name: str | None,
    annotator: str | None = None,
    user_map: dict[str, str] | None = None,
    emitter: LineageEmitter | None = None,
) -> WorkResult:
    """Import a Label Studio JSON export or a CVAT XML file (one file, from ``path`` or ``data``)."""
    if data is None:
        if path is None or not path.is_file():
            raise InvalidInput(f"no such file: {path}", field="path")
        data = path.read_bytes()
    source = source_name or (str(path) if path is not None else f"{fmt} upload")
    batch = parse_tool_source(session, version=version, fmt=fmt, data=data, source=source, annotator=annotator)
    if not batch.source_sha256:
        batch.source_sha256 = sha256_bytes(data)
    return record_work(session, actor=actor, version=version, batch=batch, user_map=user_map, emitter=emitter)


def tool_import(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    fmt: str,
    path: Path | None,
    data: bytes | None,
    source_name: str | None,
    annotator_id: int | None,
    user_map: dict[str, str] | None,
    emitter: LineageEmitter | None,
) -> ImportResult:
    """A Label Studio or CVAT file, each label by its own author (``lineage.formats.tool_import``)."""
    annotator = None
    if annotator_id is not None:
        user = session.get(User, annotator_id)
        annotator = user.username if user is not None else str(annotator_id)
    work = import_tool_source(
        session, actor=actor, version=version, fmt=fmt, path=path, data=data, source_name=source_name,
        annotator=annotator, user_map=user_map, emitter=emitter,
    )  # fmt: skip
    units = work.units_added + work.units_updated + work.units_skipped
    return ImportResult(
        format=fmt,
        version=work.version,
        annotations=work.labels_written,
        images=units,
        files=1,
        source_sha256=work.source_sha256,
        kind="tool",
        batches=0,
        status="imported" if work.changed else "already_imported",
        import_id=work.import_id,
        duplicate_of=None if work.changed else f"{work.units_skipped} unit(s) already on the record, none newer",
        work=work.to_dict(),
    )
