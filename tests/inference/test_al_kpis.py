"""Active-learning KPIs per cycle: hand-checked metrics, selected items holding a model error, the stop rule's
edge cases, the audit event on the record and the plot."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from inference.al_kpis import (
    AL_CYCLE_ACTION,
    CycleEval,
    StopRule,
    chart_data,
    cycle_kpis,
    evaluate_cycle,
    items_with_model_error,
    plot_cycles,
    record_cycle,
)
from lineage.models import AuditEvent
from quality_gates.boxes import BoxSet
from tests.factories import actor_for, make_world


def boxes(rows: list[tuple[int, int, float, float, float, float]], scores: list[float] | None = None) -> BoxSet:
    arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return BoxSet(arr[:, 0], arr[:, 1], arr[:, 2:], score=None if scores is None else np.array(scores))


def test_evaluate_cycle_by_hand() -> None:
    gt = boxes([(1, 0, 0, 0, 10, 10), (1, 0, 20, 20, 10, 10)])
    # one exact hit (0.9), one false positive (0.8): P = R = 1/2; COCO's 101-point AP: precision 1 up to
    # recall 0.5 (51 of 101 recall points), 0 after, at every IoU threshold (the hit has IoU 1)
    dt = boxes([(1, 0, 0, 0, 10, 10), (1, 0, 50, 50, 5, 5)], [0.9, 0.8])
    e = evaluate_cycle(gt, dt, num_classes=1)
    assert (e.precision, e.recall) == (0.5, 0.5)
    assert e.map == pytest.approx(51 / 101) and e.map50 == pytest.approx(51 / 101)
    low = evaluate_cycle(gt, dt, num_classes=1, threshold=0.85)
    assert (low.precision, low.recall) == (1.0, 0.5)


def test_evaluate_cycle_empty_cases() -> None:
    empty = boxes([])
    e = evaluate_cycle(empty, empty, num_classes=2)
    assert math.isnan(e.precision) and math.isnan(e.recall) and math.isnan(e.map)
    none_found = evaluate_cycle(boxes([(1, 0, 0, 0, 5, 5)]), boxes([], []), num_classes=1)
    assert math.isnan(none_found.precision) and none_found.recall == 0.0 and none_found.map == 0.0


def test_items_with_model_error() -> None:
    gt = boxes(
        [
            (1, 0, 0, 0, 10, 10),  # found
            (2, 0, 0, 0, 10, 10),  # missed
            (4, 0, 0, 0, 10, 10),  # predicted as class 1: wrong class
            (5, 0, 0, 0, 10, 10),  # found; a low-score extra box does not count
            (6, 0, 0, 0, 10, 10),  # predicted below the threshold: missed
        ]
    )
    dt = boxes(
        [
            (1, 0, 0, 0, 10, 10),
            (3, 0, 0, 0, 10, 10),  # false positive on an item without objects
            (4, 1, 0, 0, 10, 10),
            (5, 0, 0, 0, 10, 10),
            (5, 0, 40, 40, 5, 5),
            (6, 0, 0, 0, 10, 10),
            (9, 0, 0, 0, 10, 10),  # not selected: not counted
        ],
        [0.9, 0.9, 0.9, 0.9, 0.2, 0.3, 0.9],
    )
    wrong = items_with_model_error(gt, dt, items=[1, 2, 3, 4, 5, 6, 7], num_classes=2)
    assert wrong.tolist() == [2, 3, 4, 6]
    assert items_with_model_error(gt, dt, items=[], num_classes=2).tolist() == []
    assert items_with_model_error(gt, dt, items=[5, 6], num_classes=2, threshold=0.1).tolist() == [5]


def ev(m: float, p: float = 0.5, r: float = 0.5) -> CycleEval:
    return CycleEval(precision=p, recall=r, map=m, map50=m)


def test_cycle_kpis_deltas_and_error_share() -> None:
    k = cycle_kpis([ev(0.40, 0.6, 0.5), ev(0.45, 0.7, 0.55)], [(10, 7), (0, 0)])
    assert (k[0].cycle, k[0].d_precision, k[0].d_map, k[0].error_share) == (1, None, None, 0.7)
    assert k[1].d_precision == pytest.approx(0.1) and k[1].d_recall == pytest.approx(0.05)
    assert k[1].d_map == pytest.approx(0.05) and k[1].error_share is None
    with pytest.raises(ValueError, match="one of each per cycle"):
        cycle_kpis([ev(0.1)], [])
    with pytest.raises(ValueError, match="3 items with an error out of 2"):
        cycle_kpis([ev(0.1)], [(2, 3)])


@pytest.mark.parametrize(
    ("maps", "stop", "why"),
    [
        ([0.40], False, "2 more cycle(s) needed"),
        ([0.40, 0.401], False, "1 more cycle(s) needed"),
        ([0.40, 0.4049, 0.4098], True, "+0.49, +0.49"),  # under 0.5 point twice
        ([0.40, 0.405, 0.410], False, "+0.50, +0.50"),  # exactly 0.5 point is not under it
        ([0.40, 0.404, 0.420], False, "+0.40, +1.60"),  # only one small gain
        ([0.40, 0.45, 0.44, 0.43], True, "-1.00, -1.00"),  # losses count as small gains
        ([0.40, 0.41, math.nan, 0.42], False, "undefined"),
    ],
)
def test_stop_rule_edges(maps: list[float], stop: bool, why: str) -> None:
    got, reason = StopRule().decide(maps)
    assert got is stop and why in reason


def test_stop_rule_configurable_and_checked() -> None:
    assert StopRule(min_gain=2.0, cycles=1).decide([0.40, 0.415])[0] is True
    assert StopRule(min_gain=1.0, cycles=3).decide([0.4, 0.401, 0.402])[0] is False
    with pytest.raises(ValueError):
        StopRule(cycles=0)
    last = cycle_kpis([ev(0.4), ev(0.402), ev(0.403)], [(5, 1)] * 3)[-1]
    assert last.stop and last.reason.startswith("stop:")


def test_cycle_recorded_on_the_record(session: Session) -> None:
    world = make_world(session)
    ml = actor_for(world.users["ml_engineer"], request_id="req-ml")
    kpis = cycle_kpis([ev(0.40), ev(math.nan)], [(10, 4), (10, 2)])
    event = record_cycle(
        session, ml, kpis[1], project_id=world.project.id or 0, subject=("model", "tiny@1"), validation="golden@v1"
    )
    session.commit()
    stored = session.exec(select(AuditEvent).where(AuditEvent.action == AL_CYCLE_ACTION)).one()
    assert stored.seq == event.seq and (stored.object_type, stored.object_id) == ("model", "tiny@1")
    payload = stored.payload or {}
    assert payload["cycle"] == 2 and payload["error_share"] == 0.2 and payload["validation"] == "golden@v1"
    assert payload["map"] is None and payload["stop"] is False  # NaN stored as null


def test_chart_data_and_plot(tmp_path: Path) -> None:
    kpis = cycle_kpis([ev(0.3, 0.6, 0.4), ev(0.35, 0.65, 0.5)], [(4, 2), (4, 1)])
    data = chart_data(kpis)
    assert data["cycle"] == [1, 2] and data["map"] == [0.3, 0.35] and data["error_share"] == [0.5, 0.25]
    png = plot_cycles(kpis, tmp_path / "al" / "cycles.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
