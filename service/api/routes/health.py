from __future__ import annotations

from fastapi import APIRouter

from service.actions.health import health as check_health
from service.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health", name="health")
def health(session: SessionDep) -> dict[str, str]:
    """Liveness and database reachability; needs no token."""
    return check_health(session)
