"""Annotation routes: the live labels of a version, bulk writes, corrections and reviews."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlmodel import select

from lineage.errors import InvalidInput, NotFound
from lineage.labels import annotations as ann
from lineage.models import Annotation, Dataset, DatasetVersion, Item, ProvenanceKind, Review, Role
from service.deps import Caller, CallerDep, Offset, SessionDep
from service.routes.datasets import VERSION, actor_of, visible_version
from service.schemas import Page, RowId
from service.schemas_lineage import (
    AnnotationPublic,
    BulkAnnotations,
    BulkResult,
    CorrectionIn,
    LabelIn,
    ReviewIn,
    ReviewPublic,
)

router = APIRouter(tags=["lineage"])
ANNOTATION = "/projects/{project_id}/annotations/{annotation_id}"


def visible_annotation(
    session: SessionDep, caller: Caller, project_id: RowId, annotation_id: RowId
) -> tuple[Annotation, DatasetVersion, Dataset]:
    """The annotation, if it belongs to this project and its dataset is visible to the caller (else 404)."""
    a, v, d = ann.get_annotation(session, annotation_id)
    if d.project_id != project_id:
        raise NotFound(f"no annotation {annotation_id}", field="annotation_id")
    visible_version(session, caller, project_id, d.name, v.version)
    return a, v, d


@router.get(VERSION + "/annotations", name="list_version_annotations", response_model=Page[AnnotationPublic])
def list_version_annotations(
    project_id: RowId,
    dataset: str,
    version: str,
    session: SessionDep,
    caller: CallerDep,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, object]:
    """The live label set, in id order."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    vid = v.id or 0
    return {
        "items": ann.list_live(session, version_id=vid, offset=offset, limit=limit),
        "total": ann.count_live(session, version_id=vid),
        "offset": offset,
        "limit": limit,
    }


def _labels(session: SessionDep, version: DatasetVersion, body: list[LabelIn]) -> list[ann.NewLabel]:
    uris = {lbl.item_uri for lbl in body if lbl.item_uri is not None}
    by_uri = {
        uri: item_id
        for item_id, uri in session.exec(
            select(Item.id, Item.uri).where(Item.dataset_version_id == version.id, Item.uri.in_(uris))  # type: ignore[attr-defined]
        )
    }
    labels = []
    for n, lbl in enumerate(body):
        if (lbl.item_id is None) == (lbl.item_uri is None):
            raise InvalidInput("name the item by item_id or item_uri (one of them)", field=f"annotations[{n}]")
        item_id = lbl.item_id if lbl.item_id is not None else by_uri.get(lbl.item_uri or "")
        if item_id is None:
            raise InvalidInput(f"no item {lbl.item_uri!r} in this version", field=f"annotations[{n}].item_uri")
        x, y, w, h = lbl.bbox
        labels.append(
            ann.NewLabel(
                item_id=item_id,
                category=lbl.category,
                x=x,
                y=y,
                w=w,
                h=h,
                attributes=lbl.attributes,
                confidence=lbl.confidence,
            )
        )
    return labels


@router.post(VERSION + "/annotations/bulk", name="bulk_create_annotations", response_model=BulkResult, status_code=201)
def bulk_create_annotations(
    project_id: RowId, dataset: str, version: str, body: BulkAnnotations, session: SessionDep, caller: CallerDep
) -> BulkResult:
    """Add up to 5000 boxes at once, all or nothing. Annotators write ``human`` labels (their own) only."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    actor = actor_of(caller)
    kind = body.provenance.kind
    if kind != "human" and not actor.is_admin and Role.ml_engineer not in caller.roles:
        raise InvalidInput(
            f"{kind} labels are written by ML engineers; annotators write human labels", field="provenance.kind"
        )
    if kind == "human":
        provenance = ann.Provenance(kind=ProvenanceKind.human, annotator_id=actor.user_id)
    elif kind == "model":
        if body.provenance.autolabel_run_id is None:
            raise InvalidInput("model labels name their auto-label run", field="provenance.autolabel_run_id")
        provenance = ann.model_provenance(session, autolabel_run_id=body.provenance.autolabel_run_id, version=v)
    else:
        provenance = ann.Provenance(
            kind=ProvenanceKind.synthetic, generator_config_hash=body.provenance.generator_config_hash
        )
    ids = ann.add_annotations(
        session, actor=actor, version=v, labels=_labels(session, v, body.annotations), provenance=provenance
    )
    return BulkResult(created=len(ids), ids=ids)


def _change(body: CorrectionIn) -> ann.BoxChange:
    x, y, w, h = body.bbox if body.bbox is not None else (None, None, None, None)
    return ann.BoxChange(category=body.category, x=x, y=y, w=w, h=h, attributes=body.attributes)


@router.post(ANNOTATION + "/corrections", name="correct_annotation", response_model=AnnotationPublic, status_code=201)
def correct_annotation(
    project_id: RowId, annotation_id: RowId, body: CorrectionIn, session: SessionDep, caller: CallerDep
) -> Annotation:
    """Append a human label that supersedes this one (the old one stays in the history)."""
    visible_annotation(session, caller, project_id, annotation_id)
    return ann.correct_annotation(
        session, actor=actor_of(caller), annotation_id=annotation_id, change=_change(body), reason=body.reason
    )


@router.post(ANNOTATION + "/reviews", name="review_annotation", response_model=ReviewPublic, status_code=201)
def review_annotation(
    project_id: RowId, annotation_id: RowId, body: ReviewIn, session: SessionDep, caller: CallerDep
) -> Review:
    visible_annotation(session, caller, project_id, annotation_id)
    return ann.review_annotation(
        session,
        actor=actor_of(caller),
        annotation_id=annotation_id,
        decision=body.decision,
        comment=body.comment,
        change=_change(body.correction) if body.correction is not None else None,
    )
