"""A version's items as a paged grid of thumbnails, to pick one by looking at it.

Thumbnails come from the API (``GET .../items/{id}/image?max_side=N``: read from DVC and downscaled on the
server), cached per caller for an hour: a version's bytes never change. An item whose picture cannot be
read is shown as a grey tile saying so, and can still be opened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import streamlit as st
from PIL import Image

from dashboard import ui
from dashboard.client import Api, ApiError

__all__ = ["PER_PAGE", "THUMB_SIDE", "item_grid", "thumbnail"]

#: Items per page of the grid, and columns of the grid.
PER_PAGE = 12
COLUMNS = 4
#: The thumbnails' longest side, px (the API takes 64 to 1024).
THUMB_SIDE = 160


@st.cache_data(ttl=3600, show_spinner=False, max_entries=2000)
def _thumb(_api: Api, who: str, base_url: str, project_id: int, item_id: int, side: int) -> bytes | None:
    # ``_api`` is not hashed; ``who`` (the caller's token hash) and ``base_url`` keep callers apart.
    try:
        return _api.item_thumbnail(project_id, item_id, max_side=side)
    except ApiError:
        return None


def thumbnail(api: Api, project_id: int, item_id: int, *, side: int = THUMB_SIDE) -> bytes | Image.Image:
    """The item's thumbnail bytes, or a grey tile when it cannot be read."""
    found = _thumb(api, api.who, str(api.http.base_url), project_id, item_id, side)
    return found if found is not None else Image.new("RGB", (side, side * 3 // 4), (220, 220, 220))


def _state_key(key: str, ref: ui.VersionRef, what: str) -> str:
    return f"{key}_{what}_{ref.project_id}_{ref.dataset}_{ref.version}"


def _set(name: str, value: Any) -> None:
    st.session_state[name] = value


def item_grid(api: Api, ref: ui.VersionRef, *, key: str) -> int | None:
    """Show a page of the version's items as thumbnails, each with an **Open** button, and previous/next
    buttons; returns the opened item's id (kept per version across reruns), or None."""
    page_key, open_key = _state_key(key, ref, "page"), _state_key(key, ref, "open")
    page = int(st.session_state.get(page_key, 0))
    answer = api.version_items(ref.project_id, ref.dataset, ref.version, offset=page * PER_PAGE, limit=PER_PAGE)
    total = int(answer.get("total") or 0)
    items = [i for i in answer.get("items") or [] if isinstance(i, Mapping)]
    if not total:
        st.caption(f"{ref.ref} has no items.")
        return None
    pages = max(1, math.ceil(total / PER_PAGE))
    if not items and page:  # the version shrank under a stale page number
        _set(page_key, 0)
        return item_grid(api, ref, key=key)
    first = page * PER_PAGE + 1
    nav = st.columns([1, 1, 4])
    nav[0].button("◀ Previous", key=f"{page_key}_prev", disabled=page == 0, on_click=_set, args=(page_key, page - 1))
    nav[1].button("Next ▶", key=f"{page_key}_next", disabled=page + 1 >= pages, on_click=_set,
                  args=(page_key, page + 1))  # fmt: skip
    nav[2].caption(f"Items {first}–{first + len(items) - 1} of {total} (page {page + 1} of {pages}), by path.")
    cols = st.columns(COLUMNS)
    for n, item in enumerate(items):
        item_id = int(item["id"])
        with cols[n % COLUMNS]:
            st.image(thumbnail(api, ref.project_id, item_id), caption=f"#{item_id} {item.get('uri')}")
            st.button(
                f"Open #{item_id} ({item.get('labels', 0)} labels)",
                key=f"{key}_open_{item_id}",
                on_click=_set,
                args=(open_key, item_id),
                width="stretch",
            )
    chosen = st.session_state.get(open_key)
    return int(chosen) if isinstance(chosen, int) else None
