"""Users, projects and memberships: creating them (audited), and who belongs to which project in which role.

Roles are granted per project (a ``Membership``); ``admin`` alone is global (``User.is_admin``), so it is
never granted as a project role.
"""

from __future__ import annotations

import re

from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.audit.chain import append_event, record_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import Membership, Project, Role, User

__all__ = [
    "add_member",
    "create_project",
    "create_user",
    "get_user_by_name",
    "list_members",
    "list_users",
    "memberships_of",
    "project_roles",
    "visible_projects",
]

#: Digits, optionally signed: what an API path reads as a project id rather than a name.
_SIGNED_DECIMAL = re.compile(r"[+-]?[0-9]+")


def create_user(
    session: Session,
    *,
    actor: Actor | None,
    username: str,
    full_name: str,
    email: str | None = None,
    is_admin: bool = False,
) -> User:
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise Conflict(f"a user named {username!r} already exists", field="username")
    user = User(username=username, full_name=full_name, email=email, is_admin=is_admin)
    session.add(user)
    session.flush()
    append_event(
        session,
        actor=actor.username if actor else "system",
        request_id=actor.request_id if actor else None,
        action="user.create",
        object_type="user",
        object_id=str(user.id),
        payload={"username": username, "full_name": full_name, "is_admin": is_admin},
    )
    return user


def create_project(session: Session, *, actor: Actor, name: str, description: str = "") -> Project:
    if _SIGNED_DECIMAL.fullmatch(name):
        # A URL's project segment is read as an id when it is digits (``/projects/7``), as a name otherwise.
        raise InvalidInput(f"a project name may not be a number ({name!r} would read as a project id)", field="name")
    if session.exec(select(Project).where(Project.name == name)).first() is not None:
        raise Conflict(f"a project named {name!r} already exists", field="name")
    project = Project(name=name, description=description, created_by=actor.user_id)
    session.add(project)
    session.flush()
    record_event(
        session,
        actor,
        "project.create",
        ("project", str(project.id)),
        project_id=project.id,
        payload={"name": name, "description": description},
    )
    return project


def add_member(session: Session, *, actor: Actor, project: Project, user: User, role: Role) -> Membership:
    if role is Role.admin:
        raise InvalidInput("admin is a global role, not a project role", field="role")
    existing = session.exec(
        select(Membership).where(
            Membership.project_id == project.id, Membership.user_id == user.id, Membership.role == role
        )
    ).first()
    if existing is not None:
        return existing
    membership = Membership(user_id=user.id or 0, project_id=project.id or 0, role=role)
    session.add(membership)
    session.flush()
    record_event(
        session,
        actor,
        "project.member.add",
        ("project", str(project.id)),
        project_id=project.id,
        payload={"user": user.username, "role": str(role)},
        rows=[membership],
    )
    return membership


def project_roles(session: Session, *, user: User, project_id: int) -> frozenset[Role]:
    rows = session.exec(
        select(Membership.role).where(Membership.user_id == user.id, Membership.project_id == project_id)
    ).all()
    return frozenset(Role(r) for r in rows)


def list_users(session: Session, *, offset: int = 0, limit: int = 100) -> tuple[list[User], int]:
    total = int(session.exec(select(func.count()).select_from(User)).one())
    items = list(session.exec(select(User).order_by(col(User.id)).offset(offset).limit(limit)))
    return items, total


def get_user_by_name(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def visible_projects(session: Session, *, user: User) -> list[Project]:
    """Every project for an admin; otherwise the projects where the user holds any role."""
    stmt = select(Project).order_by(col(Project.id))
    if not user.is_admin:
        member_of = select(Membership.project_id).where(Membership.user_id == user.id)
        stmt = stmt.where(col(Project.id).in_(member_of))
    return list(session.exec(stmt))


def list_members(session: Session, *, project_id: int) -> list[tuple[Membership, User]]:
    stmt = (
        select(Membership, User)
        .join(User, col(User.id) == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(col(User.username), col(Membership.role))
    )
    return [(m, u) for m, u in session.exec(stmt)]


def memberships_of(session: Session, *, user: User) -> list[tuple[Membership, Project]]:
    stmt = (
        select(Membership, Project)
        .join(Project, col(Project.id) == Membership.project_id)
        .where(Membership.user_id == user.id)
        .order_by(col(Project.name), col(Membership.role))
    )
    return [(m, p) for m, p in session.exec(stmt)]
