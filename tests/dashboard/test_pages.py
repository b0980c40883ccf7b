"""Every dashboard page run with Streamlit's AppTest against the real API (create_app on seeded SQLite): sign-in,
pages per role, overview, audit trail, caching per caller, the dataset-version basics and the lineage explorer
on the hand-seeded ``world``. The gate, signature, auto-label and report pages on the real gate scenario are in
``test_gate_pages``.
"""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import (
    all_text,
    assert_clean,
    button,
    labels,
    new_app,
    open_page,
    sign_in,
    signed_in,
    table,
    texts,
)
from tests.factories import World

ROLES = ["admin", "compliance_officer", "ml_engineer", "reviewer", "annotator", "ci", "outsider"]
ALL_PAGES = ["overview", "audit_trail", "dataset_version", "lineage", "autolabel", "reports"]
ALPHA = 1  # make_world's first project
AUDIT_READERS = {"admin", "compliance_officer", "ml_engineer", "reviewer", "outsider"}


# ---- sign-in ---------------------------------------------------------------------------------------------


def test_sign_in_page_is_all_there_is_before_a_token(api_http: TestClient) -> None:
    at = new_app(api_http).run()
    assert_clean(at)
    assert texts(at, "title") == ["labelgate"]
    with pytest.raises(ValueError):
        at.switch_page("views/audit_trail.py")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("lg_not_a_real_token", "Sign-in refused: invalid token: unknown token"),
        ("   ", "Enter a token."),
    ],
)
def test_invalid_token_gets_a_clear_error(api_http: TestClient, world: World, token: str, message: str) -> None:
    at = sign_in(new_app(api_http), token)
    assert_clean(at)
    assert any(message in e for e in texts(at, "error")), texts(at, "error")
    assert texts(at, "title") == ["labelgate"]  # still on the sign-in page


def test_unreachable_api_is_reported_not_crashed() -> None:
    with httpx.Client(base_url="http://127.0.0.1:9", timeout=2) as dead:
        at = sign_in(new_app(dead), "lg_anything")
    assert_clean(at)
    assert any("cannot reach the API at http://127.0.0.1:9" in e for e in texts(at, "error")), texts(at, "error")


def test_revoked_token_sends_the_user_back_to_sign_in(api_http: TestClient, world: World) -> None:
    at = signed_in(api_http, world.tokens["reviewer"])
    me = api_http.get("/api/v1/me", headers=world.headers("reviewer")).json()
    tokens = api_http.get(f"/api/v1/users/{me['id']}/tokens", headers=world.headers("admin")).json()
    revoked = api_http.delete(f"/api/v1/users/{me['id']}/tokens/{tokens[0]['id']}", headers=world.headers("admin"))
    assert revoked.status_code == 200
    button(at, "Refresh").click()  # type: ignore[attr-defined]
    at.run()
    assert_clean(at)
    assert any("no longer accepted" in e for e in texts(at, "error")), all_text(at)
    at.run()
    assert texts(at, "title") == ["labelgate"]


def test_sign_out_forgets_the_caller(api_http: TestClient, world: World) -> None:
    at = signed_in(api_http, world.tokens["admin"])
    button(at, "Sign out").click()  # type: ignore[attr-defined]
    at.run()
    assert texts(at, "title") == ["labelgate"]
    assert "lg_token" not in at.session_state


# ---- every page, every role ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_offered_page_renders_for_each_role(api_http: TestClient, world: World, role: str) -> None:
    at = signed_in(api_http, world.tokens[role])
    offered = at.session_state["lg_viewer"].pages()
    assert {"overview", "dataset_version", "lineage"} <= set(offered)
    assert ("audit_trail" in offered) is (role in AUDIT_READERS)
    for page in ALL_PAGES:
        if page not in offered:  # no URL at all: the page is not registered for this caller
            with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
                at.switch_page(f"views/{page}.py")
            continue
        open_page(at, page)
        assert_clean(at)
        assert texts(at, "title"), page
        assert not any("not available yet" in i for i in texts(at, "info")), (page, texts(at, "info"))


# ---- overview ----------------------------------------------------------------------------------------------


def test_overview_shows_projects_roles_chain_and_activity(api_http: TestClient, world: World) -> None:
    at = signed_in(api_http, world.tokens["compliance_officer"])
    assert table(at, 0) == [{"project": "alpha", "description": "", "your roles": "compliance_officer"}]
    assert any(s.startswith("Audit chain verified up to seq ") for s in texts(at, "success")), texts(at, "success")
    recent = table(at, 1)
    assert recent and all(r["project"] == "alpha" for r in recent)  # projects by name
    assert [r["seq"] for r in recent] == sorted((r["seq"] for r in recent), reverse=True)


