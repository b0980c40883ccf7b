"""Finding what a caller names: a project by name or id, a dataset and a version visible to them.

Golden datasets are hidden from annotators: for them a golden dataset does not exist (``NotFound``), the
same answer as for a name that was never created.
"""

from __future__ import annotations

from sqlmodel import col, select

from lineage import datasets
from lineage.errors import InvalidInput, NotFound
from lineage.models import Dataset, DatasetVersion, Membership, Project
from service.actions.context import Context

__all__ = ["find_dataset", "find_project", "find_version", "split_ref"]


def split_ref(ref: str, *, field: str = "version") -> tuple[str, str]:
    """``DATASET@VERSION`` → ``(dataset, version)``; ``InvalidInput`` naming ``field`` otherwise."""
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise InvalidInput(f"expected DATASET@VERSION, got {ref!r}", field=field)
    return name, version


def find_project(ctx: Context, project: str | None, *, field: str = "--project") -> int:
    """The id of the project named ``project`` (a name or an id) among those the caller can see; with no
    name, the only one they can see (``InvalidInput`` when there are several or none)."""
    user = ctx.principal.user
    visible = select(Project).order_by(col(Project.id))
    if not user.is_admin:
        visible = visible.where(col(Project.id).in_(select(Membership.project_id).where(Membership.user_id == user.id)))
    if project is None:
        found = list(ctx.session.exec(visible.limit(2)))
        if len(found) != 1:
            raise InvalidInput("several projects (or none) exist; name one with --project", field=field)
        return found[0].id or 0
    where = col(Project.id) == int(project) if project.isdigit() else col(Project.name) == project
    match = ctx.session.exec(visible.where(where)).first()
    if match is None:
        raise NotFound(f"no project {project!r}", field=field)
    return match.id or 0


def find_dataset(ctx: Context, project_id: int, name: str) -> Dataset:
    dataset = datasets.get_dataset(ctx.session, project_id=project_id, name=name)
    if datasets.hidden_from(dataset, roles=ctx.roles_in(project_id), is_admin=ctx.user.is_admin):
        raise NotFound(f"no dataset named {name!r} in this project", field="dataset")
    return dataset


def find_version(ctx: Context, project_id: int, dataset: str, version: str) -> tuple[Dataset, DatasetVersion]:
    found = find_dataset(ctx, project_id, dataset)
    return found, datasets.get_version(ctx.session, dataset=found, version=version)
