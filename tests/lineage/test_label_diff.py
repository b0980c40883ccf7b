"""The label diff between two versions on hand-made histories (SQLite and PostgreSQL): inherited labels
unchanged, a box corrected within and beyond the IoU threshold, a class change, an attribute change, a
rejected (tombstoned) label, an added one; polygons, masks, keypoints and tags; two versions that are not
parent and child (matched by geometry); the baseline an approval compares against."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlmodel import Session

from lineage import labels as ann
from lineage.errors import InvalidInput
from lineage.models import (
    Annotation,
    DatasetVersion,
    LabelSchema,
    LabelSchemaVersion,
    ProvenanceKind,
    ReviewDecision,
    VersionState,
)
from lineage.reports.diff import LabelDiff, baseline_version, label_diff
from lineage.reports.diff_match import LabelColumns, match_labels
from lineage.schema_classes import KeypointSpec, LabelClass
from lineage.schemas import classes_hash
from quality_gates.rle import Rle
from tests.factories import World, actor_for
from tests.lineage.conftest import items_of, quick_version

ITEMS = {"a.jpg": (100, 80), "b.jpg": (100, 80), "c.jpg": (50, 50)}
SQUARE = [5.0, 5.0, 25.0, 5.0, 25.0, 25.0, 5.0, 25.0]
MOVED_SQUARE = [20.0, 5.0, 40.0, 5.0, 40.0, 25.0, 20.0, 25.0]
CLASSES = [
    LabelClass(name="car"),
    LabelClass(name="truck"),
    LabelClass(name="road", geometry="polygon"),
    LabelClass(name="blob", geometry="mask"),
    LabelClass(
        name="person",
        geometry="keypoints",
        keypoints=KeypointSpec(names=("head", "foot"), skeleton=((0, 1),), sigmas=(0.05, 0.08)),
    ),
    LabelClass(name="night", geometry="tag"),
]


def _schema(session: Session, world: World, user_id: int) -> int:
    schema = LabelSchema(project_id=world.project.id or 0, name="street")
    session.add(schema)
    session.flush()
    sv = LabelSchemaVersion(
        schema_id=schema.id or 0,
        version=1,
        classes=[c.model_dump() for c in CLASSES],
        content_hash=classes_hash(CLASSES),
        created_by=user_id,
    )
    session.add(sv)
    session.flush()
    return sv.id or 0


def _human(user_id: int) -> ann.Provenance:
    return ann.Provenance(kind=ProvenanceKind.human, annotator_id=user_id)


def _blob() -> dict[str, Any]:
    bitmap = np.zeros((50, 50), dtype=np.uint8)
    bitmap[30:40, 30:45] = 1
    return {"rle": Rle.from_mask(bitmap).to_coco()}


class History:
    """v1 (by the annotator), v2 its child (corrected by the ML engineer, one label rejected by the
    reviewer, one imported), and the ids of v1's labels by name."""

    def __init__(self, session: Session, world: World) -> None:
        self.session = session
        annotator = actor_for(world.users["annotator"])
        self.ml = actor_for(world.users["ml_engineer"])
        reviewer = actor_for(world.users["reviewer"])
        pid = world.project.id or 0
        sv = _schema(session, world, self.ml.user_id)
        _, self.v1 = quick_version(session, actor=self.ml, project_id=pid, items=ITEMS, dataset="street",
                                   schema_version_id=sv)  # fmt: skip
        it = items_of(session, self.v1)
        L = ann.NewLabel
        named = {
            "same": L(it["a.jpg"], "car", 10, 10, 20, 20),
            "nudged": L(it["a.jpg"], "car", 50, 10, 20, 20),
            "shifted": L(it["a.jpg"], "car", 10, 40, 20, 20),
            "reclassed": L(it["b.jpg"], "car", 10, 10, 20, 20),
            "flagged": L(it["b.jpg"], "car", 50, 50, 20, 20, attributes={"occluded": False, "note": "x"}),
            "rejected": L(it["b.jpg"], "truck", 70, 10, 10, 10),
            "road": L(it["c.jpg"], "road", 5, 5, 20, 20, geometry_type="polygon", geometry={"polygons": [SQUARE]}),
            "blob": L(it["c.jpg"], "blob", 30, 30, 15, 10, geometry_type="mask", geometry=_blob()),
            "person": L(it["c.jpg"], "person", 10, 10, 20, 20, geometry_type="keypoints",
                        geometry={"keypoints": [[15, 15, 2], [20, 25, 2]]}),
            "night": L(it["c.jpg"], "night", geometry_type="tag"),
        }  # fmt: skip
        ids = ann.add_annotations(
            session, actor=annotator, version=self.v1, labels=list(named.values()), provenance=_human(annotator.user_id)
        )
        self.v1_ids = dict(zip(named, ids, strict=True))
        _, self.v2 = quick_version(session, actor=self.ml, project_id=pid, items=ITEMS, dataset="street", version="v2",
                                   parent=self.v1, schema_version_id=sv)  # fmt: skip
        ann.inherit_labels(session, parent_id=self.v1.id or 0, child_id=self.v2.id or 0, created_by=self.ml.user_id)
        self.copy = {
            name: session.execute(ann.live_labels(self.v2.id or 0).where(Annotation.origin_id == i)).scalar_one().id
            for name, i in self.v1_ids.items()
        }
        fix = {
            "nudged": ann.BoxChange(w=21),
            "shifted": ann.BoxChange(x=20),
            "reclassed": ann.BoxChange(category="truck"),
            "flagged": ann.BoxChange(attributes={"occluded": True, "note": "x"}),
            "road": ann.BoxChange(geometry={"polygons": [MOVED_SQUARE]}),
            "person": ann.BoxChange(geometry={"keypoints": [[15.5, 15, 2], [20, 25, 2]]}, x=10, y=10, w=20, h=20),
        }
        self.v2_ids = dict(self.copy)
        for name, change in fix.items():
            self.v2_ids[name] = ann.correct_annotation(
                session, actor=self.ml, annotation_id=self.copy[name], change=change
            ).id
        ann.review_annotation(
            session, actor=reviewer, annotation_id=self.copy["rejected"], decision=ReviewDecision.reject
        )
        it2 = items_of(session, self.v2)
        (self.added,) = ann.add_annotations(
            session, actor=self.ml, version=self.v2, labels=[L(it2["a.jpg"], "car", 80, 60, 10, 10)],
            provenance=ann.Provenance(kind=ProvenanceKind.import_, source_sha256="ab" * 32, source_format="coco"),
        )  # fmt: skip
        session.flush()

    def diff(self, old: DatasetVersion | None = None, new: DatasetVersion | None = None, **kw: Any) -> LabelDiff:
        return label_diff(self.session, dataset="street", old=old or self.v1, new=new or self.v2, **kw)


