"""An attacker with write access to the database: drop the append-only triggers, then edit rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

__all__ = ["disable_triggers", "tamper"]


def disable_triggers(engine: Engine) -> None:
    """Remove every protection a database writer can remove (triggers on all tables)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars()
            for table in list(tables):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            return
        names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
        for name in list(names):
            conn.execute(text(f"DROP TRIGGER {name}"))


def tamper(engine: Engine, sql: str, **params: Any) -> int:
    """Run one statement with the triggers gone; returns the rows it touched."""
    disable_triggers(engine)
    with engine.begin() as conn:
        return int(conn.execute(text(sql), params).rowcount)


def rewrite_chain(engine: Engine, *, from_seq: int, actor: str = "mallory", drop_after: int | None = None) -> None:
    """Rewrite every event from ``from_seq`` on with a new actor and fresh, correct hashes (columns
    included), optionally dropping the events after ``drop_after``: a chain a verifier without any
    witness cannot tell from the real one."""
    from lineage.audit.chain import GENESIS_HASH, canonical_bytes, event_hash

    disable_triggers(engine)
    with engine.begin() as conn:
        if drop_after is not None:
            conn.execute(text("DELETE FROM audit_events WHERE seq > :s"), {"s": drop_after})
        prev = (
            conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": from_seq - 1}).scalar()
            or GENESIS_HASH
        )
        rows = conn.execute(
            text("SELECT seq, canonical FROM audit_events WHERE seq >= :s ORDER BY seq"), {"s": from_seq}
        ).all()
        for seq, canonical in rows:
            import json
            from datetime import datetime

            body = json.loads(bytes(canonical))
            body["actor"] = actor
            body["ts"] = datetime.fromisoformat(body["ts"])
            new = canonical_bytes(**body)
            digest = event_hash(prev, new)
            # Unique hashes: clear the old one first so the new chain can reuse none of them.
            conn.execute(
                text("UPDATE audit_events SET actor = :a, canonical = :c, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"a": actor, "c": new, "p": prev, "h": digest, "s": seq},
            )
            prev = digest


def append_forged(engine: Engine, *, actor: str = "mallory", action: str = "release.create") -> int:
    """Append one correctly hashed event at the head, as a database writer can; returns its seq."""
    from sqlmodel import Session

    from lineage.audit.chain import append_event

    with Session(engine) as s:
        event = append_event(s, actor=actor, action=action, object_type="thing", object_id=1)
        s.commit()
    return event.seq


def tamper_unchecked(engine: Engine, sql: str, **params: Any) -> int:
    """``tamper`` with foreign keys unchecked too (a row others point at can then be deleted)."""
    disable_triggers(engine)
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("PRAGMA foreign_keys = OFF")  # outside any transaction, or SQLite ignores it
            cur.execute(sql, params)  # sqlite3 takes :name parameters as they are
            n = cur.rowcount
            raw.commit()
            return int(n)
        finally:
            raw.close()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        return int(conn.execute(text(sql), params).rowcount)
