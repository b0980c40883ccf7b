"""``manifests_for_display``: pages may show a version's manifest from an earlier computation while the
version's annotation rows are unchanged (count and largest id), never a stale one after labels change; what
decides (a fresh ``manifest_hash`` outside the block, as approving, releasing and the release check use)
still sees a row an attacker edited in place behind the triggers' back, while the page does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func
from sqlmodel import Session, select

from lineage.context import Actor
from lineage.formats import import_annotations
from lineage.labels.labelset import label_mark, manifest_hash, manifests_for_display
from lineage.models import Annotation
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version
from tests.lineage.test_lineage_formats import CLASSES, SIZES, coco_doc
from tests.tamper import tamper


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> Any:
    """A version of three items under a schema of three classes (``test_lineage_formats``' own)."""
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=CLASSES, user_id=ml.user_id)
    return quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)


def _import(session: Session, ml: Actor, version: Any, tmp_path: Path, doc: dict[str, Any], name: str) -> None:
    src = tmp_path / name
    src.write_text(json.dumps(doc))
    import_annotations(session, actor=ml, version=version, fmt="coco", path=src)


def _computations(engine: Engine) -> list[str]:
    """The manifest queries the database runs (their statement joins the items' path and hash)."""
    seen: list[str] = []

    def heard(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "items.uri, items.sha256" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", heard)
    return seen


def test_a_page_reuses_the_manifest_until_the_labels_change(
    session: Session,
    engine: Engine,
    ml: Actor,
    target: Any,
    tmp_path: Path,
) -> None:
    _, v = target
    _import(session, ml, v, tmp_path, coco_doc(), "a.json")
    calls = _computations(engine)
    fresh = manifest_hash(session, version_id=v.id)
    with manifests_for_display(session):
        assert manifest_hash(session, version_id=v.id) == fresh
    assert len(calls) == 1  # the page used the computation made just before
    doc = coco_doc()
    doc["annotations"] = doc["annotations"][:1]
    doc["annotations"][0]["bbox"] = [5.0, 5.0, 5.0, 5.0]
    _import(session, ml, v, tmp_path, doc, "b.json")
    with manifests_for_display(session):
        shown = manifest_hash(session, version_id=v.id)
    assert len(calls) == 2 and shown != fresh  # a label more: computed again
    assert shown == manifest_hash(session, version_id=v.id)
    assert len(calls) == 3  # outside the block: always computed


def test_an_edit_in_place_is_missed_by_the_page_and_caught_where_it_decides(
    session: Session,
    engine: Engine,
    ml: Actor,
    target: Any,
    tmp_path: Path,
) -> None:
    _, v = target
    _import(session, ml, v, tmp_path, coco_doc(), "a.json")
    before = manifest_hash(session, version_id=v.id)
    mark = label_mark(session, v.id)
    first = session.exec(select(func.min(Annotation.id)).where(Annotation.dataset_version_id == v.id)).one()
    session.commit()
    assert tamper(engine, "UPDATE annotations SET x = x + 1 WHERE id = :i", i=first) == 1
    session.expire_all()
    assert label_mark(session, v.id) == mark  # the same rows, counted and numbered alike
    with manifests_for_display(session):
        assert manifest_hash(session, version_id=v.id) == before  # the page: as documented, unchanged
    assert manifest_hash(session, version_id=v.id) != before  # what decides: the edit shows
