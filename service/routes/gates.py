"""Gate routes: stored policies, golden sets, and gate evaluations of dataset versions."""

from __future__ import annotations

from fastapi import APIRouter, Query

from lineage import datasets
from lineage.errors import NotFound
from lineage.gates import records as gate_records
from lineage.gates.records import EvaluationView, evaluate_version, get_policy, register_golden_set, store_policy
from lineage.models import GatePolicy, GoldenSet, VersionState
from service.deps import CallerDep, SessionDep
from service.routes.datasets import VERSION, actor_of, visible_version
from service.schemas import RowId
from service.schemas_gates import (
    EvaluationCreate,
    EvaluationPublic,
    EvaluationSummary,
    GoldenSetBrief,
    GoldenSetCreate,
    GoldenSetPublic,
    PolicyCreate,
    PolicyPublic,
    VersionEvidencePublic,
)

router = APIRouter(tags=["gates"])
PROJECT = "/projects/{project_id}"


def _golden_brief(view: EvaluationView) -> GoldenSetBrief | None:
    recorded = (view.record.evidence or {}).get("golden_set")
    if isinstance(recorded, dict):
        return GoldenSetBrief.model_validate({k: recorded.get(k) for k in GoldenSetBrief.model_fields})
    if view.golden is not None:
        return GoldenSetBrief(id=view.golden.id, name=view.golden.name, version=view.golden.version)
    if isinstance(recorded, str):  # recorded before golden sets were versioned: the name alone
        return GoldenSetBrief(name=recorded)
    return None


def evaluation_summary(view: EvaluationView) -> EvaluationSummary:
    record = view.record
    return EvaluationSummary(
        id=record.id or 0,
        dataset_version_id=record.dataset_version_id,
        dataset=view.dataset.name,
        version=view.version.version,
        purpose=view.purpose,
        release_id=view.release.id if view.release is not None else None,
        passed=record.passed,
        policy_name=view.policy.name,
        policy_version=view.policy.version,
        policy_hash=record.policy_hash,
        golden_set=_golden_brief(view),
        blocking=[str(g.get("name")) for g in record.gates if not g.get("passed")],
        created_at=record.created_at,
    )


def evaluation_public(view: EvaluationView) -> EvaluationPublic:
    record = view.record
    return EvaluationPublic(
        **evaluation_summary(view).model_dump(),
        gates=record.gates,
        metrics=record.metrics,
        per_class=(record.evidence or {}).get("per_class", {}),
        evidence={k: v for k, v in (record.evidence or {}).items() if k != "per_class"},
        data_hashes=record.data_hashes,
    )


@router.post(PROJECT + "/policies", name="store_policy", response_model=PolicyPublic, status_code=201)
def create_policy(project_id: RowId, body: PolicyCreate, session: SessionDep, caller: CallerDep) -> GatePolicy:
    """Store a policy as the next version of its name (the same content returns the existing version)."""
    return store_policy(session, actor=actor_of(caller), project_id=project_id, yaml_text=body.yaml)


@router.get(PROJECT + "/policies", name="list_policies", response_model=list[PolicyPublic])
def list_policies(project_id: RowId, session: SessionDep) -> list[GatePolicy]:
    return gate_records.list_policies(session, project_id=project_id)


@router.post(PROJECT + "/golden-sets", name="register_golden_set", response_model=GoldenSetPublic, status_code=201)
def create_golden_set(project_id: RowId, body: GoldenSetCreate, session: SessionDep, caller: CallerDep) -> GoldenSet:
    """Register a golden dataset's version as the next version of golden set ``name`` (``NAME@VERSION``)."""
    _, version = visible_version(session, caller, project_id, body.dataset, body.version)
    return register_golden_set(session, actor=actor_of(caller), project_id=project_id, name=body.name, version=version)


@router.get(PROJECT + "/golden-sets", name="list_golden_sets", response_model=list[GoldenSetPublic])
def list_golden_sets(project_id: RowId, session: SessionDep) -> list[GoldenSet]:
    return gate_records.list_golden_sets(session, project_id=project_id)


