"""Shared widgets: API errors shown as messages a person can act on, and the project / version pickers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard import state
from dashboard.client import Api, ApiError, Forbidden, NotAvailable, Unauthorized

__all__ = [
    "VersionRef",
    "api_errors",
    "chain_status",
    "not_available",
    "pick_project",
    "pick_version",
    "plain",
    "version_names",
]


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
    return st.selectbox(label, list(names), format_func=names.__getitem__, key=key)


@dataclass(frozen=True, slots=True)
class VersionRef:
    project_id: int
    dataset: str
    version: str

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


def pick_version(
    api: Api, projects: Sequence[Mapping[str, Any]], *, key: str, project_id: int | None = None
) -> VersionRef | None:
    """Project (unless ``project_id`` is given), dataset and version select boxes; None when a list is empty
    or not served yet."""
    cols = st.columns(3)
    with cols[0]:
        pid = project_id if project_id is not None else pick_project(projects, key=f"{key}_project")
    if pid is None:
        return None
    found: VersionRef | None = None
    with api_errors("Datasets and versions"):
        datasets = api.datasets(pid)
        if not datasets:
            st.info("This project has no datasets yet.")
            return None
        with cols[1]:
            names = [str(d["name"]) for d in datasets]
            # Keys carry the parent choice: each project has its dataset choice, each dataset its version
            # choice (one widget whose options change under it keeps showing a stale label in the browser).
            dataset = st.selectbox("Dataset", names, key=f"{key}_dataset_{pid}")
        versions = api.versions(pid, dataset)
        if not versions:
            st.info(f"Dataset {dataset!r} has no versions yet.")
            return None
        with cols[2]:
            labels = {str(v["version"]): f"{v['version']} ({v.get('state', '?')})" for v in reversed(versions)}
            version = st.selectbox(
                "Version", list(labels), format_func=labels.__getitem__, key=f"{key}_version_{pid}_{dataset}"
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
                f"`{str(result.get('head_hash'))[:16]}…`).",
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
