"""The dataset-version page opens a cell of the confusion matrix: on the real gate scenario, pick the ground
truth and the predicted class (only cells with a count are offered, labelled ``car → truck (12)``) and see the
items behind it by name, each drawn with its ground truth and its predictions."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from dashboard.confusion_cells import HIDDEN, ITEMS_DRAWN, cell_options
from dashboard.ui import plain
from tests.dashboard.conftest import assert_clean, texts
from tests.dashboard.test_gate_pages import ALPHA, url, version_page
from tests.factories import World


def test_cell_options_offer_only_cells_with_a_count() -> None:
    labels = ["car", "truck", "background"]
    matrix = [[5, 2, 1], [0, 0, 0], [3, 0, 0]]
    assert cell_options(labels, matrix) == {"car": [("car", 5), ("truck", 2), ("background", 1)],
                                            "background": [("car", 3)]}  # fmt: skip
    assert cell_options(labels, [[1, 2]]) == {}  # a matrix that does not fit its labels offers nothing


def test_picking_a_cell_lists_its_items_with_both_label_sets_drawn(gate_http: TestClient, gate_world: World) -> None:
    headers = gate_world.headers("compliance_officer")
    (newest, *_) = gate_http.get(url("v2", "/evaluations"), headers=headers).json()
    cm = newest["evidence"]["confusion_matrix"]
    labels, matrix = cm["labels"], cm["matrix"]
    # An off-diagonal cell with a count: a confusion, a miss or a stray prediction.
    g, p = next((g, p) for g in range(len(labels)) for p in range(len(labels)) if g != p and matrix[g][p])
    expected = gate_http.get(
        f"/api/v1/projects/{ALPHA}/evaluations/{newest['id']}/confusion-cell",
        params={"truth": labels[g], "predicted": labels[p], "limit": ITEMS_DRAWN},
        headers=headers,
    ).json()
    names = [i["uri"] for i in expected["items"]]
    assert names and sum(i["count"] for i in expected["items"]) <= matrix[g][p]

    at = version_page(gate_http, gate_world.tokens["compliance_officer"], "v2")
    truth_box = next(s for s in at.selectbox if s.label == "ground truth")
    assert set(truth_box.options) == {labels[r] for r in range(len(labels)) if any(matrix[r])}
    truth_box.set_value(labels[g]).run()
    predicted_box = next(s for s in at.selectbox if s.label == "predicted")
    offered = {labels[c] for c in range(len(labels)) if matrix[g][c]}
    assert set(predicted_box.options) == {f"{labels[g]} → {c} ({matrix[g][labels.index(c)]})" for c in offered}
    predicted_box.set_value(labels[p]).run()
    assert_clean(at)
    shown = [m for m in texts(at, "markdown") if m.endswith(" in this cell")]
    assert shown == [f"**{plain(i['uri'])}**: {i['count']} in this cell" for i in expected["items"]]
    notes = [c.value for c in at.caption]
    assert any(re.match(rf"{matrix[g][p]} of {re.escape(labels[g])} → {re.escape(labels[p])} on \d+ items", c)
               for c in notes), notes  # fmt: skip
    captions = [c for image in at.get("image") for c in image.captions]  # type: ignore[union-attr]
    truths = [c for c in captions if c.startswith("ground truth: ")]
    preds = [c for c in captions if c.startswith("predictions: ")]
    assert len(truths) == len(preds) == len(names)  # every item drawn twice: golden labels, predictions
    assert truths == [f"ground truth: {len(i['ground_truth'])} golden labels" for i in expected["items"]]


def test_annotators_are_told_the_cells_hold_golden_labels(gate_http: TestClient, gate_world: World) -> None:
    at = version_page(gate_http, gate_world.tokens["annotator"], "v2")
    assert HIDDEN in texts(at, "caption")
    assert not [s for s in at.selectbox if s.label in ("ground truth", "predicted")]
    assert not [m for m in texts(at, "markdown") if m.endswith(" in this cell")]
