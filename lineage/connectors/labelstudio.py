"""Pull work from a live Label Studio server through its official SDK (``label-studio-sdk``), incrementally.

A pull reads the project's changed tasks with their annotations and predictions, reads them as an export is
read (``lineage.formats.labelstudio.parse_labelstudio``) and
records them (``lineage.labels.work.record_work``): new units are added, a unit edited on the server
supersedes its labels, units already on the record are skipped. So a pull is idempotent, and one that
overlaps an earlier one writes nothing twice.

- **Reading.** The changed tasks through the Data Manager's task list (``GET /api/tasks`` with its
  ``updated_at`` filter, as ``client.tasks.list`` asks for it, over the SDK's authenticated transport),
  only the fields a pull reads. (The project's JSON export is no faster to serve
  and names predictions by id only.)
- **Incremental.** Only tasks whose ``updated_at`` is later than the *watermark*: the newest
  ``made.updated`` the record holds for this server project (``origin``) in the version, less
  :data:`MARGIN` (10 s, for transactions that commit late). Label Studio moves a task's ``updated_at``
  whenever one of its annotations or predictions is created, edited or deleted (checked against a real
  1.23 server by ``tests/labelstudio``), so every change since the last recorded one is read. ``since``
  overrides the watermark; ``full=True`` reads every task. The watermark is the record's: labels a
  webhook recorded count too, so a server change missed by a webhook that is older than a later one is
  only read by a ``full`` pull.
- **Deleted work.** A unit on the record whose task was read but which the server no longer lists
  (an annotation or prediction deleted there) gets tombstones; in a ``full`` pull, so do units of tasks
  the server no longer has.
- **Authors.** The API names an annotation's author by user id; the server's user list
  (``client.users.list``) gives each id its email. Each maps to the labelgate user of that
  email, unless ``user_map`` (tool user id or email -> labelgate username or email) says otherwise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import text
from sqlmodel import Session

from lineage.context import Actor
from lineage.errors import InvalidInput, NotFound
from lineage.formats.work import Author, WorkBatch, made_of
from lineage.labels.work import WorkResult
from lineage.models import Dataset, DatasetVersion

if TYPE_CHECKING:
    from label_studio_sdk.client import LabelStudio

__all__ = [
    "FIELDS",
    "MARGIN",
    "PAGE_SIZE",
    "TOOL",
    "Pulled",
    "pull",
    "pull_labelstudio",
    "recorded_tasks",
    "server_authors",
    "tasks_since",
]

TOOL = "labelstudio"
#: How far before the newest recorded change a pull starts reading: Label Studio stamps ``updated_at`` before
#: its transaction commits (a webhook it sends on the way can hold the commit back by its timeout).
MARGIN = timedelta(seconds=10)
#: Tasks per page of ``GET /api/tasks``.
PAGE_SIZE = 500
#: The task fields a pull reads.
FIELDS = (
    "id,project,data,annotations,predictions,updated_at,created_at,result,completed_by,lead_time,ground_truth,"
    "was_cancelled,model_version,score,task,created_username"
)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class Pulled:
    """A pull's record (``result``) and, per author key, the units read that were new or changed."""

    result: WorkResult
    changed_by_author: dict[str, int]
    tasks_read: int


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def recorded_tasks(
    session: Session, *, version_id: int, origin: str
) -> tuple[dict[str, tuple[str, datetime | None]], datetime | None]:
    """The Label Studio units of ``origin`` on the version's record (ref -> (task id, newest ``updated``),
    live or not) and the newest ``made.updated`` among them all (``None`` when there are none)."""
    rows = session.connection().execute(
        text("SELECT attributes FROM annotations WHERE dataset_version_id = :v AND source_format = :f"),
        {"v": version_id, "f": TOOL},
    )
    units: dict[str, tuple[str, datetime | None]] = {}
    newest: datetime | None = None
    for (attrs,) in rows:
        made = made_of(_json(attrs))
        if made is None or made.get("origin") != origin or not isinstance(made.get("ref"), str):
            continue
        when = _when(made.get("updated"))
        seen = units.get(made["ref"])
        if seen is None or (when is not None and (seen[1] is None or when > seen[1])):
            units[made["ref"]] = (str(made.get("task")), when)
        if when is not None and (newest is None or when > newest):
            newest = when
    return units, newest


def _plain(value: Any) -> Any:
    """A value of the SDK as the API's JSON gave it: its models (predictions come as models, annotations as
    dicts) dumped with their extra fields (``id``), times as ISO-8601 text."""
    if isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _task_dict(task: Any) -> dict[str, Any]:
    updated = getattr(task, "updated_at", None)
    return {
        "id": task.id,
        "project": getattr(task, "project", None),
        "data": task.data,
        "annotations": [_plain(a) for a in task.annotations or []],
        "predictions": [_plain(p) for p in task.predictions or []],
        "updated_at": updated.isoformat() if isinstance(updated, datetime) else updated,
    }


