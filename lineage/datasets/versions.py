"""Dataset versions under DVC: creating one from a folder of images (or its parent's content), moving it
between states, and tagging its release.

A version's content is DVC-tracked as ``data/p<project_id>/<dataset>`` (one ``.dvc`` file per dataset).
Creating a version writes the images straight into the DVC cache (hard links to the source files by
default), their ``.dir`` listing and the ``.dvc`` file exactly as ``dvc add`` would, copies to the DVC
remote the objects it lacks, and commits the ``.dvc`` file with ``versions/p<project_id>/<dataset>/
<version>.json`` (the item list). The folder itself is never materialised in the repository (it is
git-ignored, as DVC does; ``dvc checkout`` would restore it). The version records that commit
(``git_revision``), the ``.dvc`` output hash (``dvc_hash``) and its items; old content is read back from the
cache through the committed listing, or with ``dvc.api`` from the remote
(``lineage.datasets.items.read_item``).

A next version of a folder reads only the files that changed: a file that is still the cache object an
earlier version stored (same inode) keeps that version's hashes and sizes.

States and which of them may change are ``lineage.datasets.states``'; ``change_state`` moves a version
along ``ALLOWED_TRANSITIONS``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from lineage import progress
from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.datasets.catalog import check_name, release_tag_name, version_ref
from lineage.datasets.items import KnownImage, ScannedImage, scan_images
from lineage.datasets.states import ALLOWED_TRANSITIONS, WRITABLE_STATES, refuse_write
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.labels.inheritance import inherit_labels as copy_labels
from lineage.labels.labelset import refresh_manifest
from lineage.models import Dataset, DatasetVersion, Item, LabelSchema, LabelSchemaVersion, VersionState

if TYPE_CHECKING:
    from lineage.openlineage import LineageEmitter

__all__ = ["change_state", "create_version", "known_images", "release_version", "tag_release"]


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
    link_source: bool = True,
) -> DatasetVersion:
    """A new ``draft`` version of ``dataset``.

    ``source_dir`` (optional): the complete content of the new version; without it the content is the
    parent's. ``schema_version_id`` defaults to the parent's. With ``inherit_labels`` the parent's live
    labels on items whose path and bytes are unchanged are copied as new rows (``origin_id`` set).

    ``link_source`` (True): the source images are hard-linked into the DVC cache (when on the same
    filesystem as the workspace) instead of copied: no second copy on disk, and a next version of the same
    folder reads only the files that changed. The linked files *become* read-only cache objects: replace
    a file (write a new one, rename it over) rather than editing it in place. False copies them.
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
    dvcrepo.require_repo(repo_dir)
    scanned: list[ScannedImage] | None = None
    if source_dir is not None:
        known = known_images(session, repo_dir=repo_dir, base=parent or _latest_version(session, dataset))
        scanned = scan_images(source_dir, known=known)
    data_rel = f"data/p{dataset.project_id}/{dataset.name}"
    manifest_rel = f"versions/p{dataset.project_id}/{dataset.name}/{version}.json"
    written = [f"{data_rel}.dvc", _gitignore_of(data_rel), manifest_rel]
    with dvcrepo.repo_lock(repo_dir), _undo_on_failure(repo_dir, written):
        _drop_working_copy(repo_dir, data_rel, keep=source_dir)
        if scanned is not None:
            dvc_hash = _store_content(repo_dir, data_rel, scanned, link=link_source)
            items: list[dict[str, Any]] = [
                {"uri": s.uri, "sha256": s.sha256, "size_bytes": s.size_bytes, "width": s.width, "height": s.height}
                for s in scanned
            ]
        else:
            assert parent is not None and parent.git_revision is not None
            dvc_hash = _reuse_content(repo_dir, data_rel, parent)
            items = _item_dicts(session, parent.id or 0)
        manifest = {
            "dataset": dataset.name,
            "version": version,
            "parent": parent.version if parent is not None else None,
            "schema_version_id": schema_version_id,
            "data_path": data_rel,
            "dvc_hash": dvc_hash,
            "items": items,
        }
        dvcrepo.write_text(repo_dir, manifest_rel, _manifest_text(manifest, items))
        revision = dvcrepo.commit_paths(repo_dir, written, f"labelgate: dataset {dataset.name} version {version}")
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
    _insert_items(session, row.id or 0, items)
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


