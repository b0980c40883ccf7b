"""Signing secrets, the e-signature second factor (21 CFR Part 11 §11.200), and the enrolment codes that
let a user set a first one.

Secrets are scrypt-hashed. An API token alone never sets one: a first secret needs a one-time enrolment
code issued by an admin (stored as its scrypt hash, valid 24 h by default), a change needs the current
secret, and only the workspace operator (the local CLI) may set one without either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import NoReturn

from sqlmodel import Session

from lineage.audit.chain import record_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, PermissionDenied
from lineage.models import User
from lineage.models._base import utcnow

__all__ = [
    "ENROLMENT_VALIDITY",
    "MIN_SECRET_LENGTH",
    "check_signing_secret",
    "issue_signing_enrolment",
    "set_signing_secret",
]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_SECRET_LENGTH = 8
ENROLMENT_VALIDITY = timedelta(hours=24)


def _scrypt(secret: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${salt.hex()}${hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex()}"


def _scrypt_matches(stored: str | None, secret: str) -> bool:
    if not stored:
        return False
    _, salt_hex, digest_hex = stored.split("$")
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def issue_signing_enrolment(
    session: Session, *, actor: Actor, user: User, valid_for: timedelta = ENROLMENT_VALIDITY, operator: bool = False
) -> str:
    """A one-time code (returned once, stored as its scrypt hash) with which ``user`` sets a first signing
    secret within ``valid_for`` (24 h); a new code replaces a pending one.

    Only an admin issues one, never for themselves unless ``operator`` (the local CLI on the workspace
    machine): otherwise one admin token would be enough to give its holder a signing secret.
    """
    if not actor.is_admin:
        raise PermissionDenied("only an admin may issue a signing enrolment code", field="user_id")
    if actor.user_id == user.id and not operator:
        raise Conflict(
            "an admin may not issue their own enrolment code: ask another admin, or the workspace operator "
            "(`labelgate user enrol-code`)",
            field="user_id",
        )
    if user.signing_secret_hash:
        raise Conflict(
            f"{user.username} already has a signing secret: changing it needs the current one "
            "(or an operator reset with `labelgate user set-secret`)",
            field="user_id",
        )
    if valid_for <= timedelta(0):
        raise InvalidInput("the enrolment code's validity must be positive", field="valid_for_hours")
    code = f"lge_{secrets.token_urlsafe(24)}"
    replaces = user.signing_enrolment_hash is not None
    user.signing_enrolment_hash = _scrypt(code)
    user.signing_enrolment_expires_at = utcnow() + valid_for
    session.add(user)
    record_event(
        session,
        actor,
        "user.signing_enrolment.issue",
        ("user", str(user.id)),
        payload={"user": user.username, "expires_at": user.signing_enrolment_expires_at, "replaces": replaces},
    )
    return code


def set_signing_secret(
    session: Session,
    *,
    actor: Actor,
    user: User,
    secret: str,
    enrolment_code: str | None = None,
    current: str | None = None,
    operator: bool = False,
) -> None:
    """Set the second factor ``user`` re-enters when signing (at least ``MIN_SECRET_LENGTH`` characters).

    Proof needed: the first secret, the admin-issued ``enrolment_code`` (consumed); a change, the
    ``current`` secret; both only from the user themselves. ``operator`` (the local CLI acting on the
    workspace's database, and the demo) needs neither. A refused attempt rolls the caller's transaction
    back, is recorded on its own (``user.signing_enrolment.refused`` or ``user.signing_secret.refused``),
    then raises ``PermissionDenied``.
    """
    if len(secret) < MIN_SECRET_LENGTH:
        raise InvalidInput(f"the signing secret needs at least {MIN_SECRET_LENGTH} characters", field="secret")
    if current is not None and enrolment_code is not None:
        raise InvalidInput(
            "give either current (to change a secret) or enrolment_code (to set the first), not both", field="current"
        )
    if not operator:
        # Lock the row (PostgreSQL; SQLite's writer lock already serialises): one code sets one secret,
        # even when two requests race with it.
        session.refresh(user, with_for_update=True)
    first = not user.signing_secret_hash
    if operator:
        via = "operator"
    elif actor.user_id != user.id:
        _refuse_secret(session, actor=actor, user=user, field="user_id", why="only the user may set their own")
    elif first:
        why = _enrolment_problem(user, enrolment_code)
        if why is not None:
            _refuse_secret(session, actor=actor, user=user, field="enrolment_code", why=why)
        via = "enrolment_code"
    else:
        if current is None or not _scrypt_matches(user.signing_secret_hash, current):
            why = "the current secret is missing" if current is None else "the current secret is wrong"
            _refuse_secret(session, actor=actor, user=user, field="current", why=why)
        via = "current_secret"
    consumed = user.signing_enrolment_hash is not None and via == "enrolment_code"
    user.signing_secret_hash = _scrypt(secret)
    user.signing_enrolment_hash = None  # a secret now exists: no code may set another one
    user.signing_enrolment_expires_at = None
    session.add(user)
    events = ["user.signing_enrolment.consume"] if consumed else []
    events.append("user.signing_secret.set" if first else "user.signing_secret.change")
    for action in events:
        record_event(session, actor, action, ("user", str(user.id)), payload={"user": user.username, "via": via})


def _enrolment_problem(user: User, code: str | None) -> str | None:
    if code is None:
        return "a first signing secret needs an enrolment code issued by an admin"
    if user.signing_enrolment_hash is None:
        return "no enrolment code is pending (never issued, or already used)"
    expires = user.signing_enrolment_expires_at
    if expires is None or expires <= utcnow():
        return "the enrolment code has expired: ask an admin for a new one"
    if not _scrypt_matches(user.signing_enrolment_hash, code):
        return "the enrolment code is wrong"
    return None


def _refuse_secret(session: Session, *, actor: Actor, user: User, field: str, why: str) -> NoReturn:
    # The refusal must survive the caller's rollback, so it is committed on its own first.
    user_id, username = user.id, user.username
    session.rollback()
    record_event(
        session,
        actor,
        "user.signing_enrolment.refused" if field == "enrolment_code" else "user.signing_secret.refused",
        ("user", str(user_id)),
        payload={"user": username, "reason": why},
    )
    session.commit()
    raise PermissionDenied(f"signing secret not set: {why}", field=field)


def check_signing_secret(user: User, secret: str) -> bool:
    return _scrypt_matches(user.signing_secret_hash, secret)
