"""The Ray executor on a local Ray instance gives exactly the in-process result (same batches, same labels)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from lineage.models import Annotation, ReviewQueueItem
from tests.inference.conftest import POOL_ITEMS, Env

ray = pytest.importorskip("ray")


@pytest.fixture
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def _snapshot(env: Env, run_id: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with Session(env.engine) as s:
        anns = sorted(
            (a.item_id, a.category, round(a.x or 0, 2), round(a.y or 0, 2), round(a.confidence or 0, 3))
            for a in s.exec(select(Annotation).where(Annotation.autolabel_run_id == run_id))
        )
        rows = sorted(
            (q.item_id, q.reason, round(q.priority, 3))
            for q in s.exec(select(ReviewQueueItem).where(ReviewQueueItem.autolabel_run_id == run_id))
        )
    return anns, rows


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_ray_executor_matches_the_local_one(env: Env, local_ray: None) -> None:
    on_ray = env.queue()
    summary = env.execute(on_ray, executor="ray", workers=1)
    assert summary.state == "succeeded" and summary.processed == POOL_ITEMS
    local = env.queue(reuse=False)
    env.execute(local)
    assert _snapshot(env, on_ray) == _snapshot(env, local)
    assert _snapshot(env, on_ray)[0], "the run labelled something"
