"""The inputs of the training-leakage gate on the record (:mod:`quality_gates.leakage`).

The judged models are those with live ``model`` labels in the evaluated version (``lineage.labels.labelset``);
their training and validation data are the dataset versions ``model_training_data`` names; items are matched
by content (``items.sha256``, indexed) so a golden image copied under another path into a training version
still counts. A model with no ``model_training_data`` row has its training data off the record.

A fixed handful of set-valued queries whatever the sizes (no query per item or per model): the labelled
items' hashes per model, the models' names, their training rows with the version refs, the hashes of the
training items that can matter (those among the golden set's and the evaluated version's: the
intersections are the same, and a 100,000-item training version is not read whole), and the golden set's
and the version's own hashes.
"""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, col, select

from lineage.labels.labelset import live_labels
from lineage.models import (
    Annotation,
    Dataset,
    DatasetVersion,
    GoldenSet,
    Item,
    ModelTrainingData,
    ModelVersion,
)
from quality_gates.leakage import LeakageInputs, ModelUse, Role, TrainingData

__all__ = ["leakage_inputs"]


def _hashes_of(session: Session, version_id: int) -> frozenset[str]:
    return frozenset(session.exec(select(Item.sha256).where(Item.dataset_version_id == version_id).distinct()))


def leakage_inputs(session: Session, version: DatasetVersion, *, golden: GoldenSet | None) -> LeakageInputs:
    """The models whose live labels ``version`` holds, each with the items it labelled and its training and
    validation data (None when none is recorded), the version's item hashes and the golden set's (None
    without a golden set)."""
    version_id = version.id or 0
    live = live_labels(version_id).where(Annotation.kind == "model").subquery()
    labelled: dict[int, set[str]] = defaultdict(set)
    for model_id, sha in session.exec(
        select(live.c.model_version_id, Item.sha256).join(Item, col(Item.id) == live.c.item_id).distinct()
    ):
        if model_id is not None:
            labelled[int(model_id)].add(sha)
    names = {
        m.id: f"{m.name}@{m.version}"
        for m in session.exec(select(ModelVersion).where(col(ModelVersion.id).in_(list(labelled))))
    }
    rows = list(
        session.exec(
            select(ModelTrainingData, DatasetVersion, Dataset)
            .join(DatasetVersion, col(DatasetVersion.id) == ModelTrainingData.dataset_version_id)
            .join(Dataset, col(Dataset.id) == DatasetVersion.dataset_id)
            .where(col(ModelTrainingData.model_version_id).in_(list(labelled)))
            .order_by(col(ModelTrainingData.model_version_id), col(ModelTrainingData.role), col(ModelTrainingData.id))
        )
    )
    scope = [version_id] + ([golden.dataset_version_id] if golden is not None else [])
    relevant = select(Item.sha256).where(col(Item.dataset_version_id).in_(scope))
    overlap: dict[int, set[str]] = defaultdict(set)
    if rows:
        for version_of, sha in session.exec(
            select(Item.dataset_version_id, Item.sha256)
            .where(col(Item.dataset_version_id).in_({t.dataset_version_id for t, _, _ in rows}))
            .where(col(Item.sha256).in_(relevant))
            .distinct()
        ):
            overlap[int(version_of)].add(sha)
    training: dict[int, list[TrainingData]] = defaultdict(list)
    for t, dv, ds in rows:
        role: Role = "train" if t.role == "train" else "val"
        ref = f"{ds.name}@{dv.version}"
        training[t.model_version_id].append(TrainingData(ref, role, frozenset(overlap[t.dataset_version_id]),
                                                         items=t.item_count or dv.item_count))  # fmt: skip
    models = tuple(
        ModelUse(names.get(mid, f"model #{mid}"), frozenset(shas), tuple(training[mid]) if mid in training else None)
        for mid, shas in sorted(labelled.items())
    )
    return LeakageInputs(
        models=models,
        items=_hashes_of(session, version_id),
        golden=_hashes_of(session, golden.dataset_version_id) if golden is not None else None,
    )
