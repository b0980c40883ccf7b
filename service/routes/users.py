from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query

from lineage import identity
from lineage.errors import NotFound
from lineage.models import ApiToken, User
from service.deps import CallerDep, SessionDep
from service.schemas import MembershipPublic, Page, TokenCreate, TokenIssued, TokenPublic, UserCreate, UserPublic

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
def list_users(
    session: SessionDep, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=500)
) -> dict[str, object]:
    items, total = identity.list_users(session, offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.post("/users", name="create_user", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, session: SessionDep, caller: CallerDep) -> User:
    return identity.create_user(session, actor=caller.actor, **body.model_dump())


def _target_user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user_id")
    return user


@router.get("/users/{user_id}/tokens", name="list_tokens", response_model=list[TokenPublic])
def list_tokens(user_id: int, session: SessionDep) -> list[ApiToken]:
    _target_user(session, user_id)
    return identity.list_tokens(session, user_id=user_id)


@router.post("/users/{user_id}/tokens", name="issue_token", response_model=TokenIssued, status_code=201)
def issue_token(user_id: int, body: TokenCreate, session: SessionDep, caller: CallerDep) -> dict[str, object]:
    user = _target_user(session, user_id)
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = identity.issue_token(session, actor=caller.actor, user=user, name=body.name, expires_in=expires)
    return {**issued.record.model_dump(), "token": issued.token}


@router.delete("/users/{user_id}/tokens/{token_id}", name="revoke_token", response_model=TokenPublic)
def revoke_token(user_id: int, token_id: int, session: SessionDep, caller: CallerDep) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user_id:
        raise NotFound(f"no token {token_id} for user {user_id}", field="token_id")
    assert caller.actor is not None
    return identity.revoke_token(session, actor=caller.actor, token_id=token_id)
