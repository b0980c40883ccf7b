"""Gate routes: stored policies, golden sets, and gate evaluations of dataset versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from lineage.models import GatePolicy, GoldenSet, VersionState
from service import actions
from service.api.deps import ContextDep
from service.api.routes.datasets import VERSION
from service.api.routes.paging import CutDep
from service.api.schemas.common import ProjectRef, RowId
from service.api.schemas.gates import (
    EvaluationCreate,
    EvaluationPublic,
    GoldenSeed,
    GoldenSetCreate,
    GoldenSetPublic,
    PolicyCreate,
    PolicyPublic,
    VersionEvidencePublic,
    evaluation_public,
    evaluation_summary,
)

router = APIRouter(tags=["gates"])
PROJECT = "/projects/{project_id}"


@router.post(PROJECT + "/policies", name="store_policy", response_model=PolicyPublic, status_code=201)
def create_policy(project_id: ProjectRef, body: PolicyCreate, ctx: ContextDep) -> GatePolicy:
    """Store a policy as the next version of its name (the same content returns the existing version)."""
    return actions.store_policy(ctx, project_id, yaml_text=body.yaml)


@router.get(PROJECT + "/policies", name="list_policies", response_model=list[PolicyPublic])
def list_policies(project_id: ProjectRef, ctx: ContextDep, cut: CutDep) -> list[GatePolicy]:
    return cut(actions.policies(ctx, project_id))


@router.post(PROJECT + "/golden-sets", name="register_golden_set", response_model=GoldenSetPublic, status_code=201)
def create_golden_set(project_id: ProjectRef, body: GoldenSetCreate, ctx: ContextDep) -> GoldenSet:
    """Register a golden dataset's version as the next version of golden set ``name`` (``NAME@VERSION``)."""
    return actions.register_golden(ctx, project_id, name=body.name, dataset=body.dataset, version=body.version)


@router.post(PROJECT + "/golden-sets/seed", name="seed_golden_set", response_model=GoldenSetPublic, status_code=201)
def seed_golden_set(project_id: ProjectRef, body: GoldenSeed, ctx: ContextDep) -> dict[str, Any]:
    """Make the ground truth marked in a labelling tool (Label Studio's ground-truth annotations, imported
    into ``dataset@version``) the next version of golden set ``name``."""
    return actions.seed_golden(
        ctx, project_id, name=body.name, dataset=body.dataset, version=body.version, golden_dataset=body.golden_dataset
    )


@router.get(PROJECT + "/golden-sets", name="list_golden_sets", response_model=list[GoldenSetPublic])
def list_golden_sets(project_id: ProjectRef, ctx: ContextDep, cut: CutDep) -> list[dict[str, Any]]:
    """The project's golden sets, each with the dataset version it names and its size."""
    return cut(actions.golden_sets(ctx, project_id))


@router.post(VERSION + "/evaluations", name="evaluate_version", response_model=EvaluationPublic, status_code=201)
def create_evaluation(
    project_id: ProjectRef, dataset: str, version: str, body: EvaluationCreate, ctx: ContextDep
) -> EvaluationPublic:
    """Run a stored policy on the version against the policy's golden set (or ``golden``); the verdict is
    stored and audited (201 whether it passes or not). 422 (field ``golden``) when a golden-based gate has no
    golden set named, or the one named shares no image or class with the version; 404 for an unknown one.
    On a released version it is a re-check (``purpose: recheck``): the release's evidence stays."""
    view = actions.evaluate(
        ctx,
        project_id,
        dataset,
        version,
        policy=body.policy,
        golden=body.golden,
        acknowledged=tuple(body.acknowledged_changes),
    )
    return evaluation_public(view)


@router.get(VERSION + "/evaluations", name="list_version_evaluations", response_model=list[EvaluationPublic])
def list_version_evaluations(
    project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep, cut: CutDep
) -> list[EvaluationPublic]:
    """Newest first, each with its ``purpose`` (``release_evidence``, ``recheck`` or ``evaluation``)."""
    return cut([evaluation_public(view) for view in actions.version_evaluations(ctx, project_id, dataset, version)])


@router.get(VERSION + "/evidence", name="get_version_evidence", response_model=VersionEvidencePublic)
def get_version_evidence(project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep) -> VersionEvidencePublic:
    """The evaluation that stands as the version's gate evidence (its release's, once released; re-checks
    never replace it), with every evaluation of the version summarised."""
    ref, v, found = actions.version_evidence(ctx, project_id, dataset, version)
    return VersionEvidencePublic(
        version=ref,
        state=str(VersionState(v.state).value),
        basis=found.basis,
        release_id=found.release.id if found.release is not None else None,
        evidence=evaluation_public(found.evidence) if found.evidence is not None else None,
        rechecks=found.rechecks,
        evaluations=[evaluation_summary(w) for w in found.evaluations],
    )


@router.get(PROJECT + "/evaluations/{evaluation_id}", name="get_evaluation", response_model=EvaluationPublic)
def get_evaluation(project_id: ProjectRef, evaluation_id: RowId, ctx: ContextDep) -> EvaluationPublic:
    """One evaluation of the project by id, with its full evidence and plot data (404 when it is not the
    project's, or its dataset is hidden from the caller)."""
    return evaluation_public(actions.evaluation(ctx, project_id, evaluation_id))


@router.get(PROJECT + "/evaluations", name="list_project_evaluations", response_model=list[EvaluationPublic])
def list_project_evaluations(
    project_id: ProjectRef, ctx: ContextDep, limit: int = Query(20, ge=1, le=500)
) -> list[EvaluationPublic]:
    """The project's newest evaluations with their version (``dataset``, ``version``), verdict and purpose."""
    return [evaluation_public(w) for w in actions.project_evaluations(ctx, project_id, limit=limit)]
