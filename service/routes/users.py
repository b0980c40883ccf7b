"""Users, their API tokens and their signing secrets. Secrets travel in JSON bodies only, never in a URL."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lineage import identity
from lineage.context import Actor
from lineage.errors import NotFound
from lineage.models import ApiToken, User
from service.deps import Caller, CallerDep, Offset, SessionDep
from service.schemas import (
    MembershipPublic,
    Page,
    RowId,
    SigningEnrolmentCreate,
    SigningEnrolmentIssued,
    SigningSecretSet,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    UserCreate,
    UserPublic,
)

router = APIRouter(tags=["users"])


@router.get("/me", name="whoami", response_model=UserPublic)
def whoami(caller: CallerDep) -> User:
    return caller.require_user()


@router.get("/me/memberships", name="my_memberships", response_model=list[MembershipPublic])
def my_memberships(session: SessionDep, caller: CallerDep) -> list[MembershipPublic]:
    """The caller's roles per project (admins hold every role everywhere and get an empty list)."""
    user = caller.require_user()
    return [
        MembershipPublic(project_id=p.id or 0, project_name=p.name, role=m.role)
        for m, p in identity.memberships_of(session, user=user)
    ]


@router.get("/users", name="list_users", response_model=Page[UserPublic])
def list_users(session: SessionDep, offset: Offset = 0, limit: int = Query(100, ge=1, le=500)) -> dict[str, object]:
    items, total = identity.list_users(session, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.post("/users", name="create_user", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, session: SessionDep, caller: CallerDep) -> User:
    return identity.create_user(session, actor=caller.actor, **body.model_dump())


def _target_user(session: SessionDep, user_id: RowId) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user_id")
    return user


@router.get("/users/{user_id}/tokens", name="list_tokens", response_model=list[TokenPublic])
def list_tokens(user_id: RowId, session: SessionDep) -> list[ApiToken]:
    _target_user(session, user_id)
    return identity.list_tokens(session, user_id=user_id)


def _actor(caller: Caller) -> Actor:
    assert caller.actor is not None, "these routes always carry an authenticated actor"
    return caller.actor


@router.post("/users/{user_id}/tokens", name="issue_token", response_model=TokenIssued, status_code=201)
def issue_token(user_id: RowId, body: TokenCreate, session: SessionDep, caller: CallerDep) -> dict[str, object]:
    """Mint a token with the caller's token as its parent: it may not outlive the parent and is revoked
    with it. Only an admin mints for another user."""
    user = _target_user(session, user_id)
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = identity.issue_token(
        session, actor=_actor(caller), user=user, name=body.name, expires_in=expires, parent=caller.token
    )
    return {**issued.record.model_dump(), "token": issued.token}


@router.delete("/users/{user_id}/tokens/{token_id}", name="revoke_token", response_model=TokenPublic)
def revoke_token(user_id: RowId, token_id: RowId, session: SessionDep, caller: CallerDep) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user_id:
        raise NotFound(f"no token {token_id} for user {user_id}", field="token_id")
    return identity.revoke_token(session, actor=_actor(caller), token_id=token_id)


@router.post(
    "/users/{user_id}/signing-enrolment",
    name="issue_signing_enrolment",
    response_model=SigningEnrolmentIssued,
    status_code=201,
)
def issue_signing_enrolment(
    user_id: RowId, body: SigningEnrolmentCreate, session: SessionDep, caller: CallerDep
) -> SigningEnrolmentIssued:
    """Issue the one-time code with which the user sets a first signing secret (admins only; shown once)."""
    user = _target_user(session, user_id)
    code = identity.issue_signing_enrolment(
        session, actor=_actor(caller), user=user, valid_for=timedelta(hours=body.valid_for_hours)
    )
    assert user.signing_enrolment_expires_at is not None
    return SigningEnrolmentIssued(user_id=user_id, expires_at=user.signing_enrolment_expires_at, enrolment_code=code)


@router.put("/me/signing-secret", name="set_signing_secret", status_code=204)
def put_signing_secret(body: SigningSecretSet, session: SessionDep, caller: CallerDep) -> Response:
    """Set your signing secret (the second factor re-entered at each signature): the first one with
    ``{"enrolment_code", "secret"}``, a change with ``{"current", "secret"}``. A token alone never does."""
    identity.set_signing_secret(
        session,
        actor=_actor(caller),
        user=caller.require_user(),
        secret=body.secret,
        enrolment_code=body.enrolment_code,
        current=body.current,
    )
    return Response(status_code=204)
