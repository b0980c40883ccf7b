"""Electronic signatures on dataset versions (21 CFR Part 11 §11.50, §11.70, §11.200).

- §11.200: the signer re-authenticates at signing with a second factor (their signing secret); a bearer
  token alone is not enough. A failed attempt is refused and recorded.
- §11.50: the record shows the printed name (snapshotted at signing: renaming the user later does not
  change it), the date and time (UTC, server clock) and the meaning (review, approval, responsibility).
- §11.70: the signature is bound to the version's id and its content hash (DVC content + live label
  manifest), so it cannot be moved to another record, and it stops counting once the labels change.

Four-eyes (when the policy asks for it): no author of the version may approve it. Authors are the
annotators of its live human labels, whoever ran the auto-label runs behind its live model labels, and
whoever created the version (and so imported its labels).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, col, select

from lineage.audit import append_event
from lineage.context import Actor
from lineage.errors import Conflict, NotFound, PermissionDenied
from lineage.identity import check_signing_secret, project_roles
from lineage.models import Approval, AutoLabelRun, Dataset, DatasetVersion, Role, User, VersionState
from lineage.models._base import utcnow

__all__ = [
    "ApprovalRules",
    "Meaning",
    "approvals_for",
    "counting_approvals",
    "sign_version",
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


def version_content_hash(session: Session, version: DatasetVersion) -> str:
    """SHA-256 over the version's DVC content hash and its live label manifest, computed now."""
    from lineage.annotations import manifest_hash

    manifest = manifest_hash(session, version_id=version.id or 0)
    body = f"{version.id}\x00{version.dvc_hash or ''}\x00{manifest}".encode()
    return hashlib.sha256(CONTENT_DOMAIN + body).hexdigest()


def version_authors(session: Session, version: DatasetVersion) -> set[int]:
    """User ids who authored the version's labels (see the module doc)."""
    from lineage.annotations import live_labels

    live = live_labels(version.id or 0).subquery()
    authors = {uid for uid in session.exec(select(live.c.annotator_id).distinct()) if uid is not None}
    run_ids = [rid for rid in session.exec(select(live.c.autolabel_run_id).distinct()) if rid is not None]
    if run_ids:
        authors |= set(session.exec(select(AutoLabelRun.created_by).where(col(AutoLabelRun.id).in_(run_ids))))
    authors.add(version.created_by)
    return authors


def _signature_hash(fields: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _refuse(session: Session, *, actor: Actor, version: DatasetVersion, project_id: int, why: str) -> None:
    # A refused signature is recorded on its own: the caller's transaction is rolled back first.
    version_id = version.id
    session.rollback()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="signature.refused",
        object_type="dataset_version",
        object_id=str(version_id),
        project_id=project_id,
        payload={"reason": why},
    )
    session.commit()


def sign_version(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    secret: str,
    meaning: Meaning,
    rules: ApprovalRules,
) -> Approval:
    """Record the actor's electronic signature on a ``candidate`` version, after re-authentication."""
    dataset = session.get(Dataset, version.dataset_id)
    user = session.get(User, actor.user_id)
    if dataset is None or user is None:
        raise NotFound("no such version or user", field="version")
    project_id = dataset.project_id
    if not check_signing_secret(user, secret):
        _refuse(session, actor=actor, version=version, project_id=project_id, why="re-authentication failed")
        raise PermissionDenied(
            "re-authentication failed: the signing secret is wrong or not set (see `labelgate user set-secret`)",
            field="secret",
        )
    if VersionState(version.state) is not VersionState.candidate:
        raise Conflict(f"only a candidate version can be signed; this one is {version.state}", field="state")
    roles = frozenset({Role.admin}) if user.is_admin else project_roles(session, user=user, project_id=project_id)
    signing_roles = sorted(r.value for r in roles & (rules.approver_roles | {Role.admin}))
    if meaning is Meaning.approval and not signing_roles:
        allowed = ", ".join(sorted(r.value for r in rules.approver_roles))
        _refuse(session, actor=actor, version=version, project_id=project_id, why="role may not approve")
        raise PermissionDenied(f"approval needs one of the roles: {allowed}", field="meaning")
    if meaning is Meaning.approval and rules.four_eyes and user.id in version_authors(session, version):
        _refuse(session, actor=actor, version=version, project_id=project_id, why="four-eyes: signer is an author")
        raise PermissionDenied(
            "four-eyes: you authored labels of this version (or created it), so you may not approve it",
            field="meaning",
        )
    existing = session.exec(
        select(Approval).where(
            Approval.dataset_version_id == version.id, Approval.signer_id == user.id, Approval.meaning == meaning
        )
    ).first()
    if existing is not None:
        raise Conflict(f"you already signed this version with meaning {meaning.value!r}", field="meaning")
    content_hash = version_content_hash(session, version)
    signed_at = utcnow()
    fields: dict[str, object] = {
        "dataset_version_id": version.id,
        "content_hash": content_hash,
        "signer_id": user.id,
        "printed_name": user.full_name,
        "role": signing_roles[0] if signing_roles else sorted(r.value for r in roles)[0] if roles else "none",
        "meaning": meaning.value,
        "signed_at": signed_at.isoformat(timespec="microseconds"),
    }
    approval = Approval(
        dataset_version_id=version.id or 0,
        content_hash=content_hash,
        signer_id=user.id or 0,
        printed_name=user.full_name,
        role=str(fields["role"]),
        meaning=meaning.value,
        signed_at=signed_at,
        signature_hash=_signature_hash(fields),
    )
    session.add(approval)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="signature.sign",
        object_type="dataset_version",
        object_id=str(version.id),
        project_id=project_id,
        payload={**fields, "signature_hash": approval.signature_hash, "username": user.username},
    )
    return approval


def approvals_for(session: Session, version: DatasetVersion) -> list[Approval]:
    return list(
        session.exec(
            select(Approval).where(Approval.dataset_version_id == version.id).order_by(col(Approval.signed_at))
        )
    )


def counting_approvals(session: Session, version: DatasetVersion, rules: ApprovalRules) -> list[Approval]:
    """Approvals that count toward release now: meaning ``approval``, an approver role, and bound to the
    version's current content hash (a signature over older labels no longer counts)."""
    current = version_content_hash(session, version)
    allowed = {r.value for r in rules.approver_roles | {Role.admin}}
    return [
        a
        for a in approvals_for(session, version)
        if a.meaning == Meaning.approval.value and a.role in allowed and a.content_hash == current
    ]
