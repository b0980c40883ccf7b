"""The model registry: model versions registered from local weights, with their hash and class map.

A model version records where its weights are (``weights_uri``, an absolute local path), the SHA-256 of their
bytes, and its **class map** ``{"<model class index>": "<schema class name>"}`` onto one label-schema version.
Every class the model predicts must map onto a class of that schema (by equal name, or through an explicit
``overrides`` entry ``{model name: schema name}``); otherwise registration is refused naming the classes that
are missing. Nothing is downloaded: weights that are not a local file are refused.

The model's Ultralytics **task** (``model.task``) is recorded in the class map too, under the key ``"task"``
for segment, pose and classify models (with ``"keypoints"``: K points per object for pose models); a class map
without it is a detector's, as every model registered before tasks existed. The task must fit the schema's
(:func:`lineage.schemas.schema_task`: ``tag`` → classify, ``polygon``/``mask`` → segment, ``keypoints`` →
pose, else detect) and a pose model's K the keypoint classes' K, on registration and again when a run is
queued on a dataset version (:func:`check_model_fits`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import LabelSchema, LabelSchemaVersion, ModelVersion
from lineage.schemas import version_classes, version_options, version_task

__all__ = [
    "KEYPOINTS_KEY",
    "TASK_KEY",
    "SchemaFacts",
    "check_model_fits",
    "check_task_fits",
    "class_names_of",
    "get_model",
    "list_models",
    "map_classes",
    "model_keypoints",
    "model_task",
    "register_model",
    "resolve_model_ref",
    "schema_facts",
    "sha256_file",
    "verify_weights",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FRAMEWORKS = frozenset({"ultralytics"})
#: Class-map keys that are not class indices: the model's task and, for pose models, its K.
TASK_KEY = "task"
KEYPOINTS_KEY = "keypoints"
# What each model task labels, for error messages.
_TASK_GEOMETRY = {
    "detect": "boxes",
    "segment": "polygons or masks",
    "pose": "keypoints",
    "classify": "image tags",
}


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
    return {int(k): str(v) for k, v in model.class_map.items() if k.isdigit()}


def model_task(model: ModelVersion) -> str:
    """The registered model's Ultralytics task: ``detect`` (also for models registered before tasks were
    recorded), ``segment``, ``pose`` or ``classify``."""
    return str(model.class_map.get(TASK_KEY, "detect"))


def model_keypoints(model: ModelVersion) -> int | None:
    """K points per object of a pose model (None for other tasks)."""
    k = model.class_map.get(KEYPOINTS_KEY)
    return None if k is None else int(k)


def check_task_fits(
    task: str,
    keypoints: int | None,
    sv: LabelSchemaVersion,
    mapped: set[str],
    *,
    model_label: str,
    schema_label: str,
) -> None:
    """``InvalidInput`` when a ``task`` model cannot label schema version ``sv``: its task differs from the
    schema's, or (pose) its K differs from a keypoint class it maps onto (``mapped``: schema class names)."""
    wanted = version_task(sv)
    if task != wanted:
        raise InvalidInput(
            f"{model_label} is a {task} model ({_TASK_GEOMETRY.get(task, task)}), but {schema_label} is a {wanted} "
            f"schema (its classes take {_TASK_GEOMETRY[wanted]}); register a {wanted} model for it",
            field="model",
        )
    if task != "pose":
        return
    for c in version_classes(sv):
        spec = c.keypoints
        if c.name in mapped and spec is not None and len(spec.names) != keypoints:
            raise InvalidInput(
                f"{model_label} predicts {keypoints} keypoints per object, but class {c.name!r} of {schema_label} "
                f"has K={len(spec.names)} ({', '.join(spec.names)})",
                field="model",
            )


@dataclass(frozen=True)
class SchemaFacts:
    """What labelling needs of a schema version: ``geometry`` ``{class: geometry}``, ``keypoints`` ``{keypoint
    class: K}``, ``sigmas`` ``{keypoint class: OKS sigmas}`` and ``multi_label`` (empty without a schema)."""

    geometry: dict[str, str] = field(default_factory=dict)
    keypoints: dict[str, int] = field(default_factory=dict)
    sigmas: dict[str, tuple[float, ...]] = field(default_factory=dict)
    multi_label: bool = False


def schema_facts(session: Session, schema_version_id: int | None) -> SchemaFacts:
    """The :class:`SchemaFacts` of a schema version (defaults when there is none)."""
    sv = session.get(LabelSchemaVersion, schema_version_id) if schema_version_id is not None else None
    if sv is None:
        return SchemaFacts()
    classes = version_classes(sv)
    return SchemaFacts(
        geometry={c.name: str(c.geometry) for c in classes},
        keypoints={c.name: len(c.keypoints.names) for c in classes if c.keypoints is not None},
        sigmas={c.name: tuple(c.keypoints.sigmas) for c in classes if c.keypoints is not None},
        multi_label=bool(version_options(sv).multi_label),
    )


def check_model_fits(session: Session, model: ModelVersion, schema_version_id: int | None) -> None:
    """:func:`check_task_fits` for a registered model and a schema version (nothing without a schema)."""
    sv = session.get(LabelSchemaVersion, schema_version_id) if schema_version_id is not None else None
    if sv is None:
        return
    schema = session.get(LabelSchema, sv.schema_id)
    check_task_fits(
        model_task(model),
        model_keypoints(model),
        sv,
        set(class_names_of(model).values()),
        model_label=f"model {model.name}@{model.version}",
        schema_label=f"schema {schema.name if schema else sv.schema_id!r} v{sv.version}",
    )


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
    task: str | None = None,
    keypoints: int | None = None,
) -> ModelVersion:
    """Register ``name@version`` from a local weights file.

    Args:
        weights: a local ``.pt``; hashed (SHA-256) and, unless ``model_names`` is given, loaded on the CPU to
            read the class names it predicts.
        schema_version_id: the label-schema version the classes map onto (must be in ``project_id``).
        overrides (None): ``{model class name: schema class name}``.
        framework ("ultralytics"): the only runner there is today.
        model_names (None): the model's ``{index: name}`` when the caller already knows them.
        task (None), keypoints (None): the model's task and a pose model's K when the caller gives
            ``model_names``; read from the weights otherwise (``detect`` when names are given without a task).
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
        from inference.ultra import read_model_info

        info = read_model_info(weights)
        model_names, task, keypoints = info.names, info.task, info.keypoints
    task = task or "detect"
    schema_label = f"schema {schema.name!r} v{sv.version}"
    class_map: dict[str, Any] = dict(
        map_classes(model_names, [str(c["name"]) for c in sv.classes], overrides, schema_label=schema_label)
    )
    check_task_fits(
        task, keypoints, sv, set(class_map.values()), model_label=f"model {name}@{version}", schema_label=schema_label
    )
    if task != "detect":  # a detector's class map stays as it always was
        class_map[TASK_KEY] = task
        if task == "pose":
            class_map[KEYPOINTS_KEY] = keypoints
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
