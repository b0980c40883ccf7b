"""Benchmark: audit trail filters and keyset pages over 1M events on SQLite.

Method: a freshly migrated SQLite database (``service.migrate``: the real indexes and append-only triggers) gets
a few real named rows (users, projects, datasets, versions, models) and then ``--events`` audit events,
bulk-inserted as raw rows in one transaction: every column as the service writes it, ``canonical`` and ``hash``
computed by ``lineage.audit.chain`` (a valid chain), but not through ``append_event`` one by one (that path is
``bench/bench_audit.py``'s). The events mimic a busy workspace: 50 actors, ~25 actions (``gate.evaluate`` on
1%), objects on 200 dataset versions, one event every 30 s (~1 year), ``hotfix`` in 0.1% of payloads.

Each case times one page of 100 events as the API serves it (``lineage.audit.query.page_events`` plus the
page's display names, ``lineage.naming.display_names``): the first page, newest first, and a deep keyset page
(``before_seq`` 100,001: the oldest tenth of the log); and, apart, the filtered count (``with_total=true``).
Figures are medians of ``--repeat`` (5) runs. A free-text page reads at most ``SCAN_WINDOW`` (200,000) events,
so a page with few or no matches may be short and point on with its cursor (``lineage.audit.query``).

    python bench/bench_audit_filter.py [--events 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import cpu_model  # noqa: E402  (the bench folder is the script's path)

from lineage.audit.chain import GENESIS_HASH, canonical_bytes, event_hash  # noqa: E402
from lineage.audit.query import AuditFilter, count_events, page_events  # noqa: E402
from lineage.db import column_json, make_engine  # noqa: E402
from lineage.naming import display_names  # noqa: E402
from service.migrate import upgrade_database  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = [
    ("annotation.add", 30),
    ("annotation.import.batch", 20),
    ("annotation.review", 15),
    ("annotation.correct", 8),
    ("review_queue.resolve", 6),
    ("autolabel_run.progress", 5),
    ("dataset_version.create", 2),
    ("dataset_version.state", 2),
    ("signature.sign", 1),
    ("gate.evaluate", 1),
    ("token.issue", 1),
    ("user.create", 1),
    ("project.member.add", 1),
    ("schema.publish", 1),
    ("policy.store", 1),
    ("golden_set.register", 1),
    ("model.register", 1),
    ("release.create", 1),
    ("dataset.create", 1),
    ("project.create", 1),
]


def machine() -> str:
    return (
        f"{platform.platform()}, {platform.machine()}, {cpu_model()}, os.cpu_count()={os.cpu_count()}, "
        f"Python {platform.python_version()}"
    )


def seed_names(url: str) -> None:
    """Users, projects, datasets, 200 versions and a model: the rows the events' names come from."""
    engine = make_engine(url)
    now = T0.strftime("%Y-%m-%d %H:%M:%S.%f")
    with engine.begin() as c:
        for u in range(1, 51):
            c.execute(
                text(
                    "INSERT INTO users (id, username, full_name, is_admin, is_active, created_at) "
                    "VALUES (:i, :u, :u, 0, 1, :t)"
                ),
                {"i": u, "u": f"user{u:02d}", "t": now},
            )
        for p in range(1, 6):
            c.execute(
                text("INSERT INTO projects (id, name, description, created_at, created_by) VALUES (:i, :n, '', :t, 1)"),
                {"i": p, "n": ["street-scenes", "retail", "farm", "docks", "aerial"][p - 1], "t": now},
            )
        for d in range(1, 21):
            c.execute(
                text(
                    "INSERT INTO datasets (id, project_id, name, description, is_golden, created_by, created_at) "
                    "VALUES (:i, :p, :n, '', 0, 1, :t)"
                ),
                {"i": d, "p": (d - 1) % 5 + 1, "n": "street" if d == 1 else f"set{d}", "t": now},
            )
        for v in range(1, 201):
            c.execute(
                text(
                    "INSERT INTO dataset_versions (id, dataset_id, version, state, item_count, created_by, created_at) "
                    "VALUES (:i, :d, :v, 'draft', 0, 1, :t)"
                ),
                {"i": v, "d": (v - 1) % 20 + 1, "v": f"v{(v - 1) // 20 + 1}", "t": now},
            )
        c.execute(
            text(
                "INSERT INTO model_versions (id, project_id, name, version, framework, weights_uri, weights_sha256, "
                "class_map, created_by, created_at) "
                "VALUES (1, 1, 'tiny-shapes', '2', 'ultralytics', 'x', :h, '{}', 1, :t)"
            ),
            {"h": "0" * 64, "t": now},
        )
    engine.dispose()


