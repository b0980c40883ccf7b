"""Active-learning KPIs per cycle, and when to stop.

One cycle: the model of that cycle predicts on a **frozen validation set** (the same items and labels every
cycle) and the next batch is picked for people. Per cycle (:func:`cycle_kpis`):

- ``precision``, ``recall``: micro-averaged over classes at confidence ``threshold`` (0.5) and IoU 0.5
  (``quality_gates.detection``'s class-wise greedy matching);
- ``map`` (COCO mAP@[.5:.95]) and ``map50``: ``quality_gates.cocoeval`` (pycocotools' numbers);
- ``d_precision``, ``d_recall``, ``d_map``: the change since the previous cycle (None for the first);
- ``error_share``: the share of the cycle's selected items that held a model error once reviewed: a
  reviewed object the model missed, a prediction matching no reviewed object (a false positive), or one of
  the wrong class (both, at IoU 0.5), for predictions at ``threshold`` (:func:`items_with_model_error`).
  High means the selection finds the model's mistakes; near 0 means it spends people's time on items the
  model already gets right;
- ``stop``: :class:`StopRule`: stop when mAP gained less than ``min_gain`` mAP points (0.5) in each of the
  last ``cycles`` (2) cycles; ``reason`` says why either way.

Fractions are 0..1 (mAP points are 100 x mAP); NaN where undefined (precision without predictions).
:func:`record_cycle` writes a cycle on the record as an ``active_learning.cycle`` audit event;
:func:`chart_data` is what a dashboard charts and :func:`plot_cycles` draws it to a PNG (matplotlib, Agg).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.types import IntArray
from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.models import AuditEvent
from quality_gates.boxes import BoxSet
from quality_gates.cocoeval import coco_evaluate
from quality_gates.detection import match_detections

__all__ = [
    "AL_CYCLE_ACTION",
    "CycleEval",
    "CycleKpis",
    "StopRule",
    "chart_data",
    "cycle_kpis",
    "evaluate_cycle",
    "items_with_model_error",
    "plot_cycles",
    "record_cycle",
]

AL_CYCLE_ACTION = "active_learning.cycle"


@dataclass(frozen=True)
class StopRule:
    """Stop when mAP rose by less than ``min_gain`` mAP points (0.5) in each of the last ``cycles`` (2)."""

    min_gain: float = 0.5
    cycles: int = 2

    def __post_init__(self) -> None:
        if self.cycles < 1 or not math.isfinite(self.min_gain):
            raise ValueError("a stop rule needs cycles >= 1 and a finite min_gain")

    def decide(self, maps: Sequence[float]) -> tuple[bool, str]:
        """Whether to stop after the last of ``maps`` (mAP per cycle, 0..1), and why."""
        gains = [100 * (b - a) for a, b in itertools.pairwise(maps)]
        if len(gains) < self.cycles:
            need = self.cycles + 1 - len(maps)
            return False, f"continue: the rule compares {self.cycles} gains, {need} more cycle(s) needed"
        last = gains[-self.cycles :]
        shown = ", ".join(f"{g:+.2f}" for g in last)
        if any(math.isnan(g) for g in last):
            return False, f"continue: mAP undefined in a recent cycle ({shown} points)"
        if all(g < self.min_gain for g in last):
            return True, f"stop: mAP gained {shown} points, under {self.min_gain:g} in each of the last {self.cycles}"
        return False, f"continue: mAP gained {shown} points in the last {self.cycles} cycles"


@dataclass(frozen=True)
class CycleEval:
    """A cycle's model on the frozen validation set."""

    precision: float
    recall: float
    map: float
    map50: float


@dataclass(frozen=True)
class CycleKpis:
    """One cycle's KPIs (module docstring); ``cycle`` counts from 1."""

    cycle: int
    precision: float
    recall: float
    map: float
    map50: float
    d_precision: float | None
    d_recall: float | None
    d_map: float | None
    selected: int
    selected_with_error: int
    error_share: float | None
    stop: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def evaluate_cycle(gt: BoxSet, dt: BoxSet, *, num_classes: int, threshold: float = 0.5) -> CycleEval:
    """Precision and recall at ``threshold`` (IoU 0.5) and COCO mAP of ``dt`` against the frozen ``gt``."""
    counts = match_detections(gt, dt, num_classes=num_classes, iou=0.5).counts(threshold).overall()
    if len(gt) == 0:
        return CycleEval(counts["precision"], counts["recall"], math.nan, math.nan)
    scored = dt if dt.score is not None else BoxSet(dt.image, dt.category, dt.xywh, score=np.ones(len(dt)))
    stats = coco_evaluate(gt, scored, num_classes=num_classes).stats
    defined = [float(s) if s >= 0 else math.nan for s in stats[:2]]
    return CycleEval(counts["precision"], counts["recall"], defined[0], defined[1])