@router.post(VERSION + "/evaluations", name="evaluate_version", response_model=EvaluationPublic, status_code=201)
def create_evaluation(
    project_id: RowId, dataset: str, version: str, body: EvaluationCreate, session: SessionDep, caller: CallerDep
) -> EvaluationPublic:
    """Run a stored policy on the version against the policy's golden set (or ``golden``); the verdict is
    stored and audited (201 whether it passes or not). 422 (field ``golden``) when a golden-based gate has no
    golden set named, or the one named shares no image or class with the version; 404 for an unknown one.
    On a released version it is a re-check (``purpose: recheck``): the release's evidence stays."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    policy = get_policy(session, project_id=project_id, ref=body.policy)
    outcome = evaluate_version(
        session,
        actor=actor_of(caller),
        version=v,
        policy_record=policy,
        golden=body.golden,
        acknowledged=tuple(body.acknowledged_changes),
    )
    view = gate_records.get_evaluation(session, project_id=project_id, evaluation_id=outcome.record.id or 0)
    return evaluation_public(view)


@router.get(VERSION + "/evaluations", name="list_version_evaluations", response_model=list[EvaluationPublic])
def list_version_evaluations(
    project_id: RowId, dataset: str, version: str, session: SessionDep, caller: CallerDep
) -> list[EvaluationPublic]:
    """Newest first, each with its ``purpose`` (``release_evidence``, ``recheck`` or ``evaluation``)."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    return [evaluation_public(view) for view in gate_records.version_evaluations(session, version_id=v.id or 0)]


@router.get(VERSION + "/evidence", name="get_version_evidence", response_model=VersionEvidencePublic)
def get_version_evidence(
    project_id: RowId, dataset: str, version: str, session: SessionDep, caller: CallerDep
) -> VersionEvidencePublic:
    """The evaluation that stands as the version's gate evidence (its release's, once released; re-checks
    never replace it), with every evaluation of the version summarised."""
    ds, v = visible_version(session, caller, project_id, dataset, version)
    found = gate_records.version_evidence(session, v)
    return VersionEvidencePublic(
        version=datasets.version_ref(ds, v),
        state=str(VersionState(v.state).value),
        basis=found.basis,
        release_id=found.release.id if found.release is not None else None,
        evidence=evaluation_public(found.evidence) if found.evidence is not None else None,
        rechecks=found.rechecks,
        evaluations=[evaluation_summary(w) for w in found.evaluations],
    )


@router.get(PROJECT + "/evaluations/{evaluation_id}", name="get_evaluation", response_model=EvaluationPublic)
def get_evaluation(project_id: RowId, evaluation_id: RowId, session: SessionDep, caller: CallerDep) -> EvaluationPublic:
    """One evaluation of the project by id, with its full evidence and plot data (404 when it is not the
    project's, or its dataset is hidden from the caller)."""
    view = gate_records.get_evaluation(session, project_id=project_id, evaluation_id=evaluation_id)
    if datasets.hidden_from(view.dataset, roles=caller.roles, is_admin=bool(caller.actor and caller.actor.is_admin)):
        raise NotFound(f"no evaluation {evaluation_id} in this project", field="evaluation_id")
    return evaluation_public(view)


@router.get(PROJECT + "/evaluations", name="list_project_evaluations", response_model=list[EvaluationPublic])
def list_project_evaluations(
    project_id: RowId, session: SessionDep, caller: CallerDep, limit: int = Query(20, ge=1, le=500)
) -> list[EvaluationPublic]:
    """The project's newest evaluations with their version (``dataset``, ``version``), verdict and purpose."""
    admin = bool(caller.actor and caller.actor.is_admin)
    views = gate_records.project_evaluations(session, project_id=project_id, limit=limit)
    return [
        evaluation_public(w) for w in views if not datasets.hidden_from(w.dataset, roles=caller.roles, is_admin=admin)
    ]
