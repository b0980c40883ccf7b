"""Model weights on the record: stored content-addressed in the workspace's DVC repository, re-checked at use.

Registering a model first **stages** its weights (:func:`stage_weights`: one copy into the workspace,
hashed while it is copied), so the bytes that are validated, hashed and stored are the same bytes even if
the source file changes meanwhile. Once the registration is valid, :func:`store_weights` moves the staged
copy to ``models/<sha256[:2]>/<sha256>.pt`` in the repository, ``dvc add``\\ s and pushes it to the DVC remote
and commits its ``.dvc`` file; the model version records that path (relative to the repository), the
SHA-256, the size and the git revision. The same bytes registered twice are stored once.

Every use goes through :func:`weights_file`: a missing file is restored from the DVC cache or remote (the
``.dvc`` file at the recorded revision names it), and the bytes are hashed again; a file whose hash is not
the registered one refuses the use and names the file. Model versions registered before weights were
stored (an absolute ``weights_uri``) are checked the same way where they lie.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lineage.datasets import dvcrepo
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import ModelVersion

__all__ = [
    "WEIGHTS_DIR",
    "StagedWeights",
    "StoredWeights",
    "export_weights",
    "is_stored",
    "sha256_file",
    "stage_weights",
    "store_weights",
    "weights_file",
    "weights_relpath",
]

#: Where stored weights live in the workspace's repository.
WEIGHTS_DIR = "models"
_CHUNK = 1 << 20


def weights_relpath(sha256: str) -> str:
    """``models/<sha256[:2]>/<sha256>.pt``: a stored file's path in the repository, named by its bytes."""
    return f"{WEIGHTS_DIR}/{sha256[:2]}/{sha256}.pt"


def is_stored(model: ModelVersion) -> bool:
    """Whether the model's weights are stored in the workspace repository (relative ``weights_uri``)."""
    return "://" not in model.weights_uri and not Path(model.weights_uri).is_absolute()


def _label(model: ModelVersion) -> str:
    return f"{model.name}@{model.version}"


@dataclass(frozen=True, slots=True)
class StagedWeights:
    """A private copy of weights about to be registered: ``path`` (delete with :meth:`discard`), its bytes'
    SHA-256 and size, and the ``source`` it was copied from."""

    path: Path
    sha256: str
    size: int
    source: Path

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class StoredWeights:
    """Weights in the repository: ``relpath`` (from the repository root), SHA-256, size and the git
    revision whose tree holds their ``.dvc`` file."""

    relpath: str
    sha256: str
    size: int
    revision: str


def stage_weights(source: Path, staging_dir: Path) -> StagedWeights:
    """Copy ``source`` into ``staging_dir`` (created 0700), hashing the bytes as they are written."""
    source = source.expanduser()
    if "://" in str(source) or not source.is_file():
        raise InvalidInput(
            f"weights must be a local file; {source} is not one (nothing is downloaded)", field="weights"
        )
    staging_dir.mkdir(parents=True, exist_ok=True)
    staging_dir.chmod(0o700)
    fd, tmp = tempfile.mkstemp(prefix="weights-", suffix=".pt", dir=staging_dir)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(f"cannot read weights {source}: {exc.strerror or exc}", field="weights") from None
    if size == 0:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(f"weights file {source} is empty", field="weights")
    return StagedWeights(Path(tmp), digest.hexdigest(), size, source.resolve())


def store_weights(repo_dir: Path, staged: StagedWeights, *, label: str) -> StoredWeights:
    """Move staged weights to their content address in the repository, ``dvc add`` and push them, commit
    the ``.dvc`` file (message names ``label``, e.g. ``tiny-shapes@2``). Already stored bytes are not
    stored again; the staged copy is consumed either way."""
    dvcrepo.require_repo(repo_dir)
    relpath = weights_relpath(staged.sha256)
    target = repo_dir / relpath
    dvc_file = target.with_name(target.name + ".dvc")
    try:
        with dvcrepo.repo_lock(repo_dir):
            tracked = dvc_file.is_file()
            if not tracked or not target.is_file() or sha256_file(target) != staged.sha256:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.path, target)
                dvcrepo.dvc_add_and_push(repo_dir, target)
            revision = dvcrepo.commit_all(repo_dir, f"labelgate: model {label} weights {staged.sha256[:12]}")
    finally:
        staged.discard()
    return StoredWeights(relpath, staged.sha256, staged.size, revision)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _restore(repo_dir: Path, model: ModelVersion, path: Path) -> None:
    """Bring back a stored file that is missing from the working tree, from the DVC cache or the remote."""
    dvc_file = path.with_name(path.name + ".dvc")
    rel = f"{model.weights_uri}.dvc"
    with dvcrepo.repo_lock(repo_dir):
        if not dvc_file.is_file():
            if not model.weights_rev:
                raise NotFound(f"weights of {_label(model)} are gone from {path} and no revision records them")
            text = dvcrepo.git(repo_dir, "show", f"{model.weights_rev}:{rel}")
            dvcrepo.write_text(repo_dir, rel, text + "\n")
        dvcrepo.dvc_checkout(repo_dir, dvc_file)


def weights_file(model: ModelVersion, repo_dir: Path | None) -> Path:
    """The model's weights file, after checking its bytes still hash to the registered SHA-256.

    Stored weights missing from the working tree are restored from the DVC cache or remote first; a file
    that is there with other bytes is refused (``Conflict``) and named, never silently replaced.
    """
    uri = model.weights_uri
    if "://" in uri:
        raise InvalidInput(f"{_label(model)} has no weights to load ({uri})", field="model")
    if is_stored(model):
        if repo_dir is None:
            raise InvalidInput(f"{_label(model)}'s weights are in the workspace repository; none was given")
        path = repo_dir / uri
        if not path.is_file():
            try:
                _restore(repo_dir, model, path)
            except dvcrepo.DvcError as exc:
                raise NotFound(
                    f"weights of {_label(model)} are gone from {path} and could not be restored from DVC: {exc}",
                    field="model",
                ) from None
    else:
        path = Path(uri)
        if not path.is_file():
            raise NotFound(f"weights of {_label(model)} are gone from {path}", field="model")
    digest = sha256_file(path)
    if digest != model.weights_sha256:
        hint = f"; restore them with `dvc checkout --force {uri}.dvc` in {repo_dir}" if is_stored(model) else ""
        raise Conflict(
            f"weights of {_label(model)} changed since registration: {path} hashes to SHA-256 {digest[:12]}…, "
            f"registered {model.weights_sha256[:12]}…; refusing to use them{hint}",
            field="model",
        )
    return path


def export_weights(model: ModelVersion, repo_dir: Path | None, dest: Path, *, overwrite: bool = False) -> Path:
    """Write the model's exact registered bytes to ``dest`` (a file path, or a folder to put
    ``<name>-<version>.pt`` in); the copy is hashed again before it is moved into place."""
    dest = dest.expanduser()
    if dest.is_dir():
        dest = dest / f"{model.name}-{model.version}.pt"
    if dest.exists() and not overwrite:
        raise InvalidInput(f"{dest} exists; choose another path or overwrite it (--overwrite)", field="path")
    if not dest.parent.is_dir():
        raise InvalidInput(f"no folder {dest.parent} to write {dest.name} into", field="path")
    source = weights_file(model, repo_dir)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        if sha256_file(Path(tmp)) != model.weights_sha256:
            raise Conflict(f"weights of {_label(model)} changed while they were exported; try again", field="model")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest
