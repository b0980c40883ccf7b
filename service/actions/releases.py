"""Verbs of releasing a dataset version: sign it (four-eyes), ask whether one may, release it with its
signed evidence bundle, reject it, and read its approvals, bundle and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lineage.errors import NotFound
from lineage.gates import evidence_evaluation
from lineage.labels.labelset import manifests_for_display
from lineage.models import Approval, DatasetVersion, GateEvaluation, GatePolicy, Project, Release
from lineage.openlineage import workspace_emitter
from lineage.release import approvals, releases
from lineage.release.approvals import Meaning
from lineage.release.bundle import load_private_key
from lineage.reports import html as reports
from service.actions.context import Context, authorize
from service.actions.versions import find_version

__all__ = [
    "approvals_of",
    "audit_trail_report",
    "bundle_of",
    "evidence_report",
    "governance_report",
    "reject",
    "release",
    "sign",
    "signable",
]


def approvals_of(ctx: Context, project_id: int, dataset: str, version: str) -> list[Approval]:
    authorize(ctx, "list_approvals", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    return approvals.approvals_for(ctx.session, v)


def sign(
    ctx: Context, project_id: int, dataset: str, version: str, *, secret: str, meaning: Meaning = Meaning.approval
) -> Approval:
    """Sign the version (the caller re-authenticates with their signing secret) under the release rules of
    the policy of its latest evaluation: ``Conflict`` unless it is a candidate whose latest evaluation passed
    on its current content; ``PermissionDenied`` for a role the policy does not let approve or four-eyes;
    ``CredentialRejected`` for a wrong secret."""
    authorize(ctx, "sign_version", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    return approvals.sign_version(ctx.session, actor=ctx.actor, version=v, secret=secret, meaning=meaning)


def signable(ctx: Context, project_id: int, dataset: str, version: str) -> dict[Meaning, str | None]:
    """For every meaning, ``None`` when the caller may sign now, else the reason a signature is refused."""
    authorize(ctx, "signable_version", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    with manifests_for_display(ctx.session):  # what a page offers; signing checks afresh
        return approvals.signing_refusals(ctx.session, actor=ctx.actor, version=v)


def release(ctx: Context, project_id: int, dataset: str, version: str) -> Release:
    """Release a candidate whose latest evaluation passed on unchanged data, with the approvals its policy
    needs: tags the repository and signs the evidence bundle with the workspace's key."""
    authorize(ctx, "release_version", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    settings = ctx.settings
    assert settings.signing_key_path is not None
    return releases.release(
        ctx.session,
        actor=ctx.actor,
        version=v,
        repo_dir=settings.repo_dir,
        signing_key=load_private_key(settings.signing_key_path),
        emitter=workspace_emitter(settings.workspace),
    )


def reject(ctx: Context, project_id: int, dataset: str, version: str, *, reason: str) -> DatasetVersion:
    authorize(ctx, "reject_version", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    return releases.reject(ctx.session, actor=ctx.actor, version=v, reason=reason)


def bundle_of(ctx: Context, project_id: int, dataset: str, version: str) -> dict[str, Any]:
    """The signed evidence bundle of a released version."""
    authorize(ctx, "get_evidence_bundle", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    record = releases.get_release(ctx.session, v)
    if record is None or record.bundle is None:
        raise NotFound(f"{dataset}@{version} has not been released", field="version")
    return record.bundle


def governance_report(ctx: Context, project_id: int, dataset: str, version: str) -> str:
    """The version's data-governance report (EU AI Act Art. 10(2)-(3) headings), HTML."""
    authorize(ctx, "get_version_report", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    return reports.governance_report(ctx.session, version_id=v.id or 0)


def evidence_report(ctx: Context, project_id: int, dataset: str, version: str) -> tuple[GateEvaluation, GatePolicy]:
    """The evaluation that stands as the version's gate evidence (its release's, once released; else the
    latest) and its policy: what the version's gate report shows."""
    authorize(ctx, "get_version_report", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    evaluation = evidence_evaluation(ctx.session, v)
    if evaluation is None:
        raise NotFound("the version has no gate evaluation", field="evaluation")
    policy = ctx.session.get(GatePolicy, evaluation.policy_id)
    assert policy is not None
    return evaluation, policy


def audit_trail_report(
    ctx: Context,
    project_id: int | None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """The audit trail of a period (one project's, or with ``project_id`` None the whole workspace's, which
    needs the admin's reading of the whole log) in the form 21 CFR Part 11 §11.10(e) asks for, HTML."""
    if project_id is None:
        authorize(ctx, "list_audit_events")
        title = "whole workspace"
    else:
        authorize(ctx, "get_audit_trail_report", project_id=project_id)
        project = ctx.session.get(Project, project_id)
        title = f"project {project.name if project else project_id}"
    return reports.audit_trail_report(ctx.session, since=since, until=until, project_id=project_id, title=title)
