"""Periodic signed checkpoints of the audit chain, taken by the doors after they commit.

After a request or a CLI command commits, ``after_commit`` asks whether a checkpoint is due
(``LABELGATE_CHECKPOINT_EVERY_EVENTS`` events or ``LABELGATE_CHECKPOINT_EVERY_SECONDS`` seconds since the
newest one) and, if so, signs the committed head with the workspace key and commits it to the workspace's
git repository. Best effort: a failure is logged and never fails the request that triggered it (the
next commit tries again), since the change it follows is already committed.
"""

from __future__ import annotations

import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine
from sqlmodel import Session

from lineage.audit.checkpoints import Checkpoint, checkpoint_due, sign_checkpoint, take_checkpoint, write_checkpoint
from lineage.errors import NotFound
from lineage.release.bundle import load_private_key, load_public_key
from service.settings import Settings

__all__ = ["after_commit", "checkpoint_now", "require_public_key", "workspace_public_key"]

log = logging.getLogger("labelgate.checkpoints")


def _ready(settings: Settings) -> bool:
    key = settings.signing_key_path
    return key is not None and key.is_file() and (settings.repo_dir / ".git").exists()


def after_commit(settings: Settings, engine: Engine) -> Checkpoint | None:
    """Take a checkpoint if one is due; returns it (``None`` when not due or not possible)."""
    if not _ready(settings):
        return None
    try:
        with Session(engine) as session:
            head = checkpoint_due(
                session,
                settings.repo_dir,
                every_events=settings.checkpoint_every_events,
                every_seconds=settings.checkpoint_every_seconds,
            )
        if head is None:
            return None
        assert settings.signing_key_path is not None
        cp = sign_checkpoint(head, load_private_key(settings.signing_key_path))
        write_checkpoint(settings.repo_dir, cp)
        return cp
    except Exception as exc:  # the change is committed already: never fail it for its witness
        log.warning("audit checkpoint not taken: %s", exc)
        return None


def checkpoint_now(settings: Settings, session: Session) -> Checkpoint | None:
    """Sign and commit the current head now (``labelgate audit checkpoint``, the demo, a release)."""
    assert settings.signing_key_path is not None
    return take_checkpoint(session, repo_dir=settings.repo_dir, key=load_private_key(settings.signing_key_path))


def workspace_public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The workspace's public key (``keys/signing_key.pub.pem`` beside the private key); ``None`` for a
    workspace without one (nothing was ever signed there)."""
    assert settings.signing_key_path is not None
    path = settings.signing_key_path.with_suffix(".pub.pem")
    return load_public_key(path) if path.is_file() else None


def require_public_key(settings: Settings) -> Ed25519PublicKey:
    """The workspace's public key, or an error saying the workspace has none (run ``labelgate init``)."""
    key = workspace_public_key(settings)
    if key is None:
        raise NotFound("this workspace has no signing key; run `labelgate init`", field="signing_key")
    return key
