"""Lineage routes: the whole history of one label; the ancestry and make-up of one version; lineage from
the image (a version's items, and every label of one item with its chain, in one answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from lineage.item_lineage import ItemLineage, ItemSummary
from lineage.provenance import AnnotationLineage, VersionLineage
from service import actions
from service.actions.labels import item_lineage, version_items
from service.api.deps import ContextDep, Offset
from service.api.routes.annotations import ANNOTATION
from service.api.routes.datasets import VERSION
from service.api.routes.paging import Cursor, WithTotal
from service.api.schemas.common import Page, ProjectRef, RowId

router = APIRouter(tags=["lineage"])


@router.get(ANNOTATION + "/lineage", name="annotation_lineage", response_model=AnnotationLineage)
def get_annotation_lineage(project_id: ProjectRef, annotation_id: RowId, ctx: ContextDep) -> AnnotationLineage:
    return actions.annotation_lineage(ctx, project_id, annotation_id)


@router.get(VERSION + "/lineage", name="version_lineage", response_model=VersionLineage)
def get_version_lineage(project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep) -> VersionLineage:
    return actions.version_lineage(ctx, project_id, dataset, version)


@router.get(VERSION + "/items", name="list_version_items", response_model=Page[ItemSummary])
def list_version_items(
    project_id: ProjectRef,
    dataset: str,
    version: str,
    ctx: ContextDep,
    offset: Offset = 0,
    limit: int = Query(24, ge=1, le=200),
    cursor: Cursor = None,
    with_total: WithTotal = None,
) -> dict[str, Any]:
    """The version's items in path order, each with its size and live-label count (to browse thumbnails);
    follow ``next_cursor`` (as ``cursor``) for the next page, or page by ``offset`` as before."""
    return version_items(
        ctx, project_id, dataset, version, offset=offset, limit=limit, cursor=cursor, with_total=with_total
    )


@router.get("/projects/{project_id}/items/{item_id}/lineage", name="item_lineage", response_model=ItemLineage)
def get_item_lineage(project_id: ProjectRef, item_id: RowId, ctx: ContextDep) -> ItemLineage:
    """Every live label of the item, drawable, each with its whole chain: author or model (name, version,
    weights), confidence and threshold, run, reviews with comments, corrections, schema, versions holding it."""
    return item_lineage(ctx, project_id, item_id)
