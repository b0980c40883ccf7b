"""Verbs of the lineage record: label schemas and their versions, datasets and their versions (create,
read, change state), importing and exporting labels, and the lineage of a label or a version.

A door names a source on its own machine (``path``, ``source_dir``: the local CLI), a source under the
workspace's ``incoming/`` folder (``incoming``: what an API client may name on the server), or sends the
bytes (``upload``: a COCO document posted to the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage import datasets, provenance, schemas
from lineage.errors import InvalidInput, NotFound
from lineage.formats import import_annotations
from lineage.formats.coco import export_coco
from lineage.formats.tool_import import read_user_map
from lineage.formats.transfer import ExportResult, ImportResult, export_data, export_version
from lineage.labels import get_annotation
from lineage.labels.attribution import check_attribution
from lineage.labels.labelset import manifests_for_display
from lineage.models import Dataset, DatasetVersion, Item, LabelSchema, LabelSchemaVersion, VersionState
from lineage.openlineage import workspace_emitter
from lineage.provenance import AnnotationLineage, VersionLineage
from lineage.schemas import LabelClass, SchemaDiff, SchemaOptions
from service.actions.context import Context, authorize
from service.actions.model_lineage import hides_golden
from service.actions.versions import find_dataset, find_version
from service.settings import Settings

__all__ = [
    "DOOR_STATES",
    "SchemaWithLatest",
    "annotation_lineage",
    "change_state",
    "coco_document",
    "create_dataset",
    "create_schema",
    "create_version",
    "dataset_of",
    "datasets_of",
    "export_labels",
    "export_target",
    "import_labels",
    "incoming_path",
    "item_image",
    "publish_schema",
    "schema_diff",
    "schema_of",
    "schema_version",
    "schemas_of",
    "version_lineage",
    "version_of",
    "versions_of",
]

#: The states a door moves a version to; ``released`` goes through the release flow (gates, approvals).
DOOR_STATES = frozenset({VersionState.candidate, VersionState.rejected, VersionState.deprecated})


@dataclass(frozen=True, slots=True)
class SchemaWithLatest:
    """A label schema and its latest version (what the API shows of a schema)."""

    schema: LabelSchema
    latest: LabelSchemaVersion


def incoming_path(settings: Settings, relative: str, *, field: str = "path") -> Path:
    """A server-side source, confined to ``<workspace>/incoming`` (an API client names no other path);
    ``field`` names the input in errors."""
    root = (settings.workspace / "incoming").resolve()
    try:
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise InvalidInput("the path must lie inside the workspace's incoming/ folder", field=field)
        found = path.exists()
    except (OSError, ValueError) as exc:  # a name the file system refuses (too long, a NUL byte)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(f"not a usable path under incoming/ ({why})", field=field) from None
    if not found:
        raise InvalidInput(f"no such file or folder under incoming/: {relative}", field=field)
    return path


# --- schemas ---------------------------------------------------------------------------------------------


def _with_latest(ctx: Context, project_id: int, name: str) -> SchemaWithLatest:
    schema = schemas.get_schema(ctx.session, project_id=project_id, name=name)
    latest = schemas.get_schema_version(ctx.session, project_id=project_id, name=name)
    return SchemaWithLatest(schema, latest)


def schemas_of(ctx: Context, project_id: int) -> list[SchemaWithLatest]:
    """The project's schemas by name, each with its latest version."""
    authorize(ctx, "list_schemas", project_id=project_id)
    return [_with_latest(ctx, project_id, s.name) for s in schemas.list_schemas(ctx.session, project_id=project_id)]


def schema_of(ctx: Context, project_id: int, name: str) -> SchemaWithLatest:
    authorize(ctx, "get_schema", project_id=project_id)
    return _with_latest(ctx, project_id, name)


def schema_version(ctx: Context, project_id: int, name: str, version: int) -> LabelSchemaVersion:
    authorize(ctx, "get_schema_version", project_id=project_id)
    return schemas.get_schema_version(ctx.session, project_id=project_id, name=name, version=version)


