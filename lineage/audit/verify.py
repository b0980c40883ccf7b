"""Verifying the audit chain: from the database (optionally in parallel) or from an exported file.

Every event is checked on its own — its stored hash must equal ``SHA-256(DOMAIN || prev_hash ||
canonical)`` and the ``seq`` inside its hashed bytes must be its position — and against its
predecessor: ``prev_hash`` must be the previous event's hash and ``seq`` must follow without a gap.
Since each check needs only an event and its predecessor, the chain splits into ranges verified by
separate processes; the parent then checks the links across range boundaries.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import text
from sqlmodel import Session

from lineage.audit.chain import DOMAIN, GENESIS_HASH, ChainHead
from lineage.audit.rowdigest import loads_exact

__all__ = ["AuditFileError", "BreakKind", "VerifyResult", "verify_database", "verify_file", "verify_rows"]

BreakKind = Literal["edited", "deleted", "reordered", "inserted", "column", "rewritten", "truncated"]
# (seq, prev_hash, hash, canonical) and, from the database, the readable columns in ``COLUMNS`` order.
Row = tuple[Any, ...]
# The columns people read (``audit log``, the API, the dashboard, the reports): each must equal the
# hashed event's field, or the row is reported as ``column`` tampering.
COLUMNS = ("ts", "actor", "action", "object_type", "object_id", "project_id", "request_id", "payload")

# Below this many events a second process costs more than it saves.
_PARALLEL_MIN_EVENTS = 200_000


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` with the number of events checked, or the first broken ``seq`` and why."""

    ok: bool
    events: int
    head: ChainHead | None
    broken_seq: int | None = None
    kind: BreakKind | None = None
    reason: str = ""


class AuditFileError(ValueError):
    """An export file that cannot be read as audit events (names the line)."""


def _embedded_seq(canonical: bytes) -> int | None:
    # Keys are sorted: the top-level "seq" follows "payload" and only "ts" (a timestamp) comes after
    # it, so its last occurrence is the top-level one.
    try:
        tail = canonical[canonical.rindex(b'"seq":') + 6 :]
        return int(tail[: tail.index(b",")])
    except ValueError:
        return None


def _loads(raw: bytes | str) -> Any:
    return loads_exact(raw)


