"""``labelgate pull labelstudio DATASET@VERSION --url URL --project ID``: record what changed in a Label Studio
project since the last pull, through the official SDK (``service.actions.connectors``), on the workspace's
machine. The access token comes from ``LABEL_STUDIO_API_KEY`` (a personal access token or a legacy token),
never from the command line."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lineage.errors import InvalidInput
from service.cli.common import exits_cleanly, out
from service.cli.door import local, require_local
from service.cli.lazy import lazy_module
from service.cli.lineage import JsonOpt

if TYPE_CHECKING:
    from lineage.connectors import labelstudio
    from service import actions
    from service.actions import connectors
else:
    actions = lazy_module("service.actions")
    connectors = lazy_module("service.actions.connectors")
    labelstudio = lazy_module("lineage.connectors.labelstudio")


__all__ = ["pull_app", "read_user_map"]

pull_app = typer.Typer(help="Pull work from a labelling tool's server.", no_args_is_help=True)


def read_user_map(path: Path) -> dict[str, str]:
    """A user map file: a JSON object ``{"<tool user id or email>": "<labelgate username or email>"}``, or
    CSV rows ``tool_user,labelgate_user`` (a header row naming them is skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the user map: {exc.strerror}", field=str(path)) from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"malformed JSON ({exc.msg})", field=f"{path}:{exc.lineno}:{exc.colno}") from None
        if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
            raise InvalidInput("expected a JSON object of strings (tool user -> labelgate user)", field=str(path))
        return dict(doc)
    found: dict[str, str] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise InvalidInput("expected two columns: tool_user,labelgate_user", field=f"{path}:{n}")
        if n == 1 and row[0].strip().lower() in ("tool_user", "labelstudio_user", "from", "key"):
            continue
        found[row[0].strip()] = row[1].strip()
    return found


@pull_app.command("labelstudio")
@exits_cleanly
def pull_labelstudio_command(
    ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    url: Annotated[str, typer.Option("--url", help="the Label Studio server, e.g. http://127.0.0.1:8080")],
    ls_project: Annotated[int, typer.Option("--project", min=1, help="the Label Studio project id")],
    users: Annotated[
        Path | None, typer.Option("--users", help="user map: JSON object or CSV, tool user id/email -> labelgate user")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="read tasks updated after this time (default: the record's)")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="read every task, not only those changed")] = False,
    in_project: Annotated[str | None, typer.Option("--in", help="the labelgate project (name or id)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record what changed in a Label Studio project since the last pull (annotations by their real authors
    and times, predictions with their model version; edits supersede, deletions leave tombstones). Exit 2
    on bad input (no LABEL_STUDIO_API_KEY, an unmapped author, an image not in the version)."""
    require_local("pull labelstudio", "it records into the workspace's database")
    api_key = os.environ.get("LABEL_STUDIO_API_KEY", "")
    if not api_key:
        raise InvalidInput(
            "set LABEL_STUDIO_API_KEY to a Label Studio access token (Account & Settings); it is not taken on "
            "the command line",
            field="LABEL_STUDIO_API_KEY",
        )
    dataset, version = actions.split_ref(ref)
    user_map = read_user_map(users) if users is not None else None
    with local() as ctx:
        pulled = connectors.pull_from_labelstudio(
            ctx,
            actions.find_project(ctx, in_project, field="--in"),
            dataset,
            version,
            url=url,
            api_key=api_key,
            ls_project=ls_project,
            user_map=user_map,
            since=since,
            full=full,
        )
    result = pulled.result
    per_author = _per_author(pulled)
    if as_json:
        doc = {**result.to_dict(), "tasks_read": pulled.tasks_read, "changed_by_author": per_author}
        out.print(json.dumps(doc, indent=2), markup=False)
        return
    out.print(
        f"pulled Label Studio project {ls_project} into {result.version}: {pulled.tasks_read} tasks read; units "
        f"{result.units_added} added, {result.units_updated} updated, {result.units_skipped} skipped, "
        f"{result.units_deleted} deleted ({result.labels_written} labels written, {result.tombstones} tombstones)",
        markup=False,
    )
    for name, count in per_author.items():
        out.print(f"  {name}: {count} new or changed unit(s)", markup=False)


def _per_author(pulled: labelstudio.Pulled) -> dict[str, int]:
    """New or changed units per labelgate user (predictions under ``(predictions)``), by name."""
    named: Counter[str] = Counter()
    for key, count in pulled.changed_by_author.items():
        named[pulled.result.authors.get(key, key)] += count
    return dict(sorted(named.items()))
