"""Promotion: ``candidate`` → gate evaluation → approvals → ``released``, with a signed evidence bundle.

``release`` refuses, naming the reason a person can act on, when: the version is not a candidate; it has
no gate evaluation, or its latest one failed (the blocking gates are named); its data or labels changed
after that evaluation (the changed hash is named); or it lacks the approvals the policy's ``release``
section asks for (counted only if bound to the current content hash).

Atomicity: the state change, the git tag, the ``Release`` row holding the signed bundle, and the audit
events are one transaction. A crash before commit leaves no release (a git tag written just before the
crash is harmless: tagging is idempotent and the database is the record); after commit the release is
complete, and the bundle file is an export of the stored bundle (``write_bundle_file``).
Concurrent releases of one version serialise on the version row (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and the unique release per version; the loser gets 409.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, col, select

from lineage.audit.chain import chain_head, record_event
from lineage.context import Actor
from lineage.datasets.catalog import release_tag_name, version_ref
from lineage.datasets.versions import change_state
from lineage.errors import Conflict, NotFound
from lineage.gates.evaluations import latest_evaluation, stale_hashes
from lineage.hashing import NO_DOMAIN, digest
from lineage.identity.users import project_roles
from lineage.labels.labelset import manifests_held
from lineage.models import (
    Approval,
    Dataset,
    DatasetVersion,
    GatePolicy,
    LabelSchema,
    LabelSchemaVersion,
    Project,
    Release,
    Role,
    User,
    VersionState,
)
from lineage.models._base import utcnow
from lineage.openlineage import LineageEmitter
from lineage.release.bundle import key_id, sign_bundle
from lineage.release.four_eyes import ApprovalRules, approvals_for, counting_approvals, version_content_hash
from quality_gates import parse_policy

__all__ = ["RELEASE_FLOOR", "approval_entry", "get_release", "reject", "release", "release_rules", "write_bundle_file"]


# What a policy stored by anyone but a compliance officer (or an admin) cannot go below: one approval,
# by a compliance officer or a reviewer, under four-eyes. Otherwise the one who writes the policy could
# release alone by writing ``approvals: 0`` or ``four_eyes: false``.
RELEASE_FLOOR = ApprovalRules()


def release_rules(session: Session, policy_record: GatePolicy) -> ApprovalRules:
    """The release rules of a stored policy as they apply: as written when a compliance officer of the
    project (or an admin) stored it; otherwise never weaker than ``RELEASE_FLOOR``."""
    rules = parse_policy(policy_record.yaml_text).release
    declared = ApprovalRules(
        approvals=rules.approvals,
        approver_roles=frozenset(Role(str(r)) for r in rules.approver_roles),
        four_eyes=rules.four_eyes,
    )
    author = session.get(User, policy_record.created_by)
    if author is not None and (
        author.is_admin
        or Role.compliance_officer in project_roles(session, user=author, project_id=policy_record.project_id)
    ):
        return declared
    return ApprovalRules(
        approvals=max(declared.approvals, RELEASE_FLOOR.approvals),
        approver_roles=(declared.approver_roles & RELEASE_FLOOR.approver_roles) or RELEASE_FLOOR.approver_roles,
        four_eyes=True,
    )


def _lock_version(session: Session, version: DatasetVersion) -> DatasetVersion:
    """Re-read the version under a row lock (PostgreSQL); SQLite's writer lock already serialises."""
    stmt = select(DatasetVersion).where(DatasetVersion.id == version.id).with_for_update()
    locked = session.exec(stmt.execution_options(populate_existing=True)).one()
    return locked


def get_release(session: Session, version: DatasetVersion) -> Release | None:
    return session.exec(select(Release).where(Release.dataset_version_id == version.id)).first()


