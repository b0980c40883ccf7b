"""A reviewer's decision on a label: ``accept`` it, ``correct`` it, or ``reject`` it.

Each decision is a ``Review`` row with its audit event. ``correct`` appends the corrected label (as
``lineage.labels.annotations.correct_annotation`` does); ``reject`` appends a tombstone (``geometry_type =
"deleted"``, no geometry) that supersedes the label and so takes it out of the live set; ``accept``
appends no label.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from lineage.audit.chain import record_event
from lineage.audit.rowdigest import row_digest
from lineage.context import Actor
from lineage.datasets.catalog import version_ref
from lineage.datasets.states import ensure_writable
from lineage.errors import InvalidInput
from lineage.labels.annotations import BoxChange, live_annotation, write_correction
from lineage.labels.labelset import DELETED, mark_stale, seal_row
from lineage.models import Annotation, ProvenanceKind, Review, ReviewDecision

__all__ = ["review_annotation"]


def review_annotation(
    session: Session,
    *,
    actor: Actor,
    annotation_id: int,
    decision: ReviewDecision,
    comment: str = "",
    change: BoxChange | None = None,
) -> Review:
    """Record a reviewer's decision. ``correct`` appends the corrected label (``change`` required);
    ``reject`` appends a tombstone that takes the label out of the live set; ``accept`` appends nothing."""
    old, version, dataset = live_annotation(session, annotation_id)
    ensure_writable(session, actor=actor, version=version, attempted=f"reviewing annotation {annotation_id}")
    correction: Annotation | None = None
    sealed: dict[str, Any] | None = None
    if decision is ReviewDecision.correct:
        if change is None or all(v is None for v in change.fields().values()):
            raise InvalidInput("a correction needs at least one changed field", field="correction")
        correction, sealed = write_correction(session, actor=actor, old=old, version=version, change=change)
    elif change is not None:
        raise InvalidInput(f"a {decision.value} decision takes no correction", field="correction")
    elif decision is ReviewDecision.reject:
        correction = Annotation(
            dataset_version_id=version.id or 0,
            item_id=old.item_id,
            category=old.category,
            geometry_type=DELETED,
            kind=ProvenanceKind.human,
            annotator_id=actor.user_id,
            supersedes_id=old.id,
        )
        sealed = seal_row(session, correction, created_by=actor.user_id)
        session.add(correction)
        session.flush()
        mark_stale(session, version_id=version.id or 0)
    review = Review(
        annotation_id=old.id or 0,
        reviewer_id=actor.user_id,
        decision=decision,
        correction_id=correction.id if correction is not None else None,
        comment=comment,
    )
    session.add(review)
    session.flush()
    record_event(
        session,
        actor,
        "annotation.review",
        ("annotation", str(old.id)),
        project_id=dataset.project_id,
        payload={
            "decision": decision.value,
            "review_id": review.id,
            "correction_id": review.correction_id,
            "version": version_ref(dataset, version),
            "comment": comment,
            "reviewed_digest": row_digest("annotations", old),
            **({"sealed": sealed} if sealed else {}),
        },
        rows=[review],
        expect_seq=sealed["seq"] if sealed else None,
    )
    return review
