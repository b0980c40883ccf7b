"""Imports are idempotent per content: the same source twice into a version is a no-op that says so,
concurrent duplicates leave one import (PostgreSQL's unique key, SQLite's serialised writers), and a
deliberate re-import is explicit. The import record is append-only and covered by deep verification."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from lineage.audit.deep import deep_verify
from lineage.context import Actor
from lineage.formats import import_annotations
from lineage.labels.imports import latest_id_map
from lineage.models import Annotation, DatasetVersion, LabelImport
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version
from tests.lineage.test_lineage_formats import CLASSES, SIZES, coco_doc
from tests.tamper import tamper


def _labels(session: Session, version: DatasetVersion) -> int:
    stmt = select(func.count()).select_from(Annotation).where(Annotation.dataset_version_id == version.id)
    return int(session.exec(stmt).one())


def _imports(session: Session, version: DatasetVersion) -> list[LabelImport]:
    stmt = select(LabelImport).where(LabelImport.dataset_version_id == version.id).order_by(col(LabelImport.id))
    return list(session.exec(stmt))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(coco_doc()))
    return path


@pytest.fixture
def version(session: Session, world: World, ml: Actor) -> DatasetVersion:
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=CLASSES, user_id=ml.user_id)
    _, v = quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)
    return v


def test_the_same_source_twice_is_a_no_op_that_says_so(
    session: Session, ml: Actor, version: DatasetVersion, source: Path
) -> None:
    first = import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    session.commit()
    assert (first.status, first.annotations, first.generation) == ("imported", 3, 0)
    # The same bytes under another name are the same source.
    renamed = source.with_name("copy.json")
    renamed.write_bytes(source.read_bytes())
    again = import_annotations(session, actor=ml, version=version, fmt="coco", path=renamed)
    session.commit()
    assert again.status == "already_imported"
    assert again.annotations == 0 and again.import_id == first.import_id
    assert again.duplicate_of is not None and f"import #{first.import_id}" in again.duplicate_of
    assert "ml_engineer" in again.duplicate_of or ml.username in again.duplicate_of
    assert _labels(session, version) == 3
    assert len(_imports(session, version)) == 1


def test_a_changed_source_is_a_new_import(session: Session, ml: Actor, version: DatasetVersion, source: Path) -> None:
    import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    doc = coco_doc()
    doc["annotations"] = doc["annotations"][:1]
    source.write_text(json.dumps(doc))
    second = import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    session.commit()
    assert second.status == "imported" and second.generation == 0
    assert _labels(session, version) == 4


def test_a_deliberate_reimport_takes_the_next_generation(
    session: Session, ml: Actor, version: DatasetVersion, source: Path
) -> None:
    import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    again = import_annotations(session, actor=ml, version=version, fmt="coco", path=source, reimport=True)
    third = import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    session.commit()
    assert (again.status, again.generation, again.annotations) == ("imported", 1, 3)
    assert third.status == "already_imported" and third.generation == 1
    assert _labels(session, version) == 6
    assert sorted(i.generation for i in _imports(session, version)) == [0, 1]


def test_the_same_file_from_two_annotators_is_two_deliveries(
    session: Session, world: World, ml: Actor, version: DatasetVersion, source: Path
) -> None:
    """Idempotence is per source and attribution: byte-identical labels delivered by two annotators are both
    recorded (the next generation), each attributed; the same annotator's file again is a no-op."""
    annotator, reviewer = world.users["annotator"].id, world.users["reviewer"].id
    first = import_annotations(session, actor=ml, version=version, fmt="coco", path=source, annotator_id=annotator)
    second = import_annotations(session, actor=ml, version=version, fmt="coco", path=source, annotator_id=reviewer)
    again = import_annotations(session, actor=ml, version=version, fmt="coco", path=source, annotator_id=reviewer)
    unattributed = import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    session.commit()
    assert (first.status, first.generation) == ("imported", 0)
    assert (second.status, second.generation, second.kind) == ("imported", 1, "human")
    assert again.status == "already_imported" and again.import_id == second.import_id
    assert (unattributed.status, unattributed.generation, unattributed.kind) == ("imported", 2, "import")
    by = {a.annotator_id for a in session.exec(select(Annotation).where(Annotation.dataset_version_id == version.id))}
    assert by == {annotator, reviewer, None} and _labels(session, version) == 9


def test_concurrent_duplicates_leave_one_import(
    engine: Engine, session: Session, ml: Actor, version: DatasetVersion, source: Path
) -> None:
    session.commit()
    version_id = version.id
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def one() -> None:
        try:
            start.wait()  # before the session's first statement: on SQLite that takes the write lock
            with Session(engine) as s:
                v = s.get(DatasetVersion, version_id)
                assert v is not None
                r = import_annotations(s, actor=ml, version=v, fmt="coco", path=source)
                s.commit()
                results.append(r.status)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(results) == ["already_imported"] * 7 + ["imported"]
    session.expire_all()
    assert _labels(session, version) == 3
    assert len(_imports(session, version)) == 1


def test_the_import_record_is_append_only_and_verified(
    engine: Engine, session: Session, ml: Actor, version: DatasetVersion, source: Path
) -> None:
    result = import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    session.commit()
    assert deep_verify(session).ok
    session.close()
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM label_imports WHERE id = {result.import_id}")
    # An attacker who drops the triggers and edits the row (to hide a duplicate, say) is caught.
    tamper(engine, "UPDATE label_imports SET annotations = 0 WHERE id = :i", i=result.import_id)
    with Session(engine) as s:
        report = deep_verify(s)
    assert not report.ok
    assert any(p.table == "label_imports" and p.kind == "edited" for p in report.problems)


def test_the_source_ids_of_the_newest_import_are_kept(
    session: Session, ml: Actor, version: DatasetVersion, source: Path
) -> None:
    import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    doc = coco_doc()
    doc["images"][0]["id"], doc["categories"][1]["id"] = 70, 90
    doc["annotations"] = [{"id": 5, "image_id": 70, "category_id": 90, "bbox": [1.0, 1.0, 2.0, 2.0]}]
    source.write_text(json.dumps(doc))
    import_annotations(session, actor=ml, version=version, fmt="coco", path=source)
    session.commit()
    found = latest_id_map(session, version.id or 0)
    assert found is not None
    assert found["images"]["a.jpg"] == 70 and found["categories"]["dog"] == 90
    first = _imports(session, version)[0].id_map
    assert first is not None and first["images"]["a.jpg"] == 1
