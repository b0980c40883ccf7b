"""The label diff verb: what changed, label by label, between two versions of a dataset, and who changed it.

One behaviour for every door (``GET .../datasets/{dataset}/diff``, ``labelgate diff``, the dashboard's
approval screen). Without a ``from`` version the diff is taken against the dataset's last release, else the
version's parent (what an approver wants to see). Golden datasets are hidden from annotators, here as
everywhere (``NotFound``).
"""

from __future__ import annotations

from lineage.errors import InvalidInput
from lineage.reports.diff import LabelDiff, baseline_version, label_diff
from service.actions.context import Context, authorize
from service.actions.versions import find_dataset, find_version

__all__ = ["MAX_LIMIT", "version_diff"]

#: The most changes one answer lists (the counts always cover the whole diff).
MAX_LIMIT = 5_000


def version_diff(
    ctx: Context,
    project_id: int,
    dataset: str,
    *,
    to_version: str,
    from_version: str | None = None,
    iou: float = 0.5,
    offset: int = 0,
    limit: int = 100,
) -> LabelDiff:
    """The diff of ``from_version`` (default: the last release, else the parent) to ``to_version``.

    Args:
        iou (0.5): overlap threshold in (0, 1] (IoU; mask IoU for polygons and masks; OKS for keypoints).
        offset, limit (0, 100): the page of listed changes; ``limit`` at most :data:`MAX_LIMIT`.
    """
    authorize(ctx, "diff_dataset_versions", project_id=project_id)
    if not 0 < iou <= 1:
        raise InvalidInput(f"the IoU threshold must be in (0, 1], got {iou:g}", field="iou")
    if offset < 0 or not 0 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"expected offset >= 0 and 0 <= limit <= {MAX_LIMIT}", field="limit")
    found = find_dataset(ctx, project_id, dataset)
    _, new = find_version(ctx, project_id, dataset, to_version)
    if from_version is not None:
        _, old = find_version(ctx, project_id, dataset, from_version)
        how = "given"
    else:
        base = baseline_version(ctx.session, version=new)
        if base is None:
            raise InvalidInput(
                f"{dataset}@{to_version} has no parent and {dataset} no release to compare with: name the "
                "version to compare from",
                field="from",
            )
        old, how = base
    return label_diff(
        ctx.session, dataset=found.name, old=old, new=new, iou=iou, baseline=how, offset=offset, limit=limit
    )
