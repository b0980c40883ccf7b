"""The release flow from the command line, as a CI job and a compliance officer would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from lineage import identity
from lineage.db import make_engine
from lineage.models import Role
from service.cli.main import app
from service.demo.scenario import build_gate_scenario
from service.settings import Settings, get_settings
from service.workspace import init_workspace
from tests.factories import actor_for, make_user

SECRET = "cli signing secret"


TOKENS: dict[str, str] = {}


def run(*args: str, stdin: str | None = None, who: str | None = None) -> tuple[int, str]:
    """``labelgate ARGS`` as ``who`` (their token in LABELGATE_TOKEN), else as the workspace's operator."""
    env = {"LABELGATE_TOKEN": TOKENS[who] if who else None}
    result = CliRunner().invoke(app, list(args), input=stdin, env=env)  # type: ignore[arg-type]
    return result.exit_code, result.output


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    ws = tmp_path / "ws"
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(ws))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    init_workspace(settings)
    engine = make_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as s:
        admin = actor_for(identity.get_user_by_name(s, "admin"))
        project = identity.create_project(s, actor=admin, name="alpha")
        users = {}
        for name, role in [
            ("mia", Role.ml_engineer),
            ("rex", Role.reviewer),
            ("cora", Role.compliance_officer),
            ("alice", Role.annotator),
            ("bob", Role.annotator),
            ("carol", Role.annotator),
        ]:
            users[name] = make_user(s, name)
            identity.add_member(s, actor=admin, project=project, user=users[name], role=role)
            TOKENS[name] = identity.issue_token(s, actor=admin, user=users[name], name="cli").token
        identity.set_signing_secret(s, actor=admin, user=users["cora"], secret=SECRET, operator=True)
        build_gate_scenario(
            s,
            project_id=project.id or 0,
            ml=actor_for(users["mia"]),
            reviewer=actor_for(users["rex"]),
            annotators={n: users[n] for n in ("alice", "bob", "carol")},
            repo_dir=settings.repo_dir,
            work_dir=tmp_path / "work",
            n_images=20,
        )
        s.commit()
    engine.dispose()
    yield settings
    get_settings.cache_clear()


def test_ci_gate_sign_release_verify(workspace: Settings, tmp_path: Path) -> None:
    policy = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
    code, out = run("gate", "check", "street@v2", "--policy", str(policy))
    assert code == 1 and "recall" in out, out
    code, out = run("gate", "check", "alpha/street@v3", "--format", "json")
    assert code == 0, out
    assert json.loads(out)["passed"] is True
    code, out = run("gate", "check", "street@v9")
    assert code == 2 and "no version 'v9'" in out

    assert run("dataset", "state", "street@v3", "candidate", who="mia")[0] == 0
    code, out = run("gate", "check", "street@v3")
    assert code == 0
    code, out = run("release", "street@v3", who="mia")
    assert code == 1 and "needs 1 approval(s)" in out  # refused by policy: 1 (was 2, as if bad input)
    code, out = run("sign", "street@v3", "--secret-stdin", stdin="not it\n", who="cora")
    assert code == 2 and "re-authentication failed" in out
    code, out = run("sign", "street@v3", "--secret-stdin", stdin=SECRET + "\n", who="cora")
    assert code == 0 and "Cora" in out
    bundle = tmp_path / "bundle.json"
    code, out = run("release", "street@v3", "-o", str(bundle), who="mia")
    assert code == 0 and bundle.is_file(), out

    assert workspace.signing_key_path is not None
    pub = str(workspace.signing_key_path.with_suffix(".pub.pem"))
    code, out = run("verify-bundle", str(bundle), "--public-key", pub)
    assert code == 0 and "evidence intact" in out, out
    data = json.loads(bundle.read_text())
    data["content"]["approvals"][0]["printed_name"] = "Somebody Else"
    bundle.write_text(json.dumps(data))
    code, out = run("verify-bundle", str(bundle), "--public-key", pub)
    assert code == 1 and "content.approvals[0].printed_name was changed" in out
    bundle.write_text("{not json")
    assert run("verify-bundle", str(bundle))[0] == 2

    report = tmp_path / "gov.html"
    assert run("report", "governance", "street@v3", "-o", str(report))[0] == 0
    assert "10(2)(b)" in report.read_text()
    trail = tmp_path / "trail.html"
    assert run("report", "audit-trail", "-o", str(trail))[0] == 0
    assert "release.create" in trail.read_text()
    code, out = run("reject", "street@v2", "--reason", "recall too low", who="cora")
    assert code == 1 and "cannot move a draft version to rejected" in out, out  # the state refuses: 1
    assert run("dataset", "state", "street@v2", "candidate", who="mia")[0] == 0
    code, out = run("reject", "street@v2", "--reason", "recall too low", who="cora")
    assert code == 0 and "rejected street@v2" in out
