"""Engine and session construction for SQLite and PostgreSQL. Nothing is built at import time."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from lineage.hashing import canonical_json_nonfinite

__all__ = ["column_json", "column_value", "is_postgres", "is_sqlite", "make_engine", "session_scope"]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``.

    SQLite gets WAL, foreign keys, a 30 s busy timeout and ``BEGIN IMMEDIATE`` transactions: a writer
    takes the write lock when its transaction starts, so two writers can never both read the audit
    chain's head and fork it (PostgreSQL serialises appends with an advisory lock instead).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool,
            json_serializer=column_json,
            json_deserializer=column_value,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        json_serializer=column_json,
        json_deserializer=column_value,
        # As many connections as the API's thread pool has threads (anyio's 40): a request thread never waits
        # for a connection that only another request's exit (which needs a thread) would give back. Two API
        # workers hold at most 80 of PostgreSQL's default 100.
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
    )


POOL_SIZE = 10
POOL_OVERFLOW = 30


def column_json(value: Any) -> str:
    """How JSON columns are written: canonical JSON text (``lineage.hashing``). An audit event's ``payload``
    column then holds exactly the bytes its hashed event holds, so verify compares them without parsing.
    NaN and ±Infinity are written as they always were (SQLite keeps them; PostgreSQL refuses them)."""
    return canonical_json_nonfinite(value).decode()


def column_value(text: str | bytes) -> Any:
    """How JSON columns are read: orjson, five times the standard library's speed on the million label rows
    a manifest or a gate reads, and the same values for standard JSON. The standard library reads what
    orjson refuses (NaN and ±Infinity, lone surrogates) and what it would read otherwise: an integer beyond
    64 bits, which orjson turns into a float (any text with a run of 19 digits goes that way)."""
    if _LONG_DIGITS.search(text if isinstance(text, str) else text.decode("utf-8", "replace")) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE below is what runs.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
