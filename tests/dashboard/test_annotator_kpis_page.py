"""The Annotators page against the real API: the KPI table per version ("—" with the reason, never 0), the
trend chart across versions, and an annotator who sees only their own row and no golden set."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from dashboard.kpis import kpi_rows, reason_lines, trend_chart
from lineage.models import User
from tests.dashboard.conftest import all_text, assert_clean, open_page, signed_in, table_with, texts
from tests.factories import World, make_token
from tests.lineage.test_annotator_kpis import build_scenario


@pytest.fixture
def kpi_tokens(api_http: TestClient, world: World, engine: Engine) -> dict[str, str]:
    with Session(engine, expire_on_commit=False) as s:
        sc = build_scenario(s, world)
        tokens = {name: make_token(s, s.get(User, uid)) for name, uid in sc.users.items()}  # type: ignore[arg-type]
        s.commit()
    return tokens


def pick_pets(at: object) -> None:
    at.selectbox(key="kpi_dataset_1").select("pets").run()  # type: ignore[attr-defined]


def test_engineer_sees_every_annotator_per_version_and_the_trend(
    api_http: TestClient, world: World, kpi_tokens: dict[str, str]
) -> None:
    at = signed_in(api_http, world.tokens["ml_engineer"])
    assert "annotators" in at.session_state["lg_viewer"].pages()
    open_page(at, "annotators")
    pick_pets(at)
    assert_clean(at)
    assert texts(at, "title") == ["Annotators"]
    rows = {r["annotator"]: r for r in table_with(at, "s / image")}
    assert set(rows) == {"alice", "bob"}  # v2, the newest, first
    assert rows["bob"]["rework"] == "50.0 %"
    at.selectbox(key="kpi_table_pets@v2").select("v1").run()
    assert_clean(at)
    rows = {r["annotator"]: r for r in table_with(at, "s / image")}
    assert rows["carol"]["s / image"] == "—" and rows["alice"]["s / image"] == "30.0"
    assert "carol: seconds_per_image — no lead times" in all_text(at)
    assert "Golden set: gold@1" in all_text(at)
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["encoding"]["x"]["sort"] == ["v1", "v2"] and "seconds per image" in str(spec["title"])


def test_an_annotator_sees_only_their_row(api_http: TestClient, world: World, kpi_tokens: dict[str, str]) -> None:
    at = signed_in(api_http, kpi_tokens["alice"])
    open_page(at, "annotators")
    pick_pets(at)
    assert_clean(at)
    assert [r["annotator"] for r in table_with(at, "s / image")] == ["alice"]
    text = all_text(at)
    assert "gold@" not in text and "bob" not in text and "Golden set: (hidden)" in text


def test_shaping_is_pure_and_never_shows_zero_for_missing() -> None:
    a = {"annotator": "x", "labels": 2, "images": 1, "corrected": 0, "rejected": 0, "superseded": 0,
         "seconds_per_image": None, "rework_rate": 0.0, "golden_low": None, "golden_high": None,
         "reasons": {"seconds_per_image": "no lead times"}}  # fmt: skip
    [row] = kpi_rows([a])
    assert row["s / image"] == "—" and row["rework"] == "0.0 %" and row["golden 95 % interval"] == "—"
    assert reason_lines([a]) == ["x: seconds_per_image — no lead times"]
    spec = trend_chart([{"version": "v1", "annotators": [a]}], "seconds_per_image").to_dict()
    assert "no seconds per image" in str(spec)
    spec = trend_chart([{"version": "v1", "annotators": [a]}, {"version": "v2", "annotators": []}], "rework_rate")
    assert spec.to_dict()["encoding"]["x"]["sort"] == ["v1", "v2"]
