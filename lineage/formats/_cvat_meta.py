"""The ``<meta>`` of a CVAT for images 1.1 file: which task (or job) each frame belongs to, who was assigned
to it, when it was created and last updated, and the labels' attribute types.

Three kinds of file: a task export (``meta/task``), a job export (``meta/job``: CVAT names the job, not
its task) and a project export (``meta/project`` with ``tasks/task`` each; images carry ``task_id``).
Times (``created``, ``updated``; CVAT writes ``2026-11-30 10:00:00.123456+00:00`` in the server's zone)
become ISO-8601 UTC with microseconds; a time without a zone is taken as UTC.

**Who made a frame's shapes.** The job's ``assignee`` in a job export; in a task export the ``assignee`` of
the segment covering the frame (``segments/segment/{start, stop, assignee}``, written by tools that add it;
CVAT's own task exports name no per-job assignee); in a project export, a task whose segments name one
assignee. The task's or project's own owner and assignee are not taken as authors: they manage the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lineage.formats._cvat_xml import Node
from lineage.formats.common import Problems
from lineage.formats.work import Author
from lineage.formats.work import iso_utc as work_iso_utc

__all__ = ["Meta", "TaskMeta", "iso_utc", "read_meta"]


@dataclass(frozen=True, slots=True)
class TaskMeta:
    """A task (or, for a job export, the job): ``ref`` prefixes unit refs (``task:12``, ``job:7``)."""

    ref: str
    task: str
    created: str | None
    updated: str | None
    #: (start frame, stop frame, assignee key) per segment that names an assignee
    segments: tuple[tuple[int, int, str], ...] = ()
    assignee: str | None = None  # a job export's assignee: every frame is theirs


@dataclass(slots=True)
class Meta:
    kind: Literal["task", "job", "project"]
    #: a project export's tasks by id; a task or job export's one task (or job) under key 0
    tasks: dict[int, TaskMeta]
    #: label name -> attribute name -> CVAT input type (checkbox, number, text, select, radio)
    attr_types: dict[str, dict[str, str]] = field(default_factory=dict)
    authors: dict[str, Author] = field(default_factory=dict)

    def author_of(self, task_id: int, frame: int) -> str | None:
        meta = self.tasks[task_id]
        if meta.assignee:
            return meta.assignee
        if self.kind == "project":
            names = {a for _, _, a in meta.segments}
            return names.pop() if len(names) == 1 else None
        return next((a for start, stop, a in meta.segments if start <= frame <= stop), None)


def iso_utc(text: str | None, *, where: str, problems: Problems) -> str | None:
    """``text`` (CVAT's ``str(datetime)``) as ISO-8601 UTC with microseconds; ``None`` when empty."""
    if not text or not text.strip():
        return None
    try:
        return work_iso_utc(text.strip())
    except ValueError:
        problems.add(where, f"expected a date and time, got {text.strip()[:60]!r}")
        return None


def _person(node: Node | None, authors: dict[str, Author]) -> str | None:
    """The username of an ``<assignee>``/``<owner>`` (``<username>``/``<email>`` children, or plain text)."""
    if node is None:
        return None
    username = node.findtext("username") or (node.text.strip() if not node.children else "")
    if not username:
        return None
    email = node.findtext("email") or None
    known = authors.get(username)
    if known is None or (email and not known.email):
        authors[username] = Author(key=username, username=username, email=email)
    return username


def _int(text: str | None, *, where: str, what: str, problems: Problems) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        problems.add(where, f"expected {what} as an integer, got {(text or '').strip()[:40]!r}")
        return None


def _task(node: Node, *, source: str, prefix: str, problems: Problems, authors: dict[str, Author]) -> TaskMeta | None:
    where = f"{source}:{node.line}: <{node.tag}>"
    tid = _int(node.findtext("id"), where=f"{where} id", what="the id", problems=problems)
    if tid is None:
        return None
    segments: list[tuple[int, int, str]] = []
    segments_node = node.find("segments")
    for seg in segments_node.findall("segment") if segments_node is not None else []:
        seg_where = f"{source}:{seg.line}: <segment>"
        assignee = _person(seg.find("assignee"), authors)
        if assignee is None:
            continue
        start = _int(seg.findtext("start"), where=seg_where, what="start", problems=problems)
        stop = _int(seg.findtext("stop"), where=seg_where, what="stop", problems=problems)
        if start is not None and stop is not None:
            segments.append((start, stop, assignee))
    task_text = node.findtext("task_id")  # a job export names its task only where a tool added it
    ref, task = f"{prefix}:{tid}", str(tid) if prefix == "task" else f"job:{tid}"
    if prefix == "job" and task_text:
        task_id = _int(task_text, where=f"{where} task_id", what="task_id", problems=problems)
        if task_id is not None:
            ref, task = f"task:{task_id}", str(task_id)
    return TaskMeta(
        ref=ref,
        task=task,
        created=iso_utc(node.findtext("created"), where=f"{where} created", problems=problems),
        updated=iso_utc(node.findtext("updated"), where=f"{where} updated", problems=problems),
        segments=tuple(segments),
        assignee=_person(node.find("assignee"), authors) if prefix == "job" else None,
    )


def _attr_types(labels: Node | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for label in labels.findall("label") if labels is not None else []:
        name = label.findtext("name") or ""
        attrs = label.find("attributes")
        for attr in attrs.findall("attribute") if attrs is not None else []:
            out.setdefault(name, {})[attr.findtext("name") or ""] = (attr.findtext("input_type") or "text").lower()
    return out


def read_meta(root: Node, *, source: str, problems: Problems) -> Meta | None:
    """The file's meta, or ``None`` with the problems added."""
    if root.tag != "annotations":
        problems.add(f"{source}:{root.line}", f"expected a CVAT <annotations> root element, got <{root.tag}>")
        return None
    meta = root.find("meta")
    if meta is None:
        problems.add(f"{source}:{root.line}", "expected <meta> with the task, job or project (CVAT for images 1.1)")
        return None
    authors: dict[str, Author] = {}
    kind: Literal["task", "job", "project"]
    for kind in ("task", "job", "project"):
        node = meta.find(kind)
        if node is None:
            continue
        if kind == "project":
            tasks_node = node.find("tasks")
            found = [
                _task(t, source=source, prefix="task", problems=problems, authors=authors)
                for t in (tasks_node.findall("task") if tasks_node is not None else [])
            ]
            labels = node.find("labels")
        else:
            found = [_task(node, source=source, prefix=kind, problems=problems, authors=authors)]
            labels = node.find("labels")
        tasks = {int(t.ref.split(":")[1]) if kind == "project" else 0: t for t in found if t is not None}
        return Meta(kind=kind, tasks=tasks, attr_types=_attr_types(labels), authors=authors)
    problems.add(f"{source}:{meta.line}", "expected <task>, <job> or <project> in <meta>")
    return None
