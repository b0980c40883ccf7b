"""API tokens: issuing, authenticating and revoking them, all audited.

Tokens look like ``lg_<prefix>_<secret>``; only ``sha256(token)`` is stored, so a leaked database
does not leak usable tokens. A token minted with another token records it as ``parent_id``, never
outlives it, and dies with it: revoking a token revokes its descendants, and a token whose ancestor is
revoked or expired does not authenticate.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from lineage.audit.chain import append_event, record_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lineage.models import ApiToken, User
from lineage.models._base import utcnow

__all__ = [
    "MAX_TOKEN_DEPTH",
    "IssuedToken",
    "authenticate_token",
    "hash_token",
    "issue_token",
    "list_tokens",
    "revoke_token",
]

# Tokens minted from tokens from tokens...: authentication walks the chain, so it stays short.
MAX_TOKEN_DEPTH = 8


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The plain token exists only here, once; the record keeps its hash."""

    token: str
    record: ApiToken


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    actor: Actor | None,
    user: User,
    name: str,
    expires_in: timedelta | None = None,
    parent: ApiToken | None = None,
) -> IssuedToken:
    """Issue a token for ``user``; ``parent`` is the token that mints it (None: the operator or the system).

    A minted token records its parent, may belong to another user only when the parent's owner is an
    admin, and may not outlive any of its ancestors (``InvalidInput`` on ``expires_in_days``).
    """
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("expiry must be in the future", field="expires_in_days")
    now = utcnow()
    expires_at = now + expires_in if expires_in is not None else None
    if parent is not None:
        _check_minting(session, parent=parent, user=user, expires_at=expires_at, now=now)
    prefix = secrets.token_hex(4)
    token = f"lg_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiToken(
        user_id=user.id or 0,
        name=name,
        prefix=prefix,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=expires_at,
        parent_id=parent.id if parent is not None else None,
    )
    session.add(record)
    session.flush()
    append_event(
        session,
        actor=actor.username if actor else "system",
        request_id=actor.request_id if actor else None,
        action="token.issue",
        object_type="api_token",
        object_id=str(record.id),
        payload={
            "user": user.username,
            "name": name,
            "prefix": prefix,
            "expires_at": record.expires_at,
            "parent_id": record.parent_id,
        },
        rows=[record],
    )
    return IssuedToken(token=token, record=record)


def _chain(session: Session, record: ApiToken) -> list[ApiToken]:
    """``record`` and its ancestors, nearest first."""
    chain = [record]
    while chain[-1].parent_id is not None:
        parent = session.get(ApiToken, chain[-1].parent_id)
        if parent is None or any(parent.id == t.id for t in chain):  # only a tampered table does this
            raise NotFound("token lineage broken")
        chain.append(parent)
    return chain


def _check_minting(
    session: Session, *, parent: ApiToken, user: User, expires_at: datetime | None, now: datetime
) -> None:
    owner = session.get(User, parent.user_id)
    if owner is None or (not owner.is_admin and owner.id != user.id):
        raise PermissionDenied("only an admin may issue tokens for another user", field="user_id")
    chain = _chain(session, parent)
    if len(chain) >= MAX_TOKEN_DEPTH:
        raise Conflict(
            f"token {parent.prefix} is {len(chain)} mints deep; a token may be at most {MAX_TOKEN_DEPTH} deep: "
            "ask an operator for a fresh token (`labelgate token issue`)",
            field="parent",
        )
    for t in chain:
        if t.revoked_at is not None or (t.expires_at is not None and t.expires_at <= now):
            raise PermissionDenied(f"token {t.prefix} is revoked or expired: it cannot mint", field="parent")
    limits = [t.expires_at for t in chain if t.expires_at is not None]
    if not limits:
        return
    limit = min(limits)
    if expires_at is None or expires_at > limit:
        days = (limit - now).total_seconds() / 86400
        raise InvalidInput(
            f"a token may not outlive the token that mints it: this one expires at "
            f"{limit.isoformat(timespec='seconds')}, so expires_in_days must be given and at most {days:.4f}",
            field="expires_in_days",
        )


def authenticate_token(session: Session, token: str, *, now: datetime | None = None) -> tuple[User, ApiToken]:
    """The active user behind ``token``; ``NotFound`` with the reason when it is unknown, expired, revoked,
    or when an ancestor (the token that minted it, and so on) is revoked or expired."""
    record = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if record is None:
        raise NotFound("unknown token")
    now = now or utcnow()
    if record.revoked_at is not None:
        raise NotFound("token revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise NotFound("token expired")
    for ancestor in _chain(session, record)[1:]:
        if ancestor.revoked_at is not None:
            raise NotFound(f"token revoked: it descends from the revoked token {ancestor.prefix}")
        if ancestor.expires_at is not None and ancestor.expires_at <= now:
            raise NotFound(f"token expired: it descends from the expired token {ancestor.prefix}")
    user = session.get(User, record.user_id)
    if user is None or not user.is_active:
        raise NotFound("user inactive")
    return user, record


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> ApiToken:
    """Revoke a token and, in the same transaction, every token minted from it (recursively); each
    revocation is its own audit event (``cascade_from`` names the token whose revocation caused it)."""
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFound(f"no token {token_id}", field="token_id")
    now = utcnow()
    _revoke(session, actor=actor, record=record, now=now, cascade_from=None)
    frontier = [token_id]
    while frontier:
        children = list(session.exec(select(ApiToken).where(col(ApiToken.parent_id).in_(frontier))))
        for child in children:
            _revoke(session, actor=actor, record=child, now=now, cascade_from=token_id)
        frontier = [c.id for c in children if c.id is not None]
    return record


def _revoke(session: Session, *, actor: Actor, record: ApiToken, now: datetime, cascade_from: int | None) -> None:
    if record.revoked_at is not None:
        return
    record.revoked_at = now
    session.add(record)
    payload: dict[str, object] = {"prefix": record.prefix, "parent_id": record.parent_id}
    if cascade_from is not None:
        payload["cascade_from"] = cascade_from
    record_event(session, actor, "token.revoke", ("api_token", str(record.id)), payload=payload)


def list_tokens(session: Session, *, user_id: int) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.id))))