def bulk_events(url: str, n: int) -> None:
    engine = make_engine(url)
    weights = [w for _, w in ACTIONS]
    cycle = [a for a, w in ACTIONS for _ in range(w)]  # 100 slots: gate.evaluate takes 1 of them
    assert sum(weights) == len(cycle) == 100
    sql = text(
        "INSERT INTO audit_events (seq, ts, actor, action, object_type, object_id, project_id, request_id, "
        "payload, prev_hash, hash, canonical) VALUES (:seq, :ts, :actor, :action, :object_type, :object_id, "
        ":project_id, :request_id, :payload, :prev_hash, :hash, :canonical)"
    )
    prev = GENESIS_HASH
    chunk: list[dict[str, object]] = []
    with engine.begin() as conn:
        for seq in range(1, n + 1):
            action = cycle[(seq * 37) % 100]
            version = (seq * 7919) % 200 + 1
            payload: dict[str, object] = {"rows": seq % 5000, "note": "hotfix 5%_off" if seq % 1000 == 0 else "routine"}
            ts = T0 + timedelta(seconds=30 * seq)
            fields = {
                "seq": seq,
                "ts": ts,
                "actor": f"user{(seq * 2654435761 >> 9) % 50 + 1:02d}",  # not in step with the action
                "action": action,
                "object_type": "dataset_version",
                "object_id": str(version),
                "project_id": (version - 1) % 20 % 5 + 1,
                "request_id": f"{seq:032x}",
                "payload": payload,
            }
            canonical = canonical_bytes(**fields)  # type: ignore[arg-type]
            digest = event_hash(prev, canonical)
            chunk.append(
                {
                    **fields,
                    "ts": ts.strftime("%Y-%m-%d %H:%M:%S.%f"),  # as SQLAlchemy writes it on SQLite
                    "payload": column_json(payload),
                    "prev_hash": prev,
                    "hash": digest,
                    "canonical": canonical,
                }
            )
            prev = digest
            if len(chunk) == 50_000:
                conn.execute(sql, chunk)
                chunk.clear()
        if chunk:
            conn.execute(sql, chunk)
    engine.dispose()


def median_ms(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(
        "method: SQLite, migrated schema; names seeded as rows, events bulk-inserted raw with real canonical bytes "
        f"and hashes; page = page_events + display_names, {args.limit} events; medians of {args.repeat} runs"
    )
    since = T0 + timedelta(seconds=15 * args.events)  # the middle of the log
    cases = {
        "no filter": AuditFilter(),
        "action substring 'gate'": AuditFilter(action="gate"),
        "action list 'gate.evaluate,release.create'": AuditFilter(action="gate.evaluate,release.create"),
        "actor 'user07'": AuditFilter(actor="user07"),
        "object name 'street@v2'": AuditFilter(object="street@v2"),
        "free text q='hotfix'": AuditFilter(q="hotfix"),
        "free text q='5%_' (literal)": AuditFilter(q="5%_"),
        "free text q='nowhere' (no match: 1 window)": AuditFilter(q="nowhere"),
        "date range (7 days)": AuditFilter(since=since, until=since + timedelta(days=7)),
        "action 'gate' + actor 'user07'": AuditFilter(action="gate", actor="user07"),
        "no match (action 'nothing')": AuditFilter(action="nothing"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_database(url)
        seed_names(url)
        start = time.perf_counter()
        bulk_events(url, args.events)
        print(f"built {args.events:,} events in {time.perf_counter() - start:.1f} s")
        engine = make_engine(url)
        deep = min(100_001, args.events)
        header = f"{'case':<44} {'first page':>11} {'deep page':>10} {'count':>9} {'matches':>9}"
        print(header)
        print("-" * len(header))
        with Session(engine) as s:

            def page(f: AuditFilter, before: int | None) -> int:
                p = page_events(s, f, order="desc", before_seq=before, limit=args.limit)
                display_names(s, [(e.object_type, e.object_id) for e in p.events])
                return len(p.events)

            for name, f in cases.items():
                first = median_ms(args.repeat, partial(page, f, None))
                deep_ms = median_ms(args.repeat, partial(page, f, deep))
                total = count_events(s, f)
                count_ms = median_ms(max(1, args.repeat // 2), partial(count_events, s, f))
                print(f"{name:<44} {first:>8.1f} ms {deep_ms:>7.1f} ms {count_ms:>6.0f} ms {total:>9,}")
            offset_ms = median_ms(
                args.repeat, lambda: page_events(s, AuditFilter(), offset=args.events // 2, limit=args.limit)
            )
            print(f"(for comparison: no filter by offset {args.events // 2:,}: {offset_ms:.1f} ms)")
        engine.dispose()


if __name__ == "__main__":
    main()
