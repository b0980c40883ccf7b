"""Factory helpers: build a scenario in one call, with real rows and real tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from lineage import identity
from lineage.context import Actor
from lineage.models import Project, Role, User

if TYPE_CHECKING:
    from service.demo.scenario import GateScenario

SYSTEM = Actor(user_id=0, username="system")


def actor_for(user: User, request_id: str | None = None) -> Actor:
    return Actor(user_id=user.id or 0, username=user.username, request_id=request_id, is_admin=user.is_admin)


def make_user(session: Session, username: str, *, admin: bool = False) -> User:
    return identity.create_user(
        session, actor=None, username=username, full_name=username.replace("_", " ").title(), is_admin=admin
    )


def make_token(session: Session, user: User) -> str:
    return identity.issue_token(session, actor=None, user=user, name="test").token


@dataclass
class World:
    """An admin, one user per project role in project ``alpha``, an outsider, and their tokens."""

    admin: User
    project: Project
    other_project: Project
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def make_world(session: Session) -> World:
    admin = make_user(session, "root_admin", admin=True)
    a = actor_for(admin)
    project = identity.create_project(session, actor=a, name="alpha")
    other = identity.create_project(session, actor=a, name="beta")
    world = World(admin=admin, project=project, other_project=other)
    world.users["admin"] = admin
    world.tokens["admin"] = make_token(session, admin)
    for role in Role:
        if role is Role.admin:
            continue
        user = make_user(session, f"{role.value}_user")
        identity.add_member(session, actor=a, project=project, user=user, role=role)
        world.users[role.value] = user
        world.tokens[role.value] = make_token(session, user)
    outsider = make_user(session, "outsider")
    identity.add_member(session, actor=a, project=other, user=outsider, role=Role.ml_engineer)
    world.users["outsider"] = outsider
    world.tokens["outsider"] = make_token(session, outsider)
    session.commit()
    return world


def make_gate_world(session: Session, *, repo_dir: Path, work_dir: Path, secret: str) -> tuple[World, GateScenario]:
    """``make_world`` plus three annotators, a signing secret for the compliance officer, and the gate
    scenario (``service.demo.scenario``) on 20 images: the history the gate and release tests run against."""
    from service.demo.scenario import build_gate_scenario

    world = make_world(session)
    admin = actor_for(world.admin)
    annotators = {}
    for name in ("alice", "bob", "carol"):
        user = make_user(session, name)
        identity.add_member(session, actor=admin, project=world.project, user=user, role=Role.annotator)
        annotators[name] = user
    identity.set_signing_secret(
        session, actor=admin, user=world.users["compliance_officer"], secret=secret, operator=True
    )
    scenario = build_gate_scenario(
        session,
        project_id=world.project.id or 0,
        ml=actor_for(world.users["ml_engineer"]),
        reviewer=actor_for(world.users["reviewer"]),
        annotators=annotators,
        repo_dir=repo_dir,
        work_dir=work_dir,
        n_images=20,
    )
    return world, scenario


def cli_token(username: str) -> str:
    """A fresh API token of ``username`` on the workspace's database (``LABELGATE_DATABASE_URL``), for a CLI
    call made as that user (``LABELGATE_TOKEN``); an unknown user gets a token no server accepts."""
    import os

    from lineage.db import make_engine

    engine = make_engine(os.environ["LABELGATE_DATABASE_URL"])
    try:
        with Session(engine, expire_on_commit=False) as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                return "lg_not-a-token-of-anyone"
            token = make_token(s, user)
            s.commit()
            return token
    finally:
        engine.dispose()
