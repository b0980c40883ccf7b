"""``labelgate user|token|project``: identity administration, on the local workspace (as its operator, or
as ``LABELGATE_TOKEN``'s user) or through a server (``--server``); both print the same."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lineage.errors import NotFound
from service.cli.choices import Role
from service.cli.common import exits_cleanly, out
from service.cli.door import Remote, local, remote
from service.cli.lazy import lazy_module

if TYPE_CHECKING:
    from service import actions
    from service.api.schemas import common as pub
else:
    actions = lazy_module("service.actions")
    pub = lazy_module("service.api.schemas.common")


__all__ = ["project_app", "token_app", "user_app"]

user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
project_app = typer.Typer(help="Projects and their members.", no_args_is_help=True)

_PAGE = 500  # the API's largest page of users


def _user_id(api: Remote, username: str) -> int:
    """The id of ``username`` on the server, as ``actions.find_user`` finds it: the caller's own name
    always, another's from the user list (admins only)."""
    me = api.get("/me")
    if me["username"] == username:
        return int(me["id"])
    for user in _users(api):
        if user["username"] == username:
            return int(user["id"])
    raise NotFound(f"no user named {username!r}", field="username")


def _token_owner(api: Remote, token_id: int) -> int:
    """Whose token ``token_id`` is, as ``actions.revoke_token`` decides it: the token's owner for an admin
    (the API addresses a token under its user, so their tokens are looked through), the caller otherwise."""
    me = api.get("/me")
    if not me["is_admin"]:
        return int(me["id"])
    for user in _users(api):
        if any(t["id"] == token_id for t in api.get(f"/users/{user['id']}/tokens")):
            return int(user["id"])
    raise NotFound(f"no token {token_id}", field="token_id")


def _users(api: Remote) -> Iterator[dict[str, Any]]:
    """Every user on the server, in id order, a page at a time: each page after the first follows the one
    before by its ``next_cursor``; a server that gives none (before keyset pages) is paged by offset."""
    offset, cursor = 0, None
    while True:
        where = {"cursor": cursor} if cursor else {"offset": offset}
        page = api.get("/users", params={**where, "limit": _PAGE})
        yield from page["items"]
        offset += len(page["items"])
        cursor = page.get("next_cursor")
        if cursor is None and (not page["items"] or offset >= int(page.get("total") or 0)):
            return


def _member_project(find: Callable[[], int], project: str) -> int:
    """PROJECT of ``add-member``, named as the command always named it in its error."""
    try:
        return find()
    except NotFound:
        raise NotFound(f"no project named {project!r}", field="project") from None


@user_app.command("create")
@exits_cleanly
def user_create(
    username: str,
    full_name: Annotated[str, typer.Option("--name", help="printed name, used on signatures")],
    admin: Annotated[bool, typer.Option("--admin", help="grant the global admin role")] = False,
    email: Annotated[
        str | None, typer.Option("--email", help="how labelling tools (Label Studio, CVAT) know this person")
    ] = None,
) -> None:
    """Create a user."""
    with remote() as api:
        if api is not None:
            body = {"username": username, "full_name": full_name, "is_admin": admin, "email": email}
            user = api.model(pub.UserPublic, "POST", "/users", json=body)
        else:
            with local() as ctx:
                created = actions.create_user(ctx, username=username, full_name=full_name, email=email, is_admin=admin)
                user = pub.UserPublic.model_validate(created)
    out.print(f"created user {user.username} (id {user.id})")


@user_app.command("enrol-code")
@exits_cleanly
def user_enrol_code(
    username: str,
    valid_hours: Annotated[float, typer.Option(min=0.01, max=24 * 14, help="validity of the code in hours")] = 24,
) -> None:
    """Issue USERNAME's one-time signing enrolment code and print it once (deliver it in person); with it
    the user sets a first signing secret: ``PUT /api/v1/me/signing-secret {"enrolment_code", "secret"}``.
    An admin's token may not enrol its own user; the workspace's operator (no token) may."""
    with remote() as api:
        if api is not None:
            path = f"/users/{_user_id(api, username)}/signing-enrolment"
            issued = api.model(pub.SigningEnrolmentIssued, "POST", path, json={"valid_for_hours": valid_hours})
        else:
            with local() as ctx:
                user = actions.find_user(ctx, username)
                user, code = actions.issue_enrolment(ctx, user.id or 0, valid_for_hours=valid_hours)
                assert user.signing_enrolment_expires_at is not None
                issued = pub.SigningEnrolmentIssued(
                    user_id=user.id or 0, expires_at=user.signing_enrolment_expires_at, enrolment_code=code
                )
    out.print(issued.enrolment_code)


@token_app.command("issue")
@exits_cleanly
def token_issue(
    username: str,
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    expires_days: Annotated[float | None, typer.Option(min=0.001, help="lifetime in days")] = None,
) -> None:
    """Issue a token for USERNAME and print it once. The operator's token has no parent; one issued with a
    token (LABELGATE_TOKEN, or through a server) is minted by it: it may not outlive it and is revoked with
    it. Only an admin issues tokens for another user."""
    with remote() as api:
        if api is not None:
            body = {"name": name, "expires_in_days": expires_days}
            issued = api.model(pub.TokenIssued, "POST", f"/users/{_user_id(api, username)}/tokens", json=body)
        else:
            with local() as ctx:
                user = actions.find_user(ctx, username)
                minted = actions.issue_token(ctx, user.id or 0, name=name, expires_in_days=expires_days)
                issued = pub.TokenIssued.model_validate({**minted.record.model_dump(), "token": minted.token})
    out.print(issued.token)


@token_app.command("revoke")
@exits_cleanly
def token_revoke(token_id: int) -> None:
    """Revoke a token by id, and every token minted from it (an admin revokes anyone's, a user their own)."""
    with remote() as api:
        if api is not None:
            api.model(pub.TokenPublic, "DELETE", f"/users/{_token_owner(api, token_id)}/tokens/{token_id}")
        else:
            with local() as ctx:
                actions.revoke_token(ctx, token_id)
    out.print(f"revoked token {token_id}")


@project_app.command("create")
@exits_cleanly
def project_create(name: str, description: Annotated[str, typer.Option()] = "") -> None:
    """Create a project."""
    with remote() as api:
        if api is not None:
            p = api.model(pub.ProjectPublic, "POST", "/projects", json={"name": name, "description": description})
        else:
            with local() as ctx:
                p = pub.ProjectPublic.model_validate(actions.create_project(ctx, name=name, description=description))
    out.print(f"created project {p.name} (id {p.id})")


@project_app.command("add-member")
@exits_cleanly
def project_add_member(project: str, username: str, role: Role) -> None:
    """Grant USERNAME the ROLE in PROJECT."""
    from lineage.models import Role as RecordRole

    with remote() as api:
        if api is not None:
            pid = _member_project(partial(api.project_id, project, field="project"), project)
            body = {"username": username, "role": role.value}
            api.model(pub.MemberPublic, "POST", f"/projects/{pid}/members", json=body)
        else:
            with local() as ctx:
                pid = _member_project(partial(actions.find_project, ctx, project, field="project"), project)
                actions.add_member(ctx, pid, username=username, role=RecordRole(role.value))
    out.print(f"{username} is {role.value} in {project}")
