"""Credentials through the API: no secret in any URL (so none in any log), tokens that cannot outlive or
survive the token that minted them, and signing secrets that an API token alone never sets.

One test runs the real server (uvicorn, in a subprocess, access log and ASGI trace on) and greps all it
logged for every secret the test used."""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session
from typer.testing import CliRunner

from lineage import identity
from lineage.models import User
from service.cli.main import app
from service.permissions import ACTIONS, ADMIN
from service.settings import Settings, get_settings
from tests.factories import World, actor_for
from tests.live_server import Served, serving

ROOT = Path(__file__).resolve().parents[2]
FIRST, SECOND = "Tr0ub4dor&3-one", "c0rrect-h0rse-two"  # distinct from any word a message could hold
# Parameter names that would carry a secret; ids (token_id, user_id) are not secrets.
SECRETISH = re.compile(r"secret|password|passphrase|code|current|token|key", re.IGNORECASE)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit_text(engine: Engine) -> str:
    with Session(engine) as s:
        rows = s.exec(text("SELECT canonical FROM audit_events ORDER BY seq")).all()  # type: ignore[call-overload]
    return "\n".join(bytes(r[0]).decode() for r in rows)


def _actions(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return [r[0] for r in s.exec(text("SELECT action FROM audit_events ORDER BY seq")).all()]  # type: ignore[call-overload]


def _error(r: Any) -> tuple[int, str | None, str]:  # httpx or the TestClient's response
    err = r.json()["error"]
    return r.status_code, err["field"], err["message"]


def test_no_route_takes_a_secret_in_its_path_or_query(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    offending = [
        f"{method.upper()} {path} ({p['in']} {p['name']})"
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        for p in op.get("parameters", [])
        if p["in"] in ("path", "query") and SECRETISH.search(p["name"]) and not p["name"].endswith("_id")
    ]
    assert offending == []
    put = spec["paths"]["/api/v1/me/signing-secret"]["put"]
    assert "parameters" not in put or put["parameters"] == []
    body = put["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][body]["properties"]) == {"secret", "current", "enrolment_code"}


def test_only_admins_issue_enrolment_codes() -> None:
    assert ACTIONS["issue_signing_enrolment"] == ADMIN


def _enrolment_flow(http: Any, world: World, *, officer_token: str) -> list[str]:
    """Enrol, set, change and refuse; returns every secret value the flow sent."""
    officer, admin = world.users["compliance_officer"], world.admin
    me = _bearer(officer_token)
    url = "/api/v1/me/signing-secret"
    assert _error(http.put(url, json={"secret": FIRST}, headers=me))[:2] == (403, "enrolment_code")
    r = http.post(f"/api/v1/users/{officer.id}/signing-enrolment", json={}, headers=me)
    assert r.status_code == 403  # only admins
    r = http.post(f"/api/v1/users/{admin.id}/signing-enrolment", json={}, headers=world.headers("admin"))
    assert _error(r)[0] == 409 and "may not issue their own" in _error(r)[2]
    r = http.post(
        f"/api/v1/users/{officer.id}/signing-enrolment", json={"valid_for_hours": 2}, headers=world.headers("admin")
    )
    assert r.status_code == 201, r.text
    code = r.json()["enrolment_code"]
    wrong = code[:-4] + "AAAA"
    status, field, message = _error(http.put(url, json={"enrolment_code": wrong, "secret": FIRST}, headers=me))
    assert (status, field) == (403, "enrolment_code") and "wrong" in message
    r = http.put(url, json={"enrolment_code": code, "secret": "s7rt"}, headers=me)
    assert _error(r)[:2] == (422, "secret")
    assert http.put(url, json={"enrolment_code": code, "secret": FIRST}, headers=me).status_code == 204
    # reuse of the code, a token alone, a wrong current secret: all refused
    assert _error(http.put(url, json={"enrolment_code": code, "secret": SECOND}, headers=me))[:2] == (403, "current")
    assert _error(http.put(url, json={"secret": SECOND}, headers=me))[:2] == (403, "current")
    assert _error(http.put(url, json={"current": "n0t-my-s3cret", "secret": SECOND}, headers=me))[:2] == (
        403,
        "current",
    )
    assert http.put(url, json={"current": FIRST, "secret": SECOND}, headers=me).status_code == 204
    r = http.post(f"/api/v1/users/{officer.id}/signing-enrolment", json={}, headers=world.headers("admin"))
    assert _error(r)[0] == 409 and "already has a signing secret" in _error(r)[2]
    return [FIRST, SECOND, "s7rt", "n0t-my-s3cret", code, wrong]


def test_signing_secret_enrolment_and_change_over_the_api_log_no_secret(
    client: TestClient, world: World, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    used = _enrolment_flow(client, world, officer_token=world.tokens["compliance_officer"])
    with Session(engine) as s:
        officer = s.get(User, world.users["compliance_officer"].id)
        assert officer is not None and identity.check_signing_secret(officer, SECOND)
    actions = _actions(engine)
    for action in (
        "user.signing_enrolment.issue",
        "user.signing_enrolment.refused",
        "user.signing_enrolment.consume",
        "user.signing_secret.set",
        "user.signing_secret.change",
        "user.signing_secret.refused",
    ):
        assert action in actions, action
    assert actions.count("user.signing_enrolment.refused") == 2  # no code, then a wrong code
    assert actions.count("user.signing_secret.refused") == 3  # reused code, token alone, wrong current
    assert "/api/v1/me/signing-secret" in caplog.text  # the client logged every request it made
    secrets_used = [*used, *world.tokens.values()]
    assert [v for v in secrets_used if v in caplog.text] == []
    assert [v for v in secrets_used if v in _audit_text(engine)] == []


def test_a_minted_token_cannot_outlive_or_survive_its_parent(client: TestClient, world: World, engine: Engine) -> None:
    reviewer = world.users["reviewer"]
    with Session(engine, expire_on_commit=False) as s:
        parent = identity.issue_token(s, actor=None, user=reviewer, name="day", expires_in=timedelta(days=1))
        s.commit()
    tokens = f"/api/v1/users/{reviewer.id}/tokens"
    for body in ({"name": "longer", "expires_in_days": 2}, {"name": "forever"}):
        status, field, message = _error(client.post(tokens, json=body, headers=_bearer(parent.token)))
        assert (status, field) == (422, "expires_in_days") and "may not outlive" in message and "at most" in message
    r = client.post(tokens, json={"name": "child", "expires_in_days": 0.5}, headers=_bearer(parent.token))
    assert r.status_code == 201 and r.json()["parent_id"] == parent.record.id
    child = r.json()
    r = client.post(tokens, json={"name": "grandchild", "expires_in_days": 0.25}, headers=_bearer(child["token"]))
    assert r.status_code == 201 and r.json()["parent_id"] == child["id"]
    grandchild = r.json()
    assert client.get("/api/v1/me", headers=_bearer(grandchild["token"])).status_code == 200

    r = client.delete(f"{tokens}/{parent.record.id}", headers=world.headers("reviewer"))
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    for t in (parent.token, child["token"], grandchild["token"]):
        r = client.get("/api/v1/me", headers=_bearer(t))
        assert r.status_code == 401 and r.json()["error"]["message"] == "invalid token: token revoked"
    listed = {t["id"]: t for t in client.get(tokens, headers=world.headers("reviewer")).json()}
    assert all(listed[i]["revoked_at"] for i in (parent.record.id, child["id"], grandchild["id"]))
    events = client.get("/api/v1/audit/events", params={"action": "token.revoke"}, headers=world.headers("admin"))
    cascaded = {e["object_id"]: e["payload"].get("cascade_from") for e in events.json()["items"]}
    assert cascaded == {
        str(parent.record.id): None,
        str(child["id"]): parent.record.id,
        str(grandchild["id"]): parent.record.id,
    }
    assert client.get("/api/v1/me", headers=world.headers("reviewer")).status_code == 200  # a sibling lives on


def test_only_an_admin_mints_for_another_user(client: TestClient, world: World, engine: Engine) -> None:
    annotator = world.users["annotator"]
    url = f"/api/v1/users/{annotator.id}/tokens"
    assert client.post(url, json={"name": "x"}, headers=world.headers("reviewer")).status_code == 403
    r = client.post(url, json={"name": "x"}, headers=world.headers("admin"))
    assert r.status_code == 201 and r.json()["user_id"] == annotator.id
    with Session(engine) as s:
        _, admin_token = identity.authenticate_token(s, world.tokens["admin"])
    assert r.json()["parent_id"] == admin_token.id
    events = client.get("/api/v1/audit/events", params={"action": "token.issue"}, headers=world.headers("admin"))
    issued = events.json()["items"][-1]["payload"]
    assert issued["parent_id"] == admin_token.id and issued["records"][0]["table"] == "api_tokens"


# --- the real server ---------------------------------------------------------------------------------------


@pytest.fixture
def served(world: World, db_url: str, settings: Settings, tmp_path: Path) -> Iterator[Served]:
    """uvicorn serving the API on the test database, every log line (access log, ASGI trace) in a file."""
    trace = ["--log-level", "trace", "--access-log"]
    with serving(settings.workspace, db_url, tmp_path / "api.log", uvicorn_args=trace) as found:
        yield found


def test_the_real_servers_log_holds_no_secret(served: Served, world: World) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as http:
        used = _enrolment_flow(http, world, officer_token=world.tokens["compliance_officer"])
        me = world.users["compliance_officer"]
        r = http.post(
            f"/api/v1/users/{me.id}/tokens",
            json={"name": "minted", "expires_in_days": 1},
            headers=world.headers("compliance_officer"),
        )
        assert r.status_code == 201
        minted = r.json()["token"]
        assert http.get("/api/v1/me", headers=_bearer(minted)).status_code == 200
        assert http.get("/api/v1/me", headers=_bearer(minted + "x")).status_code == 401
        assert http.delete(f"/api/v1/users/{me.id}/tokens/{r.json()['id']}", headers=_bearer(minted)).status_code == 200
        assert http.get("/api/v1/me", headers=_bearer(minted)).status_code == 401
    os.killpg(served.proc.pid, signal.SIGTERM)
    served.proc.wait(timeout=15)
    logged = served.log.read_text(errors="replace")
    # the access log and the trace were on: each request is there, by method and path
    assert re.search(r'"PUT /api/v1/me/signing-secret HTTP/1\.1" 204', logged), logged[-2000:]
    assert re.search(r'"POST /api/v1/users/\d+/signing-enrolment HTTP/1\.1" 201', logged)
    assert "ASGI [" in logged  # uvicorn's trace of every message
    secrets_used = [*used, *world.tokens.values(), minted]
    assert [v for v in secrets_used if v in logged] == []


def test_the_old_query_form_is_not_read(client: TestClient, world: World, engine: Engine) -> None:
    """``?current=`` was the leak; the route no longer reads it, so it proves nothing."""
    with Session(engine, expire_on_commit=False) as s:
        officer = s.get(User, world.users["compliance_officer"].id)
        assert officer is not None
        identity.set_signing_secret(s, actor=actor_for(world.admin), user=officer, secret=FIRST, operator=True)
        s.commit()
    r = client.put(
        "/api/v1/me/signing-secret",
        params={"current": FIRST},
        json={"secret": SECOND},
        headers=world.headers("compliance_officer"),
    )
    assert _error(r)[:2] == (403, "current")


# --- the local CLI: the workspace operator ------------------------------------------------------------------


@pytest.fixture
def cli_env(world: World, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _cli(*args: str, stdin: str | None = None, token: str | None = None) -> tuple[int, str]:
    """The CLI on the workspace: as its operator, or as ``token``'s user (``LABELGATE_TOKEN``)."""
    result = CliRunner().invoke(app, list(args), input=stdin, env={"LABELGATE_TOKEN": token})
    return result.exit_code, result.output


def test_cli_enrol_code_set_secret_and_token_issue(cli_env: None, world: World, engine: Engine) -> None:
    officer = world.users["compliance_officer"]
    code, out = _cli("user", "enrol-code", officer.username, "--valid-hours", "1")
    assert code == 0, out
    enrolment = out.strip().splitlines()[-1]
    assert enrolment.startswith("lge_")
    with Session(engine, expire_on_commit=False) as s:
        user = s.get(User, officer.id)
        assert user is not None and user.signing_enrolment_hash and enrolment not in user.signing_enrolment_hash
        identity.set_signing_secret(s, actor=actor_for(user), user=user, secret=FIRST, enrolment_code=enrolment)
        s.commit()
    code, out = _cli("user", "enrol-code", officer.username)
    assert code == 1 and "already has a signing secret" in out  # refused (409), not bad input
    # the operator resets a forgotten secret on the workspace machine (no code, no current secret)
    code, out = _cli("user", "set-secret", officer.username, "--secret-stdin", stdin=SECOND + "\n")
    assert code == 0 and SECOND not in out, out
    code, out = _cli("user", "enrol-code", world.admin.username)  # an operator may enrol the admin too
    assert code == 0, out
    code, out = _cli("user", "enrol-code", officer.username, token=world.tokens["ml_engineer"])
    assert code == 1 and "needs the admin role" in out  # a role that may not: refused (403)
    code, out = _cli("user", "enrol-code", world.admin.username, token=world.tokens["admin"])
    assert code == 1 and "may not issue their own enrolment code" in out  # the operator may, an admin's token not

    code, out = _cli("token", "issue", officer.username, "--expires-days", "1")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    with Session(engine) as s:
        user, record = identity.authenticate_token(s, token)
        assert user.id == officer.id and record.parent_id is None and record.expires_at is not None
        assert identity.check_signing_secret(user, SECOND)
    code, out = _cli("token", "revoke", str(record.id))
    assert code == 0 and "revoked" in out
    actions = _actions(engine)
    assert actions.count("user.signing_enrolment.issue") == 2
    assert "user.signing_secret.set" in actions and "user.signing_secret.change" in actions
