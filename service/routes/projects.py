from __future__ import annotations

from fastapi import APIRouter

from lineage import identity
from lineage.errors import NotFound
from lineage.models import Project
from service.deps import CallerDep, SessionDep
from service.schemas import MemberCreate, MemberPublic, ProjectCreate, ProjectPublic, RowId

router = APIRouter(tags=["projects"])


def _project(session: SessionDep, project_id: RowId) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound("project not found", field="project_id")
    return project


@router.get("/projects", name="list_projects", response_model=list[ProjectPublic])
def list_projects(session: SessionDep, caller: CallerDep) -> list[Project]:
    return identity.visible_projects(session, user=caller.require_user())


@router.post("/projects", name="create_project", response_model=ProjectPublic, status_code=201)
def create_project(body: ProjectCreate, session: SessionDep, caller: CallerDep) -> Project:
    assert caller.actor is not None
    return identity.create_project(session, actor=caller.actor, name=body.name, description=body.description)


@router.get("/projects/{project_id}", name="get_project", response_model=ProjectPublic)
def get_project(project_id: RowId, session: SessionDep) -> Project:
    return _project(session, project_id)


@router.get("/projects/{project_id}/members", name="list_members", response_model=list[MemberPublic])
def list_members(project_id: RowId, session: SessionDep) -> list[MemberPublic]:
    return [
        MemberPublic(user_id=u.id or 0, username=u.username, role=m.role)
        for m, u in identity.list_members(session, project_id=project_id)
    ]


@router.post("/projects/{project_id}/members", name="add_member", response_model=MemberPublic, status_code=201)
def add_member(project_id: RowId, body: MemberCreate, session: SessionDep, caller: CallerDep) -> MemberPublic:
    assert caller.actor is not None
    project = _project(session, project_id)
    user = identity.get_user_by_name(session, body.username)
    m = identity.add_member(session, actor=caller.actor, project=project, user=user, role=body.role)
    return MemberPublic(user_id=user.id or 0, username=user.username, role=m.role)
