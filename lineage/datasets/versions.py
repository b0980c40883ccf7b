"""Dataset versions under DVC: creating one from a folder of images (or its parent's content), moving it
between states, and tagging its release.

A version's content lives in the workspace repository under ``data/p<project_id>/<dataset>/`` (one
``.dvc`` file per dataset); creating a version replaces that folder with the new images, runs
``dvc add`` and commits, together with ``versions/p<project_id>/<dataset>/<version>.json`` (the item list),
then pushes to the DVC remote. The version records that commit (``git_revision``), the ``.dvc`` output
hash (``dvc_hash``) and its items; old content is read back with ``dvc.api`` at that revision
(``lineage.datasets.items.read_item``).

States and which of them may change are ``lineage.datasets.states``'; ``change_state`` moves a version
along ``ALLOWED_TRANSITIONS``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlmodel import Session, select

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.datasets.catalog import check_name, release_tag_name, version_ref
from lineage.datasets.items import ScannedImage, list_items, scan_images
from lineage.datasets.states import ALLOWED_TRANSITIONS, WRITABLE_STATES, refuse_write
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.labels.inheritance import inherit_labels as copy_labels
from lineage.labels.labelset import refresh_manifest
from lineage.models import Dataset, DatasetVersion, Item, LabelSchema, LabelSchemaVersion, VersionState

if TYPE_CHECKING:
    from lineage.openlineage import LineageEmitter

__all__ = ["change_state", "create_version", "release_version", "tag_release"]


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
    check_name(version, "version")
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
        sealed = copy_labels(session, parent_id=parent.id or 0, child_id=row.id or 0, created_by=actor.user_id)
    event = record_event(
        session,
        actor,
        "dataset_version.create",
        ("dataset_version", str(row.id)),
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
    from lineage.openlineage_jobs import emit_create_version

    emit_create_version(session, actor=actor, dataset=dataset, version=row, parent=parent, audit_seq=event.seq)
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
        refresh_manifest(session, version=version)
    if to is VersionState.released:
        if repo_dir is None:
            raise InvalidInput("releasing needs the workspace repository", field="repo_dir")
        tag_name = tag_release(session, actor=actor, version=version, repo_dir=repo_dir)
    version.state = to
    session.add(version)
    session.flush()
    record_event(
        session,
        actor,
        "dataset_version.state",
        ("dataset_version", str(version.id)),
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
    if to is VersionState.released:
        from lineage.openlineage_jobs import emit_release

        emit_release(session, dataset=dataset, version=version, tag=tag_name, actor=actor, emitter=emitter)
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
    record_event(
        session,
        actor,
        "dataset_version.tag",
        ("dataset_version", str(version.id)),
        project_id=dataset.project_id,
        payload={"tag": name, "git_revision": version.git_revision, "manifest_hash": version.manifest_hash},
    )
    return name
