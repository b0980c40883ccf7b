"""The review queue is served in the order its heading promises (issue 15): lowest score (the confidence the
queue is ordered by, ``priority``) first, ties by entry id, across pages, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from lineage.models import ReviewQueueItem
from lineage.models._base import utcnow
from tests.factories import World, actor_for, make_world
from tests.lineage.conftest import items_of, quick_version

#: Scores in the order the rows are written: neither id order nor the order of any other column.
SCORES = [0.384, 0.441, 0.442, 0.498, 0.428, 0.134, 0.0, 0.9, 0.441, 0.25, 0.013, 0.441]


@pytest.fixture
def queue(engine: Engine) -> tuple[World, list[tuple[float, int]]]:
    """Open queue rows with :data:`SCORES`, one resolved row with the lowest score, and a row of project beta."""
    with Session(engine, expire_on_commit=False) as s:
        world = make_world(s)
        ml = actor_for(world.users["ml_engineer"])
        uris = {f"img{n:02d}.png": (64, 48) for n in range(len(SCORES) + 1)}
        _, v = quick_version(s, actor=ml, project_id=world.project.id or 0, items=uris, dataset="street")
        item_ids = list(items_of(s, v).values())
        rows = [
            ReviewQueueItem(dataset_version_id=v.id or 0, item_id=item_ids[n], reason="uncertain", priority=score)
            for n, score in enumerate(SCORES)
        ]
        done = ReviewQueueItem(
            dataset_version_id=v.id or 0, item_id=item_ids[-1], reason="uncertain", priority=-1.0, resolved_at=utcnow()
        )
        _, beta_v = quick_version(s, actor=actor_for(world.admin), project_id=world.other_project.id or 0,
                                  items={"b.png": (8, 8)}, dataset="beta")  # fmt: skip
        beta = ReviewQueueItem(
            dataset_version_id=beta_v.id or 0, item_id=next(iter(items_of(s, beta_v).values())), reason="x", priority=-2
        )
        s.add_all([*rows, done, beta])
        s.commit()
        return world, [(r.priority, r.id or 0) for r in rows]


def test_the_queue_is_lowest_score_first_then_by_id_across_pages(
    client: TestClient, queue: tuple[World, list[tuple[float, int]]]
) -> None:
    world, rows = queue
    url = f"/api/v1/projects/{world.project.id}/review-queue"
    h = world.headers("reviewer")
    served = []
    for offset in range(0, len(rows), 5):
        page = client.get(url, params={"offset": offset, "limit": 5}, headers=h)
        assert page.status_code == 200, page.text
        served += [(e["priority"], e["id"]) for e in page.json()]
    assert served == sorted(rows)  # ascending score, ties (0.441 three times) by id; nothing resolved or of beta
    assert [p for p, _ in served][:3] == [0.0, 0.013, 0.134]
    assert served != sorted(rows, key=lambda r: r[1])  # the id order would differ: the test can tell them apart


def test_following_the_link_walks_the_queue_by_seek_in_the_same_order(
    client: TestClient, queue: tuple[World, list[tuple[float, int]]]
) -> None:
    """``Link: rel="next"`` (``after`` the last item held) serves every open row once, in the queue's order,
    ties at 0.441 included; an ``after`` of another project's row, or of no row, is refused (422)."""
    world, rows = queue
    url: str | None = f"/api/v1/projects/{world.project.id}/review-queue?limit=2"
    h = world.headers("reviewer")
    served, pages = [], 0
    while url:
        page = client.get(url, headers=h)
        assert page.status_code == 200, page.text
        served += [(e["priority"], e["id"]) for e in page.json()]
        link = page.headers.get("link")
        url = link[link.index("<") + 1 : link.index(">")] if link else None
        pages += 1
    assert served == sorted(rows) and pages == len(rows) // 2
    base = f"/api/v1/projects/{world.project.id}/review-queue"
    beta_row = max(r for _, r in rows) + 2  # written after the resolved row: project beta's
    for after in (beta_row, 999_999):
        refused = client.get(base, params={"after": after}, headers=h)
        assert refused.status_code == 422 and "after" in refused.text, refused.text
