"""The lineage API: schemas, datasets and versions (real DVC), imports, bulk writes, corrections, reviews,
lineage; who may do what; golden datasets hidden from annotators; 422 on bad input, 409 (audited) on a
released version."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from lineage import datasets
from lineage.audit.verify import verify_database
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import Annotation, AuditEvent, DatasetVersion, ProvenanceKind, VersionState
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for
from tests.lineage.conftest import items_of, make_images, quick_schema, quick_version

COCO = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
        {"id": 2, "file_name": "b.png", "width": 20, "height": 10},
    ],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 20, 10]},
    ],
}


def _url(world: World, tail: str) -> str:
    return f"/api/v1/projects/{world.project.id}{tail}"


@pytest.fixture
def ws(settings: Settings) -> Settings:
    init_workspace(settings)
    return settings


def _created(r: Any) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_flow_through_the_api(client: TestClient, world: World, ws: Settings, engine: Engine) -> None:
    ml, h = world.headers("ml_engineer"), world.headers
    classes = [{"name": "cat"}, {"name": "dog", "description": "a dog"}]
    v1 = _created(client.post(_url(world, "/schemas"), json={"name": "animals", "classes": classes}, headers=ml))
    assert v1["version"] == 1 and len(v1["git_revision"]) == 40
    v2 = _created(
        client.post(
            _url(world, "/schemas/animals/versions"), json={"classes": [*classes, {"name": "bird"}]}, headers=ml
        )
    )
    assert v2["parent_id"] == v1["id"] and v2["diff"]["added"] == ["bird"]
    diff = client.get(_url(world, "/schemas/animals/diff?from=2&to=1"), headers=h("ci")).json()
    assert diff["removed"] == ["bird"] and diff["changed"] is True
    assert client.get(_url(world, "/schemas"), headers=h("annotator")).json()[0]["latest"]["version"] == 2

    make_images(ws.workspace / "incoming" / "batch1", {"a.png": (40, 30), "b.png": (20, 10)})
    _created(client.post(_url(world, "/datasets"), json={"name": "pets"}, headers=ml))
    ver = _created(
        client.post(
            _url(world, "/datasets/pets/versions"),
            json={"version": "v1", "source_dir": "batch1", "schema": "animals@1"},
            headers=ml,
        )
    )
    assert ver["item_count"] == 2 and ver["state"] == "draft" and ver["dvc_hash"].endswith(".dir")
    base = "/datasets/pets/versions/v1"

    files = {"file": ("coco.json", json.dumps(COCO).encode(), "application/json")}
    result = _created(client.post(_url(world, base + "/imports"), data={"format": "coco"}, files=files, headers=ml))
    assert (result["annotations"], result["kind"]) == (2, "import")

    bulk = {"annotations": [{"item_uri": "a.png", "category": "dog", "bbox": [5, 5, 10, 10]}]}
    done = _created(client.post(_url(world, base + "/annotations/bulk"), json=bulk, headers=h("annotator")))
    row_id = done["ids"][0]
    page = client.get(_url(world, base + "/annotations"), headers=h("reviewer")).json()
    assert page["total"] == 3
    mine = next(a for a in page["items"] if a["id"] == row_id)
    assert (mine["kind"], mine["annotator_id"]) == ("human", world.users["annotator"].id)

    fixed = _created(
        client.post(
            _url(world, f"/annotations/{row_id}/corrections"),
            json={"bbox": [6, 6, 10, 10], "reason": "off"},
            headers=h("annotator"),
        )
    )
    assert fixed["supersedes_id"] == row_id
    review = _created(
        client.post(
            _url(world, f"/annotations/{fixed['id']}/reviews"), json={"decision": "accept"}, headers=h("reviewer")
        )
    )
    assert review["reviewer_id"] == world.users["reviewer"].id

    chain = client.get(_url(world, f"/annotations/{fixed['id']}/lineage"), headers=h("compliance_officer")).json()
    assert [s["id"] for s in chain["history"]] == [row_id, fixed["id"]] and chain["history"][1]["reviews"][0][
        "decision"
    ] == "accept"
    lin = client.get(_url(world, base + "/lineage"), headers=h("compliance_officer")).json()
    assert (
        lin["labels"] == 3
        and lin["by_kind"]["import"]["count"] == 2
        and lin["dvc"]["git_revision"] == ver["git_revision"]
    )

    coco = client.get(_url(world, base + "/export?format=coco"), headers=h("reviewer")).json()
    assert len(coco["annotations"]) == 3 and [c["name"] for c in coco["categories"]] == ["cat", "dog"]
    z = client.get(_url(world, base + "/export?format=yolo"), headers=h("reviewer"))
    assert z.headers["content-type"] == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(z.content)).namelist()) == ["data.yaml", "labels/a.txt", "labels/b.txt"]

    state = client.post(_url(world, base + "/state"), json={"state": "candidate"}, headers=ml)
    assert state.status_code == 200 and state.json()["manifest_hash"]
    refused = client.post(_url(world, base + "/state"), json={"state": "released"}, headers=ml)
    assert refused.status_code == 422 and "release flow" in refused.json()["error"]["message"]


def test_bad_inputs_answer_422_and_write_nothing(
    client: TestClient, world: World, ws: Settings, engine: Engine
) -> None:
    with Session(engine) as s:
        quick_version(
            s,
            actor=actor_for(world.users["ml_engineer"]),
            project_id=world.project.id or 0,
            items={"a.png": (40, 30), "b.png": (20, 10)},
        )
        s.commit()
    ml = world.headers("ml_engineer")
    base = "/datasets/pets/versions/v1"
    bad = {**COCO, "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4]}]}
    r = client.post(
        _url(world, base + "/imports"),
        data={"format": "coco"},
        files={"file": ("x.json", json.dumps(bad).encode())},
        headers=ml,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "x.json: annotations[0] (id 1)"
    assert "unknown category_id 7" in r.json()["error"]["message"]
    r = client.post(
        _url(world, base + "/imports"), data={"format": "coco"}, files={"file": ("x.json", b"{nope")}, headers=ml
    )
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("x.json:1:")
    r = client.post(_url(world, base + "/imports"), data={"format": "yolo", "path": "../../etc"}, headers=ml)
    assert r.status_code == 422 and "incoming" in r.json()["error"]["message"]
    too_many = {"annotations": [{"item_uri": "a.png", "category": "cat", "bbox": [1, 1, 1, 1]}] * 5001}
    assert client.post(_url(world, base + "/annotations/bulk"), json=too_many, headers=ml).status_code == 422
    sneaky = {"annotations": [{"item_uri": "a.png", "category": "cat", "bbox": [1, 1, 1, 1], "annotator_id": 1}]}
    r = client.post(_url(world, base + "/annotations/bulk"), json=sneaky, headers=ml)
    assert r.status_code == 422 and "annotator_id" in r.json()["error"]["field"]
    outside = {"annotations": [{"item_uri": "b.png", "category": "cat", "bbox": [15, 0, 10, 5]}]}
    r = client.post(_url(world, base + "/annotations/bulk"), json=outside, headers=ml)
    assert r.status_code == 422 and r.json()["error"]["field"] == "annotations[0].bbox"
    model = {
        "provenance": {"kind": "model", "autolabel_run_id": 1},
        "annotations": [{"item_uri": "a.png", "category": "cat", "bbox": [1, 1, 1, 1], "confidence": 0.9}],
    }
    r = client.post(_url(world, base + "/annotations/bulk"), json=model, headers=world.headers("annotator"))
    assert r.status_code == 422 and "annotators write human labels" in r.json()["error"]["message"]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Annotation)).one() == 0


def test_writes_to_a_released_version_are_409_and_audited(
    client: TestClient, world: World, ws: Settings, engine: Engine
) -> None:
    ml_actor = actor_for(world.users["ml_engineer"])
    with Session(engine, expire_on_commit=False) as s:
        ds = datasets.create_dataset(s, actor=ml_actor, project_id=world.project.id or 0, name="pets")
        v = datasets.create_version(
            s,
            actor=ml_actor,
            dataset=ds,
            version="v1",
            repo_dir=ws.repo_dir,
            source_dir=make_images(ws.workspace / "incoming" / "b", {"a.png": (40, 30)}),
        )
        [aid] = add_annotations(
            s,
            actor=ml_actor,
            version=v,
            labels=[NewLabel(items_of(s, v)["a.png"], "cat", 1, 1, 2, 2)],
            provenance=Provenance(kind=ProvenanceKind.human, annotator_id=ml_actor.user_id),
        )
        datasets.change_state(s, actor=ml_actor, version=v, to=VersionState.candidate)
        datasets.release_version(s, actor=ml_actor, version=v, repo_dir=ws.repo_dir)
        s.commit()
    base = "/datasets/pets/versions/v1"
    bulk = {"annotations": [{"item_uri": "a.png", "category": "cat", "bbox": [1, 1, 1, 1]}]}
    r = client.post(_url(world, base + "/annotations/bulk"), json=bulk, headers=world.headers("annotator"))
    assert r.status_code == 409 and "released and immutable" in r.json()["error"]["message"]
    request_id = r.headers["x-request-id"]
    r = client.post(
        _url(world, f"/annotations/{aid}/reviews"), json={"decision": "reject"}, headers=world.headers("reviewer")
    )
    assert r.status_code == 409
    files = {"file": ("coco.json", json.dumps(COCO).encode())}
    assert (
        client.post(
            _url(world, base + "/imports"), data={"format": "coco"}, files=files, headers=world.headers("ml_engineer")
        ).status_code
        == 409
    )
    with Session(engine) as s:
        refusals = s.exec(
            select(AuditEvent).where(AuditEvent.action == "dataset_version.write_refused").order_by(AuditEvent.seq)
        ).all()
        assert [e.actor for e in refusals] == ["annotator_user", "reviewer_user", "ml_engineer_user"]
        assert refusals[0].request_id == request_id and refusals[0].payload["state"] == "released"
        assert s.exec(select(func.count()).select_from(Annotation)).one() == 1
        assert s.exec(select(DatasetVersion.state)).one() == "released"
        assert verify_database(s).ok  # refusals were appended to the chain like any event


ROLE_CASES = [
    ("post", "/datasets", {"name": "x"}, {"admin", "ml_engineer"}),
    ("post", "/schemas", {"name": "s2", "classes": [{"name": "a"}]}, {"admin", "ml_engineer"}),
    (
        "post",
        "/datasets/pets/versions/v1/annotations/bulk",
        {"annotations": [{"item_uri": "a.png", "category": "cat", "bbox": [1, 1, 2, 2]}]},
        {"admin", "ml_engineer", "annotator"},
    ),
    (
        "get",
        "/datasets/pets/versions/v1/lineage",
        None,
        {"admin", "ml_engineer", "annotator", "reviewer", "compliance_officer", "ci"},
    ),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the permission table does not depend on the database
@pytest.mark.parametrize(("method", "tail", "body", "allowed"), ROLE_CASES)
def test_who_may_do_what(
    client: TestClient, world: World, ws: Settings, engine: Engine, method: str, tail: str, body: Any, allowed: set[str]
) -> None:
    with Session(engine) as s:
        ml = actor_for(world.users["ml_engineer"])
        sv = quick_schema(s, project_id=world.project.id or 0, name="s", classes=["cat"], user_id=ml.user_id)
        quick_version(s, actor=ml, project_id=world.project.id or 0, items={"a.png": (40, 30)}, schema_version_id=sv.id)
        s.commit()
    for who in ["admin", "ml_engineer", "annotator", "reviewer", "compliance_officer", "ci", "outsider"]:
        r = client.request(method, _url(world, tail), json=body, headers=world.headers(who))
        if who in allowed:
            assert r.status_code in (200, 201, 409), (who, r.text)  # 409: an earlier caller created it
        else:
            assert r.status_code == (404 if who == "outsider" else 403), (who, r.text)


def test_review_is_for_reviewers(client: TestClient, world: World, engine: Engine) -> None:
    with Session(engine) as s:
        ml = actor_for(world.users["ml_engineer"])
        _, v = quick_version(s, actor=ml, project_id=world.project.id or 0, items={"a.png": (40, 30)})
        [aid] = add_annotations(
            s,
            actor=ml,
            version=v,
            labels=[NewLabel(items_of(s, v)["a.png"], "cat", 1, 1, 2, 2)],
            provenance=Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id),
        )
        s.commit()
    url = _url(world, f"/annotations/{aid}/reviews")
    assert client.post(url, json={"decision": "accept"}, headers=world.headers("annotator")).status_code == 403
    assert client.post(url, json={"decision": "accept"}, headers=world.headers("reviewer")).status_code == 201
    other = f"/api/v1/projects/{world.other_project.id}/annotations/{aid}/lineage"
    assert client.get(other, headers=world.headers("admin")).status_code == 404  # not this project's annotation


def test_golden_datasets_are_404_for_annotators(client: TestClient, world: World, engine: Engine) -> None:
    with Session(engine) as s:
        ml = actor_for(world.users["ml_engineer"])
        _, v = quick_version(
            s, actor=ml, project_id=world.project.id or 0, items={"a.png": (40, 30)}, dataset="gold", golden=True
        )
        [aid] = add_annotations(
            s,
            actor=ml,
            version=v,
            labels=[NewLabel(items_of(s, v)["a.png"], "cat", 1, 1, 2, 2)],
            provenance=Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id),
        )
        quick_version(s, actor=ml, project_id=world.project.id or 0, items={"a.png": (40, 30)}, dataset="plain")
        s.commit()
    ann_h, rev_h = world.headers("annotator"), world.headers("reviewer")
    assert [d["name"] for d in client.get(_url(world, "/datasets"), headers=ann_h).json()] == ["plain"]
    assert [d["name"] for d in client.get(_url(world, "/datasets"), headers=rev_h).json()] == ["gold", "plain"]
    bulk = {"annotations": [{"item_uri": "a.png", "category": "cat", "bbox": [1, 1, 2, 2]}]}
    for method, tail, body in [
        ("get", "/datasets/gold", None),
        ("get", "/datasets/gold/versions/v1", None),
        ("get", "/datasets/gold/versions/v1/annotations", None),
        ("get", "/datasets/gold/versions/v1/export", None),
        ("get", "/datasets/gold/versions/v1/lineage", None),
        ("get", f"/annotations/{aid}/lineage", None),
        ("post", f"/annotations/{aid}/corrections", {"category": "cat"}),
        ("post", "/datasets/gold/versions/v1/annotations/bulk", bulk),
    ]:
        r = client.request(method, _url(world, tail), json=body, headers=ann_h)
        assert r.status_code == 404, (tail, r.text)
    assert client.get(_url(world, "/datasets/gold/versions/v1/annotations"), headers=rev_h).json()["total"] == 1
    assert client.get(_url(world, f"/annotations/{aid}/lineage"), headers=rev_h).status_code == 200


def test_version_source_must_be_under_incoming(client: TestClient, world: World, ws: Settings, tmp_path: Path) -> None:
    make_images(tmp_path / "elsewhere", {"a.png": (4, 4)})
    ml = world.headers("ml_engineer")
    client.post(_url(world, "/datasets"), json={"name": "pets"}, headers=ml)
    r = client.post(
        _url(world, "/datasets/pets/versions"),
        json={"version": "v1", "source_dir": str(tmp_path / "elsewhere")},
        headers=ml,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "source_dir"  # the body field it came in


def test_an_upload_imported_twice_is_a_no_op_unless_reimport_is_asked(
    client: TestClient, world: World, engine: Engine
) -> None:
    with Session(engine) as s:
        quick_version(
            s,
            actor=actor_for(world.users["ml_engineer"]),
            project_id=world.project.id or 0,
            items={"a.png": (40, 30), "b.png": (20, 10)},
        )
        s.commit()
    url, ml = _url(world, "/datasets/pets/versions/v1/imports"), world.headers("ml_engineer")

    def upload(**extra: str) -> Any:
        files = {"file": ("coco.json", json.dumps(COCO).encode(), "application/json")}
        return client.post(url, data={"format": "coco", **extra}, files=files, headers=ml)

    first = _created(upload())
    again = upload()
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["status"] == "already_imported" and body["annotations"] == 0
    assert f"import #{first['import_id']}" in body["duplicate_of"]
    forced = _created(upload(reimport="true"))
    assert (forced["status"], forced["generation"], forced["annotations"]) == ("imported", 1, 2)
    with Session(engine) as s:
        total = s.exec(select(func.count()).select_from(Annotation)).one()
    assert total == 4