def _same_json(a: Any, b: Any) -> bool:
    # Compared as canonical text, so that 1, 1.0 and true (equal in Python) stay different.
    try:
        return bool(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def column_mismatch(canonical: bytes, columns: tuple[Any, ...]) -> str | None:
    """The first readable column that differs from the hashed event, described; ``None`` when all agree.

    ``columns`` are raw driver values in ``COLUMNS`` order: timestamps as SQLite text or PostgreSQL
    datetimes, the payload as JSON text (SQLite) or parsed (PostgreSQL)."""
    try:
        event = _loads(canonical)
    except ValueError:
        return "its hashed bytes are not JSON"
    ts, actor, action, object_type, object_id, project_id, request_id, payload = columns
    if isinstance(ts, str):
        # SQLAlchemy's SQLite form (naive UTC, a space); any other spelling of the same instant also agrees.
        same_ts = ts.replace(" ", "T", 1) + "+00:00" == event["ts"] or _same_instant(ts, event["ts"])
    else:
        same_ts = ts is not None and ts.astimezone(UTC).isoformat(timespec="microseconds") == event["ts"]
    if not same_ts:
        return _differs("ts", ts, event["ts"])
    for name, value in (("actor", actor), ("action", action), ("object_type", object_type), ("object_id", object_id)):
        if value != event[name]:
            return _differs(name, value, event[name])
    if project_id != event["project_id"] or type(project_id) is not type(event["project_id"]):
        return _differs("project_id", project_id, event["project_id"])
    if request_id != event["request_id"]:
        return _differs("request_id", request_id, event["request_id"])
    try:
        parsed = _loads(payload) if isinstance(payload, str | bytes) else payload
    except ValueError:
        return "its payload column is not JSON"
    if not _same_json(parsed, event["payload"]):
        return "its payload column differs from the hashed event's payload"
    return None


def _same_instant(column: str, hashed: str) -> bool:
    try:
        a, b = datetime.fromisoformat(column), datetime.fromisoformat(hashed)
    except ValueError:
        return False
    return (a if a.tzinfo else a.replace(tzinfo=UTC)) == b


def _differs(name: str, column: Any, hashed: Any) -> str:
    def short(v: Any) -> str:
        text = repr(v)
        return text if len(text) <= 60 else text[:57] + "..."

    return f"its {name} column reads {short(column)} but the hashed event says {short(hashed)}"


@dataclass(frozen=True, slots=True)
class _Segment:
    """The result of verifying one contiguous range: its first link and its last hash."""

    result: VerifyResult
    first_prev_hash: str | None
    last_hash: str


def _verify_segment(
    rows: Iterable[Row],
    *,
    start_seq: int,
    start_hash: str | None,
    deep: bool,
    anchors: dict[int, str] | None = None,
) -> _Segment:
    """Verify rows expected to start at ``start_seq``. ``start_hash`` None: trust the first link
    (the caller checks it against the previous segment). ``anchors`` (seq → hash, from signed
    checkpoints or the command line): the stored hash at each anchored seq must be the anchored one."""
    anchors = anchors or {}
    expected_seq = start_seq
    last_hash = start_hash
    before_last = None
    last_digest = bytes.fromhex(start_hash) if start_hash else b""
    first_prev: str | None = None
    count = 0
    sha256 = hashlib.sha256

    def broken(seq: int, kind: BreakKind, reason: str) -> _Segment:
        head = ChainHead(seq=expected_seq - 1, hash=last_hash) if count and last_hash else None
        r = VerifyResult(ok=False, events=count, head=head, broken_seq=seq, kind=kind, reason=reason)
        return _Segment(r, first_prev, last_hash or "")

    for row in rows:
        seq, prev_hash, stored_hash, canonical = row[0], row[1], row[2], row[3]
        if count == 0:
            first_prev = prev_hash
            if last_hash is None:
                last_hash = prev_hash
                try:
                    last_digest = bytes.fromhex(prev_hash)
                except (ValueError, TypeError):
                    return broken(seq, "edited", "its prev_hash is not a SHA-256 hex digest")
        try:
            prev_bytes = last_digest if prev_hash == last_hash else bytes.fromhex(prev_hash)
            digest = sha256(DOMAIN + prev_bytes + canonical).digest()
        except (ValueError, TypeError):  # not hex, or canonical that is not bytes
            return broken(seq, "edited", "its stored fields are not a hash chain entry")
        if digest.hex() != stored_hash:
            return broken(seq, "edited", "its content does not match its hash")
        if deep and _embedded_seq(canonical) != seq:
            where = _embedded_seq(canonical)
            return broken(seq, "reordered", f"it was hashed as event {where} but stands at position {seq}")
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
            return broken(expected_seq, "deleted", f"event(s) {missing} missing")
        if seq < expected_seq:
            return broken(seq, "inserted", f"a second event {seq} appears after event {expected_seq - 1}")
        if prev_hash != last_hash:
            if prev_hash == before_last:
                return broken(seq, "inserted", f"it links to event {seq - 2}: event {seq - 1} was inserted")
            return broken(seq, "edited", "its prev_hash does not match the previous event's hash")
        if len(row) > 5:
            problem = column_mismatch(canonical, row[5])
            if problem:
                return broken(seq, "column", problem)
        if anchors and seq in anchors and anchors[seq] != stored_hash:
            return broken(
                seq,
                "rewritten",
                f"its hash differs from the witness of seq {seq}: the chain was rewritten at or before it",
            )
        before_last, last_hash, last_digest = last_hash, stored_hash, digest
        expected_seq += 1
        count += 1
    head = ChainHead(seq=expected_seq - 1, hash=last_hash) if count and last_hash else None
    return _Segment(VerifyResult(ok=True, events=count, head=head), first_prev, last_hash or "")


def verify_rows(rows: Iterable[Row], *, deep: bool = True, anchors: dict[int, str] | None = None) -> VerifyResult:
    """Check ``(seq, prev_hash, hash, canonical[, columns])`` rows given in storage order, from the genesis.

    ``deep`` also checks the ``seq`` inside the hashed bytes (detects an event moved to another
    position with its hash intact). ``anchors``: see ``_verify_segment``; a chain that ends before an
    anchored seq is reported as ``truncated``.
    """
    result = _verify_segment(rows, start_seq=1, start_hash=GENESIS_HASH, deep=deep, anchors=anchors).result
    return _check_truncation(result, anchors)


def _check_truncation(result: VerifyResult, anchors: dict[int, str] | None) -> VerifyResult:
    if not result.ok or not anchors:
        return result
    end = result.head.seq if result.head else 0
    beyond = [s for s in anchors if s > end]
    if not beyond:
        return result
    return replace(
        result,
        ok=False,
        broken_seq=end + 1,
        kind="truncated",
        reason=f"the chain ends at seq {end} but a signed checkpoint covers seq {max(beyond)}: events were deleted",
    )


# The readable columns rebuilt into the event's canonical bytes by the database itself (string work in C,
# no parsing in Python) and compared with the hashed bytes: 1 when equal. This holds for every event
# written since JSON columns are stored canonically (``lineage.db.column_json``); an older row, another
# spelling or a tampered column gives 0 and goes to ``column_mismatch``. Sound because a string column
# goes in only when it holds no quote and no backslash (so no field can end early or late: the hashed
# bytes' own strings are JSON-escaped), the integers are rendered, and the payload is bounded by them.
_STRINGS = "ts || actor || action || object_type || object_id || coalesce(request_id, '') || coalesce(project_id, '')"
_SQLITE_AGREE = f"""instr({_STRINGS}, '"') = 0 AND instr({_STRINGS}, '\\') = 0
  AND canonical = CAST('{{"action":"' || action || '","actor":"' || actor || '","object_id":"' || object_id
  || '","object_type":"' || object_type || '","payload":' || payload || ',"project_id":'
  || coalesce(project_id, 'null') || ',"request_id":' || coalesce('"' || request_id || '"', 'null')
  || ',"seq":' || seq || ',"ts":"'
  || CASE WHEN length(ts) = 26 AND substr(ts, 11, 1) = ' '
     THEN substr(ts, 1, 10) || 'T' || substr(ts, 12) || '+00:00' ELSE ts END
  || '"}}' AS BLOB)"""
_PG_TS = "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
_PG_STRINGS = "actor || action || object_type || object_id || coalesce(request_id, '')"  # project_id: integer
_PG_AGREE = f"""strpos({_PG_STRINGS}, '"') = 0 AND strpos({_PG_STRINGS}, '\\') = 0
  AND canonical = convert_to('{{"action":"' || action || '","actor":"' || actor || '","object_id":"'
  || object_id || '","object_type":"' || object_type || '","payload":' || CAST(payload AS TEXT)
  || ',"project_id":' || coalesce(CAST(project_id AS TEXT), 'null') || ',"request_id":'
  || coalesce('"' || request_id || '"', 'null') || ',"seq":' || CAST(seq AS TEXT) || ',"ts":"' || {_PG_TS}
  || '"}}', 'UTF8')"""
_SELECT = "SELECT seq, prev_hash, hash, canonical FROM audit_events"
# Only the events whose columns do not rebuild their bytes: checked one by one in Python.
_DISAGREE = "SELECT seq FROM audit_events WHERE NOT coalesce({agree}, {false}){where}"
# The slow path: the columns themselves, for the rows whose rebuilt bytes differ.
_COLUMNS_SQL = {
    "sqlite": f"SELECT {', '.join(COLUMNS)} FROM audit_events WHERE seq = ?",
    "postgresql": f"SELECT {_PG_TS}, actor, action, object_type, object_id, project_id, request_id, "
    "CAST(payload AS TEXT) FROM audit_events WHERE seq = %s",
}


def _db_rows(conn: object, lo: int | None = None, hi: int | None = None) -> Iterator[Row]:
    """``(seq, prev_hash, hash, canonical)`` per event, with its columns appended (``(..., columns)``)
    for the events whose columns the database could not rebuild into their hashed bytes."""
    driver = getattr(conn, "dbapi_connection", None) or conn  # a pool's proxy, or the driver's connection
    dialect = "postgresql" if type(driver).__module__.startswith("psycopg") else "sqlite"
    # Both drivers accept this paramstyle through SQLAlchemy's raw connection only if we format it.
    where = "" if lo is None else f" AND seq BETWEEN {int(lo)} AND {int(hi or 0)}"
    cur = conn.cursor()  # type: ignore[attr-defined]
    agree = _PG_AGREE if dialect == "postgresql" else _SQLITE_AGREE
    cur.execute(_DISAGREE.format(agree=agree, false="false" if dialect == "postgresql" else "0", where=where))
    disagree = {int(r[0]) for r in cur.fetchall()}
    cur.execute(f"{_SELECT}{' WHERE ' + where[5:] if where else ''} ORDER BY seq")
    other = conn.cursor()  # type: ignore[attr-defined]
    while batch := cur.fetchmany(50_000):
        for row in batch:
            if type(row[3]) is bytes and row[0] not in disagree:
                yield row
                continue
            # A row edited behind the triggers' back may hold text (or a memoryview) where bytes were stored.
            canonical = (
                row[3] if type(row[3]) is bytes else (row[3].encode() if isinstance(row[3], str) else bytes(row[3]))
            )
            other.execute(_COLUMNS_SQL[dialect], (row[0],))
            columns = other.fetchone()
            yield (*row[:3], canonical, False, tuple(columns) if columns else (None,) * len(COLUMNS))
    other.close()
    cur.close()


def _segment_worker(url: str, lo: int, hi: int, deep: bool, anchors: dict[int, str]) -> _Segment:
    from lineage.db import make_engine

    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        return _verify_segment(_db_rows(raw, lo, hi), start_seq=lo, start_hash=None, deep=deep, anchors=anchors)
    finally:
        raw.close()
        engine.dispose()


def verify_database(
    session: Session, *, workers: int = 1, deep: bool = True, anchors: dict[int, str] | None = None
) -> VerifyResult:
    """Verify the whole chain as stored, every readable column included. ``workers`` > 1 splits long
    chains across processes (fork); use it from a command line, not from inside a threaded server.
    ``anchors`` (seq → hash): hashes the chain must hold (signed checkpoints, a command-line anchor)."""
    anchors = dict(anchors or {})
    conn = session.connection()
    n_max = conn.execute(text("SELECT max(seq) FROM audit_events")).scalar() or 0
    workers = max(1, min(workers, os.cpu_count() or 1))
    if workers == 1 or n_max < _PARALLEL_MIN_EVENTS:
        raw = conn.connection.dbapi_connection
        seg = _verify_segment(_db_rows(raw), start_seq=1, start_hash=GENESIS_HASH, deep=deep, anchors=anchors)
        return _check_truncation(seg.result, anchors)
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    bounds = [(1 + i * n_max // workers, (i + 1) * n_max // workers) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        segments = list(
            pool.map(
                _segment_worker,
                [url] * workers,
                *zip(*bounds, strict=True),
                [deep] * workers,
                [anchors] * workers,
            )
        )
    return _check_truncation(_join(segments, bounds), anchors)


def _join(segments: list[_Segment], bounds: list[tuple[int, int]]) -> VerifyResult:
    events = 0
    prev_last = GENESIS_HASH
    head: ChainHead | None = None
    for (lo, _hi), seg in zip(bounds, segments, strict=True):
        r = seg.result
        if seg.first_prev_hash is not None and seg.first_prev_hash != prev_last:
            return VerifyResult(
                ok=False,
                events=events,
                head=head,
                broken_seq=lo,
                kind="edited",
                reason="its prev_hash does not match the previous event's hash",
            )
        if not r.ok:
            return replace(r, events=events + r.events, head=r.head or head)
        if r.events == 0:  # a whole range missing
            return VerifyResult(
                ok=False, events=events, head=head, broken_seq=lo, kind="deleted", reason=f"event(s) {lo}.. missing"
            )
        events += r.events
        head = r.head
        prev_last = seg.last_hash
    return VerifyResult(ok=True, events=events, head=head)


def verify_file(path: Path, *, anchors: dict[int, str] | None = None) -> VerifyResult:
    """Verify an export offline. The hashed bytes are recovered exactly from each line's ``event``; an
    export has no separate columns (readers of an export read the hashed event itself)."""

    def rows() -> Iterator[Row]:
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    yield _parse_export_line(line, lineno)

    return verify_rows(rows(), anchors=anchors)


_EVENT_KEY = b',"event":'


def _parse_export_line(line: bytes, lineno: int) -> Row:
    # Lines are written by ``export_events`` with a fixed layout; recovering the event's bytes by
    # slicing (not by parsing and re-dumping) keeps them byte-identical to what was hashed.
    try:
        marker = line.index(_EVENT_KEY)
        head = json.loads(line[:marker] + b"}")
        canonical = line[marker + len(_EVENT_KEY) :].rstrip(b"\r\n")
        if not canonical.endswith(b"}"):
            raise ValueError("the line does not end with the event object")
        return int(head["seq"]), str(head["prev_hash"]), str(head["hash"]), canonical[:-1]
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditFileError(f"line {lineno}: not an audit export line ({exc})") from exc
