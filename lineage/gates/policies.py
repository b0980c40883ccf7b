"""Gate policies on the record: a project's policies, versioned by name like schemas.

Storing a policy validates its YAML (``quality_gates.parse_policy``) and makes it the next version of its
name; storing unchanged content (the same ``policy_hash``) returns the version that already holds it.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.errors import InvalidInput, NotFound
from lineage.models import GatePolicy
from quality_gates import GateError, parse_policy, policy_hash

__all__ = ["get_policy", "list_policies", "store_policy"]


def store_policy(session: Session, *, actor: Actor, project_id: int, yaml_text: str) -> GatePolicy:
    """Validate and store a policy as the next version of its name (unchanged content: the same version)."""
    try:
        policy = parse_policy(yaml_text)
    except GateError as exc:
        raise InvalidInput(str(exc), field="policy") from None
    digest = policy_hash(policy)
    latest = session.exec(
        select(GatePolicy)
        .where(GatePolicy.project_id == project_id, GatePolicy.name == policy.name)
        .order_by(col(GatePolicy.version).desc())
    ).first()
    if latest is not None and latest.policy_hash == digest:
        return latest
    record = GatePolicy(
        project_id=project_id,
        name=policy.name,
        version=(latest.version + 1) if latest else 1,
        yaml_text=yaml_text,
        policy_hash=digest,
        created_by=actor.user_id,
    )
    session.add(record)
    session.flush()
    record_event(
        session,
        actor,
        "policy.store",
        ("gate_policy", str(record.id)),
        project_id=project_id,
        payload={"name": record.name, "version": record.version, "policy_hash": digest},
    )
    return record


def get_policy(session: Session, *, project_id: int, ref: str) -> GatePolicy:
    """``NAME`` (latest version) or ``NAME@VERSION``."""
    name, _, version = ref.partition("@")
    stmt = select(GatePolicy).where(GatePolicy.project_id == project_id, GatePolicy.name == name)
    if version:
        if not version.isdigit():
            raise InvalidInput(f"policy version must be a number, got {version!r}", field="policy")
        stmt = stmt.where(GatePolicy.version == int(version))
    found = session.exec(stmt.order_by(col(GatePolicy.version).desc())).first()
    if found is None:
        raise NotFound(f"no policy {ref!r} in this project", field="policy")
    return found


def list_policies(session: Session, *, project_id: int) -> list[GatePolicy]:
    stmt = select(GatePolicy).where(GatePolicy.project_id == project_id)
    return list(session.exec(stmt.order_by(col(GatePolicy.name), col(GatePolicy.version))))
