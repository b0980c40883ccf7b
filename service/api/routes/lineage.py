"""Lineage routes: the whole history of one label; the ancestry and make-up of one version."""

from __future__ import annotations

from fastapi import APIRouter

from lineage.provenance import AnnotationLineage, VersionLineage
from service import actions
from service.api.deps import ContextDep
from service.api.routes.annotations import ANNOTATION
from service.api.routes.datasets import VERSION
from service.api.schemas.common import RowId

router = APIRouter(tags=["lineage"])


@router.get(ANNOTATION + "/lineage", name="annotation_lineage", response_model=AnnotationLineage)
def get_annotation_lineage(project_id: RowId, annotation_id: RowId, ctx: ContextDep) -> AnnotationLineage:
    return actions.annotation_lineage(ctx, project_id, annotation_id)


@router.get(VERSION + "/lineage", name="version_lineage", response_model=VersionLineage)
def get_version_lineage(project_id: RowId, dataset: str, version: str, ctx: ContextDep) -> VersionLineage:
    return actions.version_lineage(ctx, project_id, dataset, version)