def release(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    repo_dir: Path,
    signing_key: Ed25519PrivateKey,
    emitter: LineageEmitter | None = None,
) -> Release:
    """Release ``version`` if its evidence and approvals hold; returns the ``Release`` with its bundle.

    The candidate is locked and takes no label writes, so its manifest is computed once for the evidence
    check, the approvals, the pin and the bundle (``manifests_held``)."""
    version = _lock_version(session, version)
    with manifests_held(session):
        return _release_locked(
            session, actor=actor, version=version, repo_dir=repo_dir, signing_key=signing_key, emitter=emitter
        )


def _release_locked(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    repo_dir: Path,
    signing_key: Ed25519PrivateKey,
    emitter: LineageEmitter | None,
) -> Release:
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None:
        raise NotFound("no such dataset", field="version")
    ref = version_ref(dataset, version)
    state = VersionState(version.state)
    if state is VersionState.released or get_release(session, version) is not None:
        raise Conflict(f"{ref} is already released", field="state")
    if state is not VersionState.candidate:
        raise Conflict(f"{ref} is {state.value}: only a candidate can be released", field="state")
    evaluation = latest_evaluation(session, version)
    if evaluation is None:
        raise Conflict(f"{ref} has no gate evaluation: run `labelgate gate check {ref}` first", field="evaluation")
    if not evaluation.passed:
        blocking = ", ".join(g["name"] for g in evaluation.gates if not g.get("passed")) or "unknown"
        raise Conflict(
            f"{ref}: the latest gate evaluation (#{evaluation.id}) failed; blocking gates: {blocking}",
            field="evaluation",
        )
    stale = stale_hashes(session, version, evaluation)
    if stale:
        raise Conflict(
            f"{ref}: {', '.join(stale)} changed after evaluation #{evaluation.id}; re-run the gate check",
            field="evaluation",
        )
    policy_record = session.get(GatePolicy, evaluation.policy_id)
    assert policy_record is not None
    rules = release_rules(session, policy_record)
    counted = counting_approvals(session, version, rules)
    signers = {a.signer_id for a in counted}
    if len(signers) < rules.approvals:
        roles = ", ".join(sorted(r.value for r in rules.approver_roles))
        raise Conflict(
            f"{ref} needs {rules.approvals} approval(s) by {roles} on its current content; it has {len(signers)}",
            field="approvals",
        )
    tag = release_tag_name(dataset, version)
    had_tag = _tag_exists(repo_dir, tag)
    try:
        change_state(
            session,
            actor=actor,
            version=version,
            to=VersionState.released,
            repo_dir=repo_dir,
            emitter=emitter,
            reason=f"gate evaluation #{evaluation.id} passed; {len(signers)} approval(s)",
        )
        head = chain_head(session)
        content = _bundle_content(session, actor, dataset, version, evaluation, policy_record, head)
        bundle = sign_bundle(content, signing_key)
        record = Release(
            dataset_version_id=version.id or 0,
            evaluation_id=evaluation.id or 0,
            git_tag=release_tag_name(dataset, version),
            audit_head_seq=head.seq if head else None,
            audit_head_hash=head.hash if head else None,
            bundle=bundle,
            bundle_sha256=digest(NO_DOMAIN, bundle),
            signing_key_id=key_id(signing_key.public_key()),
            released_by=actor.user_id,
            released_at=utcnow(),
        )
        session.add(record)
        session.flush()
        record_event(
            session,
            actor,
            "release.create",
            ("dataset_version", str(version.id)),
            project_id=dataset.project_id,
            payload={
                "version": ref,
                "release_id": record.id,
                "evaluation_id": evaluation.id,
                "bundle_sha256": record.bundle_sha256,
                "signing_key_id": record.signing_key_id,
                "audit_head": {"seq": record.audit_head_seq, "hash": record.audit_head_hash},
            },
            rows=[record],
        )
    except BaseException:
        # The transaction will roll back: take back a tag this attempt created, so a failed release leaves
        # nothing behind (a hard crash can still leave a tag; tagging is idempotent and the record rules).
        if not had_tag:
            _delete_tag(repo_dir, tag)
        raise
    return record