def _raw_pages(client: LabelStudio, params: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The task list's pages as the server's JSON, through the SDK's own authenticated transport (its token
    refresh included), without building the SDK's models for each task (half a pull's time for a thousand
    tasks); ``None`` when this SDK has no such transport."""
    transport = getattr(getattr(client, "_client_wrapper", None), "httpx_client", None)
    if transport is None or not callable(getattr(transport, "request", None)):
        return None
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = transport.request("api/tasks/", method="GET", params={**params, "page": page})
        if answer.status_code == 404 and page > 1:  # past the last page
            return found
        if not 200 <= answer.status_code < 300:
            from label_studio_sdk.core.api_error import ApiError

            raise ApiError(status_code=answer.status_code, body=_body(answer))
        doc = orjson.loads(answer.content)
        tasks = doc.get("tasks", []) if isinstance(doc, dict) else []
        found.extend(tasks)
        total = doc.get("total") if isinstance(doc, dict) else None
        if len(tasks) < params["page_size"] or (isinstance(total, int) and len(found) >= total):
            return found
        page += 1


def _body(answer: Any) -> Any:
    try:
        return orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        return answer.text[:500]


def tasks_since(client: LabelStudio, *, project: int, since: datetime | None) -> list[dict[str, Any]]:
    """The project's tasks updated after ``since`` (all of them when ``None``), in id order, with their
    annotations and predictions: the Data Manager's ``updated_at`` filter, only the fields a pull reads
    (:data:`FIELDS`; the task list's computed columns would double the server's time)."""
    query = None
    if since is not None:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        item = {"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime", "value": stamp}
        query = json.dumps({"filters": {"conjunction": "and", "items": [item]}, "ordering": ["tasks:id"]})
    params = {"project": project, "fields": "all", "include": FIELDS, "page_size": PAGE_SIZE}
    raw = _raw_pages(client, {**params, **({"query": query} if query else {})})
    if raw is not None:
        return raw
    pages = client.tasks.list(project=project, query=query, page_size=PAGE_SIZE, fields="all", include=FIELDS)
    return [_task_dict(t) for t in pages]


def server_authors(client: LabelStudio) -> dict[str, Author]:
    """The server's users by id (as a string): their email, username and name."""
    found: dict[str, Author] = {}
    for user in client.users.list():
        if user.id is None:
            continue
        name = " ".join(p for p in (user.first_name or "", user.last_name or "") if p).strip()
        found[str(user.id)] = Author(
            key=str(user.id), email=user.email or None, username=user.username or None, name=name or None
        )
    return found


def _base_url(client: LabelStudio) -> str:
    wrapper = getattr(client, "_client_wrapper", None)
    getter = getattr(wrapper, "get_base_url", None)
    return str(getter()).rstrip("/") if callable(getter) else "labelstudio"


def _with_server_authors(batch: WorkBatch, users: Mapping[str, Author]) -> None:
    """Fill in what the server's user list knows of each author (the API names them by id alone)."""
    for key in {u.author for u in batch.units if u.author is not None}:
        known, listed = batch.authors.get(key), users.get(key)
        if listed is None:
            continue
        batch.authors[key] = Author(
            key=key,
            email=(known.email if known and known.email else None) or listed.email,
            username=(known.username if known and known.username else None) or listed.username,
            name=(known.name if known and known.name else None) or listed.name,
        )


def pull_labelstudio(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    client: LabelStudio,
    project: int,
    user_map: Mapping[str, str] | None = None,
    since: datetime | None = None,
) -> WorkResult:
    """Record what changed in Label Studio project ``project`` since the last pull (module docstring), all
    or nothing; ``since``: read tasks updated after this time instead of the record's watermark."""
    return pull(
        session, actor=actor, version=version, client=client, project=project, user_map=user_map, since=since
    ).result


def pull(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    client: LabelStudio,
    project: int,
    user_map: Mapping[str, str] | None = None,
    since: datetime | None = None,
    full: bool = False,
    data_key: str | None = None,
) -> Pulled:
    """:func:`pull_labelstudio` with its options: ``full`` reads every task (and tombstones units of tasks
    the server no longer has); ``data_key`` names the task data's image key (default: ``image``, else its
    one string value)."""
    from lineage.formats.labelstudio import parse_labelstudio
    from lineage.formats.transfer import item_index
    from lineage.labels.work import record_work

    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None:
        raise NotFound("the version's dataset is gone", field="version")
    if project <= 0:
        raise InvalidInput(f"a Label Studio project id is a positive integer, got {project}", field="project")
    origin = f"project:{project}"
    recorded, newest = recorded_tasks(session, version_id=version.id or 0, origin=origin)
    start = None if full else since if since is not None else (newest - MARGIN if newest is not None else None)
    tasks = tasks_since(client, project=project, since=start)
    from lineage.formats.exportdata import schema_info

    base = _base_url(client)
    source = f"{base}/projects/{project}" + (f" (tasks updated after {start.isoformat()})" if start else "")
    batch = parse_labelstudio(
        tasks,
        source=source,
        origin=origin,
        items=item_index(session, dataset, version),
        schema=schema_info(session, version),
        data_key=data_key,
    )
    if any(a.email is None for a in batch.authors.values()):
        _with_server_authors(batch, server_authors(client))
    read_tasks = {str(t["id"]) for t in tasks}
    present = {u.ref for u in batch.units}
    batch.deleted = sorted(
        ref for ref, (task, _) in recorded.items() if ref not in present and (full or task in read_tasks)
    )
    changed: Counter[str] = Counter()
    for unit in batch.units:
        seen = recorded.get(unit.ref)
        when = _when(unit.updated_at)
        if seen is None or (when is not None and (seen[1] is None or when > seen[1])):
            changed[unit.author if unit.kind == "human" and unit.author else "(predictions)"] += 1
    result = record_work(
        session, actor=actor, version=version, batch=batch, user_map=user_map, action="annotation.pull"
    )
    return Pulled(result=result, changed_by_author=dict(changed), tasks_read=len(tasks))
