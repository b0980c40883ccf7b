"""The record of imports: which source (by content hash) went into which version, and how often.

Importing is idempotent per content: the same source (same SHA-256) into the same version a second time
writes nothing and says which import already holds it. A deliberate re-import (``reimport=True``) takes
the next ``generation``. The unique key ``(version, source hash, generation)`` settles races: of two
concurrent imports of one source, the database lets one commit and the other finds the winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from lineage.errors import Conflict
from lineage.models import LabelImport, User

__all__ = ["PriorImport", "claim", "latest_id_map", "prior_import", "refuse_race"]


@dataclass(frozen=True, slots=True)
class PriorImport:
    """An earlier import of the same source into the same version."""

    import_id: int
    generation: int
    source: str
    annotations: int
    imported_by: str | None
    imported_at: datetime

    def describe(self) -> str:
        who = f" by {self.imported_by}" if self.imported_by else ""
        return (
            f"import #{self.import_id} ({self.source}, {self.annotations} labels{who}, "
            f"{self.imported_at.isoformat(timespec='seconds')})"
        )


#: ``prior_import``'s ``annotator_id`` when any attribution will do.
ANY_ATTRIBUTION = -1


def prior_import(
    session: Session, *, version_id: int, source_sha256: str, annotator_id: int | None = ANY_ATTRIBUTION
) -> PriorImport | None:
    """The newest import of this source into this version, if any; with ``annotator_id`` (a user id, or None
    for unattributed imports), the newest one attributed so. The same file delivered by two annotators is two
    deliveries: an import is a duplicate only of one with the same source and the same attribution."""
    stmt = (
        select(LabelImport, User.username)
        .join(User, col(User.id) == col(LabelImport.created_by), isouter=True)
        .where(LabelImport.dataset_version_id == version_id, LabelImport.source_sha256 == source_sha256)
    )
    if annotator_id is None:
        stmt = stmt.where(col(LabelImport.annotator_id).is_(None))
    elif annotator_id != ANY_ATTRIBUTION:
        stmt = stmt.where(LabelImport.annotator_id == annotator_id)
    row = session.exec(stmt.order_by(col(LabelImport.generation).desc()).limit(1)).first()
    if row is None:
        return None
    imp, username = row
    return PriorImport(imp.id or 0, imp.generation, imp.source, imp.annotations, username, imp.created_at)


def claim(session: Session, row: LabelImport) -> bool:
    """Insert ``row`` (its ``generation`` chosen by the caller) in a savepoint; ``False`` when a concurrent
    import of the same source took that generation first (the caller's transaction stays usable)."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        if "uq_label_import" not in str(exc.orig) and "label_imports" not in str(exc.orig):
            raise
        return False  # the savepoint's rollback expunged ``row``
    return True


def latest_id_map(session: Session, version_id: int) -> dict[str, dict[str, int]] | None:
    """The source ids (``{"images": {uri: id}, "categories": {name: id}}``) of the newest import into the
    version that kept any, for an export that keeps them too."""
    # A handful of imports per version; JSON NULL and SQL NULL differ across drivers, so filter here.
    maps = session.exec(
        select(LabelImport.id_map)
        .where(LabelImport.dataset_version_id == version_id)
        .order_by(col(LabelImport.id).desc())
    )
    return next((m for m in maps if isinstance(m, dict) and m), None)


def refuse_race(version_ref: str, source_sha256: str) -> Conflict:
    return Conflict(
        f"another import of the same source (sha256 {source_sha256[:12]}…) into {version_ref} committed while this "
        "re-import ran; run it again if a further copy is really wanted",
        field="source",
    )
