"""The label diff through its doors: the API route (the history of ``tests.lineage.test_label_diff``), the CLI
in text and JSON (the API's model), golden datasets hidden from annotators, and clear errors for unknown
versions (404 / exit 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from lineage import labels as ann
from lineage.models import ProvenanceKind
from service.cli.main import app
from service.settings import get_settings
from tests.factories import World, actor_for, cli_token
from tests.lineage.conftest import items_of, quick_version
from tests.lineage.test_label_diff import History

API = "/api/v1"


@pytest.fixture
def history(engine: Engine, world: World) -> Iterator[History]:
    with Session(engine, expire_on_commit=False) as s:
        h = History(s, world)
        ml = actor_for(world.users["ml_engineer"])
        pid = world.project.id or 0
        _, g1 = quick_version(s, actor=ml, project_id=pid, items={"g.jpg": (10, 10)}, dataset="gold", golden=True)
        _, g2 = quick_version(
            s, actor=ml, project_id=pid, items={"g.jpg": (10, 10)}, dataset="gold", version="v2", parent=g1
        )
        ann.add_annotations(
            s,
            actor=ml,
            version=g2,
            labels=[ann.NewLabel(items_of(s, g2)["g.jpg"], "car", 1, 1, 3, 3)],
            provenance=ann.Provenance(kind=ProvenanceKind.import_, source_sha256="cd" * 32, source_format="coco"),
        )
        s.commit()
        yield h


def _diff(client: TestClient, world: World, who: str, dataset: str = "street", **params: Any) -> Any:
    url = f"{API}/projects/{world.project.id}/datasets/{dataset}/diff"
    return client.get(url, params=params, headers=world.headers(who))


def test_api_answers_the_diff_with_both_sides_ids(client: TestClient, world: World, history: History) -> None:
    r = _diff(client, world, "reviewer", **{"from": "v1", "to": "v2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from_version"], body["to_version"], body["baseline"]) == ("v1", "v2", "given")
    assert {k: body["totals"][k] for k in ("unchanged", "changed", "added", "removed")} == {
        "unchanged": 5,
        "changed": 4,
        "added": 1,
        "removed": 1,
    }
    first = body["changes"][0]
    assert (first["from_id"], first["to_id"], first["fields"]) == (
        history.v1_ids["shifted"],
        history.v2_ids["shifted"],
        ["geometry"],
    )
    assert {a["author"] for a in body["authors"]} >= {"ml_engineer_user", "reviewer_user"}


def test_api_defaults_to_the_parent_and_pages(client: TestClient, world: World, history: History) -> None:
    r = _diff(client, world, "annotator", to="v2", limit=1, offset=1, iou=0.3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["baseline"] == "parent" and body["from_version"] == "v1" and body["iou"] == 0.3
    assert len(body["changes"]) == 1 and body["changes_total"] == 5 and body["offset"] == 1


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"from": "v1", "to": "v9"}, 404, "v9"),
        ({"from": "nope", "to": "v2"}, 404, "nope"),
        ({"to": "v1"}, 422, "no parent"),
        ({"from": "v1", "to": "v2", "iou": 0}, 422, ""),
    ],
)
def test_api_refuses_unknown_versions_and_bad_thresholds(
    client: TestClient, world: World, history: History, params: dict[str, Any], status: int, says: str
) -> None:
    r = _diff(client, world, "ml_engineer", **params)
    assert r.status_code == status, r.text
    assert says in r.text


def test_golden_dataset_diff_is_hidden_from_annotators(client: TestClient, world: World, history: History) -> None:
    assert _diff(client, world, "ml_engineer", "gold", to="v2").json()["totals"]["added"] == 1
    hidden = _diff(client, world, "annotator", "gold", to="v2")
    assert hidden.status_code == 404 and "gold" in hidden.text
    assert _diff(client, world, "outsider", to="v2").status_code == 404


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", db_url)
    monkeypatch.delenv("LABELGATE_TOKEN", raising=False)
    monkeypatch.delenv("LABELGATE_SERVER", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["diff", *args])
    return result.exit_code, result.output


def test_cli_text_summary(cli_env: None, history: History) -> None:
    code, text = _cli("street@v1", "street@v2", "--limit", "3", "--project", "alpha")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0] == "street: v1 -> v2  (IoU threshold 0.5)"
    assert "5 unchanged, 4 changed, 1 added, 1 removed; 2 moved within the threshold; 3 item(s) changed" in lines[1]
    assert "class changes: car -> truck (1)" in text
    car = next(line.split() for line in lines if line.split()[:1] == ["car"])
    assert car == ["car", "5", "5", "2", "2", "1", "0"]
    reviewer = next(line.split() for line in lines if line.split()[:1] == ["reviewer_user"])
    assert reviewer == ["reviewer_user", "human", "0", "0", "0", "1"]
    assert "changes 1-3 of 6" in text
    assert f"#{history.v1_ids['shifted']} -> #{history.v2_ids['shifted']} car: geometry (IoU 0.333)" in text


def test_cli_json_is_the_api_model(cli_env: None, client: TestClient, world: World, history: History) -> None:
    code, text = _cli("street@v2", "--format", "json", "--limit", "100", "--project", "alpha")
    assert code == 0, text
    printed = json.loads(text)
    api = _diff(client, world, "admin", to="v2", limit=100).json()
    assert printed == api and printed["baseline"] == "parent"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("street@v1", "street@v9"), "v9"),
        (("street@v1", "other@v2"), "one dataset"),
        (("street",), "DATASET@VERSION"),
    ],
)
def test_cli_bad_versions_exit_2(cli_env: None, history: History, args: tuple[str, ...], says: str) -> None:
    code, text = _cli(*args, "--project", "alpha")
    assert code == 2 and "error:" in text and says in text, text


def test_cli_annotator_cannot_see_golden_diff(cli_env: None, history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELGATE_TOKEN", cli_token("annotator_user"))
    code, text = _cli("gold@v1", "gold@v2", "--project", "alpha")
    assert code == 2 and "no dataset named 'gold'" in text, text
    monkeypatch.setenv("LABELGATE_TOKEN", cli_token("ml_engineer_user"))
    code, text = _cli("gold@v1", "gold@v2", "--project", "alpha")
    assert code == 0 and "0 unchanged, 0 changed, 1 added, 0 removed" in text, text
