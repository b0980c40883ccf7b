"""Four-eyes by authorship, and signatures only when they can count, through the API and the CLI, on SQLite
and PostgreSQL.

The world: project ``alpha`` (``tests.factories.make_world``) plus ``solo``, one person holding ml_engineer
and reviewer who tries to release alone, with a signing secret like the compliance officer and the reviewer.
Dataset ``pets`` v1 (two images, rows only) is created by the ML engineer and holds one model label of the
ML engineer's run. Policies: ``open`` (review coverage >= 0: passes) and ``strict`` (coverage 1: blocks
while a model label is unreviewed), both ``approvals: 1, four_eyes: true``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from lineage import identity
from lineage.gates import store_policy
from lineage.labels.annotations import NewLabel, Provenance, add_annotations
from lineage.models import (
    AuditEvent,
    AutoLabelRun,
    Dataset,
    DatasetVersion,
    ModelVersion,
    ProvenanceKind,
    Role,
    RunState,
)
from service.api.app import create_app
from service.cli.main import app as cli_app
from service.settings import Settings, get_settings
from service.workspace import init_workspace
from tests.factories import World, actor_for, cli_token, make_token, make_user, make_world
from tests.lineage.conftest import items_of, make_images, quick_schema, quick_version

SECRET = "four eyes secret"
SIZES = {"a.jpg": (100, 80), "b.jpg": (64, 48)}
RELEASE = "release: {approvals: 1, approver_roles: [compliance_officer, reviewer], four_eyes: true}\n"
OPEN = "name: open\ngates:\n  review_coverage: {min: 0.0}\n" + RELEASE
STRICT = "name: strict\ngates:\n  review_coverage: {min: 1.0}\n" + RELEASE
COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
    "categories": [{"id": 1, "name": "cat"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 20.0, 20.0]}],
}


@dataclass
class Ctx:
    client: TestClient
    world: World
    engine: Engine
    settings: Settings
    dataset: str = "pets"

    def url(self, tail: str = "", version: str = "v1") -> str:
        return f"/api/v1/projects/{self.world.project.id}/datasets/{self.dataset}/versions/{version}{tail}"

    def as_(self, who: str) -> dict[str, str]:
        return self.world.headers(who)

    def version(self, name: str = "v1") -> DatasetVersion:
        with Session(self.engine) as s:
            stmt = (
                select(DatasetVersion).join(Dataset).where(Dataset.name == self.dataset, DatasetVersion.version == name)
            )
            return s.exec(stmt).one()


def seed(s: Session) -> World:
    world = make_world(s)
    admin = actor_for(world.admin)
    solo = make_user(s, "solo")
    for role in (Role.ml_engineer, Role.reviewer):
        identity.add_member(s, actor=admin, project=world.project, user=solo, role=role)
    world.users["solo"], world.tokens["solo"] = solo, make_token(s, solo)
    for who in ("solo", "compliance_officer", "reviewer"):
        identity.set_signing_secret(s, actor=admin, user=world.users[who], secret=SECRET, operator=True)
    ml = actor_for(world.users["ml_engineer"])
    pid = world.project.id or 0
    sv = quick_schema(s, project_id=pid, name="pets", classes=["cat", "dog"], user_id=ml.user_id)
    _, v1 = quick_version(s, actor=ml, project_id=pid, items=SIZES, dataset="pets", schema_version_id=sv.id)
    for text in (OPEN, STRICT):
        store_policy(s, actor=ml, project_id=pid, yaml_text=text)
    model_label(s, world, v1, owner="ml_engineer")
    s.commit()
    return world


def model_label(s: Session, world: World, version: DatasetVersion, *, owner: str, writer: str = "ml_engineer") -> int:
    """One model label on a.jpg from a new run owned by ``owner``, written by ``writer``."""
    runs = len(s.exec(select(AutoLabelRun)).all())
    model = ModelVersion(
        project_id=world.project.id or 0,
        name="det",
        version=str(runs + 1),
        weights_uri="file:///det.pt",
        weights_sha256="0" * 64,
        created_by=world.users[owner].id or 0,
    )
    s.add(model)
    s.flush()
    run = AutoLabelRun(
        dataset_version_id=version.id or 0,
        model_version_id=model.id or 0,
        threshold=0.5,
        state=RunState.succeeded,
        created_by=world.users[owner].id or 0,
    )
    s.add(run)
    s.flush()
    provenance = Provenance(
        kind=ProvenanceKind.model,
        model_version_id=model.id,
        weights_sha256="0" * 64,
        threshold=0.5,
        autolabel_run_id=run.id,
    )
    label = NewLabel(item_id=items_of(s, version)["a.jpg"], category="cat", x=5, y=5, w=10, h=10, confidence=0.9)
    (aid,) = add_annotations(
        s, actor=actor_for(world.users[writer]), version=version, labels=[label], provenance=provenance
    )
    return aid


@pytest.fixture
def ctx(settings: Settings, engine: Engine) -> Iterator[Ctx]:
    init_workspace(settings)
    with Session(engine, expire_on_commit=False) as s:
        world = seed(s)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield Ctx(client, world, engine, settings)


def to_candidate(c: Ctx, version: str = "v1") -> None:
    r = c.client.post(c.url("/state", version), json={"state": "candidate"}, headers=c.as_("ml_engineer"))
    assert r.status_code == 200, r.text


def evaluate(c: Ctx, policy: str = "open", version: str = "v1") -> dict[str, Any]:
    r = c.client.post(c.url("/evaluations", version), json={"policy": policy}, headers=c.as_("ci"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def sign(c: Ctx, who: str, version: str = "v1", meaning: str = "approval") -> Any:
    body = {"meaning": meaning, "signing_secret": SECRET}
    return c.client.post(c.url("/approvals", version), json=body, headers=c.as_(who))


def signable(c: Ctx, who: str, version: str = "v1") -> dict[str, Any]:
    r = c.client.get(c.url("/signable", version), headers=c.as_(who))
    assert r.status_code == 200, r.text
    return dict(r.json())


def last_event(c: Ctx, action: str) -> AuditEvent:
    with Session(c.engine) as s:
        event = s.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq).desc())
        ).first()
    assert event is not None, action
    return event


def first_label(c: Ctx, version: str = "v1") -> dict[str, Any]:
    page = c.client.get(c.url("/annotations", version), headers=c.as_("ml_engineer")).json()
    return dict(page["items"][0])


def human_labels(c: Ctx, who: str, version: str = "v1") -> list[int]:
    item = first_label(c, version)["item_id"]
    body = {"annotations": [{"item_id": item, "category": "dog", "bbox": [30, 30, 10, 10]}]}
    r = c.client.post(c.url("/annotations/bulk", version), json=body, headers=c.as_(who))
    assert r.status_code == 201, r.text
    return list(r.json()["ids"])


def import_labels(c: Ctx, who: str, annotator: str | None = None) -> Any:
    data = {"format": "coco"} | ({"annotator": annotator} if annotator else {})
    files = {"file": ("labels.json", json.dumps(COCO).encode(), "application/json")}
    return c.client.post(c.url("/imports"), data=data, files=files, headers=c.as_(who))


# ---- how ``solo`` could have authored v1 --------------------------------------------------------------------


def _by_import(c: Ctx) -> str:
    assert import_labels(c, "solo").status_code == 201
    return "v1"


def _by_attributed_import(c: Ctx) -> str:
    assert import_labels(c, "solo", annotator="annotator_user").status_code == 201
    return "v1"


def _as_run_owner(c: Ctx) -> str:
    with Session(c.engine, expire_on_commit=False) as s:
        v1 = s.get(DatasetVersion, c.version().id)
        assert v1 is not None
        model_label(s, c.world, v1, owner="solo")
        s.commit()
    return "v1"


def _as_writer_of_synthetic_labels(c: Ctx) -> str:
    item = first_label(c)["item_id"]
    body = {
        "provenance": {"kind": "synthetic", "generator_config_hash": "a" * 64},
        "annotations": [{"item_id": item, "category": "dog", "bbox": [40, 40, 5, 5]}],
    }
    assert c.client.post(c.url("/annotations/bulk"), json=body, headers=c.as_("solo")).status_code == 201
    return "v1"


def _as_corrector(c: Ctx) -> str:
    (aid,) = human_labels(c, "annotator")
    r = c.client.post(
        f"/api/v1/projects/{c.world.project.id}/annotations/{aid}/corrections",
        json={"bbox": [31, 31, 10, 10]},
        headers=c.as_("solo"),
    )
    assert r.status_code == 201, r.text
    return "v1"


def _as_correcting_reviewer(c: Ctx) -> str:
    aid = first_label(c)["id"]
    body = {"decision": "correct", "correction": {"category": "dog"}}
    r = c.client.post(
        f"/api/v1/projects/{c.world.project.id}/annotations/{aid}/reviews", json=body, headers=c.as_("solo")
    )
    assert r.status_code == 201, r.text
    return "v1"


def _as_author_of_an_inherited_label(c: Ctx) -> str:
    """A DVC-backed dataset ``kittens``: the ML engineer creates v1, solo labels it, the ML engineer creates v2
    from v1, which inherits v1's labels: solo never touched v2. (The context moves to ``kittens``.)"""
    make_images(c.settings.workspace / "incoming" / "kittens", SIZES)
    base = f"/api/v1/projects/{c.world.project.id}/datasets"
    ml = c.as_("ml_engineer")
    assert c.client.post(base, json={"name": "kittens"}, headers=ml).status_code == 201
    r = c.client.post(f"{base}/kittens/versions", json={"version": "v1", "source_dir": "kittens"}, headers=ml)
    assert r.status_code == 201, r.text
    c.dataset = "kittens"
    with Session(c.engine) as s:
        item = items_of(s, c.version("v1"))["a.jpg"]
    body = {"annotations": [{"item_id": item, "category": "cat", "bbox": [30, 30, 10, 10]}]}
    assert c.client.post(c.url("/annotations/bulk"), json=body, headers=c.as_("solo")).status_code == 201
    r = c.client.post(f"{base}/kittens/versions", json={"version": "v2", "parent": "v1"}, headers=ml)
    assert r.status_code == 201, r.text
    assert first_label(c, "v2")["annotator_id"] == c.world.users["solo"].id  # inherited
    return "v2"


