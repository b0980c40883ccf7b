"""Label Studio's JSON export (or the tasks its API and SDK return) read into a ``WorkBatch``.

A task is ``{"id", "data": {"image": ...}, "annotations": [...], "predictions": [...], "project"}``. Each
annotation becomes a ``human`` unit ``annotation:<id>`` (its author ``completed_by``, times, ``lead_time``,
``ground_truth``, ``was_cancelled``), each prediction a ``machine`` unit ``prediction:<id>``
(``model_version``, ``score``). The labels are read by ``_labelstudio_results`` (percent -> pixels, one
label per label name, the types it lists); the task's image is matched to an item by
``_labelstudio_items``.

- **The image.** ``data[data_key]``; without ``data_key``: ``data["image"]``, else the one string value of
  ``data`` (several: refused, asking for ``data_key``).
- **Authors.** ``completed_by`` is a user id or ``{"id", "email", "first_name", "last_name"}``; the older
  ``created_username`` (``" alice@example.com, 3"``) gives the email where ``completed_by`` does not.
  ``Author.key`` is the id as a string.
- **Times** are ISO-8601 UTC with microseconds (``2026-11-30T10:00:00.123456+00:00``); a time without an
  offset is taken as UTC.
- **Origin** ``project:<task.project>`` unless given (tasks of several projects, or none, need one).

Every problem (malformed JSON with its line and column, a task whose image is not in the version, an
unknown class, a rotated rectangle, undecodable brush RLE, ...) names the task and unit; up to
``MAX_PROBLEMS`` are raised together as ``ImportInvalid``, and nothing is returned half read.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from lineage.formats._labelstudio_items import ItemMatcher
from lineage.formats._labelstudio_results import Refused, ResultReader
from lineage.formats.common import ItemIndex, ItemRef, Problems, SchemaInfo, gc_paused, sha256_bytes
from lineage.formats.work import Author, WorkBatch, WorkUnit, iso_utc

__all__ = ["TOOL", "parse_labelstudio"]

TOOL = "labelstudio"


def _decode(data: bytes, source: str, problems: Problems) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        pos = exc.pos
        line = data.count(b"\n", 0, pos) + 1
        col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
        problems.add(f"{source}:{line}:{col}", f"malformed JSON at byte {pos} ({exc.msg})")
        problems.raise_if_any()
    raise AssertionError("unreachable")  # pragma: no cover


# How Label Studio writes times (UTC, microseconds), for days that exist in every month: the common case,
# answered without parsing; anything else goes through iso_utc.
_CANONICAL_Z = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z")


def _time(value: Any, what: str) -> str | None:
    if isinstance(value, str) and _CANONICAL_Z.fullmatch(value):
        return value[:-1] + "+00:00"  # already UTC to the microsecond: iso_utc's answer, without its cost
    try:
        return iso_utc(value)
    except ValueError:
        raise Refused(f"expected {what} as an ISO-8601 time, got {str(value)[:40]!r}") from None


def _id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise Refused(f"expected {what} as an integer or a string, got {value!r}")
    return str(value)


class _Authors:
    """The authors met so far, by key; one key with two different emails is refused."""

    def __init__(self) -> None:
        self.by_key: dict[str, Author] = {}
        self._seen: dict[tuple[Any, ...], str] = {}

    def of(self, ann: dict[str, Any]) -> str:
        """The key of the annotation's author (recorded in ``by_key``); the same fields give the same key."""
        by = ann.get("completed_by")
        created = ann.get("created_username")
        if isinstance(by, dict):
            sig: tuple[Any, ...] = (by.get("id"), by.get("email"), by.get("first_name"), by.get("last_name"), created)
        else:
            sig = (by, created)
        try:
            return self._seen[sig]
        except KeyError:
            pass
        except TypeError:  # unhashable values: read, not cached
            return self._read(by, created)
        key = self._seen[sig] = self._read(by, created)
        return key

    def _read(self, by: Any, created: Any) -> str:
        email: str | None = None
        name: str | None = None
        key: str | None = None
        if isinstance(by, dict):
            key = _id(by.get("id"), "completed_by.id")
            email = by.get("email") or None
            full = " ".join(str(by.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
            name = full or None
        elif by is not None:
            key = _id(by, "completed_by")
        if isinstance(created, str) and "," in created:
            mail, _, uid = created.rpartition(",")
            key = key or uid.strip() or None
            if key == uid.strip() and "@" in mail:
                email = email or mail.strip()
        if key is None:
            raise Refused("the annotation names no author (expected completed_by)")
        if email is not None and not isinstance(email, str):
            raise Refused(f"expected completed_by.email as a string, got {email!r}")
        known = self.by_key.get(key)
        if known is None or (known.email is None and email) or (known.name is None and name):
            if known is not None and known.email and email and known.email.lower() != email.lower():
                raise Refused(f"user {key} has two emails in the export ({known.email}, {email})")
            self.by_key[key] = Author(
                key=key,
                email=email or (known.email if known else None),
                name=name or (known.name if known else None),
            )
        elif known.email and email and known.email.lower() != email.lower():
            raise Refused(f"user {key} has two emails in the export ({known.email}, {email})")
        return key


def _image(task: dict[str, Any], data_key: str | None) -> str:
    data = task.get("data")
    if not isinstance(data, dict):
        raise Refused("expected data as an object holding the image")
    if data_key is not None:
        value = data.get(data_key)
        if not isinstance(value, str) or not value:
            raise Refused(f"data has no image under {data_key!r} (keys: {', '.join(sorted(data))})")
        return value
    value = data.get("image")
    if isinstance(value, str) and value:
        return value
    strings = sorted(k for k, v in data.items() if isinstance(v, str) and v)
    if len(strings) == 1:
        return str(data[strings[0]])
    if not strings:
        raise Refused("data holds no image (no string value)")
    raise Refused(f"data holds several values ({', '.join(strings)}): say which is the image (data_key)")


def _lead_time(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not value >= 0:
        raise Refused(f"expected lead_time as seconds >= 0, got {value!r}")
    return float(value)


def _score(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or value != value:
        raise Refused(f"expected score as a number, got {value!r}")
    return float(value)


def _tasks_of(tasks: list[dict[str, Any]] | bytes, source: str, problems: Problems) -> tuple[list[Any], str]:
    if isinstance(tasks, bytes | bytearray | memoryview):
        data = bytes(tasks)
        doc = _decode(data, source, problems)
        sha = sha256_bytes(data)
    else:
        doc = tasks
        sha = sha256_bytes(orjson.dumps(tasks, option=orjson.OPT_SORT_KEYS))
    if isinstance(doc, dict) and "data" in doc:
        doc = [doc]  # one task, as GET /api/tasks/<id> returns it
    if not isinstance(doc, list):
        problems.add(source, "expected a Label Studio JSON export: a list of tasks")
        problems.raise_if_any()
    return doc, sha


def parse_labelstudio(
    tasks: list[dict[str, Any]] | bytes,
    *,
    source: str,
    items: ItemIndex,
    schema: SchemaInfo | None,
    origin: str | None = None,
    data_key: str | None = None,
) -> WorkBatch:
    """Read Label Studio tasks (the export's bytes, or decoded task objects) against a version (module doc).

    Args:
        tasks: the JSON export as bytes, or a list of task objects (API/SDK).
        source: the name problems and the record give the source (a file name, a URL).
        items: the version's items; schema: its schema (``None``: box classes only).
        origin: the unit namespace (default ``project:<task.project>``).
        data_key: the key of ``task.data`` holding the image (default: module doc).

    Raises:
        ImportInvalid: every problem found (up to ``MAX_PROBLEMS``), each naming its task and unit.
    """
    problems = Problems()
    with gc_paused():
        doc, sha = _tasks_of(tasks, source, problems)
        matcher = ItemMatcher(items)
        reader = ResultReader(schema)
        authors = _Authors()
        projects: set[str] = set()
        units: list[WorkUnit] = []
        for n, task in enumerate(doc):
            _task(n, task, source, data_key, matcher, reader, authors, projects, units, problems)
    if origin is None:
        if len(projects) == 1:
            origin = f"project:{next(iter(projects))}"
        elif not projects and not doc:
            origin = "project:unknown"
        else:
            found = ", ".join(sorted(projects)) or "none"
            problems.add(source, f"the tasks name {len(projects)} projects ({found}): give the origin")
    problems.raise_if_any()
    assert origin is not None
    return WorkBatch(
        tool=TOOL,
        origin=origin,
        source=source,
        source_sha256=sha,
        units=units,
        authors=authors.by_key,
        ignored=dict(sorted(reader.ignored.items())),
    )


def _task(
    n: int,
    task: Any,
    source: str,
    data_key: str | None,
    matcher: ItemMatcher,
    reader: ResultReader,
    authors: _Authors,
    projects: set[str],
    units: list[WorkUnit],
    problems: Problems,
) -> None:
    if not isinstance(task, dict):
        problems.add(f"{source}: tasks[{n}]", "expected a task object")
        return
    try:
        tid = _id(task.get("id"), "the task id")
    except Refused as exc:
        problems.add(f"{source}: tasks[{n}]", str(exc))
        return
    where = f"{source}: task {tid}"
    try:
        uri = _image(task, data_key)
    except Refused as exc:
        problems.add(where, str(exc))
        return
    found = matcher.match(uri)
    if isinstance(found, str):
        problems.add(where, found)
        return
    project = task.get("project")
    if project is not None:
        projects.add(str(project))
    for kind, key in (("annotation", "annotations"), ("prediction", "predictions")):
        listed = task.get(key)
        if listed is None:
            continue
        if not isinstance(listed, list):
            problems.add(where, f"expected {key} as a list")
            continue
        for m, entry in enumerate(listed):
            unit_where = f"{where}, {kind} {entry.get('id') if isinstance(entry, dict) else f'[{m}]'}"
            try:
                units.append(_unit(kind, entry, tid, found, reader, authors, unit_where))
            except Refused as exc:
                problems.add(unit_where, str(exc))


def _unit(
    kind: str, entry: Any, tid: str, item: ItemRef, reader: ResultReader, authors: _Authors, where: str
) -> WorkUnit:
    if not isinstance(entry, dict):
        raise Refused(f"expected the {kind} as an object")
    ref = f"{kind}:{_id(entry.get('id'), f'the {kind} id')}"
    labels = reader.read(entry.get("result"), item)
    created = _time(entry.get("created_at"), "created_at")
    updated = _time(entry.get("updated_at"), "updated_at") or created
    if kind == "prediction":
        version = entry.get("model_version")
        return WorkUnit(
            ref=ref,
            task=tid,
            uri=item.uri,
            kind="machine",
            created_at=created,
            updated_at=updated,
            model_version=None if version in (None, "") else str(version),
            score=_score(entry.get("score")),
            labels=labels,
            where=where,
        )
    return WorkUnit(
        ref=ref,
        task=tid,
        uri=item.uri,
        kind="human",
        author=authors.of(entry),
        created_at=created,
        updated_at=updated,
        lead_time=_lead_time(entry.get("lead_time")),
        ground_truth=entry.get("ground_truth") is True,
        cancelled=entry.get("was_cancelled") is True,
        labels=labels,
        where=where,
    )
