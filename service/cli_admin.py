"""``labelgate user|token|project``: identity administration from the workspace's machine."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from lineage import identity
from lineage.errors import NotFound
from lineage.models import Project, Role
from service.cli_common import exits_cleanly, local_actor, out, store

user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
project_app = typer.Typer(help="Projects and their members.", no_args_is_help=True)

AsUser = Annotated[str | None, typer.Option("--as", help="act as this user (default: the first admin)")]


@user_app.command("create")
@exits_cleanly
def user_create(
    username: str,
    full_name: Annotated[str, typer.Option("--name", help="printed name, used on signatures")],
    admin: Annotated[bool, typer.Option("--admin", help="grant the global admin role")] = False,
    as_user: AsUser = None,
) -> None:
    """Create a user."""
    with store() as session:
        user = identity.create_user(
            session,
            actor=local_actor(session, as_user),
            username=username,
            full_name=full_name,
            is_admin=admin,
        )
        out.print(f"created user {user.username} (id {user.id})")


@user_app.command("enrol-code")
@exits_cleanly
def user_enrol_code(
    username: str,
    valid_hours: Annotated[float, typer.Option(min=0.01, max=24 * 14, help="validity of the code in hours")] = 24,
    as_user: AsUser = None,
) -> None:
    """Issue USERNAME's one-time signing enrolment code and print it once (deliver it in person); with it
    the user sets a first signing secret: ``PUT /api/v1/me/signing-secret {"enrolment_code", "secret"}``."""
    with store() as session:
        user = identity.get_user_by_name(session, username)
        code = identity.issue_signing_enrolment(
            session,
            actor=local_actor(session, as_user),
            user=user,
            valid_for=timedelta(hours=valid_hours),
            operator=True,
        )
        out.print(code)


@token_app.command("issue")
@exits_cleanly
def token_issue(
    username: str,
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    expires_days: Annotated[float | None, typer.Option(min=0.001, help="lifetime in days")] = None,
    as_user: AsUser = None,
) -> None:
    """Issue a token for USERNAME and print it once (an operator's token: it has no parent)."""
    with store() as session:
        user = identity.get_user_by_name(session, username)
        issued = identity.issue_token(
            session,
            actor=local_actor(session, as_user),
            user=user,
            name=name,
            expires_in=timedelta(days=expires_days) if expires_days else None,
        )
        out.print(issued.token)


@token_app.command("revoke")
@exits_cleanly
def token_revoke(token_id: int, as_user: AsUser = None) -> None:
    """Revoke a token by id, and every token minted from it."""
    with store() as session:
        identity.revoke_token(session, actor=local_actor(session, as_user), token_id=token_id)
        out.print(f"revoked token {token_id}")


@project_app.command("create")
@exits_cleanly
def project_create(name: str, description: Annotated[str, typer.Option()] = "", as_user: AsUser = None) -> None:
    """Create a project."""
    with store() as session:
        p = identity.create_project(session, actor=local_actor(session, as_user), name=name, description=description)
        out.print(f"created project {p.name} (id {p.id})")


@project_app.command("add-member")
@exits_cleanly
def project_add_member(project: str, username: str, role: Role, as_user: AsUser = None) -> None:
    """Grant USERNAME the ROLE in PROJECT."""
    from sqlmodel import select

    with store() as session:
        p = session.exec(select(Project).where(Project.name == project)).first()
        if p is None:
            raise NotFound(f"no project named {project!r}", field="project")
        user = identity.get_user_by_name(session, username)
        identity.add_member(session, actor=local_actor(session, as_user), project=p, user=user, role=role)
        out.print(f"{username} is {role.value} in {project}")
