"""Annotation routes: the live labels of a version, bulk writes, corrections and reviews."""

from __future__ import annotations

from fastapi import APIRouter, Query

from lineage.models import Annotation, Review
from service import actions
from service.actions.labels import Correction, LabelSpec
from service.api.deps import ContextDep, Offset
from service.api.routes.datasets import VERSION
from service.api.routes.paging import Cursor, WithTotal
from service.api.schemas.common import Page, ProjectRef, RowId
from service.api.schemas.lineage import (
    AnnotationPublic,
    BulkAnnotations,
    BulkResult,
    CorrectionIn,
    ReviewIn,
    ReviewPublic,
)

router = APIRouter(tags=["lineage"])
ANNOTATION = "/projects/{project_id}/annotations/{annotation_id}"


@router.get(VERSION + "/annotations", name="list_version_annotations", response_model=Page[AnnotationPublic])
def list_version_annotations(
    project_id: ProjectRef,
    dataset: str,
    version: str,
    ctx: ContextDep,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
    cursor: Cursor = None,
    with_total: WithTotal = None,
) -> dict[str, object]:
    """The live label set, in id order, a page at a time: follow ``next_cursor`` (as ``cursor``), a keyset
    page that costs the same at the millionth label as at the first; ``offset`` works as before."""
    return actions.live_labels(
        ctx, project_id, dataset, version, offset=offset, limit=limit, cursor=cursor, with_total=with_total
    )


@router.post(VERSION + "/annotations/bulk", name="bulk_create_annotations", response_model=BulkResult, status_code=201)
def bulk_create_annotations(
    project_id: ProjectRef, dataset: str, version: str, body: BulkAnnotations, ctx: ContextDep
) -> BulkResult:
    """Add up to 5000 labels (boxes, polygons, masks, keypoints, tags) at once, all or nothing. Annotators
    write ``human`` labels (their own) only."""
    labels = [
        LabelSpec(
            category=lbl.category,
            bbox=None if lbl.bbox is None else (lbl.bbox[0], lbl.bbox[1], lbl.bbox[2], lbl.bbox[3]),
            item_id=lbl.item_id,
            item_uri=lbl.item_uri,
            attributes=lbl.attributes,
            confidence=lbl.confidence,
            geometry_type=lbl.geometry_type,
            geometry=lbl.geometry,
        )
        for lbl in body.annotations
    ]
    ids = actions.add_labels(
        ctx,
        project_id,
        dataset,
        version,
        labels=labels,
        kind=body.provenance.kind,
        autolabel_run_id=body.provenance.autolabel_run_id,
        generator_config_hash=body.provenance.generator_config_hash,
    )
    return BulkResult(created=len(ids), ids=ids)


def _correction(body: CorrectionIn) -> Correction:
    return Correction.of_box(body.category, body.bbox, body.attributes, body.geometry)


@router.post(ANNOTATION + "/corrections", name="correct_annotation", response_model=AnnotationPublic, status_code=201)
def correct_annotation(project_id: ProjectRef, annotation_id: RowId, body: CorrectionIn, ctx: ContextDep) -> Annotation:
    """Append a human label that supersedes this one (the old one stays in the history)."""
    return actions.correct(ctx, project_id, annotation_id, correction=_correction(body), reason=body.reason)


@router.post(ANNOTATION + "/reviews", name="review_annotation", response_model=ReviewPublic, status_code=201)
def review_annotation(project_id: ProjectRef, annotation_id: RowId, body: ReviewIn, ctx: ContextDep) -> Review:
    correction = _correction(body.correction) if body.correction is not None else None
    return actions.review(
        ctx, project_id, annotation_id, decision=body.decision, comment=body.comment, correction=correction
    )
