"""The model registry: model versions registered from local weights, stored on the record with their hash,
class map, library versions and training lineage.

Registering stores the weights content-addressed in the workspace's DVC repository (``inference.weights``):
the model version records their path there (``weights_uri``, relative to the repository; versions registered
before this kept an absolute path), the SHA-256 and size of their bytes, the git revision that tracks them,
the Ultralytics version that wrote the checkpoint and the torch version it was loaded with, and the input
size it was trained at. Every use re-checks the hash (:func:`verify_weights`). A registration may name the
dataset versions the model was trained and validated on (:class:`TrainingRecord`: each checked to exist in
the project, pinned with its manifest and DVC hashes), its hyper-parameters and validation metrics; and the
card's own words (:class:`CardWords`). Nothing is written when anything is refused.

A model version has a **class map** ``{"<model class index>": "<schema class name>"}`` onto one label-schema version.
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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from inference.weights import sha256_file
from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets.catalog import resolve_version, version_ref
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.labels.labelset import manifest_hash
from lineage.models import LabelSchema, LabelSchemaVersion, ModelTrainingData, ModelVersion
from lineage.schemas import version_classes, version_options, version_task

if TYPE_CHECKING:
    from lineage.openlineage import LineageEmitter

__all__ = [
    "KEYPOINTS_KEY",
    "TASK_KEY",
    "CardWords",
    "SchemaFacts",
    "TrainingRecord",
    "check_model_fits",
    "check_task_fits",
    "check_words",
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
    "training_data",
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


@dataclass(frozen=True)
class TrainingRecord:
    """What a model version was trained on and how: ``train`` and ``val`` dataset versions (``DATASET@VERSION``
    of the project), ``hyperparameters``, the model's own validation ``metrics``, the ``trainer`` (``external``
    when labelgate did not train it) and the training's start and end (ISO-8601 UTC)."""

    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    trainer: str = "external"
    started_at: str | None = None
    finished_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``training`` column: everything but the dataset references (those are rows)."""
        return {
            "trainer": self.trainer,
            "hyperparameters": _plain(dict(self.hyperparameters)),
            "metrics": {str(k): float(v) for k, v in sorted(self.metrics.items())},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class CardWords:
    """What only a person can say on a model card: the ``intended_use`` and the ``caveats``."""

    intended_use: str = ""
    caveats: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any] | None:
        if not self.intended_use.strip() and not any(c.strip() for c in self.caveats):
            return None
        return {"intended_use": self.intended_use.strip(), "caveats": [c.strip() for c in self.caveats if c.strip()]}


def _plain(value: Any) -> Any:
    """JSON-plain hyper-parameters (paths and other objects as text), refusing nothing."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


_MAX_TEXT = 4000
_ROLES = ("train", "val")


def check_words(card: CardWords | None, training: TrainingRecord | None) -> None:
    """``InvalidInput`` for card texts over the bound or holding NUL, a bad trainer name, a non-numeric metric."""
    if card is not None:
        texts = [card.intended_use, *card.caveats]
        if any(len(t) > _MAX_TEXT for t in texts) or any("\x00" in t for t in texts):
            raise InvalidInput(f"intended use and caveats are texts of at most {_MAX_TEXT} characters", field="card")
    if training is not None:
        if training.trainer.strip() == "" or len(training.trainer) > 100:
            raise InvalidInput("a training's trainer is 1-100 characters", field="training")
        for key, value in training.metrics.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
                raise InvalidInput(f"validation metric {key!r} must be a number, got {value!r}", field="metrics")


def _training_rows(
    session: Session, project_id: int, training: TrainingRecord | None
) -> list[tuple[str, str, ModelTrainingData]]:
    """``(role, ref, unsaved row)`` per named dataset version; ``NotFound`` naming a reference that does not
    exist in the project, ``InvalidInput`` for one named twice in a role."""
    if training is None:
        return []
    rows: list[tuple[str, str, ModelTrainingData]] = []
    for role, refs in zip(_ROLES, (training.train, training.val), strict=True):
        seen: set[int] = set()
        for ref in refs:
            try:
                dataset, version = resolve_version(session, project_id=project_id, ref=ref)
            except (NotFound, InvalidInput) as exc:
                raise type(exc)(
                    f"{'training' if role == 'train' else 'validation'} data {ref!r}: {exc.message}", field=role
                ) from None
            if version.id in seen:
                raise InvalidInput(f"{ref} is named twice as {role} data", field=role)
            seen.add(version.id or 0)
            row = ModelTrainingData(
                model_version_id=0,
                dataset_version_id=version.id or 0,
                role=role,
                manifest_hash=version.manifest_hash or manifest_hash(session, version_id=version.id or 0),
                dvc_hash=version.dvc_hash,
                item_count=version.item_count or 0,
            )
            rows.append((role, version_ref(dataset, version), row))
    return rows


def _library_versions() -> tuple[str | None, str | None]:
    """The Ultralytics and torch versions installed (None where one is not)."""
    from importlib.metadata import PackageNotFoundError, version

    found: list[str | None] = []
    for package in ("ultralytics", "torch"):
        try:
            found.append(version(package))
        except PackageNotFoundError:
            found.append(None)
    return found[0], found[1]


