"""The audit commands through both doors, on SQLite and PostgreSQL: ``audit verify`` (shallow and deep),
``audit log`` and ``verify-release`` run locally (on the workspace's database) and remotely (against a real
server: uvicorn in a subprocess on the same workspace) print the same stdout and stderr and exit the same,
on an honest record and on a tampered one; remotely, the permission table decides who may verify.

Nothing is normalised between the two doors: both render the API's response models, and a read writes no
audit event, so even the event counts and the checkpoint sources agree byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from service.cli import audit as audit_cli
from service.cli.main import app
from service.settings import get_settings
from tests.live_server import Served, serving
from tests.service import test_release_flow as release_flow
from tests.service.test_record_integrity import _release_v3
from tests.service.test_release_flow import Flow
from tests.tamper import tamper

ROOT = Path(__file__).resolve().parents[2]

flow = release_flow.flow  # a real workspace with the gate scenario, and an in-process API client

VERIFY = ("audit", "verify")
DEEP = ("audit", "verify", "--deep")
VERIFY_RELEASE = ("verify-release", "street@v3", "--project", "alpha")


@pytest.fixture
def server(flow: Flow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The API served on the flow's workspace and database; the CLI's environment points at the same
    workspace (for local runs) and names no server or token of its own."""
    for name in ("LABELGATE_SERVER", "LABELGATE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABELGATE_DATABASE_URL", flow.settings.database_url)
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(flow.settings.workspace))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no stored `labelgate login` token
    get_settings.cache_clear()
    try:
        with serving(flow.settings.workspace, flow.settings.database_url, tmp_path / "server.log") as served:
            yield served
    finally:
        get_settings.cache_clear()


def cli_as(args: tuple[str, ...], *, token: str | None = None, server: Served | None = None) -> Result:
    """One CLI call: remote when ``server`` is given; as ``token``'s user, else (locally) as the operator."""
    env = {"LABELGATE_SERVER": server.url if server else None, "LABELGATE_TOKEN": token}
    return CliRunner().invoke(app, list(args), env=env)


def both_doors(args: tuple[str, ...], *, token: str, server: Served) -> tuple[int, str, str]:
    """Run ``args`` locally and remotely as the same user; assert they print and exit the same."""
    here = cli_as(args, token=token)
    there = cli_as(args, token=token, server=server)
    assert (here.exit_code, here.stdout, here.stderr) == (there.exit_code, there.stdout, there.stderr), (
        f"local:\n{here.output}\nremote:\n{there.output}"
    )
    return here.exit_code, here.stdout, here.stderr


