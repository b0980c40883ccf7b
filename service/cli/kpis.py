"""``labelgate report annotators DATASET@VERSION --format csv|json|html [--output FILE]``: the annotator
KPIs of a version and their trend over the dataset's versions (``service.actions.kpis``), locally or
against a server (the same data either way; rendered here)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli.common import exits_cleanly, out
from service.cli.door import local, remote
from service.cli.lazy import lazy_module
from service.cli.lineage import ProjectOpt

if TYPE_CHECKING:
    from lineage.reports import annotator_report
    from service import actions
    from service.actions import kpis
else:
    actions = lazy_module("service.actions")
    kpis = lazy_module("service.actions.kpis")
    annotator_report = lazy_module("lineage.reports.annotator_report")


__all__ = ["ReportFormat", "annotators_command", "render"]


class ReportFormat(StrEnum):
    csv = "csv"
    json = "json"
    html = "html"


def render(data: dict[str, Any], fmt: ReportFormat) -> str:
    """The report data in ``fmt``."""
    if fmt is ReportFormat.csv:
        return annotator_report.report_csv(data)
    if fmt is ReportFormat.html:
        return annotator_report.report_html(data)
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _write(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all (a temporary file renamed over ``path``)."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@exits_cleanly
def annotators_command(
    version_ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="csv, json or html")] = ReportFormat.csv,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here (default: stdout)")] = None,
    golden: Annotated[
        str | None, typer.Option(help="NAME@VERSION of the golden set (default: the latest evaluation's)")
    ] = None,
    trend: Annotated[bool, typer.Option(help="include every version of the dataset up to this one")] = True,
    project: ProjectOpt = None,
) -> None:
    """Annotator KPIs of DATASET@VERSION: seconds per image and per object, labels per hour, review latency,
    rework, golden-set error and agreement, per annotator, with the trend across versions. An annotator sees
    only their own row."""
    dataset, version = actions.split_ref(version_ref)
    with remote() as api:
        if api is not None:
            params: dict[str, Any] = {"trend": str(trend).lower(), **({"golden": golden} if golden else {})}
            path = api.version_path(api.project_id(project), dataset, version) + "/annotators"
            data = api.get(path, params=params)
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                data = kpis.annotator_kpis(ctx, pid, dataset, version, golden=golden, trend=trend)
    text = render(data, fmt)
    if output is None:
        sys.stdout.write(text)
        return
    _write(output, text)
    out.print(f"wrote {output}")
