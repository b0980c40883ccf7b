"""Dataset versions written straight into the DVC cache (no ``dvc add``, no working copy): the objects,
``.dir`` listing and ``.dvc`` file are the ones ``dvc add`` writes, DVC's own tools read them, a next version
reads only the files that changed, and hostile or failing input leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image
from sqlmodel import Session, func, select

from lineage import datasets
from lineage.context import Actor
from lineage.datasets import dvcrepo
from lineage.datasets.versions import known_images
from lineage.errors import InvalidInput, LabelgateError
from lineage.models import Dataset, DatasetVersion
from service.settings import Settings
from tests.factories import World
from tests.lineage.conftest import make_images

# DVC work is the same whatever the database; the incremental test runs on both (it compares file times
# with the version's created_at as each database returns it).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

SIZES = {"a.png": (16, 12), "b.png": (20, 10), "sub/c.png": (8, 8), "sub/deeper/d.png": (9, 7)}


def _dataset(session: Session, ml: Actor, world: World, name: str = "pets") -> Dataset:
    pid = world.project.id or 0
    try:
        return datasets.get_dataset(session, project_id=pid, name=name)
    except LabelgateError:
        return datasets.create_dataset(session, actor=ml, project_id=pid, name=name)


def _version(
    session: Session, ml: Actor, world: World, ws: Settings, src: Path | None, name: str = "v1", **kw: object
) -> DatasetVersion:
    ds = _dataset(session, ml, world, str(kw.pop("dataset", "pets")))
    v = datasets.create_version(
        session,
        actor=ml,
        dataset=ds,
        version=name,
        repo_dir=ws.repo_dir,
        source_dir=src,
        **kw,  # type: ignore[arg-type]
    )
    session.commit()
    return v


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raw_png(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """An uncompressed PNG: its byte size depends on its pixel size only, whatever the colour."""
    Image.new("RGB", size, colour).save(path, compress_level=0)


def _objects(repo_dir: Path) -> Path:
    return dvcrepo.objects_dir(repo_dir)


def _tree(ws: Settings, v: DatasetVersion) -> dict[str, str]:
    tree = dvcrepo.version_tree(ws.repo_dir, v.data_path or "", rev=v.git_revision or "")
    assert tree is not None
    return dict(tree)


@sqlite_only
@pytest.mark.parametrize("name", ["pets", "123"])  # "123" is a name YAML would read as a number: DVC quotes it
def test_dvc_file_and_dir_object_are_the_ones_dvc_add_writes(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path, name: str
) -> None:
    src = make_images(tmp_path / "src", SIZES)
    shutil.copyfile(src / "a.png", src / "sub" / "same-as-a.png")  # two paths, one object
    v = _version(session, ml, world, workspace, src, dataset=name)
    ours_dvc = dvcrepo.git(workspace.repo_dir, "show", f"{v.git_revision}:{v.data_path}.dvc") + "\n"
    ours_dir = dvcrepo.object_path(_objects(workspace.repo_dir), v.dvc_hash or "").read_bytes()

    from dvc.repo import Repo

    plain = tmp_path / "plain"
    plain.mkdir()
    dvcrepo.git(plain, "init", "-q")
    repo = Repo.init(str(plain))
    target = plain / (v.data_path or "")
    shutil.copytree(tmp_path / "src", target)
    try:
        repo.add([str(target)])
    finally:
        repo.close()
    theirs_dvc = target.with_name(f"{name}.dvc").read_text()
    theirs_md5 = str(yaml.safe_load(theirs_dvc)["outs"][0]["md5"])
    theirs_dir = dvcrepo.object_path(plain / ".dvc" / "cache" / "files" / "md5", theirs_md5).read_bytes()
    assert ours_dvc == theirs_dvc
    assert ours_dir == theirs_dir and v.dvc_hash == theirs_md5
    assert hashlib.md5(ours_dir).hexdigest() + ".dir" == v.dvc_hash
    assert (workspace.repo_dir / (v.data_path or "")).with_name(".gitignore").read_text() == (
        target.with_name(".gitignore").read_text()
    )
    # every file object too: same names, same bytes, read-only as DVC leaves them
    for entry in json.loads(ours_dir):
        obj = dvcrepo.object_path(_objects(workspace.repo_dir), entry["md5"])
        assert obj.read_bytes() == (src / entry["relpath"]).read_bytes()
        assert obj.stat().st_mode & 0o777 == 0o444


@sqlite_only
def test_dvc_reads_checks_out_and_finds_the_remote_in_sync(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    import dvc.api
    from dvc.repo import Repo

    src = make_images(tmp_path / "src", SIZES)
    v = _version(session, ml, world, workspace, src)
    repo_dir, data = workspace.repo_dir, v.data_path or ""
    # no working copy: only the .dvc file and the .gitignore DVC would write are in git
    assert not (repo_dir / data).exists()
    tracked = dvcrepo.git(repo_dir, "ls-files", "--", str(Path(data).parent)).splitlines()
    assert sorted(tracked) == [f"{Path(data).parent}/.gitignore", f"{data}.dvc"]
    assert (repo_dir / data).with_name(".gitignore").read_text() == "/pets\n"
    for rel in SIZES:
        expected = (src / rel).read_bytes()
        assert dvc.api.read(f"{data}/{rel}", repo=str(repo_dir), rev=v.git_revision, mode="rb") == expected
        assert datasets.read_item(repo_dir=repo_dir, version=v, uri=rel) == expected
    repo = Repo(str(repo_dir))
    try:
        assert repo.status(cloud=True) == {}  # `dvc status -c`: the remote has every object
        repo.checkout(targets=[str(repo_dir / f"{data}.dvc")], force=True)
    finally:
        repo.close()
    assert sorted(p.relative_to(repo_dir / data).as_posix() for p in (repo_dir / data).rglob("*.png")) == sorted(SIZES)
    assert all((repo_dir / data / rel).read_bytes() == (src / rel).read_bytes() for rel in SIZES)
    manifest = json.loads(dvcrepo.git(repo_dir, "show", f"{v.git_revision}:versions/p{world.project.id}/pets/v1.json"))
    assert manifest["dvc_hash"] == v.dvc_hash and [i["uri"] for i in manifest["items"]] == sorted(SIZES)
    assert [(i["sha256"], i["size_bytes"]) for i in manifest["items"]] == [
        (_sha(src / rel), (src / rel).stat().st_size) for rel in sorted(SIZES)
    ]
    remote = Path(workspace.dvc_remote) / "files" / "md5"
    for md5 in [*_tree(workspace, v).values(), v.dvc_hash or ""]:
        stored = dvcrepo.object_path(_objects(repo_dir), md5).read_bytes()
        assert dvcrepo.object_path(remote, md5).read_bytes() == stored


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_next_version_reuses_hashes_only_for_the_same_unchanged_inode(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i, rel in enumerate(["a.png", "b.png", "c.png", "sub/d.png"]):
        _raw_png(src / rel, (8, 8), (i * 40, 0, 0))
    originals = {rel: (src / rel).read_bytes() for rel in ["a.png", "b.png", "c.png", "sub/d.png"]}
    v1 = _version(session, ml, world, workspace, src)
    objects = _objects(workspace.repo_dir)
    tree1 = _tree(workspace, v1)
    for rel, md5 in tree1.items():  # linked: each source file *is* its cache object, now read-only
        assert os.path.samefile(src / rel, dvcrepo.object_path(objects, md5))
        assert (src / rel).stat().st_mode & 0o777 == 0o444
    # b.png replaced by a new file with the same size and mtime; c.png written in place (a later mtime)
    old = (src / "b.png").stat()
    _raw_png(tmp_path / "new-b.png", (8, 8), (1, 2, 3))
    os.utime(tmp_path / "new-b.png", ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(tmp_path / "new-b.png", src / "b.png")
    assert (src / "b.png").stat().st_size == old.st_size
    _raw_png(tmp_path / "new-c.png", (8, 8), (4, 5, 6))
    (src / "c.png").write_bytes((tmp_path / "new-c.png").read_bytes())  # same inode, new bytes
    _raw_png(src / "e.png", (8, 8), (7, 8, 9))

    known = known_images(session, repo_dir=workspace.repo_dir, base=v1)
    scanned = datasets.scan_images(src, known=known)
    assert {s.uri for s in scanned if s.reused} == {"a.png", "sub/d.png"}
    assert all((s.sha256, s.size_bytes) == (_sha(src / s.uri), (src / s.uri).stat().st_size) for s in scanned)

    v2 = _version(session, ml, world, workspace, src, name="v2", parent=v1)
    items = {i.uri: i for i in datasets.list_items(session, version_id=v2.id or 0)}
    assert sorted(items) == ["a.png", "b.png", "c.png", "e.png", "sub/d.png"]
    assert all(items[rel].sha256 == _sha(src / rel) for rel in items)
    tree2 = _tree(workspace, v2)
    assert all(tree2[rel] == hashlib.md5((src / rel).read_bytes()).hexdigest() for rel in tree2)
    # v1 still reads as committed: c.png's damaged cache object is replaced from the remote
    for rel, data in originals.items():
        assert datasets.read_item(repo_dir=workspace.repo_dir, version=v1, uri=rel) == data


@sqlite_only
def test_copy_mode_leaves_the_source_files_alone(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    src = make_images(tmp_path / "src", SIZES)
    modes = {rel: (src / rel).stat().st_mode for rel in SIZES}
    v = _version(session, ml, world, workspace, src, link_source=False)
    for rel, md5 in _tree(workspace, v).items():
        obj = dvcrepo.object_path(_objects(workspace.repo_dir), md5)
        assert not os.path.samefile(src / rel, obj) and obj.read_bytes() == (src / rel).read_bytes()
        assert (src / rel).stat().st_mode == modes[rel]


def _nothing_written(session: Session, ws: Settings, head: str, dvc_before: str | None) -> None:
    assert dvcrepo.head_revision(ws.repo_dir) == head
    dvc_file = next(iter((ws.repo_dir / "data").glob("p*/pets.dvc")), None)
    assert (dvc_file.read_text() if dvc_file else None) == dvc_before
    assert dvcrepo.git(ws.repo_dir, "status", "--porcelain") == ""
    assert session.exec(select(func.count()).select_from(DatasetVersion)).one() == (1 if dvc_before else 0)


@sqlite_only
@pytest.mark.parametrize("link", ["file", "folder"])
def test_a_link_leading_outside_the_folder_is_refused(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path, link: str
) -> None:
    outside = make_images(tmp_path / "outside", {"secret.png": (5, 5)})
    src = make_images(tmp_path / "src", SIZES)
    (src / "inside-link.png").symlink_to(src / "a.png")  # a link that stays inside is followed
    hostile = src / ("evil.png" if link == "file" else "evil")
    hostile.symlink_to(outside / "secret.png" if link == "file" else outside)
    head = dvcrepo.head_revision(workspace.repo_dir)
    with pytest.raises(InvalidInput) as exc:
        _version(session, ml, world, workspace, src)
    assert exc.value.field == str(hostile) and "outside the source folder" in exc.value.message
    _nothing_written(session, workspace, head, None)
    assert (outside / "secret.png").stat().st_nlink == 1  # never linked into the cache
    hostile.unlink()
    v = _version(session, ml, world, workspace, src)
    assert datasets.read_item(repo_dir=workspace.repo_dir, version=v, uri="inside-link.png") == (
        (src / "a.png").read_bytes()
    )


@sqlite_only
def test_a_failure_part_way_leaves_no_version_and_no_dvc_change(
    session: Session, world: World, ml: Actor, workspace: Settings, tmp_path: Path
) -> None:
    v1 = _version(session, ml, world, workspace, make_images(tmp_path / "s1", SIZES, shade=1))
    dvc_before = (workspace.repo_dir / f"{v1.data_path}.dvc").read_text()
    head = dvcrepo.head_revision(workspace.repo_dir)
    # a file named like an image that is not one: refused before anything is written
    bad = make_images(tmp_path / "s2", SIZES, shade=2)
    (bad / "sub" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInput, match="not a readable image") as exc:
        _version(session, ml, world, workspace, bad, name="v2")
    assert exc.value.field == str(bad / "sub" / "broken.png")
    _nothing_written(session, workspace, head, dvc_before)
    # the remote cannot be written: the cache objects are there (harmless), the .dvc file is as it was
    remote = Path(workspace.dvc_remote)
    shutil.rmtree(remote)
    remote.write_text("a file where the remote folder should be")
    (bad / "sub" / "broken.png").unlink()
    with pytest.raises(dvcrepo.DvcError, match="DVC remote"):
        _version(session, ml, world, workspace, bad, name="v2")
    session.rollback()
    _nothing_written(session, workspace, head, dvc_before)
    assert datasets.read_item(repo_dir=workspace.repo_dir, version=v1, uri="a.png") == (
        (tmp_path / "s1" / "a.png").read_bytes()
    )
