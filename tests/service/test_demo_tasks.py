"""The demo's chapter beyond boxes (issue 13, item 6): a classification and a segmentation dataset, each
blocked by its policy on the record, fixed and passed, with evidence that reads back and names the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from lineage.audit.verify import verify_database
from lineage.gates import report_of
from lineage.models import Annotation, Dataset, DatasetVersion, GateEvaluation
from service.demo.story import _fresh_workspace, setup_identity
from service.demo.tasks import TASKS, draw_shapes, tasks_chapter
from service.settings import Settings


def test_draw_shapes_is_seeded_and_keeps_shapes_apart(tmp_path: Path) -> None:
    a = draw_shapes(tmp_path / "a", n=6, seed=3)
    b = draw_shapes(tmp_path / "b", n=6, seed=3)
    assert a == b and (tmp_path / "a" / "img_005.png").read_bytes() == (tmp_path / "b" / "img_005.png").read_bytes()
    assert all(1 <= len(shapes) <= 3 for shapes in a.values())
    assert draw_shapes(tmp_path / "c", n=6, seed=4) != a


@pytest.fixture(scope="module")
def chapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, tuple[bool, bool]], list[str]]:
    path = tmp_path_factory.mktemp("demo") / "ws"
    _fresh_workspace(path)
    settings = Settings(workspace=path, database_url="")
    state = setup_identity(settings)
    said: list[str] = []
    verdicts = tasks_chapter(state, said.append, n_images=24)
    state.engine.dispose()
    return settings, verdicts, said


def test_each_task_blocks_then_passes(chapter: tuple[Settings, dict[str, tuple[bool, bool]], list[str]]) -> None:
    _, verdicts, said = chapter
    assert verdicts == {task.dataset: (False, True) for task in TASKS}
    text = "\n".join(said)
    # the gate names the annotator who made the errors, in each task's own terms
    assert "worst source bob" in text
    assert "mask IoU 0.5" in text


def test_the_evidence_on_the_record_is_of_the_task_and_reads_back(
    chapter: tuple[Settings, dict[str, tuple[bool, bool]], list[str]],
) -> None:
    settings, _, _ = chapter
    from lineage.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s:
            versions = {v.id: v for v in s.exec(select(DatasetVersion))}
            names = {d.id: d.name for d in s.exec(select(Dataset))}
            seen: dict[tuple[str, str], tuple[str, bool]] = {}
            for e in s.exec(select(GateEvaluation).order_by(col(GateEvaluation.id))):
                v = versions[e.dataset_version_id]
                report = report_of(e, "policy")
                seen[(names[v.dataset_id], v.version)] = (report.task, report.passed)
            tags = s.exec(select(Annotation).where(Annotation.geometry_type == "tag")).all()
            polygons = s.exec(select(Annotation).where(Annotation.geometry_type == "polygon")).all()
            chain = verify_database(s)
    finally:
        engine.dispose()
    assert seen == {
        ("shape-tags", "v1"): ("classify", False),
        ("shape-tags", "v2"): ("classify", True),
        ("shape-masks", "v1"): ("segment", False),
        ("shape-masks", "v2"): ("segment", True),
    }
    assert tags and all(a.x is None and a.geometry is None for a in tags)
    assert polygons and all(a.geometry and len(a.geometry["polygons"][0]) >= 6 for a in polygons)
    assert chain.ok
