"""The audit log's page: the shared ``Page`` fields plus keyset cursors, and a total only when it was counted."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.api.schemas.common import AuditEventPublic, OutputModel

__all__ = ["AuditEventPage"]


class AuditEventPage(OutputModel):
    """A page of audit events. Follow ``next_cursor`` (same order) or ``prev_cursor`` (back) by passing it as
    ``cursor``; each is ``null`` when nothing lies that way. ``total`` is ``null`` unless it was counted."""

    items: list[AuditEventPublic]
    total: int | None = Field(
        description="events matching the filters: counted when `with_total=true`, or by default on offset pages "
        "(no cursor, `after_seq` or `before_seq`); null on keyset pages unless asked"
    )
    offset: int
    limit: int
    order: Literal["asc", "desc"] = "asc"
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page in this order")
    prev_cursor: str | None = Field(default=None, description="pass as `cursor` for the page before this one")
