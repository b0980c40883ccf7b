"""OpenLineage: every job's run (START and COMPLETE under one run id) written by the client's file transport
when its transaction commits, named by workspace, project and dataset names, each event valid against the
spec's own schemas (``test_lineage_openlineage_schemas.validate_event``); nothing for a rolled-back job.
The gate scenario's history (versions, imports, a gate evaluation, a release) is one connected chain."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from lineage import datasets
from lineage.context import Actor
from lineage.formats import import_annotations
from lineage.formats.tool_import import import_tool_source
from lineage.gates import evaluate_version
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import ProvenanceKind, VersionState
from lineage.openlineage import LineageEmitter, bind_emitter, workspace_emitter
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_gate_world
from tests.lineage.conftest import items_of, make_images, quick_schema, quick_version
from tests.lineage.test_lineage_openlineage_schemas import read_events, validate_event

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
    "categories": [{"id": 1, "name": "cat"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 6, 7, 8]},
    ],
}


def _key(dataset: dict[str, Any]) -> tuple[str, str, str]:
    """A dataset version as a consumer joins it: namespace, name and the ``version`` facet."""
    return dataset["namespace"], dataset["name"], dataset["facets"]["version"]["datasetVersion"]


def _check_runs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every event is valid; every run is START then COMPLETE of one job. Returns the COMPLETE events."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        validate_event(event)
        runs.setdefault(event["run"]["runId"], []).append(event)
    for run in runs.values():
        assert [e["eventType"] for e in run] == ["START", "COMPLETE"], run
        assert run[0]["job"] == run[1]["job"] and run[0]["inputs"] == run[1]["inputs"]
    return [run[1] for run in runs.values()]


def _one(events: Iterable[dict[str, Any]], job: str, version: str | None = None) -> dict[str, Any]:
    found = [
        e
        for e in events
        if e["job"]["name"] == job and (version is None or _key((e["outputs"] or e["inputs"])[0])[2] == version)
    ]
    assert len(found) == 1, (job, version, [e["job"]["name"] for e in events])
    return found[0]


def test_import_emits_start_and_complete_on_commit_only(
    session: Session, world: World, ml: Actor, tmp_path: Path
) -> None:
    _, v = quick_version(session, actor=ml, project_id=world.project.id or 0, items={"a.jpg": (40, 30)})
    src = tmp_path / "in.json"
    src.write_text(json.dumps(COCO))
    log = tmp_path / "ol" / "events.jsonl"
    console = io.StringIO()
    emitter = LineageEmitter(file_path=log, console=True, stream=console, namespace="labelgate://test-ws")
    session.commit()
    import_annotations(session, actor=ml, version=v, fmt="coco", path=src, emitter=emitter)
    assert read_events(log) == []  # not before the commit
    session.rollback()
    assert read_events(log) == []  # and never for a rolled-back import
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=src, emitter=emitter)
    session.commit()
    events = read_events(log)
    [event] = _check_runs(events)
    assert event["job"]["namespace"] == "labelgate://test-ws" and event["job"]["name"] == "alpha.pets.import.coco"
    assert event["job"]["facets"]["jobType"]["jobType"] == "IMPORT"
    assert (event["inputs"][0]["namespace"], event["inputs"][0]["name"]) == ("file", str(src))
    assert event["inputs"][0]["facets"]["version"]["datasetVersion"] == result.source_sha256
    out = event["outputs"][0]
    assert _key(out) == ("labelgate://test-ws", "alpha/pets", "v1")
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == 2 and not events[0]["outputs"][0].get("outputFacets")
    facet = event["run"]["facets"]["labelgate"]
    assert facet["actor"] == "ml_engineer_user" and facet["details"]["annotations"] == 2 and facet["auditSeq"] > 0
    assert [json.loads(line) for line in console.getvalue().splitlines()] == events


CVAT_JOB = (
    b'<?xml version="1.0"?><annotations><version>1.1</version><meta><job><id>7</id><assignee>'
    b"<username>u</username></assignee></job></meta>"
    b'<image id="0" name="street/a.jpg" width="640" height="480">'
    b'<box label="car" xtl="1" ytl="1" xbr="5" ybr="5"/><box label="car" xtl="9" ytl="9" xbr="20" ybr="20"/>'
    b"</image></annotations>"
)


def test_a_cvat_import_emits_its_run_by_the_bound_emitter(
    session: Session, world: World, ml: Actor, tmp_path: Path
) -> None:
    sv = quick_schema(session, project_id=world.project.id or 0, name="street", classes=["car"], user_id=ml.user_id)
    _, v = quick_version(
        session, actor=ml, project_id=world.project.id or 0, items={"street/a.jpg": (640, 480)},
        dataset="street", schema_version_id=sv.id,
    )  # fmt: skip
    session.commit()
    emitter = workspace_emitter(tmp_path / "team ws")
    bind_emitter(session, emitter)  # no emitter passed: the session's is used
    import_tool_source(
        session, actor=ml, version=v, fmt="cvat", path=None, data=CVAT_JOB, source_name="job7.xml",
        user_map={"u": world.users["annotator"].username},
    )  # fmt: skip
    session.commit()
    [event] = _check_runs(read_events(tmp_path / "team ws" / "openlineage" / "events.jsonl"))
    assert event["job"] == {**event["job"], "namespace": "labelgate://team-ws", "name": "alpha.street.import.cvat"}
    assert _key(event["inputs"][0])[:2] == ("file", "job7.xml")
    assert _key(event["outputs"][0]) == ("labelgate://team-ws", "alpha/street", "v1")
    assert event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 2


def test_the_gate_scenario_is_one_connected_chain_of_valid_runs(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    """create version -> import -> (child version) -> gate evaluation -> release, as the demo tells it: each
    run's input is an earlier run's output by namespace, name and version; one assertion per gate."""
    init_workspace(settings)
    bind_emitter(session, workspace_emitter(settings.workspace, name="street-demo"))
    world, sc = make_gate_world(session, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret="x" * 16)
    session.commit()
    log = settings.workspace / "openlineage" / "events.jsonl"
    ci, ml = actor_for(world.users["ci"]), actor_for(world.users["ml_engineer"])
    evaluate_version(session, actor=ci, version=sc.blocked, policy_record=sc.policy)
    session.rollback()
    assert not [e for e in read_events(log) if e["job"]["name"].endswith("gate_evaluation")]  # rolled back: none
    blocked = evaluate_version(session, actor=ci, version=sc.blocked, policy_record=sc.policy).record
    passing = evaluate_version(session, actor=ci, version=sc.passing, policy_record=sc.policy).record
    session.commit()
    datasets.change_state(session, actor=ml, version=sc.passing, to=VersionState.candidate)
    datasets.release_version(session, actor=ml, version=sc.passing, repo_dir=settings.repo_dir)
    session.commit()

    done = _check_runs(read_events(log))
    ns, p = "labelgate://street-demo", world.project.name
    assert {e["job"]["name"] for e in done} == {
        f"{p}.golden.create_version", f"{p}.golden.import.coco", f"{p}.street.create_version",
        f"{p}.street.import.coco", f"{p}.street.gate_evaluation", f"{p}.street.release",
    }  # fmt: skip
    assert {e["job"]["namespace"] for e in done} == {ns}
    golden_in = _one(done, f"{p}.golden.import.coco")["outputs"][0]
    street_v1 = _one(done, f"{p}.street.import.coco", "v1")["outputs"][0]
    assert _key(street_v1) == (ns, f"{p}/street", "v1")
    assert _key(_one(done, f"{p}.street.create_version", "v1")["outputs"][0]) == _key(street_v1)
    assert _one(done, f"{p}.street.create_version", "v1")["inputs"] == []  # a first version has no parent
    create_v3 = _one(done, f"{p}.street.create_version", sc.passing.version)
    assert [_key(d) for d in create_v3["inputs"]] == [_key(street_v1)]  # its parent
    labelled_v3 = [e for e in done if e["job"]["name"] == f"{p}.street.import.coco"]
    assert _key(create_v3["outputs"][0]) in {_key(e["outputs"][0]) for e in labelled_v3}  # its labels came in
    gate_v3 = _one(done, f"{p}.street.gate_evaluation", sc.passing.version)
    assert [_key(d) for d in gate_v3["inputs"]] == [_key(create_v3["outputs"][0]), _key(golden_in)]
    assert gate_v3["outputs"] == []
    release = _one(done, f"{p}.street.release")
    assert _key(release["inputs"][0]) == _key(release["outputs"][0]) == _key(gate_v3["inputs"][0])
    assert release["run"]["facets"]["labelgate"]["details"]["manifest_hash"] == sc.passing.manifest_hash
    for record in (blocked, passing):
        event = _one(done, f"{p}.street.gate_evaluation", "v2" if record is blocked else sc.passing.version)
        checks = event["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert [(a["assertion"], a["success"]) for a in checks] == [(g["name"], g["passed"]) for g in record.gates]
        assert [a["params"]["metric"] for a in checks] == [g["metric"] for g in record.gates]
        details = event["run"]["facets"]["labelgate"]["details"]
        assert (details["evaluation_id"], details["passed"]) == (record.id, record.passed)
        assert details["golden_set"] == f"{sc.golden.name}@{sc.golden.version}"
    assert not blocked.passed and passing.passed


@sqlite_only
def test_create_version_and_release_name_the_version_by_its_dataset(
    session: Session, world: World, ml: Actor, settings: Settings, tmp_path: Path
) -> None:
    init_workspace(settings)
    ds = datasets.create_dataset(session, actor=ml, project_id=world.project.id or 0, name="pets")
    emitter = workspace_emitter(settings.workspace)
    v = datasets.create_version(
        session,
        actor=ml,
        dataset=ds,
        version="v1",
        repo_dir=settings.repo_dir,
        source_dir=make_images(tmp_path / "s", {"a.png": (20, 20)}),
    )
    session.commit()
    assert read_events(settings.workspace / "openlineage" / "events.jsonl") == []  # no emitter, none bound
    bind_emitter(session, emitter)
    v2 = datasets.create_version(session, actor=ml, dataset=ds, version="v2", repo_dir=settings.repo_dir, parent=v)
    add_annotations(
        session,
        actor=ml,
        version=v2,
        labels=[NewLabel(items_of(session, v2)["a.png"], "cat", 1, 1, 2, 2)],
        provenance=Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id),
    )
    datasets.change_state(session, actor=ml, version=v2, to=VersionState.candidate)
    datasets.release_version(session, actor=ml, version=v2, repo_dir=settings.repo_dir)
    session.commit()
    created, released = _check_runs(read_events(settings.workspace / "openlineage" / "events.jsonl"))
    ns = f"labelgate://{settings.workspace.name}"
    assert created["job"]["name"] == "alpha.pets.create_version"
    assert [_key(d) for d in created["inputs"]] == [(ns, "alpha/pets", "v1")]
    assert [_key(d) for d in created["outputs"]] == [(ns, "alpha/pets", "v2")]
    assert created["run"]["facets"]["labelgate"]["details"]["git_revision"] == v2.git_revision
    assert released["job"]["name"] == "alpha.pets.release"
    details = released["run"]["facets"]["labelgate"]["details"]
    assert details["git_revision"] == v2.git_revision and details["manifest_hash"] == v2.manifest_hash
    assert details["git_tag"] == f"release/p{world.project.id}/pets/v2" and details["dvc_hash"] == v2.dvc_hash


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("street-demo", "labelgate://street-demo"),
        ("team ws/é", "labelgate://team-ws"),
        ("///", "labelgate://labelgate"),
    ],
)
def test_the_namespace_names_the_workspace_as_a_uri_authority(name: str, namespace: str, tmp_path: Path) -> None:
    assert workspace_emitter(tmp_path / name.replace("/", "_")).namespace.startswith("labelgate://")
    assert workspace_emitter(tmp_path, name=name).namespace == namespace