def register_model(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    version: str,
    weights: Path,
    schema_version_id: int,
    repo_dir: Path,
    overrides: Mapping[str, str] | None = None,
    framework: str = "ultralytics",
    model_names: Mapping[int, str] | None = None,
    task: str | None = None,
    keypoints: int | None = None,
    training: TrainingRecord | None = None,
    card: CardWords | None = None,
    emitter: LineageEmitter | None = None,
) -> ModelVersion:
    """Register ``name@version`` from a local weights file, storing the weights in ``repo_dir``'s DVC.

    Args:
        weights: a local ``.pt``; copied into the workspace first, then hashed (SHA-256) and, unless
            ``model_names`` is given, loaded on the CPU from that copy to read its task, classes, input size
            and the Ultralytics version that wrote it.
        schema_version_id: the label-schema version the classes map onto (must be in ``project_id``).
        repo_dir: the workspace's git + DVC repository the weights are stored in.
        overrides (None): ``{model class name: schema class name}``.
        framework ("ultralytics"): the only runner there is today.
        model_names (None): the model's ``{index: name}`` when the caller already knows them (the weights are
            then not loaded; tests only).
        task (None): the task the caller declares; weights of another task are refused. With ``model_names``
            it is the task (``detect`` when unset); ``keypoints`` (None) is then a pose model's K.
        training (None): the dataset versions it was trained and validated on, hyper-parameters, metrics.
        card (None): its intended use and caveats, in a person's words.
        emitter (None): where the training's OpenLineage run goes (after the transaction commits).
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
    declared = task
    if declared is not None and declared not in _TASK_GEOMETRY:
        raise InvalidInput(f"unknown task {declared!r} (one of {', '.join(_TASK_GEOMETRY)})", field="task")
    check_words(card, training)
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
    data = _training_rows(session, project_id, training)
    from inference.weights import stage_weights, store_weights

    staged = stage_weights(weights, repo_dir.parent / ".labelgate-staging")
    try:
        imgsz: int | None = None
        trained_with: str | None = None
        if model_names is None:
            from inference.ultra import read_model_info

            info = read_model_info(staged.path, shown_as=staged.source)
            model_names, task, keypoints = info.names, info.task, info.keypoints
            imgsz, trained_with = info.imgsz, info.ultralytics_version
            if declared is not None and declared != task:
                raise InvalidInput(
                    f"{staged.source} is a {task} model ({_TASK_GEOMETRY.get(task, task)}), not the {declared} "
                    f"model it was declared to be",
                    field="task",
                )
        task = task or "detect"
        schema_label = f"schema {schema.name!r} v{sv.version}"
        class_map: dict[str, Any] = dict(
            map_classes(model_names, [str(c["name"]) for c in sv.classes], overrides, schema_label=schema_label)
        )
        check_task_fits(
            task,
            keypoints,
            sv,
            set(class_map.values()),
            model_label=f"model {name}@{version}",
            schema_label=schema_label,
        )
        if task != "detect":  # a detector's class map stays as it always was
            class_map[TASK_KEY] = task
            if task == "pose":
                class_map[KEYPOINTS_KEY] = keypoints
        installed_ultralytics, torch_version = _library_versions()
        stored = store_weights(repo_dir, staged, label=f"{name}@{version}")
    except BaseException:
        staged.discard()
        raise
    row = ModelVersion(
        project_id=project_id,
        name=name,
        version=version,
        framework=framework,
        weights_uri=stored.relpath,
        weights_sha256=stored.sha256,
        class_map=class_map,
        schema_version_id=schema_version_id,
        created_by=actor.user_id,
        weights_bytes=stored.size,
        weights_rev=stored.revision,
        ultralytics_version=trained_with or installed_ultralytics,
        torch_version=torch_version,
        imgsz=imgsz,
        training=None if training is None else training.as_json(),
        card=None if card is None else card.as_json(),
    )
    session.add(row)
    session.flush()
    for _, _, link in data:
        link.model_version_id = row.id or 0
        session.add(link)
    session.flush()
    event = record_event(
        session,
        actor,
        "model.register",
        ("model_version", str(row.id)),
        project_id=project_id,
        payload={
            "model": f"{name}@{version}",
            "framework": framework,
            "task": task,
            "weights_uri": stored.relpath,
            "weights_sha256": stored.sha256,
            "weights_bytes": stored.size,
            "weights_rev": stored.revision,
            "source": str(staged.source),
            "model_names": {str(k): v for k, v in sorted(model_names.items())},
            "class_map": class_map,
            "schema": {"name": schema.name, "version": sv.version, "content_hash": sv.content_hash},
            "trained_on": [ref for role, ref, _ in data if role == "train"],
            "validated_on": [ref for role, ref, _ in data if role == "val"],
        },
        rows=[row, *(link for _, _, link in data)],
    )
    if data:
        from lineage.openlineage_jobs import emit_training

        emit_training(session, model=row, actor=actor, audit_seq=event.seq, emitter=emitter)
    return row


def training_data(session: Session, *, model_version_id: int) -> list[ModelTrainingData]:
    """The dataset versions a model version was trained (``role = 'train'``) and validated on, in order."""
    stmt = (
        select(ModelTrainingData)
        .where(ModelTrainingData.model_version_id == model_version_id)
        .order_by(col(ModelTrainingData.id))
    )
    return list(session.exec(stmt))


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


def verify_weights(model: ModelVersion, repo_dir: Path | None = None) -> Path:
    """The model's weights file, after checking its bytes still hash to the registered SHA-256 (stored
    weights are read from ``repo_dir``'s DVC; see :func:`inference.weights.weights_file`)."""
    from inference.weights import weights_file

    return weights_file(model, repo_dir)