def schema_diff(ctx: Context, project_id: int, name: str, *, from_version: int, to_version: int) -> SchemaDiff:
    authorize(ctx, "diff_schema_versions", project_id=project_id)
    return schemas.diff_schema_versions(
        ctx.session, project_id=project_id, name=name, from_version=from_version, to_version=to_version
    )


def create_schema(
    ctx: Context, project_id: int, *, name: str, classes: list[LabelClass], options: SchemaOptions | None = None
) -> LabelSchemaVersion:
    """Create schema ``name`` with its version 1 (committed to the workspace's repository)."""
    authorize(ctx, "create_schema", project_id=project_id)
    return schemas.create_schema(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        name=name,
        classes=classes,
        options=options,
        repo_dir=ctx.settings.repo_dir,
    )


def publish_schema(
    ctx: Context, project_id: int, name: str, *, classes: list[LabelClass], options: SchemaOptions | None = None
) -> LabelSchemaVersion:
    """Publish the next version of schema ``name`` (its ``diff`` says what changed from the latest); ``options``
    None keeps the latest version's."""
    authorize(ctx, "publish_schema_version", project_id=project_id)
    return schemas.publish_schema_version(
        ctx.session,
        actor=ctx.actor,
        project_id=project_id,
        name=name,
        classes=classes,
        options=options,
        repo_dir=ctx.settings.repo_dir,
    )


# --- datasets and versions -------------------------------------------------------------------------------


def datasets_of(ctx: Context, project_id: int) -> list[Dataset]:
    """The project's datasets by name (golden ones hidden from annotators)."""
    roles = authorize(ctx, "list_datasets", project_id=project_id)
    found = datasets.list_datasets(ctx.session, project_id=project_id)
    return [d for d in found if not datasets.hidden_from(d, roles=roles, is_admin=ctx.user.is_admin)]


def dataset_of(ctx: Context, project_id: int, name: str) -> Dataset:
    authorize(ctx, "get_dataset", project_id=project_id)
    return find_dataset(ctx, project_id, name)


def create_dataset(
    ctx: Context, project_id: int, *, name: str, description: str = "", is_golden: bool = False
) -> Dataset:
    authorize(ctx, "create_dataset", project_id=project_id)
    return datasets.create_dataset(
        ctx.session, actor=ctx.actor, project_id=project_id, name=name, description=description, is_golden=is_golden
    )


def versions_of(ctx: Context, project_id: int, dataset: str) -> list[DatasetVersion]:
    """The dataset's versions, oldest first."""
    authorize(ctx, "list_dataset_versions", project_id=project_id)
    return datasets.list_versions(ctx.session, dataset=find_dataset(ctx, project_id, dataset))


def version_of(ctx: Context, project_id: int, dataset: str, version: str) -> DatasetVersion:
    authorize(ctx, "get_dataset_version", project_id=project_id)
    return find_version(ctx, project_id, dataset, version)[1]


def create_version(
    ctx: Context,
    project_id: int,
    dataset: str,
    *,
    version: str,
    parent: str | None = None,
    schema: str | None = None,
    source_dir: Path | None = None,
    incoming: str | None = None,
    inherit_labels: bool = True,
    link_source: bool = True,
) -> DatasetVersion:
    """Create version ``version`` of the dataset from the images of ``source_dir`` (a folder on this
    machine) or ``incoming`` (a folder under the workspace's ``incoming/``), else the parent's: hard-link
    them (or, with ``link_source`` False, copy them) into the DVC cache, commit and push. ``parent`` names the
    parent version; ``schema`` is ``NAME`` or ``NAME@VERSION`` (default: the parent's); ``inherit_labels``
    (True) copies the parent's live labels."""
    authorize(ctx, "create_dataset_version", project_id=project_id)
    ds = find_dataset(ctx, project_id, dataset)
    session = ctx.session
    parent_version = datasets.get_version(session, dataset=ds, version=parent) if parent else None
    schema_id = schemas.resolve_schema_ref(session, project_id=project_id, ref=schema).id if schema else None
    if incoming:
        source_dir = incoming_path(ctx.settings, incoming, field="source_dir")
    return datasets.create_version(
        session,
        actor=ctx.actor,
        dataset=ds,
        version=version,
        repo_dir=ctx.settings.repo_dir,
        source_dir=source_dir,
        parent=parent_version,
        schema_version_id=schema_id,
        inherit_labels=inherit_labels,
        link_source=link_source,
    )


