"""Verb of ``labelgate model train``: train a detector on dataset versions of the record, then register it
with its training on the record (the dataset versions pinned, hyper-parameters, validation metrics, times).

Everything that can be refused is refused before the training starts, in well under a second and with
nothing written: the caller's right to register models, the model's ``NAME@VERSION`` (well formed, not yet
registered), the options, the base, the schema and every dataset reference
(:func:`inference.training.collect_training_data`). The training itself runs outside any write; the
registration (:func:`inference.registry.register_model`) writes the model version, its training-data rows and
the audit event in the caller's transaction, and the training's OpenLineage run is emitted when it commits.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from inference import registry
from inference.training import DEFAULT_VAL_FRACTION, EpochProgress, check_base, check_options, collect_training_data
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import ModelVersion
from lineage.schemas import resolve_schema_ref
from service.actions.context import Context, authorize
from service.actions.versions import find_version

__all__ = ["train_and_register"]


def _model_ref(ref: str) -> tuple[str, str]:
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise InvalidInput(f"expected NAME@VERSION for the model, got {ref!r}", field="ref")
    for value, what in ((name, "name"), (version, "version")):
        if not registry.NAME_PATTERN.match(value):
            raise InvalidInput(
                f"model {what}s are 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or "
                f"digit; got {value!r}",
                field="ref",
            )
    return name, version


def _check_card(intended_use: str | None, caveats: Sequence[str]) -> registry.CardWords:
    """The card's words, checked by the registry's own rule now, before hours of training."""
    card = registry.CardWords(intended_use=intended_use or "", caveats=tuple(caveats))
    registry.check_words(card, None)
    return card


def train_and_register(
    ctx: Context,
    project_id: int,
    *,
    ref: str,
    train: Sequence[str],
    val: Sequence[str] = (),
    schema_ref: str,
    base: str = "tiny",
    epochs: int = 50,
    imgsz: int = 640,
    batch: int = 16,
    seed: int = 0,
    device: str = "auto",
    intended_use: str | None = None,
    caveats: Sequence[str] = (),
    val_fraction: float = DEFAULT_VAL_FRACTION,
    progress: Callable[[EpochProgress], None] | None = None,
) -> ModelVersion:
    """Train model ``ref`` (``NAME@VERSION``) on ``train`` (``DATASET@VERSION``\\ s; validated on ``val``, or
    on a held-out ``val_fraction`` of the training images) against label schema ``schema_ref`` (``NAME`` or
    ``NAME@N``), then register it. ``base``: ``tiny``, a model ``.yaml`` or a local ``.pt``; ``epochs``,
    ``imgsz``, ``batch``, ``seed`` and ``device`` as :func:`inference.training.train_model` takes them;
    ``intended_use`` and ``caveats`` go on the model card; ``progress`` hears of every finished epoch."""
    authorize(ctx, "register_model", project_id=project_id)
    name, version = _model_ref(ref)
    try:
        existing = registry.get_model(ctx.session, project_id=project_id, name=name, version=version)
    except NotFound:
        pass
    else:
        raise Conflict(f"model {name}@{version} is already registered (id {existing.id})", field="ref")
    check_options(epochs=epochs, imgsz=imgsz, batch=batch, val_fraction=val_fraction)
    base = check_base(base)
    card = _check_card(intended_use, caveats)
    schema = resolve_schema_ref(ctx.session, project_id=project_id, ref=schema_ref)
    for role, refs in (("train", train), ("val", val)):
        for data_ref in refs:  # what the caller may see, as every verb that names a version
            dataset, sep, data_version = data_ref.partition("@")
            if sep and dataset and data_version:
                try:
                    find_version(ctx, project_id, dataset, data_version)
                except NotFound as exc:
                    what = "training" if role == "train" else "validation"
                    raise NotFound(f"{what} data {data_ref!r}: {exc.message}", field=role) from None
    data = collect_training_data(
        ctx.session, project_id=project_id, train=train, val=val, schema_version_id=schema.id or 0
    )
    from inference.training import train_model

    workspace = ctx.settings.workspace
    with tempfile.TemporaryDirectory(prefix="labelgate-train-", dir=workspace if workspace.is_dir() else None) as tmp:
        trained = train_model(
            data,
            repo_dir=ctx.settings.repo_dir,
            work_dir=Path(tmp),
            base=base,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            seed=seed,
            device=device,
            val_fraction=val_fraction,
            progress=progress,
        )
        return registry.register_model(
            ctx.session,
            actor=ctx.actor,
            project_id=project_id,
            name=name,
            version=version,
            weights=trained.weights,
            schema_version_id=schema.id or 0,
            repo_dir=ctx.settings.repo_dir,
            training=trained.record,
            card=card,
        )
