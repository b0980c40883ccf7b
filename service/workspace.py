"""``labelgate init``: the workspace folder, its database, its git + DVC repository, its signing key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from lineage.db import make_engine, session_scope
from lineage.dvcrepo import init_repo
from lineage.identity import create_user, issue_token
from lineage.models import User
from service.migrate import upgrade_database
from service.settings import Settings

__all__ = ["InitResult", "ensure_signing_key", "init_workspace"]


@dataclass(frozen=True, slots=True)
class InitResult:
    workspace: Path
    database_url: str
    admin_username: str
    admin_token: str | None  # None when the workspace already had an admin


def ensure_signing_key(path: Path) -> Path:
    """Create an Ed25519 key (PEM, mode 0600) and its public key beside it, unless present."""
    public = path.with_suffix(".pub.pem")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return path


def init_workspace(
    settings: Settings, *, admin_username: str = "admin", admin_name: str = "Administrator"
) -> InitResult:
    """Idempotent: a second run migrates the database forward and changes nothing else."""
    settings.workspace.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.database_url)
    init_repo(settings.repo_dir, remote=settings.dvc_remote)
    assert settings.signing_key_path is not None
    ensure_signing_key(settings.signing_key_path)
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
