"""Datasets and the names of their versions: creating a dataset, finding datasets and versions
(``DATASET@VERSION``), the git tag a released version gets, and which datasets annotators may not see."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import Dataset, DatasetVersion, Role

__all__ = [
    "NAME_PATTERN",
    "check_name",
    "create_dataset",
    "get_dataset",
    "get_version",
    "hidden_from",
    "list_datasets",
    "list_versions",
    "release_tag_name",
    "resolve_version",
    "version_ref",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def version_ref(dataset: Dataset, version: DatasetVersion) -> str:
    return f"{dataset.name}@{version.version}"


def release_tag_name(dataset: Dataset, version: DatasetVersion) -> str:
    return f"release/p{dataset.project_id}/{dataset.name}/{version.version}"


def hidden_from(dataset: Dataset, *, roles: frozenset[Role], is_admin: bool) -> bool:
    """Golden datasets are invisible to annotators (an annotator who also holds another role included)."""
    return dataset.is_golden and not is_admin and Role.annotator in roles


def check_name(name: str, what: str) -> None:
    """Refuse a ``what`` (``dataset`` or ``version``) name that does not match ``NAME_PATTERN``."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"{what} names are 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit",
            field=what,
        )


def create_dataset(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    description: str = "",
    is_golden: bool = False,
) -> Dataset:
    check_name(name, "dataset")
    if session.exec(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name)).first():
        raise Conflict(f"a dataset named {name!r} already exists in this project", field="name")
    dataset = Dataset(
        project_id=project_id, name=name, description=description, is_golden=is_golden, created_by=actor.user_id
    )
    session.add(dataset)
    session.flush()
    record_event(
        session,
        actor,
        "dataset.create",
        ("dataset", str(dataset.id)),
        project_id=project_id,
        payload={"name": name, "description": description, "is_golden": is_golden},
    )
    return dataset


def get_dataset(session: Session, *, project_id: int, name: str) -> Dataset:
    dataset = session.exec(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name)).first()
    if dataset is None:
        raise NotFound(f"no dataset named {name!r} in this project", field="dataset")
    return dataset


def list_datasets(session: Session, *, project_id: int, include_golden: bool = True) -> list[Dataset]:
    stmt = select(Dataset).where(Dataset.project_id == project_id)
    if not include_golden:
        stmt = stmt.where(Dataset.is_golden == False)  # noqa: E712
    return list(session.exec(stmt.order_by(col(Dataset.name))))


def get_version(session: Session, *, dataset: Dataset, version: str) -> DatasetVersion:
    found = session.exec(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.version == version)
    ).first()
    if found is None:
        raise NotFound(f"dataset {dataset.name!r} has no version {version!r}", field="version")
    return found


def resolve_version(session: Session, *, project_id: int, ref: str) -> tuple[Dataset, DatasetVersion]:
    """``DATASET@VERSION`` → the dataset and its version."""
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise InvalidInput(f"expected DATASET@VERSION, got {ref!r}", field="version")
    dataset = get_dataset(session, project_id=project_id, name=name)
    return dataset, get_version(session, dataset=dataset, version=version)


def list_versions(session: Session, *, dataset: Dataset) -> list[DatasetVersion]:
    stmt = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(col(DatasetVersion.id))
    return list(session.exec(stmt))
