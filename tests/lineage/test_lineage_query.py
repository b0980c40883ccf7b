"""Lineage queries: a label's whole chain across corrections and versions; a version's make-up and ancestry."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from lineage import labels as ann
from lineage.context import Actor
from lineage.errors import NotFound
from lineage.models import AutoLabelRun, LabelSchemaVersion, ModelVersion, ProvenanceKind, ReviewDecision
from lineage.provenance import annotation_lineage, version_lineage
from lineage.schemas import LabelClass, classes_hash
from tests.factories import World, actor_for
from tests.lineage.conftest import items_of, quick_schema, quick_version

ITEMS = {"a.jpg": (100, 80), "b.jpg": (50, 50)}


def test_annotation_chain_across_corrections_and_versions(session: Session, world: World, ml: Actor) -> None:
    pid = world.project.id or 0
    sv = quick_schema(session, project_id=pid, name="s", classes=["cat", "dog"], user_id=ml.user_id)
    _, v1 = quick_version(session, actor=ml, project_id=pid, items=ITEMS, schema_version_id=sv.id)
    ids = items_of(session, v1)
    imp = ann.Provenance(kind=ProvenanceKind.import_, source_sha256="ab" * 32, source_format="coco")
    [orig] = ann.add_annotations(
        session, actor=ml, version=v1, labels=[ann.NewLabel(ids["a.jpg"], "cat", 1, 1, 5, 5)], provenance=imp
    )
    annotator = actor_for(world.users["annotator"])
    fix = ann.correct_annotation(session, actor=annotator, annotation_id=orig, change=ann.BoxChange(w=6))
    _, v2 = quick_version(
        session, actor=ml, project_id=pid, items=ITEMS, version="v2", parent=v1, schema_version_id=sv.id
    )
    ann.inherit_labels(session, parent_id=v1.id or 0, child_id=v2.id or 0, created_by=ml.user_id)
    copy = ann.list_live(session, version_id=v2.id or 0)[0]
    reviewer = actor_for(world.users["reviewer"])
    review = ann.review_annotation(
        session,
        actor=reviewer,
        annotation_id=copy.id or 0,
        decision=ReviewDecision.correct,
        change=ann.BoxChange(category="dog"),
    )
    session.commit()

    got = annotation_lineage(session, annotation_id=copy.id or 0)
    assert [s.id for s in got.history] == [orig, fix.id, copy.id]
    assert [s.kind for s in got.history] == ["import", "human", "human"]
    assert got.history[0].provenance["source_sha256"] == "ab" * 32
    assert got.history[1].provenance["annotator"] == "annotator_user"
    assert [s.id for s in got.superseded_by] == [review.correction_id]
    assert (
        got.history[-1].reviews[0]["decision"] == "correct"
        and got.history[-1].reviews[0]["reviewer"] == "reviewer_user"
    )
    assert got.live is False and got.schema is not None and got.schema.name == "s"
    assert [(h.version, h.annotation_id, h.live) for h in got.versions] == [
        ("pets@v1", fix.id, True),
        ("pets@v2", copy.id, False),
    ]

    first = annotation_lineage(session, annotation_id=fix.id or 0)
    assert [h.version for h in first.versions] == ["pets@v1", "pets@v2"]  # every version containing it
    with pytest.raises(NotFound):
        annotation_lineage(session, annotation_id=424242)


def test_version_lineage_shares_ancestry_and_schema_change(session: Session, world: World, ml: Actor) -> None:
    pid = world.project.id or 0
    sv1 = quick_schema(session, project_id=pid, name="s", classes=["cat", "dog"], user_id=ml.user_id)
    new_classes = [LabelClass(name="cat"), LabelClass(name="hound")]
    sv2 = LabelSchemaVersion(
        schema_id=sv1.schema_id,
        version=2,
        parent_id=sv1.id,
        classes=[c.model_dump() for c in new_classes],
        content_hash=classes_hash(new_classes),
        created_by=ml.user_id,
    )
    session.add(sv2)
    session.flush()
    _, v1 = quick_version(session, actor=ml, project_id=pid, items=ITEMS, schema_version_id=sv1.id)
    _, v2 = quick_version(
        session, actor=ml, project_id=pid, items=ITEMS, version="v2", parent=v1, schema_version_id=sv2.id
    )
    ids = items_of(session, v2)
    model = ModelVersion(
        project_id=pid, name="yolo", version="8n", weights_uri="w", weights_sha256="cc" * 32, created_by=ml.user_id
    )
    session.add(model)
    session.flush()
    runs = []
    for thr in (0.3, 0.5):
        run = AutoLabelRun(
            dataset_version_id=v2.id or 0, model_version_id=model.id or 0, threshold=thr, created_by=ml.user_id
        )
        session.add(run)
        session.flush()
        runs.append(run)
    box = ann.NewLabel(ids["a.jpg"], "cat", 1, 1, 5, 5, confidence=0.9)
    ann.add_annotations(
        session,
        actor=ml,
        version=v2,
        labels=[box] * 3,
        provenance=ann.model_provenance(session, autolabel_run_id=runs[0].id or 0, version=v2),
    )
    ann.add_annotations(
        session,
        actor=ml,
        version=v2,
        labels=[box],
        provenance=ann.model_provenance(session, autolabel_run_id=runs[1].id or 0, version=v2),
    )
    ann.add_annotations(
        session,
        actor=ml,
        version=v2,
        labels=[box] * 2,
        provenance=ann.Provenance(kind=ProvenanceKind.import_, source_sha256="dd" * 32, source_format="voc"),
    )
    ann.add_annotations(
        session,
        actor=ml,
        version=v2,
        labels=[box] * 2,
        provenance=ann.Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id),
    )
    session.commit()

    got = version_lineage(session, version_id=v2.id or 0)
    assert got.labels == 8
    assert {k: v["count"] for k, v in got.by_kind.items()} == {"human": 2, "import": 2, "model": 4}
    assert got.by_kind["model"]["share"] == 0.5
    assert [(m["model"], m["threshold"], m["count"]) for m in got.by_model] == [
        ("yolo:8n", 0.3, 3),
        ("yolo:8n", 0.5, 1),
    ]
    assert [(i["format"], i["count"]) for i in got.by_import] == [("voc", 2)]
    assert [(a["annotator"], a["count"]) for a in got.by_annotator] == [("ml_engineer_user", 2)]
    assert [n.version for n in got.ancestry] == ["pets@v2", "pets@v1"]
    assert got.ancestry[0].schema_changed is True and got.ancestry[1].schema_changed is False
    assert got.ancestry[0].schema_diff is not None and got.ancestry[0].schema_diff["renamed"] == [
        {"from": "dog", "to": "hound"}
    ]
    assert got.manifest_hash == ann.manifest_hash(session, version_id=v2.id or 0) and got.manifest_pinned is None
    assert set(got.dvc) == {"git_revision", "dvc_hash", "data_path", "items", "git_tag"}


def test_empty_version_lineage(session: Session, world: World, ml: Actor) -> None:
    _, v = quick_version(session, actor=ml, project_id=world.project.id or 0, items={})
    got = version_lineage(session, version_id=v.id or 0)
    assert (got.labels, got.by_kind, got.by_model, len(got.ancestry)) == (0, {}, [], 1)
