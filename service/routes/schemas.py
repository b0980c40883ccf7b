"""Label schema routes: list, create, publish a version, read a version, diff two versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lineage import schemas
from lineage.models import LabelSchemaVersion
from service.deps import CallerDep, SessionDep, SettingsDep
from service.routes.datasets import actor_of
from service.schemas import RowId
from service.schemas_lineage import (
    SchemaCreate,
    SchemaDiffPublic,
    SchemaPublic,
    SchemaPublish,
    SchemaVersionPublic,
)

router = APIRouter(tags=["lineage"])
BASE = "/projects/{project_id}/schemas"


def _public(session: SessionDep, project_id: RowId, name: str) -> SchemaPublic:
    schema = schemas.get_schema(session, project_id=project_id, name=name)
    latest = schemas.get_schema_version(session, project_id=project_id, name=name)
    return SchemaPublic(
        id=schema.id or 0,
        name=schema.name,
        created_at=schema.created_at,
        latest=SchemaVersionPublic.model_validate(latest),
    )


@router.get(BASE, name="list_schemas", response_model=list[SchemaPublic])
def list_schemas(project_id: RowId, session: SessionDep) -> list[SchemaPublic]:
    return [_public(session, project_id, s.name) for s in schemas.list_schemas(session, project_id=project_id)]


@router.post(BASE, name="create_schema", response_model=SchemaVersionPublic, status_code=201)
def create_schema(
    project_id: RowId, body: SchemaCreate, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> LabelSchemaVersion:
    return schemas.create_schema(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        name=body.name,
        classes=schemas.parse_classes([c.model_dump() for c in body.classes]),
        repo_dir=settings.repo_dir,
    )


@router.get(BASE + "/{name}", name="get_schema", response_model=SchemaPublic)
def get_schema(project_id: RowId, name: str, session: SessionDep) -> SchemaPublic:
    return _public(session, project_id, name)


@router.post(
    BASE + "/{name}/versions", name="publish_schema_version", response_model=SchemaVersionPublic, status_code=201
)
def publish_schema_version(
    project_id: RowId, name: str, body: SchemaPublish, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> LabelSchemaVersion:
    return schemas.publish_schema_version(
        session,
        actor=actor_of(caller),
        project_id=project_id,
        name=name,
        classes=schemas.parse_classes([c.model_dump() for c in body.classes]),
        repo_dir=settings.repo_dir,
    )


@router.get(BASE + "/{name}/versions/{version}", name="get_schema_version", response_model=SchemaVersionPublic)
def get_schema_version(project_id: RowId, name: str, version: RowId, session: SessionDep) -> LabelSchemaVersion:
    return schemas.get_schema_version(session, project_id=project_id, name=name, version=version)


@router.get(BASE + "/{name}/diff", name="diff_schema_versions", response_model=SchemaDiffPublic)
def diff_schema_versions(
    project_id: RowId,
    name: str,
    session: SessionDep,
    from_version: Annotated[RowId, Query(alias="from", ge=1)],
    to_version: Annotated[RowId, Query(alias="to", ge=1)],
) -> SchemaDiffPublic:
    diff = schemas.diff_schema_versions(
        session, project_id=project_id, name=name, from_version=from_version, to_version=to_version
    )
    return SchemaDiffPublic(from_version=from_version, to_version=to_version, **diff.as_dict())
