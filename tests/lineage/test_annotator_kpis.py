"""Annotator KPIs: hand-computed medians, rework and latency on plain rows; on the record (both databases)
through ``record_work``: speeds from lead times, golden error equal to the gates', alpha equal to the
``krippendorff`` package's on hand-written reliability data, None with a reason when there are no lead times."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import krippendorff
import numpy as np
import pytest
from sqlmodel import Session, col, select

from lineage import identity
from lineage.formats.work import Author, ToolLabel, WorkBatch, WorkUnit
from lineage.gates.golden import register_golden_set
from lineage.gates.inputs import build_inputs
from lineage.labels.annotations import BoxChange, NewLabel, Provenance, add_annotations, correct_annotation
from lineage.labels.reviews import review_annotation
from lineage.labels.work import record_work
from lineage.models import Annotation, Dataset, DatasetVersion, GoldenSet, ProvenanceKind, Review, ReviewDecision, Role
from lineage.reports.annotator_report import annotator_report
from lineage.reports.annotators import LabelRow, ReviewRow, annotator_kpis
from quality_gates.inputs import Measurements
from quality_gates.intervals import wilson_interval
from tests.factories import World, actor_for, make_user
from tests.lineage.conftest import items_of, quick_schema, quick_version

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def made(ref: str, lead: float | None, labels: int, *, at: datetime | None = None, updated: str = "u1") -> dict:
    out: dict = {"tool": "labelstudio", "origin": "project:1", "ref": ref, "labels": labels, "updated": updated}
    if lead is not None:
        out["lead_time"] = lead
    if at is not None:
        out["at"] = at.isoformat()
    return out


def row(i: int, item: int, who: int | None, m: dict | None = None, **kw: object) -> LabelRow:
    base: dict = {"kind": "human", "supersedes_id": None, "created_at": T0, "geometry_type": "box", "made": m}
    base.update(kw)
    return LabelRow(id=i, item_id=item, annotator_id=who, **base)  # type: ignore[arg-type]


def test_no_rows_no_annotators() -> None:
    assert annotator_kpis([], [], users={}) == []


def test_speed_medians_by_hand_and_each_unit_once() -> None:
    rows = [
        # unit a1 on item 1: 3 labels, 30 s; later updated in the tool to 36 s (same unit, counted once)
        row(1, 1, 7, made("a1", 30, 3)),
        row(2, 1, 7, made("a1", 30, 3)),
        row(3, 1, 7, made("a1", 30, 3)),
        row(4, 1, 7, made("a1", 36, 3, updated="u2"), supersedes_id=1),
        row(5, 1, 7, made("a1", 36, 3, updated="u2"), supersedes_id=2),
        row(6, 1, 7, made("a1", 36, 3, updated="u2"), supersedes_id=3),
        # units a2 (1 label, 10 s) and a3 (2 labels, 40 s) on item 2
        row(7, 2, 7, made("a2", 10, 1)),
        row(8, 2, 7, made("a3", 40, 2)),
        row(9, 2, 7, made("a3", 40, 2)),
    ]
    [k] = annotator_kpis(rows, [], users={7: "alice"})
    # per image: item 1 → 36, item 2 → 10 + 40 = 50; median 43
    assert k.seconds_per_image == pytest.approx(43.0)
    # per object: 36/3 = 12, 10/1 = 10, 40/2 = 20 → median 12
    assert k.seconds_per_object == pytest.approx(12.0)
    # 6 labels in 86 s
    assert k.labels_per_hour == pytest.approx(6 / (86 / 3600))
    assert (k.units, k.timed_labels, k.labels, k.images) == (3, 6, 6, 2)
    assert k.rework_rate == 0.0 and k.superseded == 0  # their own update is no rework


def test_no_lead_times_is_none_with_the_reason_never_zero() -> None:
    rows = [row(1, 1, 8, None, source_format="coco"), row(2, 2, 8, None, source_format="coco")]
    [k] = annotator_kpis(rows, [], users={8: "bob"})
    for name in ("seconds_per_image", "seconds_per_object", "labels_per_hour"):
        assert getattr(k, name) is None
        assert "no lead times" in k.reasons[name] and "coco" in k.reasons[name]
    assert k.labels == 2 and k.review_latency_s is None and "reviewed" in k.reasons["review_latency_s"]


def test_rework_and_review_latency_by_hand() -> None:
    rows = [
        row(1, 1, 7, made("a1", 10, 1, at=T0)),  # corrected by a reviewer (row 11)
        row(2, 1, 7, made("a2", 10, 1, at=T0)),  # rejected (tombstone 12)
        row(3, 2, 7, None),  # accepted; no made.at: its created_at counts
        row(4, 2, 7, None),  # superseded by bob (row 13), no review
        row(5, 3, 7, None),  # untouched
        row(11, 1, 9, None, supersedes_id=1),
        row(12, 1, 9, None, supersedes_id=2, geometry_type="deleted"),
        row(13, 2, 8, None, supersedes_id=4),
    ]
    reviews = [
        ReviewRow(1, "correct", T0 + timedelta(hours=2), correction_id=11),
        ReviewRow(2, "reject", T0 + timedelta(hours=4), correction_id=12),
        ReviewRow(3, "accept", T0 + timedelta(hours=1)),
        ReviewRow(3, "accept", T0 + timedelta(hours=9)),  # a second look: the first decision counts
    ]
    out = {k.annotator: k for k in annotator_kpis(rows, reviews, users={7: "alice", 8: "bob", 9: "rex"})}
    alice = out["alice"]
    assert (alice.labels, alice.corrected, alice.rejected, alice.superseded, alice.reworked) == (5, 1, 1, 1, 3)
    assert alice.rework_rate == pytest.approx(3 / 5)
    assert alice.reviewed == 3 and alice.review_latency_s == pytest.approx(2 * 3600)  # median of 2h, 4h, 1h
    # a reviewer's correction is their review, and bob's row redoing alice's label is her rework: neither is
    # their own labelling work
    assert set(out) == {"alice"}


# -- On the record ---------------------------------------------------------------------------------------------

ITEMS = {f"img{i}.png": (100, 100) for i in range(1, 5)}
LS = "labelstudio"


@dataclass
class Scenario:
    project_id: int
    v1: DatasetVersion
    v2: DatasetVersion
    golden: GoldenSet
    users: dict[str, int]


def unit(ref: str, uri: str, author: str, lead: float, labels: list[ToolLabel], *, updated: str = "") -> WorkUnit:
    return WorkUnit(
        ref=ref,
        task=uri,
        uri=uri,
        kind="human",
        author=author,
        created_at="2026-01-01T10:00:00+00:00",
        updated_at=updated or "2026-01-01T10:05:00+00:00",
        lead_time=lead,
        labels=labels,
    )


def box(cat: str, x: float, y: float, w: float, h: float, result: str) -> ToolLabel:
    return ToolLabel(category=cat, x=x, y=y, w=w, h=h, result=result)


def batch(units: list[WorkUnit], tag: str) -> WorkBatch:
    authors = {k: Author(key=k, username=k) for k in ("alice", "bob")}
    sha = hashlib.sha256(tag.encode()).hexdigest()
    return WorkBatch(tool=LS, origin="project:1", source=f"{tag}.json", source_sha256=sha, units=units, authors=authors)


def build_scenario(session: Session, world: World) -> Scenario:
    """v1: alice and bob from Label Studio on img1/img2, carol from a COCO file on img1; golden set on
    img1 (cat + dog) and img2 (no object). v2: alice on img3 reviewed (correct, reject, accept), bob on img4
    corrected by another annotator, and bob's update of a unit."""
    admin = actor_for(world.admin)
    ml = actor_for(world.users["ml_engineer"])
    users = {}
    for name in ("alice", "bob", "carol"):
        u = make_user(session, name)
        identity.add_member(session, actor=admin, project=world.project, user=u, role=Role.annotator)
        users[name] = u.id or 0
    pid = world.project.id or 0
    sv = quick_schema(session, project_id=pid, name="pets", classes=["cat", "dog"], user_id=ml.user_id)
    _, v1 = quick_version(session, actor=ml, project_id=pid, items=ITEMS, schema_version_id=sv.id)
    _, gv = quick_version(
        session, actor=ml, project_id=pid, items={"img1.png": (100, 100), "img2.png": (100, 100)},
        dataset="gold", golden=True, schema_version_id=sv.id,
    )  # fmt: skip
    gi = items_of(session, gv)
    truth = Provenance(kind=ProvenanceKind.import_, source_sha256="0" * 64, source_format="coco")
    add_annotations(session, actor=ml, version=gv, provenance=truth, labels=[
        NewLabel(gi["img1.png"], "cat", 10, 10, 20, 20), NewLabel(gi["img1.png"], "dog", 50, 50, 20, 20)])  # fmt: skip
    golden = register_golden_set(session, actor=ml, project_id=pid, name="gold", version=gv)
    record_work(session, actor=ml, version=v1, batch=batch([
        unit("annotation:1", "img1.png", "alice", 40,
             [box("cat", 10, 10, 20, 20, "r1"), box("dog", 50, 50, 20, 20, "r2")]),
        unit("annotation:2", "img2.png", "alice", 20, [box("cat", 5, 5, 10, 10, "r3")]),
        unit("annotation:4", "img1.png", "bob", 60,
             [box("cat", 11, 11, 20, 20, "r4"), box("cat", 50, 50, 20, 20, "r5")]),
        unit("annotation:5", "img2.png", "bob", 30, [box("cat", 30, 30, 10, 10, "r6")]),
    ], "v1"))  # fmt: skip
    i1 = items_of(session, v1)
    coco = Provenance(
        kind=ProvenanceKind.human, annotator_id=users["carol"], source_sha256="1" * 64, source_format="coco"
    )
    add_annotations(
        session, actor=ml, version=v1, provenance=coco, labels=[NewLabel(i1["img1.png"], "cat", 10, 10, 20, 20)]
    )

    _, v2 = quick_version(session, actor=ml, project_id=pid, items=ITEMS, version="v2", schema_version_id=sv.id)
    record_work(session, actor=ml, version=v2, batch=batch([
        unit("annotation:3", "img3.png", "alice", 90, [box("cat", 1, 1, 10, 10, "a"), box("dog", 20, 20, 10, 10, "b"),
                                                      box("cat", 40, 40, 10, 10, "c")]),
        unit("annotation:5", "img2.png", "bob", 30, [box("cat", 30, 30, 10, 10, "r6")]),
        unit("annotation:6", "img4.png", "bob", 15, [box("dog", 10, 10, 10, 10, "d")]),
    ], "v2a"))  # fmt: skip
    record_work(session, actor=ml, version=v2, batch=batch([
        unit("annotation:5", "img2.png", "bob", 35, [box("cat", 31, 31, 10, 10, "r6")],
             updated="2026-01-02T09:00:00+00:00"),
    ], "v2b"))  # fmt: skip
    live = {
        (a.item_id, a.x): a.id or 0
        for a in session.exec(select(Annotation).where(Annotation.dataset_version_id == v2.id))
    }
    i2 = items_of(session, v2)
    rex = actor_for(world.users["reviewer"])
    review_annotation(session, actor=rex, annotation_id=live[(i2["img3.png"], 1)], decision=ReviewDecision.correct,
                      change=BoxChange(x=2))  # fmt: skip
    review_annotation(session, actor=rex, annotation_id=live[(i2["img3.png"], 20)], decision=ReviewDecision.reject)
    review_annotation(session, actor=rex, annotation_id=live[(i2["img3.png"], 40)], decision=ReviewDecision.accept)
    other = actor_for(world.users["annotator"])
    correct_annotation(session, actor=other, annotation_id=live[(i2["img4.png"], 10)], change=BoxChange(category="cat"))
    session.commit()
    return Scenario(pid, v1, v2, golden, users)


