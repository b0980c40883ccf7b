"""Verbs of the gate on the record: store a policy, register and list golden sets, evaluate a version
under a policy (the service form of ``gate check``), and read evaluations."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from lineage import datasets
from lineage import gates as records
from lineage.errors import NotFound
from lineage.gates import EvaluationView
from lineage.models import DatasetVersion, GatePolicy, GoldenSet
from service.actions.context import Context, authorize
from service.actions.versions import find_version

__all__ = [
    "evaluate",
    "evaluation",
    "golden_sets",
    "newest_policy",
    "policies",
    "project_evaluations",
    "register_golden",
    "store_policy",
    "version_evaluations",
    "version_evidence",
]


def store_policy(ctx: Context, project_id: int, *, yaml_text: str) -> GatePolicy:
    """Validate a policy and store it as the next version of its name (the same content: the existing one)."""
    authorize(ctx, "store_policy", project_id=project_id)
    return records.store_policy(ctx.session, actor=ctx.actor, project_id=project_id, yaml_text=yaml_text)


def policies(ctx: Context, project_id: int) -> list[GatePolicy]:
    authorize(ctx, "list_policies", project_id=project_id)
    return records.list_policies(ctx.session, project_id=project_id)


def newest_policy(ctx: Context, project_id: int) -> GatePolicy:
    """The project's most recently stored policy version (``NotFound`` when it has none)."""
    authorize(ctx, "list_policies", project_id=project_id)
    stmt = select(GatePolicy).where(GatePolicy.project_id == project_id).order_by(col(GatePolicy.id).desc())
    newest = ctx.session.exec(stmt).first()
    if newest is None:
        raise NotFound("the project has no stored policy; pass --policy FILE", field="--policy")
    return newest


def register_golden(ctx: Context, project_id: int, *, name: str, dataset: str, version: str) -> GoldenSet:
    """Register a golden dataset's version as the next version of golden set ``name``."""
    authorize(ctx, "register_golden_set", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    return records.register_golden_set(ctx.session, actor=ctx.actor, project_id=project_id, name=name, version=v)


def seed_golden(
    ctx: Context, project_id: int, *, name: str, dataset: str, version: str, golden_dataset: str | None = None
) -> dict[str, Any]:
    """Make the ground truth marked in a labelling tool (labels of ``dataset@version`` with
    ``made.ground_truth``) the next version of golden set ``name``: a new version of the project's golden
    dataset holding those items and labels (``lineage.gates.golden_seed``)."""
    authorize(ctx, "seed_golden_set", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    from lineage.gates.golden_seed import seed_golden as seed

    golden = seed(
        ctx.session,
        actor=ctx.actor,
        source=v,
        repo_dir=ctx.settings.repo_dir,
        name=name,
        dataset_name=golden_dataset,
    )
    return {**golden.model_dump(), **records.golden_summary(ctx.session, golden)}


def golden_sets(ctx: Context, project_id: int) -> list[dict[str, Any]]:
    """The project's golden sets, each with the dataset version it names and its size."""
    authorize(ctx, "list_golden_sets", project_id=project_id)
    found = records.list_golden_sets(ctx.session, project_id=project_id)
    return [{**g.model_dump(), **records.golden_summary(ctx.session, g)} for g in found]


def evaluate(
    ctx: Context,
    project_id: int,
    dataset: str,
    version: str,
    *,
    policy: str,
    golden: str | None = None,
    acknowledged: tuple[str, ...] = (),
) -> EvaluationView:
    """Run stored policy ``policy`` (``NAME@VERSION``) on the version against the policy's golden set (or
    ``golden``); the verdict is stored and audited whether it passes or not. On a released version it is a
    re-check: the release's evidence stays."""
    authorize(ctx, "evaluate_version", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    record = records.get_policy(ctx.session, project_id=project_id, ref=policy)
    outcome = records.evaluate_version(
        ctx.session, actor=ctx.actor, version=v, policy_record=record, golden=golden, acknowledged=acknowledged
    )
    return records.get_evaluation(ctx.session, project_id=project_id, evaluation_id=outcome.record.id or 0)


def evaluation(ctx: Context, project_id: int, evaluation_id: int) -> EvaluationView:
    """One evaluation of the project (``NotFound`` when its dataset is hidden from the caller)."""
    roles = authorize(ctx, "get_evaluation", project_id=project_id)
    view = records.get_evaluation(ctx.session, project_id=project_id, evaluation_id=evaluation_id)
    if datasets.hidden_from(view.dataset, roles=roles, is_admin=ctx.user.is_admin):
        raise NotFound(f"no evaluation {evaluation_id} in this project", field="evaluation_id")
    return view


def version_evaluations(ctx: Context, project_id: int, dataset: str, version: str) -> list[EvaluationView]:
    """The version's evaluations, newest first, each with its purpose."""
    authorize(ctx, "list_version_evaluations", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    return records.version_evaluations(ctx.session, version_id=v.id or 0)


def version_evidence(
    ctx: Context, project_id: int, dataset: str, version: str
) -> tuple[str, DatasetVersion, records.VersionEvidence]:
    """``(DATASET@VERSION, the version, what stands as its gate evidence)``: its release's evaluation once
    released (re-checks never replace it), else the latest; with every evaluation of the version."""
    authorize(ctx, "get_version_evidence", project_id=project_id)
    found_dataset, v = find_version(ctx, project_id, dataset, version)
    return datasets.version_ref(found_dataset, v), v, records.version_evidence(ctx.session, v)


def project_evaluations(ctx: Context, project_id: int, *, limit: int = 20) -> list[EvaluationView]:
    """The project's newest evaluations, those of datasets hidden from the caller left out."""
    roles = authorize(ctx, "list_project_evaluations", project_id=project_id)
    views = records.project_evaluations(ctx.session, project_id=project_id, limit=limit)
    return [w for w in views if not datasets.hidden_from(w.dataset, roles=roles, is_admin=ctx.user.is_admin)]
