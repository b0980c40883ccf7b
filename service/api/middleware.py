"""ASGI middleware: a request id on every response, and a limit on request body size; what body a route
reads and the media types it takes."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from fastapi import params
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "JSON_BODY_MAX_BYTES",
    "BodyKind",
    "BodySizeLimit",
    "RequestId",
    "accepted_media_types",
    "accepts",
    "body_kind",
    "media_type",
]

#: The largest JSON body any route takes (4 MiB: 5000 labels with attributes); the configured
#: ``max_body_bytes`` lowers it, never raises it. Uploads (multipart forms) are capped by ``max_bytes`` alone.
JSON_BODY_MAX_BYTES = 4 * 1024 * 1024

BodyKind = Literal["json", "form"]
_ACCEPTED: dict[BodyKind, tuple[str, ...]] = {
    "json": ("application/json",),
    "form": ("multipart/form-data", "application/x-www-form-urlencoded"),
}


def body_kind(route: object) -> BodyKind | None:
    """What body a route reads: ``form`` (form fields or file uploads), ``json``, or ``None`` (none)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    return "form" if isinstance(route.body_field.field_info, params.Form) else "json"


def media_type(content_type: str) -> str:
    """``multipart/form-data`` of ``multipart/form-data; boundary=...``, lower-cased."""
    return content_type.split(";", 1)[0].strip().lower()


def accepted_media_types(kind: BodyKind) -> tuple[str, ...]:
    """The media types a route reading a ``kind`` body takes (JSON also takes ``application/*+json``)."""
    return _ACCEPTED[kind]


def accepts(kind: BodyKind, media: str) -> bool:
    """Whether a route reading a ``kind`` body takes a body of media type ``media``."""
    if kind == "json" and media.startswith("application/") and media.endswith("+json"):
        return True
    return media in _ACCEPTED[kind]


class RequestId:
    """Give each request a server-made id (``request.state.request_id``, header ``X-Request-ID``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


class _TooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing re-raises it instead of turning it into a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {max_bytes} bytes")


class BodySizeLimit:
    """413 for a body over its limit, by Content-Length or by counting a streamed body: ``max_bytes`` for
    ``multipart/form-data`` (uploads), ``min(max_bytes, JSON_BODY_MAX_BYTES)`` for any other body. (Whether
    the route takes that media type at all is ``service.api.deps.check_inputs``'s 415.)"""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = media_type(headers.get("content-type", "")) == "multipart/form-data"
        limit = self.max_bytes if upload else min(self.max_bytes, JSON_BODY_MAX_BYTES)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _too_large(scope, send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(scope, send, limit)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "error": {
            "status": 413,
            "message": f"request body larger than {limit} bytes",
            "field": "body",
            "type": "PayloadTooLarge",
        },
        "request_id": scope.get("state", {}).get("request_id"),
    }
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": raw})