_ITEM_COLUMNS = ("dataset_version_id", "uri", "sha256", "size_bytes", "width", "height")


def _insert_items(session: Session, version_id: int, items: list[dict[str, Any]]) -> None:
    """The version's item rows. On SQLite straight through the driver's executemany (100,000 rows in about a
    second, a third of what SQLAlchemy's parameter handling adds); elsewhere Core's batched insert."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        sql = f"INSERT INTO items ({', '.join(_ITEM_COLUMNS)}) VALUES ({', '.join('?' * len(_ITEM_COLUMNS))})"
        rows = [(version_id, i["uri"], i["sha256"], i["size_bytes"], i["width"], i["height"]) for i in items]
        conn.exec_driver_sql(sql, rows)
    else:
        conn.execute(
            SQLModel.metadata.tables["items"].insert(), [{**i, "dataset_version_id": version_id} for i in items]
        )


def _manifest_text(manifest: dict[str, Any], items: list[dict[str, Any]]) -> str:
    """The manifest as JSON: its fields one per line, then one line per item (compact, sorted keys), so a
    next version's diff shows the items that changed and 100,000 items write in a fraction of a second."""
    head = json.dumps({**manifest, "items": []}, indent=1, sort_keys=True)
    encode = json.JSONEncoder(sort_keys=True).encode  # one encoder (C-accelerated without indent)
    rows = ",\n  ".join(encode(i) for i in items)
    body = head.replace('"items": []', f'"items": [\n  {rows}\n ]' if items else '"items": []', 1)
    return body + "\n"


def _gitignore_of(data_rel: str) -> str:
    return f"{data_rel.rsplit('/', 1)[0]}/.gitignore"


def _item_dicts(session: Session, version_id: int) -> list[dict[str, Any]]:
    columns = (col(Item.uri), col(Item.sha256), col(Item.size_bytes), col(Item.width), col(Item.height))
    stmt = sa_select(*columns).where(col(Item.dataset_version_id) == version_id).order_by(col(Item.uri))
    names = ("uri", "sha256", "size_bytes", "width", "height")
    return [dict(zip(names, values, strict=True)) for values in session.execute(stmt)]


def _latest_version(session: Session, dataset: Dataset) -> DatasetVersion | None:
    stmt = (
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id, col(DatasetVersion.git_revision).is_not(None))
        .order_by(col(DatasetVersion.id).desc())
    )
    return session.exec(stmt).first()


def known_images(session: Session, *, repo_dir: Path, base: DatasetVersion | None) -> dict[tuple[int, int], KnownImage]:
    """What ``base`` recorded for its files, keyed by the inode of the cache object each is stored as.

    A source file that is one of these inodes is that object, so its bytes are the ones ``base`` hashed
    unless they were written to in place since: its size must match and its mtime must not be later than
    the version that first stored this content (``_content_origin``). Which version is ``base`` only
    changes how many files are found here, never what a reused figure is: the explicit parent, else the
    dataset's latest version (the folder most likely evolved from it)."""
    if base is None or base.git_revision is None or base.data_path is None:
        return {}
    tree = dvcrepo.version_tree(repo_dir, base.data_path, rev=base.git_revision)
    if tree is None:
        return {}
    objects = str(dvcrepo.objects_dir(repo_dir))
    written_before = _ns(_content_origin(session, base).created_at)
    known: dict[tuple[int, int], KnownImage] = {}
    for item in _item_dicts(session, base.id or 0):
        md5 = tree.get(item["uri"])
        if md5 is None:
            continue
        try:
            st = os.stat(f"{objects}/{md5[:2]}/{md5[2:]}")
        except OSError:
            continue
        if st.st_size == item["size_bytes"] and st.st_mtime_ns <= written_before:
            known[(st.st_dev, st.st_ino)] = KnownImage(
                md5, item["sha256"], item["size_bytes"], item["width"], item["height"]
            )
    return known


