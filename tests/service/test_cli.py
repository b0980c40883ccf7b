"""The ``labelgate`` CLI end to end on a real workspace: init, identity, audit verify/export/tamper."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli.main import app
from service.settings import get_settings


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The CLI reads its settings from the environment like a user's shell would.
    ws = tmp_path / "ws"
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(ws))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield ws
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_commands_before_init_explain_what_to_do(workspace: Path) -> None:
    code, out = run("audit", "verify")
    assert code == 2 and "labelgate init" in out


def test_init_then_identity_then_audit(workspace: Path, tmp_path: Path) -> None:
    code, out = run("init")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert token.startswith("lg_")
    assert (workspace / "repo" / ".dvc").is_dir() and (workspace / "keys" / "signing_key.pem").is_file()
    assert (workspace / "keys" / "signing_key.pem").stat().st_mode & 0o077 == 0
    code, out = run("init")
    assert code == 0 and "already initialised" in out and "lg_" not in out

    assert run("user", "create", "carol", "--name", "Carol Jones")[0] == 0
    assert run("project", "create", "alpha")[0] == 0
    assert run("project", "add-member", "alpha", "carol", "compliance_officer")[0] == 0
    code, out = run("project", "add-member", "alpha", "carol", "wizard")
    assert code == 2 and "wizard" in out
    code, out = run("project", "add-member", "nope", "carol", "reviewer")
    assert code == 2 and "no project named 'nope'" in out

    code, out = run("audit", "verify")
    assert code == 0 and "OK: 5 events" in out, out
    code, out = run("audit", "log", "--action", "project.")
    assert code == 0 and "project.create" in out and "project.member.add" in out and "user.create" not in out

    export = tmp_path / "audit.jsonl"
    code, out = run("audit", "export", "-o", str(export))
    assert code == 0 and len(export.read_text().splitlines()) == 5
    code, out = run("audit", "verify", "--file", str(export))
    assert code == 0 and "OK: 5 events" in out

    lines = export.read_text().splitlines()
    head = json.loads(lines[-1])
    assert run("audit", "verify", "--file", str(export), "--expect-head", f"5:{head['hash']}")[0] == 0
    assert run("audit", "verify", "--file", str(export), "--expect-head", f"5:{'0' * 64}")[0] == 1
    lines[2] = lines[2].replace('"carol"', '"mallory"')
    export.write_text("\n".join(lines) + "\n")
    code, out = run("audit", "verify", "--file", str(export))
    assert code == 1 and "BROKEN at seq 3 (edited)" in out

    code, out = run("audit", "verify", "--file", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such file" in out
    (tmp_path / "junk.jsonl").write_text("not json\n")
    code, out = run("audit", "verify", "--file", str(tmp_path / "junk.jsonl"))
    assert code == 2 and "line 1" in out


def test_tampering_in_the_database_is_reported(workspace: Path) -> None:
    assert run("init")[0] == 0
    assert run("user", "create", "dave", "--name", "Dave")[0] == 0
    db = workspace / "labelgate.db"
    con = sqlite3.connect(db)
    # An attacker with file access drops the trigger and edits a row; verification must notice.
    con.execute("DROP TRIGGER audit_events_no_update")
    con.execute("UPDATE audit_events SET canonical = replace(canonical, 'Dave', 'Eve') WHERE seq = 3")
    con.commit()
    con.close()
    code, out = run("audit", "verify")
    assert code == 1 and "BROKEN at seq 3 (edited)" in out
