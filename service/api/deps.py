"""FastAPI dependencies: the settings, a database session per request, the authorised caller."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, select

from lineage.audit.chain import appended
from lineage.context import Actor
from lineage.errors import InvalidInput, LabelgateError, NotFound
from lineage.models import ApiToken, Project, Role, User
from service.actions.context import Context, Principal, Unauthorized, authenticate
from service.actions.context import authorize as actions_authorize
from service.api.middleware import accepted_media_types, accepts, body_kind, media_type
from service.api.schemas.common import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN
from service.checkpointing import after_commit
from service.permissions import ACTIONS
from service.settings import Settings

__all__ = [
    "MAX_BODY_DEPTH",
    "Caller",
    "CallerDep",
    "ContextDep",
    "Offset",
    "ServiceBusy",
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
_DECIMAL = re.compile(r"[+-]?[0-9]+")


class UnsupportedMediaType(LabelgateError):
    status_code = 415


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


class ServiceBusy(LabelgateError):
    """Every database connection stayed busy for as long as a request waits for one: the server is at capacity."""

    status_code = 503


#: How many of the pool's timeouts (``pool_timeout``, 30 s by default) a request waits for a connection before
#: it is answered 503: under a burst, requests queue for the pool rather than fail after its first timeout.
CONNECTION_WAITS = 4


def _connect(session: Session, engine: Engine) -> None:
    """Check the request's connection out of the pool now, waiting up to ``CONNECTION_WAITS`` pool timeouts;
    :class:`ServiceBusy` (503, nothing done) when none came free. Without this, the first query (the token's)
    gave up after one timeout with an unhandled ``TimeoutError``: a 500 under load."""
    for _ in range(CONNECTION_WAITS):
        try:
            session.connection()
            return
        except SQLAlchemyTimeoutError:
            continue
    timeout = engine.pool.timeout() if isinstance(engine.pool, QueuePool) else 0.0
    raise ServiceBusy(
        f"the server is at capacity: no database connection came free in {CONNECTION_WAITS * timeout:g} s; "
        "retry shortly"
    )


def get_session(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on any error; after a
    commit, a signed audit checkpoint when one is due (``service.checkpointing``). The connection is taken
    first (:func:`_connect`), so a request the pool cannot serve is refused before anything is read."""
    with Session(engine, expire_on_commit=False) as session:
        _connect(session, engine)
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
#: ``scope="function"``: the transaction commits before the response is sent (FastAPI's default runs a yield
#: dependency's exit after sending), so a client never reads a 2xx for a write that is not yet visible, or that
#: then fails to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
#: A page's offset: 0 to 2**63 - 1 (rows to skip).
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="rows to skip")]

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer lg_...`")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller (``principal``: user, audit ``Actor``, the bearer token used, the parent of
    any token minted with it) and their roles in the route's project (if any)."""

    principal: Principal | None
    project_id: int | None = None
    roles: frozenset[Role] = frozenset()

    @property
    def user(self) -> User | None:
        return self.principal.user if self.principal else None

    @property
    def actor(self) -> Actor | None:
        return self.principal.actor if self.principal else None

    @property
    def token(self) -> ApiToken | None:
        return self.principal.token if self.principal else None

    def require_user(self) -> User:
        if self.principal is None:
            raise Unauthorized("authentication required")
        return self.principal.user


def authorize(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the bearer token and apply the rule of the route's action (``service.permissions``,
    the route's name is the action's); a route missing from the table is refused."""
    route = request.scope.get("route")
    name = getattr(route, "name", None) or ""
    rule = ACTIONS.get(name)
    if rule is None:
        raise LabelgateError(f"route {name!r} has no permission rule")  # fails closed
    _resolve_project(request, session)
    if rule.kind == "public":
        return Caller(principal=None)
    token = credentials.credentials if credentials is not None else None
    principal = authenticate(session, token, request=getattr(request.state, "request_id", None))
    ctx = Context(session=session, principal=principal, settings=request.app.state.settings)
    project_id = _path_id(request.path_params.get("project_id"), "project_id") if rule.kind == "project" else None
    target = request.path_params.get("user_id")
    target_id = _path_id(target, "user_id") if rule.kind == "self_or_admin" and target is not None else None
    roles = actions_authorize(ctx, name, project_id=project_id, target_user_id=target_id)
    return Caller(principal=principal, project_id=project_id, roles=roles)


def context_of(session: SessionDep, caller: Annotated[Caller, Depends(authorize)], settings: SettingsDep) -> Context:
    """The verb context of an authenticated route: its transaction, its caller, the workspace's settings."""
    if caller.principal is None:
        raise Unauthorized("authentication required")
    return Context(session=session, principal=caller.principal, settings=settings)


CallerDep = Annotated[Caller, Depends(authorize)]
ContextDep = Annotated[Context, Depends(context_of)]


def _resolve_project(request: Request, session: Session) -> None:
    """A project path segment may be the project's id (decimal digits) or its name (``street-scenes``).
    A name is replaced by its id in the request's path parameters before the route reads them, so every
    project route accepts both and sees an id. An unknown name is "project not found" (404), the answer a
    non-member gets for a project that exists, so names do not leak either."""
    params = request.scope.get("path_params") or {}
    raw = params.get("project_id")
    if raw is None or _DECIMAL.fullmatch(str(raw)):
        return
    _check_text(str(raw), "path.project_id")
    found = session.exec(select(Project.id).where(Project.name == str(raw))).first()
    if found is None:
        raise NotFound("project not found", field="project_id")
    params["project_id"] = str(found)


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
