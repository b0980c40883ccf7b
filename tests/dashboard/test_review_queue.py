"""The review queue page (issue 15) with Streamlit's AppTest against the real API on the gate scenario: the
entries in the order the caption promises (lowest confidence first, the score the server orders by), a
total (``50 of 55 open items``), and no ``None`` cell in the queue or the runs table (``—`` instead)."""

from __future__ import annotations

import math
import random

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dashboard.views.autolabel import QUEUE_SHOWN
from lineage.models import AutoLabelRun, Item, ReviewQueueItem
from tests.dashboard.conftest import assert_clean, open_page, signed_in, table_with, texts
from tests.factories import World

OPEN_ROWS = 55


def _seed_queue(engine: Engine) -> list[float]:
    """:data:`OPEN_ROWS` open entries on the scenario's items with shuffled scores (written in neither score
    nor any other order), every other one without a run (an active-learning pick); returns the scores."""
    rng = random.Random(15)
    scores = [round(rng.uniform(0.0, 0.9), 3) for _ in range(OPEN_ROWS)]
    with Session(engine) as s:
        run = s.exec(select(AutoLabelRun).order_by(col(AutoLabelRun.id))).first()
        assert run is not None
        taken = set(s.exec(select(ReviewQueueItem.item_id).where(ReviewQueueItem.autolabel_run_id == run.id)))
        items = [i for i in s.exec(select(Item).order_by(col(Item.id))) if i.id not in taken][:OPEN_ROWS]
        for n, (item, score) in enumerate(zip(items, scores, strict=True)):
            s.add(
                ReviewQueueItem(
                    dataset_version_id=item.dataset_version_id,
                    item_id=item.id or 0,
                    autolabel_run_id=run.id if n % 2 else None,
                    reason="uncertain" if n % 2 else "active_learning",
                    priority=score,
                )
            )
        s.commit()
    return scores


def _no_none(rows: list[dict[str, object]]) -> None:
    for row in rows:
        for column, value in row.items():
            missing = value is None or (isinstance(value, float) and math.isnan(value)) or value == "None"
            assert not missing, (column, row)


def test_the_queue_is_lowest_confidence_first_with_its_total_and_no_none(
    gate_http: TestClient, gate_world: World, engine: Engine
) -> None:
    scores = _seed_queue(engine)
    at = open_page(signed_in(gate_http, gate_world.tokens["ml_engineer"]), "autolabel")
    assert_clean(at)
    assert at.metric[0].value == str(OPEN_ROWS)
    assert f"{QUEUE_SHOWN} of {OPEN_ROWS} open items, lowest confidence first." in texts(at, "caption")
    queue = table_with(at, "entry")
    shown = [float(r["confidence"]) for r in queue]  # type: ignore[arg-type]
    assert shown == sorted(scores)[:QUEUE_SHOWN]  # ascending, the lowest 50 of the 55
    assert {r["run"] for r in queue} >= {"—"} and any(str(r["run"]).isdigit() for r in queue)
    _no_none(queue)
    runs = table_with(at, "images/s")
    assert runs and all(isinstance(r["images/s"], str) for r in runs)
    _no_none(runs)


def test_a_short_queue_says_how_many_there_are(gate_http: TestClient, gate_world: World, engine: Engine) -> None:
    with Session(engine) as s:
        item = s.exec(select(Item).order_by(col(Item.id))).first()
        assert item is not None
        s.add(ReviewQueueItem(dataset_version_id=item.dataset_version_id, item_id=item.id or 0, reason="no_label"))
        s.commit()
    at = open_page(signed_in(gate_http, gate_world.tokens["reviewer"]), "autolabel")
    assert_clean(at)
    assert "1 of 1 open items, lowest confidence first." in texts(at, "caption")
    (entry,) = table_with(at, "entry")
    assert (entry["run"], entry["confidence"]) == ("—", 0.0)
