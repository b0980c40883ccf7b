"""A run killed with SIGKILL midway resumes on rerun: every item labelled exactly once, and the result equals
an uninterrupted run's (SQLite; the child process holds the run's lease until the kernel reaps it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from lineage.audit.verify import verify_database
from lineage.models import Annotation, AutoLabelRun, ReviewQueueItem, RunState
from tests.inference.conftest import POOL_ITEMS, Env

ROOT = Path(__file__).resolve().parents[2]
BATCH = 4


def _state(env: Env, run_id: int) -> tuple[str, int]:
    with Session(env.engine) as s:
        run = s.get(AutoLabelRun, run_id)
        assert run is not None
        return str(run.state), run.items_done


def _result(env: Env, run_id: int) -> tuple[dict[str, list[tuple[object, ...]]], dict[str, tuple[str, float]]]:
    """Per item path: its labels (rounded) and its queue row, for comparing two runs."""
    with Session(env.engine) as s:
        from lineage.models import Item

        uri = {i.id: i.uri for i in s.exec(select(Item))}
        labels: dict[str, list[tuple[object, ...]]] = {}
        for a in s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id)):
            row = (a.category, *(round(float(v or 0), 2) for v in (a.x, a.y, a.w, a.h)), round(a.confidence or 0, 3))
            labels.setdefault(uri[a.item_id], []).append(row)
        queue = {
            uri[q.item_id]: (q.reason, round(q.priority, 3))
            for q in s.exec(select(ReviewQueueItem).where(ReviewQueueItem.autolabel_run_id == run_id))
        }
    return {k: sorted(v) for k, v in labels.items()}, queue


def _duplicates(env: Env, run_id: int) -> list[object]:
    with Session(env.engine) as s:
        anns = list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id)))
        rows = list(s.exec(select(ReviewQueueItem).where(ReviewQueueItem.autolabel_run_id == run_id)))
    keys = Counter((a.item_id, a.category, a.x, a.y, a.w, a.h) for a in anns)
    return [k for k, n in keys.items() if n > 1] + [k for k, n in Counter(q.item_id for q in rows).items() if n > 1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigkill_midway_then_rerun_equals_an_uninterrupted_run(env: Env) -> None:
    killed = env.queue(batch_size=BATCH)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.inference.kill_target",
            env.settings.database_url,
            str(env.settings.repo_dir),
            str(killed),
            str(env.ml.user_id),
            env.ml.username,
            str(env.signals),
            "1.0",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while _state(env, killed)[1] < 2 * BATCH:
            assert child.poll() is None, child.stderr.read().decode()[-2000:] if child.stderr else "child died"
            assert time.monotonic() < deadline, "the child never committed two batches"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    state, done = _state(env, killed)
    assert state == RunState.running.value and 2 * BATCH <= done < POOL_ITEMS  # interrupted midway
    labels, queue = _result(env, killed)
    assert len(set(labels) | set(queue)) == done  # what was committed is whole batches, nothing half-written
    with Session(env.engine) as s:
        assert verify_database(s).ok

    resumed = env.execute(killed)
    assert resumed.state == "succeeded" and resumed.processed == POOL_ITEMS - done
    assert _state(env, killed) == (RunState.succeeded.value, POOL_ITEMS)
    assert _duplicates(env, killed) == []
    assert "autolabel_run.resume" in env.actions("autolabel_run.")

    clean = env.queue(batch_size=BATCH, reuse=False)
    env.execute(clean)
    labels_k, queue_k = _result(env, killed)
    labels_c, queue_c = _result(env, clean)
    assert len(set(labels_k) | set(queue_k)) == POOL_ITEMS
    assert labels_k == labels_c and queue_k == queue_c
    with Session(env.engine) as s:
        assert verify_database(s).ok
