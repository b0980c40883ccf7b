"""OpenLineage: run events for imports and releases, written by the client's file transport on commit,
read back as JSON; nothing is emitted for a rolled-back import."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from lineage import datasets
from lineage.context import Actor
from lineage.formats import import_annotations
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import ProvenanceKind, VersionState
from lineage.openlineage import LineageEmitter, workspace_emitter
from service.settings import Settings
from tests.factories import World
from tests.lineage.conftest import items_of, make_images, quick_version

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
    "categories": [{"id": 1, "name": "cat"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 6, 7, 8]},
    ],
}


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_import_emits_a_run_event_on_commit_only(session: Session, world: World, ml: Actor, tmp_path: Path) -> None:
    _, v = quick_version(session, actor=ml, project_id=world.project.id or 0, items={"a.jpg": (40, 30)})
    src = tmp_path / "in.json"
    src.write_text(json.dumps(COCO))
    log = tmp_path / "ol" / "events.jsonl"
    console = io.StringIO()
    emitter = LineageEmitter(file_path=log, console=True, stream=console)
    session.commit()
    import_annotations(session, actor=ml, version=v, fmt="coco", path=src, emitter=emitter)
    assert _events(log) == []  # not before the commit
    session.rollback()
    assert _events(log) == []  # and never for a rolled-back import
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=src, emitter=emitter)
    session.commit()
    [event] = _events(log)
    assert event["eventType"] == "COMPLETE"
    assert event["job"] == {
        "namespace": "labelgate",
        "name": f"p{world.project.id}.import.coco",
        "facets": event["job"]["facets"],
    }
    assert event["job"]["facets"]["jobType"]["jobType"] == "IMPORT"
    assert event["inputs"][0]["name"] == str(src)
    assert event["inputs"][0]["facets"]["version"]["datasetVersion"] == result.source_sha256
    out = event["outputs"][0]
    assert (out["namespace"], out["name"]) == ("labelgate", f"p{world.project.id}/pets")
    assert out["facets"]["version"]["datasetVersion"] == "v1"
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == 2
    facet = event["run"]["facets"]["labelgate"]
    assert facet["actor"] == "ml_engineer_user" and facet["details"]["annotations"] == 2 and facet["auditSeq"] > 0
    assert json.loads(console.getvalue().strip())["run"]["runId"] == event["run"]["runId"]


@sqlite_only
def test_release_emits_a_run_event_with_its_pins(
    session: Session, world: World, ml: Actor, settings: Settings, tmp_path: Path
) -> None:
    from service.workspace import init_workspace

    init_workspace(settings)
    ds = datasets.create_dataset(session, actor=ml, project_id=world.project.id or 0, name="pets")
    v = datasets.create_version(
        session,
        actor=ml,
        dataset=ds,
        version="v1",
        repo_dir=settings.repo_dir,
        source_dir=make_images(tmp_path / "s", {"a.png": (20, 20)}),
    )
    add_annotations(
        session,
        actor=ml,
        version=v,
        labels=[NewLabel(items_of(session, v)["a.png"], "cat", 1, 1, 2, 2)],
        provenance=Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id),
    )
    datasets.change_state(session, actor=ml, version=v, to=VersionState.candidate)
    emitter = workspace_emitter(settings.workspace)
    datasets.release_version(session, actor=ml, version=v, repo_dir=settings.repo_dir, emitter=emitter)
    session.commit()
    [event] = _events(settings.workspace / "openlineage" / "events.jsonl")
    assert event["job"]["name"] == f"p{world.project.id}.release"
    details = event["run"]["facets"]["labelgate"]["details"]
    assert details["git_revision"] == v.git_revision and details["manifest_hash"] == v.manifest_hash
    assert details["git_tag"] == f"release/p{world.project.id}/pets/v1" and details["dvc_hash"] == v.dvc_hash
