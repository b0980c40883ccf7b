"""Work done in a labelling tool (Label Studio, CVAT), as the readers hand it to the record.

A tool's export says more than a COCO file: who made each label (several people per image), when, how
long it took, whether it is ground truth, and which model predicted it. The readers
(``lineage.formats.labelstudio``, ``lineage.formats.cvat``) turn a source into a :class:`WorkBatch`:
**units** of work (one Label Studio annotation or prediction; one CVAT job's shapes on one frame), each
with its author (a tool identity, mapped to a labelgate user on import) and its labels.
``lineage.labels.work.record_work`` writes a batch: a unit seen for the first time is added, a unit whose
``updated`` time moved on supersedes its earlier labels (a correction, nothing overwritten), a deleted unit
leaves tombstones, and a unit already on the record is skipped (idempotent).

**What each label keeps** (``attributes["made"]``, the reserved key; sealed with the row like every other
attribute, so the record's tamper evidence covers it)::

    {"tool": "labelstudio" | "cvat", "origin": "project:3", "ref": "annotation:17", "task": "42",
     "result": "<the tool's id of this label within the unit>", "by": "<author's tool identity>",
     "at": "<created, ISO-8601 UTC>", "updated": "<updated, ISO-8601 UTC>", "lead_time": <seconds on the
     whole unit>, "labels": <labels in the unit>, "ground_truth": true, "model_version": "...",
     "score": <0..1>, "source": "manual" | "auto" | "semi-auto", "cancelled": true}

Keys whose value is unknown are left out; ``ground_truth`` and ``cancelled`` only when true. A unit is
identified by ``(tool, origin, ref)``; seconds per object are ``lead_time / labels``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["MADE_KEY", "TOOLS", "Author", "ToolLabel", "WorkBatch", "WorkUnit", "iso_utc", "made_of"]

MADE_KEY = "made"
TOOLS = ("labelstudio", "cvat")


@dataclass(frozen=True, slots=True)
class Author:
    """A person as the tool knows them. ``key`` is how units name them (Label Studio: its user id as a
    string, CVAT: the username); ``email``/``username`` are what the import maps to a labelgate user."""

    key: str
    email: str | None = None
    username: str | None = None
    name: str | None = None


@dataclass(slots=True)  # not frozen: a reader builds one per label, and a frozen one costs 8x to build
class ToolLabel:
    """One label of a unit, in the record's own terms (pixels; ``lineage.labels.geometry``'s storage
    contract for ``geometry``); ``attributes`` are the tool's label attributes, without ``made``."""

    category: str
    geometry_type: str = "box"
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    geometry: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = None
    result: str | None = None
    score: float | None = None


@dataclass(slots=True)
class WorkUnit:
    """One unit of work on one item. ``machine``: a prediction or an automatic shape (recorded as an
    ``import`` label, the model named in ``made``); ``human``: the author's own work."""

    ref: str
    task: str
    uri: str
    kind: Literal["human", "machine"]
    author: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    lead_time: float | None = None
    ground_truth: bool = False
    cancelled: bool = False
    model_version: str | None = None
    score: float | None = None
    source: str | None = None
    labels: list[ToolLabel] = field(default_factory=list)
    #: where in the source it was read ("task 12, annotation 3"), for error messages
    where: str = ""


@dataclass(slots=True)
class WorkBatch:
    """What a reader read. ``deleted``: refs of units the tool deleted (webhooks)."""

    tool: str
    origin: str
    source: str
    source_sha256: str
    units: list[WorkUnit] = field(default_factory=list)
    authors: dict[str, Author] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    #: results of types the reader does not turn into labels (Label Studio ``textarea``, ``rating``, ...),
    #: counted per type
    ignored: dict[str, int] = field(default_factory=dict)


def iso_utc(value: object) -> str | None:
    """A tool's timestamp as the record keeps it: ISO-8601 in UTC to the microsecond
    (``2026-11-30T10:00:00.123456+00:00``); a time without offset is taken as UTC. None for None/"";
    ``ValueError`` for text that is not a time."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 time, got {type(value).__name__}")
    text = value.strip()
    stamp = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat(timespec="microseconds")


def made_of(attributes: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored label's ``made`` record, if it came from a tool."""
    made = attributes.get(MADE_KEY) if isinstance(attributes, dict) else None
    return made if isinstance(made, dict) else None
