"""Gate routes: stored policies, golden sets, and gate evaluations of dataset versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from lineage import gate_records
from lineage.gate_records import evaluate_version, get_policy, register_golden_set, store_policy
from lineage.models import GateEvaluation, GatePolicy, GoldenSet
from service.deps import CallerDep, SessionDep
from service.routes.datasets import VERSION, actor_of, visible_version
from service.schemas_gates import (
    EvaluationCreate,
    EvaluationPublic,
    GoldenSetCreate,
    GoldenSetPublic,
    PolicyCreate,
    PolicyPublic,
)

router = APIRouter(tags=["gates"])
PROJECT = "/projects/{project_id}"


def evaluation_public(record: GateEvaluation, policy_name: str) -> EvaluationPublic:
    return EvaluationPublic(
        id=record.id or 0,
        dataset_version_id=record.dataset_version_id,
        passed=record.passed,
        policy_name=policy_name,
        policy_hash=record.policy_hash,
        gates=record.gates,
        metrics=record.metrics,
        per_class=(record.evidence or {}).get("per_class", {}),
        evidence={k: v for k, v in (record.evidence or {}).items() if k != "per_class"},
        data_hashes=record.data_hashes,
        created_at=record.created_at,
    )


@router.post(PROJECT + "/policies", name="store_policy", response_model=PolicyPublic, status_code=201)
def create_policy(project_id: int, body: PolicyCreate, session: SessionDep, caller: CallerDep) -> GatePolicy:
    """Store a policy as the next version of its name (the same content returns the existing version)."""
    return store_policy(session, actor=actor_of(caller), project_id=project_id, yaml_text=body.yaml)


@router.get(PROJECT + "/policies", name="list_policies", response_model=list[PolicyPublic])
def list_policies(project_id: int, session: SessionDep) -> list[GatePolicy]:
    return gate_records.list_policies(session, project_id=project_id)


@router.post(PROJECT + "/golden-sets", name="register_golden_set", response_model=GoldenSetPublic, status_code=201)
def create_golden_set(project_id: int, body: GoldenSetCreate, session: SessionDep, caller: CallerDep) -> GoldenSet:
    _, version = visible_version(session, caller, project_id, body.dataset, body.version)
    return register_golden_set(session, actor=actor_of(caller), project_id=project_id, name=body.name, version=version)


@router.get(PROJECT + "/golden-sets", name="list_golden_sets", response_model=list[GoldenSetPublic])
def list_golden_sets(project_id: int, session: SessionDep) -> list[GoldenSet]:
    return gate_records.list_golden_sets(session, project_id=project_id)


@router.post(VERSION + "/evaluations", name="evaluate_version", response_model=EvaluationPublic, status_code=201)
def create_evaluation(
    project_id: int, dataset: str, version: str, body: EvaluationCreate, session: SessionDep, caller: CallerDep
) -> EvaluationPublic:
    """Run a stored policy on the version; the verdict is stored and audited (201 whether it passes or not)."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    policy = get_policy(session, project_id=project_id, ref=body.policy)
    outcome = evaluate_version(
        session,
        actor=actor_of(caller),
        version=v,
        policy_record=policy,
        golden_set=body.golden_set,
        acknowledged=tuple(body.acknowledged_changes),
    )
    return evaluation_public(outcome.record, policy.name)


@router.get(VERSION + "/evaluations", name="list_version_evaluations", response_model=list[EvaluationPublic])
def list_version_evaluations(
    project_id: int, dataset: str, version: str, session: SessionDep, caller: CallerDep
) -> list[EvaluationPublic]:
    """Newest first."""
    _, v = visible_version(session, caller, project_id, dataset, version)
    return [evaluation_public(r, name) for r, name in gate_records.version_evaluations(session, version_id=v.id or 0)]


@router.get(PROJECT + "/evaluations", name="list_project_evaluations", response_model=list[dict[str, Any]])
def list_project_evaluations(
    project_id: int, session: SessionDep, limit: int = Query(20, ge=1, le=500)
) -> list[dict[str, Any]]:
    """The project's newest evaluations with their version (``dataset@version``) and verdict."""
    return [
        {**evaluation_public(r, pname).model_dump(mode="json"), "dataset": dname, "version": ver}
        for r, ver, dname, pname in gate_records.project_evaluations(session, project_id=project_id, limit=limit)
    ]
