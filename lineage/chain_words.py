"""A label's chain in words, for ``lineage.provenance``: who a row is by (``model NAME@VERSION``, an
annotator, ``import FORMAT``), who wrote it, why a correction was made (the review's comment or the
``annotation.correct`` event's reason), and what each correction changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session, select

from lineage.labels.labelset import DELETED
from lineage.models import Annotation, AuditEvent, ModelVersion, Review, User


class AnnotationStep(Protocol):
    """What a correction's words read of a step of ``lineage.provenance``'s chain (a protocol, so this module
    does not import provenance, which imports it)."""

    @property
    def id(self) -> int: ...

    @property
    def supersedes_id(self) -> int | None: ...

    @property
    def category(self) -> str: ...

    @property
    def geometry_type(self) -> str: ...

    @property
    def bbox(self) -> Any: ...

    @property
    def written_by(self) -> str | None: ...

    @property
    def provenance(self) -> dict[str, Any]: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def created_at(self) -> datetime: ...


__all__ = ["author_of", "corrections_of", "reason_of", "username_of"]


def username_of(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id is not None else None
    return user.username if user is not None else None


def reason_of(session: Session, a: Annotation) -> str | None:
    """Why a superseding row was written: the reviewer's comment (a review's correction or rejection), else the
    reason its ``annotation.correct`` audit event recorded."""
    if a.supersedes_id is None:
        return None
    review = session.exec(select(Review).where(Review.correction_id == a.id)).first()
    if review is not None:
        return review.comment
    event = session.exec(
        select(AuditEvent).where(AuditEvent.action == "annotation.correct", AuditEvent.object_id == str(a.id))
    ).first()
    reason = event.payload.get("reason") if event is not None and isinstance(event.payload, dict) else None
    return str(reason) if reason is not None else None


def author_of(a: Annotation, prov: dict[str, Any], model: ModelVersion | None) -> str | None:
    if a.kind == "model":
        return f"model {model.name}@{model.version}" if model is not None else "model (unknown)"
    if a.kind == "import" and a.annotator_id is None:
        return f"import {a.source_format or '?'}"
    if a.kind == "synthetic":
        return "synthetic"
    name = prov.get("annotator")
    return str(name) if name is not None else None


def _what(old: AnnotationStep, new: AnnotationStep) -> str:
    """What a correction changed, in words."""
    if new.geometry_type == DELETED:
        return f"removed {old.category}"
    parts = [f"class {old.category} → {new.category}"] if old.category != new.category else []
    if old.bbox != new.bbox:
        parts.append("box moved" if old.geometry_type == "box" else "shape changed")
    return ", ".join(parts) or "attributes changed"


def corrections_of(steps: Sequence[AnnotationStep]) -> list[dict[str, Any]]:
    by_id = {s.id: s for s in steps}
    return [
        {
            "replaced_id": s.supersedes_id,
            "by_id": s.id,
            "by": s.written_by or s.provenance.get("annotator"),
            "what": _what(by_id[s.supersedes_id], s),
            "reason": s.reason,
            "at": s.created_at.isoformat(),
        }
        for s in steps
        if s.supersedes_id is not None and s.supersedes_id in by_id
    ]