@pytest.fixture
def scenario(session: Session, world: World) -> Scenario:
    return build_scenario(session, world)


def test_speeds_golden_error_and_none_without_lead_times(session: Session, scenario: Scenario) -> None:
    dataset = session.get(Dataset, scenario.v1.dataset_id)
    assert dataset is not None
    report = annotator_report(session, dataset=dataset, version=scenario.v1, golden=scenario.golden, trend=False)
    out = {k.annotator: k for k in report.annotators}
    assert set(out) == {"alice", "bob", "carol"}
    alice, bob, carol = out["alice"], out["bob"], out["carol"]
    assert alice.seconds_per_image == pytest.approx(30.0)  # 40, 20
    assert alice.seconds_per_object == pytest.approx(20.0)  # 40/2, 20/1
    assert alice.labels_per_hour == pytest.approx(3 / (60 / 3600))
    assert bob.seconds_per_image == pytest.approx(45.0) and bob.seconds_per_object == pytest.approx(30.0)
    assert carol.seconds_per_image is None and "coco" in carol.reasons["seconds_per_image"]
    # golden error by hand: alice TP 2, FP 1 (img2 has no golden object); bob TP 1, FP 2, FN 1; carol TP 1, FN 1
    assert alice.golden_error == pytest.approx(1 / 5) and alice.golden_trials == 5
    assert bob.golden_error == pytest.approx(3 / 5) and carol.golden_error == pytest.approx(1 / 3)
    assert (alice.golden_low, alice.golden_high) == pytest.approx(wilson_interval(1, 5, confidence=0.95))
    # ... and equal to what the gates measure on the same record
    gates = Measurements(build_inputs(session, scenario.v1, golden=scenario.golden)).golden(
        iou=0.5, model_threshold=0.0, gate="test"
    )
    for name, k in out.items():
        assert k.golden_error == pytest.approx(gates.per_source[name].error)
        assert (k.golden_low, k.golden_high) == pytest.approx(gates.per_source[name].wilson)
    assert "golden_set_items" not in report.to_dict() and "img1" not in str(report.to_dict())


