"""The hash-chained, append-only audit log: append, verify (database or exported file), export.

Each event's canonical bytes are ``canonical_json`` (``lineage.hashing``) of
``{seq, ts, actor, action, object_type, object_id, project_id, request_id, payload}`` and are stored
as they were hashed, so verification re-hashes bytes and never re-serialises:

    hash = SHA-256( b"labelgate.audit.v1\\x00" || bytes.fromhex(prev_hash) || canonical )

The first event's ``prev_hash`` is 64 zeros. ``seq`` is inside the hashed bytes, so moving an event
to another position is detected even when its hash is intact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import insert, text
from sqlmodel import Session, col, select

from lineage.audit.rowdigest import record_of
from lineage.context import Actor
from lineage.hashing import canonical_json, digest_bytes
from lineage.models import AuditEvent
from lineage.models._base import utcnow

__all__ = [
    "DOMAIN",
    "GENESIS_HASH",
    "ChainHead",
    "append_event",
    "appended",
    "canonical_bytes",
    "chain_head",
    "event_hash",
    "export_events",
    "next_seq",
    "record_event",
]

DOMAIN = b"labelgate.audit.v1\x00"
GENESIS_HASH = "0" * 64
# Key of the PostgreSQL transaction-level advisory lock that serialises appends.
_PG_LOCK_KEY = 0x6C6162656C676174  # "labelgat"
_HEAD_CACHE = "labelgate.audit.head"


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    hash: str


def canonical_bytes(
    *,
    seq: int,
    ts: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    project_id: int | None,
    request_id: str | None,
    payload: dict[str, Any],
) -> bytes:
    """The bytes an event is hashed as. ``payload`` must be plain JSON (``append_event`` makes it so);
    NaN and ±Infinity are refused (``ValueError``), as PostgreSQL's JSON column refuses them."""
    body = {
        "seq": seq,
        "ts": ts.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "project_id": project_id,
        "request_id": request_id,
        "payload": payload,
    }
    return canonical_json(body)


def event_hash(prev_hash: str, canonical: bytes) -> str:
    return digest_bytes(DOMAIN, bytes.fromhex(prev_hash) + canonical)


def chain_head(session: Session) -> ChainHead | None:
    row = session.exec(select(AuditEvent.seq, AuditEvent.hash).order_by(col(AuditEvent.seq).desc())).first()
    return None if row is None else ChainHead(seq=row[0], hash=row[1])


def append_event(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    payload: dict[str, Any] | None = None,
    project_id: int | None = None,
    request_id: str | None = None,
    rows: Sequence[Any] = (),
    expect_seq: int | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change).

    ``rows``: append-only domain rows this event creates (flushed, so they have ids); their content
    digests are recorded in the payload as ``records`` so a deep verify can prove them unchanged.
    ``expect_seq``: the seq ``next_seq`` reserved for this event (rows written before it carry it).

    On PostgreSQL a transaction-level advisory lock serialises appenders until commit, so concurrent
    writers never read the same head; on SQLite the engine's ``BEGIN IMMEDIATE`` does the same.
    """
    conn = session.connection()
    tx = session.get_transaction()
    head = _locked_head(session)
    seq = 1 if head is None else head.seq + 1
    if expect_seq is not None and seq != expect_seq:
        raise RuntimeError(f"audit seq {expect_seq} was reserved but the next event is {seq}")
    prev = GENESIS_HASH if head is None else head.hash
    if rows:
        payload = {**(payload or {}), "records": [record_of(r) for r in rows]}
    fields: dict[str, Any] = {
        "seq": seq,
        "ts": utcnow(),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "project_id": project_id,
        "request_id": request_id,
        "payload": _jsonable(payload or {}),
    }
    canonical = canonical_bytes(**fields)
    digest = event_hash(prev, canonical)
    # Core insert: an ORM flush per event costs more than the hashing and the row together.
    conn.execute(insert(AuditEvent).values(**fields, prev_hash=prev, hash=digest, canonical=canonical))
    session.info[_HEAD_CACHE] = (tx, ChainHead(seq=seq, hash=digest))
    return AuditEvent(**fields, prev_hash=prev, hash=digest, canonical=canonical)


def record_event(
    session: Session,
    actor: Actor,
    action: str,
    subject: tuple[str, str | int],
    *,
    project_id: int | None = None,
    payload: dict[str, Any] | None = None,
    rows: Sequence[Any] = (),
    expect_seq: int | None = None,
) -> AuditEvent:
    """Record ``action`` on ``subject`` (``(object_type, object_id)``) by ``actor`` in the caller's
    transaction: the one way the record's functions audit a change (the actor's name and request id come
    from ``actor``; ``rows`` and ``expect_seq`` as in :func:`append_event`)."""
    object_type, object_id = subject
    return append_event(
        session,
        actor=actor.username,
        action=action,
        object_type=object_type,
        object_id=object_id,
        payload=payload,
        project_id=project_id,
        request_id=actor.request_id,
        rows=rows,
        expect_seq=expect_seq,
    )


def _locked_head(session: Session) -> ChainHead | None:
    """The chain head, read under the append lock (taken once per transaction and held until its end)."""
    conn = session.connection()  # begins the transaction if none is open
    tx = session.get_transaction()
    cached = session.info.get(_HEAD_CACHE)
    if cached is not None and cached[0] is tx:
        # Same transaction as the previous append: the lock is still held, the head cannot have moved.
        head: ChainHead | None = cached[1]
        return head
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    head = chain_head(session)
    session.info[_HEAD_CACHE] = (tx, head)
    return head


def appended(session: Session) -> bool:
    """Whether ``session`` appended (or reserved) an audit event in any of its transactions."""
    return _HEAD_CACHE in session.info


def next_seq(session: Session) -> int:
    """Reserve the seq of the next event appended in this transaction (the append lock is taken now and
    held to the end of it), so rows written before their event can carry it (``audit_seq``)."""
    head = _locked_head(session)
    return 1 if head is None else head.seq + 1


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    # Round-trip once so the stored payload column equals what was hashed. Payloads alone may hold dates
    # (they become ``str(date)``): canonical_json itself refuses every value that is not JSON.
    result: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return result


def export_events(session: Session, out: IO[str], *, since_seq: int = 1) -> int:
    """Write events as JSON Lines (one event per line, with its canonical bytes); returns the count."""
    conn = session.connection()
    # Streaming is the statement's option, not the connection's: set on the connection it would stay on it,
    # and the session's next INSERT would run through a server-side cursor (a syntax error on PostgreSQL).
    stmt = text("SELECT seq, prev_hash, hash, canonical FROM audit_events WHERE seq >= :s ORDER BY seq")
    result = conn.execute(stmt.execution_options(stream_results=True, yield_per=20_000), {"s": since_seq})
    n = 0
    for seq, prev_hash, stored_hash, canonical in result:
        raw = bytes(canonical).decode()
        out.write(f'{{"seq":{seq},"prev_hash":"{prev_hash}","hash":"{stored_hash}","event":{raw}}}\n')
        n += 1
    return n
