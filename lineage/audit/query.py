"""Reading the audit log: filtered queries and pages (the chain itself lives in ``lineage.audit.chain``).

Filters a person types are matched as text, never as SQL patterns: ``%`` and ``_`` match themselves.
``action`` and ``actor`` are first matched against the log's distinct values (read with a skip scan of their
indexes, a few dozen index seeks), so the events are then selected with an ``IN`` on an index, not a pattern
over a million rows. Pages are keyset pages on ``seq`` (``after_seq``/``before_seq``), which cost the same
at the millionth event as at the first; ``offset`` still works for old clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import String, and_, cast, false, func, or_, text, type_coerce
from sqlmodel import Session, col, select

from lineage.models import AuditEvent
from lineage.naming import Ref, find_refs, group_ids

__all__ = [
    "SCAN_WINDOW",
    "AuditFilter",
    "EventPage",
    "Order",
    "count_events",
    "decode_cursor",
    "encode_cursor",
    "list_events",
    "page_events",
]

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every field set narrows the result; all text is matched case-insensitively and literally.

    ``action``: one text is a substring (``gate`` and ``evaluate`` both find ``gate.evaluate``, ``dataset.``
    every ``dataset.*``); a comma-separated list names exact actions (``gate.evaluate,release.create``).
    ``actor``: a substring of the username. ``object``: an object type (``dataset_version``), an id, a
    ``type:id``, or a display name (``street@v2``; ``street`` also finds its versions, see
    :func:`lineage.naming.find_refs`). ``object_type``/``object_id``: exact. ``q``: free text found in the
    action, the actor, the object's name or the payload's text. ``since`` is inclusive, ``until`` exclusive (UTC).
    """

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    project_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    object: str | None = None
    q: str | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) in (None, "") for name in self.__slots__)


def _distinct(session: Session, column: str) -> list[str]:
    """The distinct values of an indexed column of the log, by a skip scan: one index seek per value (there are
    dozens of actions, actors and object types, against a million events), on SQLite and PostgreSQL alike."""
    assert column in ("action", "actor", "object_type")  # a column name, never user text
    sql = text(
        f"WITH RECURSIVE v(x) AS (SELECT min({column}) FROM audit_events UNION ALL "
        f"SELECT (SELECT min({column}) FROM audit_events WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL) "
        "SELECT x FROM v WHERE x IS NOT NULL"
    )
    return [str(r[0]) for r in session.connection().execute(sql)]


def matching_actions(session: Session, typed: str) -> list[str]:
    """The log's actions ``typed`` selects: a comma-separated list names exact actions, one text is a substring
    (both case-insensitive)."""
    known = _distinct(session, "action")
    if "," in typed:
        wanted = {part.strip().lower() for part in typed.split(",") if part.strip()}
        return [a for a in known if a.lower() in wanted]
    needle = typed.strip().lower()
    return [a for a in known if needle in a.lower()]


def matching_actors(session: Session, typed: str) -> list[str]:
    needle = typed.strip().lower()
    return [a for a in _distinct(session, "actor") if needle in a.lower()]


def _refs_clause(refs: Sequence[Ref]) -> Any:
    parts = [
        and_(col(AuditEvent.object_type) == object_type, col(AuditEvent.object_id).in_(ids))
        for object_type, ids in group_ids(refs).items()
    ]
    return or_(*parts) if parts else false()


def _object_clause(session: Session, typed: str) -> Any:
    # Every term leads with object_type, so each one (and their OR) is read from ix_audit_events_object.
    needle = typed.strip()
    parts: list[Any] = [
        col(AuditEvent.object_type) == needle.lower(),
        and_(col(AuditEvent.object_type).in_(_distinct(session, "object_type")), col(AuditEvent.object_id) == needle),
    ]
    if ":" in needle:
        object_type, _, object_id = needle.partition(":")
        parts.append(
            and_(col(AuditEvent.object_type) == object_type.strip(), col(AuditEvent.object_id) == object_id.strip())
        )
    refs = find_refs(session, needle)
    if refs:
        parts.append(_refs_clause(refs))
    return or_(*parts)


