"""Golden sets bound to policies, and a release resting on one evaluation (issue 10, items 7 and 8).

One scenario (``service.demo.scenario``: street v1/v2/v3, golden set ``street-golden@1`` bound by the default
policy) seen through the CLI (``labelgate gate check``) and the API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from lineage import datasets
from lineage.audit.rowdigest import row_digest
from lineage.gates import register_golden_set
from lineage.labels import NewLabel, Provenance, add_annotations, count_live
from lineage.models import (
    AuditEvent,
    Dataset,
    DatasetVersion,
    GateEvaluation,
    GoldenSet,
    Item,
    ProvenanceKind,
)
from service.api.app import create_app
from service.cli.main import app
from service.demo.scenario import DEFAULT_POLICY_PATH, GateScenario, write_images
from service.demo.synthetic import make_demo
from service.settings import Settings, get_settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, make_gate_world

SECRET = "golden binding secret"
NO_GOLDEN_POLICY = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace("golden: street-golden@1\n", "")


@dataclass
class Env:
    client: TestClient
    world: World
    scenario: GateScenario
    settings: Settings
    engine: Engine
    tmp: Path

    def url(self, version: str, tail: str = "") -> str:
        return f"/api/v1/projects/{self.world.project.id}/datasets/street/versions/{version}{tail}"

    def as_(self, who: str) -> dict[str, str]:
        return self.world.headers(who)

    def evaluation(self, evaluation_id: int) -> GateEvaluation:
        with Session(self.engine) as s:
            found = s.get(GateEvaluation, evaluation_id)
            assert found is not None
            return found

    def golden_sets(self) -> dict[str, GoldenSet]:
        with Session(self.engine) as s:
            return {f"{g.name}@{g.version}": g for g in s.exec(select(GoldenSet))}


@pytest.fixture
def env(settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(settings.workspace))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    init_workspace(settings)
    with Session(engine, expire_on_commit=False) as s:
        world, scenario = make_gate_world(s, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret=SECRET)
        s.commit()
    with TestClient(create_app(settings, engine=engine)) as client:
        yield Env(client, world, scenario, settings, engine, tmp_path)
    get_settings.cache_clear()


def cli(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout, and everything printed (stdout and stderr)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.output


def write_policy(env: Env, text: str, name: str = "policy.yaml") -> str:
    path = env.tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def golden_size(env: Env, golden: GoldenSet) -> tuple[int, int]:
    """(images, live labels) of the golden set's dataset version, counted here independently."""
    with Session(env.engine) as s:
        items = len(list(s.exec(select(Item).where(Item.dataset_version_id == golden.dataset_version_id))))
        labels = count_live(s, version_id=golden.dataset_version_id)
    return items, labels


def second_golden_version(env: Env) -> GoldenSet:
    """``street-golden@2``: a new version of the golden dataset (same images, its labels plus one)."""
    with Session(env.engine, expire_on_commit=False) as s:
        ml = actor_for(env.world.users["ml_engineer"])
        g1 = s.get(DatasetVersion, env.scenario.golden.dataset_version_id)
        assert g1 is not None
        golden_ds = s.get(Dataset, g1.dataset_id)
        assert golden_ds is not None
        g2 = datasets.create_version(
            s, actor=ml, dataset=golden_ds, version="g2", repo_dir=env.settings.repo_dir, parent=g1
        )
        item = s.exec(select(Item).where(Item.dataset_version_id == g2.id).order_by(col(Item.id))).first()
        assert item is not None
        add_annotations(
            s,
            actor=ml,
            version=g2,
            labels=[NewLabel(item_id=item.id or 0, category="person", x=1, y=1, w=4, h=4)],
            provenance=Provenance(kind=ProvenanceKind.synthetic, generator_config_hash="0" * 64),
        )
        golden = register_golden_set(
            s, actor=ml, project_id=env.world.project.id or 0, name="street-golden", version=g2
        )
        s.commit()
        return golden


# ---- golden sets are versioned ---------------------------------------------------------------------------------


