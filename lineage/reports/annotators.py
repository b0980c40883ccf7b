"""Annotator KPIs of a dataset version, as the labelling guides define them: speed, review, rework.

Computed per annotator over the rows **written in the version** (``origin_id`` null: labels a child
inherited from its parent were made in the parent and count there). Pure functions over plain rows
(:class:`LabelRow`, :class:`ReviewRow`) that :func:`kpi_rows` reads from the record with two Core
selects (no ORM object per row), so a version of a million labels is read once and computed in memory.

**Their labels.** An annotator's *own rows* are the ``human`` rows attributed to them, tombstones
excluded, less the rows that are someone else's work redone: a reviewer's correction (``reviews.correction_id``)
and a row superseding another person's label. Their *labels* are the own rows not superseded by one of
their own later rows (a tool unit they updated, a label they corrected themselves count once).

**Speed** (from the tools' lead times, ``attributes["made"]``, see ``lineage.formats.work``). A unit of
work is ``(tool, origin, ref)``, counted once (its latest row: a unit updated in the tool carries its total
lead time); cancelled units are left out. With ``t`` a unit's ``lead_time`` in seconds and ``n`` its
``labels``:

- ``seconds_per_image``: median over the images they worked on of the sum of ``t`` of their units there;
- ``seconds_per_object``: median over units with ``n > 0`` of ``t / n``;
- ``labels_per_hour``: ``Σ n / (Σ t / 3600)``.

Labels without a lead time (a COCO/YOLO/VOC import, a label drawn in labelgate) give ``None`` with the
reason, never 0.

**Review latency**: per reviewed own row, its first review's time minus the label's time (``made.at``
when the tool recorded it, else the row's ``created_at``); the median, in seconds.

**Rework rate**: the share of their labels a reviewer corrected (``correct``) or rejected (``reject``), or
that another person's row superseded; each label counted once, with the three counts.

Golden-set error and agreement come from the gate machinery (``lineage.reports.annotators_quality``) and are
merged in by :func:`annotator_kpis` through ``quality``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Text, case, cast, or_, select
from sqlmodel import Session, SQLModel

from lineage.formats.work import made_of
from lineage.labels.labelset import DELETED

__all__ = [
    "KPI_NAMES",
    "AnnotatorKpis",
    "LabelRow",
    "Quality",
    "ReviewRow",
    "annotator_kpis",
    "kpi_rows",
    "label_time",
    "parse_time",
]

#: The KPIs that may be None, each with a reason in ``AnnotatorKpis.reasons``.
KPI_NAMES = (
    "seconds_per_image",
    "seconds_per_object",
    "labels_per_hour",
    "review_latency_s",
    "rework_rate",
    "golden_error",
    "alpha",
)


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One annotation row as the KPIs read it (``made``: its ``attributes["made"]``, None without)."""

    id: int
    item_id: int
    kind: str
    annotator_id: int | None
    supersedes_id: int | None
    created_at: datetime
    geometry_type: str = "box"
    made: dict[str, Any] | None = None
    source_format: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One review decision on an annotation row."""

    annotation_id: int
    decision: str
    created_at: datetime
    correction_id: int | None = None


@dataclass(frozen=True, slots=True)
class Quality:
    """An annotator's golden-set error and agreement (``lineage.reports.annotators_quality``); a None value
    comes with its reason."""

    golden_error: float | None = None
    golden_low: float | None = None
    golden_high: float | None = None
    golden_trials: int = 0
    alpha: float | None = None
    alpha_units: int = 0
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnnotatorKpis:
    """One annotator's KPIs in one version (definitions in the module docstring). Times in seconds;
    ``golden_low``/``golden_high``: the Wilson interval of ``golden_error`` (95 %); ``reasons``: KPI name →
    why it is None."""

    annotator: str
    labels: int
    images: int
    units: int
    timed_labels: int
    seconds_per_image: float | None
    seconds_per_object: float | None
    labels_per_hour: float | None
    reviewed: int
    review_latency_s: float | None
    corrected: int
    rejected: int
    superseded: int
    reworked: int
    rework_rate: float | None
    golden_error: float | None = None
    golden_low: float | None = None
    golden_high: float | None = None
    golden_trials: int = 0
    alpha: float | None = None
    alpha_units: int = 0
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"reasons": dict(self.reasons)}


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time as the tools write it (``Z`` accepted); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def label_time(row: LabelRow) -> datetime:
    """When the label was made: ``made.at`` when the tool recorded it, else the row's ``created_at``."""
    return parse_time((row.made or {}).get("at")) or row.created_at


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(np.asarray(values, dtype=np.float64))) if values else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
        return None
    return float(value)


