"""Shared widgets: API errors shown as messages a person can act on, and the project / version pickers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import readable, state
from dashboard.client import Api, ApiError, Forbidden, NotAvailable, Unauthorized

__all__ = [
    "VERDICT_COLOURS",
    "VersionRef",
    "api_errors",
    "chain_status",
    "coloured",
    "hash_line",
    "not_available",
    "pick_project",
    "pick_version",
    "plain",
    "verdict_badge",
    "version_link",
    "version_names",
    "when",
]

#: Verdict word → background colour of its table cell (passed green, blocked red, warn amber).
VERDICT_COLOURS: dict[str, str] = {
    "PASS": "#c8e6c9",
    "ok": "#c8e6c9",
    "True": "#c8e6c9",
    "BLOCK": "#ffcdd2",
    "FAIL": "#ffcdd2",
    "False": "#ffcdd2",
    "WARN": "#ffe0b2",
}
#: Every time on a page reads ``2026-12-03 14:05:12 UTC``.
when = readable.utc_text


def plain(text: Any) -> str:
    """Text shown inside Markdown without being read as Markdown (or LaTeX)."""
    return str(text or "").replace("\\", "\\\\").replace("$", "\\$").replace("*", "\\*").replace("_", "\\_")


def not_available(what: str) -> None:
    st.info(f"**{what}**: not available yet on this server.", icon=":material/construction:")


@contextmanager
def api_errors(what: str, *, refusal_is_error: bool = False) -> Iterator[None]:
    """Render an API failure inside ``what`` as a message instead of a crash; the page goes on below.

    A 403 is a warning (the caller's roles do not reach this), unless ``refusal_is_error``: for an action the
    person asked for (a signature refused for a wrong secret or four-eyes), the refusal is the outcome.
    """
    try:
        yield
    except NotAvailable:
        not_available(what)
    except Unauthorized as exc:
        state.sign_out()
        st.error(f"Your token is no longer accepted ({exc.message}). Sign in again.", icon=":material/lock:")
    except Forbidden as exc:
        show = st.error if refusal_is_error else st.warning
        show(f"{what}: {exc.message}", icon=":material/block:")
    except ApiError as exc:
        where = f" (field `{exc.field}`)" if exc.field else ""
        st.error(f"{what}: {exc.message}{where}", icon=":material/error:")


def pick_project(
    projects: Sequence[Mapping[str, Any]],
    *,
    key: str,
    label: str = "Project",
) -> int | None:
    """A project select box; None (with a note) when there is nothing to pick."""
    if not projects:
        st.info("No project where your roles allow this.")
        return None
    names = {int(p["id"]): str(p["name"]) for p in projects}
    ids = list(names)
    asked = _asked("project")
    index = ids.index(int(asked)) if asked and asked.isdigit() and int(asked) in names else 0
    return st.selectbox(label, ids, index=index, format_func=names.__getitem__, key=key)


def _asked(name: str) -> str | None:
    """A choice a link asked for (``?project=1&dataset=street&version=v2``, see :func:`version_link`)."""
    value = st.query_params.get(name)
    return str(value) if value else None


def version_link(project_id: int, dataset: str, version: str, *, label: str | None = None) -> None:
    """A link to the dataset-version page opened on ``dataset@version`` (the page's pickers read it)."""
    st.page_link(
        "views/dataset_version.py",
        label=label or f"{dataset}@{version}",
        icon=":material/dataset:",
        query_params={"project": str(project_id), "dataset": dataset, "version": version},
    )


@dataclass(frozen=True, slots=True)
class VersionRef:
    project_id: int
    dataset: str
    version: str

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


def _preferred(api: Api, pid: int, datasets: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The newest candidate of a non-golden dataset (the one likely waiting for a decision), if any."""
    best: tuple[int, str, str] | None = None
    for d in datasets:
        if d.get("is_golden"):
            continue
        for v in api.versions(pid, str(d["name"])):
            if v.get("state") == "candidate" and (best is None or int(v.get("id") or 0) > best[0]):
                best = (int(v.get("id") or 0), str(d["name"]), str(v["version"]))
    return None if best is None else best[1:]


def pick_version(
    api: Api, projects: Sequence[Mapping[str, Any]], *, key: str, project_id: int | None = None
) -> VersionRef | None:
    """Project (unless ``project_id`` is given), dataset and version select boxes side by side, no empty
    column; None when a list is empty or not served yet. Opens on the newest candidate of a non-golden
    dataset (what waits for a decision), else the first non-golden dataset's newest version: never on a
    golden set unless chosen."""
    cols = st.columns(3 if project_id is None else 2)
    if project_id is None:
        with cols[0]:
            pid = pick_project(projects, key=f"{key}_project")
        cols = cols[1:]
    else:
        pid = project_id
    if pid is None:
        return None
    found: VersionRef | None = None
    with api_errors("Datasets and versions"):
        datasets = api.datasets(pid)
        if not datasets:
            st.info("This project has no datasets yet.")
            return None
        names = [str(d["name"]) for d in datasets]
        preferred = _preferred(api, pid, datasets)
        plain_names = [str(d["name"]) for d in datasets if not d.get("is_golden")]
        start = preferred[0] if preferred else (plain_names[0] if plain_names else names[0])
        asked_dataset, asked_version = _asked("dataset"), _asked("version")
        if asked_dataset in names:  # opened from a link
            start, preferred = str(asked_dataset), (str(asked_dataset), str(asked_version))
        with cols[0]:
            # Keys carry the parent choice: each project has its dataset choice, each dataset its version
            # choice (one widget whose options change under it keeps showing a stale label in the browser).
            dataset = st.selectbox(
                "Dataset",
                names,
                index=names.index(start),
                key=f"{key}_dataset_{pid}",
            )
        versions = api.versions(pid, dataset)
        if not versions:
            st.info(f"Dataset {dataset!r} has no versions yet.")
            return None
        with cols[1]:
            labels = {str(v["version"]): f"{v['version']} ({v.get('state', '?')})" for v in reversed(versions)}
            options = list(labels)
            index = (
                options.index(preferred[1]) if preferred and preferred[0] == dataset and preferred[1] in options else 0
            )
            version = st.selectbox(
                "Version",
                options,
                index=index,
                format_func=labels.__getitem__,
                key=f"{key}_version_{pid}_{dataset}",
            )
        found = VersionRef(pid, dataset, version)
    return found


def chain_status(result: Mapping[str, Any]) -> None:
    """Show a chain verification: verified up to seq N, or broken at seq N with the reason."""
    if result.get("ok"):
        head = result.get("head_seq")
        if head is None:
            st.success("Audit chain: empty, nothing to verify yet.", icon=":material/verified:")
        else:
            st.success(
                f"Audit chain verified up to seq {head} ({result.get('events')} events, head "
                f"`{readable.short_hash(result.get('head_hash'))}`).",
                icon=":material/verified:",
            )
    else:
        st.error(
            f"Audit chain BROKEN at seq {result.get('broken_seq')} ({result.get('kind')}): {result.get('reason')}",
            icon=":material/gpp_bad:",
        )


def version_names(api: Api, project_id: int) -> dict[int, str]:
    """Version id → ``dataset@version`` for every version of the project's datasets (cached GETs)."""
    return {
        int(v["id"]): f"{d['name']}@{v['version']}"
        for d in api.datasets(project_id)
        for v in api.versions(project_id, str(d["name"]))
    }


def verdict_badge(passed: bool | None, *, warn: bool = False) -> None:
    """The verdict as a coloured badge: passed green, blocked red, warn amber."""
    if warn:
        st.badge("WARN", icon=":material/warning:", color="orange")
    elif passed:
        st.badge("PASSED", icon=":material/check_circle:", color="green")
    else:
        st.badge("BLOCKED", icon=":material/block:", color="red")


def coloured(rows: Sequence[Mapping[str, Any]], *columns: str) -> Any:
    """``rows`` as a table whose verdict ``columns`` are coloured (:data:`VERDICT_COLOURS`); the plain
    rows when there are none."""
    frame = pd.DataFrame(list(rows))
    present = [c for c in columns if c in frame.columns]
    if frame.empty or not present:
        return frame

    def paint(value: Any) -> str:
        colour = VERDICT_COLOURS.get(str(value))
        return f"background-color: {colour}; color: #1b1b1b; font-weight: 600" if colour else ""

    return frame.style.map(paint, subset=present)


def verdict_table(
    rows: Sequence[Mapping[str, Any]], *, colour: str = "verdict", widths: Mapping[str, str] | None = None, **help: str
) -> None:
    """``rows`` as a full-width table, the ``colour`` column painted by verdict (:func:`coloured`), the columns
    in ``widths`` given that width (``small``/``medium``/``large``: text wraps instead of being cut short)
    and the ``help`` of a column as its header's tooltip."""
    config = {
        name: st.column_config.TextColumn(name, width=width, help=help.get(name))  # type: ignore[arg-type]
        for name, width in (widths or {}).items()
    }
    st.dataframe(coloured(rows, colour), hide_index=True, width="stretch", column_config=config)


def hash_line(label: str, value: Any) -> None:
    """``label: 2ffd…91ab`` with the full value in the hover help (``—`` when none)."""
    if not value:
        st.markdown(f"**{label}**: —")
        return
    st.markdown(f"**{label}**: `{readable.short_hash(value)}`", help=f"{label}: {value}")
