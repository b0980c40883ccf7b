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
the policy's approver roles (403), and under four-eyes is not an author of the version (403; who is an
author, and which approvals count, is ``lineage.release.four_eyes``). A second signature with the same
meaning is refused (409). Every refusal is recorded (``signature.refused``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets.catalog import version_ref
from lineage.errors import Conflict, CredentialRejected, LabelgateError, NotFound, PermissionDenied
from lineage.gates.evaluations import latest_evaluation, stale_hashes
from lineage.hashing import NO_DOMAIN, canonical_json_ascii, digest_bytes
from lineage.identity.signing import check_signing_secret
from lineage.identity.users import project_roles
from lineage.models import Approval, Dataset, DatasetVersion, GateEvaluation, GatePolicy, Role, User, VersionState
from lineage.models._base import utcnow
from lineage.release.four_eyes import ApprovalRules, Meaning, approvals_for, version_authors, version_content_hash
from lineage.release.releases import release_rules

__all__ = [
    "Meaning",
    "Refusal",
    "SignatureRefused",
    "SigningConflict",
    "SigningForbidden",
    "approvals_for",
    "sign_version",
    "signing_refusals",
]


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


def _release_rules(session: Session, evaluation: GateEvaluation) -> ApprovalRules:
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
    return digest_bytes(NO_DOMAIN, canonical_json_ascii(fields))


def _refuse(
    session: Session, *, actor: Actor, version: DatasetVersion, project_id: int, why: str, meaning: Meaning
) -> None:
    # A refused signature is recorded on its own: the caller's transaction is rolled back first.
    version_id = version.id
    session.rollback()
    record_event(
        session,
        actor,
        "signature.refused",
        ("dataset_version", str(version_id)),
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
    record_event(
        session,
        actor,
        "signature.sign",
        ("dataset_version", str(version.id)),
        project_id=project_id,
        payload={**fields, "signature_hash": approval.signature_hash, "username": user.username},
        rows=[approval],
    )
    return approval
