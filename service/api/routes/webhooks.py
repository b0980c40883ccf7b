"""Webhook routes: Label Studio's annotation events, recorded as they happen (``service.actions.connectors``).

The route's permission rule is ``public``: Label Studio cannot hold a labelgate token that expires, so the
caller is proven by the shared secret instead, checked (in constant time) by a dependency that runs before
the body is read into the route and again by the verb; no secret configured, no access. What the event may
write is then bounded by the configured webhook user's roles in the project (the import rule), exactly as if
that user had imported it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from pydantic import BaseModel

from service.actions.connectors import SECRET_HEADER, check_webhook_secret, receive_labelstudio_webhook
from service.api.deps import SessionDep, SettingsDep
from service.api.schemas.common import ProjectRef

__all__ = ["WebhookRecorded", "router"]

router = APIRouter(tags=["webhooks"])


class WebhookRecorded(BaseModel):
    """What one event did: ``recorded`` false for an event this endpoint ignores (not an annotation event)."""

    event: str
    recorded: bool
    version: str | None = None
    origin: str | None = None
    units_added: int = 0
    units_updated: int = 0
    units_skipped: int = 0
    units_deleted: int = 0
    labels_written: int = 0
    tombstones: int = 0
    authors: dict[str, str] = {}


def webhook_secret(
    settings: SettingsDep, secret: Annotated[str | None, Header(alias=SECRET_HEADER, include_in_schema=True)] = None
) -> str | None:
    check_webhook_secret(settings, secret)
    return secret


@router.post(
    "/webhooks/labelstudio/{project_id}/{dataset}/{version}",
    name="receive_labelstudio_webhook",
    response_model=WebhookRecorded,
)
def receive_labelstudio(
    project_id: ProjectRef,
    dataset: str,
    version: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    secret: Annotated[str | None, Depends(webhook_secret)],
    payload: Annotated[dict[str, Any], Body()],
) -> WebhookRecorded:
    """Record a Label Studio ANNOTATION_CREATED, ANNOTATIONS_CREATED, ANNOTATION_UPDATED or
    ANNOTATIONS_DELETED event in the version (other events are acknowledged and ignored). Needs the shared
    secret in ``X-Labelgate-Secret``; 401 without it, 422 naming an unknown author, class or image, and
    nothing written on any refusal."""
    event = str(payload.get("action"))
    result = receive_labelstudio_webhook(
        session,
        settings,
        secret=secret,
        project_id=project_id,
        dataset=dataset,
        version=version,
        payload=payload,
        request=getattr(request.state, "request_id", None),
    )
    if result is None:
        return WebhookRecorded(event=event, recorded=False)
    return WebhookRecorded(
        event=event,
        recorded=result.changed,
        version=result.version,
        origin=result.origin,
        units_added=result.units_added,
        units_updated=result.units_updated,
        units_skipped=result.units_skipped,
        units_deleted=result.units_deleted,
        labels_written=result.labels_written,
        tombstones=result.tombstones,
        authors=result.authors,
    )
