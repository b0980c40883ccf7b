"""Label schema routes: list, create, publish a version, read a version, diff two versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lineage.models import LabelSchemaVersion
from lineage.schemas import SchemaOptions, parse_classes
from service import actions
from service.actions.datasets import SchemaWithLatest
from service.api.deps import ContextDep
from service.api.routes.paging import CutDep
from service.api.schemas.common import ProjectRef, RowId
from service.api.schemas.lineage import (
    SchemaCreate,
    SchemaDiffPublic,
    SchemaPublic,
    SchemaPublish,
    SchemaVersionPublic,
)

router = APIRouter(tags=["lineage"])
BASE = "/projects/{project_id}/schemas"


def _public(found: SchemaWithLatest) -> SchemaPublic:
    return SchemaPublic(
        id=found.schema.id or 0,
        name=found.schema.name,
        created_at=found.schema.created_at,
        latest=SchemaVersionPublic.model_validate(found.latest),
    )


@router.get(BASE, name="list_schemas", response_model=list[SchemaPublic])
def list_schemas(project_id: ProjectRef, ctx: ContextDep, cut: CutDep) -> list[SchemaPublic]:
    return cut([_public(found) for found in actions.schemas_of(ctx, project_id)])


@router.post(BASE, name="create_schema", response_model=SchemaVersionPublic, status_code=201)
def create_schema(project_id: ProjectRef, body: SchemaCreate, ctx: ContextDep) -> LabelSchemaVersion:
    classes = parse_classes([c.model_dump() for c in body.classes])
    options = SchemaOptions(multi_label=body.multi_label)
    return actions.create_schema(ctx, project_id, name=body.name, classes=classes, options=options)


@router.get(BASE + "/{name}", name="get_schema", response_model=SchemaPublic)
def get_schema(project_id: ProjectRef, name: str, ctx: ContextDep) -> SchemaPublic:
    return _public(actions.schema_of(ctx, project_id, name))


@router.post(
    BASE + "/{name}/versions", name="publish_schema_version", response_model=SchemaVersionPublic, status_code=201
)
def publish_schema_version(
    project_id: ProjectRef, name: str, body: SchemaPublish, ctx: ContextDep
) -> LabelSchemaVersion:
    classes = parse_classes([c.model_dump() for c in body.classes])
    options = None if body.multi_label is None else SchemaOptions(multi_label=body.multi_label)
    return actions.publish_schema(ctx, project_id, name, classes=classes, options=options)


@router.get(BASE + "/{name}/versions/{version}", name="get_schema_version", response_model=SchemaVersionPublic)
def get_schema_version(project_id: ProjectRef, name: str, version: RowId, ctx: ContextDep) -> LabelSchemaVersion:
    return actions.schema_version(ctx, project_id, name, version)


@router.get(BASE + "/{name}/diff", name="diff_schema_versions", response_model=SchemaDiffPublic)
def diff_schema_versions(
    project_id: ProjectRef,
    name: str,
    ctx: ContextDep,
    from_version: Annotated[RowId, Query(alias="from", ge=1)],
    to_version: Annotated[RowId, Query(alias="to", ge=1)],
) -> SchemaDiffPublic:
    diff = actions.schema_diff(ctx, project_id, name, from_version=from_version, to_version=to_version)
    return SchemaDiffPublic(from_version=from_version, to_version=to_version, **diff.as_dict())
