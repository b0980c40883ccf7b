"""The items behind one cell of an evaluation's confusion matrix (``service.actions.evaluation_items``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.actions.evaluation_items import confusion_cell_items as cell_items
from service.api.deps import ContextDep
from service.api.schemas.common import OutputModel, ProjectRef, RowId
from service.api.schemas.lineage import AnnotationPublic

router = APIRouter(tags=["gates"])


class CellItemPublic(OutputModel):
    """One item behind the cell: the version's item (or the golden set's, ``in_version`` false, for a golden
    image the version lacks), how many of the cell's counts it holds, its golden labels and the predictions
    judged on it (at or above the model threshold)."""

    item_id: int
    uri: str
    sha256: str
    width: int | None
    height: int | None
    in_version: bool
    count: int
    ground_truth: list[AnnotationPublic]
    predictions: list[AnnotationPublic]


class ConfusionCellPublic(OutputModel):
    """The cell ``truth`` → ``predicted`` recomputed: ``count`` over all ``total_items`` items (``items`` holds
    the first ``limit``, most counts first); ``stored_count`` is the stored matrix's cell (None if it does not
    read); ``stale`` is true when the recomputed matrix differs from the stored one (the data changed since the
    evaluation)."""

    evaluation_id: int
    truth: str
    predicted: str
    iou: float
    threshold: float
    stored_count: int | None
    count: int
    total_items: int
    stale: bool
    items: list[CellItemPublic]


@router.get(
    "/projects/{project_id}/evaluations/{evaluation_id}/confusion-cell",
    name="confusion_cell_items",
    response_model=ConfusionCellPublic,
)
def confusion_cell_items(
    project_id: ProjectRef,
    evaluation_id: RowId,
    ctx: ContextDep,
    truth: Annotated[str, Query(max_length=200, description="the golden class (a row label), or `background`")],
    predicted: Annotated[str, Query(max_length=200, description="the predicted class (a column), or `background`")],
    limit: Annotated[int, Query(ge=1, le=500, description="the most items to return")] = 50,
) -> dict[str, Any]:
    """The items behind one cell of the evaluation's confusion matrix, with the golden labels and the
    predictions to draw on each. 422 (field ``truth`` or ``predicted``) for a class not in the matrix, naming
    the valid ones, and for a classification evaluation or one without a matrix; 404 for an evaluation of
    another project, or one whose golden set is hidden from the caller (annotators)."""
    return cell_items(ctx, project_id, evaluation_id, truth=truth, predicted=predicted, limit=limit)
