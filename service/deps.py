"""FastAPI dependencies: the settings, a database session per request, the authorised caller."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session, select

from lineage.audit.chain import appended
from lineage.context import Actor
from lineage.errors import InvalidInput, LabelgateError, NotFound
from lineage.identity.accounts import authenticate_token, project_roles
from lineage.models import ApiToken, Membership, Project, Role, User
from service.checkpointing import after_commit
from service.middleware import accepted_media_types, accepts, body_kind, media_type
from service.permissions import ROUTE_PERMISSIONS, Rule
from service.schemas import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN
from service.settings import Settings

__all__ = [
    "MAX_BODY_DEPTH",
    "Caller",
    "CallerDep",
    "Offset",
    "SessionDep",
    "SettingsDep",
    "Unauthorized",
    "UnsupportedMediaType",
    "check_inputs",
    "printable",
]

#: The deepest nesting any JSON body may have (free-form fields have their own, lower limit).
MAX_BODY_DEPTH = 32
# NUL cannot be stored in a PostgreSQL text or jsonb value; a lone surrogate cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Unauthorized(LabelgateError):
    status_code = 401


class UnsupportedMediaType(LabelgateError):
    status_code = 415


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
#: A page's offset: 0 to 2**63 - 1 (rows to skip).
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="rows to skip")]

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
    project_id = _path_id(request.path_params.get("project_id"), "project_id")
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


def _path_id(raw: object, name: str) -> int:
    # Read before FastAPI validates the path: refused the way the route's own `RowId` would refuse it.
    try:
        value = int(str(raw))
    except ValueError:
        raise InvalidInput("Input should be a valid integer", field=f"path.{name}") from None
    if not INT32_MIN <= value <= INT32_MAX:
        raise InvalidInput(f"Input should be between {INT32_MIN} and {INT32_MAX}", field=f"path.{name}")
    return value


def _check_text(text: str, field: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise InvalidInput("a NUL character (\\x00) is not accepted in text", field=field)
    raise InvalidInput(f"not valid Unicode: lone surrogate {found.group()!a}", field=field)


def printable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as escapes (``\\x00``, ``\\udc80``): safe to name in an
    error, which is UTF-8 JSON."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _where(path: tuple[str | int, ...]) -> str:
    return printable(".".join(str(p) for p in path)) or "body"


def check_json(value: Any) -> None:
    """Refuse (``InvalidInput``, the field named as a dotted path) a parsed JSON body that no database can
    store or that nests more than ``MAX_BODY_DEPTH`` (32) levels: text (keys included) holding NUL or a lone
    surrogate, NaN or Infinity (Python's parser accepts them), integers outside the signed 64-bit range."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict | list) and len(path) >= MAX_BODY_DEPTH:
            raise InvalidInput(f"nested more than {MAX_BODY_DEPTH} levels deep", field=_where(path))
        if isinstance(node, dict):
            for key, child in node.items():
                _check_text(key, _where((*path, key)))
                stack.append((child, (*path, key)))
        elif isinstance(node, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(node))
        elif isinstance(node, str):
            _check_text(node, _where(path))
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidInput("NaN and Infinity are not accepted; give a finite number", field=_where(path))
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            raise InvalidInput("integer outside the signed 64-bit range", field=_where(path))


async def check_inputs(request: Request) -> None:
    """Applied to every route after ``authorize``, before the route's own validation. A body whose
    Content-Type the route does not read (JSON routes: ``application/json`` or ``application/*+json``; form
    routes: multipart or URL-encoded forms), or a body without one, is refused with 415. Path and query
    values, form text fields and JSON bodies must then pass :func:`check_json`'s rules (422)."""
    for name, value in request.path_params.items():
        _check_text(str(value), f"path.{name}")
    for key, value in request.query_params.multi_items():
        _check_text(key, "query")
        _check_text(value, f"query.{printable(key)}")
    kind = body_kind(request.scope.get("route"))
    if kind is None:
        return
    given = request.headers.get("content-type")
    if given is None and not await request.body():
        return  # no body at all: the route's validation says what is missing
    if given is None or not accepts(kind, media_type(given)):
        what = f"Content-Type {media_type(given)!r}" if given is not None else "a body without a Content-Type"
        raise UnsupportedMediaType(
            f"this endpoint takes {' or '.join(accepted_media_types(kind))}, not {what}", field="content-type"
        )
    if kind == "json" and await request.body():
        check_json(await request.json())
    elif kind == "form":
        form = await request.form()
        for key, value in form.multi_items():
            _check_text(key, "body")
            if isinstance(value, str):
                _check_text(value, printable(key))
