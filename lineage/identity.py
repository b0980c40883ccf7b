"""Users, API tokens, projects and memberships: creation, lookup, revocation, all audited.

Tokens look like ``lg_<prefix>_<secret>``; only ``sha256(token)`` is stored, so a leaked database
does not leak usable tokens. Signing secrets (the e-signature second factor) are scrypt-hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from lineage.audit import append_event
from lineage.context import Actor
from lineage.errors import Conflict, InvalidInput, NotFound
from lineage.models import ApiToken, Membership, Project, Role, User
from lineage.models._base import utcnow

__all__ = [
    "IssuedToken",
    "add_member",
    "authenticate_token",
    "check_signing_secret",
    "create_project",
    "create_user",
    "get_user_by_name",
    "hash_token",
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
) -> IssuedToken:
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("expiry must be in the future", field="expires_in_days")
    prefix = secrets.token_hex(4)
    token = f"lg_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiToken(
        user_id=user.id or 0,
        name=name,
        prefix=prefix,
        token_hash=hash_token(token),
        expires_at=utcnow() + expires_in if expires_in else None,
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
        payload={"user": user.username, "name": name, "prefix": prefix, "expires_at": record.expires_at},
    )
    return IssuedToken(token=token, record=record)


def authenticate_token(session: Session, token: str, *, now: datetime | None = None) -> tuple[User, ApiToken]:
    """The active user behind ``token``; ``NotFound`` with the reason when it is unknown, expired, revoked."""
    record = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if record is None:
        raise NotFound("unknown token")
    now = now or utcnow()
    if record.revoked_at is not None:
        raise NotFound("token revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise NotFound("token expired")
    user = session.get(User, record.user_id)
    if user is None or not user.is_active:
        raise NotFound("user inactive")
    return user, record


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFound(f"no token {token_id}", field="token_id")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.add(record)
        append_event(
            session,
            actor=actor.username,
            request_id=actor.request_id,
            action="token.revoke",
            object_type="api_token",
            object_id=str(token_id),
            payload={"prefix": record.prefix},
        )
    return record


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
    )
    return membership


def project_roles(session: Session, *, user: User, project_id: int) -> frozenset[Role]:
    rows = session.exec(
        select(Membership.role).where(Membership.user_id == user.id, Membership.project_id == project_id)
    ).all()
    return frozenset(Role(r) for r in rows)


def set_signing_secret(session: Session, *, actor: Actor, user: User, secret: str) -> None:
    """Set the second factor a user re-enters when signing (at least 8 characters)."""
    if len(secret) < 8:
        raise InvalidInput("the signing secret needs at least 8 characters", field="secret")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    user.signing_secret_hash = f"scrypt${salt.hex()}${digest.hex()}"
    session.add(user)
    append_event(
        session,
        actor=actor.username,
        request_id=actor.request_id,
        action="user.signing_secret.set",
        object_type="user",
        object_id=str(user.id),
    )


def check_signing_secret(user: User, secret: str) -> bool:
    if not user.signing_secret_hash:
        return False
    _, salt_hex, digest_hex = user.signing_secret_hash.split("$")
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


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
