"""Datasets and versions on a real git + DVC workspace: content, read-back of old versions, states,
release tags, and the audited refusal of any write to a released version."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from lineage import datasets
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.errors import Conflict, InvalidInput
from lineage.labels import NewLabel, Provenance, add_annotations, manifest_hash
from lineage.models import Annotation, AuditEvent, Dataset, DatasetVersion, ProvenanceKind, Role, VersionState
from service.settings import Settings
from tests.factories import World
from tests.lineage.conftest import items_of, make_images

# DVC work is the same whatever the database; these tests run on SQLite only to keep the suite short.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

SIZES = {"a.png": (64, 48), "b.png": (80, 60), "sub/c.png": (100, 50)}


def _version(
    session: Session, ml: Actor, world: World, ws: Settings, src: Path, name: str = "v1", **kw: object
) -> DatasetVersion:
    pid = world.project.id or 0
    try:
        ds = datasets.get_dataset(session, project_id=pid, name="pets")
    except Exception:
        ds = datasets.create_dataset(session, actor=ml, project_id=pid, name="pets")
    v = datasets.create_version(session, actor=ml, dataset=ds, version=name, repo_dir=ws.repo_dir, source_dir=src, **kw)  # type: ignore[arg-type]
    session.commit()
    return v


@sqlite_only
def test_version_records_items_revision_and_dvc_hash(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    src = make_images(tmp_path / "src", SIZES)
    (src / "notes.txt").write_text("not an image")
    v = _version(session, ml, world, workspace, src)
    items = datasets.list_items(session, version_id=v.id or 0)
    assert [(i.uri, i.width, i.height) for i in items] == [("a.png", 64, 48), ("b.png", 80, 60), ("sub/c.png", 100, 50)]
    for i in items:
        data = (src / i.uri).read_bytes()
        assert (i.sha256, i.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    assert v.state == VersionState.draft and v.item_count == 3
    assert v.data_path == f"data/p{world.project.id}/pets"
    dvc_text = dvcrepo.git(workspace.repo_dir, "show", f"{v.git_revision}:{v.data_path}.dvc")
    assert yaml.safe_load(dvc_text)["outs"][0]["md5"] == v.dvc_hash and v.dvc_hash.endswith(".dir")
    assert not (workspace.repo_dir / v.data_path / "notes.txt").exists()
    # pushed: the remote holds the directory listing object named by the hash
    remote = Path(workspace.dvc_remote)
    assert any(p.name.endswith(".dir") for p in remote.rglob("*")), "nothing pushed to the DVC remote"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "dataset_version.create")).one()
    assert event.payload["git_revision"] == v.git_revision and event.payload["items"] == 3


@sqlite_only
def test_old_version_bytes_come_back_after_newer_commits_even_from_the_remote(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    v1 = _version(session, ml, world, workspace, make_images(tmp_path / "s1", SIZES, shade=1))
    old_bytes = (tmp_path / "s1" / "a.png").read_bytes()
    v2 = _version(session, ml, world, workspace, make_images(tmp_path / "s2", SIZES, shade=2), name="v2", parent=v1)
    _version(session, ml, world, workspace, make_images(tmp_path / "s3", {"z.png": (10, 10)}), name="v3", parent=v2)
    assert (tmp_path / "s2" / "a.png").read_bytes() != old_bytes
    assert not (workspace.repo_dir / v1.data_path / "a.png").exists()  # the working tree holds v3
    assert datasets.read_item(repo_dir=workspace.repo_dir, version=v1, uri="a.png") == old_bytes
    # drop the local cache: the object must come from the DVC remote configured at that revision
    shutil.rmtree(workspace.repo_dir / ".dvc" / "cache")
    assert datasets.read_item(repo_dir=workspace.repo_dir, version=v1, uri="a.png") == old_bytes
    assert dvcrepo.list_files(workspace.repo_dir, v1.data_path or "", rev=v1.git_revision or "") == sorted(SIZES)


@sqlite_only
def test_child_without_folder_keeps_parent_content_and_inherits_labels(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    v1 = _version(session, ml, world, workspace, make_images(tmp_path / "s1", SIZES))
    ids = items_of(session, v1)
    human = Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id)
    [a1, a2] = add_annotations(
        session,
        actor=ml,
        version=v1,
        labels=[NewLabel(ids["a.png"], "cat", 1, 2, 3, 4), NewLabel(ids["b.png"], "dog", 5, 6, 7, 8)],
        provenance=human,
    )
    session.commit()
    # a sibling with other content moves the working tree away from v1's
    _version(session, ml, world, workspace, make_images(tmp_path / "s2", {"q.png": (5, 5)}), name="other")
    v2 = datasets.create_version(
        session,
        actor=ml,
        dataset=session.get(Dataset, v1.dataset_id),
        version="v2",  # type: ignore[arg-type]
        repo_dir=workspace.repo_dir,
        parent=v1,
    )
    session.commit()
    assert v2.dvc_hash == v1.dvc_hash and v2.git_revision != v1.git_revision
    assert sorted(items_of(session, v2)) == sorted(SIZES)
    assert (
        datasets.read_item(repo_dir=workspace.repo_dir, version=v2, uri="a.png")
        == (tmp_path / "s1" / "a.png").read_bytes()
    )
    copies = session.exec(
        select(Annotation).where(Annotation.dataset_version_id == v2.id).order_by(col(Annotation.id))
    ).all()
    assert [(c.origin_id, c.category, c.kind, c.annotator_id) for c in copies] == [
        (a1, "cat", "human", ml.user_id),
        (a2, "dog", "human", ml.user_id),
    ]
    assert manifest_hash(session, version_id=v2.id or 0) == manifest_hash(session, version_id=v1.id or 0)


@sqlite_only
def test_changed_image_bytes_do_not_inherit_labels(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    v1 = _version(session, ml, world, workspace, make_images(tmp_path / "s1", SIZES, shade=1))
    ids = items_of(session, v1)
    prov = Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id)
    add_annotations(session, actor=ml, version=v1, labels=[NewLabel(ids["a.png"], "cat", 1, 1, 2, 2)], provenance=prov)
    session.commit()
    src = make_images(tmp_path / "s2", SIZES, shade=1)
    make_images(src, {"a.png": (64, 48)}, shade=9)  # same path, new bytes
    v2 = _version(session, ml, world, workspace, src, name="v2", parent=v1)
    assert session.exec(select(func.count()).where(Annotation.dataset_version_id == v2.id)).one() == 0


def test_transition_table() -> None:
    allowed = {(a.value, b.value) for a, targets in datasets.ALLOWED_TRANSITIONS.items() for b in targets}
    assert allowed == {
        ("draft", "candidate"),
        ("candidate", "released"),
        ("candidate", "rejected"),
        ("released", "deprecated"),
    }
    assert {VersionState.draft, VersionState.candidate} == datasets.WRITABLE_STATES


@sqlite_only
def test_states_release_tag_and_bad_transitions(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    v = _version(session, ml, world, workspace, make_images(tmp_path / "s", SIZES))
    with pytest.raises(Conflict, match="allowed from draft: candidate"):
        datasets.change_state(session, actor=ml, version=v, to=VersionState.released, repo_dir=workspace.repo_dir)
    session.rollback()
    datasets.change_state(session, actor=ml, version=v, to=VersionState.candidate)
    assert v.manifest_hash == manifest_hash(session, version_id=v.id or 0)
    datasets.release_version(session, actor=ml, version=v, repo_dir=workspace.repo_dir)
    session.commit()
    tag = f"release/p{world.project.id}/pets/v1"
    assert dvcrepo.git(workspace.repo_dir, "rev-parse", f"{tag}^{{commit}}") == v.git_revision
    assert f"manifest_hash {v.manifest_hash}" in dvcrepo.git(workspace.repo_dir, "tag", "-l", "-n20", tag)
    datasets.change_state(session, actor=ml, version=v, to=VersionState.deprecated)
    session.commit()
    states = [
        e.payload["to"] for e in session.exec(select(AuditEvent).where(AuditEvent.action == "dataset_version.state"))
    ]
    assert states == ["candidate", "released", "deprecated"]


def _released_version(session: Session, ml: Actor, world: World, ws: Settings, tmp_path: Path) -> DatasetVersion:
    v = _version(session, ml, world, ws, make_images(tmp_path / "s", {"a.png": (40, 30)}))
    prov = Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id)
    add_annotations(
        session,
        actor=ml,
        version=v,
        labels=[NewLabel(items_of(session, v)["a.png"], "cat", 1, 1, 5, 5)],
        provenance=prov,
    )
    datasets.change_state(session, actor=ml, version=v, to=VersionState.candidate)
    datasets.release_version(session, actor=ml, version=v, repo_dir=ws.repo_dir)
    session.commit()
    return v


def test_a_released_version_refuses_writes_and_the_refusal_is_audited(
    engine: Engine, session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    v = _released_version(session, ml, world, workspace, tmp_path)
    vid, item_id = v.id, items_of(session, v)["a.png"]
    before = session.exec(select(func.count()).select_from(Annotation)).one()
    prov = Provenance(kind=ProvenanceKind.human, annotator_id=ml.user_id)
    with pytest.raises(Conflict, match="released and immutable"):
        add_annotations(session, actor=ml, version=v, labels=[NewLabel(item_id, "cat", 2, 2, 3, 3)], provenance=prov)
    session.rollback()  # what a caller does on an error: the refusal must survive it
    with Session(engine) as fresh:
        assert fresh.exec(select(func.count()).select_from(Annotation)).one() == before
        refusal = fresh.exec(select(AuditEvent).where(AuditEvent.action == "dataset_version.write_refused")).one()
        assert refusal.object_id == str(vid) and refusal.actor == "ml_engineer_user"
        assert refusal.payload["state"] == "released" and "adding annotations" in refusal.payload["attempted"]
        assert refusal.request_id == "req-ml"


@sqlite_only
def test_illegal_state_change_of_a_released_version_is_refused_and_audited(
    engine: Engine, session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    v = _released_version(session, ml, world, workspace, tmp_path)
    vid = v.id
    with pytest.raises(Conflict):
        datasets.change_state(session, actor=ml, version=v, to=VersionState.draft)
    session.rollback()
    with Session(engine) as fresh:
        row = fresh.exec(select(AuditEvent).where(AuditEvent.action == "dataset_version.write_refused")).one()
        assert row.payload["attempted"] == "state change to draft"
        assert fresh.get(DatasetVersion, vid).state == "released"  # type: ignore[union-attr]


@sqlite_only
def test_bad_version_inputs(session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path) -> None:
    pid = world.project.id or 0
    ds = datasets.create_dataset(session, actor=ml, project_id=pid, name="pets")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no images"):
        datasets.create_version(
            session, actor=ml, dataset=ds, version="v1", repo_dir=workspace.repo_dir, source_dir=tmp_path / "empty"
        )
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInput) as exc:
        datasets.create_version(
            session, actor=ml, dataset=ds, version="v1", repo_dir=workspace.repo_dir, source_dir=tmp_path / "broken"
        )
    assert exc.value.field is not None and exc.value.field.endswith("x.png")
    with pytest.raises(InvalidInput):
        datasets.create_version(
            session, actor=ml, dataset=ds, version="bad/name", repo_dir=workspace.repo_dir, source_dir=tmp_path
        )
    with pytest.raises(InvalidInput, match="needs a folder"):
        datasets.create_version(session, actor=ml, dataset=ds, version="v1", repo_dir=workspace.repo_dir)
    with pytest.raises(Conflict):
        datasets.create_dataset(session, actor=ml, project_id=pid, name="pets")


def test_golden_datasets_are_hidden_from_annotators_only(session: Session, world: World, ml: Actor) -> None:
    gold = datasets.create_dataset(session, actor=ml, project_id=world.project.id or 0, name="gold", is_golden=True)
    plain = datasets.create_dataset(session, actor=ml, project_id=world.project.id or 0, name="plain")
    assert datasets.hidden_from(gold, roles=frozenset({Role.annotator}), is_admin=False)
    assert datasets.hidden_from(gold, roles=frozenset({Role.annotator, Role.reviewer}), is_admin=False)
    assert not datasets.hidden_from(gold, roles=frozenset({Role.reviewer}), is_admin=False)
    assert not datasets.hidden_from(gold, roles=frozenset({Role.annotator}), is_admin=True)
    assert not datasets.hidden_from(plain, roles=frozenset({Role.annotator}), is_admin=False)
