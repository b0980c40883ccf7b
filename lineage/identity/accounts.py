"""Users, API tokens, projects and memberships: creation, lookup, revocation, all audited.

Tokens look like ``lg_<prefix>_<secret>``; only ``sha256(token)`` is stored, so a leaked database
does not leak usable tokens. A token minted with another token records it as ``parent_id``, never
outlives it, and dies with it: revoking a token revokes its descendants, and a token whose ancestor is
revoked or expired does not authenticate.

Signing secrets (the e-signature second factor, 21 CFR Part 11 §11.200) are scrypt-hashed. An API token
alone never sets one: a first secret needs a one-time enrolment code issued by an admin (stored as its
scrypt hash, valid 24 h by default), a change needs the current secret, and only the workspace operator
(the local CLI) may set one without either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlmodel import Session, col, select

from lineage.audit.chain import append_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lineage.models import ApiToken, Membership, Project, Role, User
from lineage.models._base import utcnow

__all__ = [
    "ENROLMENT_VALIDITY",
    "MAX_TOKEN_DEPTH",
    "MIN_SECRET_LENGTH",
    "IssuedToken",
    "add_member",
    "authenticate_token",
    "check_signing_secret",
    "create_project",
    "create_user",
    "get_user_by_name",
    "hash_token",
    "issue_signing_enrolment",
    "issue_token",
    "list_members",
    "list_tokens",
    "list_users",
    "memberships_of",
    "project_roles",
    "revoke_token",
    "set_signing_secret",
    "visible_projects",
]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MIN_SECRET_LENGTH = 8
ENROLMENT_VALIDITY = timedelta(hours=24)
# Tokens minted from tokens from tokens...: authentication walks the chain, so it stays short.
MAX_TOKEN_DEPTH = 8


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The plain token exists only here, once; the record keeps its hash."""

    token: str
    record: ApiToken


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    actor: Actor | None,
    username: str,
    full_name: str,
    email: str | None = None,
    is_admin: bool = False,
) -> User:
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise Conflict(f"a user named {username!r} already exists", field="username")
    user = User(username=username, full_name=full_name, email=email, is_admin=is_admin)
    session.add(user)
    session.flush()
    append_event(
        session,
        actor=actor.username if actor else "system",
        request_id=actor.request_id if actor else None,
        action="user.create",
        object_type="user",
        object_id=str(user.id),
        payload={"username": username, "full_name": full_name, "is_admin": is_admin},
    )
    return user


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
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="token.revoke",
        object_type="api_token",
        object_id=str(record.id),
        payload=payload,
    )


def create_project(session: Session, *, actor: Actor, name: str, description: str = "") -> Project:
    if session.exec(select(Project).where(Project.name == name)).first() is not None:
        raise Conflict(f"a project named {name!r} already exists", field="name")
    project = Project(name=name, description=description, created_by=actor.user_id)
    session.add(project)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="project.create",
        object_type="project",
        object_id=str(project.id),
        project_id=project.id,
        payload={"name": name, "description": description},
    )
    return project


def add_member(session: Session, *, actor: Actor, project: Project, user: User, role: Role) -> Membership:
    if role is Role.admin:
        raise InvalidInput("admin is a global role, not a project role", field="role")
    existing = session.exec(
        select(Membership).where(
            Membership.project_id == project.id, Membership.user_id == user.id, Membership.role == role
        )
    ).first()
    if existing is not None:
        return existing
    membership = Membership(user_id=user.id or 0, project_id=project.id or 0, role=role)
    session.add(membership)
    session.flush()
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="project.member.add",
        object_type="project",
        object_id=str(project.id),
        project_id=project.id,
        payload={"user": user.username, "role": str(role)},
        rows=[membership],
    )
    return membership


def project_roles(session: Session, *, user: User, project_id: int) -> frozenset[Role]:
    rows = session.exec(
        select(Membership.role).where(Membership.user_id == user.id, Membership.project_id == project_id)
    ).all()
    return frozenset(Role(r) for r in rows)


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
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="user.signing_enrolment.issue",
        object_type="user",
        object_id=str(user.id),
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
        append_event(
            session,
            actor=actor.username,
            request_id=actor.request_id,
            action=action,
            object_type="user",
            object_id=str(user.id),
            payload={"user": user.username, "via": via},
        )


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
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="user.signing_enrolment.refused" if field == "enrolment_code" else "user.signing_secret.refused",
        object_type="user",
        object_id=str(user_id),
        payload={"user": username, "reason": why},
    )
    session.commit()
    raise PermissionDenied(f"signing secret not set: {why}", field=field)


def check_signing_secret(user: User, secret: str) -> bool:
    return _scrypt_matches(user.signing_secret_hash, secret)


def list_tokens(session: Session, *, user_id: int) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.id))))


def list_users(session: Session, *, offset: int = 0, limit: int = 100) -> tuple[list[User], int]:
    from sqlalchemy import func

    total = int(session.exec(select(func.count()).select_from(User)).one())
    items = list(session.exec(select(User).order_by(col(User.id)).offset(offset).limit(limit)))
    return items, total


def get_user_by_name(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def visible_projects(session: Session, *, user: User) -> list[Project]:
    """Every project for an admin; otherwise the projects where the user holds any role."""
    stmt = select(Project).order_by(col(Project.id))
    if not user.is_admin:
        member_of = select(Membership.project_id).where(Membership.user_id == user.id)
        stmt = stmt.where(col(Project.id).in_(member_of))
    return list(session.exec(stmt))


def list_members(session: Session, *, project_id: int) -> list[tuple[Membership, User]]:
    stmt = (
        select(Membership, User)
        .join(User, col(User.id) == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(col(User.username), col(Membership.role))
    )
    return [(m, u) for m, u in session.exec(stmt)]


def memberships_of(session: Session, *, user: User) -> list[tuple[Membership, Project]]:
    stmt = (
        select(Membership, Project)
        .join(Project, col(Project.id) == Membership.project_id)
        .where(Membership.user_id == user.id)
        .order_by(col(Project.name), col(Membership.role))
    )
    return [(m, p) for m, p in session.exec(stmt)]
