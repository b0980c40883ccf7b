"""Annotator KPIs through the API and the CLI, on both databases: the whole table for an ML engineer, only
their own row for an annotator, never a golden item or the golden set's name for them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from lineage.models import User
from service.cli.main import app
from service.settings import Settings, get_settings
from tests.factories import World, make_token
from tests.lineage.test_annotator_kpis import Scenario, build_scenario

PATH = "/api/v1/projects/{pid}/datasets/pets/versions/{v}/annotators"


@pytest.fixture
def scenario(engine: Engine, world: World) -> tuple[Scenario, dict[str, str]]:
    with Session(engine, expire_on_commit=False) as s:
        sc = build_scenario(s, world)
        tokens = {name: make_token(s, s.get(User, uid)) for name, uid in sc.users.items()}  # type: ignore[arg-type]
        s.commit()
    return sc, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_engineer_sees_every_annotator_and_the_trend(
    client: TestClient, world: World, scenario: tuple[Scenario, dict[str, str]]
) -> None:
    sc, _ = scenario
    r = client.get(PATH.format(pid=sc.project_id, v="v2"), headers=world.headers("ml_engineer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["annotator"] for a in body["annotators"]] == ["alice", "bob"]
    assert [t["version"] for t in body["trend"]] == ["v1", "v2"]
    assert [a["annotator"] for a in body["trend"][0]["annotators"]] == ["alice", "bob", "carol"]
    carol = body["trend"][0]["annotators"][2]
    assert carol["seconds_per_image"] is None and "coco" in carol["reasons"]["seconds_per_image"]
    assert body["golden_set"] == "gold@1"
    bob = body["annotators"][1]
    assert bob["rework_rate"] == 0.5 and bob["superseded"] == 1
    r = client.get(PATH.format(pid=sc.project_id, v="v2"), params={"trend": "false"}, headers=world.headers("ci"))
    assert r.status_code == 200 and r.json()["trend"] == []


def test_an_annotator_sees_only_themself_and_no_golden_item(
    client: TestClient, world: World, scenario: tuple[Scenario, dict[str, str]]
) -> None:
    sc, tokens = scenario
    r = client.get(PATH.format(pid=sc.project_id, v="v1"), headers=bearer(tokens["alice"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["annotator"] for a in body["annotators"]] == ["alice"]
    assert all(a["annotator"] == "alice" for t in body["trend"] for a in t["annotators"])
    assert body["annotators"][0]["golden_error"] == pytest.approx(0.2)
    assert body["golden_set"] == "(hidden)"
    for secret in ("gold@", "img1", "img2", ".png", "bob", "carol"):
        assert secret not in r.text, secret
    r = client.get(PATH.format(pid=sc.project_id, v="v1"), params={"golden": "gold@1"}, headers=bearer(tokens["bob"]))
    assert r.status_code == 403 and "golden" in r.text
    # the golden dataset itself does not exist for them
    gold = f"/api/v1/projects/{sc.project_id}/datasets/gold/versions/v1/annotators"
    assert client.get(gold, headers=bearer(tokens["alice"])).status_code == 404
    assert client.get(PATH.format(pid=sc.project_id, v="v1"), headers=world.headers("outsider")).status_code == 404


def run_cli(*args: str, token: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"LABELGATE_TOKEN": token})
    return result.exit_code, result.output


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(settings.workspace))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("LABELGATE_SERVER", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_csv_json_html(
    cli_env: None, world: World, scenario: tuple[Scenario, dict[str, str]], tmp_path: Path
) -> None:
    _, tokens = scenario
    ml = world.tokens["ml_engineer"]
    code, text = run_cli("report", "annotators", "pets@v2", "--format", "csv", "-p", "alpha", token=ml)
    assert code == 0, text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["version"], r["annotator"]) for r in rows] == [
        ("v1", "alice"), ("v1", "bob"), ("v1", "carol"), ("v2", "alice"), ("v2", "bob")
    ]  # fmt: skip
    carol = rows[2]
    assert carol["seconds_per_image"] == "" and "no lead times" in carol["reasons"]
    assert float(rows[0]["seconds_per_image"]) == pytest.approx(30.0)

    out = tmp_path / "kpis.json"
    code, text = run_cli("report", "annotators", "pets@v1", "-f", "json", "-o", str(out), "-p", "alpha", token=ml)
    assert code == 0 and f"wrote {out}" in text
    data = json.loads(out.read_text())
    assert {a["annotator"]: a["golden_error"] for a in data["annotators"]} == pytest.approx(
        {"alice": 0.2, "bob": 0.6, "carol": 1 / 3}
    )

    page = tmp_path / "kpis.html"
    code, text = run_cli("report", "annotators", "pets@v2", "-f", "html", "-o", str(page), token=tokens["alice"])
    assert code == 0, text
    html = page.read_text()
    assert "<table>" in html and "alice" in html and "bob" not in html and "gold@" not in html
    assert "img1" not in html and "Trend across versions" in html

    code, text = run_cli("report", "annotators", "pets", "-p", "alpha", token=ml)
    assert code == 2 and "DATASET@VERSION" in text
    code, text = run_cli("report", "annotators", "pets@v9", "-p", "alpha", token=ml)
    assert code == 2 and "v9" in text
