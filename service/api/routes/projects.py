"""Project routes: list, create and read projects; list and add their members."""

from __future__ import annotations

from fastapi import APIRouter

from lineage.models import Project
from service import actions
from service.api.deps import ContextDep
from service.api.routes.paging import CutDep
from service.api.schemas.common import MemberCreate, MemberPublic, ProjectCreate, ProjectPublic, ProjectRef

router = APIRouter(tags=["projects"])


@router.get("/projects", name="list_projects", response_model=list[ProjectPublic])
def list_projects(ctx: ContextDep, cut: CutDep) -> list[Project]:
    return cut(actions.projects_of(ctx))


@router.post("/projects", name="create_project", response_model=ProjectPublic, status_code=201)
def create_project(body: ProjectCreate, ctx: ContextDep) -> Project:
    return actions.create_project(ctx, name=body.name, description=body.description)


@router.get("/projects/{project_id}", name="get_project", response_model=ProjectPublic)
def get_project(project_id: ProjectRef, ctx: ContextDep) -> Project:
    return actions.project_of(ctx, project_id)


@router.get("/projects/{project_id}/members", name="list_members", response_model=list[MemberPublic])
def list_members(project_id: ProjectRef, ctx: ContextDep) -> list[MemberPublic]:
    members = actions.members_of(ctx, project_id)
    return [MemberPublic(user_id=u.id or 0, username=u.username, role=m.role) for m, u in members]


@router.post("/projects/{project_id}/members", name="add_member", response_model=MemberPublic, status_code=201)
def add_member(project_id: ProjectRef, body: MemberCreate, ctx: ContextDep) -> MemberPublic:
    m, user = actions.add_member(ctx, project_id, username=body.username, role=body.role)
    return MemberPublic(user_id=user.id or 0, username=user.username, role=m.role)
