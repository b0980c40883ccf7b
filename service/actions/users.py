"""Verbs of the caller's own identity: who they are, their memberships, their signing secret; and setting
someone's signing secret as the workspace's operator (on the workspace's own machine)."""

from __future__ import annotations

from lineage import identity
from lineage.errors import PermissionDenied
from lineage.models import Membership, Project, User
from service.actions.context import Context, authorize

__all__ = ["my_memberships", "set_my_signing_secret", "set_secret_as_operator", "whoami"]


def set_secret_as_operator(ctx: Context, *, username: str, secret: str) -> None:
    """Set ``username``'s signing secret without their enrolment code or current secret: only the
    workspace's operator may (they hold the database and the signing key anyway); a user with a token sets
    their own through the API with an enrolment code."""
    if not ctx.principal.is_operator:
        raise PermissionDenied("only the workspace's operator (the CLI on the workspace, without a token) may do this")
    user = identity.get_user_by_name(ctx.session, username)
    identity.set_signing_secret(ctx.session, actor=ctx.actor, user=user, secret=secret, operator=True)


def whoami(ctx: Context) -> User:
    authorize(ctx, "whoami")
    return ctx.user


def my_memberships(ctx: Context) -> list[tuple[Membership, Project]]:
    """The caller's roles per project (admins hold every role everywhere: an empty list)."""
    authorize(ctx, "my_memberships")
    return identity.memberships_of(ctx.session, user=ctx.user)


def set_my_signing_secret(
    ctx: Context, *, secret: str, enrolment_code: str | None = None, current: str | None = None
) -> None:
    """Set the caller's own signing secret: the first with the enrolment code an admin issued, a change with
    the current secret. A token alone never does."""
    authorize(ctx, "set_signing_secret")
    identity.set_signing_secret(
        ctx.session, actor=ctx.actor, user=ctx.user, secret=secret, enrolment_code=enrolment_code, current=current
    )
