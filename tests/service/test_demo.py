"""`labelgate demo` (the README's main job) runs the whole story and leaves verifiable evidence behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from lineage.audit_verify import verify_database
from lineage.bundle import load_public_key, verify_bundle
from lineage.models import AutoLabelRun, DatasetVersion, GateEvaluation, RunState
from service.demo import run_demo


def test_demo_runs_end_to_end(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    cache = Path(request.config.cache.mkdir("labelgate-models"))  # shared with the inference tests
    state = run_demo(str(tmp_path / "demo"), serve=False, n_images=20, model_cache=cache)
    with Session(state.engine) as s:
        verdicts = {e.dataset_version_id: e.passed for e in s.exec(select(GateEvaluation))}
        versions = {v.id: (v.version, v.state) for v in s.exec(select(DatasetVersion))}
        runs = list(s.exec(select(AutoLabelRun).where(AutoLabelRun.state == RunState.succeeded)))
        chain = verify_database(s)
    by_name = {versions[vid][0]: ok for vid, ok in verdicts.items()}
    assert by_name["v2"] is False and by_name["v3"] is True
    assert ("v3", "released") in versions.values()
    assert any(r.device == "cpu" for r in runs), "the tiny YOLO run did not succeed"
    assert chain.ok and chain.events > 100
    assert state.bundle_path is not None and state.settings.signing_key_path is not None
    key = load_public_key(state.settings.signing_key_path.with_suffix(".pub.pem"))
    assert verify_bundle(json.loads(state.bundle_path.read_text()), public_key=key).ok
    reports = state.settings.workspace / "reports"
    assert "10(2)(b)" in (reports / "street-v3-governance.html").read_text()
    assert "release.create" in (reports / "audit-trail.html").read_text()
    state.engine.dispose()
