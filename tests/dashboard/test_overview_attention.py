"""The overview says what needs attention (``GET /projects/{id}/overview``, ``service.actions.overview``) on the
real gate scenario: street@v3 awaits approval (passing, no signature), street@v2 is blocked; a newer policy
version makes both evaluations stale; a release moves v3 to the recent releases; the audit chain's last signed
checkpoint is named to those who may verify the chain; recent activity names projects and objects.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from service.checkpointing import checkpoint_now
from service.settings import Settings
from tests.dashboard.conftest import all_text, assert_clean, open_page, signed_in, table_with, texts
from tests.dashboard.test_gate_pages import ALPHA, release
from tests.factories import World

OVERVIEW = f"/api/v1/projects/{ALPHA}/overview"


def links(at: AppTest) -> list[dict[str, str]]:
    """Every page link on the page: its label, target page and query string."""
    return [
        {"label": e.proto.label, "page": e.proto.page, "query": e.proto.query_string}
        for e in at.get("page_link")  # type: ignore[union-attr]
    ]


def markdown_after(at: AppTest, heading: str) -> list[str]:
    """The markdown elements after the one starting with ``heading``."""
    found = texts(at, "markdown")
    start = next(i for i, m in enumerate(found) if m.startswith(heading))
    return found[start + 1 :]


def test_the_api_lists_awaiting_blocked_and_no_stale_on_a_fresh_scenario(
    gate_http: TestClient, gate_world: World
) -> None:
    body: dict[str, Any] = gate_http.get(OVERVIEW, headers=gate_world.headers("compliance_officer")).json()
    assert [(v["ref"], v["approvals"], v["approvals_needed"]) for v in body["awaiting_approval"]] == [
        ("street@v3", 0, 1)
    ]
    assert [(v["ref"], v["blocking"]) for v in body["blocked"]] == [
        ("street@v2", ["golden_set_error", "precision", "recall", "map"])
    ]
    assert body["stale"] == [] and body["recent_releases"] == []
    assert body["chain"]["head_seq"] > 0
    # the chain's state is for those who may verify it; every project member gets the rest
    annotator = gate_http.get(OVERVIEW, headers=gate_world.headers("annotator")).json()
    assert annotator["chain"] is None and [v["ref"] for v in annotator["blocked"]] == ["street@v2"]
    assert gate_http.get(OVERVIEW, headers=gate_world.headers("outsider")).status_code == 404


def test_overview_names_and_links_what_needs_attention(gate_http: TestClient, gate_world: World) -> None:
    at = signed_in(gate_http, gate_world.tokens["compliance_officer"])
    assert "Needs attention" in texts(at, "subheader")
    text = all_text(at)
    assert "**Awaiting approval** (1)" in text and "**Blocked** (1)" in text
    assert "Stale evaluations" not in text
    targets = {(link["label"], link["query"]) for link in links(at)}
    assert ("street@v3", f"project={ALPHA}&dataset=street&version=v3") in targets
    assert ("street@v2", f"project={ALPHA}&dataset=street&version=v2") in targets
    assert any("blocking: golden\\_set\\_error, precision, recall, map" in m for m in texts(at, "markdown"))
    assert any("approvals 0 of 1" in m for m in texts(at, "markdown"))


def test_a_link_opens_the_version_page_on_that_version(gate_http: TestClient, gate_world: World) -> None:
    at = signed_in(gate_http, gate_world.tokens["compliance_officer"])
    at.query_params.update({"project": str(ALPHA), "dataset": "street", "version": "v2"})
    at = open_page(at, "dataset_version")
    assert_clean(at)
    assert texts(at, "header") == ["street@v2"]


def test_a_newer_policy_makes_the_evaluations_stale_and_the_page_says_why(
    gate_http: TestClient, gate_world: World
) -> None:
    policies = gate_http.get(f"/api/v1/projects/{ALPHA}/policies", headers=gate_world.headers("ml_engineer")).json()
    default = next(p for p in policies if p["name"] == "default")
    newer = default["yaml_text"].replace("max: 0.05", "max: 0.06")
    assert newer != default["yaml_text"]
    r = gate_http.post(f"/api/v1/projects/{ALPHA}/policies", json={"yaml": newer},
                       headers=gate_world.headers("compliance_officer"))  # fmt: skip
    assert r.status_code == 201, r.text
    at = signed_in(gate_http, gate_world.tokens["compliance_officer"])
    assert_clean(at)
    text = all_text(at)
    assert "**Stale evaluations** (2)" in text
    assert "An evaluation is stale when the version's data or labels changed after it" in text  # the definition
    assert any("policy default has a newer version (v2; evaluated under v1)" in m for m in texts(at, "markdown"))


def test_a_release_is_listed_and_leaves_the_awaiting_list(gate_http: TestClient, gate_world: World) -> None:
    release(gate_http, gate_world, "v3")
    body = gate_http.get(OVERVIEW, headers=gate_world.headers("ml_engineer")).json()
    assert body["awaiting_approval"] == []
    assert [(r["ref"], r["released_by"]) for r in body["recent_releases"]] == [("street@v3", "ml_engineer_user")]
    at = signed_in(gate_http, gate_world.tokens["ml_engineer"])
    assert any("by ml\\_engineer\\_user on evaluation #2" in m for m in markdown_after(at, "**Recent releases**"))


def test_the_last_signed_checkpoint_is_named_to_chain_verifiers_only(
    gate_http: TestClient, gate_world: World, settings: Settings, engine: Engine
) -> None:
    at = signed_in(gate_http, gate_world.tokens["compliance_officer"])
    assert any("No signed checkpoint of the audit chain yet" in c for c in texts(at, "caption"))
    with Session(engine) as s:
        cp = checkpoint_now(settings, s)
    assert cp is not None
    st.cache_data.clear()  # the overview's answer is cached for 30 s; the Refresh button does the same
    at = signed_in(gate_http, gate_world.tokens["compliance_officer"])
    shown = [m for m in texts(at, "markdown") if "Last signed checkpoint" in m]
    assert shown and f"seq **{cp.seq}**" in shown[0] and cp.hash[:4] in shown[0], shown
    annotator = signed_in(gate_http, gate_world.tokens["annotator"])
    assert "checkpoint" not in all_text(annotator).lower()


def test_recent_activity_and_verdicts_read_as_names_and_utc_times(gate_http: TestClient, gate_world: World) -> None:
    at = signed_in(gate_http, gate_world.tokens["compliance_officer"])
    activity = table_with(at, "actor")
    assert activity and {row["project"] for row in activity} <= {"alpha", "—"}
    assert all(str(row["time"]).endswith(" UTC") and "." not in str(row["time"]) for row in activity)
    verdicts = table_with(at, "verdict")
    assert all(str(v["at"]).endswith(" UTC") and len(str(v["at"])) == len("2026-12-03 14:05:12 UTC") for v in verdicts)
    assert {v["policy"] for v in verdicts} == {"default@1"}
