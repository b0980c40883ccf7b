"""Benchmark: an incremental pull of 1k changed tasks from a local Label Studio server (a script, not a test).

A real Label Studio 1.23 (``.labelstudio-venv``, ``scripts/install-labelstudio.sh``) starts on SQLite in a
temporary folder. Its project gets ``--base`` tasks, each imported with an annotation by one of two people
(2 rectangles and a choice) and a model's prediction; labelgate pulls them all once (not timed). Then, per
round, ``--changed`` of those annotations are edited through Label Studio's API (as their authors, outside
the clock), and one incremental pull is timed: the tasks changed since the record's watermark read through
the SDK, parsed, recorded (each edit supersedes its unit's labels) and committed.

The pull also re-reads the tasks changed within ``MARGIN`` (10 s) of the newest change on the record (each
round's last edits, in the next round): skipped, but read. Label Studio touches imported tasks again after
an import (their ``updated_at`` moves past their annotations'), so the first round reads every task once,
until a recorded change moves the watermark past them: the steady state is the later rounds. Each round's
time is printed, and the median of ``--rounds``; the target is <= 5 s for 1k changed tasks.

    python bench/bench_labelstudio_pull.py --base 3000 --changed 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import cpu_model
from sqlmodel import Session

from lineage import identity
from lineage.connectors.labelstudio import MARGIN, pull
from lineage.db import make_engine
from lineage.models import LabelSchema, LabelSchemaVersion, Role
from lineage.schemas import classes_hash
from service.migrate import upgrade_database
from tests.factories import actor_for, make_world
from tests.labelstudio.scenario import CLASSES, LABEL_CONFIG, box, choice
from tests.labelstudio.server import LabelStudioServer, running
from tests.lineage.conftest import quick_version

W, H = 640, 480


def _result(rng: random.Random, salt: int) -> list[dict[str, Any]]:
    x, y = rng.uniform(0, 60), rng.uniform(0, 60)
    return [
        box(f"b{salt}a", "car", x, y, 20, 15),
        box(f"b{salt}b", "person", y, x, 10, 30),
        choice(f"c{salt}", rng.choice(["sunny", "rainy"])),
    ]


def _prepare(folder: Path, ls: LabelStudioServer, base: int) -> tuple[Any, Any, Any, int, dict[int, Any]]:
    """The labelgate database (world, people, a version of ``base`` images) and the Label Studio project."""
    rng = random.Random(7)
    url = f"sqlite:///{folder / 'labelgate.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    images = {f"images/{i:06d}.png": (W, H) for i in range(base)}
    with Session(engine, expire_on_commit=False) as session:
        world = make_world(session)
        admin = actor_for(world.admin)
        for name in ("alice", "bob"):
            user = identity.create_user(session, actor=admin, username=name, full_name=name, email=f"{name}@bench.test")
            identity.add_member(session, actor=admin, project=world.project, user=user, role=Role.annotator)
        schema = LabelSchema(project_id=world.project.id or 0, name="street")
        session.add(schema)
        session.flush()
        sv = LabelSchemaVersion(
            schema_id=schema.id or 0,
            version=1,
            classes=[c.model_dump() for c in CLASSES],
            content_hash=classes_hash(CLASSES),
            created_by=world.admin.id,
        )
        session.add(sv)
        session.flush()
        ml = actor_for(world.users["ml_engineer"])
        _, version = quick_version(
            session, actor=ml, project_id=world.project.id or 0, items=images, schema_version_id=sv.id
        )
        session.commit()
    people = [ls.user("alice@bench.test"), ls.user("bob@bench.test")]
    client = ls.client()
    project = client.projects.create(title="bench pull", label_config=LABEL_CONFIG)
    tasks = []
    for n, uri in enumerate(images):
        tasks.append(
            {
                "data": {"image": uri},
                "annotations": [{"result": _result(rng, n), "completed_by": people[n % 2].id, "lead_time": 9.0}],
                "predictions": [{"result": _result(rng, n), "score": 0.7, "model_version": "bench-v1"}],
            }
        )
    for start in range(0, len(tasks), 1000):
        client.projects.import_tasks(id=project.id, request=tasks[start : start + 1000])
    by_person: dict[int, Any] = {p.id: ls.client(p) for p in people}
    return engine, world, version, project.id, by_person


def _annotations(ls: LabelStudioServer, project: int) -> list[tuple[int, int]]:
    """(annotation id, author id) of every annotation of the project."""
    found = []
    for task in ls.client().tasks.list(project=project, fields="all", page_size=1000):
        for ann in task.annotations or []:
            found.append((int(ann["id"]), int(ann["completed_by"])))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=int, default=3000, help="tasks in the project (default 3000)")
    parser.add_argument("--changed", type=int, default=1000, help="tasks edited per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="bench-ls-pull-") as tmp, running(Path(tmp) / "ls") as ls:
        engine, world, version, project, clients = _prepare(Path(tmp), ls, args.base)
        actor = actor_for(world.users["ml_engineer"])
        with Session(engine, expire_on_commit=False) as session:
            t0 = time.perf_counter()
            first = pull(session, actor=actor, version=version, client=ls.client(), project=project)
            session.commit()
            print(
                f"initial pull: {first.tasks_read} tasks, {first.result.labels_written} labels in "
                f"{time.perf_counter() - t0:.2f} s"
            )
        annotations = _annotations(ls, project)
        times = []
        for r in range(args.rounds):
            picked = rng.sample(annotations, args.changed)
            time.sleep(MARGIN.total_seconds() + 1)  # the edits come after the record's watermark and its margin

            def edit(pair: tuple[int, int], salt: int = r) -> None:
                aid, author = pair
                clients[author].annotations.update(id=aid, result=_result(random.Random(aid + salt), aid))

            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(edit, picked))
            with Session(engine, expire_on_commit=False) as session:
                t0 = time.perf_counter()
                done = pull(session, actor=actor, version=version, client=ls.client(), project=project)
                session.commit()
                took = time.perf_counter() - t0
            res = done.result
            print(
                f"round {r + 1}: {done.tasks_read} tasks read, {res.units_updated} units updated, "
                f"{res.units_skipped} skipped, {res.labels_written} labels written in {took:.2f} s"
            )
            times.append(took)
        engine.dispose()
    print(
        f"incremental pull of {args.changed} changed tasks (project of {args.base}): "
        f"median {statistics.median(times):.2f} s over {args.rounds} rounds "
        f"({', '.join(f'{t:.2f}' for t in times)}); target <= 5 s"
    )
    print(f"machine: {cpu_model()}, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
