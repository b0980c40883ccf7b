"""The audit trail page (AppTest on the real API over the seeded ``world``): names instead of ids, readable times,
the substring, object-name and free-text filters, and pages read from the server by cursor."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import assert_clean, open_page, signed_in, table, texts
from tests.factories import World


def audit_page(http: httpx.Client, token: str) -> AppTest:
    at = open_page(signed_in(http, token), "audit_trail")
    assert_clean(at)
    return at


def caption(at: AppTest) -> str:
    return next(c for c in texts(at, "caption") if "matching events" in c)


def test_table_shows_names_and_times_without_microseconds(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    rows = table(at)
    state = next(r for r in rows if r["action"] == "dataset_version.state")
    assert state["object"] == "train@v1" and state["project"] == "alpha"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", str(r["time"])) for r in rows), rows[0]["time"]
    assert not any(str(r["object"]).startswith("dataset_version:") for r in rows)


def test_action_is_a_substring_in_any_case(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    at.text_input(key="audit_action").input("REVIEW").run()
    assert {r["action"] for r in table(at)} == {"annotation.review"}
    at.text_input(key="audit_action").input("state").run()
    assert {r["action"] for r in table(at)} == {"dataset_version.state"}
    at.text_input(key="audit_action").input("%").run()  # literal: no action holds a percent sign
    assert table(at) == [] and caption(at).startswith("0 matching events")


def test_object_by_name_actor_by_part_and_free_text(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    at.text_input(key="audit_object").input("train@v1").run()
    assert {r["object"] for r in table(at)} == {"train@v1"}
    at.text_input(key="audit_object").input("").run()
    at.text_input(key="audit_actor").input("reviewer").run()
    assert {r["actor"] for r in table(at)} == {"reviewer_user"}
    at.text_input(key="audit_actor").input("").run()
    at.text_input(key="audit_q").input("ready for review").run()  # a payload's text
    assert [r["action"] for r in table(at)] == ["dataset_version.state"]
    assert caption(at).startswith("1 matching events")


def test_pages_by_cursor_forwards_and_back(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["admin"])
    at.selectbox(key="audit_page_size").set_value(25).run()
    total = int(api_http.get("/api/v1/audit/events?limit=1", headers=world.headers("admin")).json()["total"])
    assert total > 25 and caption(at).startswith(f"{total} matching events")
    assert at.button(key="audit_prev").disabled and not at.button(key="audit_next").disabled
    first = [r["seq"] for r in table(at)]
    assert first == list(range(total, total - 25, -1))  # newest first
    seen = list(first)
    while not at.button(key="audit_next").disabled:
        at.button(key="audit_next").click().run()
        assert_clean(at)
        seen += [r["seq"] for r in table(at)]
    assert seen == list(range(total, 0, -1))  # every event once, in order, across the pages
    assert caption(at).startswith(f"{total} matching events")  # counted once, kept while paging
    while not at.button(key="audit_prev").disabled:
        at.button(key="audit_prev").click().run()
    assert [r["seq"] for r in table(at)] == first
    at.text_input(key="audit_actor").input("root").run()  # a new filter starts at its first page
    assert at.button(key="audit_prev").disabled and {r["actor"] for r in table(at)} == {"root_admin"}
