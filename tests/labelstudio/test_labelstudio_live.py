"""Against a real Label Studio 1.23 server (``conftest.labelstudio``): work made through Label Studio's own API
by two people, each with their own access token, and a model's predictions, pulled through the SDK and
received as webhooks, on SQLite and PostgreSQL.

Checked: who made each label (``completed_by`` -> the labelgate user of that email), when (created,
updated, lead time), ground truth, the model version and score of predictions; that an edit on the
server moves the task's ``updated_at`` (what an incremental pull filters on) and supersedes exactly the
edited unit; that a second pull with nothing new writes nothing; that a deletion leaves tombstones; and
webhooks recorded as they happen, refused without the secret or for an unknown author or image.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from lineage.connectors.labelstudio import pull, tasks_since
from lineage.errors import InvalidInput
from lineage.formats.work import iso_utc
from lineage.models import AuditEvent
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import actor_for
from tests.labelstudio.scenario import Scene, box, build, choice, live, polygon, unit_rows
from tests.labelstudio.server import LabelStudioServer
from tests.live_server import serving


def _events(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def _pull(session: Session, scene: Scene, ls: LabelStudioServer, **kw: Any) -> Any:
    pulled = pull(
        session,
        actor=actor_for(scene.world.users["ml_engineer"]),
        version=scene.version,
        client=ls.client(),
        project=scene.ls_project,
        **kw,
    )
    session.commit()
    return pulled


def _annotate(scene: Scene, ls: LabelStudioServer) -> dict[str, Any]:
    """Alice and Bob annotate (each with their own token), the admin adds a model's predictions."""
    t0, t1, t2 = (scene.tasks[f"images/{i:03d}.png"] for i in range(3))
    alice, bob, admin = ls.client(scene.ls_alice), ls.client(scene.ls_bob), ls.client()
    made = {
        "a0": alice.annotations.create(
            id=t0, result=[box("b1", "car", 10, 10, 25, 20), choice("c1", "sunny")], lead_time=12.5
        ),
        "b0": bob.annotations.create(
            id=t0, result=[polygon("p1", "road", [[0, 50], [50, 50], [50, 100]])], lead_time=30.0, ground_truth=True
        ),
        "a1": alice.annotations.create(id=t1, result=[box("b2", "person", 50, 50, 10, 30)], lead_time=4.0),
        "p0": admin.predictions.create(
            task=t0, result=[box("m1", "car", 11, 9, 25, 21)], score=0.83, model_version="yolo-v1"
        ),
        "p2": admin.predictions.create(task=t2, result=[choice("m2", "rainy")], score=0.6, model_version="yolo-v1"),
    }
    return made


