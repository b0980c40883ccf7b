"""Verbs of identity administration: users, their API tokens and signing enrolment codes, projects and
their members."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from lineage import identity
from lineage.errors import NotFound
from lineage.identity import IssuedToken
from lineage.models import ApiToken, Membership, Project, Role, User
from service.actions.context import Context, authorize
from service.actions.paging import decode_cursor, encode_cursor

__all__ = [
    "add_member",
    "create_project",
    "create_user",
    "find_user",
    "issue_enrolment",
    "issue_token",
    "members_of",
    "project_of",
    "projects_of",
    "revoke_token",
    "tokens_of",
    "users_page",
]


def users_page(
    ctx: Context, *, offset: int = 0, limit: int = 100, cursor: str | None = None, with_total: bool | None = None
) -> dict[str, Any]:
    """One page of users in id order: ``{items, total, offset, limit, next_cursor}``. ``cursor`` (a page's
    ``next_cursor``) starts after that page's last user (a primary-key seek); ``total`` is counted on offset
    pages, or when ``with_total``."""
    authorize(ctx, "list_users")
    stmt = select(User)
    if cursor is not None:
        (after,) = decode_cursor(cursor, "users", (int,))
        stmt = stmt.where(col(User.id) > after)
    rows = list(ctx.session.exec(stmt.order_by(col(User.id)).offset(offset).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    count = with_total if with_total is not None else cursor is None
    total = int(ctx.session.exec(select(func.count()).select_from(User)).one()) if count else None
    return {
        "items": rows,
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_cursor": encode_cursor("users", rows[-1].id or 0) if more else None,
    }


def create_user(
    ctx: Context, *, username: str, full_name: str, email: str | None = None, is_admin: bool = False
) -> User:
    authorize(ctx, "create_user")
    return identity.create_user(
        ctx.session, actor=ctx.actor, username=username, full_name=full_name, email=email, is_admin=is_admin
    )


def find_user(ctx: Context, username: str) -> User:
    """The user named ``username``: the caller's own name always resolves, another's needs the right to
    list users (admin)."""
    if username != ctx.user.username:
        authorize(ctx, "list_users")
    return identity.get_user_by_name(ctx.session, username)


def _user(ctx: Context, user_id: int) -> User:
    user = ctx.session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user_id")
    return user


def tokens_of(ctx: Context, user_id: int) -> list[ApiToken]:
    authorize(ctx, "list_tokens", target_user_id=user_id)
    _user(ctx, user_id)
    return identity.list_tokens(ctx.session, user_id=user_id)


def issue_token(ctx: Context, user_id: int, *, name: str, expires_in_days: float | None = None) -> IssuedToken:
    """Issue a token for the user, minted by the caller's token (its parent: it may not outlive it and is
    revoked with it); the operator's tokens have no parent. Only an admin issues for another user."""
    authorize(ctx, "issue_token", target_user_id=user_id)
    user = _user(ctx, user_id)
    expires = timedelta(days=expires_in_days) if expires_in_days else None
    return identity.issue_token(
        ctx.session, actor=ctx.actor, user=user, name=name, expires_in=expires, parent=ctx.principal.token
    )


def revoke_token(ctx: Context, token_id: int, *, user_id: int | None = None) -> ApiToken:
    """Revoke token ``token_id`` of user ``user_id`` and every token minted from it. Without ``user_id``:
    the token's owner for an admin, the caller for anyone else (whose own tokens are all they may see)."""
    record = ctx.session.get(ApiToken, token_id)
    if user_id is None:
        if ctx.user.is_admin and record is None:
            raise NotFound(f"no token {token_id}", field="token_id")
        user_id = record.user_id if ctx.user.is_admin and record is not None else ctx.user.id or 0
    authorize(ctx, "revoke_token", target_user_id=user_id)
    if record is None or record.user_id != user_id:
        raise NotFound(f"no token {token_id} for user {user_id}", field="token_id")
    return identity.revoke_token(ctx.session, actor=ctx.actor, token_id=token_id)


def issue_enrolment(ctx: Context, user_id: int, *, valid_for_hours: float = 24) -> tuple[User, str]:
    """The user and the one-time code (shown once) with which they set a first signing secret within
    ``valid_for_hours`` (24). An admin may not enrol themselves; the workspace's operator may."""
    authorize(ctx, "issue_signing_enrolment")
    user = _user(ctx, user_id)
    code = identity.issue_signing_enrolment(
        ctx.session,
        actor=ctx.actor,
        user=user,
        valid_for=timedelta(hours=valid_for_hours),
        operator=ctx.principal.is_operator,
    )
    return user, code


def projects_of(ctx: Context) -> list[Project]:
    """Every project for an admin; otherwise those where the caller holds a role."""
    authorize(ctx, "list_projects")
    return identity.visible_projects(ctx.session, user=ctx.user)


def create_project(ctx: Context, *, name: str, description: str = "") -> Project:
    authorize(ctx, "create_project")
    return identity.create_project(ctx.session, actor=ctx.actor, name=name, description=description)


def project_of(ctx: Context, project_id: int) -> Project:
    authorize(ctx, "get_project", project_id=project_id)
    project = ctx.session.get(Project, project_id)
    if project is None:
        raise NotFound("project not found", field="project_id")
    return project


def members_of(ctx: Context, project_id: int) -> list[tuple[Membership, User]]:
    """The project's members by username, one row per role held."""
    authorize(ctx, "list_members", project_id=project_id)
    return identity.list_members(ctx.session, project_id=project_id)


def add_member(ctx: Context, project_id: int, *, username: str, role: Role) -> tuple[Membership, User]:
    """Grant ``username`` the ``role`` in the project (granting it again changes nothing)."""
    authorize(ctx, "add_member")
    project = ctx.session.get(Project, project_id)
    if project is None:
        raise NotFound("project not found", field="project_id")
    user = identity.get_user_by_name(ctx.session, username)
    return identity.add_member(ctx.session, actor=ctx.actor, project=project, user=user, role=role), user