AUTHORSHIP: dict[str, Callable[[Ctx], str]] = {
    "importer": _by_import,
    "importer attributing to another": _by_attributed_import,
    "auto-label run owner": _as_run_owner,
    "writer of synthetic labels": _as_writer_of_synthetic_labels,
    "corrector": _as_corrector,
    "reviewer who corrected": _as_correcting_reviewer,
    "author of an inherited label": _as_author_of_an_inherited_label,
}


@pytest.mark.parametrize("how", list(AUTHORSHIP))
def test_the_single_user_who_authored_the_version_may_not_approve_it(ctx: Ctx, how: str) -> None:
    version = AUTHORSHIP[how](ctx)
    to_candidate(ctx, version)
    evaluate(ctx, version=version)
    answer = signable(ctx, "solo", version)
    assert answer["can_sign"] is False and answer["reason"].startswith("four-eyes: you authored labels"), answer
    assert answer["meanings"]["review"] is None  # a review signature does not count toward release
    r = sign(ctx, "solo", version)
    assert r.status_code == 403 and r.json()["error"]["message"].startswith("four-eyes: you authored labels")
    refused = last_event(ctx, "signature.refused")
    assert refused.actor == "solo" and refused.payload["reason"].startswith("four-eyes")
    r = ctx.client.post(ctx.url("/release", version), headers=ctx.as_("solo"))
    assert r.status_code == 409 and "needs 1 approval(s)" in r.json()["error"]["message"]
    assert sign(ctx, "compliance_officer", version).status_code == 201  # a second person still can