@pytest.fixture
def history(session: Session, world: World) -> History:
    return History(session, world)


def test_parent_to_child_counts_every_kind_of_change(history: History) -> None:
    d = history.diff()
    t = d.totals
    assert (t.before, t.after, t.unchanged, t.changed, t.added, t.removed) == (10, 10, 5, 4, 1, 1)
    assert (t.moved, t.by_lineage, t.by_geometry, t.items_changed) == (2, 9, 0, 3)
    assert d.changes_total == 6
    by_class = {c.name: (c.before, c.after, c.unchanged, c.changed, c.added, c.removed) for c in d.classes}
    assert by_class["car"] == (5, 5, 2, 2, 1, 0)
    assert by_class["truck"] == (1, 1, 0, 1, 0, 1)
    assert by_class["road"] == (1, 1, 0, 1, 0, 0)
    assert by_class["blob"] == by_class["person"] == by_class["night"] == (1, 1, 1, 0, 0, 0)
    assert d.class_changes == [{"from": "car", "to": "truck", "count": 1}]
    assert [(i.uri, i.added, i.removed, i.changed) for i in d.items] == [
        ("b.jpg", 0, 1, 2),
        ("a.jpg", 1, 0, 1),
        ("c.jpg", 0, 0, 1),
    ]


def test_each_change_names_both_sides_and_what_changed(history: History) -> None:
    d = history.diff()
    ids, new = history.v1_ids, history.v2_ids
    got = [(c.change, c.uri, c.from_id, c.to_id, c.fields, c.attributes) for c in d.changes]
    assert got == [
        ("changed", "a.jpg", ids["shifted"], new["shifted"], ["geometry"], []),
        ("added", "a.jpg", None, history.added, [], []),
        ("removed", "b.jpg", ids["rejected"], None, [], []),
        ("changed", "b.jpg", ids["reclassed"], new["reclassed"], ["class"], []),
        ("changed", "b.jpg", ids["flagged"], new["flagged"], ["attributes"], ["occluded"]),
        ("changed", "c.jpg", ids["road"], new["road"], ["geometry"], []),
    ]
    shifted, road = d.changes[0], d.changes[5]
    assert shifted.iou == pytest.approx(200 / 600, abs=1e-6)  # 10 x 20 px shared of 30 x 20
    assert 0 < (road.iou or 0) < 0.3  # a 20 px square moved 15 px: about 5/35
    assert all(c.matched_by == "lineage" for c in d.changes if c.change == "changed")
    assert d.changes[3].from_class == "car" and d.changes[3].to_class == "truck"