def test_pull_authors_times_predictions_then_edit_delete_and_idempotence(
    session: Session, labelstudio: LabelStudioServer
) -> None:
    scene = build(session, labelstudio)
    made = _annotate(scene, labelstudio)

    first = _pull(session, scene, labelstudio)
    r = first.result
    assert (r.units_added, r.units_updated, r.units_deleted) == (5, 0, 0)
    assert r.labels_written == 6  # car + sunny, road, person, the predicted car, rainy
    assert r.authors == {str(scene.ls_alice.id): "alice", str(scene.ls_bob.id): "bob"}
    assert first.changed_by_author == {str(scene.ls_alice.id): 2, str(scene.ls_bob.id): 1, "(predictions)": 2}

    rows = unit_rows(session, scene.version.id or 0)
    by_ref: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_ref.setdefault(row["made"]["ref"], []).append(row)
    a0 = by_ref[f"annotation:{made['a0'].id}"]
    assert sorted(x["category"] for x in a0) == ["car", "sunny"]
    assert {x["kind"] for x in a0} == {"human"} and {x["annotator_id"] for x in a0} == {scene.alice.id}
    m = a0[0]["made"]
    assert m["by"] == str(scene.ls_alice.id) and m["lead_time"] == 12.5 and m["labels"] == 2
    assert m["at"] == iso_utc(made["a0"].created_at.isoformat())
    assert m["updated"] == iso_utc(made["a0"].updated_at.isoformat())
    assert m["origin"] == f"project:{scene.ls_project}" and m["task"] == str(scene.tasks["images/000.png"])
    assert "ground_truth" not in m
    b0 = by_ref[f"annotation:{made['b0'].id}"]
    assert [(x["category"], x["geometry_type"], x["annotator_id"]) for x in b0] == [("road", "polygon", scene.bob.id)]
    assert b0[0]["made"]["ground_truth"] is True and b0[0]["made"]["lead_time"] == 30.0
    p0 = by_ref[f"prediction:{made['p0'].id}"]
    assert [(x["kind"], x["annotator_id"], x["category"]) for x in p0] == [("import", None, "car")]
    assert p0[0]["made"]["model_version"] == "yolo-v1" and p0[0]["made"]["score"] == pytest.approx(0.83)
    assert "by" not in p0[0]["made"]

    # Nothing changed on the server: nothing written, not even an audit event.
    before = (len(rows), _events(session))
    again = _pull(session, scene, labelstudio).result
    assert not again.changed and again.units_added == again.units_updated == again.units_deleted == 0
    assert again.units_skipped == 5
    assert (len(unit_rows(session, scene.version.id or 0)), _events(session)) == before

    # Alice corrects her box: the task's updated_at moves (what the pull filters on) ...
    time.sleep(1.1)
    mark = datetime.now(UTC)
    edited = labelstudio.client(scene.ls_alice).annotations.update(
        id=made["a0"].id, result=[box("b1", "car", 12, 10, 25, 20), choice("c1", "sunny")], lead_time=15.0
    )
    assert [t["id"] for t in tasks_since(labelstudio.client(), project=scene.ls_project, since=mark)] == [
        scene.tasks["images/000.png"]
    ]
    # ... and the pull supersedes exactly that unit's labels.
    second = _pull(session, scene, labelstudio).result
    assert (second.units_added, second.units_updated, second.units_deleted) == (0, 1, 0)
    assert second.labels_written == 2 and second.tombstones == 0
    rows2 = unit_rows(session, scene.version.id or 0)
    new = rows2[len(rows) :]
    old_ids = {x["id"] for x in a0}
    assert {x["supersedes_id"] for x in new} == old_ids  # car by car, sunny by sunny
    assert all(x["annotator_id"] == scene.alice.id for x in new)
    assert {x["made"]["updated"] for x in new} == {iso_utc(edited.updated_at.isoformat())}
    assert {x["made"]["lead_time"] for x in new} == {15.0}
    assert len(live(rows2)) == len(live(rows))  # nothing overwritten: old rows stay, superseded

    # Bob's annotation is deleted on the server: its task moves again, the pull leaves a tombstone.
    time.sleep(1.1)
    mark = datetime.now(UTC)
    labelstudio.client(scene.ls_bob).annotations.delete(id=made["b0"].id)
    assert [t["id"] for t in tasks_since(labelstudio.client(), project=scene.ls_project, since=mark)] == [
        scene.tasks["images/000.png"]
    ]
    third = _pull(session, scene, labelstudio).result
    assert (third.units_deleted, third.tombstones, third.labels_written) == (1, 1, 0)
    rows3 = unit_rows(session, scene.version.id or 0)
    tomb = rows3[-1]
    assert tomb["geometry_type"] == "deleted" and tomb["supersedes_id"] == b0[0]["id"]
    assert tomb["annotator_id"] == scene.bob.id
    assert not any(x["made"]["ref"] == f"annotation:{made['b0'].id}" for x in live(rows3))
    # and pulling again writes nothing
    assert not _pull(session, scene, labelstudio).result.changed


def test_pull_refuses_an_author_it_cannot_map_and_writes_nothing(
    session: Session, labelstudio: LabelStudioServer
) -> None:
    scene = build(session, labelstudio)
    stranger = labelstudio.user(f"stranger-{scene.ls_project}@example.test")
    labelstudio.client(stranger).annotations.create(
        id=scene.tasks["images/003.png"], result=[box("s1", "car", 1, 1, 5, 5)]
    )
    with pytest.raises(InvalidInput, match=f"{stranger.id} <{stranger.email}>"):
        _pull(session, scene, labelstudio)
    session.rollback()
    assert unit_rows(session, scene.version.id or 0) == []
    # an explicit map names the labelgate user
    pulled = _pull(session, scene, labelstudio, user_map={stranger.email: "bob"})
    assert pulled.result.authors == {str(stranger.id): "bob"}


