"""A Label Studio export end to end: parsed, recorded with its real authors and times, and its ground truth
seeding a golden set (``lineage.gates.golden_seed``). Real workspace (git + DVC), SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlmodel import Session, col, select

from lineage import datasets, schemas
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput
from lineage.formats.exportdata import schema_info
from lineage.formats.labelstudio import parse_labelstudio
from lineage.formats.transfer import item_index
from lineage.formats.work import made_of
from lineage.gates.golden_seed import seed_golden
from lineage.labels.labelset import live_labels
from lineage.labels.work import record_work
from lineage.models import Annotation, Dataset, DatasetVersion, GoldenSet, Item, ProvenanceKind
from lineage.schemas import LabelClass
from service.settings import Settings
from tests.factories import World
from tests.lineage.conftest import make_images

SIZES = {"img/a.png": (200, 100), "img/b.png": (200, 100), "img/c.png": (200, 100)}


@pytest.fixture
def street(session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path) -> DatasetVersion:
    for role, email in (("annotator", "ann@example.com"), ("reviewer", "rev@example.com")):
        world.users[role].email = email
        session.add(world.users[role])
    pid = world.project.id or 0
    sv = schemas.create_schema(
        session,
        actor=ml,
        project_id=pid,
        name="street",
        classes=[
            LabelClass(name="car"),
            LabelClass(name="road", geometry="polygon"),
            LabelClass(name="day", geometry="tag"),
        ],
        repo_dir=workspace.repo_dir,
    )
    ds = datasets.create_dataset(session, actor=ml, project_id=pid, name="street")
    v = datasets.create_version(
        session,
        actor=ml,
        dataset=ds,
        version="v1",
        repo_dir=workspace.repo_dir,
        source_dir=make_images(tmp_path / "src", SIZES),
        schema_version_id=sv.id,
    )
    session.commit()
    return v


def _rect(rid: str, x: float, y: float, label: str = "car") -> dict[str, Any]:
    return {
        "id": rid,
        "type": "rectanglelabels",
        "original_width": 200,
        "original_height": 100,
        "value": {"x": x, "y": y, "width": 10, "height": 20, "rotation": 0, "rectanglelabels": [label]},
    }


def _export() -> bytes:
    by_ann = {"id": 5, "email": "ann@example.com", "first_name": "Ann", "last_name": "A"}
    tasks = [
        {
            "id": 1,
            "project": 9,
            "data": {"image": "/data/upload/9/0badc0de-a.png"},
            "annotations": [
                {
                    "id": 11,
                    "completed_by": by_ann,
                    "ground_truth": True,
                    "lead_time": 30.0,
                    "created_at": "2026-11-30T10:00:00.000001Z",
                    "updated_at": "2026-11-30T10:01:00.000001Z",
                    "result": [
                        _rect("r1", 10, 10),
                        {
                            "id": "p1",
                            "type": "polygonlabels",
                            "original_width": 200,
                            "original_height": 100,
                            "value": {"points": [[50, 50], [60, 50], [55, 70]], "polygonlabels": ["road"]},
                        },
                        {"id": "c1", "type": "choices", "value": {"choices": ["day"]}},
                    ],
                },
                {
                    "id": 12,
                    "completed_by": 6,
                    "created_username": " rev@example.com, 6",
                    "lead_time": 12.0,
                    "created_at": "2026-11-30T11:00:00Z",
                    "updated_at": "2026-11-30T11:00:00Z",
                    "result": [_rect("r1", 12, 10)],
                },
            ],
            "predictions": [
                {"id": 3, "model_version": "yolo-v3", "score": 0.5, "result": [_rect("q", 11, 11)]},
            ],
        },
        {
            "id": 2,
            "project": 9,
            "data": {"image": "s3://bucket/img/b.png"},
            "annotations": [
                {
                    "id": 13,
                    "completed_by": by_ann,
                    "lead_time": 5.0,
                    "created_at": "2026-11-30T12:00:00Z",
                    "updated_at": "2026-11-30T12:00:00Z",
                    "result": [_rect("r9", 50, 50)],
                }
            ],
        },
    ]
    return orjson.dumps(tasks)


def _record(session: Session, ml: Actor, v: DatasetVersion) -> Any:
    ds = session.get(Dataset, v.dataset_id)
    assert ds is not None
    batch = parse_labelstudio(
        _export(), source="export.json", items=item_index(session, ds, v), schema=schema_info(session, v)
    )
    result = record_work(session, actor=ml, version=v, batch=batch)
    session.commit()
    return result


def test_export_recorded_with_authors_times_and_provenance(
    session: Session, world: World, ml: Actor, street: DatasetVersion
) -> None:
    result = _record(session, ml, street)
    assert result.units_added == 4 and result.labels_written == 6
    assert result.authors == {"5": world.users["annotator"].username, "6": world.users["reviewer"].username}
    labels = list(session.exec(live_labels(street.id or 0).order_by(col(Annotation.id))))
    by_ref: dict[str, list[Annotation]] = {}
    for a in labels:
        made = made_of(a.attributes)
        assert made is not None and made["tool"] == "labelstudio" and made["origin"] == "project:9"
        by_ref.setdefault(made["ref"], []).append(a)
    gt = by_ref["annotation:11"]
    assert sorted(a.geometry_type for a in gt) == ["box", "polygon", "tag"]
    box = next(a for a in gt if a.geometry_type == "box")
    assert (box.x, box.y, box.w, box.h) == (20.0, 10.0, 20.0, 20.0)
    made = made_of(box.attributes)
    assert made is not None
    assert made["ground_truth"] is True and made["lead_time"] == 30.0 and made["by"] == "5"
    assert made["at"] == "2026-11-30T10:00:00.000001+00:00" and made["updated"] == "2026-11-30T10:01:00.000001+00:00"
    assert box.kind == ProvenanceKind.human and box.annotator_id == world.users["annotator"].id
    assert box.source_format == "labelstudio"
    (rev,) = by_ref["annotation:12"]
    assert rev.annotator_id == world.users["reviewer"].id
    (pred,) = by_ref["prediction:3"]
    assert pred.kind == ProvenanceKind.import_ and made_of(pred.attributes)["model_version"] == "yolo-v3"  # type: ignore[index]
    # the same export again writes nothing
    again = _record(session, ml, street)
    assert again.labels_written == 0 and again.units_skipped == 4


def test_ground_truth_seeds_a_golden_set(
    session: Session, world: World, ml: Actor, street: DatasetVersion, workspace: Settings
) -> None:
    _record(session, ml, street)
    golden = seed_golden(session, actor=ml, source=street, repo_dir=workspace.repo_dir)
    session.commit()
    assert isinstance(golden, GoldenSet) and golden.name == "street-golden" and golden.version == 1
    gv = session.get(DatasetVersion, golden.dataset_version_id)
    assert gv is not None
    gds = session.get(Dataset, gv.dataset_id)
    assert gds is not None and gds.is_golden and gds.name == "street-golden"
    assert gv.schema_version_id == street.schema_version_id
    items = list(session.exec(select(Item).where(Item.dataset_version_id == gv.id)))
    assert [i.uri for i in items] == ["img/a.png"]
    src_bytes = datasets.read_item(repo_dir=workspace.repo_dir, version=street, uri="img/a.png")
    assert datasets.read_item(repo_dir=workspace.repo_dir, version=gv, uri="img/a.png") == src_bytes
    copied = list(session.exec(live_labels(gv.id or 0).order_by(col(Annotation.id))))
    assert sorted(a.category for a in copied) == ["car", "day", "road"]
    for a in copied:
        made = made_of(a.attributes)
        assert made is not None and made["ground_truth"] is True and made["ref"] == "annotation:11"
        assert a.kind == ProvenanceKind.human and a.annotator_id == world.users["annotator"].id
        assert a.origin_id is not None and a.row_digest is not None
    # a second seed is the golden set's next version, reusing the golden dataset
    again = seed_golden(session, actor=ml, source=street, repo_dir=workspace.repo_dir)
    assert again.version == 2 and session.get(DatasetVersion, again.dataset_version_id).version == "g2"  # type: ignore[union-attr]


def test_no_ground_truth_or_a_visible_dataset_is_refused(
    session: Session, world: World, ml: Actor, street: DatasetVersion, workspace: Settings
) -> None:
    with pytest.raises(InvalidInput, match="street@v1 has no label marked ground truth"):
        seed_golden(session, actor=ml, source=street, repo_dir=workspace.repo_dir)
    _record(session, ml, street)
    datasets.create_dataset(session, actor=ml, project_id=world.project.id or 0, name="visible")
    with pytest.raises(Conflict, match="not a golden dataset"):
        seed_golden(session, actor=ml, source=street, repo_dir=workspace.repo_dir, name="visible")
