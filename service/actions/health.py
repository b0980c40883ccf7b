"""The one verb anyone may take without a token: is the service up, and does its database answer?"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

__all__ = ["health"]


def health(session: Session) -> dict[str, str]:
    """``{"status": "ok"}`` once the database has answered a trivial query (an error otherwise)."""
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok"}