def _content_origin(session: Session, version: DatasetVersion) -> DatasetVersion:
    """The earliest ancestor with the same content (a version made from its parent shares its hash)."""
    origin = version
    while origin.parent_id is not None:
        parent = session.get(DatasetVersion, origin.parent_id)
        if parent is None or parent.dvc_hash != origin.dvc_hash:
            break
        origin = parent
    return origin


def _ns(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(aware.timestamp()) * 1_000_000_000 + aware.microsecond * 1000


def _store_content(repo_dir: Path, data_rel: str, scanned: list[ScannedImage], *, link: bool) -> str:
    """Write the images as DVC cache objects, their ``.dir`` listing and the ``.dvc`` file (what ``dvc
    add`` would), push what the remote lacks; returns the ``<md5>.dir`` hash."""
    objects = dvcrepo.objects_dir(repo_dir)
    fresh = [dvcrepo.SourceFile(s.md5, s.path, s.stat) for s in scanned if not s.reused and s.stat is not None]
    try:
        with progress.phase("store new images in the DVC cache", total=len(fresh)) as storing:
            dvcrepo.store_files(objects, fresh, link=link)
            storing.advance(len(fresh))
    except OSError as exc:
        raise dvcrepo.DvcError(f"cannot store the images in the DVC cache {objects}: {exc}") from exc
    entries = {s.uri: s.md5 for s in scanned}
    tree_md5 = dvcrepo.store_tree(objects, entries)
    name = data_rel.rsplit("/", 1)[1]
    size = sum(s.size_bytes for s in scanned)
    text = dvcrepo.dvc_file_text(name, tree_md5, size=size, nfiles=len(scanned))
    dvc_file = dvcrepo.write_text(repo_dir, f"{data_rel}.dvc", text)
    dvcrepo.ensure_gitignored(repo_dir, data_rel)
    with progress.phase("push to the DVC remote"):
        dvcrepo.push_objects(repo_dir, [*sorted(set(entries.values())), tree_md5], dvc_file=dvc_file)
    return tree_md5


def _reuse_content(repo_dir: Path, data_rel: str, parent: DatasetVersion) -> str:
    # The parent's .dvc file, as committed, names its content (already in the cache and the remote).
    assert parent.git_revision is not None
    dvc_text = dvcrepo.git(repo_dir, "show", f"{parent.git_revision}:{data_rel}.dvc")
    dvcrepo.write_text(repo_dir, f"{data_rel}.dvc", dvc_text + "\n")
    dvcrepo.ensure_gitignored(repo_dir, data_rel)
    return parent.dvc_hash or ""


def _drop_working_copy(repo_dir: Path, data_rel: str, *, keep: Path | None) -> None:
    """Remove a dataset folder an earlier labelgate checked out (its content is in the cache and the
    remote): versions are read from the cache, and a stale copy would disagree with the new ``.dvc``.
    Not when it is (or holds, or lies in) ``keep``, the folder this version is made from."""
    folder = repo_dir / data_rel
    if not folder.is_dir() or folder.is_symlink():
        return
    if keep is not None:
        here, source = folder.resolve(), keep.resolve()
        if source.is_relative_to(here) or here.is_relative_to(source):
            return
    shutil.rmtree(folder)


@contextmanager
def _undo_on_failure(repo_dir: Path, relpaths: list[str]) -> Iterator[None]:
    """Put ``relpaths`` back as they were (and unstage them) when the block fails before its commit:
    a failed version leaves no ``.dvc`` change behind. Cache objects it wrote are harmless (unreferenced)."""
    before = {rel: (repo_dir / rel).read_bytes() if (repo_dir / rel).is_file() else None for rel in relpaths}
    head = dvcrepo.head_revision(repo_dir)
    try:
        yield
    except BaseException:
        if dvcrepo.head_revision(repo_dir) == head:
            for rel, data in before.items():
                path = repo_dir / rel
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(data)
            with suppress(dvcrepo.DvcError):  # the first error is the one to report
                dvcrepo.git(repo_dir, "reset", "-q", "--", *relpaths)
        raise


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