def test_agreement_and_a_golden_seed_from_work_pulled_from_the_server(
    db_url: str, tmp_path: Path, labelstudio: LabelStudioServer
) -> None:
    """Alice and Bob label the same two images on the server (Bob marks one annotation as ground truth); after
    a pull the annotator report measures their agreement and speed from what the server recorded, and Bob's
    ground truth seeds a golden set holding exactly that image and his labels."""
    import krippendorff
    import numpy as np

    from lineage.db import make_engine
    from lineage.gates.golden_seed import seed_golden
    from lineage.labels.labelset import count_live
    from lineage.models import Dataset, DatasetVersion, Item
    from lineage.reports.annotator_report import annotator_report

    settings = Settings(workspace=tmp_path / "ws", database_url=db_url, env="test")
    init_workspace(settings)
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        scene = build(session, labelstudio, repo_dir=settings.repo_dir, image_dir=tmp_path / "images")
        alice, bob = labelstudio.client(scene.ls_alice), labelstudio.client(scene.ls_bob)
        t0, t1 = scene.tasks["images/000.png"], scene.tasks["images/001.png"]
        alice.annotations.create(id=t0, result=[box("a1", "car", 10, 10, 20, 20), box("a2", "person", 60, 50, 10, 30)],
                                 lead_time=20.0)  # fmt: skip
        alice.annotations.create(id=t1, result=[box("a3", "car", 40, 40, 20, 20)], lead_time=40.0)
        bob.annotations.create(id=t0, result=[box("b1", "car", 11, 10, 20, 20), box("b2", "car", 60, 50, 10, 30)],
                               lead_time=50.0, ground_truth=True)  # fmt: skip
        bob.annotations.create(id=t1, result=[box("b3", "car", 40, 41, 20, 20)], lead_time=70.0)
        assert _pull(session, scene, labelstudio).result.units_added == 4
        dataset = session.get(Dataset, scene.version.dataset_id)
        assert dataset is not None
        report = annotator_report(session, dataset=dataset, version=scene.version, golden=None, trend=False)
        rows = {a.annotator: a for a in report.annotators}
        assert rows["alice"].seconds_per_image == 30.0 and rows["bob"].seconds_per_image == 60.0
        # Agreement: the boxes pair up by IoU; alice's person is bob's car on image 0, the rest agree.
        # Krippendorff's alpha (nominal) of those three units, by the reference implementation:
        expected = krippendorff.alpha(
            reliability_data=np.array([[0, 1, 0], [0, 0, 0]], dtype=float), level_of_measurement="nominal"
        )
        assert rows["alice"].alpha == pytest.approx(expected) and rows["bob"].alpha == pytest.approx(expected)
        golden = seed_golden(session, actor=actor_for(scene.world.users["ml_engineer"]), source=scene.version,
                             repo_dir=settings.repo_dir, name="ls-truth")  # fmt: skip
        session.commit()
        gv = session.get(DatasetVersion, golden.dataset_version_id)
        assert gv is not None
        uris = [i.uri for i in session.exec(select(Item).where(Item.dataset_version_id == gv.id))]
        assert uris == ["images/000.png"] and count_live(session, version_id=gv.id or 0) == 2
    engine.dispose()


# --- webhooks ---------------------------------------------------------------------------------------------

SECRET = "s3cret-for-labelstudio-webhooks"


