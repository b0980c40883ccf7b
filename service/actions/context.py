"""Who takes an action, in which transaction, and whether they may: the part every verb shares.

A door (an API route, a CLI command, the demo, the worker) turns its caller into a :class:`Principal` once,
by a token (:func:`authenticate`) or, on the workspace's own machine without a token, as the workspace's
operator (:func:`operator`), and hands each verb a :class:`Context`. Every verb starts with
:func:`authorize`, which applies the action's rule from ``service.permissions.ACTIONS``: one table, the
same answer at every door.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from lineage import identity
from lineage.context import Actor
from lineage.errors import LabelgateError, NotFound, PermissionDenied
from lineage.models import ApiToken, Membership, Project, Role, User
from service.permissions import ACTIONS, Rule
from service.settings import Settings

__all__ = [
    "OPERATOR_PREFIX",
    "Context",
    "Principal",
    "Unauthorized",
    "authenticate",
    "authorize",
    "capabilities",
    "operator",
    "request_id",
]

#: The audit actor of the workspace's operator: ``operator:<the first admin's username>``.
OPERATOR_PREFIX = "operator:"


class Unauthorized(LabelgateError):
    """No credentials, or credentials that name no active user (401)."""

    status_code = 401


def request_id(prefix: str = "cli") -> str:
    """A fresh request id for a door that has none of its own (the CLI, the demo)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: the user, the audit ``Actor`` events record, and the token it came with
    (``None`` for the workspace's operator, who acts on the workspace's own machine without one)."""

    user: User
    actor: Actor
    token: ApiToken | None = None

    @property
    def is_operator(self) -> bool:
        return self.token is None and self.actor.username.startswith(OPERATOR_PREFIX)


@dataclass(slots=True)
class Context:
    """What a verb runs with: the caller's transaction (the door commits or rolls it back), the caller, and
    the workspace's settings (repository, signing key, emitter)."""

    session: Session
    principal: Principal
    settings: Settings
    _roles: dict[int, frozenset[Role]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Jobs recorded in this transaction (version creation, gate evaluations, ...) emit their OpenLineage
        # runs to the workspace's event log unless the verb passes its own emitter.
        from lineage.openlineage import bind_emitter, shared_workspace_emitter

        bind_emitter(self.session, shared_workspace_emitter(self.settings.workspace))

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    @property
    def user(self) -> User:
        return self.principal.user

    def roles_in(self, project_id: int) -> frozenset[Role]:
        """The caller's roles in the project (``{admin}`` for an admin), cached for the transaction."""
        if project_id not in self._roles:
            user = self.principal.user
            self._roles[project_id] = (
                frozenset({Role.admin})
                if user.is_admin
                else identity.project_roles(self.session, user=user, project_id=project_id)
            )
        return self._roles[project_id]


def authenticate(session: Session, token: str | None, *, request: str | None = None) -> Principal:
    """The user behind an API token; :class:`Unauthorized` naming why when there is none or it is not valid
    (unknown, expired, revoked, or minted by a token that is)."""
    if not token:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    try:
        user, record = identity.authenticate_token(session, token)
    except NotFound as exc:
        raise Unauthorized(f"invalid token: {exc.message}") from None
    actor = Actor(user_id=user.id or 0, username=user.username, request_id=request, is_admin=user.is_admin)
    return Principal(user=user, actor=actor, token=record)


def operator(session: Session, *, request: str | None = None) -> Principal:
    """The workspace's operator: whoever runs the CLI on the workspace's own machine without a token (they
    can read the database and the signing key anyway). Acts with the first admin's rights; the audit log
    records them as ``operator:<admin>`` so an operator's action is never mistaken for a user's."""
    user = session.exec(select(User).where(User.is_admin == True).order_by(col(User.id))).first()  # noqa: E712
    if user is None:
        raise NotFound("no admin user; run `labelgate init`")
    actor = Actor(user_id=user.id or 0, username=f"{OPERATOR_PREFIX}{user.username}", request_id=request, is_admin=True)
    return Principal(user=user, actor=actor)


def _roles_text(roles: Iterable[Role]) -> str:
    return str(sorted(r.value for r in roles))


def authorize(
    ctx: Context, action: str, *, project_id: int | None = None, target_user_id: int | None = None
) -> frozenset[Role]:
    """Refuse unless the caller may take ``action`` (in ``project_id`` for project actions; on
    ``target_user_id`` for self-or-admin actions); return the caller's roles in the project (empty for
    actions outside a project). A project the caller is no member of is ``NotFound`` (its existence does
    not leak); an action missing from the table is refused: the table fails closed."""
    rule = ACTIONS.get(action)
    if rule is None:
        raise LabelgateError(f"action {action!r} has no permission rule")
    return _check(ctx, rule, project_id=project_id, target_user_id=target_user_id)


def _check(ctx: Context, rule: Rule, *, project_id: int | None, target_user_id: int | None) -> frozenset[Role]:
    user = ctx.principal.user
    if rule.kind in ("public", "authenticated"):
        return frozenset()
    if rule.kind == "admin":
        if not user.is_admin:
            raise PermissionDenied("this action needs the admin role")
        return frozenset()
    if rule.kind == "self_or_admin":
        if not user.is_admin and target_user_id != user.id:
            raise PermissionDenied("you may manage only your own tokens")
        return frozenset()
    if rule.kind == "any_project_role":
        if user.is_admin:
            return frozenset()
        held = ctx.session.exec(select(Membership.role).where(Membership.user_id == user.id)).all()
        if not rule.roles.intersection(Role(r) for r in held):
            raise PermissionDenied(f"this action needs one of the roles {_roles_text(rule.roles)}")
        return frozenset()
    if project_id is None:
        raise LabelgateError("a project action needs the project")
    if ctx.session.get(Project, project_id) is None:
        raise NotFound("project not found", field="project_id")
    roles = ctx.roles_in(project_id)
    if not roles:
        raise NotFound("project not found", field="project_id")
    if not user.is_admin and not rule.roles.intersection(roles):
        raise PermissionDenied(
            f"this action needs one of the roles {_roles_text(rule.roles)} in this project; "
            f"you hold {', '.join(sorted(r.value for r in roles))}"
        )
    return roles


def capabilities(ctx: Context, *, project_id: int | None = None) -> list[str]:
    """The actions the caller may take (in ``project_id`` for project actions), sorted: what the dashboard
    asks before it shows a page or a button. Self-or-admin actions are answered for the caller's own id."""
    allowed = []
    if project_id is not None:
        authorize(ctx, "project_capabilities", project_id=project_id)  # NotFound for a non-member
    for name, rule in ACTIONS.items():
        if (rule.kind == "project") != (project_id is not None):
            continue
        try:
            _check(ctx, rule, project_id=project_id, target_user_id=ctx.principal.user.id)
        except (PermissionDenied, NotFound):
            continue
        allowed.append(name)
    return sorted(allowed)


_T = TypeVar("_T")


def in_own_session(engine: Any, ctx: Context, work: Callable[[Context], _T]) -> _T:
    """``work`` run as ``ctx``'s caller in a read-only session of its own on ``engine`` (rolled back: a read
    writes nothing): for work a door streams after its request's transaction has ended."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            return work(Context(session=session, principal=ctx.principal, settings=ctx.settings))
        finally:
            session.rollback()