def test_a_reviewer_who_only_accepted_labels_is_not_an_author(ctx: Ctx) -> None:
    aid = first_label(ctx)["id"]
    r = ctx.client.post(
        f"/api/v1/projects/{ctx.world.project.id}/annotations/{aid}/reviews",
        json={"decision": "accept"},
        headers=ctx.as_("solo"),
    )
    assert r.status_code == 201, r.text
    to_candidate(ctx)
    evaluate(ctx)
    assert signable(ctx, "solo") == {
        "meaning": "approval",
        "can_sign": True,
        "reason": None,
        "meanings": {"review": None, "approval": None, "responsibility": None},
    }
    assert sign(ctx, "solo").status_code == 201


def test_an_approval_made_then_authored_over_stops_counting(ctx: Ctx) -> None:
    """solo approves, then adds a label and rejects it: the live labels are back to what solo signed, so the
    signature is bound to the current content, but solo is an author now and it no longer counts."""
    to_candidate(ctx)
    evaluate(ctx)
    assert sign(ctx, "solo").status_code == 201
    (aid,) = human_labels(ctx, "solo")
    r = ctx.client.post(
        f"/api/v1/projects/{ctx.world.project.id}/annotations/{aid}/reviews",
        json={"decision": "reject"},
        headers=ctx.as_("solo"),
    )
    assert r.status_code == 201, r.text
    listed = ctx.client.get(ctx.url("/approvals"), headers=ctx.as_("ml_engineer")).json()
    with Session(ctx.engine) as s:
        from lineage.release.four_eyes import version_content_hash

        assert listed[0]["content_hash"] == version_content_hash(s, ctx.version())  # same content as signed
    r = ctx.client.post(ctx.url("/release"), headers=ctx.as_("ml_engineer"))
    assert r.status_code == 409 and "needs 1 approval(s)" in r.json()["error"]["message"], r.text


