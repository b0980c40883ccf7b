"""Benchmark: import a Label Studio JSON export into a dataset version on SQLite (a script, not a test).

The export is generated (seeded): ``--tasks`` tasks, each with 3 annotations by 3 different people (2-4
rectangles each; one annotation in 20 draws polygons instead, one in 10 adds an image-level choice), every
tenth task a prediction, images named as Label Studio names uploads (``/data/upload/1/<hex>-img_....jpg``).
Timed separately, on a fresh copy of the same prepared database each run (items, schema, members made
outside the clock):

- **parse**: ``parse_labelstudio`` on the file's bytes (JSON decode, item matching, percent -> pixels,
  validation);
- **record**: ``lineage.labels.work.record_work`` of the parsed batch, commit included;
- **end to end**: read the file + parse + record + commit, as ``labelgate import`` does.

Each figure is the median of ``--repeats`` runs; labels/s counts every label written.

    python bench/bench_labelstudio_import.py --tasks 100000 --repeats 3
    python bench/bench_labelstudio_import.py --tasks 20000 --repeats 1 --profile record
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from _common import cpu_model
from sqlalchemy import text
from sqlmodel import Session

from lineage import identity
from lineage.context import Actor
from lineage.datasets import create_dataset
from lineage.db import make_engine
from lineage.formats.common import ItemIndex, ItemRef, SchemaInfo
from lineage.formats.labelstudio import parse_labelstudio
from lineage.models import DatasetVersion, LabelSchema, LabelSchemaVersion, Role
from service.migrate import upgrade_database

BOXES = ["car", "person", "bicycle", "truck", "bus", "dog"]
POLYGONS = ["road", "building"]
TAGS = ["day", "night"]
W, H = 1280, 720
PEOPLE = [
    (11, "ann@example.com", "Ann", "Lee"),
    (12, "bob@example.com", "Bob", "Ray"),
    (13, "cy@example.com", "Cy", "Ng"),
]


def _uri(i: int) -> str:
    return f"img_{i:07d}.jpg"


def _rect(rng: random.Random, n: int) -> dict[str, Any]:
    w, h = rng.uniform(1, 30), rng.uniform(1, 30)
    return {
        "id": f"r{n}",
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "origin": "manual",
        "value": {
            "x": rng.uniform(0, 100 - w),
            "y": rng.uniform(0, 100 - h),
            "width": w,
            "height": h,
            "rotation": 0,
            "rectanglelabels": [rng.choice(BOXES)],
        },
    }


def _polygon(rng: random.Random, n: int) -> dict[str, Any]:
    cx, cy = rng.uniform(20, 80), rng.uniform(20, 80)
    pts = [[cx + rng.uniform(-15, 15), cy + rng.uniform(-15, 15)] for _ in range(rng.randint(4, 10))]
    return {
        "id": f"p{n}",
        "type": "polygonlabels",
        "from_name": "poly",
        "to_name": "image",
        "original_width": W,
        "original_height": H,
        "value": {"points": pts, "closed": True, "polygonlabels": [rng.choice(POLYGONS)]},
    }


def make_export(tasks: int, *, seed: int = 14) -> tuple[bytes, int]:
    """The export's bytes and how many labels it holds."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    labels = 0
    aid = pid = 0
    for t in range(tasks):
        anns = []
        for k in range(3):
            aid += 1
            uid, email, first, last = PEOPLE[k]
            if aid % 20 == 0:
                result = [_polygon(rng, j) for j in range(rng.randint(1, 2))]
            else:
                result = [_rect(rng, j) for j in range(rng.randint(2, 4))]
            if aid % 10 == 0:
                result.append({"id": "c", "type": "choices", "value": {"choices": [rng.choice(TAGS)]}})
            result.append({"id": "txt", "type": "textarea", "value": {"text": ["note"]}})
            labels += len(result) - 1
            anns.append(
                {
                    "id": aid,
                    "completed_by": {"id": uid, "email": email, "first_name": first, "last_name": last},
                    "result": result,
                    "was_cancelled": False,
                    "ground_truth": aid % 50 == 0,
                    "created_at": f"2026-03-{1 + t % 28:02d}T10:{k:02d}:00.{aid % 1000000:06d}Z",
                    "updated_at": f"2026-03-{1 + t % 28:02d}T11:{k:02d}:00.{aid % 1000000:06d}Z",
                    "lead_time": round(rng.uniform(5, 120), 3),
                    "task": t + 1,
                    "project": 1,
                }
            )
        preds = []
        if t % 10 == 0:
            pid += 1
            result = [_rect(rng, j) for j in range(2)]
            for r in result:
                r["score"] = round(rng.random(), 3)
            labels += len(result)
            preds.append(
                {
                    "id": pid,
                    "model_version": "yolo-v3",
                    "score": 0.7,
                    "result": result,
                    "created_at": "2026-03-01T09:00:00.000000Z",
                    "updated_at": "2026-03-01T09:00:00.000000Z",
                }
            )
        out.append(
            {
                "id": t + 1,
                "data": {"image": f"/data/upload/1/{rng.getrandbits(32):08x}-{_uri(t)}"},
                "annotations": anns,
                "predictions": preds,
                "project": 1,
            }
        )
    return orjson.dumps(out), labels


