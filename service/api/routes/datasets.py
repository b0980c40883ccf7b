"""Dataset and version routes: create, read, change state, import and export labels (each the verb of
``service.actions`` of its name).

Golden datasets are answered with 404 to annotators, as if they did not exist.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from lineage.errors import InvalidInput
from lineage.formats.transfer import ImportResult
from lineage.models import Dataset, DatasetVersion
from service import actions
from service.actions.context import Context
from service.api.deps import ContextDep
from service.api.routes.paging import CutDep
from service.api.routes.streaming import coco_chunks, in_background, temp_folder, zip_chunks
from service.api.schemas.common import ProjectRef, RowId
from service.api.schemas.lineage import (
    DatasetCreate,
    DatasetPublic,
    ExportFormat,
    ImportFormat,
    StateChange,
    VersionCreate,
    VersionPublic,
)

router = APIRouter(tags=["lineage"])
BASE = "/projects/{project_id}/datasets"
VERSION = BASE + "/{dataset}/versions/{version}"


@router.get(BASE, name="list_datasets", response_model=list[DatasetPublic])
def list_datasets(project_id: ProjectRef, ctx: ContextDep, cut: CutDep) -> list[Dataset]:
    return cut(actions.datasets_of(ctx, project_id))


@router.post(BASE, name="create_dataset", response_model=DatasetPublic, status_code=201)
def create_dataset(project_id: ProjectRef, body: DatasetCreate, ctx: ContextDep) -> Dataset:
    return actions.create_dataset(
        ctx, project_id, name=body.name, description=body.description, is_golden=body.is_golden
    )


@router.get(BASE + "/{dataset}", name="get_dataset", response_model=DatasetPublic)
def get_dataset(project_id: ProjectRef, dataset: str, ctx: ContextDep) -> Dataset:
    return actions.dataset_of(ctx, project_id, dataset)


@router.get(BASE + "/{dataset}/versions", name="list_dataset_versions", response_model=list[VersionPublic])
def list_dataset_versions(project_id: ProjectRef, dataset: str, ctx: ContextDep, cut: CutDep) -> list[DatasetVersion]:
    return cut(actions.versions_of(ctx, project_id, dataset))


@router.post(BASE + "/{dataset}/versions", name="create_dataset_version", response_model=VersionPublic, status_code=201)
def create_dataset_version(
    project_id: ProjectRef, dataset: str, body: VersionCreate, ctx: ContextDep
) -> DatasetVersion:
    return actions.create_version(
        ctx,
        project_id,
        dataset,
        version=body.version,
        parent=body.parent,
        schema=body.schema_ref,
        incoming=body.source_dir,
        inherit_labels=body.inherit_labels,
    )


@router.get(VERSION, name="get_dataset_version", response_model=VersionPublic)
def get_dataset_version(project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep) -> DatasetVersion:
    return actions.version_of(ctx, project_id, dataset, version)


@router.post(VERSION + "/state", name="change_version_state", response_model=VersionPublic)
def change_version_state(
    project_id: ProjectRef, dataset: str, version: str, body: StateChange, ctx: ContextDep
) -> DatasetVersion:
    return actions.change_state(ctx, project_id, dataset, version, state=body.state, reason=body.reason)


@router.post(VERSION + "/imports", name="import_annotations", response_model=ImportResult, status_code=201)
def import_annotations(
    project_id: ProjectRef,
    dataset: str,
    version: str,
    ctx: ContextDep,
    response: Response,
    format: Annotated[
        ImportFormat,
        Form(description="coco, yolo, voc, classes-folder, classes-csv, classes-json, labelstudio or cvat"),
    ],
    file: Annotated[
        UploadFile | None,
        File(description="a COCO JSON file, a classes-csv/-json table, a Label Studio JSON export or a CVAT XML file"),
    ] = None,
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
    users: Annotated[
        str | None,
        Form(
            description="labelstudio/cvat: a JSON object mapping the tool's users (its user id or email) to "
            'labelgate usernames or emails, e.g. {"3": "alice"}'
        ),
    ] = None,
) -> ImportResult:
    """Import an uploaded file (COCO, classes-csv, classes-json), or a file or folder (YOLO, VOC, class
    folders) under ``incoming/``; all or nothing.

    Idempotent per content: a source this version already holds (same SHA-256) writes nothing and answers
    200 with ``status: already_imported`` and the earlier import in ``duplicate_of``; a new import is 201.
    """
    result = actions.import_labels(
        ctx,
        project_id,
        dataset,
        version,
        fmt=format,
        incoming=path,
        upload=file.file.read() if file is not None else None,
        source_name=file.filename or "upload.json" if file is not None else None,
        annotator=annotator,
        reimport=reimport,
        user_map=actions.user_map_of(users.encode() if users is not None else None, source="users"),
    )
    if result.status == "already_imported":
        response.status_code = 200
    return result


_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".bmp": "image/bmp",
                ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff"}  # fmt: skip


@router.get(
    "/projects/{project_id}/items/{item_id}/image",
    name="get_item_image",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "the item's bytes as the version committed them"}},
)
def get_item_image(
    project_id: ProjectRef,
    item_id: RowId,
    ctx: ContextDep,
    max_side: int | None = Query(
        None, ge=64, le=1024, description="a thumbnail (JPEG for a JPEG item, else PNG) at most this many px a side"
    ),
) -> Response:
    """An item's image, exactly as its version committed it (what its labels are drawn over), or with
    ``max_side`` a downscaled copy to browse a version's items. A version's bytes never change, so both are
    cacheable; the ETag names the bytes served."""
    uri, content = actions.item_image(ctx, project_id, item_id, max_side=max_side)
    media = _IMAGE_TYPES.get(Path(uri).suffix.lower(), "application/octet-stream")
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    return Response(content, media_type=media, headers={"Cache-Control": "private, max-age=3600", "ETag": etag})


@router.get(VERSION + "/export", name="export_annotations", response_model=None)
def export_annotations(
    project_id: ProjectRef,
    dataset: str,
    version: str,
    ctx: ContextDep,
    request: Request,
    format: ExportFormat = Query("coco"),
) -> Response:
    """COCO as JSON; YOLO, VOC, CVAT and classes-csv/classes-json as a zip of their label files (images are
    not included, so classes-folder, which is the images, is refused). Both stream: the labels are read after
    the caller is authorized, in a session of the export's own, and sent as they are encoded or zipped."""
    actions.export_target(ctx, project_id, dataset, version)  # refused or not found: answered before any byte
    if format == "classes-folder":
        raise InvalidInput(
            "a class-per-folder export is the images themselves: the API exports labels only", field="format"
        )
    if format == "coco":
        doc = in_background(request, ctx, lambda c: actions.coco_document(c, project_id, dataset, version))
        return StreamingResponse(coco_chunks(doc), media_type="application/json")
    tmp = temp_folder()

    def write(c: Context) -> Path:
        actions.export_labels(c, project_id, dataset, version, fmt=format, out=tmp, yolo_root=".")
        return tmp

    filename = f"{dataset}-{version}-{format}.zip"
    return StreamingResponse(
        zip_chunks(in_background(request, ctx, write), tmp),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
