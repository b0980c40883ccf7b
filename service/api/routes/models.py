"""Model cards: one per registered model version, generated from the record (``lineage.reports.model_card``)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from service.actions.model_cards import model_card_html, model_card_of
from service.api.deps import ContextDep
from service.api.schemas.common import ProjectRef

router = APIRouter(tags=["auto-labelling"])

CardFormat = Literal["json", "html"]


@router.get("/projects/{project_id}/models/{ref}/card", name="get_model_card")
def get_model_card(
    project_id: ProjectRef,
    ref: str,
    ctx: ContextDep,
    format: CardFormat = Query("json", description="`json` (default) or `html` (one self-contained page)"),
) -> Response:
    """The model card of `NAME@VERSION` (Mitchell et al. 2019 sections: model details, intended use, factors,
    metrics, evaluation data, training data, quantitative analyses, ethical considerations, caveats), with the
    auto-label runs and released versions that use it. 404 for an unknown model, 422 for a malformed ref."""
    if format == "html":
        return HTMLResponse(model_card_html(ctx, project_id, ref))
    return JSONResponse(model_card_of(ctx, project_id, ref))
