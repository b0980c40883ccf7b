"""Weights on the record: stored content-addressed in the workspace's DVC, re-checked at every use, exported as
the exact bytes; training lineage pinned and sealed; every bad registration refused with nothing written.

An attacker with the workspace files or the database is tried against each promise: the stored file edited,
removed, removed with the DVC cache; the model and training rows edited, deleted or inserted behind the
chain's back (triggers dropped).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from inference.registry import CardWords, TrainingRecord, register_model, resolve_model_ref, verify_weights
from inference.weights import export_weights, weights_relpath
from lineage.audit.deep import deep_verify
from lineage.db import session_scope
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import AuditEvent, ModelTrainingData, ModelVersion
from tests.inference.conftest import Env
from tests.tamper import tamper

NAMES = {0: "square", 1: "circle", 2: "triangle"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _register(env: Env, name: str, version: str, weights: Path, **kwargs: object) -> ModelVersion:
    with session_scope(env.engine) as s:
        return register_model(
            s,
            actor=env.ml,
            project_id=env.project_id,
            name=name,
            version=version,
            weights=weights,
            schema_version_id=env.shapes.schema_version_id,
            repo_dir=env.settings.repo_dir,
            **kwargs,  # type: ignore[arg-type]
        )


def _git(env: Env, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(env.settings.repo_dir), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _state(env: Env) -> tuple[int, int, int, str, list[str]]:
    """What a refused registration must leave as it was: model rows, training rows, events, git HEAD, and
    the stored weights files."""
    with Session(env.engine) as s:
        models = s.exec(select(func.count()).select_from(ModelVersion)).one()
        links = s.exec(select(func.count()).select_from(ModelTrainingData)).one()
        events = s.exec(select(func.count()).select_from(AuditEvent)).one()
    stored = sorted(str(p.relative_to(env.settings.repo_dir)) for p in (env.settings.repo_dir / "models").rglob("*"))
    return int(models), int(links), int(events), _git(env, "rev-parse", "HEAD"), stored


def test_weights_are_stored_by_content_committed_and_pushed(env: Env, tmp_path: Path) -> None:
    with Session(env.engine) as s:
        model = resolve_model_ref(s, project_id=env.project_id, ref=env.model_ref)
    digest = env.tiny.sha256
    assert model.weights_uri == weights_relpath(digest) == f"models/{digest[:2]}/{digest}.pt"
    stored = env.settings.repo_dir / model.weights_uri
    assert _sha(stored) == digest and model.weights_bytes == stored.stat().st_size
    # The .dvc file is in git at the recorded revision, and names the bytes DVC keeps (md5 of the file).
    dvc_text = _git(env, "show", f"{model.weights_rev}:{model.weights_uri}.dvc")
    md5 = hashlib.md5(stored.read_bytes(), usedforsecurity=False).hexdigest()
    assert f"md5: {md5}" in dvc_text
    remote = Path(env.settings.dvc_remote)
    assert [p for p in remote.rglob("*") if p.is_file() and p.name == md5[2:]], "weights not pushed to the remote"
    # The same bytes under another name are stored once; both rows point at them.
    copy = tmp_path / "same.pt"
    shutil.copyfile(env.tiny.weights, copy)
    again = _register(env, "same-bytes", "1", copy, model_names=NAMES)
    assert again.weights_uri == model.weights_uri
    assert len([p for p in (env.settings.repo_dir / "models").rglob("*.pt")]) == 1


def test_the_stored_copy_is_what_counts_not_the_source(env: Env, tmp_path: Path) -> None:
    source = tmp_path / "w.pt"
    shutil.copyfile(env.tiny.weights, source)
    model = _register(env, "src", "1", source)
    source.write_bytes(b"overwritten after registration")
    assert _sha(verify_weights(model, env.settings.repo_dir)) == model.weights_sha256 == env.tiny.sha256


def test_an_edited_stored_file_is_refused_and_named_and_never_silently_replaced(env: Env, tmp_path: Path) -> None:
    with Session(env.engine) as s:
        model = resolve_model_ref(s, project_id=env.project_id, ref=env.model_ref)
    stored = env.settings.repo_dir / model.weights_uri
    stored.chmod(0o644)
    data = stored.read_bytes()
    stored.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one bit pattern of one byte changed
    for use in (
        lambda: verify_weights(model, env.settings.repo_dir),
        lambda: export_weights(model, env.settings.repo_dir, tmp_path / "out.pt"),
    ):
        with pytest.raises(Conflict, match="changed since registration") as info:
            use()
        assert str(stored) in info.value.message and "dvc checkout" in info.value.message
    assert not (tmp_path / "out.pt").exists()
    assert _sha(stored) != model.weights_sha256  # refused, not restored behind the person's back


def test_a_missing_file_comes_back_from_the_cache_or_the_remote(env: Env) -> None:
    with Session(env.engine) as s:
        model = resolve_model_ref(s, project_id=env.project_id, ref=env.model_ref)
    stored = env.settings.repo_dir / model.weights_uri
    stored.unlink()
    assert _sha(verify_weights(model, env.settings.repo_dir)) == model.weights_sha256
    # Now without the local cache either: only the DVC remote holds the bytes.
    stored.unlink()
    shutil.rmtree(env.settings.repo_dir / ".dvc" / "cache")
    assert _sha(verify_weights(model, env.settings.repo_dir)) == model.weights_sha256
    # And without the .dvc file in the working tree: the recorded git revision still names the bytes.
    stored.unlink()
    (stored.parent / f"{stored.name}.dvc").unlink()
    assert _sha(verify_weights(model, env.settings.repo_dir)) == model.weights_sha256


def test_export_writes_the_exact_bytes_and_refuses_to_overwrite(env: Env, tmp_path: Path) -> None:
    with Session(env.engine) as s:
        model = resolve_model_ref(s, project_id=env.project_id, ref=env.model_ref)
    written = export_weights(model, env.settings.repo_dir, tmp_path)
    assert written == tmp_path / f"{model.name}-{model.version}.pt"
    assert written.read_bytes() == Path(env.tiny.weights).read_bytes()
    with pytest.raises(InvalidInput, match="exists"):
        export_weights(model, env.settings.repo_dir, written)
    written.write_bytes(b"x")
    assert (
        export_weights(model, env.settings.repo_dir, written, overwrite=True).read_bytes()
        == Path(env.tiny.weights).read_bytes()
    )
    with pytest.raises(InvalidInput, match="no folder"):
        export_weights(model, env.settings.repo_dir, tmp_path / "absent" / "w.pt")


def test_training_lineage_is_pinned_recorded_and_listed(env: Env, tmp_path: Path) -> None:
    copy = tmp_path / "t.pt"
    shutil.copyfile(env.tiny.weights, copy)
    model = _register(
        env,
        "trained",
        "1",
        copy,
        model_names=NAMES,
        training=TrainingRecord(
            train=(env.shapes.pool,),
            val=(env.shapes.golden_ref,),
            hyperparameters={"epochs": 20, "imgsz": 160, "base": Path("/x/y.yaml")},
            metrics={"map50": 0.93},
            trainer="test",
        ),
        card=CardWords(intended_use="testing", caveats=("tiny", " ")),
    )
    with Session(env.engine) as s:
        links = s.exec(select(ModelTrainingData).where(ModelTrainingData.model_version_id == model.id)).all()
        event = s.exec(
            select(AuditEvent).where(AuditEvent.action == "model.register").order_by(col(AuditEvent.seq).desc())
        ).first()
    assert sorted((link.role, link.item_count) for link in links) == [("train", 24), ("val", 40)]
    assert all(link.manifest_hash and len(link.manifest_hash) == 64 for link in links)
    assert event is not None and event.payload["trained_on"] == [env.shapes.pool]
    assert event.payload["validated_on"] == [env.shapes.golden_ref]
    assert {r["table"] for r in event.payload["records"]} == {"model_versions", "model_training_data"}
    assert model.training == {
        "trainer": "test",
        "hyperparameters": {"base": "/x/y.yaml", "epochs": 20, "imgsz": 160},
        "metrics": {"map50": 0.93},
        "started_at": None,
        "finished_at": None,
    }
    assert model.card == {"intended_use": "testing", "caveats": ["tiny"]}
    with Session(env.engine) as s:
        assert deep_verify(s).ok


def test_bad_registrations_are_refused_with_nothing_written(env: Env, tmp_path: Path) -> None:
    before = _state(env)
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint at all")
    empty = tmp_path / "empty.pt"
    empty.touch()
    cases: list[tuple[type[Exception], str, dict[str, object]]] = [
        (InvalidInput, "cannot load .*bogus.pt as an Ultralytics model", {"weights": bogus}),
        (InvalidInput, "is empty", {"weights": empty}),
        (InvalidInput, "is a detect model .* not the segment model", {"task": "segment"}),
        (InvalidInput, "unknown task", {"task": "obb"}),
        (NotFound, "training data 'shapes-pool@v9'", {"training": TrainingRecord(train=("shapes-pool@v9",))}),
        (NotFound, "validation data 'nowhere@v1'", {"training": TrainingRecord(val=("nowhere@v1",))}),
        (InvalidInput, "expected DATASET@VERSION", {"training": TrainingRecord(train=("shapes-pool",))}),
        (InvalidInput, "named twice", {"training": TrainingRecord(train=(env.shapes.pool, env.shapes.pool))}),
        (InvalidInput, "must be a number", {"training": TrainingRecord(metrics={"map": float("nan")})}),
        (InvalidInput, "at most 4000", {"card": CardWords(intended_use="x" * 4001)}),
        (InvalidInput, "missing from schema", {"overrides": {"square": "hexagon"}}),
    ]
    for error, message, kwargs in cases:
        args: dict[str, object] = {"weights": env.tiny.weights, **kwargs}
        weights = args.pop("weights")
        with pytest.raises(error, match=message):
            _register(env, "refused", "1", weights, **args)  # type: ignore[arg-type]
        assert _state(env) == before, f"a refused registration ({message}) wrote something"
    staging = env.settings.repo_dir.parent / ".labelgate-staging"
    assert not list(staging.glob("*")), "a staged copy was left behind"


def test_a_version_of_another_project_is_not_training_data_here(env: Env) -> None:
    from lineage.datasets import create_dataset

    with session_scope(env.engine) as s:
        create_dataset(s, actor=env.ml, project_id=env.world.other_project.id or 0, name="elsewhere")
    before = _state(env)
    with pytest.raises(NotFound, match="elsewhere"):
        _register(env, "x", "1", env.tiny.weights, training=TrainingRecord(train=("elsewhere@v1",)))
    assert _state(env) == before


def test_model_rows_are_append_only_and_every_edit_is_named_by_deep_verify(env: Env, tmp_path: Path) -> None:
    copy = tmp_path / "t.pt"
    shutil.copyfile(env.tiny.weights, copy)
    model = _register(env, "sealed", "1", copy, model_names=NAMES, training=TrainingRecord(train=(env.shapes.pool,)))
    with Session(env.engine) as s:
        link = s.exec(select(ModelTrainingData).where(ModelTrainingData.model_version_id == model.id)).one()
    # The triggers refuse the plain UPDATE.
    with pytest.raises(Exception, match="append-only"), session_scope(env.engine) as s:
        s.exec(  # type: ignore[call-overload]
            ModelVersion.__table__.update().where(ModelVersion.id == model.id).values(weights_sha256="f" * 64)  # type: ignore[attr-defined]
        )
    # An attacker who drops them is named: an edited pin, a forged hash, a deleted link, an inserted link.
    pins, links, models = "model_training_data", "model_training_data", "model_versions"
    attacks = [
        (f"UPDATE {pins} SET item_count = 1 WHERE id = :i", {"i": link.id}, pins, "edited"),
        (f"UPDATE {models} SET weights_sha256 = :h WHERE id = :i", {"h": "f" * 64, "i": model.id}, models, "edited"),
        (f"DELETE FROM {links} WHERE id = :i", {"i": link.id}, links, "deleted"),
    ]
    for sql, params, table, kind in attacks:
        assert tamper(env.engine, sql, **params) == 1
        with Session(env.engine) as s:
            report = deep_verify(s)
        assert any(p.table == table and p.kind == kind for p in report.problems), (sql, report.problems)
    tamper(
        env.engine,
        "INSERT INTO model_training_data (id, model_version_id, dataset_version_id, role, item_count, created_at) "
        "VALUES (9999, :m, :d, 'val', 0, '2026-01-01 00:00:00.000000')",
        m=model.id,
        d=link.dataset_version_id,
    )
    with Session(env.engine) as s:
        report = deep_verify(s)
    assert any(p.table == "model_training_data" and p.kind == "inserted" and p.row_id == 9999 for p in report.problems)
