"""The Label Studio webhook endpoint through the API (no Label Studio server: events shaped as Label Studio
1.23 sends them, ``webhooks.serializers_for_hooks``), on SQLite and PostgreSQL: the shared secret, the
recording user's role, each event kind, and refusals that write nothing. The live test
(``test_labelstudio_live``) has a real server send them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from lineage.formats.transfer import item_index
from lineage.labels.work import record_work
from lineage.models import AuditEvent, Dataset
from service.api.app import create_app
from service.settings import Settings
from tests.factories import actor_for
from tests.labelstudio.scenario import box, labelgate_side, unit_rows

SECRET = "the-shared-secret"
HEADERS = {"X-Labelgate-Secret": SECRET}


@pytest.fixture
def scene(engine: Engine) -> dict[str, Any]:
    """alpha's pets@v1, with alice known as Label Studio user 7 of project 3 from an earlier export import."""
    from lineage.formats.exportdata import schema_info
    from lineage.formats.labelstudio import parse_labelstudio

    with Session(engine, expire_on_commit=False) as s:
        world, version, alice, _ = labelgate_side(s, "w")
        dataset = s.get(Dataset, version.dataset_id)
        assert dataset is not None
        task = _task(1, "images/000.png")
        task["annotations"] = [_annotation(1, 1, completed_by={"id": 7, "email": alice.email})]
        batch = parse_labelstudio(
            [task], source="export.json", items=item_index(s, dataset, version), schema=schema_info(s, version)
        )
        record_work(s, actor=actor_for(world.users["ml_engineer"]), version=version, batch=batch)
        s.commit()
        return {"project": world.project.id, "version": version.id, "alice": alice.id}


def _task(tid: int, image: str) -> dict[str, Any]:
    return {"id": tid, "data": {"image": image}, "project": 3, "meta": {}, "is_labeled": True, "overlap": 1}


def _annotation(aid: int, tid: int, *, completed_by: Any = 7, updated: str = "2026-12-01T10:00:00.000000Z", **kw: Any):
    result = kw.pop("result", [box("r1", "car", 10, 10, 20, 20)])
    return {
        "id": aid,
        "result": result,
        "completed_by": completed_by,
        "task": tid,
        "project": 3,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": "2026-12-01T09:59:00.000000Z",
        "updated_at": updated,
        "lead_time": 4.5,
        **kw,
    }


def _event(action: str, ann: dict[str, Any], image: str = "images/001.png") -> dict[str, Any]:
    return {"action": action, "annotation": ann, "task": _task(ann["task"], image), "project": {"id": 3}}


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"labelstudio_webhook_secret": SECRET, "labelstudio_webhook_user": "ml_engineer_user"}
    )
    with TestClient(create_app(configured, engine=engine)) as c:
        yield c


def _url(scene: dict[str, Any]) -> str:
    return f"/api/v1/webhooks/labelstudio/{scene['project']}/pets/v1"


def _state(engine: Engine, scene: dict[str, Any]) -> tuple[int, int]:
    with Session(engine) as s:
        return len(unit_rows(s, scene["version"])), int(s.exec(select(func.count()).select_from(AuditEvent)).one())


