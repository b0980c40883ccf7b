"""Annotations: provenance enforced by the database itself, append-only corrections and reviews, the live
label set, label inheritance and the manifest hash (known answer from its written definition)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from lineage import labels as ann
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import Annotation, AuditEvent, AutoLabelRun, ModelVersion, ProvenanceKind, Review, ReviewDecision
from tests.factories import World, actor_for
from tests.lineage.conftest import items_of, quick_schema, quick_version

ITEMS = {"a.jpg": (100, 80), "b.jpg": (50, 50)}


def _setup(session: Session, world: World, ml: Actor, **kw: Any) -> tuple[Any, Any, dict[str, int]]:
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=["cat", "dog"], user_id=ml.user_id)
    ds, v = quick_version(
        session, actor=ml, project_id=world.project.id or 0, items=ITEMS, schema_version_id=sv.id, **kw
    )
    return ds, v, items_of(session, v)


def _human(actor: Actor) -> ann.Provenance:
    return ann.Provenance(kind=ProvenanceKind.human, annotator_id=actor.user_id)


# The columns each kind needs; dropping any one must make the database refuse the row.
COMPLETE: dict[str, dict[str, Any]] = {
    "human": {"annotator_id": "USER"},
    "model": {
        "model_version_id": "MODEL",
        "weights_sha256": "ab" * 32,
        "confidence": 0.9,
        "threshold": 0.5,
        "autolabel_run_id": "RUN",
    },
    "import": {"source_sha256": "cd" * 32, "source_format": "coco"},
    "synthetic": {"generator_config_hash": "ef" * 32},
}
CASES = [(kind, None) for kind in COMPLETE] + [(kind, drop) for kind, cols in COMPLETE.items() for drop in cols]


@pytest.mark.parametrize(("kind", "drop"), CASES)
def test_the_database_refuses_incomplete_provenance(
    session: Session, world: World, ml: Actor, kind: str, drop: str | None
) -> None:
    """Raw SQL, bypassing every check in code: the CHECK constraint alone decides (SQLite and PostgreSQL)."""
    _, v, items = _setup(session, world, ml)
    model = ModelVersion(
        project_id=world.project.id or 0,
        name="m",
        version="1",
        weights_uri="x",
        weights_sha256="ab" * 32,
        created_by=ml.user_id,
    )
    session.add(model)
    session.flush()
    run = AutoLabelRun(
        dataset_version_id=v.id or 0, model_version_id=model.id or 0, threshold=0.5, created_by=ml.user_id
    )
    session.add(run)
    session.flush()
    fill = {"USER": ml.user_id, "MODEL": model.id, "RUN": run.id}
    values: dict[str, Any] = {k: fill.get(v, v) if isinstance(v, str) else v for k, v in COMPLETE[kind].items()}
    if drop is not None:
        del values[drop]
    session.commit()
    cols = ["dataset_version_id", "item_id", "category", "geometry_type", "kind", "created_at", *values]
    params = {
        "dataset_version_id": v.id,
        "item_id": items["a.jpg"],
        "category": "cat",
        "geometry_type": "box",
        "kind": kind,
        "created_at": "2026-01-01 00:00:00",
        **values,
    }
    sql = text(f"INSERT INTO annotations ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})")
    if drop is None:
        session.execute(sql, params)
        session.commit()
        return
    with pytest.raises(IntegrityError, match=r"ck_annotation_provenance|CHECK constraint failed"):
        session.execute(sql, params)
        session.commit()


def test_annotations_cannot_be_updated_in_place(session: Session, world: World, ml: Actor) -> None:
    _, v, items = _setup(session, world, ml)
    [aid] = ann.add_annotations(
        session, actor=ml, version=v, labels=[ann.NewLabel(items["a.jpg"], "cat", 1, 1, 5, 5)], provenance=_human(ml)
    )
    session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE annotations SET category = 'dog' WHERE id = :i"), {"i": aid})
    session.rollback()


def test_add_validates_everything_and_audits_once(session: Session, world: World, ml: Actor) -> None:
    _, v, items = _setup(session, world, ml)
    bad = [
        (ann.NewLabel(items["a.jpg"], "horse", 1, 1, 5, 5), "annotations[0].category"),
        (ann.NewLabel(items["a.jpg"], "cat", 90, 1, 20, 5), "annotations[0].bbox"),  # past the right edge
        (ann.NewLabel(items["a.jpg"], "cat", 1, 1, -5, 5), "annotations[0].bbox"),
        (ann.NewLabel(999_999, "cat", 1, 1, 5, 5), "annotations[0].item"),
    ]
    for label, field in bad:
        with pytest.raises(InvalidInput) as exc:
            ann.add_annotations(session, actor=ml, version=v, labels=[label], provenance=_human(ml))
        assert exc.value.field == field
    with pytest.raises(InvalidInput, match="at most 2"):
        ann.add_annotations(
            session,
            actor=ml,
            version=v,
            labels=[ann.NewLabel(items["a.jpg"], "cat", 1, 1, 2, 2)] * 3,
            provenance=_human(ml),
            max_batch=2,
        )
    with pytest.raises(InvalidInput, match="annotator_id"):
        ann.add_annotations(
            session,
            actor=ml,
            version=v,
            labels=[ann.NewLabel(items["a.jpg"], "cat", 1, 1, 2, 2)],
            provenance=ann.Provenance(kind=ProvenanceKind.human),
        )
    ids = ann.add_annotations(
        session,
        actor=ml,
        version=v,
        labels=[
            ann.NewLabel(items["a.jpg"], "cat", 0, 0, 100, 80),
            ann.NewLabel(items["b.jpg"], "dog", 1.5, 2.5, 3, 4),
        ],
        provenance=_human(ml),
    )
    session.commit()
    assert len(ids) == 2 and ids[0] < ids[1]
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "annotation.add")).all()
    assert len(events) == 1 and events[0].payload["count"] == 2 and events[0].payload["first_id"] == ids[0]


def test_correction_appends_and_supersedes(session: Session, world: World, ml: Actor) -> None:
    _, v, items = _setup(session, world, ml)
    [aid] = ann.add_annotations(
        session, actor=ml, version=v, labels=[ann.NewLabel(items["a.jpg"], "cat", 1, 1, 5, 5)], provenance=_human(ml)
    )
    annotator = actor_for(world.users["annotator"])
    new = ann.correct_annotation(
        session, actor=annotator, annotation_id=aid, change=ann.BoxChange(category="dog", w=6), reason="wrong class"
    )
    session.commit()
    old = session.get(Annotation, aid)
    assert old is not None and (old.category, old.w) == ("cat", 5)  # untouched
    assert (new.supersedes_id, new.category, new.w, new.x, new.kind, new.annotator_id) == (
        aid,
        "dog",
        6,
        1,
        "human",
        annotator.user_id,
    )
    assert [a.id for a in ann.list_live(session, version_id=v.id)] == [new.id]
    with pytest.raises(Conflict, match=f"superseded by annotation {new.id}"):
        ann.correct_annotation(session, actor=annotator, annotation_id=aid, change=ann.BoxChange(category="cat"))
    with pytest.raises(NotFound):
        ann.correct_annotation(session, actor=annotator, annotation_id=987_654, change=ann.BoxChange(category="cat"))


def test_reviews_accept_reject_correct(session: Session, world: World, ml: Actor) -> None:
    _, v, items = _setup(session, world, ml)
    a, b, c = ann.add_annotations(
        session,
        actor=ml,
        version=v,
        labels=[
            ann.NewLabel(items["a.jpg"], "cat", 1, 1, 5, 5),
            ann.NewLabel(items["a.jpg"], "dog", 2, 2, 5, 5),
            ann.NewLabel(items["b.jpg"], "cat", 3, 3, 5, 5),
        ],
        provenance=_human(ml),
    )
    reviewer = actor_for(world.users["reviewer"])
    r1 = ann.review_annotation(session, actor=reviewer, annotation_id=a, decision=ReviewDecision.accept, comment="ok")
    r2 = ann.review_annotation(session, actor=reviewer, annotation_id=b, decision=ReviewDecision.reject)
    r3 = ann.review_annotation(
        session, actor=reviewer, annotation_id=c, decision=ReviewDecision.correct, change=ann.BoxChange(x=4)
    )
    session.commit()
    assert (r1.decision, r1.reviewer_id, r1.correction_id) == ("accept", reviewer.user_id, None)
    tomb = session.get(Annotation, r2.correction_id)
    assert tomb is not None and (tomb.geometry_type, tomb.supersedes_id, tomb.annotator_id) == (
        ann.DELETED,
        b,
        reviewer.user_id,
    )
    fixed = session.get(Annotation, r3.correction_id)
    assert fixed is not None and (fixed.x, fixed.supersedes_id) == (4, c)
    live = {x.id for x in ann.list_live(session, version_id=v.id)}
    assert live == {a, fixed.id}  # the rejected label left the set; its tombstone is not a label
    assert ann.count_live(session, version_id=v.id) == 2
    assert len(session.exec(select(Review)).all()) == 3
    with pytest.raises(InvalidInput):
        ann.review_annotation(session, actor=reviewer, annotation_id=a, decision=ReviewDecision.correct)
    with pytest.raises(Conflict):
        ann.review_annotation(session, actor=reviewer, annotation_id=b, decision=ReviewDecision.accept)


def test_model_provenance_comes_from_the_run(session: Session, world: World, ml: Actor) -> None:
    _, v, items = _setup(session, world, ml)
    model = ModelVersion(
        project_id=world.project.id or 0,
        name="yolo",
        version="8n",
        weights_uri="w.pt",
        weights_sha256="aa" * 32,
        created_by=ml.user_id,
    )
    session.add(model)
    session.flush()
    run = AutoLabelRun(
        dataset_version_id=v.id or 0, model_version_id=model.id or 0, threshold=0.4, created_by=ml.user_id
    )
    session.add(run)
    session.flush()
    prov = ann.model_provenance(session, autolabel_run_id=run.id or 0, version=v)
    with pytest.raises(InvalidInput, match="confidence"):
        ann.add_annotations(
            session, actor=ml, version=v, labels=[ann.NewLabel(items["a.jpg"], "cat", 1, 1, 5, 5)], provenance=prov
        )
    [aid] = ann.add_annotations(
        session,
        actor=ml,
        version=v,
        labels=[ann.NewLabel(items["a.jpg"], "cat", 1, 1, 5, 5, confidence=0.7)],
        provenance=prov,
    )
    row = session.get(Annotation, aid)
    assert row is not None and (row.kind, row.weights_sha256, row.threshold, row.autolabel_run_id, row.confidence) == (
        "model",
        "aa" * 32,
        0.4,
        run.id,
        0.7,
    )


def _expected_manifest(lines: list[list[Any]]) -> str:
    encoded = sorted(json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for x in lines)
    return hashlib.sha256(b"labelgate.manifest.v1\x00" + "\n".join(encoded).encode()).hexdigest()


def test_manifest_hash_known_answer(session: Session, world: World, ml: Actor) -> None:
    _, v, items = _setup(session, world, ml)
    assert ann.manifest_hash(session, version_id=v.id) == hashlib.sha256(b"labelgate.manifest.v1\x00").hexdigest()
    imp = ann.Provenance(kind=ProvenanceKind.import_, source_sha256="11" * 32, source_format="coco")
    [a, _] = ann.add_annotations(
        session,
        actor=ml,
        version=v,
        labels=[
            ann.NewLabel(items["b.jpg"], "dog", 1.5, 2, 3, 4),
            ann.NewLabel(items["a.jpg"], "cat", 0, 0, 10, 10, attributes={"occluded": True}),
        ],
        provenance=imp,
    )
    sha = {uri: hashlib.sha256(uri.encode()).hexdigest() for uri in ITEMS}  # quick_version's item hashes
    tail = ["import", None, None, None, None, None, None, "11" * 32, "coco", None]
    expected = _expected_manifest(
        [
            ["b.jpg", sha["b.jpg"], "dog", "box", 1.5, 2.0, 3.0, 4.0, None, None, *tail],
            ["a.jpg", sha["a.jpg"], "cat", "box", 0.0, 0.0, 10.0, 10.0, None, {"occluded": True}, *tail],
        ]
    )
    assert ann.manifest_hash(session, version_id=v.id) == expected
    ann.correct_annotation(session, actor=ml, annotation_id=a, change=ann.BoxChange(x=2))
    assert ann.manifest_hash(session, version_id=v.id) != expected  # the live set changed


def test_inheritance_copies_live_labels_with_origin(session: Session, world: World, ml: Actor) -> None:
    _, v1, items = _setup(session, world, ml)
    a, b = ann.add_annotations(
        session,
        actor=ml,
        version=v1,
        labels=[ann.NewLabel(items["a.jpg"], "cat", 1, 1, 5, 5), ann.NewLabel(items["b.jpg"], "dog", 1, 1, 5, 5)],
        provenance=_human(ml),
    )
    fixed = ann.correct_annotation(session, actor=ml, annotation_id=b, change=ann.BoxChange(w=7))
    _, v2 = quick_version(session, actor=ml, project_id=world.project.id or 0, items=ITEMS, version="v2", parent=v1)
    sealed = ann.inherit_labels(session, parent_id=v1.id or 0, child_id=v2.id or 0, created_by=ml.user_id)
    assert sealed is not None and sealed["count"] == 2
    copies = session.exec(
        select(Annotation).where(Annotation.dataset_version_id == v2.id).order_by(col(Annotation.id))
    ).all()
    assert [(c.origin_id, c.supersedes_id, c.w) for c in copies] == [(a, None, 5), (fixed.id, None, 7)]
    _, v3 = quick_version(session, actor=ml, project_id=world.project.id or 0, items=ITEMS, version="v3", parent=v2)
    ann.inherit_labels(session, parent_id=v2.id or 0, child_id=v3.id or 0, created_by=ml.user_id)
    grand = session.exec(
        select(Annotation.origin_id).where(Annotation.dataset_version_id == v3.id).order_by(col(Annotation.id))
    ).all()
    assert grand == [a, fixed.id]  # origin is the first row of the lineage, not the parent's copy
    assert ann.manifest_hash(session, version_id=v3.id) == ann.manifest_hash(session, version_id=v1.id)
