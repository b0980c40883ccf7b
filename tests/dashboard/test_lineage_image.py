"""Lineage from the image (issue 15), with Streamlit's AppTest against the real API on the real gate scenario
(DVC-versioned images, three annotators, ``street-detector`` model labels): pick ``street@v3``, page through
its thumbnails, open an item, pick a model label (framed on the image) and read its whole chain in words:
model name@version, weights, rounded confidence and threshold, run, the reviewer's comment, corrections with
their reason, schema version, the versions holding it. Also the frame itself (pure drawing)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from streamlit.testing.v1 import AppTest

from dashboard import lineage_text, thumbnails
from dashboard.highlight import HIGHLIGHT
from dashboard.overlay import draw_labels
from tests.dashboard.conftest import all_text, assert_clean, open_page, signed_in, table_with, texts
from tests.factories import World

COMMENT = "box hugs the van; class confirmed"
REASON = "it is a truck, not a car"


def _url(world: World, tail: str) -> str:
    return f"/api/v1/projects/{world.project.id}{tail}"


def _first_page_model_label(http: TestClient, world: World) -> dict[str, Any]:
    """A live model label of ``street@v3`` on an item of the grid's first page (the API's own answers)."""
    h = world.headers("ml_engineer")
    page = http.get(_url(world, "/datasets/street/versions/v3/items"), params={"limit": thumbnails.PER_PAGE}, headers=h)
    first = {i["id"] for i in page.json()["items"]}
    labels = http.get(_url(world, "/datasets/street/versions/v3/annotations"), params={"limit": 500}, headers=h)
    return next(a for a in labels.json()["items"] if a["kind"] == "model" and a["item_id"] in first)


def _review(http: TestClient, world: World, label_id: int, body: dict[str, Any]) -> dict[str, Any]:
    r = http.post(_url(world, f"/annotations/{label_id}/reviews"), json=body, headers=world.headers("reviewer"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _open_item(http: TestClient, world: World, item_id: int) -> AppTest:
    at = open_page(signed_in(http, world.tokens["ml_engineer"]), "lineage")
    assert_clean(at)
    versions = at.selectbox(key=f"lin_img_version_{world.project.id}")
    assert versions.options[0] == "street@v3 (candidate)"  # the newest version first, the golden set last
    assert versions.options[-1] == "golden@g1 (draft)"
    versions.select("street@v3").run()
    assert_clean(at)
    at.button(key=f"lin_img_open_{item_id}").click().run()
    assert_clean(at)
    return at


def test_from_the_image_a_model_label_shows_its_model_scores_and_the_reviewer_s_comment(
    gate_http: TestClient, gate_world: World
) -> None:
    label = _first_page_model_label(gate_http, gate_world)
    _review(gate_http, gate_world, label["id"], {"decision": "accept", "comment": COMMENT})
    at = _open_item(gate_http, gate_world, label["item_id"])
    picker = at.selectbox(key=f"lin_img_label_{label['item_id']}")
    option = f"#{label['id']} {label['category']} (model street-detector@2, conf {round(label['confidence'], 2)})"
    assert option in picker.options  # AppTest lists the options as shown
    picker.select(label["id"]).run()
    assert_clean(at)
    shown = all_text(at)
    assert "By: model street-detector@2" in shown
    assert f"conf {round(label['confidence'], 2)} ≥ thr {round(label['threshold'], 2)}" in shown
    assert f"run {label['autolabel_run_id']}" in shown
    assert "accept by reviewer\\_user" in shown and COMMENT in shown
    assert "street-objects@1" in shown  # the schema version, by name
    assert "street@v3 (candidate): #" in shown  # the versions holding it
    rows = table_with(at, "provenance")
    assert str(rows[-1]["provenance"]).startswith("model street-detector@2 · weights ")
    assert not any("{" in str(r["provenance"]) for r in rows)  # never a dict's repr
    dot = at.get("graphviz_chart")[0].proto.spec
    assert f"conf {round(label['confidence'], 2)} ≥ thr" in dot and str(label["confidence"]) not in dot


def test_a_correction_shows_what_replaced_what_by_whom_and_why(gate_http: TestClient, gate_world: World) -> None:
    label = _first_page_model_label(gate_http, gate_world)
    h = gate_world.headers("ml_engineer")
    labels = gate_http.get(
        _url(gate_world, "/datasets/street/versions/v3/annotations"), params={"limit": 500}, headers=h
    )
    other = next(a["category"] for a in labels.json()["items"] if a["category"] != label["category"])
    r = gate_http.post(
        _url(gate_world, f"/annotations/{label['id']}/corrections"),
        json={"category": other, "reason": REASON},
        headers=gate_world.headers("ml_engineer"),
    )
    assert r.status_code == 201, r.text
    corrected = r.json()
    at = _open_item(gate_http, gate_world, label["item_id"])
    picker = at.selectbox(key=f"lin_img_label_{label['item_id']}")
    shown_ids = [o.split(" ")[0] for o in picker.options]
    assert f"#{label['id']}" not in shown_ids and f"#{corrected['id']}" in shown_ids  # live labels only
    picker.select(corrected["id"]).run()
    shown = all_text(at)
    expected = f"#{label['id']} → #{corrected['id']}: class {label['category']} → {corrected['category']}"
    assert expected in shown.replace("\\", "") and f"by ml\\_engineer\\_user (reason: {REASON})" in shown
    assert "By: ml\\_engineer\\_user" in shown


def test_the_grid_pages_through_the_version_s_items(gate_http: TestClient, gate_world: World) -> None:
    at = open_page(signed_in(gate_http, gate_world.tokens["compliance_officer"]), "lineage")
    at.selectbox(key=f"lin_img_version_{gate_world.project.id}").select("street@v3").run()
    assert_clean(at)
    assert "Items 1–12 of 20 (page 1 of 2), by path." in texts(at, "caption")
    opens = [b for b in at.button if b.label.startswith("Open #")]
    assert len(opens) == thumbnails.PER_PAGE
    next(b for b in at.button if b.label == "Next ▶").click().run()
    assert "Items 13–20 of 20 (page 2 of 2), by path." in texts(at, "caption")
    assert len([b for b in at.button if b.label.startswith("Open #")]) == 8
    assert "Open an item to see its labels and where each one came from." in texts(at, "caption")


def test_the_annotation_id_tab_reads_provenance_as_text(gate_http: TestClient, gate_world: World) -> None:
    label = _first_page_model_label(gate_http, gate_world)
    at = open_page(signed_in(gate_http, gate_world.tokens["reviewer"]), "lineage")
    at.number_input(key="lin_annotation_id").set_value(label["id"]).run()
    assert_clean(at)
    rows = table_with(at, "provenance")
    assert rows[-1]["provenance"] == lineage_text.provenance_text(
        {"kind": "model", "author": "model street-detector@2", "model": {"weights_sha256": label["weights_sha256"]},
         "provenance": {"confidence": label["confidence"], "threshold": label["threshold"],
                        "autolabel_run_id": label["autolabel_run_id"]}}
    )  # fmt: skip
    assert "{" not in str(rows[-1]["provenance"])


@pytest.mark.parametrize(
    ("label", "frame_at"),
    [
        ({"category": "car", "geometry_type": "box", "x": 20, "y": 20, "w": 30, "h": 20}, (17, 30)),
        (
            {"category": "road", "geometry_type": "polygon", "geometry": {"polygons": [[60, 10, 90, 10, 90, 40]]}},
            (57, 25),
        ),
    ],
)
def test_the_chosen_label_is_framed_in_gold_and_the_others_are_not(
    label: dict[str, Any], frame_at: tuple[int, int]
) -> None:
    other = {"category": "car", "geometry_type": "box", "x": 5, "y": 60, "w": 10, "h": 10}
    picture = Image.new("RGB", (100, 80), (0, 0, 0))
    framed = draw_labels([other, label], image=picture, highlight=1)
    assert framed.highlighted is not None
    assert framed.image.getpixel(frame_at) == HIGHLIGHT
    plain = draw_labels([other, label], image=picture)
    assert plain.highlighted is None and plain.image.getpixel(frame_at) != HIGHLIGHT
    assert draw_labels([{"category": "night", "geometry_type": "tag"}], image=picture, highlight=0).highlighted is None


def test_provenance_reads_as_text_with_two_decimals_and_short_hashes() -> None:
    step = {
        "kind": "model",
        "author": "model tiny-shapes@2",
        "model": {"name": "tiny-shapes", "version": "2", "weights_sha256": "31c2" + "0" * 58 + "ab"},
        "provenance": {"confidence": 0.7128549218177795, "threshold": 0.12783338129520416, "autolabel_run_id": 4},
    }
    assert lineage_text.provenance_text(step) == "model tiny-shapes@2 · weights 31c2…ab · conf 0.71 ≥ thr 0.13 · run 4"
    label = {"id": 812, "category": "car", "kind": "model", "confidence": 0.7128, "lineage": {"history": [step]}}
    assert lineage_text.label_option(label) == "#812 car (model tiny-shapes@2, conf 0.71)"
    human = {"kind": "human", "provenance": {"annotator": "alice", "annotator_id": 3}}
    assert lineage_text.provenance_text(human) == "by alice"
    imported = {"kind": "import", "provenance": {"source_format": "coco", "source_sha256": "1" * 64}}
    assert lineage_text.provenance_text(imported) == "import coco · source 1111…11"
    legacy = {"kind": "model", "provenance": {"model": "old:3", "confidence": None}}  # an older server's answer
    assert lineage_text.author(legacy) == "model old@3" and lineage_text.score_text(legacy) == ""
    assert (lineage_text.number(None), lineage_text.number(float("nan")), lineage_text.number(0.4)) == ("—", "—", "0.4")
    assert lineage_text.schema_text({"name": "street-schema", "version": 2, "content_hash": "f" * 64}) == (
        "street-schema@2 (hash ffffffff…)"
    )
    review = {"decision": "reject", "reviewer": "rita", "comment": " wrong class ", "at": "2026-12-03T14:28:00"}
    assert lineage_text.review_line(review) == "reject by rita (2026-12-03 14:28): “wrong class”"
