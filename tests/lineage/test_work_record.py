"""Work from a labelling tool on the record (``lineage.labels.work``): real authors and times kept, a unit
recorded once, a newer unit superseding (nothing overwritten), deletions as tombstones, unknown authors
and bad labels refused with nothing written, and every row sealed so deep verification covers ``made``."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from lineage.audit.deep import deep_verify
from lineage.context import Actor
from lineage.errors import InvalidInput
from lineage.formats.common import ImportInvalid
from lineage.formats.work import Author, ToolLabel, WorkBatch, WorkUnit, iso_utc, made_of
from lineage.labels.labelset import live_labels
from lineage.labels.work import known_authors, record_work
from lineage.models import Annotation, AuditEvent, DatasetVersion, LabelImport, User
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version
from tests.tamper import tamper

SIZES = {"img/a.png": (100, 80), "img/b.png": (100, 80)}


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> DatasetVersion:
    for role, email in (("annotator", "Ann@Example.com"), ("reviewer", "rev@example.com")):
        user = world.users[role]
        user.email = email
        session.add(user)
    session.flush()
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=["car", "dog"], user_id=ml.user_id)
    _, v = quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)
    session.commit()
    return v


def unit(ref: str, *, author: str | None = "7", updated: str = "2026-11-30T10:00:00Z", **kw: object) -> WorkUnit:
    labels = kw.pop("labels", [ToolLabel("car", x=10, y=10, w=20, h=20, result="r1")])
    return WorkUnit(
        ref=ref,
        task="1",
        uri=str(kw.pop("uri", "img/a.png")),
        kind="human" if author else "machine",
        author=author,
        created_at=iso_utc("2026-11-30T09:59:00Z"),
        updated_at=iso_utc(updated),
        lead_time=12.5,
        labels=labels,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def batch(*units: WorkUnit, deleted: tuple[str, ...] = (), sha: str = "a" * 64) -> WorkBatch:
    return WorkBatch(
        tool="labelstudio",
        origin="project:3",
        source="export.json",
        source_sha256=sha,
        units=list(units),
        authors={"7": Author("7", email="ann@example.com"), "8": Author("8", email="REV@example.com")},
        deleted=list(deleted),
    )


def live(session: Session, v: DatasetVersion) -> list[Annotation]:
    return list(session.exec(live_labels(v.id or 0).order_by(col(Annotation.id))))


def count(session: Session, v: DatasetVersion) -> int:
    stmt = select(func.count()).select_from(Annotation).where(Annotation.dataset_version_id == v.id)
    return int(session.exec(stmt).one())


def test_each_label_keeps_its_author_times_and_model(
    session: Session, world: World, ml: Actor, target: DatasetVersion
) -> None:
    two = [ToolLabel("car", x=1, y=2, w=3, h=4, result="r1"), ToolLabel("dog", x=5, y=5, w=10, h=10, result="r2")]
    pred = unit("prediction:9", author=None, model_version="yolo-v2", score=0.75)
    result = record_work(
        session,
        actor=ml,
        version=target,
        batch=batch(unit("annotation:1", labels=two), unit("annotation:2", author="8", uri="img/b.png"), pred),
    )
    session.commit()
    assert (result.units_added, result.labels_written, result.units_skipped) == (3, 4, 0)
    assert result.authors == {"7": "annotator_user", "8": "reviewer_user"}
    rows = {(a.category, a.item_id, a.annotator_id, a.kind): a for a in live(session, target)}
    assert len(rows) == 4
    by_ann = [a for a in live(session, target) if a.annotator_id == world.users["annotator"].id]
    assert sorted(a.category for a in by_ann) == ["car", "dog"]
    made = made_of(by_ann[0].attributes)
    assert made is not None
    assert made["by"] == "7" and made["lead_time"] == 12.5 and made["labels"] == 2
    assert made["at"] == "2026-11-30T09:59:00.000000+00:00" and made["updated"] == "2026-11-30T10:00:00.000000+00:00"
    machine = [a for a in live(session, target) if a.annotator_id is None]
    assert len(machine) == 1 and machine[0].kind == "import" and machine[0].source_format == "labelstudio"
    assert made_of(machine[0].attributes) == {
        **made_of(machine[0].attributes),
        "model_version": "yolo-v2",
        "score": 0.75,
    }  # type: ignore[dict-item]
    assert deep_verify(session).ok
    # The mapping is remembered for a webhook that names the tool's user id only.
    assert known_authors(session, project_id=world.project.id or 0, tool="labelstudio", origin="project:3") == {
        "7": world.users["annotator"].id,
        "8": world.users["reviewer"].id,
    }


def test_the_same_work_twice_writes_nothing(session: Session, ml: Actor, target: DatasetVersion) -> None:
    record_work(session, actor=ml, version=target, batch=batch(unit("annotation:1")))
    session.commit()
    before = (count(session, target), session.exec(select(func.count()).select_from(AuditEvent)).one())
    again = record_work(session, actor=ml, version=target, batch=batch(unit("annotation:1"), sha="b" * 64))
    session.commit()
    assert (again.units_skipped, again.labels_written, again.changed) == (1, 0, False)
    assert (count(session, target), session.exec(select(func.count()).select_from(AuditEvent)).one()) == before
    # An older copy of the unit (a stale export) is skipped too.
    old = record_work(
        session, actor=ml, version=target, batch=batch(unit("annotation:1", updated="2026-11-29T00:00:00Z"))
    )
    assert old.units_skipped == 1 and not old.changed


def test_a_newer_unit_supersedes_and_nothing_is_overwritten(
    session: Session, ml: Actor, target: DatasetVersion
) -> None:
    first = [ToolLabel("car", x=1, y=2, w=3, h=4, result="r1"), ToolLabel("dog", x=5, y=5, w=10, h=10, result="r2")]
    record_work(session, actor=ml, version=target, batch=batch(unit("annotation:1", labels=first)))
    session.commit()
    ids = {made_of(a.attributes)["result"]: a.id for a in live(session, target)}  # type: ignore[index]
    moved = [ToolLabel("car", x=30, y=2, w=3, h=4, result="r1"), ToolLabel("dog", x=50, y=5, w=10, h=10, result="r3")]
    result = record_work(
        session,
        actor=ml,
        version=target,
        batch=batch(unit("annotation:1", labels=moved, updated="2026-11-30T12:00:00+01:00"), sha="c" * 64),
    )
    session.commit()
    assert (result.units_updated, result.labels_written, result.tombstones) == (1, 2, 1)
    now = live(session, target)
    assert sorted((a.category, a.x) for a in now) == [("car", 30.0), ("dog", 50.0)]
    car = next(a for a in now if a.category == "car")
    assert car.supersedes_id == ids["r1"]  # the same result, moved: a correction of the earlier row
    dog = next(a for a in now if a.category == "dog")
    assert dog.supersedes_id is None  # a new result
    assert session.get(Annotation, ids["r1"]).x == 1.0  # type: ignore[union-attr]
    assert count(session, target) == 5  # 2 first, 2 new, 1 tombstone for r2
    assert deep_verify(session).ok


def test_deleted_units_leave_tombstones(session: Session, ml: Actor, target: DatasetVersion) -> None:
    record_work(session, actor=ml, version=target, batch=batch(unit("annotation:1"), unit("annotation:2", author="8")))
    session.commit()
    result = record_work(
        session, actor=ml, version=target, batch=batch(deleted=("annotation:2", "annotation:99"), sha="d" * 64)
    )
    session.commit()
    assert (result.units_deleted, result.tombstones) == (1, 1)
    assert [made_of(a.attributes)["ref"] for a in live(session, target)] == ["annotation:1"]  # type: ignore[index]
    again = record_work(session, actor=ml, version=target, batch=batch(deleted=("annotation:2",), sha="e" * 64))
    assert not again.changed
    assert deep_verify(session).ok


def test_unmapped_authors_are_named_and_nothing_is_written(session: Session, ml: Actor, target: DatasetVersion) -> None:
    b = batch(unit("annotation:1"), unit("annotation:2", author="41"), unit("annotation:3", author="42"))
    b.authors["41"] = Author("41", email="ghost@example.com")
    with pytest.raises(InvalidInput) as err:
        record_work(session, actor=ml, version=target, batch=b)
    assert "41 <ghost@example.com>" in str(err.value) and "42" in str(err.value)
    session.rollback()
    assert count(session, target) == 0
    # An explicit map names them.
    result = record_work(
        session,
        actor=ml,
        version=target,
        batch=b,
        user_map={"ghost@example.com": "annotator_user", "42": "reviewer_user"},
    )
    assert result.authors == {"7": "annotator_user", "41": "annotator_user", "42": "reviewer_user"}
    with pytest.raises(InvalidInput, match="no such user"):
        record_work(
            session,
            actor=ml,
            version=target,
            batch=batch(unit("annotation:5", author="8"), sha="f" * 64),
            user_map={"8": "nobody"},
        )


def test_bad_labels_are_refused_together(session: Session, ml: Actor, target: DatasetVersion) -> None:
    bad = batch(
        unit("annotation:1", uri="img/missing.png"),
        unit("annotation:2", labels=[ToolLabel("cat", x=1, y=1, w=2, h=2)]),
        unit("annotation:3", labels=[ToolLabel("car", x=90, y=10, w=20, h=20)]),
        unit("annotation:4", labels=[ToolLabel("car", x=1, y=1, w=2, h=2, attributes={"made": 1})]),
        unit("annotation:5"),
    )
    with pytest.raises(ImportInvalid) as err:
        record_work(session, actor=ml, version=target, batch=bad)
    text = " | ".join(f"{p.where}: {p.message}" for p in err.value.problems)
    assert "img/missing.png" in text and "'cat'" in text and "reserved" in text and "annotation:3" in text
    assert len(err.value.problems) == 4
    session.rollback()
    assert count(session, target) == 0
    assert session.exec(select(func.count()).select_from(LabelImport)).one() == 0


def test_an_edited_made_record_is_caught(session: Session, engine: Engine, ml: Actor, target: DatasetVersion) -> None:
    record_work(session, actor=ml, version=target, batch=batch(unit("annotation:1")))
    session.commit()
    row = live(session, target)[0]
    # An attacker with database access moves the label's time and author in the tool's record.
    attrs = dict(row.attributes or {})
    attrs["made"] = {**attrs["made"], "by": "8", "lead_time": 1.0}
    session.commit()  # end the read transaction (SQLite's writer lock)
    import json

    tamper(engine, "UPDATE annotations SET attributes = :a WHERE id = :i", a=json.dumps(attrs), i=row.id)
    with Session(engine) as s:
        report = deep_verify(s)
    assert not report.ok
    assert any(p.table == "annotations" for p in report.problems)


def test_concurrent_deliveries_of_one_unit_record_it_once(engine: Engine, ml: Actor, target: DatasetVersion) -> None:
    """Eight deliveries of the same unit at once, each a different source (a webhook, a pull, an export):
    the unit is recorded once (the append lock is taken before the record is read, on PostgreSQL too)."""
    import threading

    version_id = target.id
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def one(n: int) -> None:
        try:
            start.wait()
            with Session(engine) as s:
                v = s.get(DatasetVersion, version_id)
                assert v is not None
                r = record_work(s, actor=ml, version=v, batch=batch(unit("annotation:1"), sha=f"{n:064x}"))
                s.commit()
                results.append(r.labels_written)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(results) == [0] * 7 + [1]
    with Session(engine) as s:
        v = s.get(DatasetVersion, version_id)
        assert v is not None and count(s, v) == 1


def test_the_unit_author_must_be_an_annotating_member(
    session: Session, world: World, ml: Actor, target: DatasetVersion
) -> None:
    outsider: User = world.users["outsider"]
    with pytest.raises(InvalidInput):
        record_work(
            session, actor=ml, version=target, batch=batch(unit("annotation:1")), user_map={"7": outsider.username}
        )
