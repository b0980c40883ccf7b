"""The model registry: model versions registered from local weights, with their hash and class map.

A model version records where its weights are (``weights_uri``, an absolute local path), the SHA-256 of their
bytes, and its **class map** ``{"<model class index>": "<schema class name>"}`` onto one label-schema version.
Every class the model predicts must map onto a class of that schema (by equal name, or through an explicit
``overrides`` entry ``{model name: schema name}``); otherwise registration is refused naming the classes that
are missing. Nothing is downloaded: weights that are not a local file are refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import LabelSchema, LabelSchemaVersion, ModelVersion

__all__ = [
    "class_names_of",
    "get_model",
    "list_models",
    "map_classes",
    "register_model",
    "resolve_model_ref",
    "sha256_file",
    "verify_weights",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FRAMEWORKS = frozenset({"ultralytics"})


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def map_classes(
    model_names: Mapping[int, str],
    schema_names: list[str],
    overrides: Mapping[str, str] | None = None,
    *,
    schema_label: str = "the schema",
) -> dict[str, str]:
    """The class map ``{"<index>": schema name}``; ``InvalidInput`` naming every class that does not map.

    Args:
        model_names: ``{index: name}`` the model predicts.
        schema_names: class names of the schema version.
        overrides (None): ``{model class name: schema class name}`` for classes named differently.
        schema_label: how errors name the schema (e.g. ``'shapes' v2``).
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(model_names.values()))
    if unknown:
        raise InvalidInput(
            f"class map names classes the model does not predict: {', '.join(unknown)} "
            f"(the model predicts {', '.join(sorted(model_names.values()))})",
            field="class_map",
        )
    schema = set(schema_names)
    mapped = {str(i): overrides.get(name, name) for i, name in sorted(model_names.items())}
    missing = sorted(
        {
            f"{model_names[int(i)]}" + (f" (as {t!r})" if t != model_names[int(i)] else "")
            for i, t in mapped.items()
            if t not in schema
        }
    )
    if missing:
        raise InvalidInput(
            f"the model predicts classes missing from {schema_label}: {', '.join(missing)} "
            f"(the schema has {', '.join(sorted(schema))}); map them with MODEL_CLASS=SCHEMA_CLASS",
            field="class_map",
        )
    return mapped


def class_names_of(model: ModelVersion) -> dict[int, str]:
    """``{model class index: schema class name}`` of a registered model."""
    return {int(k): str(v) for k, v in model.class_map.items()}


def register_model(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    version: str,
    weights: Path,
    schema_version_id: int,
    overrides: Mapping[str, str] | None = None,
    framework: str = "ultralytics",
    model_names: Mapping[int, str] | None = None,
) -> ModelVersion:
    """Register ``name@version`` from a local weights file.

    Args:
        weights: a local ``.pt``; hashed (SHA-256) and, unless ``model_names`` is given, loaded on the CPU to
            read the class names it predicts.
        schema_version_id: the label-schema version the classes map onto (must be in ``project_id``).
        overrides (None): ``{model class name: schema class name}``.
        framework ("ultralytics"): the only runner there is today.
        model_names (None): the model's ``{index: name}`` when the caller already knows them.
    """
    for value, what in ((name, "name"), (version, "version")):
        if not NAME_PATTERN.match(value):
            raise InvalidInput(
                f"model {what}s are 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit",
                field=what,
            )
    if framework not in FRAMEWORKS:
        supported = ", ".join(sorted(FRAMEWORKS))
        raise InvalidInput(f"unknown framework {framework!r} (supported: {supported})", field="framework")
    weights = weights.expanduser()
    if "://" in str(weights) or not weights.is_file():
        raise InvalidInput(
            f"weights must be a local file; {weights} is not one (nothing is downloaded)", field="weights"
        )
    weights = weights.resolve()
    sv = session.get(LabelSchemaVersion, schema_version_id)
    schema = session.get(LabelSchema, sv.schema_id) if sv is not None else None
    if sv is None or schema is None or schema.project_id != project_id:
        raise NotFound(f"no label schema version {schema_version_id} in this project", field="schema")
    existing = session.exec(
        select(ModelVersion).where(
            ModelVersion.project_id == project_id, ModelVersion.name == name, ModelVersion.version == version
        )
    ).first()
    if existing is not None:
        raise Conflict(f"model {name}@{version} is already registered (id {existing.id})", field="version")
    if model_names is None:
        from inference.ultra import read_class_names

        model_names = read_class_names(weights)
    class_map = map_classes(
        model_names,
        [str(c["name"]) for c in sv.classes],
        overrides,
        schema_label=f"schema {schema.name!r} v{sv.version}",
    )
    digest = sha256_file(weights)
    row = ModelVersion(
        project_id=project_id,
        name=name,
        version=version,
        framework=framework,
        weights_uri=str(weights),
        weights_sha256=digest,
        class_map=class_map,
        schema_version_id=schema_version_id,
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor,
        "model.register",
        ("model_version", str(row.id)),
        project_id=project_id,
        payload={
            "model": f"{name}@{version}",
            "framework": framework,
            "weights_uri": str(weights),
            "weights_sha256": digest,
            "model_names": {str(k): v for k, v in sorted(model_names.items())},
            "class_map": class_map,
            "schema": {"name": schema.name, "version": sv.version, "content_hash": sv.content_hash},
        },
    )
    return row


def get_model(session: Session, *, project_id: int, name: str, version: str) -> ModelVersion:
    row = session.exec(
        select(ModelVersion).where(
            ModelVersion.project_id == project_id, ModelVersion.name == name, ModelVersion.version == version
        )
    ).first()
    if row is None:
        raise NotFound(f"no model {name}@{version} in this project", field="model")
    return row


def resolve_model_ref(session: Session, *, project_id: int, ref: str) -> ModelVersion:
    """``NAME@VERSION`` → the registered model version."""
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise InvalidInput(f"expected NAME@VERSION, got {ref!r}", field="model")
    return get_model(session, project_id=project_id, name=name, version=version)


def list_models(session: Session, *, project_id: int) -> list[ModelVersion]:
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.project_id == project_id)
        .order_by(col(ModelVersion.name), col(ModelVersion.id))
    )
    return list(session.exec(stmt))


def verify_weights(model: ModelVersion) -> Path:
    """The model's weights file, after checking its bytes still hash to the registered SHA-256."""
    path = Path(model.weights_uri)
    if not path.is_file():
        raise NotFound(f"weights of {model.name}@{model.version} are gone from {path}", field="model")
    digest = sha256_file(path)
    if digest != model.weights_sha256:
        raise Conflict(
            f"weights of {model.name}@{model.version} at {path} changed since registration "
            f"(SHA-256 {digest[:12]}…, registered {model.weights_sha256[:12]}…); register a new version",
            field="model",
        )
    return path