def test_alpha_equals_the_krippendorff_package_on_hand_written_units(session: Session, scenario: Scenario) -> None:
    dataset = session.get(Dataset, scenario.v1.dataset_id)
    assert dataset is not None
    out = {k.annotator: k for k in annotator_report(session, dataset=dataset, version=scenario.v1, golden=None,
                                                    trend=False).annotators}  # fmt: skip
    cat, dog, none = 0, 1, 2
    # alice vs bob: img1 cat/cat, dog/cat; img2 cat/none and none/cat. alice vs carol: img1 cat/cat, dog/none
    alice_vs = [[cat, dog, cat, none, cat, dog], [cat, cat, none, cat, cat, none]]
    bob_vs = [[cat, cat, none, cat, cat, cat], [cat, dog, cat, none, cat, none]]  # vs alice, then vs carol (img1)
    carol_vs = [[cat, none, cat, none], [cat, dog, cat, cat]]  # vs alice (img1), vs bob (img1)
    for name, data in (("alice", alice_vs), ("bob", bob_vs), ("carol", carol_vs)):
        expected = krippendorff.alpha(reliability_data=np.array(data, dtype=float), level_of_measurement="nominal")
        assert out[name].alpha == pytest.approx(expected), name
        assert out[name].alpha_units == len(data[0])
    assert out["alice"].golden_error is None and "golden set" in out["alice"].reasons["golden_error"]