def test_registering_under_an_existing_name_makes_the_next_version(env: Env) -> None:
    golden = second_golden_version(env)
    assert (golden.name, golden.version) == ("street-golden", 2)
    with Session(env.engine) as s:  # the same content again: the same version, no new row
        g2 = s.get(DatasetVersion, golden.dataset_version_id)
        assert g2 is not None
        again = register_golden_set(
            s, actor=actor_for(env.world.users["ml_engineer"]), project_id=env.world.project.id or 0,
            name="street-golden", version=g2,
        )  # fmt: skip
        assert again.id == golden.id
        events = [e for e in s.exec(select(AuditEvent).where(AuditEvent.action == "golden_set.register"))]
    assert [e.payload["ref"] for e in events] == ["street-golden@1", "street-golden@2"]
    listed = env.client.get(f"/api/v1/projects/{env.world.project.id}/golden-sets", headers=env.as_("ci")).json()
    assert [(g["name"], g["version"]) for g in listed] == [("street-golden", 1), ("street-golden", 2)]
    code, out, _ = cli("golden", "list", "--project", "alpha")
    assert code == 0 and "street-golden@1" in out and "street-golden@2" in out


# ---- gate check: which golden set ------------------------------------------------------------------------------


def test_gate_check_uses_the_policys_golden_set_and_records_it(env: Env) -> None:
    second_golden_version(env)  # a newer golden set exists: the policy's own is still the one used
    code, out, everything = cli(
        "gate", "check", "alpha/street@v3", "--policy", str(DEFAULT_POLICY_PATH), "--format", "json"
    )
    assert code == 0, everything
    body = json.loads(out)
    golden = env.golden_sets()["street-golden@1"]
    items, labels = golden_size(env, golden)
    assert body["golden_set"]["ref"] == "street-golden@1"
    assert (body["golden_set"]["items"], body["golden_set"]["labels"]) == (items, labels)
    assert items == 20 and labels > 0
    assert body["policy"] == {"name": "default", "version": 1, "hash": body["policy_hash"], "source": None}
    evaluation = env.evaluation(body["evaluation"]["id"])
    assert evaluation.golden_set_id == golden.id and evaluation.passed
    with Session(env.engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "gate.evaluate")).one()
    assert event.payload["golden_set"]["ref"] == "street-golden@1" and event.payload["golden_set"]["id"] == golden.id
    assert event.payload["records"] == [
        {"table": "gate_evaluations", "id": evaluation.id, "digest": row_digest("gate_evaluations", evaluation)}
    ]


