"""Benchmark: the training-leakage gate's inputs on the record at 100k items (a script, not a test).

A fresh database (SQLite file, or a fresh PostgreSQL schema) gets a version of ``--items`` items with one
model label each, a model trained on a version of as many items (half of them the version's own bytes,
some the golden set's) and validated on the golden version, and a golden set of ``--golden`` items. Timed:
``lineage.gates.leakage.leakage_inputs`` (the queries: labelled items' hashes per model, the training rows,
the training hashes that matter) and ``quality_gates.leakage.leakage_findings`` (the pure count), each the
median of ``--runs`` runs on the same database, caches cleared between runs (``Session.expire_all``).

    python bench/bench_leakage.py --db sqlite --items 100000
    python bench/bench_leakage.py --db postgresql --items 100000
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text
from sqlmodel import Session, select

from bench._common import machine
from lineage.db import make_engine
from lineage.gates.leakage import leakage_inputs
from lineage.models import (
    Annotation,
    AutoLabelRun,
    Dataset,
    DatasetVersion,
    GoldenSet,
    Item,
    ModelTrainingData,
    ModelVersion,
    Project,
    User,
)
from quality_gates.leakage import leakage_findings, leakage_result
from quality_gates.policy import TrainingLeakageGate
from service.migrate import upgrade_database
from service.settings import Settings

PG_ADMIN = Settings().test_pg_url


def _sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def _database(kind: str, work: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work / 'bench.db'}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    return f"{PG_ADMIN}{'&' if '?' in PG_ADMIN else '?'}options=-csearch_path%3D{schema}"


def _version(s: Session, project: Project, user: User, name: str, hashes: list[str]) -> DatasetVersion:
    dataset = Dataset(project_id=project.id or 0, name=name, created_by=user.id or 0)
    s.add(dataset)
    s.flush()
    version = DatasetVersion(dataset_id=dataset.id or 0, version="v1", item_count=len(hashes), created_by=user.id or 0)
    s.add(version)
    s.flush()
    now = datetime.now(UTC)
    rows = [
        {"dataset_version_id": version.id, "uri": f"{i:06d}.png", "sha256": h, "size_bytes": 1, "created_at": now}
        for i, h in enumerate(hashes)
    ]
    for start in range(0, len(rows), 20_000):
        s.execute(insert(Item), rows[start : start + 20_000])
    return version


def build(url: str, *, items: int, golden: int) -> tuple[int, int]:
    """The record above (written directly: a builder); returns the evaluated version's and golden set's ids."""
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine) as s:
        user = User(username="bench", full_name="bench")
        s.add(user)
        s.flush()
        project = Project(name="bench", created_by=user.id or 0)
        s.add(project)
        s.flush()
        judged = _version(s, project, user, "street", [_sha(i) for i in range(items)])
        gold = _version(s, project, user, "golden", [_sha(-i - 1) for i in range(golden)])
        # Training data: the second half of the judged version's bytes, a tenth of the golden set, the rest new.
        train = [_sha(i) for i in range(items // 2, items)] + [_sha(-i - 1) for i in range(golden // 10)]
        train += [_sha(items + i) for i in range(items - len(train))]
        trained = _version(s, project, user, "train", train)
        model = ModelVersion(
            project_id=project.id or 0,
            name="det",
            version="1",
            framework="simulated",
            weights_uri="simulated://det/1",
            weights_sha256="0" * 64,
            created_by=user.id or 0,
        )
        s.add(model)
        s.flush()
        run = AutoLabelRun(
            dataset_version_id=judged.id or 0, model_version_id=model.id or 0, threshold=0.3, created_by=user.id or 0
        )
        s.add(run)
        s.flush()
        ids = list(s.exec(select(Item.id).where(Item.dataset_version_id == judged.id)))
        now = datetime.now(UTC)
        labels = [
            {
                "dataset_version_id": judged.id,
                "item_id": i,
                "category": "car",
                "geometry_type": "box",
                "x": 0.0,
                "y": 0.0,
                "w": 1.0,
                "h": 1.0,
                "kind": "model",
                "model_version_id": model.id,
                "weights_sha256": "0" * 64,
                "confidence": 0.9,
                "threshold": 0.3,
                "autolabel_run_id": run.id,
                "created_by": user.id,
                "created_at": now,
            }
            for i in ids
        ]
        for start in range(0, len(labels), 20_000):
            s.execute(insert(Annotation), labels[start : start + 20_000])
        s.add(ModelTrainingData(model_version_id=model.id or 0, dataset_version_id=trained.id or 0, role="train"))
        s.add(ModelTrainingData(model_version_id=model.id or 0, dataset_version_id=gold.id or 0, role="val"))
        golden_set = GoldenSet(
            project_id=project.id or 0,
            name="gold",
            version=1,
            dataset_version_id=gold.id or 0,
            manifest_hash="0" * 64,
            created_by=user.id or 0,
        )
        s.add(golden_set)
        s.commit()
        judged_id, golden_id = judged.id or 0, golden_set.id or 0
    engine.dispose()
    return judged_id, golden_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--golden", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="labelgate-bench-leak-") as tmp:
        url = _database(args.db, Path(tmp))
        started = time.perf_counter()
        judged_id, golden_id = build(url, items=args.items, golden=args.golden)
        built = time.perf_counter() - started
        engine = make_engine(url)
        inputs_s, findings_s = [], []
        explanation = ""
        with Session(engine) as s:
            for _ in range(args.runs):
                s.expire_all()
                version, golden_set = s.get(DatasetVersion, judged_id), s.get(GoldenSet, golden_id)
                assert version is not None and golden_set is not None
                t0 = time.perf_counter()
                inputs = leakage_inputs(s, version, golden=golden_set)
                t1 = time.perf_counter()
                found = leakage_findings(inputs, TrainingLeakageGate())
                t2 = time.perf_counter()
                inputs_s.append(t1 - t0)
                findings_s.append(t2 - t1)
                explanation = leakage_result(found).explanation
        engine.dispose()
    print(f"machine: {machine()}")
    print(
        f"method: {args.db}, {args.items} items with one model label each, a training version of {args.items} items "
        f"({args.items // 2} shared with the version, {args.golden // 10} golden), a golden set of {args.golden}; "
        f"median of {args.runs} runs (built in {built:.1f} s)"
    )
    print(f"leakage_inputs   {statistics.median(inputs_s):.3f} s")
    print(f"leakage_findings {statistics.median(findings_s):.4f} s")
    print(f"verdict: {explanation}")


if __name__ == "__main__":
    main()
