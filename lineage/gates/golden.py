"""Golden sets: expert-labelled versions of golden datasets that gates measure against.

Golden sets are versioned like policies: registering under an existing name makes the next version, and
``NAME@VERSION`` names exactly one. An evaluation measures against the golden set its policy names
(``golden: NAME@VERSION``) or an explicit override (CLI ``--golden``, API ``golden``); a policy with
golden-based gates and neither is refused, never resolved to "the newest" (:func:`resolve_golden`). A
golden set whose labels changed since it was registered (:func:`check_golden_unchanged`), or that shares no
image, or no class, with the version (:func:`check_golden_fits`), is refused too: its gates would measure
nothing, or something else than its name says.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets.catalog import version_ref
from lineage.errors import InvalidInput, NotFound
from lineage.labels.labelset import count_live, live_labels, manifest_hash
from lineage.models import Dataset, DatasetVersion, GatePolicy, GoldenSet, Item
from quality_gates import Policy
from quality_gates.policy import parse_golden_ref

__all__ = [
    "check_golden_fits",
    "check_golden_unchanged",
    "get_golden_set",
    "golden_summary",
    "list_golden_sets",
    "register_golden_set",
    "resolve_golden",
]


def register_golden_set(
    session: Session, *, actor: Actor, project_id: int, name: str, version: DatasetVersion
) -> GoldenSet:
    """Name a version of a golden dataset (hidden from annotators) as the next version of golden set ``name``.

    The same dataset version with unchanged labels as the newest version of ``name`` returns that one.
    """
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None or dataset.project_id != project_id:
        raise NotFound("no such version in this project", field="version")
    if not dataset.is_golden:
        raise InvalidInput(
            f"{dataset.name} is not a golden dataset (create it with is_golden so annotators cannot see it)",
            field="version",
        )
    if not name.strip() or "@" in name or name != name.strip() or len(name) > 100:
        raise InvalidInput(
            f"a golden set name is 1 to 100 characters without '@' or surrounding spaces, got {name!r}", field="name"
        )
    digest = manifest_hash(session, version_id=version.id or 0)
    latest = session.exec(
        select(GoldenSet)
        .where(GoldenSet.project_id == project_id, GoldenSet.name == name)
        .order_by(col(GoldenSet.version).desc())
    ).first()
    if latest is not None and latest.dataset_version_id == version.id and latest.manifest_hash == digest:
        return latest
    golden = GoldenSet(
        project_id=project_id,
        name=name,
        version=(latest.version + 1) if latest else 1,
        dataset_version_id=version.id or 0,
        manifest_hash=digest,
        created_by=actor.user_id,
    )
    session.add(golden)
    session.flush()
    record_event(
        session,
        actor,
        "golden_set.register",
        ("golden_set", str(golden.id)),
        project_id=project_id,
        payload={
            "name": name,
            "golden_version": golden.version,
            "ref": f"{name}@{golden.version}",
            "version": version_ref(dataset, version),
            "manifest_hash": golden.manifest_hash,
        },
        rows=_digestible(golden),
    )
    return golden


def _digestible(row: Any) -> list[Any]:
    """``[row]`` when the row digests know its table (lineage.audit.rowdigest), else nothing to record."""
    from lineage.audit.rowdigest import DIGEST_COLUMNS

    return [row] if str(row.__tablename__) in DIGEST_COLUMNS else []


def list_golden_sets(session: Session, *, project_id: int) -> list[GoldenSet]:
    return list(session.exec(select(GoldenSet).where(GoldenSet.project_id == project_id).order_by(col(GoldenSet.id))))


def _golden_refs(session: Session, project_id: int) -> str:
    rows = list_golden_sets(session, project_id=project_id)
    return ", ".join(f"{g.name}@{g.version}" for g in rows) or "none registered yet"


def get_golden_set(session: Session, *, project_id: int, ref: str) -> GoldenSet:
    """The golden set ``NAME@VERSION`` of the project (InvalidInput for another form, NotFound if absent)."""
    try:
        name, number = parse_golden_ref(ref)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="golden") from None
    found = session.exec(
        select(GoldenSet).where(GoldenSet.project_id == project_id, GoldenSet.name == name, GoldenSet.version == number)
    ).first()
    if found is None:
        raise NotFound(
            f"no golden set {ref!r} in this project; golden sets: {_golden_refs(session, project_id)}", field="golden"
        )
    return found


def resolve_golden(
    session: Session, *, project_id: int, policy_record: GatePolicy, policy: Policy, override: str | None = None
) -> GoldenSet | None:
    """The golden set an evaluation of ``policy`` measures against: ``override`` (``NAME@VERSION``), else the
    one the policy names; None when neither is given and no gate needs one.

    Raises:
        InvalidInput: a golden-based gate and no golden set named (the message says how to name one).
        NotFound: an unknown ``NAME@VERSION``.
    """
    ref = override or policy.golden
    if ref is None:
        needs = policy.golden_gates()
        if needs:
            raise InvalidInput(
                f"policy {policy_record.name}@{policy_record.version} measures against a golden set "
                f"({', '.join(needs)}) but names none: add `golden: NAME@VERSION` to the policy or pass "
                f'--golden NAME@VERSION (API: "golden"); golden sets of this project: '
                f"{_golden_refs(session, project_id)}",
                field="golden",
            )
        return None
    return get_golden_set(session, project_id=project_id, ref=ref)


def golden_summary(session: Session, golden: GoldenSet) -> dict[str, Any]:
    """``{id, name, version, ref, dataset_version, items, labels, manifest_hash}`` of a golden set, as an
    evaluation records it (``items``: images of its version; ``labels``: its live labels)."""
    version = session.get(DatasetVersion, golden.dataset_version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    items = session.exec(
        select(func.count()).select_from(Item).where(Item.dataset_version_id == golden.dataset_version_id)
    ).one()
    return {
        "id": golden.id,
        "name": golden.name,
        "version": golden.version,
        "ref": f"{golden.name}@{golden.version}",
        "dataset_version": version_ref(dataset, version) if dataset and version else None,
        "items": int(items),
        "labels": count_live(session, version_id=golden.dataset_version_id),
        "manifest_hash": golden.manifest_hash,
    }


def check_golden_unchanged(session: Session, golden: GoldenSet) -> None:
    """``NAME@VERSION`` names fixed content: refuse a golden set whose labels changed since it was registered."""
    now = manifest_hash(session, version_id=golden.dataset_version_id)
    if golden.manifest_hash is not None and now != golden.manifest_hash:
        raise InvalidInput(
            f"golden set {golden.name}@{golden.version} changed since it was registered (label manifest "
            f"{golden.manifest_hash[:12]} is now {now[:12]}); register it again to make the next version "
            f"(`labelgate golden register {golden.name} DATASET@VERSION`) and name that one",
            field="golden",
        )


def check_golden_fits(
    session: Session, version: DatasetVersion, golden: GoldenSet, *, ref: str, gates: list[str], classes: set[str]
) -> list[str]:
    """Refuse a golden set that shares no image or no class with ``version`` (its gates would measure
    nothing); returns the golden classes the version's schema lacks (their labels are left out)."""
    golden_sha = select(Item.sha256).where(Item.dataset_version_id == golden.dataset_version_id)
    common = session.exec(
        select(func.count())
        .select_from(Item)
        .where(Item.dataset_version_id == version.id, col(Item.sha256).in_(golden_sha))
    ).one()
    name = f"golden set {golden.name}@{golden.version}"
    if not common:
        raise InvalidInput(
            f"{name} shares no image with {ref}, so its gates ({', '.join(gates)}) would measure nothing; "
            "name the golden set of this dataset (`golden: NAME@VERSION` in the policy, or --golden)",
            field="golden",
        )
    live = live_labels(golden.dataset_version_id).subquery()
    golden_classes = {str(c) for c in session.exec(select(func.distinct(live.c.category)))}
    if golden_classes and not golden_classes & classes:
        raise InvalidInput(
            f"{name} labels {', '.join(sorted(golden_classes))}, none of which is a class of {ref} "
            f"({', '.join(sorted(classes)) or 'no classes'}); name the golden set of this dataset",
            field="golden",
        )
    return sorted(golden_classes - classes)
