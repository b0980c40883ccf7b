"""The model registry: local weights only, SHA-256, class map onto a schema version, clear refusals."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, select

from inference.registry import list_models, map_classes, register_model, resolve_model_ref, verify_weights
from lineage.db import session_scope
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import AuditEvent
from lineage.schemas import LabelClass, create_schema
from tests.inference.conftest import Env

NAMES = {0: "square", 1: "circle", 2: "triangle"}


def test_map_classes_by_name_and_through_overrides() -> None:
    assert map_classes(NAMES, ["triangle", "circle", "square", "star"]) == {
        "0": "square",
        "1": "circle",
        "2": "triangle",
    }
    assert map_classes(NAMES, ["box", "circle", "triangle"], {"square": "box"})["0"] == "box"


def test_map_classes_names_every_missing_class() -> None:
    with pytest.raises(InvalidInput, match=r"missing from the schema: square \(as 'box'\), triangle") as info:
        map_classes(NAMES, ["circle", "disc"], {"square": "box"})
    assert info.value.field == "class_map" and "MODEL_CLASS=SCHEMA_CLASS" in info.value.message
    with pytest.raises(InvalidInput, match="does not predict: hexagon"):
        map_classes(NAMES, ["square"], {"hexagon": "square"})


def test_register_hashes_the_weights_maps_the_classes_and_audits(env: Env) -> None:
    with Session(env.engine) as s:
        model = resolve_model_ref(s, project_id=env.project_id, ref=env.model_ref)
        digest = hashlib.sha256(Path(env.tiny.weights).read_bytes()).hexdigest()
        assert model.weights_sha256 == digest == env.tiny.sha256
        assert model.class_map == {"0": "square", "1": "circle", "2": "triangle"}
        stored = env.settings.repo_dir / model.weights_uri
        assert model.weights_uri == f"models/{digest[:2]}/{digest}.pt" and model.framework == "ultralytics"
        assert stored.read_bytes() == Path(env.tiny.weights).read_bytes()
        assert model.weights_bytes == stored.stat().st_size
        assert (stored.parent / f"{stored.name}.dvc").is_file() and model.imgsz == 160 and model.torch_version
        assert [m.id for m in list_models(s, project_id=env.project_id)] == [model.id]
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "model.register")).one()
        assert event.payload["weights_sha256"] == digest and event.payload["schema"]["name"] == "shapes"
        assert event.payload["model_names"] == {"0": "square", "1": "circle", "2": "triangle"}
        assert verify_weights(model, env.settings.repo_dir) == stored


def test_a_schema_lacking_the_models_classes_is_refused_by_name(env: Env) -> None:
    with session_scope(env.engine) as s:
        sv = create_schema(
            s,
            actor=env.ml,
            project_id=env.project_id,
            name="round-things",
            classes=[LabelClass(name="circle"), LabelClass(name="disc")],
            repo_dir=env.settings.repo_dir,
        )
        sv_id = sv.id or 0
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="square, triangle"):
        register_model(
            s,
            actor=env.ml,
            project_id=env.project_id,
            name="m",
            version="1",
            weights=env.tiny.weights,
            schema_version_id=sv_id,
            repo_dir=env.settings.repo_dir,
        )
    with session_scope(env.engine) as s:
        model = register_model(
            s,
            actor=env.ml,
            project_id=env.project_id,
            name="m",
            version="1",
            weights=env.tiny.weights,
            schema_version_id=sv_id,
            repo_dir=env.settings.repo_dir,
            overrides={"square": "disc", "triangle": "disc"},
        )
        assert model.class_map == {"0": "disc", "1": "circle", "2": "disc"}


def test_refusals(env: Env, tmp_path: Path) -> None:
    base = {
        "actor": env.ml,
        "project_id": env.project_id,
        "schema_version_id": env.shapes.schema_version_id,
        "repo_dir": env.settings.repo_dir,
    }
    with session_scope(env.engine) as s, pytest.raises(Conflict, match="already registered"):
        name, version = env.model_ref.split("@")
        register_model(s, name=name, version=version, weights=env.tiny.weights, **base)  # type: ignore[arg-type]
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="nothing is downloaded"):
        register_model(s, name="x", version="1", weights=Path("https://example.com/yolo11n.pt"), **base)  # type: ignore[arg-type]
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="local file"):
        register_model(s, name="x", version="1", weights=tmp_path / "absent.pt", **base)  # type: ignore[arg-type]
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="cannot load"):
        register_model(s, name="x", version="1", weights=bogus, **base)  # type: ignore[arg-type]
    with session_scope(env.engine) as s, pytest.raises(InvalidInput, match="names are"):
        register_model(s, name="bad name", version="1", weights=env.tiny.weights, **base)  # type: ignore[arg-type]
    with session_scope(env.engine) as s, pytest.raises(NotFound, match="schema version"):
        register_model(
            s,
            actor=env.ml,
            project_id=env.world.other_project.id or 0,
            name="x",
            version="1",
            weights=env.tiny.weights,
            schema_version_id=env.shapes.schema_version_id,
            repo_dir=env.settings.repo_dir,
        )
    with Session(env.engine) as s, pytest.raises(InvalidInput, match="NAME@VERSION"):
        resolve_model_ref(s, project_id=env.project_id, ref="tiny")


def test_weights_changed_after_registration_are_refused(env: Env, tmp_path: Path) -> None:
    copy = tmp_path / "w.pt"
    shutil.copyfile(env.tiny.weights, copy)
    with session_scope(env.engine) as s:
        model = register_model(
            s,
            actor=env.ml,
            project_id=env.project_id,
            name="c",
            version="1",
            weights=copy,
            schema_version_id=env.shapes.schema_version_id,
            repo_dir=env.settings.repo_dir,
            model_names=NAMES,
        )
    stored = env.settings.repo_dir / model.weights_uri
    original = stored.read_bytes()
    stored.chmod(0o644)
    stored.write_bytes(original + b"\0")
    with pytest.raises(Conflict, match="changed since registration") as info:
        verify_weights(model, env.settings.repo_dir)
    assert str(stored) in info.value.message
    stored.unlink()  # gone from the working tree: restored from the DVC cache, then re-checked
    assert verify_weights(model, env.settings.repo_dir).read_bytes() == original
