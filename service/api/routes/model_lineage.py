"""A model version's lineage: the loop from the dataset versions it was trained on, through its training, to
its auto-label runs, their labels, the versions holding them and their releases (``lineage.model_lineage``)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from lineage.model_lineage import LoopGraph
from service.actions.model_lineage import model_lineage
from service.api.deps import ContextDep
from service.api.schemas.common import ProjectRef

router = APIRouter(tags=["lineage"])


@router.get("/projects/{project_id}/models/{ref}/lineage", name="model_lineage", response_model=LoopGraph)
def get_model_lineage(
    project_id: ProjectRef,
    ref: str,
    ctx: ContextDep,
    rounds: int = Query(2, ge=1, le=4, description="how far the graph reaches from the model (1 to 4)"),
) -> LoopGraph:
    """The model version ``ref`` (``NAME@VERSION``) as a graph of nodes (dataset versions, its training with
    hyper-parameters and metrics, the model, runs, labels, releases) and edges ``trained on``, ``validated
    on``, ``produced``, ``ran``, ``wrote``, ``in``, ``parent of``, ``released as``."""
    return model_lineage(ctx, project_id, ref, rounds=rounds)
