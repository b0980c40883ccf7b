"""One scripted session, run twice: locally on a workspace, and with ``--server`` against a live server on
an identical workspace. Outputs and exit codes must be the same, on SQLite and PostgreSQL; a ``ci`` token
runs ``gate check`` remotely, and identity comes from the token (the audit log records the token's users
remotely, and the same users locally when ``LABELGATE_TOKEN`` is set).

What legitimately differs between the two runs is normalised, and only that: timestamps (signatures are
made at different instants), elapsed seconds, the two workspaces' temporary folders and the two servers'
addresses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from lineage import identity
from lineage.db import make_engine
from lineage.models import AuditEvent, Role
from service.cli.main import app
from service.demo.scenario import DEFAULT_POLICY_PATH, build_gate_scenario
from service.settings import Settings, get_settings
from service.workspace import init_workspace
from tests.conftest import fresh_database
from tests.factories import actor_for, make_user
from tests.live_server import serving

ROOT = Path(__file__).resolve().parents[2]
SECRET = "remote signing secret"
PEOPLE = [
    ("mia", Role.ml_engineer),
    ("rex", Role.reviewer),
    ("cora", Role.compliance_officer),
    ("alice", Role.annotator),
    ("bob", Role.annotator),
    ("carol", Role.annotator),
    ("ci-bot", Role.ci),
]


def _build(settings: Settings) -> dict[str, str]:
    """The release scenario of ``test_release_cli``: project alpha, its people, street@v1..v3 labelled and
    a golden set; returns an API token per person."""
    init_workspace(settings)
    engine = make_engine(settings.database_url)
    tokens: dict[str, str] = {}
    with Session(engine, expire_on_commit=False) as s:
        admin = actor_for(identity.get_user_by_name(s, "admin"))
        project = identity.create_project(s, actor=admin, name="alpha")
        users = {}
        for name, role in PEOPLE:
            users[name] = make_user(s, name)
            identity.add_member(s, actor=admin, project=project, user=users[name], role=role)
            tokens[name] = identity.issue_token(s, actor=admin, user=users[name], name="session").token
        identity.set_signing_secret(s, actor=admin, user=users["cora"], secret=SECRET, operator=True)
        build_gate_scenario(
            s,
            project_id=project.id or 0,
            ml=actor_for(users["mia"]),
            reviewer=actor_for(users["rex"]),
            annotators={n: users[n] for n in ("alice", "bob", "carol")},
            repo_dir=settings.repo_dir,
            work_dir=settings.workspace.parent / "work",
            n_images=20,
        )
        s.commit()
    engine.dispose()
    return tokens


# (who, arguments, stdin): who runs it (their token in LABELGATE_TOKEN).
SESSION: list[tuple[str, list[str], str | None]] = [
    ("ci-bot", ["gate", "check", "street@v2", "--policy", str(DEFAULT_POLICY_PATH)], None),
    ("mia", ["policy", "store", str(DEFAULT_POLICY_PATH)], None),
    ("ci-bot", ["gate", "check", "street@v2"], None),
    ("ci-bot", ["gate", "check", "alpha/street@v3", "--format", "json"], None),
    ("ci-bot", ["gate", "check", "street@v9"], None),
    ("alice", ["gate", "check", "street@v3"], None),
    ("mia", ["dataset", "state", "street@v3", "candidate"], None),
    ("mia", ["release", "street@v3"], None),
    ("cora", ["sign", "street@v3", "--secret-stdin"], "not it\n"),
    ("mia", ["sign", "street@v3", "--secret-stdin"], SECRET + "\n"),
    ("cora", ["sign", "street@v3", "--secret-stdin"], SECRET + "\n"),
    ("cora", ["reject", "street@v2", "--reason", "recall too low"], None),
    ("ci-bot", ["golden", "list"], None),
    ("mia", ["release", "street@v3", "-o", "{out}/bundle.json"], None),
    ("mia", ["release", "street@v3", "-o", "{out}/again.json"], None),
]

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")
_SECONDS = re.compile(r"\d+\.\d+ s\b|\"elapsed_s\": [0-9.]+")


def _normalise(text: str, *replace: str) -> str:
    for place in replace:
        text = text.replace(place, "<here>")
    return _SECONDS.sub("<s>", _STAMP.sub("<ts>", text))


def _run(server: str | None, token: str, args: list[str], stdin: str | None) -> tuple[int, str]:
    argv = (["--server", server] if server else []) + args
    env = {"LABELGATE_TOKEN": token, "LABELGATE_SERVER": None}
    result = CliRunner().invoke(app, argv, input=stdin, env=env)  # type: ignore[arg-type]
    return result.exit_code, result.output


def _play(server: str | None, tokens: dict[str, str], out: Path) -> list[tuple[int, str]]:
    out.mkdir(parents=True, exist_ok=True)
    return [
        _run(server, tokens[who], [a.replace("{out}", str(out)) for a in args], stdin) for who, args, stdin in SESSION
    ]


def _actors(settings: Settings) -> list[tuple[str, str]]:
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent.actor, AuditEvent.action).order_by(col(AuditEvent.seq))).all()
    engine.dispose()
    return [(a, b) for a, b in rows]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_same_session_locally_and_remotely(
    kind: str, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch, request: Any
) -> None:
    if kind == "postgresql" and not request.getfixturevalue("pg_available"):
        pytest.skip("PostgreSQL unreachable (set LABELGATE_TEST_PG_URL)")
    monkeypatch.delenv("LABELGATE_SERVER", raising=False)
    with (
        fresh_database(kind, tmp_path / "a", sqlite_template) as url_a,
        fresh_database(kind, tmp_path / "b", sqlite_template) as url_b,
    ):
        here = Settings(workspace=tmp_path / "a" / "ws", database_url=url_a, env="test")
        there = Settings(workspace=tmp_path / "b" / "ws", database_url=url_b, env="test")
        tokens_here, tokens_there = _build(here), _build(there)

        monkeypatch.setenv("LABELGATE_WORKSPACE", str(here.workspace))
        monkeypatch.setenv("LABELGATE_DATABASE_URL", url_a)
        get_settings.cache_clear()
        local = _play(None, tokens_here, tmp_path / "out-local")
        get_settings.cache_clear()

        with serving(there.workspace, there.database_url, tmp_path / "api.log") as served:
            remote = _play(served.url, tokens_there, tmp_path / "out-remote")
        get_settings.cache_clear()
        actors_here, actors_there = _actors(here), _actors(there)

    for (who, args, _), (lc, lo), (rc, ro) in zip(SESSION, local, remote, strict=True):
        step = f"{who}: labelgate {' '.join(args)}"
        assert lc == rc, f"{step}: exit {lc} locally, {rc} remotely\nlocal: {lo}\nremote: {ro}"
        assert _normalise(lo, str(tmp_path / "out-local")) == _normalise(ro, str(tmp_path / "out-remote")), step

    codes = [c for c, _ in local]
    # ci may not store a policy, mia may; the gate blocks v2, passes v3 (JSON); an unknown version; an annotator
    # may not evaluate; v3 becomes a candidate; the release needs an approval; a wrong secret; mia has none;
    # cora signs; a draft cannot be rejected; the golden sets; released; released already.
    assert codes == [1, 0, 1, 0, 2, 1, 0, 1, 2, 2, 0, 1, 0, 0, 1], [o for _, o in local]
    assert json.loads(local[3][1])["passed"] is True
    assert "Cora" in local[10][1] and "recall" in local[2][1]
    bundle_here, bundle_there = tmp_path / "out-local" / "bundle.json", tmp_path / "out-remote" / "bundle.json"
    here_ds, there_ds = (json.loads(b.read_text())["content"]["dataset"] for b in (bundle_here, bundle_there))
    # two repositories, two commit instants: the git revisions differ, the content the bundle names does not
    assert {k: v for k, v in here_ds.items() if k != "git_revision"} == {
        k: v for k, v in there_ds.items() if k != "git_revision"
    }
    # Identity came from the tokens in both modes: the same users recorded the same actions.
    assert actors_here == actors_there
    assert ("ci-bot", "gate.evaluate") in actors_there
