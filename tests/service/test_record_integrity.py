"""The record after a real release, attacked by a database writer (triggers dropped): every finding of
issue 10 tried once more end to end, on SQLite and PostgreSQL, through the API and the checks users run.

- a failing evaluation flipped to passed → deep verify names the row; the release re-verification names
  the bundle field it contradicts;
- an approval inserted directly → deep verify names it, and it does not count toward a release;
- a released label's class changed → deep verify names the row, verify-release the manifest;
- the chain rewritten after the release, or its tail dropped → named against the signed checkpoints;
- a policy that relaxes the release rules, stored by the ML engineer → the floor still applies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from tests.service import test_release_flow as release_flow
from tests.service.test_release_flow import Flow, _evaluate, _sign, _to_candidate
from tests.tamper import rewrite_chain, tamper, tamper_unchecked

flow = release_flow.flow  # the same fixture: a real workspace, a gate scenario, an API client


def _release_v3(f: Flow) -> dict[str, object]:
    _to_candidate(f, "v3")
    _evaluate(f, "v3")
    assert _sign(f, "v3").status_code == 201
    r = f.client.post(f.url("v3", "/release"), headers=f.as_("ml_engineer"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _verify(client: TestClient, f: Flow, *, deep: bool = True) -> dict[str, object]:
    r = client.get("/api/v1/audit/verify", params={"deep": deep}, headers=f.as_("compliance_officer"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _reverify(f: Flow) -> dict[str, object]:
    r = f.client.get(f.url("v3", "/release/verify"), headers=f.as_("compliance_officer"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_an_honest_release_verifies_everywhere(flow: Flow) -> None:
    _release_v3(flow)
    report = _verify(flow.client, flow)
    assert report["ok"] is True, (report["row_problems"], report["problems"], report["reason"])
    assert report["checkpoints"] >= 1 and report["row_problems"] == []
    assert report["rows_checked"]["annotations"] > 0 and report["rows_checked"]["approvals"] == 1
    check = _reverify(flow)
    assert check["ok"] is True and "item bytes" in check["checked"], check
    # A checkpoint was committed to the workspace's git on the release.
    assert list((flow.settings.repo_dir / "audit" / "checkpoints").glob("*.json"))


def test_a_flipped_evaluation_is_named(flow: Flow) -> None:
    blocked = _evaluate(flow, "v2")
    released = _release_v3(flow)
    tamper(flow.engine, "UPDATE gate_evaluations SET passed = :t WHERE id = :i", t=True, i=blocked["id"])
    problems = _verify(flow.client, flow)["row_problems"]
    assert any(p.startswith(f"gate_evaluations #{blocked['id']}") and "edited" in p for p in problems), problems
    # The evaluation a release rests on, flipped the other way: verify-release names the field.
    tamper(
        flow.engine,
        "UPDATE gate_evaluations SET passed = :f WHERE id = (SELECT evaluation_id FROM releases WHERE id = :r)",
        f=False,
        r=released["id"],
    )
    check = _reverify(flow)
    assert check["ok"] is False and any(d.startswith("evaluation.passed") for d in check["differences"]), check


def test_an_inserted_approval_is_named_and_does_not_count(flow: Flow) -> None:
    _to_candidate(flow, "v3")
    _evaluate(flow, "v3")
    with Session(flow.engine) as s:
        vid = s.execute(text("SELECT id FROM dataset_versions WHERE version = 'v3'")).scalar()
        signer = flow.world.users["reviewer"].id
    tamper(
        flow.engine,
        "INSERT INTO approvals (dataset_version_id, content_hash, signer_id, printed_name, role, meaning,"
        " signed_at, signature_hash) VALUES (:v, :h, :s, 'Reviewer User', 'reviewer', 'approval', :t, :sig)",
        v=vid,
        h="0" * 64,
        s=signer,
        t="2026-01-01 00:00:00.000000",
        sig="f" * 64,
    )
    problems = _verify(flow.client, flow)["row_problems"]
    assert any(p.startswith("approvals #") and "inserted" in p for p in problems), problems
    r = flow.client.post(flow.url("v3", "/release"), headers=flow.as_("ml_engineer"))
    assert r.status_code == 409 and "approval" in r.json()["error"]["message"]


def test_a_changed_released_label_is_named(flow: Flow) -> None:
    _release_v3(flow)
    with Session(flow.engine) as s:
        target, category = s.execute(
            text(
                "SELECT a.id, a.category FROM annotations a JOIN dataset_versions v ON v.id = a.dataset_version_id"
                " WHERE v.version = 'v3' ORDER BY a.id LIMIT 1"
            )
        ).one()
    other = "person" if category != "person" else "car"
    tamper(flow.engine, "UPDATE annotations SET category = :c WHERE id = :i", c=other, i=target)
    problems = _verify(flow.client, flow)["row_problems"]
    assert any(p.startswith(f"annotations #{target}") for p in problems), problems
    check = _reverify(flow)
    assert any(d.startswith("dataset.manifest_hash") for d in check["differences"]), check


def test_chain_rewritten_or_truncated_after_the_release_is_named(flow: Flow, tmp_path: Path) -> None:
    released = _release_v3(flow)
    head_seq = int(released["audit_head_seq"])  # type: ignore[call-overload]
    rewrite_chain(flow.engine, from_seq=2)
    report = _verify(flow.client, flow, deep=False)
    assert report["ok"] is False and report["kind"] == "rewritten" and report["broken_seq"] <= head_seq + 5


def test_truncation_after_the_release_is_named(flow: Flow) -> None:
    _release_v3(flow)
    tamper(flow.engine, "DELETE FROM audit_events WHERE seq > 3")
    report = _verify(flow.client, flow, deep=False)
    assert report["ok"] is False and report["kind"] == "truncated"


def test_a_relaxed_policy_does_not_let_one_person_release_alone(flow: Flow) -> None:
    relaxed = (Path(__file__).resolve().parents[2] / "policies" / "default.yaml").read_text()
    relaxed = relaxed.replace("name: default", "name: relaxed").replace("approvals: 1", "approvals: 0")
    relaxed = relaxed.replace("four_eyes: true", "four_eyes: false")
    ml = flow.as_("ml_engineer")
    r = flow.client.post(f"/api/v1/projects/{flow.world.project.id}/policies", json={"yaml": relaxed}, headers=ml)
    assert r.status_code in (200, 201), r.text
    _to_candidate(flow, "v3")
    r = flow.client.post(flow.url("v3", "/evaluations"), json={"policy": "relaxed"}, headers=ml)
    assert r.status_code == 201 and r.json()["passed"] is True, r.text
    r = flow.client.post(flow.url("v3", "/release"), headers=ml)
    assert r.status_code == 409 and "approval" in r.json()["error"]["message"], r.text


# One row of each append-only table after a release: an edit of one column and a deletion, each named
# by deep verify with the table, the row and the kind.
EDITS = {
    "approvals": "UPDATE approvals SET printed_name = 'Mallory' WHERE id = (SELECT min(id) FROM approvals)",
    "gate_evaluations": "UPDATE gate_evaluations SET policy_hash = 'x' WHERE id = (SELECT min(id)"
    " FROM gate_evaluations)",
    "releases": "UPDATE releases SET git_tag = 'forged' WHERE id = (SELECT min(id) FROM releases)",
    "reviews": "UPDATE reviews SET comment = 'forged' WHERE id = (SELECT min(id) FROM reviews)",
    "memberships": "UPDATE memberships SET role = 'admin' WHERE id = (SELECT max(id) FROM memberships)",
    "api_tokens": "UPDATE api_tokens SET name = 'forged' WHERE id = (SELECT max(id) FROM api_tokens)",
    "golden_sets": "UPDATE golden_sets SET name = 'forged' WHERE id = (SELECT min(id) FROM golden_sets)",
    "annotations": "UPDATE annotations SET x = x + 1 WHERE id = (SELECT max(id) FROM annotations)",
}


@pytest.mark.parametrize("table", sorted(EDITS))
@pytest.mark.parametrize("action", ["edit", "delete"])
def test_every_append_only_table_names_edits_and_deletions(flow: Flow, table: str, action: str) -> None:
    _release_v3(flow)
    assert _verify(flow.client, flow)["ok"] is True
    if action == "edit":
        assert tamper(flow.engine, EDITS[table]) == 1
    else:
        pick = "max" if table in {"memberships", "api_tokens", "annotations"} else "min"
        assert tamper_unchecked(flow.engine, f"DELETE FROM {table} WHERE id = (SELECT {pick}(id) FROM {table})") == 1
    problems = _verify(flow.client, flow)["row_problems"]
    want = "edited" if action == "edit" else "deleted"
    assert any(p.startswith(table) and f": {want}:" in p for p in problems), problems
