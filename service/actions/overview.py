"""Verbs of the overview: what in a project needs a person's attention now, and who may sign a version.

:func:`attention` answers the dashboard's overview in one call, so the page does not re-derive release rules
or four-eyes from many listings (the dashboard keeps no copy of the rules):

- **awaiting approval**: candidates whose latest evaluation passed and that hold fewer counting approvals
  than their policy's release rules need (``lineage.release.four_eyes.counting_approvals``);
- **blocked**: drafts and candidates whose latest evaluation blocked;
- **stale evaluations**: drafts and candidates whose latest evaluation no longer describes them, by
  :data:`STALE_DEFINITION`;
- **recent releases**, newest first;
- the audit chain's head and its **last signed checkpoint** (``lineage.audit.checkpoints``), for callers who
  may verify the chain.

:func:`signoff` answers "who may not sign this version, and how many signatures does it still need?": the
authors four-eyes excludes (``lineage.release.four_eyes.version_authors``) by name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, func, select

from lineage import datasets
from lineage.audit.chain import chain_head
from lineage.audit.checkpoints import load_repo_checkpoints
from lineage.errors import NotFound, PermissionDenied
from lineage.gates.evaluations import latest_evaluation, stale_hashes
from lineage.labels.labelset import manifests_for_display
from lineage.models import Dataset, DatasetVersion, GateEvaluation, GatePolicy, Release, User, VersionState
from lineage.release.four_eyes import ApprovalRules, counting_approvals, version_authors
from lineage.release.releases import release_rules
from service.actions.context import Context, authorize
from service.actions.versions import find_version

__all__ = ["RECENT_RELEASES", "STALE_DEFINITION", "attention", "signoff"]

RECENT_RELEASES = 5
STALE_DEFINITION = (
    "An evaluation is stale when the version's data or labels changed after it (its recorded data hashes no "
    "longer match the version's current ones) or when its policy has a newer stored version than the one "
    "it was run under. Only the latest evaluation of a draft or candidate is judged; a released version "
    "keeps the evaluation its release rests on."
)
_OPEN = (VersionState.draft.value, VersionState.candidate.value)


def _ref(dataset: Dataset, version: DatasetVersion) -> dict[str, Any]:
    return {"dataset": dataset.name, "version": version.version, "ref": f"{dataset.name}@{version.version}"}


def _newest_policy_versions(ctx: Context, project_id: int) -> dict[str, int]:
    rows = ctx.session.exec(
        select(GatePolicy.name, func.max(GatePolicy.version))
        .where(GatePolicy.project_id == project_id)
        .group_by(GatePolicy.name)
    )
    return {str(name): int(v) for name, v in rows}


def _rules(ctx: Context, evaluation: GateEvaluation) -> tuple[GatePolicy, ApprovalRules]:
    policy = ctx.session.get(GatePolicy, evaluation.policy_id)
    assert policy is not None
    return policy, release_rules(ctx.session, policy)


def _stale_reasons(
    ctx: Context, version: DatasetVersion, evaluation: GateEvaluation, policy: GatePolicy, newest: dict[str, int]
) -> list[str]:
    reasons = []
    with manifests_for_display(ctx.session):  # a page: the overview shows, it decides nothing
        changed = stale_hashes(ctx.session, version, evaluation)
    if changed:
        reasons.append("data or labels changed since (" + ", ".join(changed) + ")")
    if newest.get(policy.name, policy.version) > policy.version:
        reasons.append(
            f"policy {policy.name} has a newer version (v{newest[policy.name]}; evaluated under v{policy.version})"
        )
    return reasons


def _checkpoint(ctx: Context) -> dict[str, Any] | None:
    """The chain head and the newest signed checkpoint in the workspace's repository."""
    head = chain_head(ctx.session)
    found, problems = load_repo_checkpoints(ctx.settings.repo_dir)
    newest = max(found, key=lambda cp: cp.seq, default=None)
    return {
        "head_seq": head.seq if head else None,
        "checkpoint_seq": newest.seq if newest else None,
        "checkpoint_hash": newest.hash if newest else None,
        "checkpoint_ts": newest.ts if newest else None,
        "checkpoint_key_id": newest.key_id if newest else None,
        "events_after_checkpoint": (head.seq - newest.seq) if head and newest else (head.seq if head else 0),
        "problems": problems,
    }


def _may_verify_chain(ctx: Context) -> bool:
    try:
        authorize(ctx, "verify_audit_chain")
    except (PermissionDenied, NotFound):
        return False
    return True


def attention(ctx: Context, project_id: int) -> dict[str, Any]:
    """What needs attention in the project (module doc); golden datasets are left out for those who may not
    see them (annotators)."""
    with manifests_for_display(ctx.session):  # the overview shows; approving and releasing decide
        return _attention(ctx, project_id)


