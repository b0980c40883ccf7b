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
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlmodel import Session

from lineage.audit import DOMAIN, GENESIS_HASH, ChainHead

__all__ = ["AuditFileError", "BreakKind", "VerifyResult", "verify_database", "verify_file", "verify_rows"]

BreakKind = Literal["edited", "deleted", "reordered", "inserted"]
Row = tuple[int, str, str, bytes]

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


@dataclass(frozen=True, slots=True)
class _Segment:
    """The result of verifying one contiguous range: its first link and its last hash."""

    result: VerifyResult
    first_prev_hash: str | None
    last_hash: str


def _verify_segment(rows: Iterable[Row], *, start_seq: int, start_hash: str | None, deep: bool) -> _Segment:
    """Verify rows expected to start at ``start_seq``. ``start_hash`` None: trust the first link
    (the caller checks it against the previous segment)."""
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

    for seq, prev_hash, stored_hash, canonical in rows:
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
        before_last, last_hash, last_digest = last_hash, stored_hash, digest
        expected_seq += 1
        count += 1
    head = ChainHead(seq=expected_seq - 1, hash=last_hash) if count and last_hash else None
    return _Segment(VerifyResult(ok=True, events=count, head=head), first_prev, last_hash or "")


def verify_rows(rows: Iterable[Row], *, deep: bool = True) -> VerifyResult:
    """Check ``(seq, prev_hash, hash, canonical)`` rows given in storage order, from the genesis.

    ``deep`` also checks the ``seq`` inside the hashed bytes (detects an event moved to another
    position with its hash intact).
    """
    return _verify_segment(rows, start_seq=1, start_hash=GENESIS_HASH, deep=deep).result


_SELECT = "SELECT seq, prev_hash, hash, canonical FROM audit_events"


def _db_rows(conn: object, lo: int | None = None, hi: int | None = None) -> Iterator[Row]:
    cur = conn.cursor()  # type: ignore[attr-defined]
    if lo is None:
        cur.execute(f"{_SELECT} ORDER BY seq")
    else:
        # Both drivers accept this paramstyle through SQLAlchemy's raw connection only if we format it.
        cur.execute(f"{_SELECT} WHERE seq BETWEEN {int(lo)} AND {int(hi or 0)} ORDER BY seq")
    while batch := cur.fetchmany(50_000):
        for seq, prev_hash, stored_hash, canonical in batch:
            # A row edited behind the triggers' back may hold text where bytes were stored.
            yield seq, prev_hash, stored_hash, canonical.encode() if isinstance(canonical, str) else bytes(canonical)
    cur.close()


def _segment_worker(url: str, lo: int, hi: int, deep: bool) -> _Segment:
    from lineage.db import make_engine

    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        return _verify_segment(_db_rows(raw, lo, hi), start_seq=lo, start_hash=None, deep=deep)
    finally:
        raw.close()
        engine.dispose()


def verify_database(session: Session, *, workers: int = 1, deep: bool = True) -> VerifyResult:
    """Verify the whole chain as stored. ``workers`` > 1 splits long chains across processes (fork);
    use it from a command line, not from inside a threaded server."""
    conn = session.connection()
    n_max = conn.execute(text("SELECT max(seq) FROM audit_events")).scalar() or 0
    workers = max(1, min(workers, os.cpu_count() or 1))
    if workers == 1 or n_max < _PARALLEL_MIN_EVENTS:
        raw = conn.connection.dbapi_connection
        return _verify_segment(_db_rows(raw), start_seq=1, start_hash=GENESIS_HASH, deep=deep).result
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    bounds = [(1 + i * n_max // workers, (i + 1) * n_max // workers) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        segments = list(pool.map(_segment_worker, [url] * workers, *zip(*bounds, strict=True), [deep] * workers))
    return _join(segments, bounds)


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


def verify_file(path: Path) -> VerifyResult:
    """Verify an export offline. The hashed bytes are recovered exactly from each line's ``event``."""

    def rows() -> Iterator[Row]:
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    yield _parse_export_line(line, lineno)

    return verify_rows(rows())


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
