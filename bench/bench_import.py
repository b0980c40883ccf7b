"""Benchmark: import N box annotations from a COCO file into a dataset version (a script, not a test).

What is timed is the whole import as a user runs it: read + SHA-256 the file, parse (orjson), validate every
record against the version's items and schema, build provenance rows, insert them through the session's
own DBAPI connection (SQLite ``executemany`` / PostgreSQL ``COPY``), one audit event per batch, commit.
The reference is the raw driver inserting the very same prepared rows into a fresh copy of the same
database (sqlite3 ``executemany`` / psycopg ``COPY``), timed in the same run. Each figure is the median of
``--runs`` runs, each on a fresh database.

    python bench/bench_import.py --n 1000000 --runs 3 --db sqlite
    python bench/bench_import.py --n 1000000 --runs 3 --db postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlmodel import Session

from lineage import identity
from lineage.context import Actor
from lineage.datasets import create_dataset
from lineage.db import make_engine
from lineage.formats import import_annotations
from lineage.formats.coco import parse_coco
from lineage.formats.common import ItemIndex, ItemRef
from lineage.labels import ANNOTATION_COLUMNS
from lineage.models import DatasetVersion, LabelSchema, LabelSchemaVersion
from lineage.models._base import utcnow
from service.migrate import upgrade_database

CLASSES = ["car", "person", "bicycle", "dog", "cat", "truck", "bus", "bird"]
W, H = 640, 480


from _common import cpu_model  # noqa: E402  (the bench folder is the script's path)


def make_coco(path: Path, *, n: int, images: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    anns = []
    for i in range(n):
        w, h = rng.randint(4, 200), rng.randint(4, 200)
        x, y = rng.randint(0, W - w), rng.randint(0, H - h)
        anns.append(
            {
                "id": i + 1,
                "image_id": i % images + 1,
                "category_id": i % len(CLASSES) + 1,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
        )
    doc = {
        "images": [{"id": i + 1, "file_name": f"img_{i:07d}.jpg", "width": W, "height": H} for i in range(images)],
        "categories": [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)],
        "annotations": anns,
    }
    path.write_text(json.dumps(doc))


def prepare_db(url: str, *, images: int) -> tuple[Actor, int]:
    """A migrated database with a user, project, schema and a version of ``images`` items (untimed)."""
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        user = identity.create_user(s, actor=None, username="bench", full_name="Bench", is_admin=True)
        actor = Actor(user_id=user.id or 0, username="bench")
        project = identity.create_project(s, actor=actor, name="bench")
        schema = LabelSchema(project_id=project.id or 0, name="coco8")
        s.add(schema)
        s.flush()
        sv = LabelSchemaVersion(
            schema_id=schema.id or 0,
            version=1,
            content_hash="0" * 64,
            created_by=actor.user_id,
            classes=[{"name": c, "description": "", "attributes": {}, "geometry": "box"} for c in CLASSES],
        )
        s.add(sv)
        s.flush()
        ds = create_dataset(s, actor=actor, project_id=project.id or 0, name="bench")
        v = DatasetVersion(
            dataset_id=ds.id or 0, version="v1", schema_version_id=sv.id, item_count=images, created_by=actor.user_id
        )
        s.add(v)
        s.flush()
        s.execute(
            text(
                "INSERT INTO items (dataset_version_id, uri, sha256, size_bytes, width, height)"
                " VALUES (:v, :u, :s, 1000, :w, :h)"
            ),
            [{"v": v.id, "u": f"img_{i:07d}.jpg", "s": f"{i:064x}", "w": W, "h": H} for i in range(images)],
        )
        s.commit()
        vid = v.id or 0
    engine.dispose()
    return actor, vid


def timed_import(url: str, coco: Path, actor: Actor, version_id: int, batch: int) -> tuple[float, int]:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        v = s.get(DatasetVersion, version_id)
        assert v is not None
        t0 = time.perf_counter()
        result = import_annotations(s, actor=actor, version=v, fmt="coco", path=coco, batch_size=batch)
        s.commit()
        elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed, result.annotations


def prepared_rows(coco: Path, version_id: int, images: int, *, dialect: str) -> list[tuple[Any, ...]]:
    """The rows the import writes, built outside the clock for the raw reference."""
    items = ItemIndex((ItemRef(i + 1, f"img_{i:07d}.jpg", W, H) for i in range(images)), version_ref="bench@v1")
    parsed = parse_coco(coco.read_bytes(), source=str(coco), items=items, classes=set(CLASSES))
    now: Any = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else utcnow()
    return [
        (
            version_id,
            item_id,
            cat,
            "box",
            x,
            y,
            w,
            h,
            "null",
            "null",
            "import",
            None,
            None,
            None,
            None,
            None,
            None,
            sha,
            "coco",
            None,
            None,
            None,
            now,
            1,  # created_by, row_digest, audit_seq: the import seals each row (a digest per row)
            "0" * 64,
            1,
        )
        for item_id, cat, x, y, w, h, _attrs, sha in parsed.labels
    ]


def raw_sqlite(path: str, rows: list[tuple[Any, ...]], batch: int) -> float:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = (
        f"INSERT INTO annotations ({', '.join(ANNOTATION_COLUMNS)}) VALUES ({', '.join('?' * len(ANNOTATION_COLUMNS))})"
    )
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for start in range(0, len(rows), batch):
        conn.executemany(sql, rows[start : start + batch])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def raw_sqlite_lean(path: str, boxes: list[tuple[Any, ...]], vid: int, batch: int) -> float:
    """The driver floor: the import's own statement (8 bound values per row) and page cache, raw sqlite3."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size = -262144")
    now = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
    values = (
        f"{vid}, ?, ?, 'box', ?, ?, ?, ?, 'null', ?, 'import', NULL, NULL, NULL, NULL, NULL, NULL, ?, 'coco',"
        f" NULL, NULL, NULL, '{now}', 1, '{'0' * 64}', 1"
    )
    sql = f"INSERT INTO annotations ({', '.join(ANNOTATION_COLUMNS)}) VALUES ({values})"
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for start in range(0, len(boxes), batch):
        conn.executemany(sql, boxes[start : start + batch])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def raw_postgres(url: str, rows: list[tuple[Any, ...]]) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY annotations ({', '.join(ANNOTATION_COLUMNS)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        conn.commit()
        return time.perf_counter() - t0


def pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg_schema(base: str, schema: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def machine() -> str:
    cpu = cpu_model()
    import sqlite3

    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def run_sqlite(args: argparse.Namespace, coco: Path, tmp: Path) -> None:
    template = tmp / "template.db"
    actor, vid = prepare_db(f"sqlite:///{template}", images=args.images)
    rows = prepared_rows(coco, vid, args.images, dialect="sqlite")
    boxes = [(r[1], r[2], r[4], r[5], r[6], r[7], r[9], r[17]) for r in rows]
    ours, raw, lean = [], [], []
    for r in range(args.runs):
        a, b, c = tmp / f"run{r}.db", tmp / f"raw{r}.db", tmp / f"lean{r}.db"
        for p in (a, b, c):
            shutil.copy(template, p)
        elapsed, n = timed_import(f"sqlite:///{a}", coco, actor, vid, args.batch)
        ours.append(elapsed)
        raw.append(raw_sqlite(str(b), rows, args.batch))
        lean.append(raw_sqlite_lean(str(c), boxes, vid, args.batch))
        print(
            f"  run {r + 1}: import {n / elapsed:,.0f} rows/s ({elapsed:.2f} s); "
            f"raw sqlite3 {len(rows) / raw[-1]:,.0f} rows/s ({raw[-1]:.2f} s); "
            f"raw sqlite3, import's statement {len(rows) / lean[-1]:,.0f} rows/s ({lean[-1]:.2f} s)"
        )
        for p in (a, b, c):
            p.unlink()
    method = "msgspec typed decode, session DBAPI cursor.executemany with 8 bound values per row"
    report(
        "SQLite", method, "raw sqlite3 executemany of the full 26-value rows, default page cache", len(rows), ours, raw
    )
    mo, ml = statistics.median(ours), statistics.median(lean)
    print(
        f"  driver floor (raw sqlite3, the import's own statement and page cache): {len(rows) / ml:,.0f} rows/s "
        f"({ml:.2f} s); import / floor: {ml / mo:.2f}"
    )


def run_postgres(args: argparse.Namespace, coco: Path) -> None:
    ours, raw = [], []
    for r in range(args.runs):
        url_a, schema_a = pg_schema_url(args.pg_url)
        url_b, schema_b = pg_schema_url(args.pg_url)
        try:
            actor, vid = prepare_db(url_a, images=args.images)
            _, vid_b = prepare_db(url_b, images=args.images)
            rows = prepared_rows(coco, vid_b, args.images, dialect="postgresql")
            elapsed, n = timed_import(url_a, coco, actor, vid, args.batch)
            ours.append(elapsed)
            raw.append(raw_postgres(url_b, rows))
            print(
                f"  run {r + 1}: import {n / elapsed:,.0f} rows/s ({elapsed:.2f} s); "
                f"raw COPY {len(rows) / raw[-1]:,.0f} rows/s ({raw[-1]:.2f} s)"
            )
        finally:
            drop_pg_schema(args.pg_url, schema_a)
            drop_pg_schema(args.pg_url, schema_b)
    report(
        "PostgreSQL",
        "session psycopg cursor.copy (COPY FROM STDIN, prepared tuples)",
        "raw psycopg COPY",
        args.n,
        ours,
        raw,
    )


def report(db: str, method: str, reference: str, n: int, ours: list[float], raw: list[float]) -> None:
    mo, mr = statistics.median(ours), statistics.median(raw)
    print(f"{db}: {n:,} annotations, median of {len(ours)} runs")
    print(f"  import  ({method}): {n / mo:,.0f} annotations/s  ({mo:.2f} s, with parse, validation, audit, commit)")
    print(f"  reference ({reference}, same rows): {n / mr:,.0f} rows/s  ({mr:.2f} s)")
    print(f"  ratio import / reference: {mr / mo:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="annotations (default 1,000,000)")
    parser.add_argument("--images", type=int, default=100_000, help="images in the version (default 100,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median; default 3)")
    parser.add_argument("--batch", type=int, default=50_000, help="rows per batch and audit event (default 50,000)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--pg-url", default=os.environ.get("LABELGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp_s:
        tmp = Path(tmp_s)
        coco = tmp / "instances.json"
        t0 = time.perf_counter()
        make_coco(coco, n=args.n, images=args.images)
        print(
            f"COCO file: {args.n:,} annotations on {args.images:,} images, {coco.stat().st_size / 1e6:.0f} MB "
            f"(generated in {time.perf_counter() - t0:.1f} s, untimed)"
        )
        if args.db in ("sqlite", "both"):
            run_sqlite(args, coco, tmp)
        if args.db in ("postgresql", "both"):
            run_postgres(args, coco)


if __name__ == "__main__":
    main()