def test_rework_latency_and_trend_on_the_record(session: Session, scenario: Scenario) -> None:
    dataset = session.get(Dataset, scenario.v2.dataset_id)
    assert dataset is not None
    report = annotator_report(session, dataset=dataset, version=scenario.v2, golden=scenario.golden)
    assert [t.version for t in report.trend] == ["v1", "v2"]
    out = {k.annotator: k for k in report.annotators}
    alice, bob = out["alice"], out["bob"]
    assert (alice.labels, alice.corrected, alice.rejected, alice.superseded) == (3, 1, 1, 0)
    assert alice.rework_rate == pytest.approx(2 / 3)
    reviews = list(session.exec(select(Review).order_by(col(Review.id))))
    made_at = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    expected = float(np.median([(r.created_at - made_at).total_seconds() for r in reviews]))
    assert alice.review_latency_s == pytest.approx(expected)
    # bob: img2 (updated by himself: one label) and img4 (corrected by another annotator)
    assert (bob.labels, bob.superseded, bob.rework_rate) == (2, 1, 0.5)
    assert bob.seconds_per_image == pytest.approx(25.0)  # img2: 35 (latest), img4: 15
    assert bob.labels_per_hour == pytest.approx(2 / (50 / 3600))
    assert "annotator_user" not in out and "reviewer_user" not in out
    only = annotator_report(session, dataset=dataset, version=scenario.v2, golden=scenario.golden, only="bob")
    assert [a.annotator for a in only.annotators] == ["bob"]
    assert all(a.annotator == "bob" for t in only.trend for a in t.annotators)
