"""Gates on the record and the release flow, end to end through the API, on SQLite and PostgreSQL.

The scenario (``service.demo.scenario``) is a real labelling history: DVC-versioned images, a golden set,
three annotators, and two detector-labelled versions, one the default policy blocks and one it passes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session

from lineage import identity
from lineage.datasets.dvcrepo import git
from lineage.models import Role, User
from lineage.release.bundle import load_public_key, verify_bundle
from service.api.app import create_app
from service.demo.scenario import GateScenario
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_gate_world

SECRET = "correct horse battery"


@dataclass
class Flow:
    client: TestClient
    world: World
    scenario: GateScenario
    settings: Settings
    engine: Engine

    def url(self, version: str, tail: str = "") -> str:
        return f"/api/v1/projects/{self.world.project.id}/datasets/street/versions/{version}{tail}"

    def as_(self, who: str) -> dict[str, str]:
        return self.world.headers(who)


@pytest.fixture
def flow(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[Flow]:
    init_workspace(settings)
    with Session(engine, expire_on_commit=False) as s:
        world, scenario = make_gate_world(s, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret=SECRET)
        s.commit()
    with TestClient(create_app(settings, engine=engine)) as client:
        yield Flow(client, world, scenario, settings, engine)


def _to_candidate(f: Flow, version: str) -> None:
    r = f.client.post(f.url(version, "/state"), json={"state": "candidate"}, headers=f.as_("ml_engineer"))
    assert r.status_code == 200, r.text


def _evaluate(f: Flow, version: str, who: str = "ci") -> dict[str, Any]:
    r = f.client.post(f.url(version, "/evaluations"), json={"policy": "default"}, headers=f.as_(who))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _sign(f: Flow, version: str, secret: str = SECRET, who: str = "compliance_officer") -> Any:
    return f.client.post(
        f.url(version, "/approvals"), json={"meaning": "approval", "signing_secret": secret}, headers=f.as_(who)
    )


def _audit_actions(f: Flow) -> list[str]:
    with Session(f.engine) as s:
        return [row[0] for row in s.exec(text("SELECT action FROM audit_events ORDER BY seq"))]  # type: ignore[call-overload]


def test_gates_block_the_weak_version_and_pass_the_good_one(flow: Flow) -> None:
    blocked, passing = _evaluate(flow, "v2"), _evaluate(flow, "v3")
    assert blocked["passed"] is False and passing["passed"] is True
    blocking = {g["name"] for g in blocked["gates"] if not g["passed"]}
    assert {"recall", "golden_set_error"} <= blocking
    assert all(g["explanation"] for g in blocked["gates"])
    assert {"version.dvc", "version.manifest", "golden.manifest"} <= set(passing["data_hashes"])
    evidence = passing["evidence"]
    classes = sorted(evidence["pr_curves"])
    assert len(classes) == 5 and evidence["confusion_matrix"]["labels"][-1] == "background"
    for curve in evidence["pr_curves"].values():
        thr = curve["thresholds"]
        assert thr == sorted(thr, reverse=True) and len(thr) <= 200
        recall = [r for r in curve["recall"] if r is not None]
        assert recall == sorted(recall)  # recall only grows as the threshold comes down
    matrix = evidence["confusion_matrix"]["matrix"]
    assert len(matrix) == 6 and all(len(row) == 6 for row in matrix)
    with Session(flow.engine) as s:
        golden_boxes = s.exec(  # type: ignore[call-overload]
            text("SELECT count(*) FROM annotations WHERE dataset_version_id = :v"),
            params={"v": flow.scenario.golden.dataset_version_id},
        ).one()[0]
    assert sum(sum(row) for row in matrix[:5]) == golden_boxes  # every golden box counted once
    listed = flow.client.get(flow.url("v2", "/evaluations"), headers=flow.as_("annotator")).json()
    assert [e["id"] for e in listed] == [blocked["id"]]
    assert _audit_actions(flow).count("gate.evaluate") == 2
    r = flow.client.get(flow.url("v3", "/reports/gate-report.junit.xml"), headers=flow.as_("ci"))
    assert r.status_code == 200 and "<testsuite" in r.text and 'failures="0"' in r.text and "<failure" not in r.text


def test_annotators_cannot_run_gates_and_unknown_policy_is_404(flow: Flow) -> None:
    r = flow.client.post(flow.url("v3", "/evaluations"), json={"policy": "default"}, headers=flow.as_("annotator"))
    assert r.status_code == 403
    r = flow.client.post(flow.url("v3", "/evaluations"), json={"policy": "nope"}, headers=flow.as_("ci"))
    assert r.status_code == 404 and r.json()["error"]["field"] == "policy"


def test_release_refusals_name_what_to_fix(flow: Flow) -> None:
    ml = flow.as_("ml_engineer")
    r = flow.client.post(flow.url("v3", "/release"), headers=ml)
    assert r.status_code == 409 and "only a candidate" in r.json()["error"]["message"]
    _to_candidate(flow, "v3")
    r = flow.client.post(flow.url("v3", "/release"), headers=ml)
    assert r.status_code == 409 and "no gate evaluation" in r.json()["error"]["message"]
    _to_candidate(flow, "v2")
    _evaluate(flow, "v2")
    r = flow.client.post(flow.url("v2", "/release"), headers=ml)
    assert r.status_code == 409 and "blocking gates:" in r.json()["error"]["message"]
    assert "recall" in r.json()["error"]["message"]
    _evaluate(flow, "v3")
    r = flow.client.post(flow.url("v3", "/release"), headers=ml)
    assert r.status_code == 409 and "needs 1 approval(s)" in r.json()["error"]["message"]
    assert _sign(flow, "v3").status_code == 201
    # A label added after the evaluation: the evidence no longer holds, and the signature no longer counts.
    item = flow.client.get(flow.url("v3", "/annotations"), headers=ml).json()["items"][0]
    r = flow.client.post(
        flow.url("v3", "/annotations/bulk"),
        json={"annotations": [{"item_id": item["item_id"], "category": "car", "bbox": [1, 1, 5, 5]}]},
        headers=flow.as_("annotator"),
    )
    assert r.status_code == 201, r.text
    r = flow.client.post(flow.url("v3", "/release"), headers=ml)
    assert r.status_code == 409 and "version.manifest changed after evaluation" in r.json()["error"]["message"]


def test_signatures_reauthenticate_snapshot_the_name_and_enforce_four_eyes(flow: Flow) -> None:
    _to_candidate(flow, "v3")
    _evaluate(flow, "v3")
    r = _sign(flow, "v3", secret="wrong secret")
    assert r.status_code == 403 and r.json()["error"]["field"] == "secret"
    assert "signature.refused" in _audit_actions(flow)
    # four-eyes: alice labelled v3; made a compliance officer, she still may not approve it
    with Session(flow.engine) as s:
        alice = s.exec(text("SELECT id FROM users WHERE username = 'alice'")).one()[0]  # type: ignore[call-overload]
        user = s.get(User, alice)
        assert user is not None
        identity.add_member(
            s, actor=actor_for(flow.world.admin), project=flow.world.project, user=user, role=Role.compliance_officer
        )
        identity.set_signing_secret(s, actor=actor_for(flow.world.admin), user=user, secret=SECRET, operator=True)
        token = identity.issue_token(s, actor=None, user=user, name="t").token
        s.commit()
    r = flow.client.post(
        flow.url("v3", "/approvals"),
        json={"meaning": "approval", "signing_secret": SECRET},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403 and "four-eyes" in r.json()["error"]["message"]
    r = _sign(flow, "v3")
    assert r.status_code == 201
    signed = r.json()
    assert signed["printed_name"] == "Compliance Officer User" and signed["meaning"] == "approval"
    assert _sign(flow, "v3").status_code == 409  # once per meaning
    with Session(flow.engine) as s:
        s.exec(text("UPDATE users SET full_name = 'Renamed Person' WHERE username = 'compliance_officer_user'"))  # type: ignore[call-overload]
        s.commit()
    listed = flow.client.get(flow.url("v3", "/approvals"), headers=flow.as_("reviewer")).json()
    assert [a["printed_name"] for a in listed] == ["Compliance Officer User"]
    r = flow.client.put(
        "/api/v1/me/signing-secret", json={"secret": "new secret 123"}, headers=flow.as_("compliance_officer")
    )
    assert r.status_code == 403  # replacing a secret needs the current one, a token is not enough


def test_release_writes_a_signed_bundle_tags_git_and_refuses_a_second_release(flow: Flow) -> None:
    _to_candidate(flow, "v3")
    _evaluate(flow, "v3")
    assert _sign(flow, "v3").status_code == 201
    r = flow.client.post(flow.url("v3", "/release"), headers=flow.as_("ml_engineer"))
    assert r.status_code == 201, r.text
    release = r.json()
    assert release["git_tag"] == f"release/p{flow.world.project.id}/street/v3"
    assert git(flow.settings.repo_dir, "tag", "--list", release["git_tag"]) == release["git_tag"]
    bundle = flow.client.get(flow.url("v3", "/bundle"), headers=flow.as_("compliance_officer")).json()
    assert flow.settings.signing_key_path is not None
    key = load_public_key(flow.settings.signing_key_path.with_suffix(".pub.pem"))
    check = verify_bundle(bundle, public_key=key)
    assert check.ok, check.problems
    content = bundle["content"]
    assert content["evaluation"]["passed"] is True and content["approvals"][0]["meaning"] == "approval"
    assert content["audit_head"]["seq"] == release["audit_head_seq"]
    assert content["dataset"]["dvc_hash"] and content["policy"]["yaml"].startswith("# The demo's gate policy")
    content["evaluation"]["gates"][0]["value"] = 0.0
    assert "content.evaluation.gates[0].value was changed" in verify_bundle(bundle, public_key=key).problems
    r = flow.client.post(flow.url("v3", "/release"), headers=flow.as_("ml_engineer"))
    assert r.status_code == 409
    html = flow.client.get(flow.url("v3", "/reports/governance.html"), headers=flow.as_("compliance_officer")).text
    for heading in ("10(2)(a)", "10(2)(b)", "10(2)(c)", "10(2)(h)", "10(3)", "Compliance Officer User", "alice"):
        assert heading in html
    trail = flow.client.get(
        f"/api/v1/projects/{flow.world.project.id}/reports/audit-trail.html", headers=flow.as_("compliance_officer")
    ).text
    assert "release.create" in trail and "signature.sign" in trail


def test_a_failure_inside_the_release_leaves_no_release_and_no_tag(flow: Flow, monkeypatch: pytest.MonkeyPatch) -> None:
    _to_candidate(flow, "v3")
    _evaluate(flow, "v3")
    assert _sign(flow, "v3").status_code == 201

    def crash(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk full while signing")

    monkeypatch.setattr("lineage.release.releases.sign_bundle", crash)
    client = TestClient(create_app(flow.settings, engine=flow.engine), raise_server_exceptions=False)
    r = client.post(flow.url("v3", "/release"), headers=flow.as_("ml_engineer"))
    assert r.status_code == 500
    state = flow.client.get(flow.url("v3"), headers=flow.as_("ml_engineer")).json()["state"]
    assert state == "candidate"
    assert git(flow.settings.repo_dir, "tag", "--list", "release/*") == ""
    with Session(flow.engine) as s:
        assert s.exec(text("SELECT count(*) FROM releases")).one()[0] == 0  # type: ignore[call-overload]
    monkeypatch.undo()
    assert flow.client.post(flow.url("v3", "/release"), headers=flow.as_("ml_engineer")).status_code == 201


def test_two_concurrent_releases_exactly_one_wins(flow: Flow) -> None:
    _to_candidate(flow, "v3")
    _evaluate(flow, "v3")
    assert _sign(flow, "v3").status_code == 201
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def attempt() -> None:
        client = TestClient(create_app(flow.settings, engine=flow.engine))
        barrier.wait()
        codes.append(client.post(flow.url("v3", "/release"), headers=flow.as_("ml_engineer")).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 409]
    with Session(flow.engine) as s:
        assert s.exec(text("SELECT count(*) FROM releases")).one()[0] == 1  # type: ignore[call-overload]


def test_reject_needs_a_reason_and_is_open_to_compliance(flow: Flow) -> None:
    _to_candidate(flow, "v2")
    r = flow.client.post(flow.url("v2", "/reject"), json={"reason": ""}, headers=flow.as_("compliance_officer"))
    assert r.status_code == 422
    r = flow.client.post(
        flow.url("v2", "/reject"), json={"reason": "recall too low"}, headers=flow.as_("compliance_officer")
    )
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    r = flow.client.post(flow.url("v2", "/reject"), json={"reason": "x"}, headers=flow.as_("annotator"))
    assert r.status_code == 403
