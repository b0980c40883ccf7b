"""Annotator KPIs of a dataset version (``lineage.reports.annotator_report``): every member may ask; an
annotator sees only their own row, and golden sets stay hidden from them.

Golden datasets are already invisible to annotators (``find_version``); here an annotator also gets no
other annotator's row, cannot choose the golden set (naming one would probe the hidden golden sets), and
the report does not name the golden set it measured against.
"""

from __future__ import annotations

from typing import Any

from lineage.errors import PermissionDenied
from lineage.models import Role
from lineage.reports.annotator_report import annotator_report, choose_golden
from service.actions.context import Context, authorize
from service.actions.versions import find_version

__all__ = ["annotator_kpis", "sees_only_themselves"]

HIDDEN = "(hidden)"


def sees_only_themselves(ctx: Context, project_id: int) -> bool:
    """Whether the caller sees only their own row: an annotator (also one holding another role), as golden
    datasets are hidden from them (``lineage.datasets.catalog.hidden_from``)."""
    return not ctx.user.is_admin and Role.annotator in ctx.roles_in(project_id)


def annotator_kpis(
    ctx: Context, project_id: int, dataset: str, version: str, *, golden: str | None = None, trend: bool = True
) -> dict[str, Any]:
    """The annotator report of ``dataset@version`` as JSON-ready data (:meth:`AnnotatorReport.to_dict`):
    with ``trend``, every version of the dataset up to this one; ``golden`` (``NAME@VERSION``) the golden
    set to measure against (default: the one the version's latest evaluation used)."""
    authorize(ctx, "annotator_kpis", project_id=project_id)
    ds, v = find_version(ctx, project_id, dataset, version)
    restricted = sees_only_themselves(ctx, project_id)
    if restricted and golden:
        raise PermissionDenied("annotators cannot choose the golden set of the report", field="golden")
    chosen = choose_golden(ctx.session, project_id=project_id, version=v, ref=golden)
    report = annotator_report(
        ctx.session,
        dataset=ds,
        version=v,
        golden=chosen,
        only=ctx.user.username if restricted else None,
        trend=trend,
    )
    data = report.to_dict()
    if restricted and data["golden_set"] is not None:
        data["golden_set"] = HIDDEN
    return data
