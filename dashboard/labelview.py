"""Labels drawn over their item on a page: :func:`show` (the widget every view that shows an item's labels
uses, drawing with :func:`dashboard.overlay.draw_labels`) and :func:`item_browser` (a version's live labels,
item by item).

Labels are drawn over the item's image as its version committed it (``Api.item_image``); when the image
cannot be read (not found, not an image), on a blank canvas: the item's size where the answer gives it (the
review queue), else the first mask's size, else as far as the labels reach, and the page says so. The schema
version's classes give colours, keypoint skeletons and point counts.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st
from PIL import Image

from dashboard import overlay, ui
from dashboard.client import Api, ApiError

__all__ = ["LABELS_READ", "MAX_WARNINGS", "NO_PIXELS", "item_browser", "item_picture", "schema_classes", "show"]

#: How many live labels :func:`item_browser` reads (the route's largest page).
LABELS_READ = 500
#: The most problems listed under one image (the rest are counted).
MAX_WARNINGS = 12
NO_PIXELS = "The item's image could not be read: the labels are drawn on a blank canvas of the item's size."


def item_picture(api: Api, project_id: int, item_id: Any) -> Image.Image | None:
    """The item's image, or None when it cannot be fetched or decoded (the caller then draws on a canvas)."""
    if not isinstance(item_id, int):
        return None
    try:
        picture = Image.open(io.BytesIO(api.item_image(project_id, item_id)))
        picture.load()
    except (ApiError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return picture


def _legend(legend: Sequence[tuple[str, str]]) -> str:
    return " &nbsp; ".join(
        f'<span style="color:{colour}">■</span> {ui.plain(html.escape(name))}' for name, colour in legend
    )


def show(
    labels: Sequence[Any],
    *,
    caption: str,
    size: Any = None,
    classes: Sequence[Any] = (),
    image: Image.Image | None = None,
    highlight: int | None = None,
) -> overlay.Overlay:
    """Draw ``labels`` over ``image`` (or a blank canvas of ``size``, (height, width) px) with a legend of the
    classes, the image's tags, how to read the drawing, and a warning naming every label not drawn as stored;
    ``highlight`` (an index in ``labels``) frames the one label the page is about. Returns what was drawn."""
    drawn = overlay.draw_labels(labels, image=image, size=size, classes=classes, highlight=highlight)
    st.image(drawn.image, caption=caption)
    if drawn.legend:
        st.markdown(_legend(drawn.legend), unsafe_allow_html=True)
    if drawn.tags:
        st.caption("Tags of the image: " + ", ".join(ui.plain(t) for t in drawn.tags))
    for note in drawn.notes:
        st.caption(note)
    if drawn.warnings:
        listed = [f"- {ui.plain(w)}" for w in drawn.warnings[:MAX_WARNINGS]]
        more = len(drawn.warnings) - MAX_WARNINGS
        if more > 0:
            listed.append(f"- and {more} more")
        st.warning("**Labels not drawn as stored**\n\n" + "\n".join(listed), icon=":material/warning:")
    return drawn


def schema_classes(api: Api, ref: ui.VersionRef) -> tuple[list[dict[str, Any]], str | None]:
    """The classes of the version's schema version (via its lineage, which names the schema), and a note when
    they cannot be read (then ``[]``: colours by class name, no skeletons)."""
    try:
        ancestry = api.version_lineage(ref.project_id, ref.dataset, ref.version).get("ancestry") or []
        schema = ancestry[0].get("schema") if ancestry and isinstance(ancestry[0], Mapping) else None
        if not isinstance(schema, Mapping) or schema.get("name") is None or schema.get("version") is None:
            return [], "The version has no schema: colours follow the class names, and no skeleton is drawn."
        found = api.schema_version(ref.project_id, str(schema["name"]), int(schema["version"]))
    except ApiError as exc:
        return [], f"The version's schema could not be read ({exc.message}): no skeleton is drawn."
    classes = found.get("classes")
    return [dict(c) for c in classes if isinstance(c, Mapping)] if isinstance(classes, list) else [], None


def _items(labels: Sequence[Mapping[str, Any]]) -> dict[Any, list[Mapping[str, Any]]]:
    by_item: dict[Any, list[Mapping[str, Any]]] = {}
    for label in labels:
        by_item.setdefault(label.get("item_id"), []).append(label)
    return by_item


def item_browser(api: Api, ref: ui.VersionRef, *, key: str) -> None:
    """Pick an item of the version (among those of its first :data:`LABELS_READ` live labels) and see its
    labels drawn: boxes, polygons, masks, keypoints with the schema's skeleton, tags."""
    with ui.api_errors("Labels of the version"):
        page = api.version_annotations(ref.project_id, ref.dataset, ref.version, limit=LABELS_READ)
        labels = [lab for lab in page.get("items") or [] if isinstance(lab, Mapping)]
        if not labels:
            st.caption(f"{ref.ref} has no live labels.")
            return
        by_item = _items(labels)
        items = list(by_item)
        chosen = st.selectbox(
            "Item",
            items,
            format_func=lambda i: f"item #{i} ({len(by_item[i])} labels)",
            key=f"{key}_item_{ref.project_id}_{ref.dataset}_{ref.version}",
        )
        classes, note = schema_classes(api, ref)
        shown = by_item.get(chosen, [])
        kinds = sorted({str(lab.get("geometry_type") or "box") for lab in shown})
        picture = item_picture(api, ref.project_id, chosen)
        caption = f"item #{chosen} of {ref.ref}: {len(shown)} labels ({', '.join(kinds)})"
        show(shown, caption=caption, classes=classes, image=picture)
        if picture is None:
            st.caption(NO_PIXELS.replace("of the item's size", "as large as the labels reach (a mask's size if any)"))
        if note:
            st.caption(note)
        total = page.get("total")
        if isinstance(total, int) and total > len(labels):
            st.caption(f"Items of the first {len(labels)} of {total} live labels are offered.")
