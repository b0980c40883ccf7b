"""Users, their API tokens and their signing secrets. Secrets travel in JSON bodies only, never in a URL."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lineage.models import ApiToken, User
from service import actions
from service.api.deps import ContextDep, Offset
from service.api.routes.paging import Cursor, CutDep, WithTotal
from service.api.schemas.common import (
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
def whoami(ctx: ContextDep) -> User:
    return actions.whoami(ctx)


@router.get("/me/memberships", name="my_memberships", response_model=list[MembershipPublic])
def my_memberships(ctx: ContextDep) -> list[MembershipPublic]:
    """The caller's roles per project (admins hold every role everywhere and get an empty list)."""
    return [
        MembershipPublic(project_id=p.id or 0, project_name=p.name, role=m.role) for m, p in actions.my_memberships(ctx)
    ]


@router.get("/users", name="list_users", response_model=Page[UserPublic])
def list_users(
    ctx: ContextDep,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
    cursor: Cursor = None,
    with_total: WithTotal = None,
) -> dict[str, object]:
    """Every user, in id order, a page at a time (``next_cursor``, or ``offset`` as before)."""
    return actions.users_page(ctx, offset=offset, limit=limit, cursor=cursor, with_total=with_total)


@router.post("/users", name="create_user", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, ctx: ContextDep) -> User:
    return actions.create_user(ctx, **body.model_dump())


@router.get("/users/{user_id}/tokens", name="list_tokens", response_model=list[TokenPublic])
def list_tokens(user_id: RowId, ctx: ContextDep, cut: CutDep) -> list[ApiToken]:
    return cut(actions.tokens_of(ctx, user_id))


@router.post("/users/{user_id}/tokens", name="issue_token", response_model=TokenIssued, status_code=201)
def issue_token(user_id: RowId, body: TokenCreate, ctx: ContextDep) -> dict[str, object]:
    """Mint a token with the caller's token as its parent: it may not outlive the parent and is revoked
    with it. Only an admin mints for another user."""
    issued = actions.issue_token(ctx, user_id, name=body.name, expires_in_days=body.expires_in_days)
    return {**issued.record.model_dump(), "token": issued.token}


@router.delete("/users/{user_id}/tokens/{token_id}", name="revoke_token", response_model=TokenPublic)
def revoke_token(user_id: RowId, token_id: RowId, ctx: ContextDep) -> ApiToken:
    return actions.revoke_token(ctx, token_id, user_id=user_id)


@router.post(
    "/users/{user_id}/signing-enrolment",
    name="issue_signing_enrolment",
    response_model=SigningEnrolmentIssued,
    status_code=201,
)
def issue_signing_enrolment(user_id: RowId, body: SigningEnrolmentCreate, ctx: ContextDep) -> SigningEnrolmentIssued:
    """Issue the one-time code with which the user sets a first signing secret (admins only; shown once)."""
    user, code = actions.issue_enrolment(ctx, user_id, valid_for_hours=body.valid_for_hours)
    assert user.signing_enrolment_expires_at is not None
    return SigningEnrolmentIssued(user_id=user_id, expires_at=user.signing_enrolment_expires_at, enrolment_code=code)


@router.put("/me/signing-secret", name="set_signing_secret", status_code=204)
def put_signing_secret(body: SigningSecretSet, ctx: ContextDep) -> Response:
    """Set your signing secret (the second factor re-entered at each signature): the first one with
    ``{"enrolment_code", "secret"}``, a change with ``{"current", "secret"}``. A token alone never does."""
    actions.set_my_signing_secret(ctx, secret=body.secret, enrolment_code=body.enrolment_code, current=body.current)
    return Response(status_code=204)