def prepare_db(url: str, *, images: int) -> tuple[Actor, int]:
    """A migrated database: an admin, 3 annotators (members), a schema and a version of ``images`` items."""
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        user = identity.create_user(s, actor=None, username="bench", full_name="Bench", is_admin=True)
        actor = Actor(user_id=user.id or 0, username="bench")
        project = identity.create_project(s, actor=actor, name="bench")
        for _uid, email, first, last in PEOPLE:
            person = identity.create_user(
                s, actor=actor, username=first.lower(), full_name=f"{first} {last}", email=email
            )
            identity.add_member(s, actor=actor, project=project, user=person, role=Role.annotator)
        schema = LabelSchema(project_id=project.id or 0, name="street")
        s.add(schema)
        s.flush()
        classes = [
            *({"name": c, "description": "", "attributes": {}, "geometry": "box"} for c in BOXES),
            *({"name": c, "description": "", "attributes": {}, "geometry": "polygon"} for c in POLYGONS),
            *({"name": c, "description": "", "attributes": {}, "geometry": "tag"} for c in TAGS),
        ]
        sv = LabelSchemaVersion(
            schema_id=schema.id or 0, version=1, content_hash="0" * 64, created_by=actor.user_id, classes=classes
        )
        s.add(sv)
        s.flush()
        ds = create_dataset(s, actor=actor, project_id=project.id or 0, name="street")
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
            [{"v": v.id, "u": _uri(i), "s": f"{i:064x}", "w": W, "h": H} for i in range(images)],
        )
        s.commit()
        vid = v.id or 0
    engine.dispose()
    return actor, vid


def _index(session: Session, version: DatasetVersion) -> tuple[ItemIndex, SchemaInfo | None]:
    from lineage.datasets.catalog import version_ref
    from lineage.formats.exportdata import schema_info
    from lineage.models import Dataset

    ds = session.get(Dataset, version.dataset_id)
    assert ds is not None
    rows = session.connection().execute(
        text("SELECT id, uri, width, height FROM items WHERE dataset_version_id = :v"), {"v": version.id}
    )
    items = ItemIndex((ItemRef(*r) for r in rows), version_ref=version_ref(ds, version))
    return items, schema_info(session, version)


def one_run(db: Path, export: Path, actor: Actor, vid: int, profile: str | None) -> tuple[float, float, float, int]:
    """(parse s, record s, end-to-end s, labels written) on a fresh copy of the prepared database."""
    from lineage.labels.work import record_work

    engine = make_engine(f"sqlite:///{db}")
    prof = cProfile.Profile() if profile else None
    with Session(engine, expire_on_commit=False) as s:
        t0 = time.perf_counter()
        v = s.get(DatasetVersion, vid)
        assert v is not None
        items, schema = _index(s, v)
        data = export.read_bytes()
        t1 = time.perf_counter()
        if prof and profile == "parse":
            prof.enable()
        batch = parse_labelstudio(data, source=export.name, items=items, schema=schema)
        if prof:
            prof.disable()
        t2 = time.perf_counter()
        if prof and profile == "record":
            prof.enable()
        result = record_work(s, actor=actor, version=v, batch=batch)
        s.commit()
        if prof:
            prof.disable()
        t3 = time.perf_counter()
    engine.dispose()
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return t2 - t1, t3 - t2, t3 - t0, result.labels_written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", choices=["parse", "record"], default=None, help="cProfile one phase (first run)")
    args = ap.parse_args()
    print(
        f"machine: {platform.system()} {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        data, labels = make_export(args.tasks)
        export = tmp / "export.json"
        export.write_bytes(data)
        del data
        print(
            f"export: {args.tasks} tasks x 3 annotations, {labels} labels, {export.stat().st_size / 1e6:.0f} MB"
            f" (generated in {time.perf_counter() - t0:.1f} s)"
        )
        template = tmp / "template.db"
        actor, vid = prepare_db(f"sqlite:///{template}", images=args.tasks)
        parse_s, record_s, total_s = [], [], []
        for r in range(args.repeats):
            db = tmp / f"run{r}.db"
            shutil.copy(template, db)
            p, rec, tot, written = one_run(db, export, actor, vid, args.profile if r == 0 else None)
            db.unlink()
            if written != labels:
                raise SystemExit(f"wrote {written} labels, the export holds {labels}")
            parse_s.append(p)
            record_s.append(rec)
            total_s.append(tot)
            print(f"run {r + 1}: parse {p:.2f} s, record {rec:.2f} s, end to end {tot:.2f} s")
    print("method: median of", args.repeats, "runs, each on a fresh copy of the prepared SQLite database")
    for name, values in (("parse", parse_s), ("record_work", record_s), ("end to end", total_s)):
        m = statistics.median(values)
        print(f"{name:>12}: {m:7.2f} s  {labels / m:>10,.0f} labels/s")
    e2e = labels / statistics.median(total_s)
    print(f"target end to end >= 50,000 labels/s: {'met' if e2e >= 50_000 else 'NOT met'} ({e2e:,.0f})")


if __name__ == "__main__":
    main()
