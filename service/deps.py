"""FastAPI dependencies: the settings, a database session per request, the authorised caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session, select

from lineage.audit import appended
from lineage.context import Actor
from lineage.errors import LabelgateError, NotFound
from lineage.identity import authenticate_token, project_roles
from lineage.models import ApiToken, Membership, Project, Role, User
from service.checkpointing import after_commit
from service.permissions import ROUTE_PERMISSIONS, Rule
from service.settings import Settings

__all__ = ["Caller", "CallerDep", "SessionDep", "SettingsDep", "Unauthorized"]


class Unauthorized(LabelgateError):
    status_code = 401


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on any error; after a
    commit, a signed audit checkpoint when one is due (``service.checkpointing``)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        wrote = appended(session)
    if wrote:  # reads never move the head: no checkpoint work on them
        after_commit(request.app.state.settings, engine)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer lg_...`")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user, as an audit ``Actor``, and their roles in the route's project (if any);
    ``token`` is the bearer token used (the parent of any token minted with it)."""

    user: User | None
    actor: Actor | None
    project_id: int | None = None
    roles: frozenset[Role] = frozenset()
    token: ApiToken | None = None

    def require_user(self) -> User:
        if self.user is None:
            raise Unauthorized("authentication required")
        return self.user


def authorize(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Apply the route's rule from ``ROUTE_PERMISSIONS``; a route missing from the table is refused."""
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    rule = ROUTE_PERMISSIONS.get(name or "")
    if rule is None:
        raise LabelgateError(f"route {name!r} has no permission rule")  # fails closed
    if rule.kind == "public":
        return Caller(user=None, actor=None)
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    try:
        user, token = authenticate_token(session, credentials.credentials)
    except NotFound as exc:
        raise Unauthorized(f"invalid token: {exc.message}") from None
    actor = Actor(
        user_id=user.id or 0,
        username=user.username,
        request_id=getattr(request.state, "request_id", None),
        is_admin=user.is_admin,
    )
    return replace(_apply_rule(rule, request, session, user, actor), token=token)


def _apply_rule(rule: Rule, request: Request, session: Session, user: User, actor: Actor) -> Caller:
    from lineage.errors import PermissionDenied

    if rule.kind == "authenticated":
        return Caller(user=user, actor=actor)
    if rule.kind == "admin":
        if not user.is_admin:
            raise PermissionDenied("this action needs the admin role")
        return Caller(user=user, actor=actor)
    if rule.kind == "self_or_admin":
        target = request.path_params.get("user_id")
        if not user.is_admin and str(target) != str(user.id):
            raise PermissionDenied("you may manage only your own tokens")
        return Caller(user=user, actor=actor)
    if rule.kind == "any_project_role":
        if user.is_admin:
            return Caller(user=user, actor=actor)
        held = session.exec(select(Membership.role).where(Membership.user_id == user.id)).all()
        if not rule.roles.intersection(Role(r) for r in held):
            raise PermissionDenied(f"this action needs one of the roles {sorted(r.value for r in rule.roles)}")
        return Caller(user=user, actor=actor)
    # project rule
    raw = request.path_params.get("project_id")
    try:
        project_id = int(raw)
    except (TypeError, ValueError):
        raise NotFound("project not found", field="project_id") from None
    if session.get(Project, project_id) is None:
        raise NotFound("project not found", field="project_id")
    roles = frozenset({Role.admin}) if user.is_admin else project_roles(session, user=user, project_id=project_id)
    if not roles:
        raise NotFound("project not found", field="project_id")
    if not user.is_admin and not rule.roles.intersection(roles):
        raise PermissionDenied(
            f"this action needs one of the roles {sorted(r.value for r in rule.roles)} in this project"
        )
    return Caller(user=user, actor=actor, project_id=project_id, roles=roles)


CallerDep = Annotated[Caller, Depends(authorize)]
