"""``labelgate demo``: the whole flow on an embedded SQLite workspace, narrated step by step.

Every step calls the same domain functions as the API and the CLI. The demo workspace is recreated on
each run (only a folder carrying the demo's marker file is ever removed).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from lineage import identity
from lineage.audit import export_events
from lineage.audit_verify import verify_database, verify_file
from lineage.context import Actor
from lineage.db import make_engine, session_scope
from lineage.errors import Conflict
from lineage.models import Project, Role, User
from service.cli_common import out
from service.settings import Settings
from service.workspace import init_workspace

__all__ = ["DemoState", "run_demo"]

MARKER = ".labelgate-demo"
DEMO_USERS = {
    "mia": ("Mia Engineer", Role.ml_engineer),
    "ann": ("Ann Annotator", Role.annotator),
    "bob": ("Bob Annotator", Role.annotator),
    "cat": ("Cat Annotator", Role.annotator),
    "rex": ("Rex Reviewer", Role.reviewer),
    "cora": ("Cora Compliance", Role.compliance_officer),
    "ci-bot": ("CI Pipeline", Role.ci),
}


@dataclass
class DemoState:
    settings: Settings
    engine: Engine
    admin: Actor
    project: Project
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def actor(self, username: str) -> Actor:
        user = self.users[username]
        return Actor(user_id=user.id or 0, username=user.username, request_id="demo", is_admin=user.is_admin)


def _step(n: int, title: str) -> None:
    out.print(f"\n[bold cyan]{n}. {title}[/]")


def _fresh_workspace(path: Path) -> None:
    if path.exists():
        if not (path / MARKER).exists():
            raise Conflict(f"{path} exists and is not a demo workspace; choose another --workspace", field="workspace")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("created by `labelgate demo`; removed by the next run\n")


def setup_identity(settings: Settings) -> DemoState:
    result = init_workspace(settings, admin_username="admin", admin_name="Demo Administrator")
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        admin_user = identity.get_user_by_name(s, "admin")
        admin = Actor(user_id=admin_user.id or 0, username="admin", request_id="demo", is_admin=True)
        project = identity.create_project(s, actor=admin, name="traffic-signs", description="demo project")
        state = DemoState(settings=settings, engine=engine, admin=admin, project=project)
        state.users["admin"] = admin_user
        assert result.admin_token is not None
        state.tokens["admin"] = result.admin_token
        for username, (name, role) in DEMO_USERS.items():
            user = identity.create_user(s, actor=admin, username=username, full_name=name)
            identity.add_member(s, actor=admin, project=project, user=user, role=role)
            state.users[username] = user
            state.tokens[username] = identity.issue_token(s, actor=admin, user=user, name="demo").token
    return state


def audit_round_trip(state: DemoState) -> None:
    export = state.settings.workspace / "audit-export.jsonl"
    with session_scope(state.engine) as s:
        result = verify_database(s)
        with export.open("w", encoding="utf-8") as fh:
            n = export_events(s, fh)
    offline = verify_file(export)
    status = "OK" if result.ok and offline.ok else "BROKEN"
    out.print(f"   chain: {status}, {result.events} events; head {result.head.hash[:16] if result.head else '-'}…")
    out.print(f"   exported {n} events to {export}; offline verification: {'OK' if offline.ok else 'BROKEN'}")


def run_demo(workspace: str | None = None) -> DemoState:
    path = Path(workspace or "demo-workspace").resolve()
    _fresh_workspace(path)
    settings = Settings(workspace=path, database_url="")
    _step(1, f"Workspace, identities and roles ({path})")
    state = setup_identity(settings)
    for username, (name, role) in DEMO_USERS.items():
        out.print(f"   {username:<7} {role.value:<19} {name}")
    _step(2, "Audit trail: verify the hash chain, export it, verify the export offline")
    audit_round_trip(state)
    _step(3, "Tokens for each demo role (keep them to try the API: `labelgate serve`)")
    for username, token in state.tokens.items():
        out.print(f"   {username:<7} {token}", highlight=False)
    out.print(f"\n[bold green]demo finished[/]: workspace {path}")
    return state
