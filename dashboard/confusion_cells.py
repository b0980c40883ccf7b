"""Open a cell of an evaluation's confusion matrix: pick the ground truth and the predicted class (only cells
with a count are offered, ``car → truck (12)``) and see the items behind it, each drawn twice: its golden
labels (ground truth) and the model's predictions at the evaluation's threshold, as FiftyOne's evaluation
panels do. The server recomputes the matching (``GET .../evaluations/{id}/confusion-cell``); the stored
matrix only keeps counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import labelview, state, ui
from dashboard.client import Api, ApiError

__all__ = ["HIDDEN", "ITEMS_DRAWN", "cell_options", "render"]

#: How many items of a cell are drawn (each one fetches its image).
ITEMS_DRAWN = 12
#: Said instead of the items to annotators: golden labels are hidden from them.
HIDDEN = "The items behind a cell show the golden labels, which annotators do not see."


def cell_options(labels: Sequence[str], matrix: Sequence[Sequence[Any]]) -> dict[str, list[tuple[str, int]]]:
    """Ground-truth label → ``[(predicted label, count)]`` of its cells with a count (most first), for the rows
    with any; a matrix that does not read as ``len(labels)`` rows of integers gives ``{}``."""
    n = len(labels)
    if len(matrix) != n or any(not isinstance(r, Sequence) or len(r) != n for r in matrix):
        return {}
    out: dict[str, list[tuple[str, int]]] = {}
    for g, row in enumerate(matrix):
        cells = [(str(labels[p]), int(v)) for p, v in enumerate(row) if isinstance(v, int) and v > 0]
        if cells:
            out[str(labels[g])] = sorted(cells, key=lambda c: -c[1])
    return out


def render(api: Api, ref: ui.VersionRef, evaluation: Mapping[str, Any]) -> None:
    """Under the confusion matrix: the cell pickers and the items behind the chosen cell, drawn."""
    cm = (evaluation.get("evidence") or {}).get("confusion_matrix")
    if not isinstance(cm, Mapping) or "iou" not in cm:  # classification matrices count items, not objects
        return
    labels = [str(n) for n in cm.get("labels") or []]
    options = cell_options(labels, cm.get("matrix") or [])
    if not options:
        return
    eid = evaluation.get("id")
    st.markdown("**Items behind a cell of the confusion matrix**")
    viewer = state.viewer()
    if viewer is not None and not viewer.is_admin and "annotator" in viewer.roles_in(ref.project_id):
        st.caption(HIDDEN)  # the server refuses them too (404): the items show the golden labels
        return
    left, right = st.columns(2)
    with left:
        truth = st.selectbox("ground truth", list(options), key=f"cm_truth_{eid}")
    cells = options.get(str(truth), [])
    counts = dict(cells)
    with right:
        predicted = st.selectbox(
            "predicted",
            [p for p, _ in cells],
            format_func=lambda p: f"{truth} → {p} ({counts.get(p, 0)})",
            key=f"cm_predicted_{eid}_{truth}",
        )
    if truth is None or predicted is None or not isinstance(eid, int):
        return
    with ui.api_errors("Items behind the cell"):
        try:
            found = api.confusion_cell(ref.project_id, eid, truth=truth, predicted=predicted, limit=ITEMS_DRAWN)
        except ApiError as exc:
            if exc.status != 404 or exc.field != "evaluation_id":
                raise
            st.caption(HIDDEN)
            return
        items = [i for i in found.get("items") or [] if isinstance(i, Mapping)]
        st.caption(
            f"{found.get('count')} of {truth} → {predicted} on {found.get('total_items')} items "
            f"(predictions at confidence ≥ {found.get('threshold')}); "
            + (f"the first {len(items)} drawn." if len(items) < int(found.get("total_items") or 0) else "all drawn.")
        )
        if found.get("stale"):
            st.warning(
                "The version's data or labels changed since this evaluation: the items are matched as they are now, "
                "and their counts differ from the stored matrix.",
                icon=":material/warning:",
            )
        classes, _ = labelview.schema_classes(api, ref)
        for item in items:
            _item(api, ref, item, classes)


def _item(api: Api, ref: ui.VersionRef, item: Mapping[str, Any], classes: Sequence[Any]) -> None:
    name = ui.plain(str(item.get("uri") or f"item #{item.get('item_id')}"))
    st.markdown(f"**{name}**: {item.get('count')} in this cell")
    picture = labelview.item_picture(api, ref.project_id, item.get("item_id"))
    size = (item.get("height"), item.get("width"))
    gt_col, pred_col = st.columns(2)
    with gt_col:
        truth = list(item.get("ground_truth") or [])
        labelview.show(truth, caption=f"ground truth: {len(truth)} golden labels", size=size, classes=classes,
                       image=picture)  # fmt: skip
    with pred_col:
        pred = list(item.get("predictions") or [])
        labelview.show(pred, caption=f"predictions: {len(pred)}", size=size, classes=classes, image=picture)