def _attention(ctx: Context, project_id: int) -> dict[str, Any]:
    roles = authorize(ctx, "project_overview", project_id=project_id)
    include_golden = not datasets.hidden_from(
        Dataset(project_id=project_id, name="-", is_golden=True, created_by=0), roles=roles, is_admin=ctx.user.is_admin
    )
    newest = _newest_policy_versions(ctx, project_id)
    awaiting: list[dict[str, Any]] = []
    blocked: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    for dataset in datasets.list_datasets(ctx.session, project_id=project_id, include_golden=include_golden):
        for version in datasets.list_versions(ctx.session, dataset=dataset):
            if version.state not in _OPEN:
                continue
            evaluation = latest_evaluation(ctx.session, version)
            if evaluation is None:
                continue
            policy, rules = _rules(ctx, evaluation)
            row = {
                **_ref(dataset, version),
                "state": str(version.state),
                "golden": dataset.is_golden,
                "evaluation_id": evaluation.id,
                "evaluated_at": evaluation.created_at,
                "policy": f"{policy.name}@{policy.version}",
            }
            reasons = _stale_reasons(ctx, version, evaluation, policy, newest)
            if reasons:
                stale.append({**row, "reasons": reasons})
            if not evaluation.passed:
                failing = [str(g.get("name")) for g in evaluation.gates or [] if not g.get("passed")]
                blocked.append({**row, "blocking": failing})
            elif version.state == VersionState.candidate.value:
                have = len(counting_approvals(ctx.session, version, rules))
                if have < rules.approvals:
                    awaiting.append({**row, "approvals": have, "approvals_needed": rules.approvals})
    return {
        "project_id": project_id,
        "awaiting_approval": awaiting,
        "blocked": blocked,
        "stale": stale,
        "stale_definition": STALE_DEFINITION,
        "recent_releases": _recent_releases(ctx, project_id, include_golden=include_golden),
        "chain": _checkpoint(ctx) if _may_verify_chain(ctx) else None,
    }


def _recent_releases(ctx: Context, project_id: int, *, include_golden: bool) -> list[dict[str, Any]]:
    stmt = (
        select(Release, DatasetVersion, Dataset, User)
        .join(DatasetVersion, col(DatasetVersion.id) == Release.dataset_version_id)
        .join(Dataset, col(Dataset.id) == DatasetVersion.dataset_id)
        .join(User, col(User.id) == Release.released_by)
        .where(Dataset.project_id == project_id)
        .order_by(col(Release.released_at).desc())
        .limit(RECENT_RELEASES)
    )
    if not include_golden:
        stmt = stmt.where(Dataset.is_golden == False)  # noqa: E712
    rows: list[dict[str, Any]] = []
    for release, version, dataset, user in ctx.session.exec(stmt):
        released_at: datetime = release.released_at
        rows.append(
            {
                **_ref(dataset, version),
                "released_at": released_at,
                "released_by": user.username,
                "evaluation_id": release.evaluation_id,
                "git_tag": release.git_tag,
            }
        )
    return rows


def _counting(ctx: Context, version: DatasetVersion, rules: ApprovalRules) -> int:
    """How many approvals count now, for the sign-off panel (it shows; approving and releasing decide)."""
    with manifests_for_display(ctx.session):
        return len(counting_approvals(ctx.session, version, rules))


def signoff(ctx: Context, project_id: int, dataset: str, version: str) -> dict[str, Any]:
    """The release rules that apply to the version (those of its latest evaluation's policy), the approvals
    that count now, and the users four-eyes excludes from approving it (its authors), by name."""
    authorize(ctx, "version_signoff", project_id=project_id)
    found, v = find_version(ctx, project_id, dataset, version)
    evaluation = latest_evaluation(ctx.session, v)
    if evaluation is None:
        return {**_ref(found, v), "evaluated": False, "four_eyes": True, "approvals_needed": None,
                "approvals_counting": 0, "approver_roles": [], "excluded": []}  # fmt: skip
    _, rules = _rules(ctx, evaluation)
    authors = version_authors(ctx.session, v) if rules.four_eyes else set()
    users: Any = (
        ctx.session.exec(select(User).where(col(User.id).in_(authors)).order_by(col(User.username))) if authors else []
    )
    return {
        **_ref(found, v),
        "evaluated": True,
        "four_eyes": rules.four_eyes,
        "approvals_needed": rules.approvals,
        "approvals_counting": _counting(ctx, v, rules),
        "approver_roles": sorted(r.value for r in rules.approver_roles),
        "excluded": [{"username": u.username, "full_name": u.full_name} for u in users],
    }
