"""An exclusive lease on executing one run, released by the operating system when its holder dies.

PostgreSQL: a session-level advisory lock on a connection held for the whole execution (a killed process's
connection closes and the lock goes with it), so workers on several machines never execute one run twice.
Its keys are a hash of the schema's name and the run id: advisory locks are shared by every schema of a
database, and two labelgate schemas (tests do this) each have a run 1.
SQLite: an ``fcntl`` lock on a file beside the database (one machine is all SQLite serves).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from lineage.errors import Conflict

__all__ = ["LEASE_NAMESPACE", "run_lease", "try_run_lease"]

LEASE_NAMESPACE = "labelgate.run-lease:"
_PG_KEY = "hashtext(:ns || current_schema())"


def _sqlite_lock_path(engine: Engine, run_id: int) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise Conflict("runs need a file or server database, not an in-memory one", field="database")
    db = Path(database).resolve()
    return db.with_name(f"{db.name}.run-{run_id}.lock")


@contextmanager
def try_run_lease(engine: Engine, run_id: int) -> Iterator[bool]:
    """Yield True while holding the lease on ``run_id``, False (without blocking) when another holds it."""
    if engine.dialect.name == "postgresql":
        conn: Connection = engine.connect()
        try:
            keys = {"ns": LEASE_NAMESPACE, "run": run_id}
            got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({_PG_KEY}, :run)"), keys).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text(f"SELECT pg_advisory_unlock({_PG_KEY}, :run)"), keys)
                    conn.commit()
        finally:
            conn.close()
        return
    path = _sqlite_lock_path(engine, run_id)
    fh: IO[str] = path.open("a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


@contextmanager
def run_lease(engine: Engine, run_id: int) -> Iterator[None]:
    """Hold the lease on ``run_id`` or raise ``Conflict`` naming the run."""
    with try_run_lease(engine, run_id) as got:
        if not got:
            raise Conflict(f"run {run_id} is being executed by another process", field="run_id")
        yield
