"""Query parameters shared by list routes: keyset cursors for pages, and a bounded window (``limit``,
``after``, a ``Link: rel="next"`` header) for the routes that answer a bare JSON list.

Bare lists keep their shape (the dashboard and the remote CLI read them as lists): a list longer than
``limit`` is cut there and the answer carries ``Link: <...?after=ID&limit=N>; rel="next"``, the URL of the
rest, as GitHub's API does. ``after`` is the id of the last row a client holds; the rows after it in the
list's own order follow. These lists are a project's (datasets, versions, schemas, members...): small next to
the labels and events, which page by cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response

from lineage.errors import InvalidInput
from service.actions.paging import CURSOR_MAX_LENGTH
from service.api.schemas.common import INT32_MAX

__all__ = ["LIST_LIMIT", "Cursor", "Cut", "CutDep", "ListWindow", "WindowDep", "WithTotal", "bounded", "next_link"]

R = TypeVar("R")

#: The most rows a bare list answers at once (and its default: a whole list, as before, up to this many).
LIST_LIMIT = 1000
_AFTER = "query.after"

Cursor = Annotated[
    str | None,
    Query(
        max_length=CURSOR_MAX_LENGTH,
        description="a page's `next_cursor`, passed back as it came: the next page, read by an index seek",
    ),
]
WithTotal = Annotated[
    bool | None,
    Query(description="count the rows (`total`): by default only on offset pages (no `cursor`)"),
]


@dataclass(frozen=True, slots=True)
class ListWindow:
    """At most ``limit`` rows, starting after the row whose id is ``after`` (from the first when ``None``)."""

    limit: int
    after: int | None


def list_window(
    limit: Annotated[
        int, Query(ge=1, le=LIST_LIMIT, description=f"the most rows to answer, at most {LIST_LIMIT}")
    ] = LIST_LIMIT,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT32_MAX, description='the id of the last row held: the rows after it (`Link: rel="next"`)'),
    ] = None,
) -> ListWindow:
    return ListWindow(limit, after)


WindowDep = Annotated[ListWindow, Depends(list_window)]


def next_link(request: Request, **params: Any) -> str:
    """A ``Link`` header value naming the next part of this request's list: its URL, ``params`` replaced."""
    query = dict(request.query_params)
    query.update({k: str(v) for k, v in params.items()})
    return f'<{request.url.replace_query_params(**query)}>; rel="next"'


def bounded(
    rows: Sequence[R], window: ListWindow, request: Request, response: Response, *, key: Callable[[R], Any]
) -> list[R]:
    """``rows`` (the whole list, in its order) cut to ``window``: those after the row ``key`` names
    ``window.after``, at most ``window.limit`` of them; a ``Link: rel="next"`` header when more follow. An
    ``after`` that is no row of the list is refused (422): the client holds a part of another list."""
    start = 0
    if window.after is not None:
        ids = [key(r) for r in rows]
        if window.after not in ids:
            raise InvalidInput(f"no row {window.after} in this list: pass the id of a row it answered", field=_AFTER)
        start = ids.index(window.after) + 1
    part = list(rows[start : start + window.limit])
    if start + window.limit < len(rows):
        response.headers["Link"] = next_link(request, after=key(part[-1]), limit=window.limit)
    return part


def row_id(row: Any) -> Any:
    """A row's ``id``, whether the route answers a model, a row or a dict."""
    return row["id"] if isinstance(row, dict) else row.id


@dataclass(frozen=True, slots=True)
class Cut:
    """A bare list route's window and its request and response: ``cut(rows)`` is :func:`bounded` by id."""

    window: ListWindow
    request: Request
    response: Response

    def __call__(self, rows: Sequence[R]) -> list[R]:
        return bounded(rows, self.window, self.request, self.response, key=row_id)


def list_cut(request: Request, response: Response, window: WindowDep) -> Cut:
    return Cut(window, request, response)


#: A bare list route's ``limit`` and ``after`` (see the module docstring); ``cut(rows)`` answers them.
CutDep = Annotated[Cut, Depends(list_cut)]
