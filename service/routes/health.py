from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from service.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health", name="health")
def health(session: SessionDep) -> dict[str, str]:
    """Liveness and database reachability; needs no token."""
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok"}
