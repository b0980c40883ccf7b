"""Every audit column a person reads is covered: a database writer who edits one is named by seq."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from lineage.audit.chain import append_event
from lineage.audit.query import AuditFilter, list_events
from lineage.audit.verify import verify_database
from tests.tamper import tamper


def _chain(engine: Engine, n: int = 5) -> None:
    with Session(engine) as s:
        for i in range(n):
            append_event(
                s,
                actor="alice",
                action="thing.do",
                object_type="thing",
                object_id=i,
                project_id=1,
                request_id=f"req-{i}",
                payload={"i": i, "ok": True, "nested": {"x": 0.5}},
            )
        s.commit()


# Each statement edits one column of event 3 only; every one must be named by verify.
TAMPERS: list[tuple[str, str, dict[str, Any]]] = [
    ("actor", "UPDATE audit_events SET actor = :v WHERE seq = 3", {"v": "mallory"}),
    ("action", "UPDATE audit_events SET action = :v WHERE seq = 3", {"v": "thing.undo"}),
    ("object_type", "UPDATE audit_events SET object_type = :v WHERE seq = 3", {"v": "other"}),
    ("object_id", "UPDATE audit_events SET object_id = :v WHERE seq = 3", {"v": "99"}),
    ("project_id", "UPDATE audit_events SET project_id = :v WHERE seq = 3", {"v": 2}),
    ("project_id", "UPDATE audit_events SET project_id = NULL WHERE seq = 3", {}),
    ("request_id", "UPDATE audit_events SET request_id = :v WHERE seq = 3", {"v": "req-x"}),
    ("request_id", "UPDATE audit_events SET request_id = NULL WHERE seq = 3", {}),
    ("ts", "UPDATE audit_events SET ts = ts + INTERVAL '1 second' WHERE seq = 3", {}),
    ("payload", "UPDATE audit_events SET payload = :v WHERE seq = 3", {"v": '{"i": 2, "ok": false}'}),
    ("payload", "UPDATE audit_events SET payload = :v WHERE seq = 3", {"v": '{"i": 2, "ok": 1, "nested": {"x": 0.5}}'}),
    ("payload", "UPDATE audit_events SET payload = :v WHERE seq = 3", {"v": "null"}),
    ("hash", "UPDATE audit_events SET hash = :v WHERE seq = 3", {"v": "f" * 64}),
    ("prev_hash", "UPDATE audit_events SET prev_hash = :v WHERE seq = 3", {"v": "0" * 64}),
    ("canonical", "UPDATE audit_events SET canonical = :v WHERE seq = 3", {"v": b"{}"}),
]


@pytest.mark.parametrize(("column", "sql", "params"), TAMPERS, ids=[f"{t[0]}-{i}" for i, t in enumerate(TAMPERS)])
def test_a_single_column_edit_is_named(engine: Engine, column: str, sql: str, params: dict[str, Any]) -> None:
    _chain(engine)
    if column == "ts" and engine.dialect.name == "sqlite":
        sql = "UPDATE audit_events SET ts = '2020-01-01 00:00:00.000000' WHERE seq = 3"
    assert tamper(engine, sql, **params) == 1
    with Session(engine) as s:
        result = verify_database(s)
    assert not result.ok, f"an edit of {column} went unnoticed"
    assert result.broken_seq == 3
    if column in {"hash", "prev_hash", "canonical"}:
        assert result.kind in {"edited", "inserted"}
    else:
        assert result.kind == "column"
        assert column in result.reason or "payload" in result.reason
    assert result.events == 2


def test_what_readers_see_is_what_verify_checks(engine: Engine) -> None:
    # The reader (audit log, API, dashboard, reports) reads the columns: the tampered value shows, and
    # verify names exactly that row and column.
    _chain(engine)
    tamper(engine, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
    with Session(engine) as s:
        shown = {e.seq: e.actor for e in list_events(s, AuditFilter(), limit=10)}
        result = verify_database(s)
    assert shown[1] == "mallory"
    assert (result.ok, result.broken_seq, result.kind) == (False, 1, "column")
    assert "'mallory'" in result.reason and "'alice'" in result.reason


def test_untampered_chain_with_every_column_verifies(engine: Engine) -> None:
    _chain(engine, 20)
    with Session(engine) as s:
        result = verify_database(s)
    assert result.ok and result.events == 20


def test_payload_numbers_beyond_64_bits_are_compared_exactly(engine: Engine) -> None:
    with Session(engine) as s:
        append_event(s, actor="a", action="x.y", object_type="t", object_id=1, payload={"big": 2**70})
        s.commit()
    with Session(engine) as s:
        assert verify_database(s).ok
    # 2**70 + 1 reads as the same float: a parser that rounds would miss this edit.
    tamper(engine, "UPDATE audit_events SET payload = :v WHERE seq = 1", v='{"big": 1180591620717411303425}')
    with Session(engine) as s:
        result = verify_database(s)
    assert (result.ok, result.kind) == (False, "column")


def test_fresh_events_take_the_byte_exact_path(engine: Engine) -> None:
    # Every event the service writes is proven by the database rebuilding its bytes from its columns (no
    # parsing); an odd but honest value (a quote, a line separator) goes the parsing way and still agrees.
    from lineage.audit.verify import _db_rows, column_mismatch

    _chain(engine, 3)
    with Session(engine) as s:
        append_event(s, actor='o"brien\u2028', action="x.y", object_type="t", object_id="1", payload={"k": "\\"})
        s.commit()
        raw = s.connection().connection.dbapi_connection
        rows = list(_db_rows(raw))
    assert [len(r) for r in rows] == [4, 4, 4, 6]  # columns fetched only for the one that did not rebuild
    assert column_mismatch(rows[3][3], rows[3][5]) is None
    with Session(engine) as s:
        assert verify_database(s).ok


def test_the_parallel_path_checks_columns_too(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two processes over ranges of the chain (the path 1M-event chains take): same verdicts, both drivers.
    import lineage.audit.verify as av

    monkeypatch.setattr(av, "_PARALLEL_MIN_EVENTS", 0)
    _chain(engine, 8)
    with Session(engine) as s:
        assert verify_database(s, workers=2).ok
    tamper(engine, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 7")
    with Session(engine) as s:
        result = verify_database(s, workers=2)
    assert (result.ok, result.broken_seq, result.kind) == (False, 7, "column")
