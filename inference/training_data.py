"""What a training reads and writes of the record: dataset versions checked and exported in the YOLO layout.

:func:`collect_training_data` reads what will be trained on, from the record only (no image is read): the
``train`` and ``val`` dataset versions (``DATASET@VERSION`` of the project) and their live box labels, the
classes in the label schema's order (YOLO class ``i`` is the schema's ``i``-th box class, so the trained
model's names map onto the schema by equal name). Everything a person can get wrong is refused here, in well
under a second, before any long work: a reference that names nothing in the project, a version without
committed content or without labels, a label of a class the schema lacks, a version named twice or as both
training and validation data, a schema that is not a detection schema.

:func:`export_training_data` writes them in the YOLO layout with the project's exporter
(:func:`lineage.formats.yolo.export_yolo`), images read from the DVC repository at each version's revision and
checked against their recorded SHA-256. Only items with at least one live label are exported: an item nobody
labelled is not evidence that it shows nothing. Without ``val`` versions, a seeded share of the training
images (``val_fraction``, default 0.2) is held out for validation.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlmodel import Session, select

from lineage.datasets.catalog import resolve_version, version_ref
from lineage.datasets.items import read_item
from lineage.errors import InvalidInput, NotFound
from lineage.formats.common import ExportData, ItemRef
from lineage.formats.exportdata import export_data
from lineage.formats.yolo import export_yolo
from lineage.models import DatasetVersion, Item, LabelSchema, LabelSchemaVersion
from lineage.schemas import version_classes, version_task

__all__ = [
    "DEFAULT_VAL_FRACTION",
    "ExportedData",
    "TrainingSet",
    "VersionData",
    "collect_training_data",
    "export_training_data",
]

#: Share of the training images held out for validation when no validation version is named.
DEFAULT_VAL_FRACTION = 0.2
_ROLE_WORDS = {"train": "training", "val": "validation"}
# Path segments Ultralytics reads as the images/labels switch (it swaps the last ``/images/`` for
# ``/labels/``); an item path holding one is renamed in the temporary layout.
_LAYOUT_WORDS = frozenset({"images", "labels"})


@dataclass(frozen=True)
class VersionData:
    """One dataset version to train or validate on: its ``ref``, ``role`` (``train``/``val``), the version
    row (to read images at its revision), its labelled items' labels (``data``, classes in schema order), each
    item's recorded SHA-256 and how many items were left out because nothing labels them."""

    ref: str
    role: str
    version: DatasetVersion
    data: ExportData
    sha256: Mapping[int, str]
    unlabelled: int

    @property
    def boxes(self) -> int:
        return sum(len(v) for v in self.data.labels.values())


@dataclass(frozen=True)
class TrainingSet:
    """What a training reads: the schema version, its box classes in order, the train and val versions."""

    schema_version_id: int
    classes: tuple[str, ...]
    train: tuple[VersionData, ...]
    val: tuple[VersionData, ...] = ()


@dataclass(frozen=True)
class ExportedData:
    """A written YOLO layout: ``data_yaml`` to train with, image counts per role, and the labelled items'
    share held out of the training versions for validation (``None`` when validation versions were named)."""

    data_yaml: Path
    train_images: int
    val_images: int
    boxes: int
    val_fraction: float | None


def _version_data(session: Session, *, project_id: int, ref: str, role: str, classes: Sequence[str]) -> VersionData:
    what = _ROLE_WORDS[role]
    try:
        dataset, version = resolve_version(session, project_id=project_id, ref=ref)
    except (NotFound, InvalidInput) as exc:
        raise type(exc)(f"{what} data {ref!r}: {exc.message}", field=role) from None
    label = version_ref(dataset, version)
    if version.git_revision is None or version.data_path is None:
        raise InvalidInput(f"{what} data {label} has no committed content (no images to train on)", field=role)
    data = export_data(session, dataset=dataset, version=version, id_map={})
    boxes = {i: [lbl for lbl in labels if lbl.geometry_type == "box"] for i, labels in data.labels.items()}
    boxes = {i: labels for i, labels in boxes.items() if labels}
    if not boxes:
        raise InvalidInput(
            f"{what} data {label} has no box labels to train on ({len(data.items)} items, none labelled with a box); "
            "label it first or name another version",
            field=role,
        )
    unknown = sorted({lbl.category for labels in boxes.values() for lbl in labels} - set(classes))
    if unknown:
        raise InvalidInput(
            f"{what} data {label} has labels of classes the schema lacks: {', '.join(unknown)} "
            f"(the schema's box classes: {', '.join(classes)})",
            field=role,
        )
    items = [item for item in data.items if item.id in boxes]
    rows = session.exec(select(Item.id, Item.sha256).where(Item.dataset_version_id == version.id)).all()
    kept = replace(data, classes=list(classes), items=items, labels=boxes, tags={})
    return VersionData(
        ref=label,
        role=role,
        version=version,
        data=kept,
        sha256={item_id: sha for item_id, sha in rows if item_id in boxes},
        unlabelled=len(data.items) - len(items),
    )