def items_with_model_error(
    gt: BoxSet,
    dt: BoxSet,
    *,
    items: Sequence[int] | IntArray,
    num_classes: int,
    threshold: float = 0.5,
    iou: float = 0.5,
) -> IntArray:
    """The ``items`` (image ids) where the model's predictions (``score >= threshold``) disagree with the
    reviewed labels ``gt``: a missed object, a false positive or a wrong class (a same-class match at ``iou``
    is required, so a wrong class is both a miss and a false positive)."""
    ids = np.unique(np.asarray(items, dtype=np.int64))
    if len(ids) == 0:
        return ids
    g = gt.select(np.isin(gt.image, ids)) if len(gt) else gt
    d = dt.select(np.isin(dt.image, ids)) if len(dt) else dt
    m = match_detections(g, d, num_classes=num_classes, iou=iou)
    counted = (m.score >= threshold) & ~m.ignored
    false_pos = d.image[counted & ~m.matched]
    by = m.gt_matched_by
    crowd = g.iscrowd if g.iscrowd is not None else np.zeros(len(g), dtype=bool)
    found = (by >= 0) & (m.score[np.maximum(by, 0)] >= threshold) if len(by) else np.zeros(0, dtype=bool)
    missed = g.image[~found & ~crowd]
    return np.intersect1d(ids, np.concatenate([false_pos, missed]))


def cycle_kpis(
    evals: Sequence[CycleEval], selections: Sequence[tuple[int, int]], *, rule: StopRule | None = None
) -> list[CycleKpis]:
    """KPIs of every cycle so far: ``evals[i]`` cycle i+1's model on the frozen set, ``selections[i]``
    its (selected items, of which with a model error)."""
    if len(evals) != len(selections):
        raise ValueError(f"{len(evals)} evaluations but {len(selections)} selections: one of each per cycle")
    rule = rule or StopRule()
    out: list[CycleKpis] = []
    for i, (e, (selected, wrong)) in enumerate(zip(evals, selections, strict=True)):
        if not 0 <= wrong <= selected:
            raise ValueError(f"cycle {i + 1}: {wrong} items with an error out of {selected} selected")
        prev = evals[i - 1] if i else None
        stop, reason = rule.decide([c.map for c in evals[: i + 1]])
        out.append(
            CycleKpis(
                cycle=i + 1,
                precision=e.precision,
                recall=e.recall,
                map=e.map,
                map50=e.map50,
                d_precision=None if prev is None else e.precision - prev.precision,
                d_recall=None if prev is None else e.recall - prev.recall,
                d_map=None if prev is None else e.map - prev.map,
                selected=selected,
                selected_with_error=wrong,
                error_share=wrong / selected if selected else None,
                stop=stop,
                reason=reason,
            )
        )
    return out


def record_cycle(
    session: Any, actor: Actor, kpis: CycleKpis, *, project_id: int, subject: tuple[str, str | int], **extra: Any
) -> AuditEvent:
    """Record one cycle as an ``active_learning.cycle`` event on ``subject`` (the model, or the run), in
    the caller's transaction; ``extra`` (the validation set, the run) joins the payload."""
    return record_event(
        session, actor, AL_CYCLE_ACTION, subject, project_id=project_id, payload={**kpis.to_dict(), **extra}
    )


def chart_data(kpis: Sequence[CycleKpis]) -> dict[str, list[Any]]:
    """Series per cycle, for a dashboard chart: ``{"cycle": [...], "map": [...], "precision": [...], ...}``."""
    rows = [k.to_dict() for k in kpis]
    keys = ("cycle", "map", "map50", "precision", "recall", "error_share")
    return {key: [r[key] for r in rows] for key in keys}


def plot_cycles(kpis: Sequence[CycleKpis], path: Path) -> Path:
    """Draw mAP, precision and recall per cycle to the PNG ``path`` (matplotlib's Agg backend, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = chart_data(kpis)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for key, label in (("map", "mAP@[.5:.95]"), ("precision", "precision"), ("recall", "recall")):
        values = [math.nan if v is None else v for v in data[key]]
        ax.plot(data["cycle"], values, marker="o", label=label)
    ax.set_xlabel("active-learning cycle")
    ax.set_ylim(0, 1)
    ax.set_xticks(data["cycle"])
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
