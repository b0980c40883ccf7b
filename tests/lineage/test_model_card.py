"""Model cards from the record (Mitchell et al. 2019 sections), their HTML, the service verb, the API route,
and the governance report's links to the cards of the models whose labels a released version holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.errors import InvalidInput, NotFound, PermissionDenied
from lineage.models import (
    Annotation,
    AutoLabelRun,
    Calibration,
    DatasetVersion,
    GateEvaluation,
    GatePolicy,
    GoldenSet,
    ModelTrainingData,
    ModelVersion,
    ProvenanceKind,
    Release,
    RunState,
    VersionState,
)
from lineage.release.bundle import sign_bundle, verify_bundle
from lineage.reports.html import governance_report
from lineage.reports.model_card import (
    NOT_STATED,
    model_card,
    model_cards_of_version,
    model_refs_of_version,
    render_model_card_html,
)
from service.actions.context import Context, Principal
from service.actions.model_cards import model_card_of
from service.settings import Settings
from tests.factories import World, actor_for
from tests.lineage.conftest import items_of, quick_schema, quick_version

MITCHELL = (
    "model_details",
    "intended_use",
    "factors",
    "metrics",
    "evaluation_data",
    "training_data",
    "quantitative_analyses",
    "ethical_considerations",
    "caveats",
)
GOLDEN_URI = "golden-secret-frame-0042.png"
HOSTILE = "<script>alert(1)</script>"
# The metrics the governance report reads of an evaluation.
GOVERNANCE_METRICS = (
    "class_drift_psi",
    "class_drift_js",
    "krippendorff_alpha",
    "golden_error",
    "precision",
    "recall",
    "map",
)


@dataclass
class Scene:
    model: ModelVersion
    bare: ModelVersion
    train: DatasetVersion
    val: DatasetVersion
    labelled: DatasetVersion
    golden: DatasetVersion


def _model(session: Session, ml: Actor, pid: int, name: str, **fields: Any) -> ModelVersion:
    model = ModelVersion(project_id=pid, name=name, created_by=ml.user_id, **fields)
    session.add(model)
    session.flush()
    return model


def _scene(session: Session, world: World, ml: Actor) -> Scene:
    pid = world.project.id or 0
    sv = quick_schema(session, project_id=pid, name="pets", classes=["cat", "dog"], user_id=ml.user_id)
    _, train = quick_version(session, actor=ml, project_id=pid, items={"a.png": (8, 8), "b.png": (8, 8)})
    _, val = quick_version(session, actor=ml, project_id=pid, items={"c.png": (8, 8)}, version="v2")
    _, labelled = quick_version(
        session, actor=ml, project_id=pid, items={"d.png": (8, 8), "e.png": (8, 8)}, version="v3"
    )
    _, golden = quick_version(
        session, actor=ml, project_id=pid, items={GOLDEN_URI: (8, 8)}, dataset="gold", golden=True
    )
    model = _model(
        session,
        ml,
        pid,
        "pet-detector",
        version="3",
        weights_uri="models/sha256/ab/abcdef.pt",
        weights_sha256="a" * 64,
        weights_bytes=6_234_567,
        weights_rev="f" * 40,
        ultralytics_version="8.3.40",
        torch_version="2.5.1",
        imgsz=640,
        class_map={"0": "cat", "1": "dog"},
        schema_version_id=sv.id,
        training={
            "trainer": "ultralytics.YOLO.train",
            "hyperparameters": {"epochs": 50, "lr0": 0.01},
            "metrics": {
                "mAP50": 0.81,
                "mAP50-95": 0.62,
                "per_class": {"cat": {"ap50": 0.8}, "dog": {"ap50": 0.82}},
            },
            "started_at": "2026-11-30T10:00:00+00:00",
            "finished_at": "2026-11-30T12:00:00+00:00",
        },
        card={"intended_use": "Pre-labelling pet photos for human review.", "caveats": ["Not for wildlife."]},
    )
    bare = _model(
        session,
        ml,
        pid,
        "legacy",
        version="1",
        weights_uri="/home/someone/legacy.pt",
        weights_sha256="b" * 64,
        class_map={"0": "cat"},
    )
    pins = [
        ModelTrainingData(
            model_version_id=model.id or 0,
            dataset_version_id=v.id or 0,
            role=role,
            manifest_hash=h * 64,
            dvc_hash=f"{h * 32}.dir",
            item_count=v.item_count,
        )
        for v, role, h in ((train, "train", "1"), (val, "val", "2"))
    ]
    session.add_all(pins)
    session.flush()
    record_event(session, ml, "model.register", ("model_version", str(model.id)), project_id=pid, rows=[model, *pins])
    record_event(session, ml, "model.register", ("model_version", str(bare.id)), project_id=pid, rows=[bare])
    gold = GoldenSet(project_id=pid, name="pets-gold", dataset_version_id=golden.id or 0, created_by=ml.user_id)
    session.add(gold)
    event = record_event(session, ml, "model.calibrate", ("model_version", str(model.id)), project_id=pid)
    session.add(
        Calibration(
            project_id=pid,
            model_version_id=model.id or 0,
            weights_sha256=model.weights_sha256,
            dataset_version_id=golden.id or 0,
            golden_manifest_hash="9" * 64,
            iou=0.5,
            target_error=0.05,
            level=0.95,
            band=0.1,
            golden_items=1,
            golden_boxes=2,
            predictions=3,
            classes=[
                {
                    "name": "cat",
                    "n_gt": 1,
                    "n_pred": 2,
                    "f1_threshold": 0.4,
                    "f1": 0.67,
                    "precision": 0.5,
                    "recall": 1.0,
                    "tbal": {"threshold": 0.6, "n": 1, "fp": 0, "error": 0.0, "upper": 0.04},
                },
                {
                    "name": "dog",
                    "n_gt": 1,
                    "n_pred": 1,
                    "f1_threshold": None,
                    "f1": None,
                    "precision": None,
                    "recall": None,
                    "tbal": None,
                },
            ],
            thresholds={"f1": {"cat": 0.4, "dog": None}, "tbal": {"cat": 0.6, "dog": None}},
            coverage={"f1": {"items": 1, "auto_labelled": 1, "to_humans": 0, "labels": 1, "wrong_labels": 0}},
            created_by=ml.user_id,
            audit_seq=event.seq,
        )
    )
    run = AutoLabelRun(
        dataset_version_id=labelled.id or 0,
        model_version_id=model.id or 0,
        threshold=0.4,
        state=RunState.succeeded,
        created_by=ml.user_id,
    )
    session.add(run)
    session.flush()
    item = items_of(session, labelled)
    previous: int | None = None
    for i, uri in enumerate(("d.png", "e.png", "e.png")):  # the last supersedes the one before: 2 rows live
        label = Annotation(
            dataset_version_id=labelled.id or 0,
            item_id=item[uri],
            category="cat",
            x=1,
            y=1,
            w=2,
            h=2,
            kind=ProvenanceKind.model,
            model_version_id=model.id,
            weights_sha256=model.weights_sha256,
            confidence=0.9,
            threshold=0.4,
            autolabel_run_id=run.id,
            created_by=ml.user_id,
            supersedes_id=previous if i == 2 else None,
        )
        session.add(label)
        session.flush()
        previous = label.id
    policy = GatePolicy(project_id=pid, name="default", version=1, yaml_text="x", policy_hash="0" * 64, created_by=1)
    session.add(policy)
    session.flush()
    evaluation = GateEvaluation(
        dataset_version_id=labelled.id or 0,
        policy_id=policy.id or 0,
        policy_hash="0" * 64,
        passed=True,
        metrics=dict.fromkeys(GOVERNANCE_METRICS),
        created_by=ml.user_id,
    )
    session.add(evaluation)
    session.flush()
    labelled.state = VersionState.released
    session.add(Release(dataset_version_id=labelled.id or 0, evaluation_id=evaluation.id or 0, released_by=1))
    # A later re-check that blocks: the card shows the evaluation the release rests on.
    session.add(
        GateEvaluation(
            dataset_version_id=labelled.id or 0,
            policy_id=policy.id or 0,
            policy_hash="0" * 64,
            passed=False,
            metrics=dict.fromkeys(GOVERNANCE_METRICS),
            created_by=ml.user_id,
        )
    )
    session.commit()
    return Scene(model, bare, train, val, labelled, golden)


@pytest.fixture
def scene(session: Session, world: World, ml: Actor) -> Scene:
    return _scene(session, world, ml)


def test_every_mitchell_section_is_there_in_order_and_json_ready(session: Session, scene: Scene) -> None:
    card = model_card(session, model_version_id=scene.model.id or 0)
    keys = list(card)
    assert [k for k in keys if k in MITCHELL] == list(MITCHELL)
    assert card["model"] == "pet-detector@3" and card["project"] == "alpha" and "used_in" in card
    assert json.loads(json.dumps(card, allow_nan=False)) == card
    assert model_card(session, model_version_id=scene.model.id or 0) == card  # deterministic
    d = card["model_details"]
    assert d["classes"] == [{"index": 0, "class": "cat"}, {"index": 1, "class": "dog"}]
    assert (d["task"], d["input_size"], d["ultralytics_version"], d["torch_version"]) == (
        "detect",
        640,
        "8.3.40",
        "2.5.1",
    )
    assert d["weights"] == {
        "sha256": "a" * 64,
        "bytes": 6_234_567,
        "stored_path": "models/sha256/ab/abcdef.pt",
        "git_revision": "f" * 40,
        "in_workspace": True,
    }
    assert d["registered_by"] == "ml_engineer_user" and d["label_schema"]["name"] == "pets"
    assert card["intended_use"] == {"stated": True, "statement": "Pre-labelling pet photos for human review."}
    assert [c["name"] for c in card["factors"]["classes"]] == ["cat", "dog"]
    assert card["caveats"]["stated"] == ["Not for wildlife."] and card["caveats"]["from_the_record"] == []


def test_training_data_names_the_dataset_versions_with_their_pins(session: Session, scene: Scene) -> None:
    training = model_card(session, model_version_id=scene.model.id or 0)["training_data"]
    assert training["recorded"] is True and training["note"] is None
    assert training["datasets"] == [
        {"role": "train", "dataset_version": "pets@v1", "item_count": 2, "manifest_hash": "1" * 64,
         "dvc_hash": "1" * 32 + ".dir"},
        {"role": "val", "dataset_version": "pets@v2", "item_count": 1, "manifest_hash": "2" * 64,
         "dvc_hash": "2" * 32 + ".dir"},
    ]  # fmt: skip
    assert training["hyperparameters"] == {"epochs": 50, "lr0": 0.01}


def test_metrics_calibrations_and_how_its_labels_fared(session: Session, scene: Scene) -> None:
    card = model_card(session, model_version_id=scene.model.id or 0)
    metrics = card["metrics"]
    assert metrics["validation"] == {"mAP50": 0.81, "mAP50-95": 0.62}
    [cal] = metrics["calibrations"]
    assert cal["golden_set"] == "pets-gold@1" and cal["weights_match"] is True
    assert cal["thresholds"]["tbal"] == {"cat": 0.6, "dog": None} and cal["golden_items"] == 1
    [outcome] = metrics["label_outcomes"]
    assert outcome["dataset_version"] == "pets@v3" and outcome["live_labels"] == 2 and outcome["released"]
    assert outcome["evaluation"]["verdict"] == "passed" and outcome["evaluation"]["purpose"] == "release_evidence"
    assert card["evaluation_data"][0]["golden_set"] == "pets-gold@1"
    assert card["evaluation_data"][0]["manifest_hash"] == "9" * 64
    q = card["quantitative_analyses"]
    assert q["per_class_validation"] == [{"class": "cat", "ap50": 0.8}, {"class": "dog", "ap50": 0.82}]
    rows = q["per_class_calibration"][0]["classes"]
    assert rows[0]["class"] == "cat" and rows[0]["tbal_threshold"] == 0.6 and rows[1]["tbal_threshold"] is None
    assert card["used_in"]["released_versions"] == ["pets@v3"]
    [run] = card["used_in"]["autolabel_runs"]
    assert run["dataset_version"] == "pets@v3" and run["state"] == "succeeded" and "pet-detector@3" in run["run"]


def test_a_model_with_nothing_recorded_says_so(session: Session, scene: Scene) -> None:
    card = model_card(session, model_version_id=scene.bare.id or 0)
    assert card["intended_use"] == {"stated": False, "statement": NOT_STATED}
    assert card["training_data"]["recorded"] is False and "not recorded" in card["training_data"]["note"]
    assert card["metrics"] == {"validation": None, "calibrations": [], "label_outcomes": []}
    assert card["model_details"]["weights"]["in_workspace"] is False
    caveats = " ".join(card["caveats"]["from_the_record"])
    for words in ("No training data is recorded", "absolute path", "No validation metrics", "Not calibrated",
                  "No label schema", "intended use was not stated"):  # fmt: skip
        assert words in caveats
    assert card["used_in"] == {"autolabel_runs": [], "released_versions": []}
    html = render_model_card_html(card)
    assert NOT_STATED in html and "not recorded: the registration named no training" in html


def test_non_finite_training_metrics_read_as_null(session: Session, scene: Scene, ml: Actor) -> None:
    """SQLite stores NaN in a JSON column and the card reads it as null; PostgreSQL's json type refuses it on
    insert, so there it never reaches a card (the registry refuses it before either)."""
    training = {
        "metrics": {"box_loss": float("nan"), "mAP50": float("inf"), "per_class": {"cat": {"ap": float("nan")}}}
    }
    pid = scene.model.project_id
    if session.get_bind().dialect.name != "sqlite":
        with pytest.raises(DBAPIError, match=r"(?i)json"):
            _model(
                session, ml, pid, "nan-model", version="1", weights_uri="x", weights_sha256="d" * 64, training=training
            )
        session.rollback()
        return
    model = _model(
        session, ml, pid, "nan-model", version="1", weights_uri="x", weights_sha256="d" * 64, training=training
    )
    session.commit()
    card = model_card(session, model_version_id=model.id or 0)
    assert card["metrics"]["validation"] == {"box_loss": None, "mAP50": None}
    assert card["quantitative_analyses"]["per_class_validation"] == [{"class": "cat", "ap": None}]
    json.dumps(card, allow_nan=False)  # strict JSON: the API and a signed bundle refuse NaN


def test_an_unknown_model_is_not_found(session: Session, scene: Scene) -> None:
    with pytest.raises(NotFound):
        model_card(session, model_version_id=(scene.bare.id or 0) + 100)


def test_html_has_every_section_escapes_hostile_words_and_needs_nothing_online(
    session: Session, scene: Scene, ml: Actor
) -> None:
    hostile = _model(
        session,
        ml,
        scene.model.project_id,
        HOSTILE,
        version="1",
        weights_uri="x",
        weights_sha256="c" * 64,
        card={"intended_use": HOSTILE, "caveats": [f"caveat {HOSTILE}"]},
    )
    session.commit()
    html = render_model_card_html(model_card(session, model_version_id=hostile.id or 0))
    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # title, heading, name, intended use, caveat
    for mid in (scene.model.id, hostile.id):
        html = render_model_card_html(model_card(session, model_version_id=mid or 0))
        assert (
            "<script" not in html
            and "src=" not in html
            and "http://" not in html
            and "https://" not in html
            and "<link" not in html
        )
    html = render_model_card_html(model_card(session, model_version_id=scene.model.id or 0))
    for heading in (
        "Model details",
        "Intended use",
        "Factors",
        "Metrics",
        "Evaluation data",
        "Training data",
        "Quantitative analyses",
        "Ethical considerations",
        "Caveats and recommendations",
        "Used in",
    ):
        assert f"<h2>{heading}</h2>" in html
    assert "pets@v1" in html and "pets-gold@1" in html and "8.3.40" in html


def test_golden_items_are_never_named(session: Session, scene: Scene) -> None:
    card = model_card(session, model_version_id=scene.model.id or 0)
    assert GOLDEN_URI not in json.dumps(card)
    assert GOLDEN_URI not in render_model_card_html(card)


def test_governance_report_links_the_cards_of_models_with_live_labels(session: Session, scene: Scene) -> None:
    refs = model_refs_of_version(session, version_id=scene.labelled.id or 0)
    assert refs == [
        {
            "model": "pet-detector@3",
            "model_version_id": scene.model.id,
            "live_labels": 2,
            "card_html": "/api/v1/projects/alpha/models/pet-detector@3/card?format=html",
            "card_json": "/api/v1/projects/alpha/models/pet-detector@3/card?format=json",
        }
    ]
    html = governance_report(session, version_id=scene.labelled.id or 0)
    assert "<h2>Models</h2>" in html
    assert 'href="/api/v1/projects/alpha/models/pet-detector@3/card?format=html"' in html
    assert model_refs_of_version(session, version_id=scene.train.id or 0) == []
    assert "no live label of this version was written by a model" in governance_report(
        session, version_id=scene.train.id or 0
    )


def test_the_cards_of_a_version_fit_a_signed_evidence_bundle(session: Session, scene: Scene) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    cards = model_cards_of_version(session, version_id=scene.labelled.id or 0)
    assert list(cards) == ["pet-detector@3"] and cards["pet-detector@3"]["used_in"]["released_versions"] == ["pets@v3"]
    key = Ed25519PrivateKey.generate()
    bundle = json.loads(json.dumps(sign_bundle({"model_cards": cards}, key)))
    assert verify_bundle(bundle, public_key=key.public_key()).ok
    bundle["content"]["model_cards"]["pet-detector@3"]["intended_use"]["statement"] = "anything goes"
    problems = verify_bundle(bundle, public_key=key.public_key()).problems
    assert "content.model_cards.pet-detector@3.intended_use.statement was changed" in problems


def _ctx(session: Session, world: World, role: str, settings: Settings) -> Context:
    user = world.users[role]
    return Context(session=session, principal=Principal(user=user, actor=actor_for(user)), settings=settings)


def test_the_service_verb_resolves_name_at_version_and_authorizes(
    session: Session, scene: Scene, world: World, settings: Settings
) -> None:
    pid = world.project.id or 0
    card = model_card_of(_ctx(session, world, "ml_engineer", settings), pid, "pet-detector@3")
    assert card["model"] == "pet-detector@3"
    with pytest.raises(InvalidInput):
        model_card_of(_ctx(session, world, "ml_engineer", settings), pid, "pet-detector")
    with pytest.raises(NotFound):
        model_card_of(_ctx(session, world, "ml_engineer", settings), pid, "pet-detector@9")
    with pytest.raises(PermissionDenied):
        model_card_of(_ctx(session, world, "annotator", settings), pid, "pet-detector@3")


def test_the_api_route_serves_json_and_html(
    session: Session, scene: Scene, world: World, settings: Settings, engine: Engine
) -> None:
    from service.api.app import create_app
    from service.api.routes import ROUTERS
    from service.api.routes.models import router
    from service.permissions import ACTIONS

    if "get_model_card" not in ACTIONS or router not in ROUTERS:
        pytest.skip("the lead registers the route (service.api.routes) and its action (service.permissions)")
    keys = list(model_card(session, model_version_id=scene.model.id or 0))
    session.rollback()  # no read transaction left open: SQLite would lock the app's writes out
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        url = "/api/v1/projects/alpha/models/pet-detector@3/card"
        r = client.get(url, headers=world.headers("ml_engineer"))
        assert r.status_code == 200 and r.json()["model"] == "pet-detector@3"
        assert list(r.json()) == keys
        html = client.get(url, params={"format": "html"}, headers=world.headers("ml_engineer"))
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        unknown = "/api/v1/projects/alpha/models/pet-detector@9/card"
        assert client.get(unknown, headers=world.headers("ml_engineer")).status_code == 404
        assert client.get(url, headers=world.headers("annotator")).status_code == 403


def test_the_cli_prints_a_summary_and_writes_html_and_json_locally(
    session: Session, scene: Scene, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from service.cli.model_card import model_card_command
    from service.settings import get_settings

    app = typer.Typer()
    app.command("card")(model_card_command)  # as the lead registers it under `labelgate model`
    app.command("other")(lambda: None)  # two commands: typer keeps "card" as a sub-command

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["card", *args])
        return result.exit_code, result.output

    # The CLI reads its settings from the environment like a user's shell would.
    monkeypatch.setenv("LABELGATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(settings.workspace))
    for name in ("LABELGATE_SERVER", "LABELGATE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        code, text = run("pet-detector@3", "-p", "alpha")
        assert code == 0, text
        assert "intended use: Pre-labelling pet photos" in text and "train: pets@v1 (2 items" in text
        assert "released versions with its labels: pets@v3" in text
        code, text = run("legacy@1", "-p", "alpha")
        assert code == 0 and "training data: not recorded" in text and "caveat: No training data" in text
        target = tmp_path / "card.html"
        assert run("pet-detector@3", "-p", "alpha", "-o", str(target))[0] == 0
        assert "<h1>Model card: pet-detector@3</h1>" in target.read_text()
        target = tmp_path / "out" / "card.txt"
        assert run("pet-detector@3", "-p", "alpha", "--format", "json", "-o", str(target))[0] == 0
        assert json.loads(target.read_text())["training_data"]["datasets"][0]["dataset_version"] == "pets@v1"
        code, text = run("pet-detector@3", "-p", "alpha", "--json")
        assert code == 0 and json.loads(text)["model"] == "pet-detector@3"
        code, text = run("pet-detector@9", "-p", "alpha")
        assert code != 0 and "no model pet-detector@9" in text
    finally:
        get_settings.cache_clear()


def test_a_release_of_the_gate_scenario_links_its_detector_card(
    session: Session, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """The demo's history (``make_gate_world``): street@v3, labelled by street-detector@2, released through
    the API; its governance report links the detector's card, whose record names the release."""
    from service.api.app import create_app
    from service.workspace import init_workspace
    from tests.factories import make_gate_world

    init_workspace(settings)
    world, _ = make_gate_world(session, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret="s3cret pass")
    session.commit()
    base = f"/api/v1/projects/{world.project.id}/datasets/street/versions/v3"
    with TestClient(create_app(settings, engine=engine)) as client:
        ml, co = world.headers("ml_engineer"), world.headers("compliance_officer")
        assert client.post(base + "/state", json={"state": "candidate"}, headers=ml).status_code == 200
        assert client.post(base + "/evaluations", json={"policy": "default"}, headers=world.headers("ci")).is_success
        signed = client.post(
            base + "/approvals", json={"meaning": "approval", "signing_secret": "s3cret pass"}, headers=co
        )
        assert signed.status_code == 201, signed.text
        assert client.post(base + "/release", headers=ml).status_code == 201
        html = client.get(base + "/reports/governance.html", headers=co).text
    models = html[html.index("<h2>Models</h2>") : html.index("<h2>10(2)(d)")]
    assert 'href="/api/v1/projects/alpha/models/street-detector@2/card?format=html"' in models
    assert "street-detector@1" not in models  # its labels are v2's, not v3's
    session.expire_all()
    detector = session.exec(
        select(ModelVersion).where(ModelVersion.name == "street-detector", ModelVersion.version == "2")
    ).one()
    card = model_card(session, model_version_id=detector.id or 0)
    assert card["used_in"]["released_versions"] == ["street@v3"]
    [outcome] = card["metrics"]["label_outcomes"]
    assert outcome["evaluation"]["verdict"] == "passed" and outcome["evaluation"]["purpose"] == "release_evidence"
    assert any("not a file" in c for c in card["caveats"]["from_the_record"])  # simulated weights