def change_state(
    ctx: Context, project_id: int, dataset: str, version: str, *, state: VersionState, reason: str = ""
) -> DatasetVersion:
    """Move the version to one of :data:`DOOR_STATES` (``InvalidInput`` for any other; a release goes
    through the release flow); entering ``candidate`` pins its manifest hash."""
    authorize(ctx, "change_version_state", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    if state not in DOOR_STATES:
        raise InvalidInput(
            f"the API moves versions to {', '.join(sorted(s.value for s in DOOR_STATES))}; "
            "a release goes through the release flow (gates and approvals)",
            field="state",
        )
    return datasets.change_state(
        ctx.session, actor=ctx.actor, version=v, to=state, repo_dir=ctx.settings.repo_dir, reason=reason
    )


# --- labels in and out -----------------------------------------------------------------------------------


#: The formats whose source is one file, so it can be uploaded (the others are folders, imported by path).
UPLOAD_FORMATS = frozenset({"coco", "classes-csv", "classes-json", "labelstudio", "cvat"})


def import_labels(
    ctx: Context,
    project_id: int,
    dataset: str,
    version: str,
    *,
    fmt: str,
    path: Path | None = None,
    incoming: str | None = None,
    upload: bytes | None = None,
    source_name: str | None = None,
    annotator: str | None = None,
    reimport: bool = False,
    console: bool = False,
    user_map: dict[str, str] | None = None,
) -> ImportResult:
    """Import labels into the version from one source, all or nothing: ``path`` (a COCO file or a YOLO or
    VOC folder on this machine), ``incoming`` (the same under the workspace's ``incoming/``) or ``upload``
    (a COCO document's bytes, named ``source_name``). ``annotator`` records them as that member's human
    work (attributing needs ml_engineer or admin). A source the version already holds (same SHA-256) writes
    nothing (``status="already_imported"``) unless ``reimport``. ``console`` also prints the OpenLineage
    event on stderr."""
    authorize(ctx, "import_annotations", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    if (upload is None) == (path is None and incoming is None):
        raise InvalidInput("give either an uploaded file or a path under incoming/", field="file")
    if upload is not None and fmt not in UPLOAD_FORMATS:
        raise InvalidInput(
            "uploads are single files (COCO, classes-csv, classes-json, labelstudio, cvat); YOLO, VOC and class "
            "folders are imported by path",
            field="format",
        )
    attributed = (
        check_attribution(ctx.session, actor=ctx.actor, project_id=project_id, annotator=annotator)
        if annotator
        else None
    )
    return import_annotations(
        ctx.session,
        actor=ctx.actor,
        version=v,
        fmt=fmt,
        path=incoming_path(ctx.settings, incoming) if incoming is not None else path,
        data=upload,
        source_name=source_name,
        annotator_id=attributed.id if attributed is not None else None,
        emitter=workspace_emitter(ctx.settings.workspace, console=console),
        reimport=reimport,
        user_map=user_map,
    )


def user_map_of(data: bytes | None, *, source: str) -> dict[str, str] | None:
    """A tool import's user map (``lineage.formats.tool_import.read_user_map``), None when not given."""
    return None if data is None else read_user_map(data, source=source)


def export_labels(
    ctx: Context,
    project_id: int,
    dataset: str,
    version: str,
    *,
    fmt: str,
    out: Path,
    include_images: bool = False,
    yolo_root: str | None = None,
) -> ExportResult:
    """Write the version's live labels in ``fmt`` to ``out`` (a ``.json`` file for COCO, a folder
    otherwise); ``include_images`` also writes the images, read from DVC; ``yolo_root`` is the ``path`` of
    YOLO's data.yaml (default: ``out``, absolute)."""
    authorize(ctx, "export_annotations", project_id=project_id)
    ds, v = find_version(ctx, project_id, dataset, version)
    return export_version(
        ctx.session,
        dataset=ds,
        version=v,
        fmt=fmt,
        out=out,
        repo_dir=ctx.settings.repo_dir,
        include_images=include_images,
        yolo_root=yolo_root,
    )


def item_image(ctx: Context, project_id: int, item_id: int, *, max_side: int | None = None) -> tuple[str, bytes]:
    """An item's URI and its bytes exactly as its version committed them (to draw its labels over). Items of
    datasets the caller may not see (golden ones, for annotators) are not found.

    ``max_side`` (None: the original bytes): a thumbnail whose longer side is at most this many px (never
    enlarged), a JPEG for a JPEG item and a PNG otherwise; the URI returned then ends in ``.jpg`` or ``.png``
    to say which. An item that is not a readable image is ``InvalidInput`` (field ``max_side``)."""
    authorize(ctx, "get_item_image", project_id=project_id)
    item = ctx.session.get(Item, item_id)
    version = ctx.session.get(DatasetVersion, item.dataset_version_id) if item is not None else None
    dataset = ctx.session.get(Dataset, version.dataset_id) if version is not None else None
    if item is None or version is None or dataset is None or dataset.project_id != project_id:
        raise NotFound(f"no item {item_id} in this project", field="item_id")
    _, v = find_version(ctx, project_id, dataset.name, version.version)  # the caller's visibility rules
    content = datasets.read_item(repo_dir=ctx.settings.repo_dir, version=v, uri=item.uri)
    if max_side is None:
        return item.uri, content
    import io  # only thumbnails need Pillow: imported here

    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as picture:
            jpeg = picture.format == "JPEG"
            picture.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
            small = picture.convert("RGB" if jpeg else "RGBA")
            small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"item {item_id} ({item.uri}) is not an image a thumbnail can be made of: {exc}",
                           field="max_side") from None  # fmt: skip
    out = io.BytesIO()
    if jpeg:
        small.save(out, format="JPEG", quality=85, optimize=True)
    else:
        small.save(out, format="PNG", optimize=True)
    return str(Path(item.uri).with_suffix(".jpg" if jpeg else ".png")), out.getvalue()


def export_target(ctx: Context, project_id: int, dataset: str, version: str) -> tuple[Dataset, DatasetVersion]:
    """The dataset and version an export of the caller's would read, found as :func:`export_labels` finds
    them (golden ones hidden from annotators): a door that streams the export checks this before its first
    byte, since a refusal cannot be answered after it."""
    authorize(ctx, "export_annotations", project_id=project_id)
    return find_version(ctx, project_id, dataset, version)


def coco_document(ctx: Context, project_id: int, dataset: str, version: str) -> dict[str, Any]:
    """The version's live labels as a COCO instances document."""
    authorize(ctx, "export_annotations", project_id=project_id)
    ds, v = find_version(ctx, project_id, dataset, version)
    return export_coco(export_data(ctx.session, dataset=ds, version=v))


# --- lineage ---------------------------------------------------------------------------------------------


def annotation_lineage(ctx: Context, project_id: int, annotation_id: int) -> AnnotationLineage:
    """The whole chain of a label of the project (``NotFound`` when it is another project's, or its
    dataset is hidden from the caller)."""
    authorize(ctx, "annotation_lineage", project_id=project_id)
    _, v, d = get_annotation(ctx.session, annotation_id)
    if d.project_id != project_id:
        raise NotFound(f"no annotation {annotation_id}", field="annotation_id")
    find_version(ctx, project_id, d.name, v.version)
    hide = hides_golden(ctx, project_id)
    return provenance.annotation_lineage(ctx.session, annotation_id=annotation_id, hide_golden=hide)


def version_lineage(ctx: Context, project_id: int, dataset: str, version: str) -> VersionLineage:
    """The version's ancestry, label shares by provenance and DVC identity."""
    authorize(ctx, "version_lineage", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    hide = hides_golden(ctx, project_id)
    with manifests_for_display(ctx.session):  # a page and a CLI view: they show the manifest, not decide on it
        return provenance.version_lineage(ctx.session, version_id=v.id or 0, hide_golden=hide)
