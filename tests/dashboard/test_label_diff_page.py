"""The approval screen's "What changed since the last release, and who changed it" on the seeded ``world``
(``train`` v1 released; v2 copies v1's kitty, corrects it to cat, and imports a dog), against the real API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import assert_clean, open_page, signed_in, table_with, texts
from tests.factories import World

ALPHA = 1
SECTION = "What changed since the last release, and who changed it"


def _page(http: TestClient, token: str, version: str) -> AppTest:
    at = open_page(signed_in(http, token), "dataset_version")
    at.selectbox(key=f"dv_dataset_{ALPHA}").set_value("train").run()
    at.selectbox(key=f"dv_version_{ALPHA}_train").set_value(version).run()
    assert_clean(at)
    return at


def test_candidate_shows_changes_since_the_release_and_who_made_them(api_http: TestClient, world: World) -> None:
    at = _page(api_http, world.tokens["compliance_officer"], "v2")
    assert SECTION in texts(at, "subheader")
    summary = next(m for m in texts(at, "markdown") if m.startswith("Compared with"))
    assert "**train@v1** (the last release)" in summary
    assert "0 unchanged, **1 changed, 1 added, 0 removed** on 1 item(s)" in summary
    assert "Class changes: kitty → cat (1)" in texts(at, "caption")
    authors = {r["author"]: (r["kind"], r["added"], r["changed"], r["removed"]) for r in table_with(at, "author")}
    assert authors == {"annotator_user": ("human", 0, 1, 0), "coco:111111111111": ("import", 1, 0, 0)}
    classes = {r["name"]: (r["before"], r["after"], r["changed"], r["added"]) for r in table_with(at, "before")}
    assert classes == {"cat": (0, 1, 1, 0), "dog": (0, 1, 0, 1), "kitty": (1, 0, 0, 0)}
    labels = world.labels  # type: ignore[attr-defined]
    changes = table_with(at, "what")
    assert [(r["change"], r["from"], r["to"], r["what"], r["by"]) for r in changes] == [
        ("changed", f"#{labels['first']} kitty", f"#{labels['corrected']} cat", "class", "annotator_user"),
        ("added", "", f"#{labels['imported']} dog", "added", "coco:111111111111"),
    ]


def test_first_version_has_nothing_to_compare_with(api_http: TestClient, world: World) -> None:
    at = _page(api_http, world.tokens["reviewer"], "v1")
    assert SECTION in texts(at, "subheader")
    assert any(c.startswith("Nothing to compare with") for c in texts(at, "caption")), texts(at, "caption")
    assert not texts(at, "error")
