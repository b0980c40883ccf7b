"""Annotator KPIs of a dataset version (``service.actions.kpis``): per annotator speed, review latency,
rework, golden-set error and agreement, with the trend over the dataset's versions. An annotator gets only
their own row; no golden item is ever named."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from service.actions.kpis import annotator_kpis
from service.api.deps import ContextDep
from service.api.routes.datasets import VERSION
from service.api.schemas.common import ProjectRef

__all__ = ["AnnotatorKpisPublic", "AnnotatorReportPublic", "VersionKpisPublic", "router"]

router = APIRouter(tags=["reports"])


class AnnotatorKpisPublic(BaseModel):
    """One annotator's KPIs in one version; None: not computable, the reason in ``reasons``. Seconds;
    ``rework_rate`` and ``golden_error`` in [0, 1], ``golden_low``/``golden_high`` its Wilson 95 % interval."""

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
    golden_error: float | None
    golden_low: float | None
    golden_high: float | None
    golden_trials: int
    alpha: float | None
    alpha_units: int
    reasons: dict[str, str]


class VersionKpisPublic(BaseModel):
    version: str
    annotators: list[AnnotatorKpisPublic]


class AnnotatorReportPublic(BaseModel):
    """The report of ``dataset@version``; ``trend``: every version up to it, in order (empty when not asked);
    ``golden_set``: ``NAME@VERSION`` measured against, ``(hidden)`` for an annotator, None when none."""

    dataset: str
    version: str
    golden_set: str | None
    annotators: list[AnnotatorKpisPublic]
    trend: list[VersionKpisPublic]
    definitions: dict[str, str]


@router.get(VERSION + "/annotators", name="annotator_kpis", response_model=AnnotatorReportPublic)
def get_annotator_kpis(
    project_id: ProjectRef,
    dataset: str,
    version: str,
    ctx: ContextDep,
    golden: str | None = Query(None, description="NAME@VERSION of the golden set (default: the latest evaluation's)"),
    trend: bool = Query(True, description="include every version of the dataset up to this one"),
) -> AnnotatorReportPublic:
    """Annotator KPIs of the version (an annotator sees only their own row)."""
    return AnnotatorReportPublic.model_validate(
        annotator_kpis(ctx, project_id, dataset, version, golden=golden, trend=trend)
    )