def test_authors_of_added_changed_removed_and_deleted(history: History) -> None:
    d = history.diff()
    rows = {a.author: (a.kind, a.added, a.changed, a.removed, a.deleted) for a in d.authors}
    assert rows == {
        "ml_engineer_user": ("human", 0, 4, 0, 0),
        "annotator_user": ("human", 0, 0, 1, 0),
        "reviewer_user": ("human", 0, 0, 0, 1),
        "coco:abababababab": ("import", 1, 0, 0, 0),
    }
    removed = next(c for c in d.changes if c.change == "removed")
    assert (removed.from_author, removed.removed_by) == ("annotator_user", "reviewer_user")
    changed = next(c for c in d.changes if c.change == "changed")
    assert (changed.author, changed.from_author) == ("ml_engineer_user", "annotator_user")


def test_the_threshold_decides_what_counts_as_a_geometry_change(history: History) -> None:
    loose = history.diff(iou=0.3)  # the shifted box keeps IoU 1/3, the moved square falls below
    assert loose.totals.changed == 3 and loose.totals.moved == 3
    assert [c.uri for c in loose.changes if c.fields == ["geometry"]] == ["c.jpg"]
    with pytest.raises(InvalidInput, match=r"\(0, 1\]"):
        history.diff(iou=0)


def test_a_version_against_itself_and_the_page(history: History) -> None:
    same = history.diff(old=history.v2, new=history.v2)
    assert same.totals.unchanged == 10 and same.changes_total == 0 and same.changes == [] and same.authors == []
    page = history.diff(offset=2, limit=2)
    assert [c.change for c in page.changes] == ["removed", "changed"] and page.changes_total == 6
    assert len(page.items) == 2  # the most changed items first, at most `limit`


def test_reverse_direction_swaps_added_and_removed(history: History) -> None:
    back = history.diff(old=history.v2, new=history.v1)
    assert (back.totals.added, back.totals.removed, back.totals.changed) == (1, 1, 4)
    assert back.class_changes == [{"from": "truck", "to": "car", "count": 1}]


