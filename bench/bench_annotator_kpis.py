"""Benchmark: the annotator KPI report of a dataset version with N labels (a script, not a test).

Setup (untimed): a migrated SQLite database; ``--annotators`` annotators each label every image of the
version with 3 boxes in one Label Studio unit (lead time, created/updated times), recorded through
``lineage.labels.work.record_work`` as an import would; a golden dataset holding the first ``--golden``
images with their true boxes, registered as a golden set. Timed: ``lineage.reports.annotator_report`` of
the version (trend off: one version), and its parts — reading the rows (``kpi_rows``), the KPIs over them
(``annotator_kpis``), golden-set error and agreement (``annotator_quality``). Median of ``--runs``.

    python bench/bench_annotator_kpis.py --labels 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import machine
from sqlalchemy import text
from sqlmodel import Session

from lineage import identity
from lineage.context import Actor
from lineage.datasets import create_dataset
from lineage.db import make_engine
from lineage.formats.work import Author, ToolLabel, WorkBatch, WorkUnit
from lineage.gates.golden import register_golden_set
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.labels.work import record_work
from lineage.models import Dataset, DatasetVersion, LabelSchema, LabelSchemaVersion, ProvenanceKind, Role
from lineage.reports.annotator_report import annotator_report
from lineage.reports.annotators import annotator_kpis, kpi_rows
from lineage.reports.annotators_quality import annotator_quality
from service.migrate import upgrade_database

CLASSES = ["car", "person", "bicycle"]
W, H = 640, 480


def build(url: str, *, images: int, annotators: int, golden: int, seed: int = 3) -> int:
    upgrade_database(url)
    engine = make_engine(url)
    rng = np.random.default_rng(seed)
    with Session(engine, expire_on_commit=False) as s:
        admin = identity.create_user(s, actor=None, username="bench", full_name="Bench", is_admin=True)
        actor = Actor(user_id=admin.id or 0, username="bench", is_admin=True)
        project = identity.create_project(s, actor=actor, name="bench")
        names = [f"ann{i}" for i in range(annotators)]
        for n in names:
            u = identity.create_user(s, actor=None, username=n, full_name=n)
            identity.add_member(s, actor=actor, project=project, user=u, role=Role.annotator)
        schema = LabelSchema(project_id=project.id or 0, name="s")
        s.add(schema)
        s.flush()
        classes = [{"name": c, "description": "", "attributes": {}, "geometry": "box"} for c in CLASSES]
        sv = LabelSchemaVersion(schema_id=schema.id or 0, version=1, content_hash="0" * 64, created_by=actor.user_id,
                                classes=classes)  # fmt: skip
        s.add(sv)
        s.flush()
        versions = {}
        for name, count, gold in (("bench", images, False), ("gold", golden, True)):
            ds = create_dataset(s, actor=actor, project_id=project.id or 0, name=name, is_golden=gold)
            v = DatasetVersion(dataset_id=ds.id or 0, version="v1", schema_version_id=sv.id, item_count=count,
                               created_by=actor.user_id)  # fmt: skip
            s.add(v)
            s.flush()
            s.execute(
                text("INSERT INTO items (dataset_version_id, uri, sha256, size_bytes, width, height)"
                     " VALUES (:v, :u, :s, 1000, :w, :h)"),
                [{"v": v.id, "u": f"img_{i:07d}.jpg", "s": f"{i:064x}", "w": W, "h": H} for i in range(count)],
            )  # fmt: skip
            versions[name] = v
        truth = rng.uniform(0, 400, size=(images, 3, 2))
        cats = rng.integers(0, len(CLASSES), size=(images, 3))
        items = {u: i for i, u in s.execute(text("SELECT id, uri FROM items WHERE dataset_version_id = :v"),
                                             {"v": versions["gold"].id})}  # fmt: skip
        gold_labels = [
            NewLabel(items[f"img_{i:07d}.jpg"], CLASSES[cats[i, k]], *truth[i, k], 60.0, 40.0)
            for i in range(golden) for k in range(3)
        ]  # fmt: skip
        prov = Provenance(kind=ProvenanceKind.import_, source_sha256="1" * 64, source_format="coco")
        for start in range(0, len(gold_labels), 5000):
            add_annotations(s, actor=actor, version=versions["gold"], labels=gold_labels[start : start + 5000],
                            provenance=prov)  # fmt: skip
        register_golden_set(s, actor=actor, project_id=project.id or 0, name="gold", version=versions["gold"])
        for a, who in enumerate(names):
            jitter = rng.normal(0, 3, size=truth.shape)
            flip = rng.random(size=cats.shape) < 0.05
            units = [
                WorkUnit(ref=f"annotation:{a}-{i}", task=str(i), uri=f"img_{i:07d}.jpg", kind="human", author=who,
                         created_at="2026-01-01T10:00:00+00:00", updated_at="2026-01-01T10:01:00+00:00",
                         lead_time=float(20 + rng.integers(0, 60)),
                         labels=[ToolLabel(category=CLASSES[(cats[i, k] + flip[i, k]) % len(CLASSES)],
                                           x=float(max(0.0, truth[i, k, 0] + jitter[i, k, 0])),
                                           y=float(max(0.0, truth[i, k, 1] + jitter[i, k, 1])), w=60.0, h=40.0,
                                           result=f"r{k}") for k in range(3)])
                for i in range(images)
            ]  # fmt: skip
            sha = hashlib.sha256(who.encode()).hexdigest()
            authors = {who: Author(key=who, username=who)}
            batch = WorkBatch(tool="labelstudio", origin="project:1", source=f"{who}.json", source_sha256=sha,
                              units=units, authors=authors)  # fmt: skip
            record_work(s, actor=actor, version=versions["bench"], batch=batch)
        s.commit()
        vid = versions["bench"].id or 0
    engine.dispose()
    return vid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--golden", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    images = args.labels // (3 * args.annotators)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        vid = build(url, images=images, annotators=args.annotators, golden=args.golden)
        print(f"machine: {machine()}")
        print(
            f"setup: {images * 3 * args.annotators:,} labels on {images:,} images in {time.perf_counter() - t0:.1f} s"
        )
        engine = make_engine(url)
        totals, parts = [], []
        for _ in range(args.runs):
            with Session(engine) as s:
                v = s.get(DatasetVersion, vid)
                assert v is not None
                ds = s.get(Dataset, v.dataset_id)
                from lineage.models import GoldenSet

                g = s.get(GoldenSet, 1)
                t0 = time.perf_counter()
                report = annotator_report(s, dataset=ds, version=v, golden=g, trend=False)  # type: ignore[arg-type]
                totals.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                rows, reviews, users = kpi_rows(s, version_id=vid)
                t1 = time.perf_counter()
                annotator_kpis(rows, reviews, users=users)
                t2 = time.perf_counter()
                annotator_quality(s, version=v, golden=g)
                t3 = time.perf_counter()
                parts.append((t1 - t0, t2 - t1, t3 - t2))
        for a in report.annotators:
            print(f"  {a.annotator}: labels {a.labels:,}, s/image {a.seconds_per_image}, "
                  f"golden {a.golden_error:.4f} [{a.golden_low:.4f}, {a.golden_high:.4f}], "
                  f"alpha {a.alpha:.4f} over {a.alpha_units:,} units")  # fmt: skip
        med = statistics.median(totals)
        read, kpis, quality = (statistics.median(p[i] for p in parts) for i in range(3))
        print(f"report of {len(rows):,} labels: median {med:.2f} s over {args.runs} runs "
              f"(read rows {read:.2f} s, KPIs {kpis:.2f} s, golden error + alpha {quality:.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
