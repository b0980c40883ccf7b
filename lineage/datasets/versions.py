"""Datasets and their DVC-versioned versions: creation from a folder of images, states, release tags.

A version's content lives in the workspace repository under ``data/p<project_id>/<dataset>/`` (one
``.dvc`` file per dataset); creating a version replaces that folder with the new images, runs
``dvc add`` and commits, together with ``versions/p<project_id>/<dataset>/<version>.json`` (the item list),
then pushes to the DVC remote. The version records that commit (``git_revision``), the ``.dvc`` output
hash (``dvc_hash``) and its items; old content is read back with ``dvc.api`` at that revision.

States: ``draft → candidate → released | rejected`` and ``released → deprecated`` (``ALLOWED_TRANSITIONS``).
Labels may change only in ``WRITABLE_STATES``; a write to any other version raises ``Conflict`` and the
refusal itself is committed to the audit log (see ``refuse_write``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import insert
from sqlmodel import Session, col, select

from lineage.audit.chain import append_event
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import Dataset, DatasetVersion, Item, LabelSchema, LabelSchemaVersion, Role, VersionState

if TYPE_CHECKING:
    from lineage.openlineage import LineageEmitter

__all__ = [
    "ALLOWED_TRANSITIONS",
    "IMAGE_EXTENSIONS",
    "WRITABLE_STATES",
    "ScannedImage",
    "change_state",
    "create_dataset",
    "create_version",
    "ensure_writable",
    "get_dataset",
    "get_version",
    "hidden_from",
    "list_datasets",
    "list_items",
    "list_versions",
    "read_item",
    "refuse_write",
    "release_tag_name",
    "release_version",
    "resolve_version",
    "scan_images",
    "tag_release",
    "version_ref",
]

ALLOWED_TRANSITIONS: dict[VersionState, frozenset[VersionState]] = {
    VersionState.draft: frozenset({VersionState.candidate}),
    VersionState.candidate: frozenset({VersionState.released, VersionState.rejected}),
    VersionState.released: frozenset({VersionState.deprecated}),
    VersionState.rejected: frozenset(),
    VersionState.deprecated: frozenset(),
}
WRITABLE_STATES = frozenset({VersionState.draft, VersionState.candidate})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """One image of a source folder: ``uri`` is its POSIX path relative to the folder; sizes in pixels."""

    uri: str
    path: Path
    sha256: str
    size_bytes: int
    width: int
    height: int


def version_ref(dataset: Dataset, version: DatasetVersion) -> str:
    return f"{dataset.name}@{version.version}"


def hidden_from(dataset: Dataset, *, roles: frozenset[Role], is_admin: bool) -> bool:
    """Golden datasets are invisible to annotators (an annotator who also holds another role included)."""
    return dataset.is_golden and not is_admin and Role.annotator in roles


def _check_name(name: str, what: str) -> None:
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"{what} names are 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit",
            field=what,
        )


def scan_images(folder: Path) -> list[ScannedImage]:
    """Every image under ``folder`` (by extension, hidden files skipped), hashed and measured with Pillow."""
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        raise InvalidInput(f"no such folder: {folder}", field="source_dir")
    found: list[ScannedImage] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidInput(f"not a readable image ({exc})", field=str(path)) from None
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        found.append(ScannedImage(rel.as_posix(), path, digest, path.stat().st_size, int(width), int(height)))
    if not found:
        raise InvalidInput(
            f"no images in {folder} (expected files ending in {', '.join(sorted(IMAGE_EXTENSIONS))})",
            field="source_dir",
        )
    return found


def create_dataset(
    session: Session,
    *,
    actor: Actor,
    project_id: int,
    name: str,
    description: str = "",
    is_golden: bool = False,
) -> Dataset:
    _check_name(name, "dataset")
    if session.exec(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name)).first():
        raise Conflict(f"a dataset named {name!r} already exists in this project", field="name")
    dataset = Dataset(
        project_id=project_id, name=name, description=description, is_golden=is_golden, created_by=actor.user_id
    )
    session.add(dataset)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="dataset.create",
        object_type="dataset",
        object_id=str(dataset.id),
        project_id=project_id,
        payload={"name": name, "description": description, "is_golden": is_golden},
    )
    return dataset


def get_dataset(session: Session, *, project_id: int, name: str) -> Dataset:
    dataset = session.exec(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name)).first()
    if dataset is None:
        raise NotFound(f"no dataset named {name!r} in this project", field="dataset")
    return dataset


def list_datasets(session: Session, *, project_id: int, include_golden: bool = True) -> list[Dataset]:
    stmt = select(Dataset).where(Dataset.project_id == project_id)
    if not include_golden:
        stmt = stmt.where(Dataset.is_golden == False)  # noqa: E712
    return list(session.exec(stmt.order_by(col(Dataset.name))))


def get_version(session: Session, *, dataset: Dataset, version: str) -> DatasetVersion:
    found = session.exec(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.version == version)
    ).first()
    if found is None:
        raise NotFound(f"dataset {dataset.name!r} has no version {version!r}", field="version")
    return found


def resolve_version(session: Session, *, project_id: int, ref: str) -> tuple[Dataset, DatasetVersion]:
    """``DATASET@VERSION`` → the dataset and its version."""
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise InvalidInput(f"expected DATASET@VERSION, got {ref!r}", field="version")
    dataset = get_dataset(session, project_id=project_id, name=name)
    return dataset, get_version(session, dataset=dataset, version=version)


def list_versions(session: Session, *, dataset: Dataset) -> list[DatasetVersion]:
    stmt = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(col(DatasetVersion.id))
    return list(session.exec(stmt))


def list_items(session: Session, *, version_id: int) -> list[Item]:
    stmt = select(Item).where(Item.dataset_version_id == version_id).order_by(col(Item.uri))
    return list(session.exec(stmt))


def create_version(
    session: Session,
    *,
    actor: Actor,
    dataset: Dataset,
    version: str,
    repo_dir: Path,
    source_dir: Path | None = None,
    parent: DatasetVersion | None = None,
    schema_version_id: int | None = None,
    inherit_labels: bool = True,
) -> DatasetVersion:
    """A new ``draft`` version of ``dataset``.

    ``source_dir`` (optional): the complete content of the new version; without it the content is the
    parent's. ``schema_version_id`` defaults to the parent's. With ``inherit_labels`` the parent's live
    labels on items whose path and bytes are unchanged are copied as new rows (``origin_id`` set).
    """
    _check_name(version, "version")
    if session.exec(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.version == version)
    ).first():
        raise Conflict(f"dataset {dataset.name!r} already has a version {version!r}", field="version")
    if parent is not None and parent.dataset_id != dataset.id:
        raise InvalidInput("the parent must be a version of the same dataset", field="parent")
    if source_dir is None and parent is None:
        raise InvalidInput("a first version needs a folder of images", field="source_dir")
    if schema_version_id is None and parent is not None:
        schema_version_id = parent.schema_version_id
    if schema_version_id is not None:
        _check_schema_in_project(session, schema_version_id, dataset.project_id)
    scanned = scan_images(source_dir) if source_dir is not None else None
    data_rel = f"data/p{dataset.project_id}/{dataset.name}"
    dvcrepo.require_repo(repo_dir)
    with dvcrepo.repo_lock(repo_dir):
        if scanned is not None:
            dvc_hash = _replace_content(repo_dir, data_rel, scanned)
            items: list[dict[str, Any]] = [
                {"uri": s.uri, "sha256": s.sha256, "size_bytes": s.size_bytes, "width": s.width, "height": s.height}
                for s in scanned
            ]
        else:
            assert parent is not None and parent.git_revision is not None
            dvc_hash = _restore_content(repo_dir, data_rel, parent)
            items = [
                {"uri": i.uri, "sha256": i.sha256, "size_bytes": i.size_bytes, "width": i.width, "height": i.height}
                for i in list_items(session, version_id=parent.id or 0)
            ]
        manifest = {
            "dataset": dataset.name,
            "version": version,
            "parent": parent.version if parent is not None else None,
            "schema_version_id": schema_version_id,
            "data_path": data_rel,
            "dvc_hash": dvc_hash,
            "items": items,
        }
        dvcrepo.write_text(
            repo_dir,
            f"versions/p{dataset.project_id}/{dataset.name}/{version}.json",
            json.dumps(manifest, indent=1, sort_keys=True) + "\n",
        )
        revision = dvcrepo.commit_all(repo_dir, f"labelgate: dataset {dataset.name} version {version}")
    row = DatasetVersion(
        dataset_id=dataset.id or 0,
        version=version,
        parent_id=parent.id if parent is not None else None,
        schema_version_id=schema_version_id,
        git_revision=revision,
        dvc_hash=dvc_hash,
        data_path=data_rel,
        item_count=len(items),
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    session.execute(insert(Item), [{**i, "dataset_version_id": row.id} for i in items])
    sealed: dict[str, Any] | None = None
    if parent is not None and inherit_labels:
        from lineage.labels.annotations import inherit_labels as copy_labels

        sealed = copy_labels(session, parent_id=parent.id or 0, child_id=row.id or 0, created_by=actor.user_id)
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="dataset_version.create",
        object_type="dataset_version",
        object_id=str(row.id),
        project_id=dataset.project_id,
        payload={
            "version": version_ref(dataset, row),
            "parent": parent.version if parent is not None else None,
            "schema_version_id": schema_version_id,
            "git_revision": revision,
            "dvc_hash": dvc_hash,
            "items": len(items),
            "inherited_labels": sealed["count"] if sealed else 0,
            "content": "folder" if scanned is not None else "parent",
            **({"sealed": sealed} if sealed else {}),
        },
        expect_seq=sealed["seq"] if sealed else None,
    )
    return row


def _check_schema_in_project(session: Session, schema_version_id: int, project_id: int) -> None:
    sv = session.get(LabelSchemaVersion, schema_version_id)
    schema = session.get(LabelSchema, sv.schema_id) if sv is not None else None
    if schema is None or schema.project_id != project_id:
        raise InvalidInput(f"no label schema version {schema_version_id} in this project", field="schema")


def _replace_content(repo_dir: Path, data_rel: str, scanned: list[ScannedImage]) -> str:
    target = repo_dir / data_rel
    if target.exists():
        shutil.rmtree(target)
    for s in scanned:
        dest = target / s.uri
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s.path, dest)
    return dvcrepo.dvc_add_and_push(repo_dir, target)


def _restore_content(repo_dir: Path, data_rel: str, parent: DatasetVersion) -> str:
    # The parent's .dvc file, as committed, names its content; checking it out restores the folder.
    assert parent.git_revision is not None
    dvc_text = dvcrepo.git(repo_dir, "show", f"{parent.git_revision}:{data_rel}.dvc")
    dvc_file = dvcrepo.write_text(repo_dir, f"{data_rel}.dvc", dvc_text + "\n")
    dvcrepo.dvc_checkout(repo_dir, dvc_file)
    return parent.dvc_hash or ""


def read_item(*, repo_dir: Path, version: DatasetVersion, uri: str) -> bytes:
    """The bytes of item ``uri`` exactly as committed in ``version`` (``dvc.api.read`` at its revision)."""
    if version.git_revision is None or version.data_path is None:
        raise NotFound("this version has no committed content", field="version")
    return dvcrepo.read_bytes(repo_dir, f"{version.data_path}/{uri}", rev=version.git_revision)


def refuse_write(session: Session, *, actor: Actor, version: DatasetVersion, attempted: str) -> NoReturn:
    """Refuse a write to a frozen version: roll back the caller's transaction, commit an audit event of
    the refusal on its own, then raise ``Conflict``.

    The refused write and anything else the transaction held are discarded as a whole; the refusal must
    survive, and a second connection cannot be used for it (SQLite's writer lock is held by this one).
    """
    dataset = session.get(Dataset, version.dataset_id)
    ref = f"{dataset.name if dataset else version.dataset_id}@{version.version}"
    state = str(version.state)
    version_id, project_id = version.id, dataset.project_id if dataset else None
    session.rollback()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="dataset_version.write_refused",
        object_type="dataset_version",
        object_id=str(version_id),
        project_id=project_id,
        payload={"version": ref, "state": state, "attempted": attempted},
    )
    session.commit()
    raise Conflict(
        f"{ref} is {state} and immutable: {attempted} refused (the refusal is recorded in the audit log)",
        field="state",
    )


def ensure_writable(session: Session, *, actor: Actor, version: DatasetVersion, attempted: str) -> None:
    """Pass for ``draft``/``candidate`` versions; otherwise ``refuse_write`` (audited ``Conflict``)."""
    if VersionState(version.state) not in WRITABLE_STATES:
        refuse_write(session, actor=actor, version=version, attempted=attempted)


def change_state(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    to: VersionState,
    repo_dir: Path | None = None,
    reason: str = "",
    emitter: LineageEmitter | None = None,
) -> DatasetVersion:
    """Move ``version`` along ``ALLOWED_TRANSITIONS``.

    Entering ``candidate`` or ``released`` pins ``manifest_hash``; ``released`` also tags the git revision
    (``repo_dir`` required) and emits an OpenLineage run event when the transaction commits.
    """
    current = VersionState(version.state)
    if to not in ALLOWED_TRANSITIONS[current]:
        if current not in WRITABLE_STATES:
            refuse_write(session, actor=actor, version=version, attempted=f"state change to {to.value}")
        allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[current])) or "none"
        raise Conflict(
            f"cannot move a {current.value} version to {to.value} (allowed from {current.value}: {allowed})",
            field="state",
        )
    dataset = session.get(Dataset, version.dataset_id)
    assert dataset is not None
    tag_name: str | None = None
    if to in (VersionState.candidate, VersionState.released):
        from lineage.labels.annotations import refresh_manifest

        refresh_manifest(session, version=version)
    if to is VersionState.released:
        if repo_dir is None:
            raise InvalidInput("releasing needs the workspace repository", field="repo_dir")
        tag_name = tag_release(session, actor=actor, version=version, repo_dir=repo_dir)
    version.state = to
    session.add(version)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="dataset_version.state",
        object_type="dataset_version",
        object_id=str(version.id),
        project_id=dataset.project_id,
        payload={
            "version": version_ref(dataset, version),
            "from": current.value,
            "to": to.value,
            "reason": reason,
            "manifest_hash": version.manifest_hash,
            "git_tag": tag_name,
        },
        rows=[version],  # the pins (state, content and manifest hashes) this state rests on
    )
    if to is VersionState.released and emitter is not None:
        from lineage.openlineage import release_event

        emitter.emit_on_commit(session, release_event(dataset=dataset, version=version, tag=tag_name, actor=actor))
    return version


def release_version(
    session: Session,
    *,
    actor: Actor,
    version: DatasetVersion,
    repo_dir: Path,
    emitter: LineageEmitter | None = None,
    reason: str = "",
) -> DatasetVersion:
    """``candidate → released``: pin the manifest, tag the revision, audit, emit. Gates are the caller's job."""
    return change_state(
        session,
        actor=actor,
        version=version,
        to=VersionState.released,
        repo_dir=repo_dir,
        reason=reason,
        emitter=emitter,
    )


def release_tag_name(dataset: Dataset, version: DatasetVersion) -> str:
    return f"release/p{dataset.project_id}/{dataset.name}/{version.version}"


def tag_release(session: Session, *, actor: Actor, version: DatasetVersion, repo_dir: Path, message: str = "") -> str:
    """Tag the version's git revision ``release/p<project>/<dataset>/<version>`` (annotated, idempotent).

    The tag message carries the manifest hash, so the tag alone names both content and labels.
    """
    dataset = session.get(Dataset, version.dataset_id)
    if dataset is None or version.git_revision is None:
        raise NotFound("this version has no committed content to tag", field="version")
    name = release_tag_name(dataset, version)
    body = f"{version_ref(dataset, version)}\nmanifest_hash {version.manifest_hash}\ndvc_hash {version.dvc_hash}\n"
    with dvcrepo.repo_lock(repo_dir):
        dvcrepo.tag(repo_dir, name, rev=version.git_revision, message=body + (f"\n{message}\n" if message else ""))
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="dataset_version.tag",
        object_type="dataset_version",
        object_id=str(version.id),
        project_id=dataset.project_id,
        payload={"tag": name, "git_revision": version.git_revision, "manifest_hash": version.manifest_hash},
    )
    return name
