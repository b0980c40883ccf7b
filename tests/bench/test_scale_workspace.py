"""Smoke test of the seeded scale workspace generator (``bench/scale_workspace.py``) at a tiny size, SQLite."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.audit.deep import deep_verify
from lineage.db import make_engine
from lineage.models import Annotation, AutoLabelRun, GoldenSet, Item, ModelVersion
from tests.bench import load_bench


def _generator() -> ModuleType:
    return load_bench("scale_workspace")


gen = _generator()
SPEC = gen.ScaleSpec(images=50, labels_per_image=3, classes=4, golden=20, seed=3)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("scale") / "a"
    state: dict[str, Any] = gen.build_scale_workspace(out, db="sqlite", spec=SPEC, say=lambda _: None)
    return state


def _count(s: Session, version_id: int, kind: str) -> int:
    stmt = select(func.count()).where(Annotation.dataset_version_id == version_id, Annotation.kind == kind)
    return int(s.exec(stmt).one())


def test_counts_match_the_spec(built: dict[str, Any]) -> None:
    counts = built["counts"]
    assert counts["images"] == 50 and counts["golden_images"] == 20
    assert counts["imported_labels"] == 150
    assert counts["golden_labels"] == 60
    engine = make_engine(built["database_url"])
    try:
        with Session(engine) as s:
            vid, gid = built["version_id"], built["golden_version_id"]
            assert s.exec(select(func.count()).where(Item.dataset_version_id == vid)).one() == 50
            assert s.exec(select(func.count()).where(Item.dataset_version_id == gid)).one() == 20
            assert _count(s, vid, "import") == 150
            assert _count(s, gid, "import") == 60
            assert _count(s, vid, "human") == counts["human_labels"] > 0
            assert _count(s, vid, "model") == counts["model_labels"] > 0
            annotators = s.exec(
                select(func.count(func.distinct(Annotation.annotator_id))).where(
                    Annotation.dataset_version_id == vid, col(Annotation.annotator_id).is_not(None)
                )
            ).one()
            assert annotators == 3
            assert s.exec(select(ModelVersion)).one().framework == "simulated"
            assert s.exec(select(AutoLabelRun)).one().dataset_version_id == vid
            assert s.exec(select(GoldenSet)).one().dataset_version_id == gid
    finally:
        engine.dispose()


def test_same_seed_gives_the_same_manifests(built: dict[str, Any], tmp_path: Path) -> None:
    again = gen.build_scale_workspace(tmp_path / "b", db="sqlite", spec=SPEC, say=lambda _: None)
    assert again["manifest_hashes"] == built["manifest_hashes"]
    assert again["counts"] == built["counts"]
    other = gen.build_scale_workspace(
        tmp_path / "c", db="sqlite", spec=gen.ScaleSpec(**{**gen.asdict(SPEC), "seed": 4}), say=lambda _: None
    )
    assert other["manifest_hashes"]["scale@v1"] != built["manifest_hashes"]["scale@v1"]


def test_deep_verify_is_clean(built: dict[str, Any]) -> None:
    engine = make_engine(built["database_url"])
    try:
        with Session(engine) as s:
            report = deep_verify(s)
        assert report.ok, report.problems
        assert report.rows["annotations"] > 150
    finally:
        engine.dispose()


def test_refuses_to_overwrite_a_workspace(built: dict[str, Any]) -> None:
    with pytest.raises(SystemExit, match="already holds a scale workspace"):
        gen.build_scale_workspace(Path(built["workspace"]).parent, db="sqlite", spec=SPEC, say=lambda _: None)


def test_suppress_duplicates_keeps_one_of_coinciding_boxes_per_image() -> None:
    preds = [
        {"image_id": 1, "bbox": [0.0, 0.0, 63.0, 63.0]},
        {"image_id": 1, "bbox": [0.5, 0.0, 63.0, 63.0]},  # IoU 0.99 with the first: dropped
        {"image_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0]},
        {"image_id": 2, "bbox": [0.5, 0.0, 63.0, 63.0]},  # another image: kept
    ]
    kept = gen.suppress_duplicates(preds)
    assert kept == [preds[0], preds[2], preds[3]]
