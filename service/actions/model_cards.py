"""The model card of a registered model version (``lineage.reports.model_card``), JSON or HTML."""

from __future__ import annotations

from typing import Any

from inference.registry import resolve_model_ref
from lineage.reports.model_card import model_card, render_model_card_html
from service.actions.context import Context, authorize

__all__ = ["CARD_ACTION", "model_card_html", "model_card_of"]

#: The permission the card is read under. Today the models' own reading (``list_models``: ML engineers);
#: the governance report links here for compliance officers, reviewers and CI too, who need an action of
#: their own (``get_model_card``, the route's name) to follow that link.
CARD_ACTION = "get_model_card"


def model_card_of(ctx: Context, project_id: int, ref: str) -> dict[str, Any]:
    """The card of model ``NAME@VERSION`` of the project (``InvalidInput`` for a malformed ref, ``NotFound``
    for an unknown model)."""
    authorize(ctx, CARD_ACTION, project_id=project_id)
    model = resolve_model_ref(ctx.session, project_id=project_id, ref=ref)
    return model_card(ctx.session, model_version_id=model.id or 0)


def model_card_html(ctx: Context, project_id: int, ref: str) -> str:
    """:func:`model_card_of` rendered as one self-contained HTML page."""
    return render_model_card_html(model_card_of(ctx, project_id, ref))
