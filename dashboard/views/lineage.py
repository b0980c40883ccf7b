"""Lineage explorer. "Who labelled this box, with which model?" from the picture: pick a dataset version
(``street@v3``), browse its items as thumbnails, open one, pick a label on it (framed on the image) and read
its whole chain: author or model and weights, confidence and threshold, run, reviews with their comments,
corrections, schema version, every version containing it. Also by annotation id, a version's ancestry as a
graph, and a version's live labels drawn item by item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import graphs, labelview, lineage_text, state, thumbnails, ui
from dashboard.client import Api


def _versions(api: Api, viewer: Any) -> ui.VersionRef | None:
    """A project, then one of its dataset versions by name (``street@v3``; newest of each dataset first,
    golden sets last)."""
    cols = st.columns(2)
    with cols[0]:
        pid = ui.pick_project(viewer.projects, key="lin_img_project")
    if pid is None:
        return None
    with ui.api_errors("Datasets and versions"):
        refs: dict[str, tuple[str, str, str]] = {}
        for d in sorted(api.datasets(pid), key=lambda d: bool(d.get("is_golden"))):  # golden sets last
            for v in reversed(api.versions(pid, str(d["name"]))):
                refs[f"{d['name']}@{v['version']}"] = (str(d["name"]), str(v["version"]), str(v.get("state", "?")))
        if not refs:
            st.info("This project has no dataset versions yet.")
            return None
        with cols[1]:
            chosen = st.selectbox(
                "Dataset version", list(refs), format_func=lambda r: f"{r} ({refs[r][2]})", key=f"lin_img_version_{pid}"
            )
        return ui.VersionRef(pid, refs[chosen][0], refs[chosen][1])
    return None


def _section(title: str, lines: Sequence[str], *, empty: str = "none") -> None:
    body = "\n".join(f"- {ui.plain(line)}" for line in lines) if lines else f"_{empty}_"
    st.markdown(f"**{title}**\n\n{body}")


def _loop(loop: Mapping[str, Any] | None, title: str, *, focus: str | None = None) -> None:
    """The model loop (``lineage.model_lineage.LoopGraph`` as JSON) as a graph, when it has any edge."""
    if loop and loop.get("edges"):
        st.markdown(f"**{title}**")
        st.graphviz_chart(graphs.loop_dot(loop, focus=focus))


def chain(lin: Mapping[str, Any], *, loop: Mapping[str, Any] | None = None) -> None:
    """A label's whole chain in words: author or model, weights, confidence and threshold, run, reviews with
    their comments, corrections, schema version, the versions containing it; then the graph and the rows,
    and for a model's label the loop back to the data the model was trained on (``loop``: the item's, else
    the label's own)."""
    steps = [*(lin.get("history") or []), *(lin.get("superseded_by") or [])]
    here = next((s for s in steps if s.get("id") == lin.get("annotation_id")), steps[-1] if steps else {})
    state = "live" if lin.get("live") else "superseded or deleted"
    st.markdown(
        f"Label **#{lin.get('annotation_id')} {ui.plain(here.get('category'))}** in {ui.plain(lin.get('version'))}"
        f" · {state}"
    )
    who = [f"By: {lineage_text.author(here)}"]
    if here.get("kind") == "model":
        model = here.get("model") or {}
        who.append(f"Weights: {lineage_text.short_hash(model.get('weights_sha256'))}")
        run = (here.get("provenance") or {}).get("autolabel_run_id")
        who.append(lineage_text.score_text(here) + (f" · run {run}" if run is not None else ""))
    else:
        who.append(lineage_text.provenance_text(here))
    _section("Who and how", who)
    reviews = [f"#{s.get('id')}: {lineage_text.review_line(r)}" for s in steps for r in s.get("reviews") or []]
    _section("Reviews", reviews)
    _section("Corrections", [lineage_text.correction_line(c) for c in lin.get("corrections") or []])
    _section("Schema version", [lineage_text.schema_text(lin.get("schema"))])
    _section("Dataset versions containing it", [lineage_text.holding_line(h) for h in lin.get("versions") or []])
    st.graphviz_chart(graphs.annotation_dot(lin))
    run = (here.get("provenance") or {}).get("autolabel_run_id")
    _loop(loop or lin.get("loop"), "From training data to this label", focus=f"labels:{run}" if run else None)
    st.dataframe(lineage_text.chain_rows(lin), hide_index=True)


