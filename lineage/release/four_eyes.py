"""Which electronic signatures count toward a release: four-eyes by authorship, bound to the content signed.

An approval counts (:func:`counting_approvals`) when its meaning is ``approval``, its signer signed in one of
the policy's approver roles (``ApprovalRules``), it is bound to the version's current content hash
(:func:`version_content_hash`: DVC content + live label manifest, so it stops counting once the labels
change), and, under four-eyes, its signer is not an author of the version now.

**Authors** of a version (:func:`version_authors`), who may not approve it under four-eyes, are everyone
who wrote or shaped any of its labels, superseded ones included, and the labels it inherited (followed
back through ``origin_id`` and ``supersedes_id`` into earlier versions):

- the annotator a label is attributed to (``annotator_id``; a reviewer's rejection, a tombstone row, is
  attributed to the reviewer, so a rejecting reviewer is an author too);
- whoever wrote the row (``created_by``: the importer, the generator of synthetic labels, the corrector,
  the owner of the auto-label run);
- the owner of the auto-label run behind a model label (``AutoLabelRun.created_by``);
- every reviewer whose ``correct`` decision touched one of those labels;
- the version's creator; and, for a legacy row without ``created_by`` (written before revision 0003), the
  creator of the version holding the row (who, before then, was taken to have imported its labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from lineage.hashing import digest_bytes
from lineage.labels.labelset import manifest_hash
from lineage.models import Approval, DatasetVersion, ReviewDecision, Role

__all__ = [
    "CONTENT_DOMAIN",
    "ApprovalRules",
    "Meaning",
    "approvals_for",
    "counting_approvals",
    "version_authors",
    "version_content_hash",
]

CONTENT_DOMAIN = b"labelgate.version-content.v1\x00"


class Meaning(StrEnum):
    review = "review"
    approval = "approval"
    responsibility = "responsibility"


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    """From the policy's ``release`` section: how many approvals, by which roles, four-eyes or not."""

    approvals: int = 1
    approver_roles: frozenset[Role] = frozenset({Role.compliance_officer, Role.reviewer})
    four_eyes: bool = True


def version_content_hash(session: Session, version: DatasetVersion, *, manifest: str | None = None) -> str:
    """SHA-256 over the version's DVC content hash and its live label manifest, computed now (``manifest``:
    one the caller has just computed)."""
    manifest = manifest or manifest_hash(session, version_id=version.id or 0)
    body = f"{version.id}\x00{version.dvc_hash or ''}\x00{manifest}".encode()
    return digest_bytes(CONTENT_DOMAIN, body)


def version_authors(session: Session, version: DatasetVersion) -> set[int]:
    """User ids of the version's authors (see the module doc), computed in one query."""
    tables = SQLModel.metadata.tables
    ann, runs, versions, reviews = (tables[n] for n in ("annotations", "autolabel_runs", "dataset_versions", "reviews"))
    # Rows of earlier versions behind this one's labels: the originals of inherited rows, what they
    # superseded, and so on back (UNION, not UNION ALL, so the walk ends).
    earlier = (
        sa_select(ann.c.origin_id.label("id"))
        .where(ann.c.dataset_version_id == version.id, ann.c.origin_id.is_not(None))
        .cte("earlier", recursive=True)
    )
    row, prev = ann.alias("row"), ann.alias("prev")
    earlier = earlier.union(
        sa_select(prev.c.id).select_from(
            row.join(earlier, row.c.id == earlier.c.id).join(
                prev, or_(prev.c.id == row.c.supersedes_id, prev.c.id == row.c.origin_id)
            )
        )
    )
    fields = ("id", "dataset_version_id", "annotator_id", "created_by", "autolabel_run_id")
    authored = union_all(
        sa_select(*(ann.c[f] for f in fields)).where(ann.c.dataset_version_id == version.id),
        sa_select(*(ann.c[f] for f in fields)).where(ann.c.id.in_(sa_select(earlier.c.id))),
    ).cte("authored")
    legacy_versions = sa_select(authored.c.dataset_version_id).where(authored.c.created_by.is_(None))
    uids = union_all(
        sa_select(authored.c.annotator_id.label("uid")),
        sa_select(authored.c.created_by),
        sa_select(runs.c.created_by).where(runs.c.id.in_(sa_select(authored.c.autolabel_run_id))),
        sa_select(versions.c.created_by).where(versions.c.id.in_(legacy_versions)),
        sa_select(reviews.c.reviewer_id).where(
            reviews.c.decision == ReviewDecision.correct.value, reviews.c.annotation_id.in_(sa_select(authored.c.id))
        ),
    ).subquery()
    found = session.execute(sa_select(uids.c.uid).where(uids.c.uid.is_not(None)).distinct()).scalars()
    return {int(uid) for uid in found} | {version.created_by}


def approvals_for(session: Session, version: DatasetVersion) -> list[Approval]:
    return list(
        session.exec(
            select(Approval).where(Approval.dataset_version_id == version.id).order_by(col(Approval.signed_at))
        )
    )


def counting_approvals(session: Session, version: DatasetVersion, rules: ApprovalRules) -> list[Approval]:
    """Approvals that count toward release now: meaning ``approval``, an approver role, bound to the
    version's current content hash (a signature over older labels no longer counts), and, under four-eyes,
    by a signer who is not an author now (labels written after signing, then undone to the same content,
    still make the signer an author)."""
    current = version_content_hash(session, version)
    allowed = {r.value for r in rules.approver_roles | {Role.admin}}
    authors = version_authors(session, version) if rules.four_eyes else set()
    return [
        a
        for a in approvals_for(session, version)
        if a.meaning == Meaning.approval.value
        and a.role in allowed
        and a.content_hash == current
        and a.signer_id not in authors
    ]
