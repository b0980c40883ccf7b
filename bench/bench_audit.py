"""Benchmark: audit append throughput (SQLite, PostgreSQL) and chain verification over 1M events.

Method: appends go through ``lineage.audit.chain.append_event`` (the code path every change uses), in
transactions of ``--batch`` events, on a freshly migrated database. Verification streams
``(seq, prev_hash, hash, canonical)`` and every readable column from the database, re-hashes the stored
canonical bytes and checks each column against them (``verify_database``, columns included);
the 1M-event chain is bulk-loaded with rows built by the same canonical/hash functions (appending
1M events one by one would take minutes and measure the append path again). Also reported: verify of
an exported JSON Lines file. Figures are medians of ``--repeat`` runs.

    python bench/bench_audit.py [--events 1000000] [--appends 5000] [--repeat 3] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import cpu_model  # noqa: E402  (the bench folder is the script's path)

from lineage.audit.chain import (  # noqa: E402
    GENESIS_HASH,
    append_event,
    canonical_bytes,
    event_hash,
    export_events,
)
from lineage.audit.verify import verify_database, verify_file  # noqa: E402
from lineage.db import make_engine, session_scope  # noqa: E402
from service.migrate import upgrade_database  # noqa: E402


def machine() -> str:
    cpu = cpu_model()
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeat))


def bench_appends(url: str, n: int, batch: int) -> float:
    engine = make_engine(url)
    start = time.perf_counter()
    done = 0
    while done < n:
        with session_scope(engine) as s:
            for _ in range(min(batch, n - done)):
                append_event(
                    s, actor="bench", action="bench.append", object_type="thing", object_id=done, payload={"i": done}
                )
                done += 1
    elapsed = time.perf_counter() - start
    engine.dispose()
    return n / elapsed


def bulk_load(url: str, n: int) -> None:
    """Insert a valid n-event chain with the same canonical/hash functions, in large executemany batches."""
    engine = make_engine(url)
    prev = GENESIS_HASH
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    chunk: list[dict[str, object]] = []
    sql = text(
        "INSERT INTO audit_events (seq, ts, actor, action, object_type, object_id, project_id, request_id, "
        "payload, prev_hash, hash, canonical) VALUES (:seq, :ts, :actor, :action, :object_type, :object_id, "
        ":project_id, :request_id, :payload, :prev_hash, :hash, :canonical)"
    )
    with engine.begin() as conn:
        for seq in range(1, n + 1):
            ts = t0 + timedelta(milliseconds=seq)
            fields = {
                "seq": seq,
                "ts": ts,
                "actor": f"user{seq % 17}",
                "action": "annotation.import",
                "object_type": "dataset_version",
                "object_id": str(seq % 1000),
                "project_id": 1,
                "request_id": uuid.UUID(int=seq).hex,
                "payload": {"rows": seq % 5000},
            }
            canonical = canonical_bytes(**fields)  # type: ignore[arg-type]
            h = event_hash(prev, canonical)
            chunk.append(
                {
                    **fields,
                    # As the service writes them: SQLAlchemy's SQLite timestamp text, canonical JSON text.
                    "ts": ts.strftime("%Y-%m-%d %H:%M:%S.%f") if url.startswith("sqlite") else ts,
                    "payload": f'{{"rows":{seq % 5000}}}',
                    "prev_hash": prev,
                    "hash": h,
                    "canonical": canonical,
                }
            )
            prev = h
            if len(chunk) == 50_000:
                conn.execute(sql, chunk)
                chunk.clear()
        if chunk:
            conn.execute(sql, chunk)
    engine.dispose()


def bench_verify(url: str, repeat: int, expected: int, args_workers: int) -> float:
    engine = make_engine(url)

    def once() -> float:
        with session_scope(engine) as s:
            start = time.perf_counter()
            result = verify_database(s, workers=args_workers)
            elapsed = time.perf_counter() - start
        assert result.ok and result.events == expected, result
        return elapsed

    t = median_of(repeat, once)
    engine.dispose()
    return t


def bench_verify_file(url: str, repeat: int, expected: int, folder: Path) -> float:
    engine = make_engine(url)
    path = folder / "audit.jsonl"
    with session_scope(engine) as s, path.open("w") as fh:
        export_events(s, fh)
    engine.dispose()

    def once() -> float:
        start = time.perf_counter()
        result = verify_file(path)
        elapsed = time.perf_counter() - start
        assert result.ok and result.events == expected
        return elapsed

    return median_of(repeat, once)


def fresh_pg_schema(pg_url: str) -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--appends", type=int, default=5_000)
    ap.add_argument("--batch", type=int, default=100, help="appends per transaction")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"method: medians of {args.repeat} runs; appends via append_event in transactions of {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backends: list[tuple[str, str, Callable[[], None]]] = []
        sqlite_url = f"sqlite:///{folder / 'bench.db'}"
        backends.append(("sqlite", sqlite_url, lambda: None))
        if not args.no_pg:
            pg_url, drop = fresh_pg_schema(args.pg)
            backends.append(("postgresql", pg_url, drop))
        try:
            for name, url, _ in backends:
                upgrade_database(url)
                rates = []
                for _ in range(args.repeat):
                    with make_engine(url).begin() as c:  # reset the chain between runs (triggers off)
                        if name == "sqlite":
                            c.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
                            c.execute(text("DELETE FROM audit_events"))
                        else:
                            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
                            c.execute(text("DELETE FROM audit_events"))
                            c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
                    rates.append(bench_appends(url, args.appends, args.batch))
                print(f"[{name}] append: {statistics.median(rates):,.0f} events/s ({args.appends} appends)")
                with make_engine(url).begin() as c:
                    if name == "postgresql":
                        c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
                    c.execute(text("DELETE FROM audit_events"))
                    if name == "postgresql":
                        c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
                t0 = time.perf_counter()
                bulk_load(url, args.events)
                print(f"[{name}] loaded {args.events:,} events in {time.perf_counter() - t0:.1f} s")
                t1 = bench_verify(url, args.repeat, args.events, 1)
                print(f"[{name}] verify from database, 1 process: {t1:.2f} s for {args.events:,} events")
                t = bench_verify(url, args.repeat, args.events, os.cpu_count() or 1)
                print(
                    f"[{name}] verify from database, {os.cpu_count()} processes: {t:.2f} s for {args.events:,} events "
                    f"({args.events / t:,.0f} events/s)"
                )
                if name == "sqlite":
                    tf = bench_verify_file(url, args.repeat, args.events, folder)
                    print(f"[file] verify exported JSON Lines: {tf:.2f} s for {args.events:,} events")
        finally:
            for _, _, drop in backends:
                drop()


if __name__ == "__main__":
    main()
