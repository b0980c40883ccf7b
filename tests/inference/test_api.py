"""The auto-labelling API (roles, 202 + worker, review queue) and the DB-polling worker."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from inference.calibrate import calibrate
from lineage.db import session_scope
from lineage.models import AutoLabelRun, RunState
from service.api.app import create_app
from service.worker import run_worker
from tests.inference.conftest import POOL_ITEMS, Env


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings, engine=env.engine)) as c:
        yield c


def _h(env: Env, who: str) -> dict[str, str]:
    return env.world.headers(who)


def _body(env: Env, **kw: object) -> dict[str, object]:
    return {
        "version": env.shapes.pool,
        "model": env.model_ref,
        "threshold": 0.3,
        "batch_size": 8,
        "device": "cpu",
        **kw,
    }


def test_only_ml_engineers_queue_runs_and_other_projects_do_not_exist(env: Env, api: TestClient) -> None:
    url = f"/api/v1/projects/{env.project_id}/autolabel-runs"
    expected = {"annotator": 403, "reviewer": 403, "compliance_officer": 403, "ci": 403, "outsider": 404}
    for who, status in expected.items():
        r = api.post(url, json=_body(env), headers=_h(env, who))
        assert r.status_code == status, (who, r.text)
    first = api.post(url, json=_body(env), headers=_h(env, "ml_engineer"))
    assert first.status_code == 202 and first.json()["state"] == "queued" and not first.json()["reused"]
    again = api.post(url, json=_body(env), headers=_h(env, "admin"))
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"] and again.json()["reused"]
    r = api.post(url, json=_body(env, surprise=1), headers=_h(env, "ml_engineer"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "surprise"
    r = api.post(url, json=_body(env, device="gpu0"), headers=_h(env, "ml_engineer"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "device"
    r = api.post(url, json=_body(env, model="ghost@1"), headers=_h(env, "ml_engineer"))
    assert r.status_code == 404 and "ghost@1" in r.json()["error"]["message"]
    r = api.get(f"{url}/{first.json()['id']}", headers=_h(env, "reviewer"))
    assert r.status_code == 403
    for who in ("ml_engineer", "reviewer"):
        assert api.get(f"/api/v1/projects/{env.project_id}/review-queue", headers=_h(env, who)).status_code == 200
    assert api.get(f"/api/v1/projects/{env.project_id}/review-queue", headers=_h(env, "annotator")).status_code == 403


def test_queue_by_api_execute_by_worker_then_review(env: Env, api: TestClient) -> None:
    p = f"/api/v1/projects/{env.project_id}"
    run = api.post(f"{p}/autolabel-runs", json=_body(env, review_band=0.29), headers=_h(env, "ml_engineer")).json()
    assert run["items_done"] == 0 and run["items_total"] == POOL_ITEMS
    assert run_worker(env.settings, engine=env.engine, once=True, report=lambda _: None) == 1
    done = api.get(f"{p}/autolabel-runs/{run['id']}", headers=_h(env, "ml_engineer")).json()
    assert done["state"] == "succeeded" and done["items_done"] == POOL_ITEMS and done["images_per_s"] > 0
    listed = api.get(f"{p}/autolabel-runs", headers=_h(env, "ml_engineer")).json()
    assert [r["id"] for r in listed] == [run["id"]]

    queue = api.get(f"{p}/review-queue", params={"run_id": run["id"]}, headers=_h(env, "reviewer")).json()
    assert queue and [q["priority"] for q in queue] == sorted(q["priority"] for q in queue)
    entry = next(q for q in queue if q["labels"])
    label = entry["labels"][0]
    assert label["kind"] == "model" and label["autolabel_run_id"] == run["id"] and label["threshold"] == 0.3
    decision = {"annotation_id": label["id"], "decision": "correct", "correction": {"category": "circle"}}
    r = api.post(f"{p}/review-queue/{entry['id']}/decisions", json=decision, headers=_h(env, "ml_engineer"))
    assert r.status_code == 403
    r = api.post(
        f"{p}/review-queue/{entry['id']}/decisions", json={**decision, "resolve": True}, headers=_h(env, "reviewer")
    )
    assert r.status_code == 201 and r.json()["correction_id"] and r.json()["resolved"], r.text
    r = api.get(f"{p}/review-queue/{entry['id']}", headers=_h(env, "reviewer")).json()
    assert r["resolved_at"] is not None and [a["kind"] for a in r["labels"]].count("human") == 1
    assert label["id"] not in [a["id"] for a in r["labels"]]  # superseded by the correction
    other = next(q for q in queue if q["id"] != entry["id"])
    added = api.post(
        f"{p}/review-queue/{other['id']}/labels",
        json={"category": "square", "x": 1, "y": 1, "w": 5, "h": 5},
        headers=_h(env, "reviewer"),
    )
    assert added.status_code == 201 and added.json()["kind"] == "human"
    r = api.post(f"{p}/review-queue/{other['id']}/resolve", json={"note": "done"}, headers=_h(env, "reviewer"))
    assert r.status_code == 200 and r.json()["resolved_at"]
    r = api.post(f"{p}/review-queue/{other['id']}/resolve", json={}, headers=_h(env, "reviewer"))
    assert r.status_code == 409

    sel = f"{p}/autolabel-runs/{run['id']}/active-learning"
    assert api.post(sel, json={"fraction": 0.5}, headers=_h(env, "reviewer")).status_code == 403
    picked = api.post(sel, json={"fraction": 0.5, "diversity": "kmeans"}, headers=_h(env, "ml_engineer"))
    assert picked.status_code == 200 and all(q["reason"] == "active_learning" for q in picked.json())


def test_thresholds_from_a_calibration_record_through_the_api(env: Env, api: TestClient) -> None:
    p = f"/api/v1/projects/{env.project_id}"
    out = calibrate(
        env.engine,
        actor=env.ml,
        project_id=env.project_id,
        model=env.model_ref,
        golden=env.shapes.golden_set,
        repo_dir=env.settings.repo_dir,
        device="cpu",
        target_error=0.2,
        level=0.9,
    )
    record = api.get(f"{p}/calibrations/{out.calibration_id}", headers=_h(env, "ml_engineer"))
    assert record.status_code == 200 and record.json()["golden"] == env.shapes.golden_ref
    assert record.json()["id"] == out.calibration_id and record.json()["report"] == out.report.to_dict()
    assert api.get(f"{p}/calibrations/{out.calibration_id}", headers=_h(env, "reviewer")).status_code == 403
    run = api.post(f"{p}/autolabel-runs", json=_body(env), headers=_h(env, "ml_engineer")).json()
    r = api.put(
        f"{p}/autolabel-runs/{run['id']}/thresholds",
        json={"calibration_id": out.calibration_id, "strategy": "f1"},
        headers=_h(env, "ml_engineer"),
    )
    assert r.status_code == 200 and r.json()["class_thresholds"] == pytest.approx(out.report.thresholds("f1"))
    r = api.put(f"{p}/autolabel-runs/{run['id']}/thresholds", json={}, headers=_h(env, "ml_engineer"))
    assert r.status_code == 422
    both = {"calibration_id": out.calibration_id, "class_thresholds": {"circle": 0.5}}
    r = api.post(f"{p}/autolabel-runs", json=_body(env, **both), headers=_h(env, "ml_engineer"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "calibration_id"
    r = api.put(
        f"{p}/autolabel-runs/{run['id']}/thresholds",
        json={"calibration_id": out.calibration_id + 1000},
        headers=_h(env, "ml_engineer"),
    )
    assert r.status_code == 404
    cancelled = api.post(f"{p}/autolabel-runs/{run['id']}/cancel", headers=_h(env, "ml_engineer"))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert api.post(f"{p}/autolabel-runs/{run['id']}/cancel", headers=_h(env, "ml_engineer")).status_code == 409


def test_models_register_only_from_the_workspace_models_folder(env: Env, api: TestClient) -> None:
    p = f"/api/v1/projects/{env.project_id}/models"
    body = {"name": "api-model", "version": "1", "weights_path": str(env.tiny.weights), "schema_ref": "shapes"}
    r = api.post(p, json=body, headers=_h(env, "ml_engineer"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "weights_path"
    models = env.settings.workspace / "models"
    models.mkdir()
    shutil.copyfile(env.tiny.weights, models / "tiny.pt")
    r = api.post(p, json={**body, "weights_path": "../models/../models/tiny.pt"}, headers=_h(env, "ml_engineer"))
    assert r.status_code == 201, r.text
    assert r.json()["weights_sha256"] == env.tiny.sha256 and r.json()["class_map"]["1"] == "circle"
    assert api.post(p, json={**body, "version": "2"}, headers=_h(env, "reviewer")).status_code == 403
    names = [m["name"] for m in api.get(p, headers=_h(env, "ml_engineer")).json()]
    assert sorted(names) == ["api-model", env.model_ref.split("@")[0]]


def test_the_worker_resumes_orphaned_runs_and_skips_leased_ones(env: Env) -> None:
    run_id = env.queue()
    with session_scope(env.engine) as s:  # as if its executor died after it started
        s.execute(update(AutoLabelRun).where(col(AutoLabelRun.id) == run_id).values(state=RunState.running.value))
    lines: list[str] = []
    assert run_worker(env.settings, engine=env.engine, once=True, report=lines.append) == 1
    with Session(env.engine) as s:
        run = s.get(AutoLabelRun, run_id)
        assert run is not None and run.state == RunState.succeeded and run.items_done == POOL_ITEMS
    assert lines and f"run {run_id} succeeded" in lines[0]
    assert run_worker(env.settings, engine=env.engine, once=True, report=lines.append) == 0
