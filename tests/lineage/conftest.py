"""Fixtures of the lineage tests: a world of users, a real workspace (git + DVC), images, quick versions.

``quick_version`` writes a version's rows without DVC, for tests about labels alone; tests about content
use ``workspace`` and ``lineage.datasets.versions.create_version`` (real ``dvc add``/``push``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlmodel import Session

from lineage import datasets
from lineage.context import Actor
from lineage.errors import NotFound
from lineage.models import Dataset, DatasetVersion, Item, LabelSchema, LabelSchemaVersion
from lineage.schemas import LabelClass, classes_hash
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@pytest.fixture
def ml(world: World) -> Actor:
    return actor_for(world.users["ml_engineer"], request_id="req-ml")


@pytest.fixture
def workspace(settings: Settings) -> Settings:
    """An initialised workspace: migrated database, git + DVC repository with a local remote."""
    init_workspace(settings)
    return settings


def make_images(folder: Path, sizes: dict[str, tuple[int, int]], *, shade: int = 0) -> Path:
    """PNG files of the given ``{relative path: (width, height)}``; ``shade`` changes their bytes."""
    for i, (rel, (w, h)) in enumerate(sizes.items()):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), ((shade * 37 + i * 11) % 256, shade % 256, i % 256)).save(path)
    return folder


def quick_schema(
    session: Session, *, project_id: int, name: str, classes: list[str], user_id: int
) -> LabelSchemaVersion:
    """Schema rows without a git commit (for label tests)."""
    schema = LabelSchema(project_id=project_id, name=name)
    session.add(schema)
    session.flush()
    parsed = [LabelClass(name=c) for c in classes]
    sv = LabelSchemaVersion(
        schema_id=schema.id or 0,
        version=1,
        classes=[c.model_dump() for c in parsed],
        content_hash=classes_hash(parsed),
        created_by=user_id,
    )
    session.add(sv)
    session.flush()
    return sv


def quick_version(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    items: dict[str, tuple[int, int]],
    dataset: str = "pets",
    version: str = "v1",
    schema_version_id: int | None = None,
    parent: DatasetVersion | None = None,
    golden: bool = False,
) -> tuple[Dataset, DatasetVersion]:
    """A dataset version's rows (no DVC content): items ``{uri: (width, height)}`` with made-up hashes."""
    try:
        ds = datasets.get_dataset(session, project_id=project_id, name=dataset)
    except NotFound:
        ds = datasets.create_dataset(session, actor=actor, project_id=project_id, name=dataset, is_golden=golden)
    v = DatasetVersion(
        dataset_id=ds.id or 0,
        version=version,
        parent_id=parent.id if parent else None,
        schema_version_id=schema_version_id,
        item_count=len(items),
        created_by=actor.user_id,
    )
    session.add(v)
    session.flush()
    for uri, (w, h) in items.items():
        sha = hashlib.sha256(uri.encode()).hexdigest()
        session.add(Item(dataset_version_id=v.id or 0, uri=uri, sha256=sha, size_bytes=100, width=w, height=h))
    session.flush()
    return ds, v


def items_of(session: Session, version: DatasetVersion) -> dict[str, int]:
    return {i.uri: i.id or 0 for i in datasets.list_items(session, version_id=version.id or 0)}


def rows(session: Session, sql: str, **params: Any) -> list[Any]:
    from sqlalchemy import text

    return list(session.execute(text(sql), params).all())
