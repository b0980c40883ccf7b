"""The workspace's git + DVC repository that holds dataset content and schema files.

DVC is told to stay offline and quiet (no analytics, a site cache inside the workspace) before it is
imported; git runs as a subprocess with a fixed identity so commits work on a bare CI machine.

Dataset folders are not ``dvc add``-ed: their objects are written straight into the DVC 3 cache
(``.dvc/cache/files/md5/<2>/<30>``, read-only, named by the md5 of their bytes), with the folder's
``.dir`` listing and ``.dvc`` file byte-identical to what ``dvc add`` writes, so ``dvc checkout``,
``dvc push``/``status -c`` and ``dvc.api`` read them as their own (see ``store_file``, ``store_tree``,
``dvc_file_text``). That skips the working copy DVC would need and hashes each file once. Old content is
read back through the committed ``.dir`` listing straight from the cache (``cached_bytes``), or through
``dvc.api`` from the remote when the cache lacks it (``read_tracked``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage.errors import LabelgateError

__all__ = [
    "DvcError",
    "SourceFile",
    "cached_bytes",
    "commit_all",
    "commit_paths",
    "dvc_add_and_push",
    "dvc_checkout",
    "dvc_file_text",
    "ensure_gitignored",
    "git",
    "head_revision",
    "init_repo",
    "list_files",
    "object_path",
    "objects_dir",
    "prepare_dvc_env",
    "push_objects",
    "read_bytes",
    "read_tracked",
    "repo_lock",
    "require_repo",
    "store_files",
    "store_tree",
    "tag",
    "version_tree",
    "write_text",
]


class DvcError(LabelgateError):
    status_code = 500


def prepare_dvc_env(repo_dir: Path) -> None:
    """Environment DVC reads at import: no analytics, no writes outside the workspace.

    The workspace's site cache is made 0700 before DVC sees it: DVC creates its folders 0777 (umask
    cleared), and a private parent keeps other local users out of them."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    site_cache = repo_dir.parent / ".dvc-site-cache"
    os.environ.setdefault("DVC_SITE_CACHE_DIR", str(site_cache))
    if Path(os.environ["DVC_SITE_CACHE_DIR"]) == site_cache and site_cache.parent.is_dir():
        site_cache.mkdir(exist_ok=True)
        site_cache.chmod(0o700)  # after mkdir: its mode is masked by the umask and ignored when it exists
    import dvc.logger  # noqa: F401  (importing DVC configures its logger at INFO: quiet it afterwards)

    logging.getLogger("dvc").setLevel(logging.WARNING)  # DVC's own chatter is not the user's output


def git(repo_dir: Path, *args: str) -> str:
    """Run git in ``repo_dir`` and return its stdout; a failure raises ``DvcError`` with git's message."""
    proc = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DvcError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def init_repo(repo_dir: Path, *, remote: str) -> None:
    """Create the repository with a default DVC remote (idempotent). The remote config is committed
    before any data, since an old revision is read with that revision's remote config."""
    prepare_dvc_env(repo_dir)
    if (repo_dir / ".dvc").is_dir():
        return
    repo_dir.mkdir(parents=True, exist_ok=True)
    if not (repo_dir / ".git").exists():
        git(repo_dir, "init", "-q", "-b", "main")
    git(repo_dir, "config", "user.name", "labelgate")
    git(repo_dir, "config", "user.email", "labelgate@localhost")
    git(repo_dir, "config", "commit.gpgsign", "false")
    from dvc.repo import Repo

    repo = Repo.init(str(repo_dir))
    try:
        with repo.config.edit() as conf:
            conf["core"]["remote"] = "default"
            conf["core"]["analytics"] = False
            conf["core"]["autostage"] = True
            conf["remote"]["default"] = {"url": remote}
    finally:
        repo.close()
    if "://" not in remote:
        Path(remote).mkdir(parents=True, exist_ok=True)
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "-m", "labelgate: initialise DVC repository")


_LOCK_NAME = ".labelgate-repo.lock"


