"""Overview routes (``service.actions.overview``): what needs attention in a project, and who may sign a
version under its release rules (four-eyes: the authors excluded, by name)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from service.actions.overview import attention, signoff
from service.api.deps import ContextDep
from service.api.routes.datasets import VERSION
from service.api.schemas.common import ProjectRef

__all__ = ["AttentionPublic", "SignoffPublic", "router"]

router = APIRouter(tags=["overview"])


class VersionAttention(BaseModel):
    """A draft or candidate whose latest evaluation asks for attention; ``reasons`` (stale), ``blocking``
    (blocked) and ``approvals``/``approvals_needed`` (awaiting approval) where they apply."""

    dataset: str
    version: str
    ref: str
    state: str
    golden: bool
    evaluation_id: int | None
    evaluated_at: datetime
    policy: str
    reasons: list[str] = []
    blocking: list[str] = []
    approvals: int | None = None
    approvals_needed: int | None = None


class ReleaseSummary(BaseModel):
    dataset: str
    version: str
    ref: str
    released_at: datetime
    released_by: str
    evaluation_id: int
    git_tag: str | None


class ChainSummary(BaseModel):
    """The audit chain's head and its newest signed checkpoint (``None`` values: none yet)."""

    head_seq: int | None
    checkpoint_seq: int | None
    checkpoint_hash: str | None
    checkpoint_ts: str | None
    checkpoint_key_id: str | None
    events_after_checkpoint: int
    problems: list[str]


class AttentionPublic(BaseModel):
    project_id: int
    awaiting_approval: list[VersionAttention]
    blocked: list[VersionAttention]
    stale: list[VersionAttention]
    stale_definition: str
    recent_releases: list[ReleaseSummary]
    chain: ChainSummary | None


class ExcludedUser(BaseModel):
    username: str
    full_name: str


class SignoffPublic(BaseModel):
    """The release rules applying to a version (its latest evaluation's policy) and the users four-eyes
    excludes from approving it; ``approvals_needed`` is ``None`` while it has no evaluation."""

    dataset: str
    version: str
    ref: str
    evaluated: bool
    four_eyes: bool
    approvals_needed: int | None
    approvals_counting: int
    approver_roles: list[str]
    excluded: list[ExcludedUser]


@router.get("/projects/{project_id}/overview", name="project_overview", response_model=AttentionPublic)
def get_overview(project_id: ProjectRef, ctx: ContextDep) -> dict[str, Any]:
    """Versions awaiting approval, blocked and with stale evaluations, recent releases, and (for those who
    may verify the chain) the audit chain's last signed checkpoint."""
    return attention(ctx, project_id)


@router.get(VERSION + "/signoff", name="version_signoff", response_model=SignoffPublic)
def get_signoff(project_id: ProjectRef, dataset: str, version: str, ctx: ContextDep) -> dict[str, Any]:
    """Release rules of the version and the authors four-eyes excludes from approving it."""
    return signoff(ctx, project_id, dataset, version)