def collect_training_data(
    session: Session,
    *,
    project_id: int,
    train: Sequence[str],
    val: Sequence[str] = (),
    schema_version_id: int,
) -> TrainingSet:
    """Resolve and check the ``train`` and ``val`` references (``DATASET@VERSION``) against schema version
    ``schema_version_id`` of ``project_id``; reads the record only. ``NotFound`` or ``InvalidInput`` naming
    the reference and what is wrong with it (see the module docstring)."""
    sv = session.get(LabelSchemaVersion, schema_version_id)
    schema = session.get(LabelSchema, sv.schema_id) if sv is not None else None
    if sv is None or schema is None or schema.project_id != project_id:
        raise NotFound(f"no label schema version {schema_version_id} in this project", field="schema")
    task = version_task(sv)
    if task != "detect":
        raise InvalidInput(
            f"schema {schema.name!r} v{sv.version} is a {task} schema; labelgate trains detectors (box schemas) only",
            field="schema",
        )
    classes = tuple(c.name for c in version_classes(sv) if str(c.geometry) == "box")
    if not train:
        raise InvalidInput("name at least one training dataset version (DATASET@VERSION)", field="train")
    found: dict[str, list[VersionData]] = {"train": [], "val": []}
    for role, refs in (("train", train), ("val", val)):
        for ref in refs:
            got = _version_data(session, project_id=project_id, ref=ref, role=role, classes=classes)
            if any(v.version.id == got.version.id for v in found[role]):
                raise InvalidInput(f"{got.ref} is named twice as {_ROLE_WORDS[role]} data", field=role)
            if role == "val" and any(v.version.id == got.version.id for v in found["train"]):
                raise InvalidInput(
                    f"{got.ref} is both training and validation data: validation on the training images measures "
                    "nothing; name another version, or no --val to hold out a share of the training images",
                    field="val",
                )
            found[role].append(got)
    return TrainingSet(schema_version_id, classes, tuple(found["train"]), tuple(found["val"]))


def _safe_uri(uri: str) -> str:
    return "/".join(f"_{part}" if part in _LAYOUT_WORDS else part for part in uri.split("/"))


def _write_part(part: VersionData, items: list[ItemRef], out: Path, *, repo_dir: Path) -> int:
    """Write ``items`` of ``part`` (labels and images, bytes checked against the record) under ``out``."""
    renamed = {_safe_uri(item.uri): item for item in items}

    def image_bytes(uri: str) -> bytes:
        item = renamed[uri]
        content = read_item(repo_dir=repo_dir, version=part.version, uri=item.uri)
        digest = hashlib.sha256(content).hexdigest()
        if digest != part.sha256.get(item.id):
            raise InvalidInput(
                f"image {item.uri} of {part.ref} read from the repository hashes to {digest[:12]}…, not the "
                "SHA-256 the version recorded; refusing to train on it",
                field=part.role,
            )
        return content

    data = replace(
        part.data,
        items=[item._replace(uri=uri) for uri, item in renamed.items()],
        labels={item.id: part.data.labels[item.id] for item in items},
    )
    return export_yolo(data, out, image_bytes=image_bytes)


def export_training_data(
    data: TrainingSet,
    root: Path,
    *,
    repo_dir: Path,
    seed: int = 0,
    val_fraction: float = DEFAULT_VAL_FRACTION,
) -> ExportedData:
    """Write ``data`` as a YOLO dataset under ``root``: ``train/<n>/`` and ``val/<n>/`` (one folder per
    version, its ``images/`` and ``labels/``) and ``data.yaml`` naming them all.

    Args:
        repo_dir: the workspace's git + DVC repository the images are read from.
        seed (0): draws the held-out images when ``data`` names no validation version.
        val_fraction (0.2): the share held out then (at least one image, and at least one left to train on).
    """
    import yaml

    plan: list[tuple[str, VersionData, list[ItemRef]]] = [("train", v, list(v.data.items)) for v in data.train]
    plan += [("val", v, list(v.data.items)) for v in data.val]
    fraction: float | None = None
    if not data.val:
        if not 0.0 < val_fraction < 1.0:
            raise InvalidInput(f"val_fraction must lie in (0, 1), got {val_fraction}", field="val_fraction")
        pool = [(i, item.id) for i, v in enumerate(data.train) for item in v.data.items]
        if len(pool) < 2:
            raise InvalidInput(
                f"{data.train[0].ref} has {len(pool)} labelled image; holding out validation images needs at least "
                "2 (or name a validation version)",
                field="val",
            )
        held = set(
            random.Random(seed).sample(sorted(pool), min(len(pool) - 1, max(1, round(len(pool) * val_fraction))))
        )
        plan = [("train", v, [it for it in v.data.items if (i, it.id) not in held]) for i, v in enumerate(data.train)]
        plan += [("val", v, [it for it in v.data.items if (i, it.id) in held]) for i, v in enumerate(data.train)]
        fraction = val_fraction
    folders: dict[str, list[str]] = {"train": [], "val": []}
    counts = {"train": 0, "val": 0}
    boxes = 0
    for n, (role, part, items) in enumerate(plan):
        if not items:
            continue
        rel = f"{role}/{n}"
        boxes += _write_part(part, items, root / rel, repo_dir=repo_dir)
        folders[role].append(f"{rel}/images")
        counts[role] += len(items)
    data_yaml = root / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {
                "path": str(root.resolve()),
                "train": folders["train"],
                "val": folders["val"],
                "nc": len(data.classes),
                "names": dict(enumerate(data.classes)),
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    return ExportedData(data_yaml, counts["train"], counts["val"], boxes, fraction)