def _own_rows(rows: Sequence[LabelRow], corrections: set[int]) -> dict[int, list[LabelRow]]:
    """Annotator id → their own rows (see the module docstring)."""
    by_id = {r.id: r for r in rows}
    out: dict[int, list[LabelRow]] = defaultdict(list)
    for r in rows:
        if r.kind != "human" or r.annotator_id is None or r.geometry_type == DELETED or r.id in corrections:
            continue
        before = by_id.get(r.supersedes_id) if r.supersedes_id is not None else None
        if before is not None and before.kind == "human" and before.annotator_id != r.annotator_id:
            continue
        out[r.annotator_id].append(r)
    return out


def _unit(made: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (made.get("tool"), made.get("origin"), made.get("ref"))


def _speed(own: Sequence[LabelRow]) -> tuple[dict[str, float | None], int, int, dict[str, str]]:
    """(speed KPIs, units, labels in timed units, reasons) of one annotator's own rows."""
    latest: dict[tuple[Any, Any, Any], LabelRow] = {}
    rows_of_version: dict[tuple[tuple[Any, Any, Any], Any], int] = defaultdict(int)
    for r in own:
        made = r.made
        if made is None:
            continue
        key = _unit(made)
        rows_of_version[(key, made.get("updated"))] += 1
        if _number(made.get("lead_time")) is None or made.get("cancelled"):
            continue
        if key not in latest or r.id > latest[key].id:
            latest[key] = r
    if not latest:
        formats = sorted({r.source_format for r in own if r.source_format})
        why = f"imported from {', '.join(formats)}" if formats else "drawn or imported without a tool's record"
        reason = f"no lead times: their labels carry none ({why})"
        none: dict[str, float | None] = dict.fromkeys(("seconds_per_image", "seconds_per_object", "labels_per_hour"))
        return none, 0, 0, dict.fromkeys(none, reason)
    per_image: dict[int, float] = defaultdict(float)
    per_object: list[float] = []
    seconds = 0.0
    labels = 0
    for key, r in latest.items():
        made = r.made or {}
        t = _number(made.get("lead_time")) or 0.0
        given = made.get("labels")
        n = given if isinstance(given, int) and not isinstance(given, bool) and given >= 0 else None
        n = n if n is not None else rows_of_version[(key, made.get("updated"))]
        per_image[r.item_id] += t
        if n > 0:
            per_object.append(t / n)
        seconds += t
        labels += n
    reasons: dict[str, str] = {}
    if not per_object:
        reasons["seconds_per_object"] = "no timed unit holds a label"
    if seconds == 0:
        reasons["labels_per_hour"] = "the recorded lead times add up to 0 s"
    speed = {
        "seconds_per_image": _median(list(per_image.values())),
        "seconds_per_object": _median(per_object),
        "labels_per_hour": labels / (seconds / 3600.0) if seconds > 0 else None,
    }
    return speed, len(latest), labels, reasons


def _review(
    own: Sequence[LabelRow],
    labels: Sequence[LabelRow],
    first_review: Mapping[int, ReviewRow],
    decisions: Mapping[int, set[str]],
    superseder: Mapping[int, LabelRow],
) -> dict[str, Any]:
    latencies = [(first_review[r.id].created_at - label_time(r)).total_seconds() for r in own if r.id in first_review]
    corrected = rejected = superseded = 0
    for r in labels:
        done = decisions.get(r.id, set())
        if "correct" in done:
            corrected += 1
        elif "reject" in done:
            rejected += 1
        elif r.id in superseder:
            superseded += 1
    reworked = corrected + rejected + superseded
    reasons = {} if latencies else {"review_latency_s": "none of their labels has been reviewed"}
    if not labels:
        reasons["rework_rate"] = "no labels of theirs in this version"
    return {
        "reviewed": len(latencies),
        "review_latency_s": _median(latencies),
        "corrected": corrected,
        "rejected": rejected,
        "superseded": superseded,
        "reworked": reworked,
        "rework_rate": reworked / len(labels) if labels else None,
        "reasons": reasons,
    }


def annotator_kpis(
    rows: Sequence[LabelRow],
    reviews: Iterable[ReviewRow],
    *,
    users: Mapping[int, str],
    quality: Mapping[str, Quality] | None = None,
) -> list[AnnotatorKpis]:
    """Per annotator (by name), the KPIs of ``rows`` (every row written in one version, tombstones and
    other people's rows included: they say what was superseded, and by whom) and ``reviews`` (the
    decisions on those rows). ``users``: annotator id → name; ``quality``: name → golden error and alpha
    (absent: None with a reason). Annotators with no own row are left out."""
    corrections: set[int] = set()
    first_review: dict[int, ReviewRow] = {}
    decisions: dict[int, set[str]] = defaultdict(set)
    for rv in reviews:
        if rv.correction_id is not None:
            corrections.add(rv.correction_id)
        decisions[rv.annotation_id].add(rv.decision)
        seen = first_review.get(rv.annotation_id)
        if seen is None or rv.created_at < seen.created_at:
            first_review[rv.annotation_id] = rv
    by_id = {r.id: r for r in rows}
    superseded_by_other: dict[int, LabelRow] = {}
    superseded_by_self: set[int] = set()
    for r in rows:
        before = by_id.get(r.supersedes_id) if r.supersedes_id is not None else None
        if before is None:
            continue
        if r.kind == "human" and r.annotator_id == before.annotator_id and r.id not in corrections:
            superseded_by_self.add(before.id)
        else:
            superseded_by_other[before.id] = r
    out = []
    for who, own in _own_rows(rows, corrections).items():
        name = users.get(who, str(who))
        labels = [r for r in own if r.id not in superseded_by_self]
        speed, units, timed, reasons = _speed(own)
        review = _review(own, labels, first_review, decisions, superseded_by_other)
        q = (quality or {}).get(name) or Quality(reasons=_NO_QUALITY)
        out.append(
            AnnotatorKpis(
                annotator=name,
                labels=len(labels),
                images=len({r.item_id for r in labels}),
                units=units,
                timed_labels=timed,
                seconds_per_image=speed["seconds_per_image"],
                seconds_per_object=speed["seconds_per_object"],
                labels_per_hour=speed["labels_per_hour"],
                **{k: v for k, v in review.items() if k != "reasons"},
                golden_error=q.golden_error,
                golden_low=q.golden_low,
                golden_high=q.golden_high,
                golden_trials=q.golden_trials,
                alpha=q.alpha,
                alpha_units=q.alpha_units,
                reasons={**reasons, **review["reasons"], **q.reasons},
            )
        )
    return sorted(out, key=lambda k: k.annotator)


_NO_QUALITY = {
    "golden_error": "not measured: no golden set for this report",
    "alpha": "not measured: no other annotator labelled the same images",
}


def _made_of_text(text: str | None) -> dict[str, Any] | None:
    if not text or '"made"' not in text:
        return None
    return made_of(orjson.loads(text))


def kpi_rows(session: Session, *, version_id: int) -> tuple[list[LabelRow], list[ReviewRow], dict[int, str]]:
    """The rows :func:`annotator_kpis` reads, for one version: its annotators' rows and the rows that
    supersede one (Core select; ``attributes`` decoded only for ``human`` rows), the reviews of those rows
    and the names of the annotators."""
    tables = SQLModel.metadata.tables
    ann, rev, users = tables["annotations"], tables["reviews"], tables["users"]
    stmt = select(
        ann.c.id,
        ann.c.item_id,
        ann.c.kind,
        ann.c.annotator_id,
        ann.c.supersedes_id,
        ann.c.created_at,
        ann.c.geometry_type,
        # as text, decoded here only for human rows (orjson: the JSON type's decoder dominates at 1M rows)
        case((ann.c.kind == "human", cast(ann.c.attributes, Text))).label("attributes"),
        ann.c.source_format,
    ).where(
        ann.c.dataset_version_id == version_id,
        ann.c.origin_id.is_(None),
        # What the KPIs read: the annotators' rows and the rows that supersede (a correction, a tombstone,
        # a redo). An import's or a model's row that supersedes nothing says nothing of anyone: at 1M
        # imported labels, leaving them out is most of the work.
        or_(ann.c.kind == "human", ann.c.supersedes_id.is_not(None)),
    )
    rows = [
        LabelRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _made_of_text(r[7]), r[8])
        for r in session.connection().execute(stmt)
    ]
    in_version = select(ann.c.id).where(ann.c.dataset_version_id == version_id, ann.c.origin_id.is_(None))
    reviews = [
        ReviewRow(r[0], str(r[1]), r[2], r[3])
        for r in session.connection().execute(
            select(rev.c.annotation_id, rev.c.decision, rev.c.created_at, rev.c.correction_id).where(
                rev.c.annotation_id.in_(in_version)
            )
        )
    ]
    ids = {r.annotator_id for r in rows if r.annotator_id is not None}
    names = {
        int(i): str(n) for i, n in session.execute(select(users.c.id, users.c.username).where(users.c.id.in_(ids)))
    }
    return rows, reviews, names
