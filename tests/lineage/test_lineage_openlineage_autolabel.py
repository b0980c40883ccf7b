"""OpenLineage of auto-label runs, executed for real with the tiny detector the inference tests train: START
when the run starts and COMPLETE when it finishes (one run id), or FAIL when its failure is recorded; the
dataset version and the model version (its weights' SHA-256 in a facet) are the inputs, the version the
output. The emitter is bound to the engine the runner opens its own sessions on."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from lineage.datasets import change_state, resolve_version
from lineage.db import session_scope
from lineage.errors import Conflict
from lineage.models import ModelVersion, VersionState
from lineage.openlineage import bind_emitter, workspace_emitter
from tests.inference import conftest as inference
from tests.inference.conftest import Env
from tests.lineage.test_lineage_openlineage_schemas import read_events, validate_event

env, tiny = inference.env, inference.tiny  # the inference tests' fixtures: a workspace with the tiny detector


def _autolabel_events(env: Env) -> list[dict[str, Any]]:
    events = read_events(env.settings.workspace / "openlineage" / "events.jsonl")
    for event in events:
        validate_event(event)
    return [e for e in events if e["job"]["name"].endswith(".autolabel")]


def _model(env: Env) -> ModelVersion:
    with Session(env.engine) as s:
        model = s.get(ModelVersion, env.model_id)
        assert model is not None
        return model


def test_a_run_emits_start_and_complete_with_the_model_version_as_an_input(env: Env) -> None:
    bind_emitter(env.engine, workspace_emitter(env.settings.workspace, name="shapes"))
    run_id = env.queue()
    env.execute(run_id)
    start, complete = _autolabel_events(env)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    project, model = env.world.project.name, _model(env)
    dataset = env.shapes.pool.split("@")[0]
    assert (complete["job"]["namespace"], complete["job"]["name"]) == (
        "labelgate://shapes",
        f"{project}.{dataset}.autolabel",
    )
    version_in, model_in = complete["inputs"]
    assert (version_in["name"], version_in["facets"]["version"]["datasetVersion"]) == (
        f"{project}/{dataset}", env.shapes.pool.split("@")[1],
    )  # fmt: skip
    assert (model_in["namespace"], model_in["name"]) == ("labelgate://shapes", f"{project}/models/{model.name}")
    assert model_in["facets"]["version"]["datasetVersion"] == model.version
    assert model_in["facets"]["labelgateModel"]["weightsSha256"] == model.weights_sha256
    [out] = complete["outputs"]
    assert (out["name"], out["facets"]) == (version_in["name"], version_in["facets"])
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == env.counts(run_id)[0] > 0
    assert complete["run"]["facets"]["labelgate"]["details"]["autolabel_run"] == run_id


def test_a_recorded_failure_emits_fail_with_its_message(env: Env) -> None:
    bind_emitter(env.engine, workspace_emitter(env.settings.workspace))
    run_id = env.queue()
    with session_scope(env.engine) as s:
        _, v = resolve_version(s, project_id=env.project_id, ref=env.shapes.pool)
        change_state(s, actor=env.ml, version=v, to=VersionState.candidate)
        change_state(s, actor=env.ml, version=v, to=VersionState.released, repo_dir=env.settings.repo_dir)
    with pytest.raises(Conflict, match="immutable"):
        env.execute(run_id)
    [failed] = _autolabel_events(env)
    assert failed["eventType"] == "FAIL"
    error = failed["run"]["facets"]["errorMessage"]
    assert "immutable" in error["message"] and error["programmingLanguage"] == "python"
    assert "outputFacets" not in failed["outputs"][0] or not failed["outputs"][0]["outputFacets"]