def _payload_has(session: Session, needle: str) -> Any:
    """The payload's JSON text contains ``needle`` (lower case), literally and ignoring case."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE ignores ASCII case by itself (lower() too is ASCII-only there), without copying each
        # payload through a function: the free-text scan is the one that reads every row, so this matters.
        return type_coerce(col(AuditEvent.payload), String).contains(needle, autoescape=True)
    return func.lower(cast(col(AuditEvent.payload), String)).contains(needle, autoescape=True)


def _in_or_nothing(column: Any, values: list[str]) -> Any:
    return col(column).in_(values) if values else false()


def _where(session: Session, f: AuditFilter) -> list[Any]:
    clauses: list[Any] = []
    if f.actor:
        clauses.append(_in_or_nothing(AuditEvent.actor, matching_actors(session, f.actor)))
    if f.action:
        clauses.append(_in_or_nothing(AuditEvent.action, matching_actions(session, f.action)))
    if f.object_type:
        clauses.append(col(AuditEvent.object_type) == f.object_type)
    if f.object_id:
        clauses.append(col(AuditEvent.object_id) == f.object_id)
    if f.object:
        clauses.append(_object_clause(session, f.object))
    if f.q:
        needle = f.q.strip().lower()
        found: list[Any] = [_payload_has(session, needle)]
        actions = matching_actions(session, needle) if "," not in needle else []
        actors = matching_actors(session, needle)
        refs = find_refs(session, needle)
        if actions:
            found.append(col(AuditEvent.action).in_(actions))
        if actors:
            found.append(col(AuditEvent.actor).in_(actors))
        if refs:
            found.append(_refs_clause(refs))
        clauses.append(or_(*found))
    if f.project_id is not None:
        clauses.append(col(AuditEvent.project_id) == f.project_id)
    if f.since is not None:
        clauses.append(col(AuditEvent.ts) >= f.since)
    if f.until is not None:
        clauses.append(col(AuditEvent.ts) < f.until)
    return clauses


def list_events(session: Session, f: AuditFilter, *, offset: int = 0, limit: int = 100) -> list[AuditEvent]:
    """Events matching ``f``, oldest first (``offset`` rows skipped)."""
    stmt = select(AuditEvent).where(*_where(session, f)).order_by(col(AuditEvent.seq)).offset(offset).limit(limit)
    return list(session.exec(stmt))


def count_events(session: Session, f: AuditFilter) -> int:
    """How many events match ``f``. Unfiltered it is the chain head's seq (seqs start at 1 and have no gaps),
    read from the primary key; filtered it counts the matching rows (a scan of them: ask only when needed)."""
    if f.empty:
        return int(session.exec(select(func.coalesce(func.max(col(AuditEvent.seq)), 0))).one())
    stmt = select(func.count()).select_from(AuditEvent).where(*_where(session, f))
    return int(session.exec(stmt).one())


# -- keyset pages -------------------------------------------------------------------------------------------


def encode_cursor(side: Literal["after", "before"], seq: int) -> str:
    """A page cursor: the events after (or before) ``seq``. Clients pass it back as they got it."""
    return f"{side}:{seq}"


def decode_cursor(cursor: str) -> tuple[Literal["after", "before"], int]:
    """``(side, seq)`` of a cursor :func:`encode_cursor` made; ``ValueError`` with a one-line reason otherwise."""
    side, _, number = cursor.strip().partition(":")
    if side not in ("after", "before") or not number.isascii() or not number.isdigit() or len(number) > 18:
        raise ValueError("not a cursor of this API: pass next_cursor or prev_cursor of a page back as it came")
    return ("after" if side == "after" else "before"), int(number)


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events in ``order``; ``next_cursor`` continues in that order, ``prev_cursor`` goes back
    (each ``None`` when there is nothing that way)."""

    events: list[AuditEvent]
    order: Order
    next_cursor: str | None = None
    prev_cursor: str | None = None


#: Free text (``q``) is the one filter no index serves: a page of it reads at most this many events along
#: ``seq`` and, when it found fewer than a page there, says where to go on (``next_cursor``), so no request
#: scans a million payloads. A page may then hold fewer than ``limit`` events while more follow.
SCAN_WINDOW = 200_000


def page_events(
    session: Session,
    f: AuditFilter,
    *,
    order: Order = "asc",
    after_seq: int | None = None,
    before_seq: int | None = None,
    offset: int = 0,
    limit: int = 100,
    scan_window: int = SCAN_WINDOW,
) -> EventPage:
    """A page of the events matching ``f`` with ``after_seq < seq < before_seq`` (either bound optional), in
    ``order`` (``asc``: oldest first). The page starts at the bound its order starts from: ascending pages
    start just after ``after_seq``; given only ``before_seq``, they end just before it (the previous page).
    ``offset`` (0) rows are skipped first. Reads ``limit + 1`` rows along ``seq`` to know whether more
    follow: no count, so a page costs the same anywhere in a million events. With free text (``f.q``) a page
    reads at most ``scan_window`` seqs (see :data:`SCAN_WINDOW`)."""
    clauses = _where(session, f)
    if after_seq is not None:
        clauses.append(col(AuditEvent.seq) > after_seq)
    if before_seq is not None:
        clauses.append(col(AuditEvent.seq) < before_seq)
    # Scan forwards from after_seq, or backwards from before_seq: from whichever end the page starts at.
    if order == "asc":
        forwards = after_seq is not None or before_seq is None
    else:
        forwards = after_seq is not None and before_seq is None
    start = after_seq if forwards else before_seq
    edge = _window_edge(session, forwards, start, scan_window) if f.q and offset == 0 else None
    if edge is not None:
        clauses.append(col(AuditEvent.seq) <= edge if forwards else col(AuditEvent.seq) >= edge)
    key = col(AuditEvent.seq) if forwards else col(AuditEvent.seq).desc()
    stmt = select(AuditEvent).where(*clauses).order_by(key).offset(offset).limit(limit + 1)
    rows = list(session.exec(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    on: Literal["after", "before"] = "after" if forwards else "before"
    back: Literal["after", "before"] = "before" if forwards else "after"
    # Onwards in the scan's direction: past the last row read, or past the window when it ended the scan.
    onwards = encode_cursor(on, rows[-1].seq) if more else encode_cursor(on, edge) if edge is not None else None
    backwards = None
    if rows and (offset > 0 or start is not None):
        backwards = encode_cursor(back, rows[0].seq)
    elif start is not None:
        backwards = encode_cursor(back, start + 1 if forwards else start - 1)
    if (order == "asc") != forwards:
        rows.reverse()
        onwards, backwards = backwards, onwards
    return EventPage(events=rows, order=order, next_cursor=onwards, prev_cursor=backwards)


def _window_edge(session: Session, forwards: bool, start: int | None, window: int) -> int | None:
    """The last seq a bounded scan from ``start`` reads, or ``None`` when the window reaches the log's end."""
    head = int(session.exec(select(func.coalesce(func.max(col(AuditEvent.seq)), 0))).one())
    if forwards:
        edge = (start or 0) + window
        return edge if edge < head else None
    edge = (start if start is not None else head + 1) - window
    return edge if edge > 1 else None