def test_unrelated_versions_match_by_class_and_geometry(session: Session, world: World, history: History) -> None:
    """A fresh version (no parent) with the labels re-made: identical boxes are the same labels, a box of
    another class in the same place is a removal plus an addition, a tool's ``made`` record alone is no
    change, and its author is named with the tool's identity."""
    annotator = actor_for(world.users["annotator"])
    _, v3 = quick_version(session, actor=history.ml, project_id=world.project.id or 0, items=ITEMS,
                          dataset="street", version="v3")  # fmt: skip
    it = items_of(session, v3)
    made = {"tool": "labelstudio", "origin": "project:1", "ref": "annotation:1", "by": "17", "at": "2026-01-01"}
    labels = [
        ann.NewLabel(it["a.jpg"], "car", 10, 10, 20, 20, attributes={"made": made}),  # same as v1 "same"
        ann.NewLabel(it["a.jpg"], "car", 51, 10, 20, 20),  # v1 "nudged", moved 1 px
        ann.NewLabel(it["b.jpg"], "car", 50, 50, 20, 20, attributes={"occluded": True, "note": "x"}),
        ann.NewLabel(it["b.jpg"], "car", 70, 10, 10, 10),  # v1 had a truck there
    ]
    ids = ann.add_annotations(session, actor=annotator, version=v3, labels=labels, provenance=_human(annotator.user_id))
    d = history.diff(new=v3, limit=50)
    assert (d.totals.by_lineage, d.totals.by_geometry) == (0, 3)
    assert (d.totals.unchanged, d.totals.changed, d.totals.added, d.totals.removed, d.totals.moved) == (2, 1, 1, 7, 1)
    changed = [c for c in d.changes if c.change == "changed"]
    assert [(c.from_id, c.to_id, c.fields, c.attributes, c.matched_by) for c in changed] == [
        (history.v1_ids["flagged"], ids[2], ["attributes"], ["occluded"], "geometry")
    ]
    assert changed[0].iou == 1.0
    added = [c.to_id for c in d.changes if c.change == "added"]
    assert added == [ids[3]]
    authors = {a.author: a for a in d.authors}
    assert authors["annotator_user"].changed == 1 and authors["annotator_user"].removed == 7
    assert "annotator_user (labelstudio:17)" not in authors  # its label was unchanged: not counted


def test_tool_author_is_named_on_added_labels(session: Session, world: World, history: History) -> None:
    annotator = actor_for(world.users["annotator"])
    it = items_of(session, history.v2)
    made = {"tool": "cvat", "origin": "task:3", "ref": "job:1:frame:0", "by": "alice"}
    ann.add_annotations(session, actor=annotator, version=history.v2,
                        labels=[ann.NewLabel(it["c.jpg"], "car", 1, 1, 4, 4, attributes={"made": made})],
                        provenance=_human(annotator.user_id))  # fmt: skip
    d = history.diff()
    tool = next(a for a in d.authors if a.tool_author == "cvat:alice")
    assert (tool.author, tool.user, tool.added) == ("annotator_user (cvat:alice)", "annotator_user", 1)


def test_baseline_is_the_last_release_else_the_parent(session: Session, history: History) -> None:
    assert baseline_version(session, version=history.v2) == (history.v1, "parent")
    assert baseline_version(session, version=history.v1) is None
    history.v1.state = VersionState.released
    session.add(history.v1)
    session.flush()
    assert baseline_version(session, version=history.v2) == (history.v1, "release")


def _columns(ids: list[int], roots: list[int], boxes: list[list[float]], cats: list[int]) -> LabelColumns:
    n = len(ids)
    return LabelColumns(
        ids=np.array(ids, dtype=np.int64),
        root=np.array(roots, dtype=np.int64),
        item=np.zeros(n, dtype=np.int64),
        category=np.array(cats, dtype=np.int64),
        gtype=np.zeros(n, dtype=np.int64),
        xywh=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        geometry=[None] * n,
        attributes=[None] * n,
    )


def test_pure_matching_empty_and_one_to_one() -> None:
    empty = _columns([], [], [], [])
    p = match_labels(empty, empty)
    assert len(p.old) == len(p.added) == len(p.removed) == 0
    # Two old boxes, three new ones on one item: each new box takes the old one it overlaps most, once.
    old = _columns([1, 2], [1, 2], [[0, 0, 10, 10], [20, 0, 10, 10]], [0, 0])
    new = _columns([7, 8, 9], [7, 8, 9], [[1, 0, 10, 10], [0, 1, 10, 10], [21, 0, 10, 10]], [0, 0, 0])
    p = match_labels(old, new)
    assert sorted(zip(p.old.tolist(), p.new.tolist(), strict=True)) == [(0, 0), (1, 2)]
    assert p.added.tolist() == [1] and p.removed.tolist() == []
    assert not p.changed.any() and p.moved.all()