def test_created_updated_deleted_and_replayed(api: TestClient, engine: Engine, scene: dict[str, Any]) -> None:
    url = _url(scene)
    created = api.post(url, json=_event("ANNOTATION_CREATED", _annotation(2, 2)), headers=HEADERS)
    assert created.status_code == 200, created.text
    assert created.json()["units_added"] == 1 and created.json()["authors"] == {"7": "alice"}
    replay = api.post(url, json=_event("ANNOTATION_CREATED", _annotation(2, 2)), headers=HEADERS)
    assert replay.json()["recorded"] is False and replay.json()["units_skipped"] == 1
    moved = _annotation(2, 2, updated="2026-12-01T10:05:00.000000Z", result=[box("r1", "person", 11, 10, 20, 20)])
    updated = api.post(url, json=_event("ANNOTATION_UPDATED", moved), headers=HEADERS)
    assert updated.json()["units_updated"] == 1, updated.text
    deleted = api.post(
        url, json={"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 2}], "project": {"id": 3}}, headers=HEADERS
    )
    assert deleted.json()["units_deleted"] == 1 and deleted.json()["tombstones"] == 1, deleted.text
    with Session(engine) as s:
        rows = [r for r in unit_rows(s, scene["version"]) if r["made"]["ref"] == "annotation:2"]
    assert [(r["category"], r["geometry_type"]) for r in rows] == [
        ("car", "box"),
        ("person", "box"),
        ("person", "deleted"),
    ]
    assert rows[1]["supersedes_id"] == rows[0]["id"] and rows[2]["supersedes_id"] == rows[1]["id"]
    assert {r["annotator_id"] for r in rows} == {scene["alice"]}
    # several at once (ANNOTATIONS_CREATED: lists of annotations and of their tasks)
    many = {
        "action": "ANNOTATIONS_CREATED",
        "annotation": [_annotation(3, 3), _annotation(4, 4)],
        "task": [_task(3, "images/002.png"), _task(4, "images/003.png")],
        "project": {"id": 3},
    }
    assert api.post(url, json=many, headers=HEADERS).json()["units_added"] == 2
    ignored = api.post(url, json={"action": "TASKS_CREATED", "tasks": [{"id": 9}]}, headers=HEADERS)
    assert ignored.status_code == 200 and ignored.json() == {
        **ignored.json(),
        "recorded": False,
        "event": "TASKS_CREATED",
    }


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [({}, 401, "webhook secret"), ({"X-Labelgate-Secret": SECRET[:-1]}, 401, "webhook secret")],
)
def test_without_the_secret_nothing_is_written(
    api: TestClient, engine: Engine, scene: dict[str, Any], headers: dict[str, str], status: int, says: str
) -> None:
    before = _state(engine, scene)
    answer = api.post(_url(scene), json=_event("ANNOTATION_CREATED", _annotation(2, 2)), headers=headers)
    assert answer.status_code == status and says in answer.text
    assert _state(engine, scene) == before


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (_event("ANNOTATION_CREATED", _annotation(2, 2, completed_by=99)), "labelgate user: 99;"),
        (_event("ANNOTATION_CREATED", _annotation(2, 2, result=[box("r1", "tram", 1, 1, 5, 5)])), "tram"),
        (_event("ANNOTATION_CREATED", _annotation(2, 2), image="images/none.png"), "images/none.png"),
        (
            {"action": "ANNOTATION_CREATED", "annotation": _annotation(2, 2), "task": _task(5, "images/001.png")},
            "task 2",
        ),
    ],
)
def test_unknown_author_class_or_image_is_422_naming_it(
    api: TestClient, engine: Engine, scene: dict[str, Any], event: dict[str, Any], says: str
) -> None:
    before = _state(engine, scene)
    answer = api.post(_url(scene), json=event, headers=HEADERS)
    assert answer.status_code == 422 and says in answer.text, answer.text
    assert _state(engine, scene) == before


def test_disabled_without_a_configured_secret_and_bounded_by_the_users_role(
    settings: Settings, engine: Engine, scene: dict[str, Any]
) -> None:
    event = _event("ANNOTATION_CREATED", _annotation(2, 2))
    with TestClient(create_app(settings, engine=engine)) as c:
        answer = c.post(_url(scene), json=event, headers=HEADERS)
        assert answer.status_code == 401 and "not enabled" in answer.text
    annotator = settings.model_copy(
        update={"labelstudio_webhook_secret": SECRET, "labelstudio_webhook_user": "annotator_user"}
    )
    with TestClient(create_app(annotator, engine=engine)) as c:
        answer = c.post(_url(scene), json=event, headers=HEADERS)
        assert answer.status_code == 403 and "ml_engineer" in answer.text, answer.text
    assert _state(engine, scene)[0] == 1  # the seed's label only