def _tag_exists(repo_dir: Path, tag: str) -> bool:
    from lineage.datasets.dvcrepo import DvcError, git

    try:
        git(repo_dir, "rev-parse", "-q", "--verify", f"refs/tags/{tag}")
    except DvcError:
        return False
    return True


def _delete_tag(repo_dir: Path, tag: str) -> None:
    import contextlib

    from lineage.datasets.dvcrepo import DvcError, git

    with contextlib.suppress(DvcError):  # never created: nothing to take back
        git(repo_dir, "tag", "-d", tag)


def _bundle_content(
    session: Session,
    actor: Actor,
    dataset: Dataset,
    version: DatasetVersion,
    evaluation: Any,
    policy_record: GatePolicy,
    head: Any,
) -> dict[str, Any]:
    project = session.get(Project, dataset.project_id)
    schema: dict[str, Any] | None = None
    if version.schema_version_id is not None:
        sv = session.get(LabelSchemaVersion, version.schema_version_id)
        ls = session.get(LabelSchema, sv.schema_id) if sv else None
        if sv is not None:
            schema = {"name": ls.name if ls else None, "version": sv.version, "content_hash": sv.content_hash}
    releaser = session.get(User, actor.user_id)
    return {
        "dataset": {
            "project": project.name if project else dataset.project_id,
            "name": dataset.name,
            "version": version.version,
            "version_id": version.id,
            "git_revision": version.git_revision,
            "git_tag": release_tag_name(dataset, version),
            "dvc_hash": version.dvc_hash,
            "item_count": version.item_count,
            "manifest_hash": version.manifest_hash,
            "content_hash": version_content_hash(session, version),
            "parent_version_id": version.parent_id,
        },
        "schema": schema,
        "policy": {
            "name": policy_record.name,
            "version": policy_record.version,
            "policy_hash": policy_record.policy_hash,
            "yaml": policy_record.yaml_text,
        },
        "evaluation": {
            "id": evaluation.id,
            "passed": evaluation.passed,
            "created_at": evaluation.created_at.isoformat(),
            "gates": evaluation.gates,
            "metrics": evaluation.metrics,
            "data_hashes": evaluation.data_hashes,
            # The golden set it measured against, as the evaluation recorded it (name, version, size).
            "golden_set": (evaluation.evidence or {}).get("golden_set"),
        },
        "approvals": [approval_entry(a) for a in approvals_for(session, version)],
        "audit_head": {"seq": head.seq, "hash": head.hash} if head else None,
        "released_by": releaser.full_name if releaser else actor.username,
        "released_at": utcnow().isoformat(),
    }


def approval_entry(a: Approval) -> dict[str, Any]:
    """An approval as the evidence bundle records it."""
    return {
        "printed_name": a.printed_name,
        "role": a.role,
        "meaning": a.meaning,
        "signed_at": a.signed_at.isoformat(),
        "content_hash": a.content_hash,
        "signature_hash": a.signature_hash,
    }


def reject(session: Session, *, actor: Actor, version: DatasetVersion, reason: str) -> DatasetVersion:
    """``candidate|draft → rejected`` with a reason (required)."""
    if not reason.strip():
        from lineage.errors import InvalidInput

        raise InvalidInput("a rejection needs a reason", field="reason")
    return change_state(session, actor=actor, version=version, to=VersionState.rejected, reason=reason)


def write_bundle_file(record: Release, path: Path) -> Path:
    """Export the stored bundle as a file (atomically: written beside, then renamed)."""
    if record.bundle is None:
        raise NotFound("this release has no stored bundle", field="bundle")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(record.bundle, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def releases_of(session: Session, *, project_id: int) -> list[Release]:
    stmt = (
        select(Release)
        .join(DatasetVersion, col(DatasetVersion.id) == Release.dataset_version_id)
        .join(Dataset, col(Dataset.id) == DatasetVersion.dataset_id)
        .where(Dataset.project_id == project_id)
        .order_by(col(Release.id))
    )
    return list(session.exec(stmt))