def test_an_honest_record_prints_the_same_through_both_doors(
    flow: Flow, server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    _release_v3(flow)
    officer = flow.world.tokens["compliance_officer"]
    code, out, _ = both_doors(VERIFY, token=officer, server=server)
    assert code == 0 and out.startswith("OK: ") and "signed checkpoint(s) agree with the chain" in out, out
    code, out, _ = both_doors(DEEP, token=officer, server=server)
    assert code == 0 and "OK: deep verify: every domain row matches" in out, out
    code, out, _ = both_doors(VERIFY_RELEASE, token=officer, server=server)
    assert code == 0 and out.startswith("OK: release of street@v3 agrees with the live record"), out
    code, out, _ = both_doors((*VERIFY_RELEASE, "--no-content", "--format", "json"), token=officer, server=server)
    assert code == 0 and '"ok": true' in out and "item bytes" not in out, out

    # A page of 7 makes the remote log read several pages; it must still print what the local log prints.
    monkeypatch.setattr(audit_cli, "_API_PAGE", 7)
    code, out, _ = both_doors(("audit", "log", "--project", "alpha", "--limit", "20"), token=officer, server=server)
    assert code == 0 and len(out.splitlines()) == 1 + 20 and out.startswith("SEQ "), out  # a header, 20 events
    code, out, _ = both_doors(("audit", "log", "--project", "alpha", "--limit", "10000"), token=officer, server=server)
    assert code == 0 and len(out.splitlines()) > 20 and "release.create" in out, out
    # The whole workspace's log: the operator locally, an admin remotely (the operator has no token).
    log = ("audit", "log", "--action", "project.", "--limit", "10000")
    here, there = cli_as(log), cli_as(log, token=flow.world.tokens["admin"], server=server)
    assert here.exit_code == there.exit_code == 0 and here.stdout == there.stdout and "project.create" in here.stdout
    # Filters by part of an action and by an object's name; objects printed by name, the same both ways.
    code, out, _ = both_doors(
        ("audit", "log", "--project", "alpha", "--action", "evaluate", "--limit", "10000"), token=officer, server=server
    )
    rows = out.splitlines()[1:]
    assert code == 0 and rows and all("gate.evaluate" in r for r in rows) and "street@v3" in out, out
    code, out, _ = both_doors(
        ("audit", "log", "--project", "alpha", "--object", "street@v3", "--limit", "10000"),
        token=officer,
        server=server,
    )
    rows = out.splitlines()[1:]
    assert code == 0 and rows and all(r.rstrip().endswith("street@v3") or "street@v3" in r for r in rows), out
    assert "release.create" in out and "dataset_version:" not in out, out
    served = server.log.read_text(errors="replace")  # uvicorn's access log: the remote runs went through it
    for path in ("/audit/verify?deep=false", "/audit/verify?deep=true", "/release/verify?content=true"):
        assert f'{path} HTTP/1.1" 200' in served, served[-2000:]
    assert served.count(f"/projects/{flow.world.project.id}/audit/events?") > 3  # the long log came a page at a time
    # What only the workspace's machine can do is refused remotely, naming why.
    for refused in (("audit", "export", "-o", "x.jsonl"), ("audit", "seal-legacy"), ("audit", "checkpoint")):
        r = cli_as(refused, token=flow.world.tokens["admin"], server=server)
        assert r.exit_code == 2 and "runs on the workspace's machine only" in r.stderr, r.output


def test_a_tampered_record_exits_1_through_both_doors(flow: Flow, server: Served) -> None:
    _release_v3(flow)
    officer = flow.world.tokens["compliance_officer"]
    tamper(
        flow.engine,
        "UPDATE annotations SET category = :c WHERE id = (SELECT min(a.id) FROM annotations a"
        " JOIN dataset_versions v ON v.id = a.dataset_version_id WHERE v.version = 'v3')",
        c="forged",
    )
    code, out, _ = both_doors(VERIFY, token=officer, server=server)
    assert code == 0, out  # a domain row changed: the chain itself still holds
    code, out, errors = both_doors(DEEP, token=officer, server=server)
    assert code == 1 and "ROW annotations #" in errors and "BROKEN: deep verify found" in errors, errors
    code, _, errors = both_doors(VERIFY_RELEASE, token=officer, server=server)
    assert code == 1 and "DIFFERS dataset.manifest_hash" in errors, errors

    tamper(flow.engine, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    code, out, errors = both_doors(VERIFY, token=officer, server=server)
    assert code == 1 and "BROKEN at seq 3 (column)" in errors and out == "", errors


@pytest.mark.parametrize(
    ("who", "verify_release", "verify_chain"),
    [
        ("compliance_officer", 0, 0),
        ("ci", 0, 1),  # CI re-verifies releases; the chain is the compliance officer's (service.permissions)
        ("annotator", 1, 1),
    ],
)
def test_the_permission_table_decides_who_verifies_through_both_doors(
    flow: Flow, server: Served, who: str, verify_release: int, verify_chain: int
) -> None:
    _release_v3(flow)
    token = flow.world.tokens[who]
    code, out, errors = both_doors(VERIFY_RELEASE, token=token, server=server)
    assert code == verify_release, (out, errors)
    code, out, errors = both_doors(VERIFY, token=token, server=server)
    assert code == verify_chain, (out, errors)
    if verify_chain:
        assert errors.startswith("refused: this action needs one of the roles ['compliance_officer']"), errors