# ---- only a signature that can count is accepted -----------------------------------------------------------


def _refused(c: Ctx, who: str, expected: str, version: str = "v1") -> None:
    answer = signable(c, who, version)
    assert answer["can_sign"] is False and expected in answer["reason"], answer
    assert set(answer["meanings"].values()) == {answer["reason"]}  # whatever the meaning
    r = sign(c, who, version)
    assert r.status_code == 409, r.text
    assert expected in r.json()["error"]["message"]
    assert expected in last_event(c, "signature.refused").payload["reason"]


def test_a_signature_needs_a_candidate_with_a_passed_evaluation_of_its_current_content(ctx: Ctx) -> None:
    _refused(ctx, "compliance_officer", "only a candidate version can be signed; pets@v1 is draft")
    to_candidate(ctx)
    _refused(ctx, "compliance_officer", "pets@v1 has no gate evaluation")
    blocked = evaluate(ctx, "strict")
    assert blocked["passed"] is False
    _refused(ctx, "compliance_officer", f"the latest gate evaluation of pets@v1 (#{blocked['id']}) is blocked")
    assert "(review_coverage)" in signable(ctx, "compliance_officer")["reason"]  # the blocking gate is named
    passed = evaluate(ctx, "open")
    assert signable(ctx, "compliance_officer")["can_sign"] is True
    human_labels(ctx, "annotator")  # labels written after the evaluation: its evidence no longer holds
    _refused(
        ctx,
        "compliance_officer",
        f"version.manifest of pets@v1 changed after its latest gate evaluation (#{passed['id']})",
    )
    evaluate(ctx, "open")
    r = sign(ctx, "compliance_officer")
    assert r.status_code == 201, r.text
    event = last_event(ctx, "signature.sign")  # the approval row's digest is on the record
    assert event.payload["records"][0]["table"] == "approvals" and event.payload["records"][0]["id"] == r.json()["id"]
    again = signable(ctx, "compliance_officer")
    assert again["reason"] == "you already signed this version with meaning 'approval'"
    assert again["meanings"]["review"] is None
    assert sign(ctx, "compliance_officer").status_code == 409