@contextmanager
def repo_lock(repo_dir: Path) -> Iterator[None]:
    """Serialise writers of the workspace repository (git index, DVC cache) across processes."""
    import fcntl

    lock_path = repo_dir.parent / _LOCK_NAME
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def require_repo(repo_dir: Path) -> None:
    """Refuse to work on a workspace whose repository was never initialised."""
    if not (repo_dir / ".dvc").is_dir() or not (repo_dir / ".git").exists():
        raise DvcError(f"no git + DVC repository at {repo_dir}; run `labelgate init`")


def head_revision(repo_dir: Path) -> str:
    return git(repo_dir, "rev-parse", "HEAD")


def commit_all(repo_dir: Path, message: str) -> str:
    """Stage everything in the working tree, commit and return the new revision (40 hex digits)."""
    git(repo_dir, "add", "-A")
    git(repo_dir, "commit", "-q", "--allow-empty", "-m", message)
    return head_revision(repo_dir)


def commit_paths(repo_dir: Path, paths: Iterable[str], message: str) -> str:
    """Stage ``paths`` (relative to the repository; deletions too) and commit them; returns the revision."""
    git(repo_dir, "add", "-A", "--", *paths)
    git(repo_dir, "commit", "-q", "--allow-empty", "-m", message)
    return head_revision(repo_dir)


def write_text(repo_dir: Path, relpath: str, text: str) -> Path:
    path = repo_dir / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def dvc_add_and_push(repo_dir: Path, data_dir: Path) -> str:
    """``dvc add`` a folder (absolute path), push its content to the default remote, return its hash.

    The hash is the ``md5`` of the ``.dvc`` file's single output (``<md5>.dir`` for a folder).
    """
    import yaml
    from dvc.repo import Repo

    prepare_dvc_env(repo_dir)
    repo = Repo(str(repo_dir))
    try:
        repo.add([str(data_dir.resolve())])
        dvc_file = data_dir.with_name(data_dir.name + ".dvc")
        outs = yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["outs"]
        md5 = str(outs[0]["md5"])
        repo.push()
    except Exception as exc:  # DVC raises many types; one message with the cause is what a person needs
        raise DvcError(f"dvc add/push of {data_dir} failed: {exc}") from exc
    finally:
        repo.close()
    return md5


def dvc_checkout(repo_dir: Path, dvc_file: Path) -> None:
    """Make the working tree's data match ``dvc_file`` (fetching from the remote when needed)."""
    from dvc.repo import Repo

    prepare_dvc_env(repo_dir)
    repo = Repo(str(repo_dir))
    try:
        try:
            repo.checkout(targets=[str(dvc_file.resolve())], force=True)
        except Exception:
            repo.pull(targets=[str(dvc_file.resolve())], force=True)
    except Exception as exc:
        raise DvcError(f"dvc checkout of {dvc_file} failed: {exc}") from exc
    finally:
        repo.close()


def read_bytes(repo_dir: Path, path: str, *, rev: str) -> bytes:
    """The bytes of a DVC-tracked (or git-tracked) file as it was at ``rev`` (``dvc.api.read``).

    The object comes from the local cache, or from the remote configured at that revision.
    """
    import dvc.api

    prepare_dvc_env(repo_dir)
    try:
        data = dvc.api.read(path, repo=str(repo_dir), rev=rev, mode="rb")
    except Exception as exc:
        raise DvcError(f"cannot read {path} at revision {rev[:12]}: {exc}") from exc
    return bytes(data)


def list_files(repo_dir: Path, path: str, *, rev: str) -> list[str]:
    """Files under ``path`` at ``rev``, relative to ``path``, sorted (``DVCFileSystem``)."""
    import dvc.api

    prepare_dvc_env(repo_dir)
    fs = dvc.api.DVCFileSystem(str(repo_dir), rev=rev)
    try:
        found = fs.find(path, detail=False, dvc_only=False)
    except Exception as exc:
        raise DvcError(f"cannot list {path} at revision {rev[:12]}: {exc}") from exc
    prefix = path.rstrip("/") + "/"
    return sorted(str(p)[len(prefix) :] for p in found if str(p).startswith(prefix))