def _item_labels(api: Api, ref: ui.VersionRef, item_id: int) -> None:
    """The item drawn with its labels, the chosen label framed, and that label's chain beside it."""
    found = api.item_lineage(ref.project_id, item_id)
    labels = [lab for lab in found.get("labels") or [] if isinstance(lab, Mapping)]
    st.subheader(f"Item #{item_id} · {found.get('uri')} in {found.get('version')}")
    picture = labelview.item_picture(api, ref.project_id, item_id)
    size = (found.get("height"), found.get("width"))
    if not labels:
        labelview.show([], caption=f"{found.get('uri')}: no live labels", size=size, image=picture)
        return
    by_id = {int(lab["id"]): lab for lab in labels}
    chosen = st.selectbox(
        "Label", list(by_id), format_func=lambda i: lineage_text.label_option(by_id[i]), key=f"lin_img_label_{item_id}"
    )
    chosen = int(chosen) if chosen is not None else next(iter(by_id))
    classes, note = labelview.schema_classes(api, ref)
    left, right = st.columns([3, 2])
    with left:
        caption = f"{found.get('uri')}: {len(labels)} labels, #{chosen} framed in gold"
        labelview.show(labels, caption=caption, size=size, classes=classes, image=picture,
                       highlight=list(by_id).index(chosen))  # fmt: skip
        if picture is None:
            st.caption(labelview.NO_PIXELS)
        if note:
            st.caption(note)
        total = found.get("total")
        if isinstance(total, int) and total > len(labels):
            st.caption(f"The first {len(labels)} of the item's {total} live labels are offered.")
    with right:
        chain(by_id[chosen].get("lineage") or {}, loop=found.get("loop"))


def _from_image(api: Api, viewer: Any) -> None:
    ref = _versions(api, viewer)
    if ref is None:
        return
    with ui.api_errors("Items of the version"):
        item_id = thumbnails.item_grid(api, ref, key="lin_img")
        if item_id is None:
            st.caption("Open an item to see its labels and where each one came from.")
            return
        _item_labels(api, ref, item_id)


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Lineage explorer")
    from_image, by_label, by_version, on_items = st.tabs(
        ["From an image", "Annotation id", "Dataset version", "Labels on an item"]
    )
    with from_image:
        _from_image(api, viewer)
    with by_label:
        pid = ui.pick_project(viewer.projects, key="lin_ann_project")
        aid = st.number_input("Annotation id", min_value=1, value=None, step=1, key="lin_annotation_id")
        if pid is not None and aid is not None:
            with ui.api_errors("Annotation lineage"):
                chain(api.annotation_lineage(pid, int(aid)))
    with by_version:
        ref = ui.pick_version(api, viewer.projects, key="lin_v")
        if ref is not None:
            with ui.api_errors("Version lineage"):
                lin = api.version_lineage(ref.project_id, ref.dataset, ref.version)
                st.graphviz_chart(graphs.ancestry_dot(lin.get("ancestry", [])))
                nodes = (lin.get("loop") or {}).get("nodes") or []
                here = next((n.get("id") for n in nodes if n.get("name") == lin.get("version")), None)
                _loop(lin.get("loop"), "Models trained on it, and the models and runs that labelled it", focus=here)
                st.caption(f"{lin.get('labels')} live labels; manifest `{str(lin.get('manifest_hash'))[:16]}…`")
    with on_items:
        ref = ui.pick_version(api, viewer.projects, key="lin_items")
        if ref is not None:
            labelview.item_browser(api, ref, key="lin_items")


if __name__ == "__main__":
    render()
