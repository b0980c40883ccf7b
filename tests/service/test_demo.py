"""`labelgate demo` (the README's main job) runs the whole story and leaves verifiable evidence behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from lineage.audit.verify import verify_database
from lineage.gates import evidence_evaluation
from lineage.models import AutoLabelRun, Dataset, DatasetVersion, GateEvaluation, GoldenSet, Release, RunState
from lineage.release.bundle import load_public_key, verify_bundle
from service.cli.main import app
from service.demo.story import run_demo
from service.settings import get_settings
from tests.inference.conftest import model_cache


def test_demo_runs_end_to_end(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = model_cache(request)  # shared with the inference tests
    state = run_demo(str(tmp_path / "demo"), serve=False, n_images=20, model_cache=cache)
    with Session(state.engine) as s:
        street = s.exec(select(Dataset).where(Dataset.name == "street")).one()
        street_ids = {v.id for v in s.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == street.id))}
        verdicts = {
            e.dataset_version_id: e.passed
            for e in s.exec(select(GateEvaluation).order_by(col(GateEvaluation.id)))
            if e.dataset_version_id in street_ids
        }
        versions = {v.id: (v.version, v.state) for v in s.exec(select(DatasetVersion))}
        runs = list(s.exec(select(AutoLabelRun).where(AutoLabelRun.state == RunState.succeeded)))
        chain = verify_database(s)
    by_name = {versions[vid][0]: ok for vid, ok in verdicts.items()}
    assert by_name["v2"] is False and by_name["v3"] is True
    assert ("v3", "released") in versions.values()
    _readme_example_passes_as_a_recheck(state.settings.workspace, state.engine, monkeypatch)
    assert any(r.device == "cpu" for r in runs), "the tiny YOLO run did not succeed"
    assert chain.ok and chain.events > 100
    assert state.bundle_path is not None and state.settings.signing_key_path is not None
    key = load_public_key(state.settings.signing_key_path.with_suffix(".pub.pem"))
    assert verify_bundle(json.loads(state.bundle_path.read_text()), public_key=key).ok
    reports = state.settings.workspace / "reports"
    assert "10(2)(b)" in (reports / "street-v3-governance.html").read_text()
    assert "release.create" in (reports / "audit-trail.html").read_text()
    _models_on_the_record(state.settings.workspace, state.engine)
    state.engine.dispose()


def _models_on_the_record(workspace: Path, engine: Engine) -> None:
    """Chapter 10: the tiny detector's weights are stored in the workspace's DVC (the export is those bytes),
    its training and validation data are on the record and are the very images its training used, its card
    is written, a training run is in the OpenLineage log, and the leakage gate passed against shapes-golden@1
    and blocked against shapes-golden@2, naming the model, the training version and the 12 leaked items."""
    from inference.tiny import ShapesSpec, TinyTrainConfig, render_shapes
    from lineage.models import Item, ModelTrainingData, ModelVersion

    with Session(engine) as s:
        tiny = s.exec(select(ModelVersion).where(ModelVersion.name == "tiny-shapes")).one()
        links = s.exec(select(ModelTrainingData).where(ModelTrainingData.model_version_id == tiny.id)).all()
        train_id = next(link.dataset_version_id for link in links if link.role == "train")
        train_hashes = {i.sha256 for i in s.exec(select(Item).where(Item.dataset_version_id == train_id))}
        leak = [
            e
            for e in s.exec(select(GateEvaluation).order_by(col(GateEvaluation.id)))
            if any(g.get("name") == "training_leakage" for g in e.gates)
        ]
    stored = workspace / "repo" / tiny.weights_uri
    assert stored.is_file() and tiny.weights_uri.startswith("models/")
    assert (workspace / "reports" / f"tiny-shapes-{tiny.version}.pt").read_bytes() == stored.read_bytes()
    assert sorted((link.role, link.item_count) for link in links) == [("train", 96), ("val", 16)]
    # The images on the record are the images the tiny training drew (same generator, spec and seed).
    import hashlib
    import io

    from PIL import Image

    config = TinyTrainConfig()
    drawn = set()
    for shape in render_shapes(ShapesSpec(), count=config.train_images, seed=config.seed):
        buf = io.BytesIO()
        Image.fromarray(shape.pixels).save(buf, format="PNG")
        drawn.add(hashlib.sha256(buf.getvalue()).hexdigest())
    assert drawn == train_hashes
    assert "Intended use" in (workspace / "reports" / "model-card-tiny-shapes.html").read_text()
    events = [json.loads(line) for line in (workspace / "openlineage" / "events.jsonl").read_text().splitlines()]
    assert any(e["job"]["name"].endswith(".models.tiny-shapes.train") for e in events)
    assert [e.passed for e in leak] == [True, False]
    blocked = next(g for g in leak[1].gates if g["name"] == "training_leakage")
    assert "tiny-shapes" in blocked["explanation"] and "shapes-train@v1" in blocked["explanation"]
    assert "12 of the 162 golden items" in blocked["explanation"]


def _readme_example_passes_as_a_recheck(workspace: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's `labelgate gate check street@v3 --policy policies/default.yaml` on the demo workspace (which
    also holds the newer shapes golden set): the policy's street-golden@1 is used, it passes, and it is a
    re-check that leaves the release's evidence alone."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(workspace))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["gate", "check", "street@v3", "--policy", "policies/default.yaml"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    head, evaluation_line = result.stdout.splitlines()[:2]
    assert head.startswith("gate check PASSED: 8 of 8 gates pass for street@v3 (policy default@1, hash ")
    assert "golden set street-golden@1: 20 items, " in head
    assert "a re-check of a released version; the release rests on evaluation #2" in evaluation_line
    with Session(engine) as s:
        v3 = s.exec(
            select(DatasetVersion).join(Dataset).where(Dataset.name == "street", DatasetVersion.version == "v3")
        ).one()
        release = s.exec(select(Release).where(Release.dataset_version_id == v3.id)).one()
        assert release.evaluation_id == 2
        evidence = evidence_evaluation(s, v3)
        assert evidence is not None and evidence.id == 2 and evidence.passed
        goldens = {g.id: f"{g.name}@{g.version}" for g in s.exec(select(GoldenSet))}
        rows = s.exec(select(GateEvaluation).where(GateEvaluation.dataset_version_id == v3.id)).all()
        assert len(rows) == 3  # the release's evidence, the demo's re-check, this re-check
        assert {goldens[e.golden_set_id] for e in rows if e.golden_set_id} == {"street-golden@1"}