def test_annotator_sees_their_role_and_no_activity(api_http: TestClient, world: World) -> None:
    at = signed_in(api_http, world.tokens["annotator"])
    assert table(at, 0)[0]["your roles"] == "annotator"  # from /me/memberships
    assert not any(s.startswith("Audit chain") for s in texts(at, "success"))
    assert len(at.dataframe) == 1  # projects only: no recent-activity table


# ---- audit trail -------------------------------------------------------------------------------------------


def audit_page(http: httpx.Client, token: str) -> AppTest:
    at = open_page(signed_in(http, token), "audit_trail")
    assert_clean(at)
    assert texts(at, "title") == ["Audit trail"]
    return at


def test_audit_filters_narrow_the_table(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    everything = table(at)
    assert len({r["actor"] for r in everything}) > 2
    at.text_input(key="audit_actor").input("reviewer_user").run()
    rows = table(at)
    assert [r["action"] for r in rows] == ["annotation.review"]
    at.text_input(key="audit_actor").input("").run()
    at.text_input(key="audit_action").input("dataset.").run()
    rows = table(at)
    assert rows and len(rows) < len(everything)
    assert {r["action"] for r in rows} == {"dataset.create"}
    at.text_input(key="audit_object").input("annotation").run()  # an object type: no dataset action on one
    assert table(at) == []
    assert any(c.startswith("0 matching events") for c in texts(at, "caption"))


def test_audit_time_filter(api_http: TestClient, world: World) -> None:
    from datetime import date, timedelta

    at = audit_page(api_http, world.tokens["compliance_officer"])
    total = len(table(at))
    at.date_input(key="audit_since").set_value(date.today() + timedelta(days=2)).run()
    assert table(at) == []
    at.date_input(key="audit_since").set_value(None).run()
    at.date_input(key="audit_until").set_value(date.today() + timedelta(days=1)).run()
    assert len(table(at)) == total


def test_project_reader_never_sees_another_projects_events(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    assert at.selectbox(key="audit_scope").options == ["alpha"]
    assert all(r["project"] == "alpha" for r in table(at))  # projects by name
    at = audit_page(api_http, world.tokens["admin"])
    assert at.selectbox(key="audit_scope").options == ["All projects", "alpha", "beta"]
    assert "outsider" in {r["actor"] for r in table(at)}


def test_event_detail_shows_old_and_new_values(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    seq = next(r["seq"] for r in table(at) if r["action"] == "annotation.correct")
    at.selectbox(key="audit_event").set_value(seq).run()
    changes = table(at, 1)
    assert changes == [{"field": "category", "old": "cat", "new": "dog"}]
    state_seq = next(r["seq"] for r in table(at) if r["action"] == "dataset_version.state")
    at.selectbox(key="audit_event").set_value(state_seq).run()
    assert table(at, 1) == [{"field": "value", "old": "draft", "new": "candidate"}]
    assert any(json.loads(j.value).get("reason") == "ready for review" for j in at.json)


def test_audit_paging_and_order(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["admin"])
    at.selectbox(key="audit_page_size").set_value(25).run()
    first = table(at)
    assert len(first) == 25 and first[0]["seq"] > first[-1]["seq"]
    at.button(key="audit_next").click().run()  # the next page, by the server's cursor
    second = table(at)
    assert second and second[0]["seq"] == first[-1]["seq"] - 1
    at.toggle(key="audit_newest_first").set_value(False).run()  # another order starts at its first page
    assert [r["seq"] for r in table(at)][:2] == [1, 2]


def test_export_buttons_are_offered(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    assert {b.label for b in at.get("download_button")} >= {"Export CSV", "Export JSON Lines"}  # type: ignore[attr-defined]


def test_chain_verification_on_demand_finds_a_tampered_event(
    api_http: TestClient, world: World, engine: Engine
) -> None:
    at = audit_page(api_http, world.tokens["compliance_officer"])
    button(at, "Verify the chain now").click()  # type: ignore[attr-defined]
    at.run()
    total = api_http.get("/api/v1/audit/events?limit=1", headers=world.headers("admin")).json()["total"]
    assert f"Audit chain verified up to seq {total} ({total} events" in " ".join(texts(at, "success"))
    with engine.begin() as conn:  # an attacker with database access, bypassing the append-only trigger
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET hash = :h WHERE seq = 5"), {"h": "0" * 64})
    button(at, "Verify the chain now").click()  # type: ignore[attr-defined]
    at.run()
    assert any(e.startswith("Audit chain BROKEN at seq 5") for e in texts(at, "error")), texts(at, "error")


def test_ml_engineer_reads_the_trail_but_is_not_offered_verification(api_http: TestClient, world: World) -> None:
    at = audit_page(api_http, world.tokens["ml_engineer"])
    assert table(at)
    assert "Verify the chain now" not in labels(at)


# ---- caching per caller ------------------------------------------------------------------------------------


def test_cached_answers_are_never_served_to_another_caller(api_http: TestClient, world: World) -> None:
    admin = signed_in(api_http, world.tokens["admin"])
    assert {r["project"] for r in table(admin, 0)} == {"alpha", "beta"}
    # Same process, same cache, same paths: a different caller must get their own answers.
    outsider = signed_in(api_http, world.tokens["outsider"])
    assert {r["project"] for r in table(outsider, 0)} == {"beta"}
    assert all(r["project"] == "beta" for r in table(outsider, 1))
    # And within one browser session: sign out, sign in as someone else.
    button(admin, "Sign out").click()  # type: ignore[attr-defined]
    admin.run()
    sign_in(admin, world.tokens["compliance_officer"])
    assert {r["project"] for r in table(admin, 0)} == {"alpha"}


# ---- dataset version ---------------------------------------------------------------------------------------


def version_page(http: httpx.Client, token: str, *, version: str = "v2") -> AppTest:
    at = open_page(signed_in(http, token), "dataset_version")
    at.selectbox(key=f"dv_dataset_{ALPHA}").set_value("train").run()
    at.selectbox(key=f"dv_version_{ALPHA}_train").set_value(version).run()
    assert_clean(at)
    return at


def test_dataset_version_shows_state_identity_schema_diff_and_composition(api_http: TestClient, world: World) -> None:
    at = version_page(api_http, world.tokens["compliance_officer"])
    assert texts(at, "header") == ["train@v2"]
    assert any("state **candidate**" in m for m in texts(at, "markdown"))
    assert "**DVC hash**: `v2dvc.dir`" in texts(at, "markdown") and "**items**: 1" in texts(at, "markdown")
    diff = table(at, 0)
    assert {"change": "added", "class": "bird", "detail": ""} in diff
    assert {"change": "renamed", "class": "kitty → cat", "detail": ""} in diff
    assert len(at.get("vega_lite_chart")) == 1  # composition by provenance
    assert any(c.startswith("No gate evaluation for this version yet") for c in texts(at, "caption"))
    assert any(c.startswith("Signing needs a gate evaluation") for c in texts(at, "caption"))
    assert "Sign and approve" not in labels(at) and "Reject version" in labels(at)


def test_a_new_dataset_starts_at_its_newest_version(api_http: TestClient, world: World) -> None:
    at = open_page(signed_in(api_http, world.tokens["compliance_officer"]), "dataset_version")
    assert at.selectbox(key=f"dv_dataset_{ALPHA}").value == "train"  # the newest candidate, not the golden set
    assert at.selectbox(key=f"dv_version_{ALPHA}_train").value == "v2"
    assert texts(at, "header") == ["train@v2"]


def test_golden_dataset_is_hidden_from_annotators(api_http: TestClient, world: World) -> None:
    officer = open_page(signed_in(api_http, world.tokens["compliance_officer"]), "dataset_version")
    assert officer.selectbox(key=f"dv_dataset_{ALPHA}").options == ["golden-ref", "train"]
    annotator = open_page(signed_in(api_http, world.tokens["annotator"]), "dataset_version")
    assert annotator.selectbox(key=f"dv_dataset_{ALPHA}").options == ["train"]


# ---- lineage -------------------------------------------------------------------------


def test_lineage_explorer_traces_an_annotation(api_http: TestClient, world: World) -> None:
    at = open_page(signed_in(api_http, world.tokens["reviewer"]), "lineage")
    labels_ = world.labels  # type: ignore[attr-defined]
    at.number_input(key="lin_annotation_id").set_value(labels_["corrected"]).run()
    assert_clean(at)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert f"a{labels_['copied']} -> a{labels_['corrected']}" in dot and "corrected" in dot
    assert f"a{labels_['first']} -> a{labels_['copied']}" in dot and "copied" in dot
    ids = [r["id"] for r in table(at, 0)]
    assert ids == [labels_["first"], labels_["copied"], labels_["corrected"]]


def test_lineage_explorer_unknown_annotation_is_a_message(api_http: TestClient, world: World) -> None:
    at = open_page(signed_in(api_http, world.tokens["reviewer"]), "lineage")
    at.number_input(key="lin_annotation_id").set_value(99999).run()
    assert_clean(at)
    assert any(e.startswith("Annotation lineage: ") for e in texts(at, "error")), all_text(at)


def test_lineage_explorer_draws_version_ancestry(api_http: TestClient, world: World) -> None:
    at = open_page(signed_in(api_http, world.tokens["reviewer"]), "lineage")
    at.selectbox(key=f"lin_v_dataset_{ALPHA}").set_value("train").run()
    at.selectbox(key=f"lin_v_version_{ALPHA}_train").set_value("v2").run()
    assert_clean(at)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert dot.index("train@v1") < dot.index("train@v2")
    assert 'v0 -> v1 [label="schema changed"' in dot
