"""Dataset and version routes: create, read, change state, import and export labels.

Golden datasets are answered with 404 to annotators, as if they did not exist.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from lineage import datasets
from lineage.context import Actor
from lineage.errors import InvalidInput, NotFound
from lineage.formats import import_annotations as run_import
from lineage.formats.transfer import ImportResult, export_data, export_version
from lineage.labels.attribution import check_attribution
from lineage.models import Dataset, DatasetVersion, VersionState
from lineage.openlineage import LineageEmitter, workspace_emitter
from lineage.schemas import resolve_schema_ref
from service.deps import Caller, CallerDep, SessionDep, SettingsDep
from service.schemas import RowId
from service.schemas_lineage import (
    DatasetCreate,
    DatasetPublic,
    ExportFormat,
    StateChange,
    VersionCreate,
    VersionPublic,
)
from service.settings import Settings

router = APIRouter(tags=["lineage"])
BASE = "/projects/{project_id}/datasets"
VERSION = BASE + "/{dataset}/versions/{version}"
# State changes the API and CLI make; ``released`` goes through the release flow (gates, approvals).
DOOR_STATES = frozenset({VersionState.candidate, VersionState.rejected, VersionState.deprecated})


def actor_of(caller: Caller) -> Actor:
    assert caller.actor is not None, "project routes always carry an authenticated actor"
    return caller.actor


def visible_dataset(session: SessionDep, caller: Caller, project_id: RowId, name: str) -> Dataset:
    dataset = datasets.get_dataset(session, project_id=project_id, name=name)
    if datasets.hidden_from(dataset, roles=caller.roles, is_admin=bool(caller.actor and caller.actor.is_admin)):
        raise NotFound(f"no dataset named {name!r} in this project", field="dataset")
    return dataset


def visible_version(
    session: SessionDep, caller: Caller, project_id: RowId, name: str, version: str
) -> tuple[Dataset, DatasetVersion]:
    dataset = visible_dataset(session, caller, project_id, name)
    return dataset, datasets.get_version(session, dataset=dataset, version=version)


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


def emitter_for(settings: Settings) -> LineageEmitter:
    return workspace_emitter(settings.workspace)


@router.get(BASE, name="list_datasets", response_model=list[DatasetPublic])
def list_datasets(project_id: RowId, session: SessionDep, caller: CallerDep) -> list[Dataset]:
    admin = bool(caller.actor and caller.actor.is_admin)
    return [
        d
        for d in datasets.list_datasets(session, project_id=project_id)
        if not datasets.hidden_from(d, roles=caller.roles, is_admin=admin)
    ]


@router.post(BASE, name="create_dataset", response_model=DatasetPublic, status_code=201)
def create_dataset(project_id: RowId, body: DatasetCreate, session: SessionDep, caller: CallerDep) -> Dataset:
    return datasets.create_dataset(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        name=body.name,
        description=body.description,
        is_golden=body.is_golden,
    )


@router.get(BASE + "/{dataset}", name="get_dataset", response_model=DatasetPublic)
def get_dataset(project_id: RowId, dataset: str, session: SessionDep, caller: CallerDep) -> Dataset:
    return visible_dataset(session, caller, project_id, dataset)


@router.get(BASE + "/{dataset}/versions", name="list_dataset_versions", response_model=list[VersionPublic])
def list_dataset_versions(
    project_id: RowId, dataset: str, session: SessionDep, caller: CallerDep
) -> list[DatasetVersion]:
    return datasets.list_versions(session, dataset=visible_dataset(session, caller, project_id, dataset))


@router.post(BASE + "/{dataset}/versions", name="create_dataset_version", response_model=VersionPublic, status_code=201)
def create_dataset_version(
    project_id: RowId, dataset: str, body: VersionCreate, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> DatasetVersion:
    ds = visible_dataset(session, caller, project_id, dataset)
    parent = datasets.get_version(session, dataset=ds, version=body.parent) if body.parent else None
    schema_id = resolve_schema_ref(session, project_id=project_id, ref=body.schema_ref).id if body.schema_ref else None
    return datasets.create_version(
        session,
        actor=actor_of(caller),
        dataset=ds,
        version=body.version,
        repo_dir=settings.repo_dir,
        source_dir=incoming_path(settings, body.source_dir, field="source_dir") if body.source_dir else None,
        parent=parent,
        schema_version_id=schema_id,
        inherit_labels=body.inherit_labels,
    )


@router.get(VERSION, name="get_dataset_version", response_model=VersionPublic)
def get_dataset_version(
    project_id: RowId, dataset: str, version: str, session: SessionDep, caller: CallerDep
) -> DatasetVersion:
    return visible_version(session, caller, project_id, dataset, version)[1]


@router.post(VERSION + "/state", name="change_version_state", response_model=VersionPublic)
def change_version_state(
    project_id: RowId,
    dataset: str,
    version: str,
    body: StateChange,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
) -> DatasetVersion:
    _, v = visible_version(session, caller, project_id, dataset, version)
    if body.state not in DOOR_STATES:
        raise InvalidInput(
            f"the API moves versions to {', '.join(sorted(s.value for s in DOOR_STATES))}; "
            "a release goes through the release flow (gates and approvals)",
            field="state",
        )
    return datasets.change_state(
        session, actor=actor_of(caller), version=v, to=body.state, repo_dir=settings.repo_dir, reason=body.reason
    )


@router.post(VERSION + "/imports", name="import_annotations", response_model=ImportResult, status_code=201)
def import_annotations(
    project_id: int,
    dataset: str,
    version: str,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    response: Response,
    format: Annotated[ExportFormat, Form(description="coco, yolo or voc")],
    file: Annotated[UploadFile | None, File(description="a COCO JSON file")] = None,
    path: Annotated[str | None, Form(description="a source under the workspace's incoming/ folder")] = None,
    annotator: Annotated[
        str | None,
        Form(
            description="record the labels as this user's human work: a project member holding annotator, "
            "reviewer or ml_engineer (attributing needs ml_engineer or admin)"
        ),
    ] = None,
    reimport: Annotated[
        bool,
        Form(description="import again a source (same SHA-256) this version already holds, doubling its labels"),
    ] = False,
) -> ImportResult:
    """Import a COCO upload, or a COCO file / YOLO or VOC folder under ``incoming/``; all or nothing.

    Idempotent per content: a source this version already holds (same SHA-256) writes nothing and answers
    200 with ``status: already_imported`` and the earlier import in ``duplicate_of``; a new import is 201.
    """
    _, v = visible_version(session, caller, project_id, dataset, version)
    if (file is None) == (path is None):
        raise InvalidInput("give either an uploaded file or a path under incoming/", field="file")
    if file is not None and format != "coco":
        raise InvalidInput("uploads are COCO files; YOLO and VOC folders are imported by path", field="format")
    actor = actor_of(caller)
    attributed = (
        check_attribution(session, actor=actor, project_id=project_id, annotator=annotator) if annotator else None
    )
    result = run_import(
        session,
        actor=actor,
        version=v,
        fmt=format,
        path=incoming_path(settings, path) if path is not None else None,
        data=file.file.read() if file is not None else None,
        source_name=file.filename or "upload.json" if file is not None else None,
        annotator_id=attributed.id if attributed is not None else None,
        emitter=emitter_for(settings),
        reimport=reimport,
    )
    if result.status == "already_imported":
        response.status_code = 200
    return result


@router.get(VERSION + "/export", name="export_annotations", response_model=None)
def export_annotations(
    project_id: RowId,
    dataset: str,
    version: str,
    session: SessionDep,
    caller: CallerDep,
    format: ExportFormat = Query("coco"),
) -> Response:
    """COCO as JSON; YOLO and VOC as a zip of their label files (images are not included)."""
    ds, v = visible_version(session, caller, project_id, dataset, version)
    if format == "coco":
        from lineage.formats.coco import export_coco

        body: dict[str, Any] = export_coco(export_data(session, dataset=ds, version=v))
        return JSONResponse(body)
    with tempfile.TemporaryDirectory() as tmp:
        export_version(session, dataset=ds, version=v, fmt=format, out=Path(tmp), yolo_root=".")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(tmp).as_posix())
    filename = f"{ds.name}-{v.version}-{format}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
