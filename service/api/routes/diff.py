"""The label diff route: ``GET /projects/{project_id}/datasets/{dataset}/diff?from=v2&to=v3&iou=0.5``, and
its response models (``LabelDiffPublic``: the shape ``labelgate diff --format json`` prints too).

Without ``from`` the diff is taken against the dataset's last release, else the version's parent
(``baseline`` says which). Golden datasets are answered with 404 to annotators, as if they did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from service.actions.diff import MAX_LIMIT, version_diff
from service.api.deps import ContextDep
from service.api.schemas.common import OutputModel, ProjectRef

__all__ = [
    "AuthorCountPublic",
    "ClassCountPublic",
    "DiffTotalsPublic",
    "ItemCountPublic",
    "LabelChangePublic",
    "LabelDiffPublic",
    "router",
]

router = APIRouter(tags=["lineage"])


class DiffTotalsPublic(OutputModel):
    before: int
    after: int
    unchanged: int
    changed: int
    added: int
    removed: int
    moved: int = Field(description="pairs whose shape moved but still overlaps at or above the threshold")
    by_lineage: int
    by_geometry: int
    items_changed: int


class ClassCountPublic(OutputModel):
    name: str
    before: int
    after: int
    unchanged: int
    changed: int
    added: int
    removed: int


class ItemCountPublic(OutputModel):
    uri: str
    added: int
    removed: int
    changed: int


class AuthorCountPublic(OutputModel):
    author: str
    kind: str
    user: str | None
    model: str | None
    source: str | None
    tool_author: str | None
    added: int
    changed: int
    removed: int
    deleted: int


class LabelChangePublic(OutputModel):
    change: str = Field(description="added, removed or changed")
    uri: str
    from_id: int | None
    to_id: int | None
    from_class: str | None
    to_class: str | None
    geometry_type: str
    fields: list[str] = Field(description="of a change: class, geometry, attributes")
    attributes: list[str] = Field(description="the attribute keys that changed")
    iou: float | None = Field(description="overlap of the two shapes (OKS for keypoints)")
    matched_by: str | None = Field(description="lineage or geometry")
    author: str | None
    from_author: str | None
    removed_by: str | None


class LabelDiffPublic(OutputModel):
    dataset: str
    from_version: str
    to_version: str
    baseline: str = Field(description="given, release (the last release) or parent")
    iou: float
    totals: DiffTotalsPublic
    classes: list[ClassCountPublic]
    class_changes: list[dict[str, Any]]
    authors: list[AuthorCountPublic]
    items: list[ItemCountPublic]
    changes: list[LabelChangePublic]
    changes_total: int
    offset: int
    limit: int


@router.get(
    "/projects/{project_id}/datasets/{dataset}/diff", name="diff_dataset_versions", response_model=LabelDiffPublic
)
def diff_dataset_versions(
    project_id: ProjectRef,
    dataset: str,
    ctx: ContextDep,
    to_version: Annotated[str, Query(alias="to", min_length=1, max_length=64, description="the newer version")],
    from_version: Annotated[
        str | None,
        Query(alias="from", min_length=1, max_length=64, description="default: the last release, else the parent"),
    ] = None,
    iou: Annotated[float, Query(gt=0, le=1, description="overlap threshold")] = 0.5,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = 100,
) -> LabelDiffPublic:
    """Labels added, removed and changed (class, geometry beyond ``iou``, attributes) from one version of
    the dataset to another, per class, per item and per author, with one page of the changes."""
    diff = version_diff(
        ctx, project_id, dataset, to_version=to_version, from_version=from_version, iou=iou, offset=offset, limit=limit
    )
    return LabelDiffPublic.model_validate(diff.to_dict())
