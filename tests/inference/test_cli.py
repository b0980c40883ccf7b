"""The inference CLI end to end on a real workspace: register, autolabel (rerun = no-op), calibrate, worker,
review; errors exit 2 with a message, never a traceback; the same commands against a server on the workspace
print and exit as they do locally, and what needs the workspace's machine refuses ``--server``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from inference.tiny import TinyModel
from lineage import identity
from lineage.db import make_engine, session_scope
from lineage.models import Annotation, AuditEvent, AutoLabelRun
from service.cli.main import app
from service.demo.shapes import build_shapes_world
from service.settings import get_settings
from tests.factories import actor_for
from tests.service.test_remote_cli_audit import both_doors, cli_as, serving


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny: TinyModel) -> Iterator[Path]:
    ws = tmp_path / "ws"
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(ws))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    assert run("init")[0] == 0
    assert run("project", "create", "shapes-lab")[0] == 0
    settings = get_settings()
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        admin = identity.get_user_by_name(s, "admin")
        build_shapes_world(
            s,
            actor=actor_for(admin),
            project_id=1,
            repo_dir=settings.repo_dir,
            scratch=tmp_path / "gen",
            pool_items=16,
            golden_items=30,
        )
    engine.dispose()
    yield ws
    get_settings.cache_clear()


def test_register_autolabel_rerun_calibrate_worker_review(workspace: Path, tiny: TinyModel) -> None:
    code, out = run("model", "register", "tiny@1", "--weights", str(tiny.weights), "--schema", "shapes")
    assert code == 0 and tiny.sha256 in out and "0→square" in out, out
    code, out = run("model", "register", "odd@1", "--weights", str(tiny.weights), "--schema", "shapes", "--map", "x")
    assert code == 2 and "MODEL_CLASS=SCHEMA_CLASS" in out
    code, out = run(
        "model", "register", "odd@1", "--weights", str(tiny.weights), "--schema", "shapes", "--map", "square=box"
    )
    assert code == 2 and "missing from schema 'shapes' v1: square (as 'box')" in out and "Traceback" not in out

    label = [
        "autolabel",
        "shapes-pool@v1",
        "--model",
        "tiny@1",
        "--threshold",
        "0.3",
        "--batch",
        "8",
        "--device",
        "cpu",
    ]
    code, out = run(*label)
    assert code == 0 and "run 1 queued" in out and "run 1 succeeded: 16/16 items" in out, out
    code, out = run(*label)
    assert code == 0 and "already succeeded" in out
    engine = make_engine(get_settings().database_url)
    with Session(engine) as s:
        assert s.get(AutoLabelRun, 1).items_done == 16  # type: ignore[union-attr]
        n_labels = len(list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == 1))))
    code, out = run("runs", "list")
    assert code == 0 and "succeeded" in out and "16/16" in out
    code, out = run("runs", "show", "1")
    assert code == 0 and json.loads(out)["state"] == "succeeded"

    code, out = run(
        "calibrate",
        "--model",
        "tiny@1",
        "--golden",
        "shapes-golden",
        "--target-error",
        "0.2",
        "--level",
        "0.9",
        "--device",
        "cpu",
        "--json",
    )
    assert code == 0, out
    body = json.loads(out)
    assert body["golden"] == "shapes-golden@v1" and set(body["thresholds"]["f1"]) == {"square", "circle", "triangle"}
    cal = str(body["calibration_id"])
    code, out = run(*label, "--calibration", cal, "--strategy", "f1", "--queue")
    assert code == 0 and "run 2 queued" in out and "succeeded" not in out
    code, out = run("runs", "show", "2")
    assert json.loads(out)["class_thresholds"] == pytest.approx(body["thresholds"]["f1"])
    code, out = run("worker", "--once", "--poll", "0.1")
    assert code == 0 and "run 2 succeeded" in out and "stopped after 1 runs" in out, out
    code, out = run("review", "list", "--run", "2", "--json")
    assert code == 0
    code, out = run("review", "select", "1", "--fraction", "0.5")
    assert code == 0 and "queued" in out
    with Session(engine) as s:
        assert len(list(s.exec(select(Annotation).where(Annotation.autolabel_run_id == 1)))) == n_labels
    engine.dispose()


def test_errors_exit_2_with_a_message(workspace: Path) -> None:
    code, out = run("autolabel", "nope@v1", "--model", "tiny@1")
    assert code == 2 and "no dataset named 'nope'" in out
    code, out = run("autolabel", "shapes-pool@v1", "--model", "ghost@1")
    assert code == 2 and "no model ghost@1" in out
    code, out = run("calibrate", "--model", "ghost@1", "--golden", "shapes-golden")
    assert code == 2 and "no model ghost@1" in out
    code, out = run("runs", "resume", "42")
    assert code == 2 and "no auto-label run 42" in out


def test_the_same_commands_through_both_doors(
    workspace: Path, tiny: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("model", "register", "tiny@1", "--weights", str(tiny.weights), "--schema", "shapes")[0] == 0
    queue = ("autolabel", "shapes-pool@v1", "--model", "tiny@1", "--device", "cpu", "--batch", "8", "--queue")
    assert run(*queue) == (0, "run 1 queued\n")
    engine = make_engine(get_settings().database_url)
    with session_scope(engine) as s:
        token = identity.issue_token(s, actor=None, user=identity.get_user_by_name(s, "admin"), name="cli").token
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no stored `labelgate login` token
    with serving(workspace, None, tmp_path / "server.log") as server:
        same = [("model", "list"), ("model", "list", "--json"), ("runs", "list"), ("runs", "show", "1")]
        for args in [*same, ("review", "list", "--json"), ("runs", "list", "--state", "succeeded")]:
            code, out, _ = both_doors(args, token=token, server=server)
            assert code == 0 and (out or args[-1] == "succeeded"), (args, out)
        assert json.loads(both_doors(("runs", "show", "1"), token=token, server=server)[1])["state"] == "queued"
        assert both_doors(queue, token=token, server=server)[:2] == (0, "run 1 resuming (queued, 0/16 done)\n")
        cancelled = cli_as(("runs", "cancel", "1", "--reason", "enough"), token=token, server=server)
        assert cancelled.exit_code == 0 and cancelled.stdout == "run 1 cancelled\n", cancelled.output
        code, _, errors = both_doors(("runs", "cancel", "1"), token=token, server=server)
        assert code == 1 and "already cancelled" in errors
        machine_only = [
            ("worker", "--once"),
            ("runs", "resume", "1"),
            ("autolabel", "shapes-pool@v1", "--model", "tiny@1"),
            ("model", "register", "x@1", "--weights", str(tiny.weights), "--schema", "shapes"),
            ("calibrate", "--model", "tiny@1", "--golden", "shapes-golden"),
        ]
        for args in machine_only:
            refused = cli_as(args, token=token, server=server)
            assert refused.exit_code == 2 and "runs on the workspace's machine only" in refused.stderr, refused.output
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "autolabel_run.cancel")).one()
        assert event.payload["reason"] == "enough" and event.actor == "admin"  # the reason came through the API
    engine.dispose()


def test_model_tiny_trains_or_loads_each_task(request: pytest.FixtureRequest) -> None:
    """``labelgate model tiny --task classify`` gives the cached tiny classifier (the one the task tests use);
    an unknown task exits 2."""
    from typer.testing import CliRunner

    from service.cli.main import app
    from tests.inference.conftest import model_cache

    cache = model_cache(request)
    made = CliRunner().invoke(app, ["model", "tiny", "--task", "classify", "--cache", str(cache)])
    assert made.exit_code == 0, made.output
    assert "weights.pt" in made.output and "circle, square, triangle" in made.output
    bad = CliRunner().invoke(app, ["model", "tiny", "--task", "obb", "--cache", str(cache)])
    assert bad.exit_code == 2
