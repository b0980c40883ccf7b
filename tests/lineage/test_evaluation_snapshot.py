"""A gate evaluation pins what it measured (PostgreSQL, READ COMMITTED): an import that commits while the
evaluation reads is either measured by it or not pinned by it, never pinned without being measured."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from lineage.db import make_engine
from lineage.formats import import_annotations
from lineage.gates import evaluate_version
from lineage.labels.labelset import count_live, manifest_hash
from lineage.models import DatasetVersion, Item, LabelSchemaVersion
from lineage.schemas import version_classes
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import actor_for, make_gate_world


def _duplicates(item: Item, category: str) -> bytes:
    """Three identical boxes on one image: the expectations suite's duplicate check blocks them."""
    box = {"image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 20], "area": 400, "iscrowd": 0}
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": item.uri, "width": item.width, "height": item.height}],
            "categories": [{"id": 1, "name": category}],
            "annotations": [{**box, "id": k + 1} for k in range(3)],
        }
    ).encode()


def _measured(record: Any) -> int:
    gate = next(g for g in record.gates if g["name"] == "expectations")
    return int(gate["evidence"]["outcomes"][0]["element_count"])


# SQLite serialises writers (BEGIN IMMEDIATE): nothing commits while an evaluation runs, so PostgreSQL only.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_import_committed_during_an_evaluation_is_not_pinned_unmeasured(
    db_url: str, engine: Engine, session: Session, settings: Settings, tmp_path: Path
) -> None:
    init_workspace(settings)
    world, sc = make_gate_world(session, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret="x" * 16)
    session.commit()
    ml = actor_for(world.users["ml_engineer"])
    version_id = sc.passing.id or 0
    item = session.exec(select(Item).where(Item.dataset_version_id == version_id).order_by(col(Item.id))).first()
    assert item is not None
    schema = session.get(LabelSchemaVersion, sc.passing.schema_version_id)
    assert schema is not None
    first_class = version_classes(schema)[0].name
    other = make_engine(db_url)
    fired: list[int] = []

    def import_meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """When the evaluation computes the version's manifest to pin, another transaction imports and commits."""
        if fired or "items.uri, items.sha256" not in statement:
            return
        if "current_data_hashes" not in [f.name for f in traceback.extract_stack()]:
            return
        with Session(other, expire_on_commit=False) as s2:
            v2 = s2.get(DatasetVersion, version_id)
            assert v2 is not None
            result = import_annotations(s2, actor=ml, version=v2, fmt="coco", data=_duplicates(item, first_class),
                                        source_name="meanwhile.json")  # fmt: skip
            s2.commit()
            fired.append(result.annotations)

    event.listen(engine, "before_cursor_execute", import_meanwhile)
    try:
        outcome = evaluate_version(session, actor=ml, version=sc.passing, policy_record=sc.policy)
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", import_meanwhile)
        other.dispose()
    assert fired == [3]
    record = outcome.record
    if record.data_hashes["version.manifest"] == manifest_hash(session, version_id=version_id):
        # It pins the content with the import: it must have measured it, and so block on the duplicates.
        assert _measured(record) == count_live(session, version_id=version_id)
        assert not record.passed
