"""``labelgate init``: the workspace folder, its database, its git + DVC repository, its signing key."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine, make_url
from sqlmodel import select

from lineage.datasets.dvcrepo import init_repo
from lineage.db import make_engine, session_scope
from lineage.identity import create_user, issue_token
from lineage.models import User
from service.migrate import upgrade_database
from service.settings import Settings

if TYPE_CHECKING:
    from service.actions.context import Context

__all__ = ["InitResult", "acting", "ensure_signing_key", "init_workspace", "open_engine"]


@dataclass(frozen=True, slots=True)
class InitResult:
    workspace: Path
    database_url: str
    admin_username: str
    admin_token: str | None  # None when the workspace already had an admin


PRIVATE_DIR = 0o700  # the workspace, its keys/ folder, the DVC site cache: the owner only
PRIVATE_FILE = 0o600  # the SQLite database (golden labels, token hashes) and the private key


def _private_dir(path: Path) -> None:
    # chmod after mkdir: mkdir's mode is masked by the umask, and exist_ok leaves an old folder as it was.
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)


def ensure_signing_key(path: Path) -> Path:
    """Create an Ed25519 key (PEM, mode 0600; a folder it creates is 0700) and its public key beside it,
    unless present."""
    public = path.with_suffix(".pub.pem")
    if not path.exists():
        if not path.parent.exists():
            _private_dir(path.parent)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Created 0600 before the key is written, so no other user can open it in between.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)
            os.write(fd, pem)
        finally:
            os.close(fd)
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return path


def _sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _private_database(path: Path) -> None:
    """The SQLite file 0600, created so before the first migration writes to it; its ``-wal``/``-shm``/
    ``-journal`` companions too, when present (SQLite gives them the database file's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if file.exists():
            file.chmod(PRIVATE_FILE)


def _tighten_inside(path: Path, workspace: Path, mode: int) -> None:
    # Only what the workspace holds: a key kept elsewhere (a shared folder) is its owner's business.
    if path.exists() and path.resolve().is_relative_to(workspace.resolve()):
        path.chmod(mode)


def init_workspace(
    settings: Settings, *, admin_username: str = "admin", admin_name: str = "Administrator"
) -> InitResult:
    """Idempotent: a second run migrates the database forward and changes nothing else, except that it
    tightens the modes of what the workspace holds (folders 0700, the SQLite file and private key 0600)."""
    _private_dir(settings.workspace)
    database = _sqlite_file(settings.database_url)
    if database is not None:
        _private_database(database)
    upgrade_database(settings.database_url)
    if database is not None:
        _private_database(database)
    init_repo(settings.repo_dir, remote=settings.dvc_remote)
    assert settings.signing_key_path is not None
    ensure_signing_key(settings.signing_key_path)
    _tighten_inside(settings.signing_key_path.parent, settings.workspace, PRIVATE_DIR)
    _tighten_inside(settings.signing_key_path, settings.workspace, PRIVATE_FILE)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            existing = session.exec(select(User).where(User.is_admin == True)).first()  # noqa: E712
            if existing is not None:
                return InitResult(settings.workspace, settings.database_url, existing.username, None)
            admin = create_user(session, actor=None, username=admin_username, full_name=admin_name, is_admin=True)
            issued = issue_token(session, actor=None, user=admin, name="initial admin token")
            return InitResult(settings.workspace, settings.database_url, admin.username, issued.token)
    finally:
        engine.dispose()


def open_engine(settings: Settings) -> Engine:
    """An engine on the workspace's database (the caller disposes of it)."""
    return make_engine(settings.database_url)


@contextmanager
def acting(engine: Engine, settings: Settings, token: str | None, *, request: str) -> Iterator[Context]:
    """One transaction on the workspace as the user of ``token`` (authenticated like any API caller) or,
    with ``None``, as the workspace's operator: for the demo, which acts as each of its users in turn.
    Committed when the block ends, rolled back on an error."""
    from service.actions.context import Context, authenticate, operator

    with session_scope(engine) as session:
        principal = authenticate(session, token, request=request) if token else operator(session, request=request)
        yield Context(session=session, principal=principal, settings=settings)
