"""The FastAPI application factory. Nothing (engine, settings) is built at import time."""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lineage.db import make_engine
from lineage.errors import LabelgateError
from service.api.deps import authorize, check_inputs, printable
from service.api.docs import install_docs
from service.api.middleware import BodySizeLimit, RequestId
from service.api.openapi import install_openapi
from service.api.operations import TAGS
from service.api.routes import ROUTERS
from service.settings import Settings, get_settings

__all__ = ["API_DESCRIPTION", "create_app"]

API_DESCRIPTION = """Governance and audit service for data labelling: label schemas, datasets and versions,
labels with their provenance, quality gates, electronic signatures, releases and a hash-chained audit log.

**Authentication.** Every operation but `/health` (and the Label Studio webhook, which takes a shared secret)
needs an API token: `Authorization: Bearer lg_...` (`labelgate token issue`, or `POST /users/{id}/tokens`).

**Projects** are named in paths by id or by name (`/projects/street-scenes/...`). A project the caller is not a
member of answers 404, as one that does not exist.

**Errors** all have one body: `{"error": {"status", "message", "field", "type"}, "request_id"}`; `field` names
the input at fault, `type` the record's error class, and `request_id` (also the `X-Request-ID` header) finds the
request in the server's log and audit trail.
"""


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the API. ``engine`` lets tests share one database; otherwise it comes from the settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.engine is None
        if owned:
            app.state.engine = make_engine(settings.database_url)
        yield
        if owned:
            app.state.engine.dispose()

    app = FastAPI(
        title="labelgate",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=TAGS,
        docs_url=None,  # served by install_docs from local files: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    for router in ROUTERS:
        # Every route is authorised from the one permission table (service.permissions).
        # Then its inputs: a body of a media type the route does not read (415), text or numbers no column
        # can store (NUL, lone surrogates, NaN, integers past 64 bits: 422).
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(authorize), Depends(check_inputs)])
    _install_error_handlers(app, redact=path_redactor(settings))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestId)  # outermost: every response, 413s included, carries the id
    install_docs(app)
    install_openapi(app)
    return app


def error_body(
    request: Request, status: int, message: str, field: str | None, kind: str | None = None
) -> dict[str, Any]:
    """``{"error": {status, message, field, type}, "request_id"}``; ``type`` names the record's error class
    (``Conflict``, ``CredentialRejected``, ...) so a remote CLI exits as the local one would."""
    # Message and field may quote the client's input: a lone surrogate there could not be encoded.
    return {
        "error": {
            "status": status,
            "message": printable(message),
            "field": printable(field) if field is not None else None,
            "type": kind,
        },
        "request_id": getattr(request.state, "request_id", None),
    }


def path_redactor(settings: Settings) -> Callable[[str], str]:
    """Replace the server's own folders (workspace, DVC remote, keys, database, temporary files) in a text
    sent to a client by a placeholder such as ``<workspace>``: an error names the file, relative to them,
    without telling the client where the server keeps its data."""
    places: dict[str, str] = {}

    def add(path: Path | str, label: str) -> None:
        for form in (str(path), os.path.realpath(path)):
            if form.rstrip("/"):
                places.setdefault(form.rstrip("/"), label)

    add(settings.workspace, "<workspace>")
    if settings.dvc_remote and "://" not in settings.dvc_remote:
        add(settings.dvc_remote, "<dvc-remote>")
    if settings.signing_key_path is not None:
        add(settings.signing_key_path.parent, "<keys>")
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        add(Path(url.database).parent, "<database>")
    add(tempfile.gettempdir(), "<tmp>")
    # Longest first: the workspace often lies inside the temporary folder (tests) or the database's.
    ordered = sorted(places.items(), key=lambda kv: len(kv[0]), reverse=True)

    def redact(text: str) -> str:
        for prefix, label in ordered:
            text = text.replace(prefix, label)
        return text

    return redact


_PG_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=")


def unique_violation(exc: IntegrityError) -> tuple[str, list[str]] | None:
    """The table and columns of the unique constraint ``exc`` violated; ``None`` for any other integrity
    error. Read from the driver's error (PostgreSQL's SQLSTATE 23505 and detail, SQLite's message)."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":
        diag = getattr(orig, "diag", None)
        found = _PG_KEY.search(getattr(diag, "message_detail", None) or "")
        columns = [c.strip() for c in found.group("columns").split(",")] if found else []
        return str(getattr(diag, "table_name", None) or "record"), columns
    text = str(orig)
    if isinstance(orig, sqlite3.IntegrityError) and text.startswith("UNIQUE constraint failed:"):
        qualified = [c.strip() for c in text.split(":", 1)[1].split(",")]
        return qualified[0].split(".")[0], [c.split(".")[-1] for c in qualified]
    return None


def _install_error_handlers(app: FastAPI, *, redact: Callable[[str], str]) -> None:
    @app.exception_handler(LabelgateError)
    async def _domain(request: Request, exc: LabelgateError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        field = redact(exc.field) if exc.field is not None else None
        return JSONResponse(
            error_body(request, exc.status_code, redact(exc.message), field, type(exc).__name__),
            exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
        field = ".".join(loc) or None
        # A validator's ValueError reads "Value error, <why>": the why is the message.
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        if first.get("type") == "extra_forbidden":
            message = "unknown field (this endpoint does not accept it)"
        elif first.get("type") == "json_invalid":
            ctx = first.get("ctx")
            message = f"malformed JSON: {ctx.get('error', 'cannot parse') if isinstance(ctx, dict) else 'cannot parse'}"
            field = "body"
        body = error_body(request, 422, message, field, "InvalidInput")
        body["error"]["details"] = [
            {
                "field": printable(".".join(str(p) for p in e.get("loc", ()) if p != "body")),
                "message": printable(str(e.get("msg")).removeprefix("Value error, ")),
            }
            for e in errors
        ]
        return JSONResponse(body, 422)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A write that passed its domain's duplicate check but lost a race with a concurrent request (the
        # other committed first). The request's session has rolled back by now: nothing of it remains.
        found = unique_violation(exc)
        if found is None:
            raise exc
        table, columns = found
        message = (
            f"conflict: a record with the same {', '.join(columns) or 'key'} already exists in {table} (stored by "
            "a concurrent request after this one checked); nothing was written: reload and retry"
        )
        return JSONResponse(error_body(request, 409, message, columns[-1] if columns else None, "Conflict"), 409)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = "body" if exc.status_code == 413 else None
        return JSONResponse(error_body(request, exc.status_code, redact(str(exc.detail)), field), exc.status_code)
