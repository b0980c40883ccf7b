"""Auto-label runs and the review queue: each run's state, progress, throughput and thresholds (ML engineers);
the items waiting for human review, lowest confidence first (reviewers and ML engineers), each entry's labels
drawn over its item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import labelview, state, tables, ui
from dashboard.client import Api

QUEUE_SHOWN = 50
DASH = "—"
_SCORE_HELP = (
    "The score the queue is ordered by (lowest first): the best confidence among the item's predictions the "
    "model did not accept (0 when it found nothing, or the image could not be read); for an active-learning "
    "pick, 1 − its uncertainty."
)


def _cell(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def no_gaps(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows with every column that has an empty cell (None) shown as text, empty cells as ``—``: a table
    never shows ``None``; columns without gaps keep their numbers."""
    gappy = {k for r in rows for k, v in r.items() if v is None}
    return [{k: (_cell(v) if k in gappy else v) for k, v in r.items()} for r in rows]


def queue_rows(items: Sequence[Mapping[str, Any]], *, versions: Mapping[int, str]) -> list[dict[str, Any]]:
    """Queue entries as rows, in the server's order (lowest score first), the score as ``confidence``."""
    rows = []
    for q in items:
        vid = q.get("dataset_version_id")
        score = q.get("priority")
        rows.append(
            {
                "entry": q.get("id"),
                "confidence": round(float(score), 3) if isinstance(score, int | float) else None,
                "version": versions.get(vid, f"#{vid}") if isinstance(vid, int) else DASH,
                "image": q.get("uri"),
                "reason": q.get("reason"),
                "run": q.get("autolabel_run_id"),
                "labels": len(q.get("labels") or []),
                "queued at": str(q.get("created_at") or "")[:19].replace("T", " ") or None,
            }
        )
    return no_gaps(rows)


def _with_speed(row: Mapping[str, Any]) -> dict[str, Any]:
    """A run row with its throughput as text under ``images/s``: ``—`` while the run has no figure (queued,
    simulated), not None."""
    speed = row.get("images_per_s")
    shown = f"{speed:.1f}" if isinstance(speed, int | float) else DASH
    return {("images/s" if k == "images_per_s" else k): (shown if k == "images_per_s" else v) for k, v in row.items()}


def _queue(api: Api, pid: int) -> None:
    st.subheader("Review queue")
    with ui.api_errors("Review queue"):
        count, capped = api.review_queue_size(pid)
        st.metric("Items waiting for human review", f"{count}+" if capped else str(count))
        if not count:
            st.caption("Nothing waits for review in this project.")
            return
        items = api.review_queue(pid, limit=QUEUE_SHOWN)
        total = f"{count}+" if capped else str(count)
        st.caption(f"{len(items)} of {total} open items, lowest confidence first.")
        st.dataframe(
            queue_rows(items, versions=ui.version_names(api, pid)),
            hide_index=True,
            column_config={"confidence": st.column_config.NumberColumn("confidence", format="%.3f", help=_SCORE_HELP)},
        )
        _entry_labels(api, pid, items)


def _entry_labels(api: Api, pid: int, items: Sequence[Mapping[str, Any]]) -> None:
    """One queue entry's labels drawn over its item's image (a canvas of its size when the image cannot be
    read), with their confidences."""
    by_id = {int(q["id"]): q for q in items if isinstance(q.get("id"), int)}
    if not by_id:
        return
    chosen = st.selectbox(
        "Draw the labels of entry",
        list(by_id),
        format_func=lambda i: f"#{i} · {by_id[i].get('uri')} · {len(by_id[i].get('labels') or [])} labels",
        key="al_queue_entry",
    )
    entry = by_id[int(chosen)] if chosen is not None else next(iter(by_id.values()))
    size = (entry.get("height"), entry.get("width"))
    caption = f"{entry.get('uri')} ({entry.get('width')}×{entry.get('height')} px), routed: {entry.get('reason')}"
    picture = labelview.item_picture(api, pid, entry.get("item_id"))
    labelview.show(list(entry.get("labels") or []), caption=caption, size=size, image=picture)
    if picture is None:
        st.caption(labelview.NO_PIXELS)


def _runs(api: Api, pid: int) -> None:
    st.subheader("Runs")
    with ui.api_errors("Auto-label runs"):
        runs = api.autolabel_runs(pid)
        if not runs:
            st.caption("No auto-label run in this project yet.")
            return
        models = {int(m["id"]): f"{m['name']}@{m['version']}" for m in api.models(pid)}
        rows = tables.run_rows(runs, versions=ui.version_names(api, pid), models=models)
        rows = [_with_speed(r) for r in rows]
        st.dataframe(
            no_gaps(rows),
            hide_index=True,
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            },
        )


def render() -> None:
    viewer, api = state.viewer(), state.api()
    assert viewer is not None
    st.title("Auto-label runs")
    pid = ui.pick_project(viewer.projects_where("list_autolabel_runs", "list_review_queue"), key="al_project")
    if pid is None:
        return
    if viewer.can_read_queue(pid):
        _queue(api, pid)
    if viewer.can_read_runs(pid):
        _runs(api, pid)
    else:
        st.caption("The runs are listed for ML engineers and admins.")


if __name__ == "__main__":
    render()
