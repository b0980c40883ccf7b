"""Benchmark: deep verify of N annotations (a script, not a test), on SQLite and PostgreSQL.

Method: a migrated database gets a version of ``--images`` items and ``--n`` box annotations imported
through ``lineage.formats.import_annotations`` (the path a user's import takes: rows sealed with their
digest, one audit event per batch of 50,000 recording the batch's count and aggregate digest). Untimed.
Timed: ``lineage.audit.deep.deep_verify`` over the whole record (every annotation re-digested from its
columns and compared with its ``row_digest``, grouped by ``audit_seq`` and compared with its event; every
other recorded table too), median of ``--repeat`` runs; and, for scale, the shallow chain verify with
every column (``verify_database``) on the same database.

    python bench/bench_deep_verify.py --n 1000000 --images 100000 --repeat 3 [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import drop_pg_schema, machine, make_coco, pg_schema_url, prepare_db, timed_import
from sqlmodel import Session

from lineage.audit.deep import deep_verify
from lineage.audit.verify import verify_database
from lineage.db import make_engine


def run(url: str, coco: Path, args: argparse.Namespace, name: str) -> None:
    actor, vid = prepare_db(url, images=args.images)
    elapsed, n = timed_import(url, coco, actor, vid, 50_000)
    print(f"[{name}] imported {n:,} annotations in {elapsed:.1f} s (untimed set-up)")
    engine = make_engine(url)
    deep, shallow = [], []
    for _ in range(args.repeat):
        with Session(engine) as s:
            t0 = time.perf_counter()
            report = deep_verify(s, workers=args.workers)
            deep.append(time.perf_counter() - t0)
        assert report.ok and report.rows["annotations"] == n, [p.line() for p in report.problems]
        with Session(engine) as s:
            t0 = time.perf_counter()
            result = verify_database(s, workers=os.cpu_count() or 1)
            shallow.append(time.perf_counter() - t0)
        assert result.ok
    engine.dispose()
    d, v = statistics.median(deep), statistics.median(shallow)
    print(
        f"[{name}] deep verify, {args.workers} process(es): {d:.2f} s for {n:,} annotations ({n / d:,.0f} rows/s), "
        f"median of {args.repeat}"
    )
    print(f"[{name}] chain verify with columns ({result.events:,} events): {v:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument(
        "--pg-url", default=os.environ.get("LABELGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print("method: deep_verify over the whole record after a real import; medians of --repeat runs")
    with tempfile.TemporaryDirectory(prefix="bench_deep_") as tmp_s:
        tmp = Path(tmp_s)
        coco = tmp / "instances.json"
        make_coco(coco, n=args.n, images=args.images)
        if args.db in ("sqlite", "both"):
            run(f"sqlite:///{tmp / 'deep.db'}", coco, args, "sqlite")
        if args.db in ("postgresql", "both"):
            url, schema = pg_schema_url(args.pg_url)
            try:
                run(url, coco, args, "postgresql")
            finally:
                drop_pg_schema(args.pg_url, schema)


if __name__ == "__main__":
    main()