def test_golden_overrides_the_policys_golden_set(env: Env) -> None:
    g2 = second_golden_version(env)
    code, out, everything = cli(
        "gate", "check", "alpha/street@v3", "--policy", str(DEFAULT_POLICY_PATH), "--golden", "street-golden@2",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, everything
    body = json.loads(out)
    assert body["golden_set"]["ref"] == "street-golden@2" and body["golden_set"]["labels"] == golden_size(env, g2)[1]
    assert env.evaluation(body["evaluation"]["id"]).golden_set_id == g2.id
    r = env.client.post(
        env.url("v3", "/evaluations"), json={"policy": "default", "golden": "street-golden@2"}, headers=env.as_("ci")
    )
    assert r.status_code == 201, r.text
    assert (r.json()["golden_set"]["name"], r.json()["golden_set"]["version"]) == ("street-golden", 2)


def test_no_golden_set_named_exits_2_saying_how_to_name_one(env: Env) -> None:
    policy = write_policy(env, NO_GOLDEN_POLICY)
    for fmt in ("text", "json", "junit"):
        code, _, everything = cli("gate", "check", "alpha/street@v3", "--policy", policy, "--format", fmt)
        assert code == 2, everything
        assert "add `golden: NAME@VERSION` to the policy or pass --golden NAME@VERSION" in everything
        assert "golden sets of this project: street-golden@1" in everything and "Traceback" not in everything
    # a CI job still gets its machine-readable artefact on exit 2
    code, out, _ = cli("gate", "check", "alpha/street@v3", "--policy", policy, "--format", "json")
    body = json.loads(out)
    assert code == 2 and body["passed"] is False and body["exit_code"] == 2
    assert "`golden: NAME@VERSION`" in body["error"]["message"]
    report = env.tmp / "gates.xml"
    code, _, _ = cli("gate", "check", "alpha/street@v3", "--policy", policy, "--format=junit", f"--output={report}")
    suite = ET.parse(report).getroot().find("testsuite")
    assert code == 2 and suite is not None and suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and "--golden NAME@VERSION" in str(error.get("message"))
    with Session(env.engine) as s:  # refused before anything was written: no evaluation, no stored policy
        assert not list(s.exec(select(GateEvaluation)))
    bare = NO_GOLDEN_POLICY.replace("name: default", "name: bare")
    r = env.client.post(
        f"/api/v1/projects/{env.world.project.id}/policies", json={"yaml": bare}, headers=env.as_("ml_engineer")
    )
    assert r.status_code == 201, r.text
    r = env.client.post(env.url("v3", "/evaluations"), json={"policy": "bare"}, headers=env.as_("ci"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "golden", r.text
    assert "`golden: NAME@VERSION`" in r.json()["error"]["message"]
    # the override alone is enough
    r = env.client.post(
        env.url("v3", "/evaluations"), json={"policy": "bare", "golden": "street-golden@1"}, headers=env.as_("ci")
    )
    assert r.status_code == 201 and r.json()["passed"] is True, r.text


@pytest.mark.parametrize(
    ("golden", "message"),
    [
        ("street-golden@7", "no golden set 'street-golden@7' in this project; golden sets: street-golden@1"),
        ("shapes-golden@1", "no golden set 'shapes-golden@1'"),
        ("street-golden", "a golden set is named NAME@VERSION"),
        ("street-golden@0", "a golden set is named NAME@VERSION"),
    ],
)
def test_an_unknown_or_malformed_golden_set_exits_2(env: Env, golden: str, message: str) -> None:
    code, _, everything = cli("gate", "check", "alpha/street@v3", "--golden", golden)
    assert code == 2 and message in everything, everything
    r = env.client.post(env.url("v3", "/evaluations"), json={"policy": "default", "golden": golden},
                        headers=env.as_("ci"))  # fmt: skip
    assert r.status_code in (404, 422) and r.json()["error"]["field"] == "golden", r.text


def test_a_policy_naming_a_malformed_golden_set_is_refused(env: Env) -> None:
    bad = write_policy(env, DEFAULT_POLICY_PATH.read_text().replace("street-golden@1", "street-golden"))
    code, _, everything = cli("gate", "check", "alpha/street@v3", "--policy", bad)
    assert code == 2 and "golden" in everything and "NAME@VERSION" in everything, everything


def test_a_policy_without_golden_based_gates_needs_no_golden_set(env: Env) -> None:
    policy = write_policy(env, "name: plain\ngates:\n  expectations: {suite: default}\n")
    code, out, everything = cli("gate", "check", "alpha/street@v3", "--policy", policy, "--format", "json")
    assert code == 0, everything
    body = json.loads(out)
    assert body["golden_set"] is None and "no golden set" in body["headline"]
    assert env.evaluation(body["evaluation"]["id"]).golden_set_id is None


def test_a_golden_set_of_other_images_is_refused_not_measured(env: Env) -> None:
    """The bug this fixes: a golden set sharing nothing with the version gave "0 trials" and a BLOCK."""
    data = make_demo(n_images=5, n_classes=5, seed=99)
    folder = write_images(data.golden, env.tmp / "other-images", seed=99)
    with Session(env.engine) as s:
        ml = actor_for(env.world.users["ml_engineer"])
        ds = datasets.create_dataset(s, actor=ml, project_id=env.world.project.id or 0, name="other", is_golden=True)
        v = datasets.create_version(s, actor=ml, dataset=ds, version="o1", repo_dir=env.settings.repo_dir,
                                    source_dir=folder)  # fmt: skip
        register_golden_set(s, actor=ml, project_id=env.world.project.id or 0, name="other-golden", version=v)
        s.commit()
    code, _, everything = cli("gate", "check", "alpha/street@v3", "--golden", "other-golden@1")
    assert code == 2 and "golden set other-golden@1 shares no image with street@v3" in everything, everything
    r = env.client.post(env.url("v3", "/evaluations"), json={"policy": "default", "golden": "other-golden@1"},
                        headers=env.as_("ci"))  # fmt: skip
    assert r.status_code == 422 and "shares no image" in r.json()["error"]["message"]


def test_a_golden_set_whose_labels_changed_since_registration_is_refused(env: Env) -> None:
    with Session(env.engine) as s:
        item = s.exec(select(Item).where(Item.dataset_version_id == env.scenario.golden.dataset_version_id)).first()
        assert item is not None
        g1 = s.get(DatasetVersion, env.scenario.golden.dataset_version_id)
        assert g1 is not None
        add_annotations(
            s, actor=actor_for(env.world.users["ml_engineer"]), version=g1,
            labels=[NewLabel(item_id=item.id or 0, category="car", x=2, y=2, w=5, h=5)],
            provenance=Provenance(kind=ProvenanceKind.synthetic, generator_config_hash="1" * 64),
        )  # fmt: skip
        s.commit()
    code, _, everything = cli("gate", "check", "alpha/street@v3")
    assert code == 2 and "golden set street-golden@1 changed since it was registered" in everything, everything


# ---- headlines ---------------------------------------------------------------------------------------------------


def test_headlines_name_policy_and_hash_and_golden_set_version_and_size(env: Env) -> None:
    golden = env.golden_sets()["street-golden@1"]
    items, labels = golden_size(env, golden)
    code, out, _ = cli("gate", "check", "alpha/street@v2", "--policy", str(DEFAULT_POLICY_PATH), "--format", "json")
    assert code == 1
    body = json.loads(out)
    short = body["policy_hash"][:12]
    expected = f"(policy default@1, hash {short}; golden set street-golden@1: {items} items, {labels} labels)"
    assert body["headline"].startswith("gate check BLOCKED: ") and body["headline"].endswith(expected)
    assert "for street@v2" in body["headline"]

    code, out, _ = cli("gate", "check", "alpha/street@v2")
    assert code == 1 and out.splitlines()[0].endswith(expected), out
    assert out.splitlines()[1].startswith("evaluation #")

    code, out, _ = cli("gate", "check", "alpha/street@v2", "--format", "junit")
    assert code == 1
    suite = ET.fromstring(out.split("\n", 1)[1]).find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["policy_name"] == "default" and props["policy_version"] == "1"
    assert props["policy_hash"] == body["policy_hash"]
    assert (props["golden_set_name"], props["golden_set_version"]) == ("street-golden", "1")
    assert (props["golden_set_items"], props["golden_set_labels"]) == (str(items), str(labels))
    assert suite.findtext("system-out", "").splitlines()[0].endswith(expected)


# ---- a release rests on one evaluation -------------------------------------------------------------------------


def release_v3(env: Env) -> dict[str, Any]:
    r = env.client.post(env.url("v3", "/state"), json={"state": "candidate"}, headers=env.as_("ml_engineer"))
    assert r.status_code == 200, r.text
    r = env.client.post(env.url("v3", "/evaluations"), json={"policy": "default"}, headers=env.as_("ci"))
    assert r.status_code == 201 and r.json()["passed"], r.text
    evidence = dict(r.json())
    assert evidence["purpose"] == "evaluation"
    r = env.client.post(env.url("v3", "/approvals"), json={"meaning": "approval", "signing_secret": SECRET},
                        headers=env.as_("compliance_officer"))  # fmt: skip
    assert r.status_code == 201, r.text
    r = env.client.post(env.url("v3", "/release"), headers=env.as_("ml_engineer"))
    assert r.status_code == 201, r.text
    assert r.json()["evaluation_id"] == evidence["id"]
    return {"evaluation": evidence, "release": r.json()}


def test_a_recheck_of_a_released_version_does_not_replace_its_evidence(env: Env) -> None:
    released = release_v3(env)
    first = released["evaluation"]["id"]
    # a blocking re-check (a stricter policy) through the API, and a passing one through the CLI
    strict = DEFAULT_POLICY_PATH.read_text().replace("name: default", "name: strict").replace("min: 0.90", "min: 0.999")
    r = env.client.post(f"/api/v1/projects/{env.world.project.id}/policies", json={"yaml": strict},
                        headers=env.as_("ml_engineer"))  # fmt: skip
    assert r.status_code == 201, r.text
    r = env.client.post(env.url("v3", "/evaluations"), json={"policy": "strict"}, headers=env.as_("ci"))
    assert r.status_code == 201 and r.json()["passed"] is False and r.json()["purpose"] == "recheck", r.text
    blocked_recheck = r.json()["id"]
    code, out, everything = cli("gate", "check", "alpha/street@v3", "--policy", str(DEFAULT_POLICY_PATH))
    assert code == 0, everything
    assert f"a re-check of a released version; the release rests on evaluation #{first}" in out

    evidence = env.client.get(env.url("v3", "/evidence"), headers=env.as_("annotator")).json()
    assert evidence["basis"] == "release" and evidence["state"] == "released"
    assert evidence["release_id"] == released["release"]["id"]
    assert evidence["evidence"]["id"] == first and evidence["evidence"]["purpose"] == "release_evidence"
    assert evidence["evidence"]["evidence"]["pr_curves"]  # the evidence comes with its plot data
    assert len(evidence["rechecks"]) == 2 and blocked_recheck in evidence["rechecks"]
    assert [e["purpose"] for e in evidence["evaluations"]] == ["recheck", "recheck", "release_evidence"]
    listed = env.client.get(env.url("v3", "/evaluations"), headers=env.as_("reviewer")).json()
    assert [(e["id"], e["purpose"]) for e in listed][-1] == (first, "release_evidence")
    assert all(e["release_id"] == released["release"]["id"] for e in listed)
    bundle = env.client.get(env.url("v3", "/bundle"), headers=env.as_("compliance_officer")).json()
    assert bundle["content"]["evaluation"]["id"] == first  # the signed bundle still names the same one
    with Session(env.engine) as s:
        purposes = [
            e.payload["purpose"]
            for e in s.exec(
                select(AuditEvent).where(AuditEvent.action == "gate.evaluate").order_by(col(AuditEvent.seq))
            )
        ]
    assert purposes == ["evaluation", "recheck", "recheck"]


def test_before_a_release_the_newest_evaluation_is_the_evidence(env: Env) -> None:
    r = env.client.get(env.url("v2", "/evidence"), headers=env.as_("annotator"))
    assert r.status_code == 200 and r.json()["basis"] == "none" and r.json()["evidence"] is None
    ids = []
    for _ in range(2):
        r = env.client.post(env.url("v2", "/evaluations"), json={"policy": "default"}, headers=env.as_("ci"))
        ids.append(r.json()["id"])
    body = env.client.get(env.url("v2", "/evidence"), headers=env.as_("annotator")).json()
    assert body["basis"] == "latest" and body["evidence"]["id"] == ids[-1] and body["rechecks"] == []
    assert {e["purpose"] for e in body["evaluations"]} == {"evaluation"}


def test_any_evaluation_opens_by_id_with_its_evidence_for_members_only(env: Env) -> None:
    released = release_v3(env)
    first = released["evaluation"]["id"]
    r = env.client.post(env.url("v3", "/evaluations"), json={"policy": "default"}, headers=env.as_("ci"))
    recheck = r.json()["id"]
    base = f"/api/v1/projects/{env.world.project.id}/evaluations"
    for who in ("annotator", "ci", "compliance_officer", "admin"):
        r = env.client.get(f"{base}/{first}", headers=env.as_(who))
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert (body["id"], body["purpose"], body["dataset"], body["version"]) == (first, "release_evidence",
                                                                                    "street", "v3")  # fmt: skip
        assert body["evidence"]["pr_curves"] and body["evidence"]["confusion_matrix"]["matrix"]
        assert body["golden_set"]["name"] == "street-golden" and body["golden_set"]["version"] == 1
    assert env.client.get(f"{base}/{recheck}", headers=env.as_("reviewer")).json()["purpose"] == "recheck"
    # a non-member, an evaluation of another project's route, an unknown id: 404 alike
    r = env.client.get(f"{base}/{first}", headers=env.as_("outsider"))
    assert r.status_code == 404
    other = f"/api/v1/projects/{env.world.other_project.id}/evaluations/{first}"
    r = env.client.get(other, headers=env.as_("outsider"))
    assert r.status_code == 404 and r.json()["error"]["field"] == "evaluation_id"
    assert env.client.get(f"{base}/999999", headers=env.as_("ci")).status_code == 404
    r = env.client.get(env.url("v3", "/evidence"), headers=env.as_("outsider"))
    assert r.status_code == 404