def test_signable_names_a_missing_role_and_a_missing_secret(ctx: Ctx) -> None:
    to_candidate(ctx)
    evaluate(ctx)
    answer = signable(ctx, "annotator")
    assert answer["meanings"]["approval"].startswith("approval needs one of the roles: compliance_officer, reviewer")
    assert answer["meanings"]["review"].startswith("you have no signing secret yet")
    r = ctx.client.get(ctx.url("/signable"), headers=ctx.as_("outsider"))
    assert r.status_code == 404  # another project's member learns nothing


# ---- attribution at the API door ---------------------------------------------------------------------------


def test_the_import_route_refuses_attribution_outside_the_annotating_members(ctx: Ctx) -> None:
    for who in ("outsider", "compliance_officer_user", "nobody_at_all"):
        r = import_labels(ctx, "ml_engineer", annotator=who)
        assert r.status_code == 422 and r.json()["error"]["field"] == "annotator", r.text
        assert f"cannot attribute labels to {who!r}" in r.json()["error"]["message"]
    assert import_labels(ctx, "annotator", annotator="annotator_user").status_code == 403  # imports are ML work
    r = import_labels(ctx, "admin", annotator="annotator_user")
    assert r.status_code == 201, r.text
    payload = last_event(ctx, "annotation.import").payload
    assert (payload["imported_by"], payload["attributed_to"], payload["kind"]) == (
        "root_admin",
        "annotator_user",
        "human",
    )


# ---- the CLI: 1 refused by policy, 2 bad input ---------------------------------------------------------------


@pytest.fixture
def cli(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ctx]:
    init_workspace(settings)
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(settings.workspace))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    with Session(engine, expire_on_commit=False) as s:
        world = seed(s)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield Ctx(client, world, engine, settings)
    get_settings.cache_clear()


def labelgate_sign(who: str, ref: str = "pets@v1", secret: str = SECRET) -> tuple[int, str]:
    args = ["sign", ref, "--secret-stdin", "--project", "alpha"]
    env = {"LABELGATE_TOKEN": cli_token(who)}
    result = CliRunner().invoke(cli_app, args, input=secret + "\n", env=env)
    return result.exit_code, result.output


def test_labelgate_sign_exits_1_when_refused_by_policy_and_2_on_bad_input(cli: Ctx) -> None:
    code, out = labelgate_sign("compliance_officer_user")
    assert code == 1 and "only a candidate version can be signed" in out, out
    assert labelgate_sign("compliance_officer_user", secret="not the secret")[0] == 2
    code, out = labelgate_sign("compliance_officer_user", ref="pets@v9")
    assert code == 2 and "v9" in out, out
    assert labelgate_sign("nobody_at_all")[0] == 2
    to_candidate(cli)
    evaluate(cli, "strict")
    code, out = labelgate_sign("compliance_officer_user")
    assert code == 1 and "is blocked (review_coverage)" in out, out
    evaluate(cli, "open")
    _as_run_owner(cli)
    code, out = labelgate_sign("compliance_officer_user")
    assert code == 1 and "changed after its latest gate evaluation" in out, out
    evaluate(cli, "open")
    code, out = labelgate_sign("solo")
    assert code == 1 and "four-eyes" in out, out
    code, out = labelgate_sign("compliance_officer_user")
    assert code == 0 and "signed pets@v1" in out, out
    code, out = labelgate_sign("compliance_officer_user")
    assert code == 1 and "already signed" in out, out
