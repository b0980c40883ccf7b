"""The workspace's git + DVC repository that holds dataset content and schema files.

DVC is told to stay offline and quiet (no analytics, a site cache inside the workspace) before it is
imported; git runs as a subprocess with a fixed identity so commits work on a bare CI machine.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lineage.errors import LabelgateError

__all__ = [
    "DvcError",
    "commit_all",
    "dvc_add_and_push",
    "dvc_checkout",
    "git",
    "head_revision",
    "init_repo",
    "list_files",
    "prepare_dvc_env",
    "read_bytes",
    "repo_lock",
    "require_repo",
    "tag",
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
