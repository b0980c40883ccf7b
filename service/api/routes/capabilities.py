"""What the caller may do: the actions of ``service.permissions.ACTIONS`` their roles allow, so a client
(the dashboard) shows what the server would permit instead of keeping its own copy of the rules."""

from __future__ import annotations

from fastapi import APIRouter

from service import actions
from service.api.deps import ContextDep
from service.api.schemas.common import ProjectRef

router = APIRouter(tags=["users"])


@router.get("/me/capabilities", name="my_capabilities", response_model=list[str])
def my_capabilities(ctx: ContextDep) -> list[str]:
    """The actions outside any project the caller may take (``list_users``, ``verify_audit_chain``, ...)."""
    return actions.capabilities(ctx)


@router.get("/projects/{project_id}/capabilities", name="project_capabilities", response_model=list[str])
def project_capabilities(project_id: ProjectRef, ctx: ContextDep) -> list[str]:
    """The actions the caller may take in the project, its own actions included (404 for a project the caller
    is no member of)."""
    return actions.capabilities(ctx, project_id=project_id)
