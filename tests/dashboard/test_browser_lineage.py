"""Lineage from the image in a real browser (issue 15): the API and the dashboard run as processes over the
gate scenario (``servers`` of ``test_browser``); a reviewer's comment is written through the API; Chromium
signs in as the ML engineer, opens the Lineage explorer, picks ``street@v3``, opens an item from the
thumbnail grid, picks a model label and reads its model (name@version), its confidence and threshold rounded
to two decimals, and the reviewer's comment. Screenshot: ``artifacts/screenshots/lineage-from-image.png``.

Needs ``/usr/bin/chromium`` and the ``playwright`` package, as ``test_browser`` does (skips without them,
fails under CI=true).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.dashboard.test_browser import (  # noqa: F401 - ``servers`` is a fixture used by name
    CHROMIUM,
    LAUNCH_ARGS,
    SHOTS,
    UI_TIMEOUT_MS,
    servers,
)
from tests.factories import World

pytestmark = pytest.mark.slow

COMMENT = "checked against the raw frame: right class, tight box"
PER_PAGE = 12  # dashboard.thumbnails.PER_PAGE: the grid's first page


def _pick(page: Any, label: str, option: str) -> None:
    """Choose ``option`` in the select box labelled exactly ``label`` (other tabs hold select boxes too), typed
    to filter the list first."""
    label_text = page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
    page.get_by_test_id("stSelectbox").filter(has=label_text).click()
    page.keyboard.type(option)  # filters a long (virtualised) list down to the option
    page.get_by_role("option", name=option, exact=True).click()


def _seed_reviewed_model_label(api_url: str, world: World) -> dict[str, Any]:
    """A live model label of street@v3 on the grid's first page, accepted by the reviewer with
    :data:`COMMENT` (through the running API)."""
    project = f"/api/v1/projects/{world.project.id}"
    with httpx.Client(base_url=api_url, timeout=30) as http:
        ml = world.headers("ml_engineer")
        base = f"{project}/datasets/street/versions/v3"
        first = {i["id"] for i in http.get(f"{base}/items", params={"limit": PER_PAGE}, headers=ml).json()["items"]}
        labels = http.get(f"{base}/annotations", params={"limit": 500}, headers=ml).json()["items"]
        label: dict[str, Any] = next(a for a in labels if a["kind"] == "model" and a["item_id"] in first)
        r = http.post(
            f"{project}/annotations/{label['id']}/reviews",
            json={"decision": "accept", "comment": COMMENT},
            headers=world.headers("reviewer"),
        )
        assert r.status_code == 201, r.text
    return label


def test_lineage_from_the_image_names_the_model_scores_and_comment_in_chromium(
    servers: dict[str, Any],  # noqa: F811 - the fixture imported above
    gate_world: World,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)  # an item's chains take a few seconds on a loaded machine
    label = _seed_reviewed_model_label(servers["api"], gate_world)
    conf, thr = round(label["confidence"], 2), round(label["threshold"], 2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(servers["ui"])
            token_box = page.get_by_label("API token", exact=True)
            token_box.wait_for()
            token_box.fill(servers["tokens"]["ml_engineer"])
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()

            page.get_by_role("link", name="Lineage explorer").click()
            expect(page.get_by_role("heading", name="Lineage explorer")).to_be_visible()
            _pick(page, "Dataset version", "street@v3 (candidate)")
            expect(page.get_by_text("Items 1–12 of 20 (page 1 of 2), by path.")).to_be_visible()
            page.get_by_role("button", name=f"Open #{label['item_id']} (").click()
            expect(page.get_by_role("heading", name=f"Item #{label['item_id']}")).to_be_visible()

            option = f"#{label['id']} {label['category']} (model street-detector@2, conf {conf})"
            _pick(page, "Label", option)
            # The chain's lines (list items); the history table below repeats some of them in its cells.
            lines = page.get_by_role("listitem")
            expect(lines.filter(has_text="By: model street-detector@2")).to_have_count(1)
            expect(lines.filter(has_text=f"conf {conf} ≥ thr {thr} · run {label['autolabel_run_id']}")).to_have_count(1)
            comment = lines.filter(has_text=COMMENT)
            expect(comment).to_be_visible()
            expect(comment).to_contain_text(f"#{label['id']}: accept by reviewer_user")
            comment.scroll_into_view_if_needed()
            page.wait_for_timeout(1000)  # let the image, the graph and the grid paint before the picture
            page.screenshot(path=str(SHOTS / "lineage-from-image.png"), full_page=True)
        finally:
            browser.close()
