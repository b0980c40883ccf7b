"""``labelgate diff street@v2 street@v3``: labels added, removed and changed between two versions of a dataset,
per class and per author, and the first changes (``--format json``: the API's ``LabelDiffPublic``).

With one version (``labelgate diff street@v3``) the diff is taken against the dataset's last release, else
the version's parent. Runs on the local workspace, or against the API with ``--server``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

import typer

from lineage.errors import InvalidInput
from service.cli.choices import MAX_DIFF_LIMIT
from service.cli.common import exits_cleanly, out
from service.cli.door import local, remote
from service.cli.lazy import lazy_module

if TYPE_CHECKING:
    from service import actions
    from service.actions import diff as diffs
    from service.api.routes import diff as pub
else:
    actions = lazy_module("service.actions")
    diffs = lazy_module("service.actions.diff")
    pub = lazy_module("service.api.routes.diff")


__all__ = ["diff_command", "render_text"]


class DiffFormat(StrEnum):
    text = "text"
    json = "json"


def _refs(first: str, second: str | None) -> tuple[str, str | None, str]:
    """``(dataset, from version or None, to version)`` of the command's arguments."""
    if second is None:
        dataset, to_version = actions.split_ref(first, field="FROM")
        return dataset, None, to_version
    dataset, from_version = actions.split_ref(first, field="FROM")
    other, to_version = actions.split_ref(second, field="TO")
    if other != dataset:
        raise InvalidInput(f"both versions must be of one dataset, got {dataset!r} and {other!r}", field="TO")
    return dataset, from_version, to_version


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    cells = [header, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]


def _change_line(c: pub.LabelChangePublic) -> str:
    if c.change == "added":
        return f"  added    {c.uri}  #{c.to_id} {c.to_class} ({c.geometry_type}) by {c.author}"
    if c.change == "removed":
        by = f"; removed by {c.removed_by}" if c.removed_by else ""
        return f"  removed  {c.uri}  #{c.from_id} {c.from_class} ({c.geometry_type}) made by {c.from_author}{by}"
    what = []
    if "class" in c.fields:
        what.append(f"class {c.from_class} -> {c.to_class}")
    if "geometry" in c.fields:
        what.append(f"geometry (IoU {c.iou:.3f})")
    if "attributes" in c.fields:
        what.append(f"attributes {', '.join(c.attributes)}")
    return f"  changed  {c.uri}  #{c.from_id} -> #{c.to_id} {c.to_class}: {'; '.join(what)} by {c.author}"


def render_text(d: pub.LabelDiffPublic) -> list[str]:
    """The readable summary: totals, per-class and per-author tables, the listed changes."""
    t = d.totals
    base = {"release": " (the last release)", "parent": " (the parent)"}.get(d.baseline, "")
    lines = [
        f"{d.dataset}: {d.from_version}{base} -> {d.to_version}  (IoU threshold {d.iou:g})",
        f"labels {t.before} -> {t.after}: {t.unchanged} unchanged, {t.changed} changed, {t.added} added, "
        f"{t.removed} removed; {t.moved} moved within the threshold; {t.items_changed} item(s) changed",
    ]
    if d.class_changes:
        lines.append("class changes: " + ", ".join(f"{c['from']} -> {c['to']} ({c['count']})" for c in d.class_changes))
    if d.classes:
        lines += ["", "per class"]
        lines += _table(
            ["class", "before", "after", "unchanged", "changed", "added", "removed"],
            [[c.name, c.before, c.after, c.unchanged, c.changed, c.added, c.removed] for c in d.classes],
        )
    if d.authors:
        lines += ["", "per author (added/changed: the new label's; removed: the removed label's; deleted: tombstones)"]
        lines += _table(
            ["author", "kind", "added", "changed", "removed", "deleted"],
            [[a.author, a.kind, a.added, a.changed, a.removed, a.deleted] for a in d.authors],
        )
    if d.changes_total:
        shown = f"{d.offset + 1}-{d.offset + len(d.changes)}" if d.changes else "none"
        lines += ["", f"changes {shown} of {d.changes_total}"]
        lines += [_change_line(c) for c in d.changes]
    else:
        lines += ["", "no label changed"]
    return lines


@exits_cleanly
def diff_command(
    first: Annotated[str, typer.Argument(metavar="FROM", help="DATASET@VERSION (alone: the version to look at)")],
    second: Annotated[str | None, typer.Argument(metavar="TO", help="DATASET@VERSION, the newer")] = None,
    iou: Annotated[float, typer.Option("--iou", min=0.0, max=1.0, help="overlap threshold in (0, 1]")] = 0.5,
    fmt: Annotated[DiffFormat, typer.Option("--format", help="text or json")] = DiffFormat.text,
    limit: Annotated[int, typer.Option("--limit", min=0, max=MAX_DIFF_LIMIT, help="changes listed")] = 20,
    project: Annotated[str | None, typer.Option("--project", "-p", help="project name or id")] = None,
) -> None:
    """Labels added, removed and changed (class, geometry beyond --iou, attributes) between two versions of a
    dataset, per class and per author. With one version: since the dataset's last release, else its parent."""
    dataset, from_version, to_version = _refs(first, second)
    with remote() as api:
        if api is not None:
            path = f"/projects/{api.project_id(project)}/datasets/{quote(dataset, safe='')}/diff"
            params: dict[str, str | float | int] = {"to": to_version, "iou": iou, "limit": limit}
            if from_version is not None:
                params["from"] = from_version
            found = api.model(pub.LabelDiffPublic, "GET", path, params=params)
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                diff = diffs.version_diff(
                    ctx, pid, dataset, to_version=to_version, from_version=from_version, iou=iou, limit=limit
                )
                found = pub.LabelDiffPublic.model_validate(diff.to_dict())
    if fmt is DiffFormat.json:
        out.print(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    for line in render_text(found):
        out.print(line)
