"""Electronic signatures on dataset versions (21 CFR Part 11 §11.50, §11.70, §11.200).

- §11.200: the signer re-authenticates at signing with a second factor (their signing secret); a bearer
  token alone is not enough. A failed attempt is refused and recorded.
- §11.50: the record shows the printed name (snapshotted at signing: renaming the user later does not
  change it), the date and time (UTC, server clock) and the meaning (review, approval, responsibility).
- §11.70: the signature is bound to the version's id and its content hash (DVC content + live label
  manifest), so it cannot be moved to another record, and it stops counting once the labels change.

**A signature is accepted only when it can count** (:func:`signing_refusals`): the version is a
``candidate`` whose latest gate evaluation exists, passed, and was taken on its current content (no data
hash changed since); otherwise 409, the reason named. Then, for an ``approval``: the signer holds one of
the policy's approver roles (403), and under four-eyes is not an author of the version (403). A second
signature with the same meaning is refused (409). Every refusal is recorded (``signature.refused``).

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

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from lineage.audit.chain import append_event
from lineage.context import Actor
from lineage.datasets.versions import version_ref
from lineage.errors import Conflict, CredentialRejected, LabelgateError, NotFound, PermissionDenied
from lineage.gates.records import latest_evaluation, stale_hashes
from lineage.identity.accounts import check_signing_secret, project_roles
from lineage.models import (
    Approval,
    Dataset,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    ReviewDecision,
    Role,
    User,
    VersionState,
)
from lineage.models._base import utcnow

__all__ = [
    "ApprovalRules",
    "Meaning",
    "Refusal",
    "SignatureRefused",
    "SigningConflict",
    "SigningForbidden",
    "approvals_for",
    "counting_approvals",
    "sign_version",
    "signing_refusals",
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


class SignatureRefused(LabelgateError):
    """A signature refused by policy (state, evidence, role, four-eyes, a repeat): the CLI exits 1 on it."""


class SigningConflict(SignatureRefused, Conflict):
    """409: the version, its evidence or the signer's earlier signature refuses the signature."""


class SigningForbidden(SignatureRefused, PermissionDenied):
    """403: the signer's roles or authorship refuse the signature."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a signature is refused now: ``reason`` for people, the ``field`` it concerns, and whether it is
    ``forbidden`` (403: the signer) or a conflict (409: the version, its evidence, a repeat)."""

    reason: str
    field: str
    forbidden: bool = False

    def error(self) -> SignatureRefused:
        kind = SigningForbidden if self.forbidden else SigningConflict
        return kind(self.reason, field=self.field)


def version_content_hash(session: Session, version: DatasetVersion, *, manifest: str | None = None) -> str:
    """SHA-256 over the version's DVC content hash and its live label manifest, computed now (``manifest``:
    one the caller has just computed)."""
    from lineage.labels.annotations import manifest_hash

    manifest = manifest or manifest_hash(session, version_id=version.id or 0)
    body = f"{version.id}\x00{version.dvc_hash or ''}\x00{manifest}".encode()
    return hashlib.sha256(CONTENT_DOMAIN + body).hexdigest()


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


def _release_rules(session: Session, evaluation: GateEvaluation) -> ApprovalRules:
    from lineage.release.releases import release_rules  # releases builds on this module

    policy = session.get(GatePolicy, evaluation.policy_id)
    assert policy is not None
    return release_rules(session, policy)


def _evidence_refusal(
    session: Session, version: DatasetVersion, ref: str
) -> tuple[Refusal | None, GateEvaluation | None]:
    """Why no signature of ``version`` can count now (whoever signs), and its latest evaluation."""
    if VersionState(version.state) is not VersionState.candidate:
        return Refusal(f"only a candidate version can be signed; {ref} is {version.state}", "state"), None
    evaluation = latest_evaluation(session, version)
    if evaluation is None:
        why = f"{ref} has no gate evaluation: a signature needs a passed one; run `labelgate gate check {ref}`"
        return Refusal(why, "evaluation"), None
    if not evaluation.passed:
        blocking = ", ".join(str(g.get("name")) for g in evaluation.gates if not g.get("passed")) or "unknown"
        why = f"the latest gate evaluation of {ref} (#{evaluation.id}) is blocked ({blocking}): it cannot be signed"
        return Refusal(why, "evaluation"), evaluation
    stale = stale_hashes(session, version, evaluation)
    if stale:
        why = (
            f"{', '.join(stale)} of {ref} changed after its latest gate evaluation (#{evaluation.id}): "
            "re-run the gate check before signing"
        )
        return Refusal(why, "evaluation"), evaluation
    return None, evaluation


def _signer_roles(session: Session, user: User, project_id: int) -> frozenset[Role]:
    return frozenset({Role.admin}) if user.is_admin else project_roles(session, user=user, project_id=project_id)


