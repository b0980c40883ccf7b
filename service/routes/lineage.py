"""Lineage routes: the whole history of one label; the ancestry and make-up of one version."""

from __future__ import annotations

from fastapi import APIRouter

from lineage.provenance import AnnotationLineage, VersionLineage, annotation_lineage, version_lineage
from service.deps import CallerDep, SessionDep
from service.routes.annotations import ANNOTATION, visible_annotation
from service.routes.datasets import VERSION, visible_version
from service.schemas import RowId

router = APIRouter(tags=["lineage"])


@router.get(ANNOTATION + "/lineage", name="annotation_lineage", response_model=AnnotationLineage)
def get_annotation_lineage(
    project_id: RowId, annotation_id: RowId, session: SessionDep, caller: CallerDep
) -> AnnotationLineage:
    visible_annotation(session, caller, project_id, annotation_id)
    return annotation_lineage(session, annotation_id=annotation_id)


@router.get(VERSION + "/lineage", name="version_lineage", response_model=VersionLineage)
def get_version_lineage(
    project_id: RowId, dataset: str, version: str, session: SessionDep, caller: CallerDep
) -> VersionLineage:
    _, v = visible_version(session, caller, project_id, dataset, version)
    return version_lineage(session, version_id=v.id or 0)