def _wait_for(check: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not recorded after {timeout:.0f} s: {what}")
        time.sleep(0.2)


def test_webhooks_record_created_updated_deleted_as_they_happen(
    db_url: str, tmp_path: Path, labelstudio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lineage.db import make_engine

    settings = Settings(workspace=tmp_path / "ws", database_url=db_url, env="test")
    init_workspace(settings)
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        scene = build(session, labelstudio)
        # a first pull introduces the authors: a webhook names them by Label Studio id only
        labelstudio.client(scene.ls_alice).annotations.create(
            id=scene.tasks["images/005.png"], result=[choice("c0", "rainy")]
        )
        _pull(session, scene, labelstudio)
        pid = scene.world.project.id
    monkeypatch.setenv("LABELGATE_LABELSTUDIO_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("LABELGATE_LABELSTUDIO_WEBHOOK_USER", "ml_engineer_user")
    with serving(settings.workspace, db_url, tmp_path / "api.log") as served:
        hook = f"{served.url}/api/v1/webhooks/labelstudio/{pid}/pets/v1"
        events = ["ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]
        labelstudio.client().webhooks.create(
            url=hook,
            project=scene.ls_project,
            send_payload=True,
            send_for_all_actions=False,
            headers={"X-Labelgate-Secret": SECRET},
            actions=events,
            is_active=True,
        )

        def rows_of(ref: str) -> list[dict[str, Any]]:
            with Session(engine) as s:
                return [r for r in unit_rows(s, scene.version.id or 0) if r["made"]["ref"] == ref]

        alice = labelstudio.client(scene.ls_alice)
        t4 = scene.tasks["images/004.png"]
        created = alice.annotations.create(id=t4, result=[box("w1", "person", 20, 20, 10, 40)], lead_time=7.0)
        ref = f"annotation:{created.id}"
        first = _wait_for(lambda: rows_of(ref), "ANNOTATION_CREATED")
        assert [(x["category"], x["kind"], x["annotator_id"]) for x in first] == [("person", "human", scene.alice.id)]
        assert first[0]["made"]["lead_time"] == 7.0

        alice.annotations.update(id=created.id, result=[box("w1", "car", 20, 20, 10, 40)])
        second = _wait_for(lambda: [x for x in rows_of(ref) if x["supersedes_id"] is not None], "ANNOTATION_UPDATED")
        assert second[0]["supersedes_id"] == first[0]["id"] and second[0]["category"] == "car"
        assert len(rows_of(ref)) == 2  # the first label stays, superseded

        alice.annotations.delete(id=created.id)
        tomb = _wait_for(lambda: [x for x in rows_of(ref) if x["geometry_type"] == "deleted"], "ANNOTATIONS_DELETED")
        assert tomb[0]["supersedes_id"] == second[0]["id"]

        # refused: no secret, a wrong one; an unknown author; an image the version does not hold
        another = alice.annotations.create(id=t4, result=[box("w2", "car", 1, 1, 5, 5)])
        payload = _created_payload(labelstudio, another.id)
        _wait_for(lambda: rows_of(f"annotation:{another.id}"), "second ANNOTATION_CREATED")
        with Session(engine) as s:
            before = (len(unit_rows(s, scene.version.id or 0)), _events(s))
        for headers in ({}, {"X-Labelgate-Secret": SECRET + "x"}):
            answer = httpx.post(hook, json=payload, headers=headers)
            assert answer.status_code == 401, answer.text
        stranger = labelstudio.user(f"stranger-hook-{scene.ls_project}@example.test")
        foreign = {**payload, "annotation": {**payload["annotation"], "id": 10**6, "completed_by": stranger.id}}
        answer = httpx.post(hook, json=foreign, headers={"X-Labelgate-Secret": SECRET})
        assert answer.status_code == 422 and f"labelgate user: {stranger.id};" in answer.text, answer.text
        elsewhere = {**payload, "annotation": {**payload["annotation"], "id": 10**6 + 1}}
        elsewhere["task"] = {**payload["task"], "data": {"image": "images/not-there.png"}}
        answer = httpx.post(hook, json=elsewhere, headers={"X-Labelgate-Secret": SECRET})
        assert answer.status_code == 422 and "not-there.png" in answer.text, answer.text
        with Session(engine) as s:
            assert (len(unit_rows(s, scene.version.id or 0)), _events(s)) == before
        # the same event delivered twice is recorded once
        answer = httpx.post(hook, json=payload, headers={"X-Labelgate-Secret": SECRET})
        assert answer.status_code == 200 and answer.json()["recorded"] is False, answer.text
    engine.dispose()


def _created_payload(ls: LabelStudioServer, annotation_id: int) -> dict[str, Any]:
    """An ANNOTATION_CREATED event as Label Studio builds it (its annotation and task as the API gives them)."""
    with ls.http() as api:
        annotation = api.get(f"/api/annotations/{annotation_id}/").json()
        task = api.get(f"/api/tasks/{annotation['task']}/").json()
    task = {k: v for k, v in task.items() if k not in ("annotations", "predictions", "drafts")}
    return {"action": "ANNOTATION_CREATED", "annotation": annotation, "task": task, "project": {"id": task["project"]}}


def test_cli_pull_prints_what_it_did_per_author(
    db_url: str, tmp_path: Path, labelstudio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from lineage.db import make_engine
    from service.cli.main import app
    from service.settings import get_settings

    settings = Settings(workspace=tmp_path / "ws", database_url=db_url, env="test")
    init_workspace(settings)
    engine = make_engine(db_url)
    with Session(engine, expire_on_commit=False) as session:
        scene = build(session, labelstudio)
    engine.dispose()
    _annotate(scene, labelstudio)
    for key, value in {"LABELGATE_WORKSPACE": str(settings.workspace), "LABELGATE_DATABASE_URL": db_url}.items():
        monkeypatch.setenv(key, value)
    for key in ("LABELGATE_SERVER", "LABELGATE_TOKEN", "LABEL_STUDIO_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    args = ["pull", "labelstudio", "pets@v1", "--url", labelstudio.url, "--project", str(scene.ls_project)]
    args += ["--in", "alpha"]
    runner = CliRunner()
    try:
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2 and "LABEL_STUDIO_API_KEY" in refused.output, refused.output
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-a-token")
        wrong = runner.invoke(app, args)
        assert wrong.exit_code == 2 and "refused the access token" in wrong.output, wrong.output
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", labelstudio.admin.token)
        done = runner.invoke(app, args)
        assert done.exit_code == 0, done.output
        assert "units 5 added, 0 updated, 0 skipped, 0 deleted (6 labels written, 0 tombstones)" in done.output
        assert "  alice: 2 new or changed unit(s)" in done.output and "  bob: 1 new or changed unit(s)" in done.output
        assert "  (predictions): 2 new or changed unit(s)" in done.output
        again = runner.invoke(app, args)
        assert again.exit_code == 0 and "units 0 added, 0 updated, 5 skipped, 0 deleted" in again.output
    finally:
        get_settings.cache_clear()
