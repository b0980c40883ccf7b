"""Models through the API and the CLI: register with training lineage, read one with its data, download and
export the exact bytes (locally and through a server), and refusals that write nothing."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from lineage.models import AuditEvent, ModelVersion
from service.api.app import create_app
from tests.inference.conftest import Env


@pytest.fixture
def api(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings, engine=env.engine)) as c:
        yield c


def _counts(env: Env) -> tuple[int, int]:
    with Session(env.engine) as s:
        return (
            int(s.exec(select(func.count()).select_from(ModelVersion)).one()),
            int(s.exec(select(func.count()).select_from(AuditEvent)).one()),
        )


def test_register_with_training_data_then_read_it_back(env: Env, api: TestClient) -> None:
    p = f"/api/v1/projects/{env.project_id}/models"
    models = env.settings.workspace / "models"
    models.mkdir(exist_ok=True)
    shutil.copyfile(env.tiny.weights, models / "tiny.pt")
    body = {
        "name": "trained",
        "version": "1",
        "weights_path": "tiny.pt",
        "schema_ref": "shapes",
        "task": "detect",
        "trained_on": [env.shapes.pool],
        "validated_on": [env.shapes.golden_ref],
        "hyperparameters": {"epochs": 20},
        "metrics": {"map50": 0.9},
        "intended_use": "shapes",
        "caveats": ["tiny"],
    }
    ml = env.world.headers("ml_engineer")
    created = api.post(p, json=body, headers=ml)
    assert created.status_code == 201, created.text
    assert created.json()["stored"] and created.json()["weights_uri"].startswith("models/")
    detail = api.get(f"{p}/trained@1", headers=ml).json()
    assert [(d["role"], d["version"]) for d in detail["training_data"]] == [
        ("train", env.shapes.pool),
        ("val", env.shapes.golden_ref),
    ]
    assert detail["training"]["metrics"] == {"map50": 0.9} and detail["card"]["caveats"] == ["tiny"]
    # Refusals: a task the weights are not, a training version that does not exist; nothing written.
    before = _counts(env)
    for change, status, field in (
        ({"task": "pose"}, 422, "task"),
        ({"trained_on": ["shapes-pool@v404"]}, 404, "train"),
        ({"metrics": {"map50": "high"}}, 422, None),
    ):
        r = api.post(p, json={**body, "version": "2", **change}, headers=ml)
        assert r.status_code == status, r.text
        if field:
            assert r.json()["error"]["field"] == field
    assert _counts(env) == before
    for who, status in (("reviewer", 403), ("annotator", 403), ("outsider", 404)):
        assert api.get(f"{p}/trained@1", headers=env.world.headers(who)).status_code == status
    assert api.get(f"{p}/trained@9", headers=ml).status_code == 404


def test_weights_download_is_the_exact_bytes_and_refuses_a_changed_file(env: Env, api: TestClient) -> None:
    url = f"/api/v1/projects/{env.project_id}/models/{env.model_ref}/weights"
    ml = env.world.headers("ml_engineer")
    r = api.get(url, headers=ml)
    assert r.status_code == 200 and r.content == Path(env.tiny.weights).read_bytes()
    assert r.headers["x-labelgate-sha256"] == hashlib.sha256(r.content).hexdigest() == env.tiny.sha256
    assert api.get(url, headers=env.world.headers("annotator")).status_code == 403
    with Session(env.engine) as s:
        model = s.exec(select(ModelVersion).where(ModelVersion.id == env.model_id)).one()
    stored = env.settings.repo_dir / model.weights_uri
    stored.chmod(0o644)
    stored.write_bytes(b"swapped")
    r = api.get(url, headers=ml)
    assert r.status_code == 409 and "changed since registration" in r.json()["error"]["message"]


def test_cli_show_and_export_locally_and_through_a_server(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from service.cli.main import app
    from service.settings import get_settings
    from tests.live_server import serving

    monkeypatch.setenv("LABELGATE_WORKSPACE", str(env.settings.workspace))
    monkeypatch.setenv("LABELGATE_DATABASE_URL", env.settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    project = ["--project", env.world.project.name]
    try:
        shown = runner.invoke(app, ["model", "show", env.model_ref, *project])
        assert shown.exit_code == 0, shown.output
        assert env.tiny.sha256 in shown.output and "in the workspace DVC" in shown.output
        out = runner.invoke(app, ["model", "export", env.model_ref, str(tmp_path), *project])
        assert out.exit_code == 0, out.output
        exported = tmp_path / f"{env.model_ref.replace('@', '-')}.pt"
        assert exported.read_bytes() == Path(env.tiny.weights).read_bytes()
        again = runner.invoke(app, ["model", "export", env.model_ref, str(exported), *project])
        assert again.exit_code == 2 and "exists" in again.output, again.output
        with serving(env.settings.workspace, env.settings.database_url, tmp_path / "api.log") as served:
            monkeypatch.setenv("LABELGATE_SERVER", served.url)
            monkeypatch.setenv("LABELGATE_TOKEN", env.world.tokens["ml_engineer"])
            remote = tmp_path / "remote.pt"
            out = runner.invoke(app, ["model", "export", env.model_ref, str(remote), *project])
            assert out.exit_code == 0, out.output
            assert remote.read_bytes() == Path(env.tiny.weights).read_bytes()
            shown = runner.invoke(app, ["model", "show", env.model_ref, "--json", *project])
            assert shown.exit_code == 0 and env.tiny.sha256 in shown.output
    finally:
        get_settings.cache_clear()
