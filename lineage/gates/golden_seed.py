"""Seed a golden set from the ground truth people marked in their labelling tool.

Label Studio lets a reviewer mark an annotation as *ground truth*; imported, each of its labels carries
``attributes["made"]["ground_truth"] = true`` (``lineage.formats.work``). :func:`seed_golden` takes the live
labels of a version so marked, and makes of them a golden set: the project's golden dataset (``is_golden``,
so annotators never see it; named ``<dataset>-golden`` unless told) gets a new version holding exactly the
items those labels are on (their bytes read from the source version's committed content), the labels are
copied in as they are (``human`` labels of their authors, provenance and ``made`` kept, ``origin_id``
pointing at the source label's lineage), and the version is registered as the next version of the golden set
(``lineage.gates.golden.register_golden_set``). No ground truth is refused, and nothing is written.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets.catalog import create_dataset, version_ref
from lineage.datasets.items import read_item
from lineage.datasets.versions import create_version
from lineage.errors import Conflict, InvalidInput
from lineage.formats.work import made_of
from lineage.gates.golden import register_golden_set
from lineage.labels.labelset import ANNOTATION_COLUMNS, DELETED, seal_rows
from lineage.models import Annotation, Dataset, DatasetVersion, GoldenSet
from lineage.models._base import utcnow

__all__ = ["ground_truth_labels", "seed_golden"]

_LIVE_SQL = f"""
SELECT a.id, i.uri, a.category, a.geometry_type, a.x, a.y, a.w, a.h, a.geometry, a.attributes, a.kind,
       a.annotator_id, a.model_version_id, a.weights_sha256, a.confidence, a.threshold, a.autolabel_run_id,
       a.source_sha256, a.source_format, a.generator_config_hash, COALESCE(a.origin_id, a.id)
FROM annotations a JOIN items i ON i.id = a.item_id
WHERE a.dataset_version_id = :v AND a.geometry_type <> '{DELETED}'
  AND NOT EXISTS (SELECT 1 FROM annotations s WHERE s.supersedes_id = a.id)
ORDER BY a.id
"""
# What is copied of each label, in the query's order after its id and item uri.
_COPIED = (
    *ANNOTATION_COLUMNS[ANNOTATION_COLUMNS.index("category") : ANNOTATION_COLUMNS.index("supersedes_id")],
    "origin_id",
)


def ground_truth_labels(session: Session, *, version_id: int) -> list[tuple[str, dict[str, Any]]]:
    """``(item uri, label row)`` of each live label of the version marked ground truth (``made``)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for values in session.connection().execute(text(_LIVE_SQL), {"v": version_id}):
        row = dict(zip(_COPIED, values[2:], strict=True))
        for name in ("geometry", "attributes"):  # JSON text on SQLite, parsed on PostgreSQL
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        made = made_of(row["attributes"])
        if made is not None and made.get("ground_truth") is True:
            found.append((str(values[1]), row))
    return found


def _golden_dataset(session: Session, *, actor: Actor, project_id: int, name: str) -> Dataset:
    found = session.exec(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name)).first()
    if found is None:
        return create_dataset(
            session,
            actor=actor,
            project_id=project_id,
            name=name,
            description="ground truth marked in the labelling tool",
            is_golden=True,
        )
    if not found.is_golden:
        raise Conflict(
            f"dataset {name!r} exists and is not a golden dataset (annotators can see it): give another name",
            field="name",
        )
    return found


def _next_version(session: Session, dataset: Dataset) -> str:
    taken = set(session.exec(select(DatasetVersion.version).where(DatasetVersion.dataset_id == dataset.id)))
    n = len(taken) + 1
    while f"g{n}" in taken:
        n += 1
    return f"g{n}"


def seed_golden(
    session: Session,
    *,
    actor: Actor,
    source: DatasetVersion,
    repo_dir: Path,
    name: str | None = None,
    dataset_name: str | None = None,
    version: str | None = None,
) -> GoldenSet:
    """Make the ground truth of ``source`` the next version of a golden set (module docstring).

    Args:
        source: the version whose labels marked ground truth are taken.
        repo_dir: the workspace repository (the items' bytes are read from ``source``'s commit).
        name: the golden set (default ``<dataset>-golden``); dataset_name: the golden dataset (default the
            same name); version: the new golden version (default ``g<n>``, the next free).

    Raises:
        InvalidInput: ``source`` holds no live label marked ground truth.
        Conflict: a dataset of that name exists that is not golden, or the version name is taken.
    """
    src_ds = session.get(Dataset, source.dataset_id)
    assert src_ds is not None
    name = name or f"{src_ds.name}-golden"
    labels = ground_truth_labels(session, version_id=source.id or 0)
    if not labels:
        raise InvalidInput(
            f"{version_ref(src_ds, source)} has no label marked ground truth (mark annotations as ground truth in"
            " the labelling tool and import them first)",
            field="version",
        )
    golden_ds = _golden_dataset(session, actor=actor, project_id=src_ds.project_id, name=dataset_name or name)
    uris = sorted({uri for uri, _ in labels})
    with tempfile.TemporaryDirectory(prefix="labelgate-golden-") as tmp:
        folder = Path(tmp)
        for uri in uris:
            path = folder / uri
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(read_item(repo_dir=repo_dir, version=source, uri=uri))
        new = create_version(
            session,
            actor=actor,
            dataset=golden_ds,
            version=version or _next_version(session, golden_ds),
            repo_dir=repo_dir,
            source_dir=folder,
            schema_version_id=source.schema_version_id,
            inherit_labels=False,
        )
    found = session.connection().execute(text("SELECT uri, id FROM items WHERE dataset_version_id = :v"), {"v": new.id})
    item_of = {str(uri): int(item_id) for uri, item_id in found}
    now = utcnow()
    rows = [
        {**row, "dataset_version_id": new.id, "item_id": item_of[uri], "supersedes_id": None, "created_at": now}
        for uri, row in labels
    ]
    sealed = seal_rows(session, rows, created_by=actor.user_id)
    session.execute(insert(Annotation), rows)
    record_event(
        session,
        actor,
        "golden.seed",
        ("dataset_version", str(new.id)),
        project_id=src_ds.project_id,
        payload={
            "version": version_ref(golden_ds, new),
            "source": version_ref(src_ds, source),
            "items": len(uris),
            "labels": len(rows),
            "golden_set": name,
            "sealed": sealed,
        },
        expect_seq=sealed["seq"],
    )
    return register_golden_set(session, actor=actor, project_id=src_ds.project_id, name=name, version=new)
