"""Who is acting, and in which request: passed to every function that changes the record."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Actor"]


@dataclass(frozen=True, slots=True)
class Actor:
    """``username`` is what the audit log records; ``request_id`` ties the event to an API response."""

    user_id: int
    username: str
    request_id: str | None = None
    is_admin: bool = False