def tag(repo_dir: Path, name: str, *, rev: str, message: str) -> None:
    """An annotated tag; re-tagging the same revision with the same name is a no-op."""
    existing = subprocess.run(
        ["git", "-C", str(repo_dir), "rev-parse", "-q", "--verify", f"refs/tags/{name}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if existing.returncode == 0:
        if existing.stdout.strip() != rev:
            raise DvcError(f"tag {name} already points at {existing.stdout.strip()[:12]}, not {rev[:12]}")
        return
    git(repo_dir, "tag", "-a", name, rev, "-m", message)


# -- DVC 3 objects written directly -------------------------------------------------------------------------
#
# DVC 3 keeps an object at ``<cache>/files/md5/<first 2 hex>/<other 30>``, read-only, and a folder as a
# ``<md5>.dir`` object listing ``{"md5", "relpath"}`` sorted by relpath (``dvc_data.hashfile.tree.Tree``).
# A local remote has the same layout. Objects are content-addressed: one that exists is never rewritten.

_READ_ONLY = 0o444
_LIST_FROM = 4096  # objects from which listing the remote's folders beats looking each up
_COPY_THREADS = 16  # copies at once: creating a file waits on the disk's journal far more than on the CPU


@functools.lru_cache(maxsize=16)
def _config(dvc_dir: str) -> Mapping[str, object]:
    """The repository's DVC configuration (all levels merged, paths made absolute). Read once per process."""
    from dvc.config import Config

    return Config(dvc_dir=dvc_dir)  # type: ignore[no-any-return]


def objects_dir(repo_dir: Path) -> Path:
    """The cache's object folder: ``.dvc/cache/files/md5``, or under ``cache.dir`` when the config sets one."""
    conf = _config(str(repo_dir.resolve() / ".dvc"))
    cache = conf.get("cache")
    base = cache.get("dir") if isinstance(cache, Mapping) else None
    return (Path(str(base)) if base else repo_dir.resolve() / ".dvc" / "cache") / "files" / "md5"


def object_path(objects: Path, md5: str) -> Path:
    return objects / md5[:2] / md5[2:]


def _object_str(objects: str, md5: str) -> str:
    return f"{objects}/{md5[:2]}/{md5[2:]}"


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns)


def _changed(source: Path | str) -> DvcError:
    return DvcError(f"{source} changed while the version was being made; run it again")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to store as cache object ``md5``: its bytes hashed to it while its status was ``seen``."""

    md5: str
    path: Path
    seen: os.stat_result


def store_files(objects: Path, files: Iterable[SourceFile], *, link: bool) -> int:
    """Make each file its cache object; returns how many objects were new (an existing one is never
    rewritten: objects are content-addressed).

    With ``link`` an object is a hard link to its file (same filesystem) and the file becomes read-only
    like every cache object; otherwise, or across filesystems, a copy (several at once: creating a file
    costs far more than writing a small one). A file must still be what was hashed (same inode, size,
    mtime), else ``DvcError``."""
    root = str(objects)
    todo = {f.md5: f for f in files}
    _make_prefixes(root, todo)
    copies: list[tuple[str, str, os.stat_result]] = []
    stored = 0
    for md5, f in todo.items():
        dest = _object_str(root, md5)
        if os.path.exists(dest):
            continue
        stored += 1
        if not (link and _link(str(f.path), dest, f.seen)):
            copies.append((str(f.path), dest, f.seen))
    _in_parallel(_copy_atomic, copies)
    return stored


def _make_prefixes(root: str, md5s: Iterable[str]) -> None:
    for prefix in sorted({md5[:2] for md5 in md5s}):
        os.makedirs(f"{root}/{prefix}", exist_ok=True)


def _in_parallel(copy: Callable[[str, str, os.stat_result | None], None], jobs: Sequence[tuple[Any, ...]]) -> None:
    """Run ``copy(*job)`` for every job on a few threads (file creation waits on the disk, not the CPU);
    the first failure is raised."""
    if len(jobs) <= 1:
        for job in jobs:
            copy(*job)
        return
    with ThreadPoolExecutor(max_workers=min(_COPY_THREADS, len(jobs))) as pool:
        for future in [pool.submit(copy, *job) for job in jobs]:
            future.result()


def _copy_atomic(source: str, dest: str, seen: os.stat_result | None = None) -> None:
    """Copy ``source`` to ``dest`` through a read-only temporary file renamed into place, so ``dest`` is
    never seen half-written. With ``seen``, ``source`` must not have changed since it was hashed."""
    tmp = f"{dest}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY)
        with open(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        if seen is not None and not _same_file(os.stat(source), seen):
            raise _changed(source)
        os.replace(tmp, dest)
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str) -> None:
    """Remove a temporary file if it is there; a failure to is not the error to report."""
    with suppress(OSError):
        os.unlink(tmp)


def _link(source: str, dest: str, seen: os.stat_result) -> bool:
    """Hard-link ``source`` as ``dest`` and make it read-only; False when linking is not possible here."""
    try:
        os.link(source, dest)
    except OSError:  # another filesystem, hard links refused (protected_hardlinks, FAT...)
        return False
    if not _same_file(os.stat(dest), seen):
        os.unlink(dest)
        raise _changed(source)
    try:
        os.chmod(dest, _READ_ONLY)
    except OSError:  # not the file's owner: a copy is ours to protect
        os.unlink(dest)
        return False
    return True


def _write_object(dest: Path, data: bytes) -> None:
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{dest}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY)
        with open(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, dest)
    except BaseException:
        _discard(tmp)
        raise


def tree_bytes(entries: Mapping[str, str]) -> bytes:
    """A folder's ``.dir`` object as DVC writes it: ``{relpath: md5}`` as a JSON list sorted by relpath."""
    listing = [{"md5": md5, "relpath": rel} for rel, md5 in sorted(entries.items())]
    return json.dumps(listing, sort_keys=True).encode("utf-8")


def store_tree(objects: Path, entries: Mapping[str, str]) -> str:
    """Write the ``.dir`` object of a folder whose files are ``{relpath: md5}``; returns ``<md5>.dir``."""
    body = tree_bytes(entries)
    name = hashlib.md5(body).hexdigest() + ".dir"
    _write_object(object_path(objects, name), body)
    return name


def dvc_file_text(name: str, tree_md5: str, *, size: int, nfiles: int) -> str:
    """The ``.dvc`` file of folder ``name`` exactly as ``dvc add`` writes it (DVC's own YAML dumper, so
    names YAML would misread are quoted the same way)."""
    from dvc.utils.serialize import dumps_yaml

    out = {"md5": tree_md5, "size": size, "nfiles": nfiles, "hash": "md5", "path": name}
    return str(dumps_yaml({"outs": [out]}))


def ensure_gitignored(repo_dir: Path, relpath: str) -> Path:
    """Add ``/<name>`` to the ``.gitignore`` beside ``relpath`` as DVC does (appended once, newline-ended)."""
    target = repo_dir / relpath
    gitignore = target.parent / ".gitignore"
    entry = f"/{target.name}\n"
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if entry not in text.splitlines(keepends=True):
        prefix = "" if not text or text.endswith("\n") else "\n"
        gitignore.parent.mkdir(parents=True, exist_ok=True)
        gitignore.write_text(text + prefix + entry, encoding="utf-8")
    return gitignore


def push_objects(repo_dir: Path, md5s: Iterable[str], *, dvc_file: Path) -> int:
    """Copy the objects ``md5s`` (in the local cache) to the default remote where it lacks them; returns how
    many were copied. A local-path remote is written here (copies, never links: it is the backup); a URL
    remote (``scheme://``) goes through ``dvc push`` of ``dvc_file``."""
    conf = _config(str(repo_dir.resolve() / ".dvc"))
    url = _remote_url(conf)
    if "://" in url:
        return _dvc_push(repo_dir, dvc_file)
    cache, remote = str(objects_dir(repo_dir)), str(Path(url) / "files" / "md5")
    missing = _missing(remote, list(dict.fromkeys(md5s)))
    try:
        _make_prefixes(remote, missing)
        _in_parallel(_copy_atomic, [(_object_str(cache, md5), _object_str(remote, md5)) for md5 in missing])
    except OSError as exc:
        raise DvcError(f"cannot copy objects to the DVC remote {url}: {exc}") from exc
    return len(missing)


def _missing(objects: str, md5s: list[str]) -> list[str]:
    """The objects of ``md5s`` not under ``objects``: checked one by one for a few, else by listing the
    prefix folders (a few hundred listings instead of a hundred thousand lookups)."""
    if len(md5s) < _LIST_FROM:
        return [md5 for md5 in md5s if not os.path.exists(_object_str(objects, md5))]
    present: set[str] = set()
    for prefix in {md5[:2] for md5 in md5s}:
        with suppress(FileNotFoundError):
            present.update(prefix + name for name in os.listdir(f"{objects}/{prefix}"))
    return [md5 for md5 in md5s if md5 not in present]


def _remote_url(conf: Mapping[str, object]) -> str:
    core, remotes = conf.get("core"), conf.get("remote")
    name = core.get("remote") if isinstance(core, Mapping) else None
    remote = remotes.get(name) if isinstance(remotes, Mapping) and name else None
    if not isinstance(remote, Mapping) or not remote.get("url"):
        raise DvcError("the DVC repository has no default remote to push to (core.remote)")
    return str(remote["url"])


def _dvc_push(repo_dir: Path, dvc_file: Path) -> int:
    from dvc.repo import Repo

    prepare_dvc_env(repo_dir)
    repo = Repo(str(repo_dir))
    try:
        return int(repo.push(targets=[str(dvc_file.resolve())]))
    except Exception as exc:  # DVC raises many types; one message with the cause is what a person needs
        raise DvcError(f"dvc push of {dvc_file.name} failed: {exc}") from exc
    finally:
        repo.close()


# -- Reading a version's files straight from the cache ------------------------------------------------------

_TREES: dict[tuple[str, str, str], Mapping[str, str]] = {}
_TREES_KEPT = 8  # .dir listings kept per process (about 10 MB each at 100,000 files)


def version_tree(repo_dir: Path, data_path: str, *, rev: str) -> Mapping[str, str] | None:
    """``{relpath: md5}`` of the folder ``data_path`` as committed at ``rev``, from its ``.dir`` object in
    the local cache; None when the cache lacks it (or ``rev`` has no such ``.dvc`` file). Kept per
    (repository, revision, path): a commit never changes."""
    key = (str(repo_dir.resolve()), rev, data_path.strip("/"))
    found = _TREES.get(key)
    if found is not None:
        return found
    import yaml

    try:
        raw = git(repo_dir, "show", f"{rev}:{key[2]}.dvc")
        outs = (yaml.safe_load(raw) or {}).get("outs") or [{}]
        tree_md5 = str(outs[0].get("md5") or "")
        body = object_path(objects_dir(repo_dir), tree_md5).read_bytes() if tree_md5.endswith(".dir") else None
    except (DvcError, OSError, yaml.YAMLError, AttributeError):
        return None
    if body is None or hashlib.md5(body).hexdigest() + ".dir" != tree_md5:
        return None
    tree = {str(e["relpath"]): str(e["md5"]) for e in json.loads(body)}
    if len(_TREES) >= _TREES_KEPT:
        _TREES.pop(next(iter(_TREES)))
    _TREES[key] = tree
    return tree


def cached_bytes(repo_dir: Path, data_path: str, relpath: str, *, rev: str, drop_damaged: bool = False) -> bytes | None:
    """The bytes of ``data_path/relpath`` at ``rev`` from the local cache, checked against their md5;
    None when the cache cannot give them (then ``read_bytes`` fetches them from the remote). With
    ``drop_damaged`` an object whose bytes no longer match its name is removed from the cache, so that
    the fetch replaces it with the remote's copy (a checker leaves it, to report it)."""
    tree = version_tree(repo_dir, data_path, rev=rev)
    md5 = tree.get(relpath) if tree is not None else None
    if md5 is None:
        return None
    path = object_path(objects_dir(repo_dir), md5)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.md5(data).hexdigest() != md5:
        if drop_damaged:  # written to in place through a hard-linked source file, most likely
            path.unlink(missing_ok=True)
        return None
    return data


def read_tracked(repo_dir: Path, data_path: str, relpath: str, *, rev: str) -> bytes:
    """The bytes of ``data_path/relpath`` at ``rev``: from the cache when it has them, else ``dvc.api``."""
    data = cached_bytes(repo_dir, data_path, relpath, rev=rev, drop_damaged=True)
    if data is not None:
        return data
    return read_bytes(repo_dir, f"{data_path.strip('/')}/{relpath}", rev=rev)