def _signer_refusal(
    session: Session,
    *,
    user: User,
    version: DatasetVersion,
    meaning: Meaning,
    rules: ApprovalRules,
    roles: frozenset[Role],
    authors: set[int] | None,
) -> Refusal | None:
    """Why ``user`` may not sign with ``meaning`` (the evidence being fine). ``authors``: the version's, or
    None to compute them when needed."""
    if meaning is Meaning.approval:
        if not roles & (rules.approver_roles | {Role.admin}):
            allowed = ", ".join(sorted(r.value for r in rules.approver_roles))
            held = ", ".join(sorted(r.value for r in roles)) or "none"
            return Refusal(f"approval needs one of the roles: {allowed}; you hold {held}", "meaning", forbidden=True)
        if rules.four_eyes and user.id in (authors if authors is not None else version_authors(session, version)):
            return Refusal(
                "four-eyes: you authored labels of this version (you created, imported, generated, auto-labelled, "
                "labelled or corrected labels of it or of the labels it inherited, or created it), "
                "so you may not approve it",
                "meaning",
                forbidden=True,
            )
    existing = session.exec(
        select(Approval.id).where(
            Approval.dataset_version_id == version.id, Approval.signer_id == user.id, Approval.meaning == meaning
        )
    ).first()
    if existing is not None:
        return Refusal(f"you already signed this version with meaning {meaning.value!r}", "meaning")
    return None


def signing_refusals(session: Session, *, actor: Actor, version: DatasetVersion) -> dict[Meaning, str | None]:
    """For each meaning, why ``actor`` may not sign ``version`` now (``None``: they may, given their secret).

    The same checks as :func:`sign_version`, in its order, plus "no signing secret set"; nothing is written.
    """
    dataset = session.get(Dataset, version.dataset_id)
    user = session.get(User, actor.user_id)
    if dataset is None or user is None:
        raise NotFound("no such version or user", field="version")
    refusal, evaluation = _evidence_refusal(session, version, version_ref(dataset, version))
    if refusal is not None or evaluation is None:
        return dict.fromkeys(Meaning, refusal.reason if refusal is not None else "no gate evaluation")
    rules = _release_rules(session, evaluation)
    roles = _signer_roles(session, user, dataset.project_id)
    authors = version_authors(session, version) if rules.four_eyes else set()
    answers: dict[Meaning, str | None] = {}
    for meaning in Meaning:
        why = _signer_refusal(
            session, user=user, version=version, meaning=meaning, rules=rules, roles=roles, authors=authors
        )
        answers[meaning] = why.reason if why is not None else None
        if why is None and not user.signing_secret_hash:
            answers[meaning] = (
                "you have no signing secret yet: set one before signing (it is re-entered at each signature)"
            )
    return answers


def _signature_hash(fields: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _refuse(
    session: Session, *, actor: Actor, version: DatasetVersion, project_id: int, why: str, meaning: Meaning
) -> None:
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
        payload={"reason": why, "meaning": meaning.value},
    )
    session.commit()


def sign_version(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    secret: str,
    meaning: Meaning,
) -> Approval:
    """Record the actor's electronic signature on ``version``, after re-authentication, if it can count.

    The rules are those the release will apply: the release rules of the policy of the version's latest
    evaluation (``lineage.release.releases.release_rules``), never a caller's. Refusals (module doc) are recorded
    as ``signature.refused`` and raised: ``CredentialRejected`` (a ``PermissionDenied``) for a wrong secret,
    :class:`SignatureRefused` (409 or 403) for the policy.
    """
    dataset = session.get(Dataset, version.dataset_id)
    user = session.get(User, actor.user_id)
    if dataset is None or user is None:
        raise NotFound("no such version or user", field="version")
    project_id = dataset.project_id
    if not check_signing_secret(user, secret):
        _refuse(
            session,
            actor=actor,
            version=version,
            project_id=project_id,
            why="re-authentication failed",
            meaning=meaning,
        )
        raise CredentialRejected(
            "re-authentication failed: the signing secret is wrong or not set (see `labelgate user set-secret`)",
            field="secret",
        )
    refusal, evaluation = _evidence_refusal(session, version, version_ref(dataset, version))
    roles = _signer_roles(session, user, project_id)
    if refusal is None and evaluation is not None:
        rules = _release_rules(session, evaluation)
        refusal = _signer_refusal(
            session, user=user, version=version, meaning=meaning, rules=rules, roles=roles, authors=None
        )
    if refusal is not None:
        _refuse(session, actor=actor, version=version, project_id=project_id, why=refusal.reason, meaning=meaning)
        raise refusal.error()
    assert rules is not None
    signing_roles = sorted(r.value for r in roles & (rules.approver_roles | {Role.admin}))
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
        rows=[approval],
    )
    return approval


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
