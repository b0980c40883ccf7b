"""The FastAPI application factory. Nothing (engine, settings) is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from lineage.db import make_engine
from lineage.errors import LabelgateError
from service.deps import authorize
from service.middleware import BodySizeLimit, RequestId
from service.routes import ROUTERS
from service.settings import Settings, get_settings

__all__ = ["create_app"]


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
        description="Governance and audit service for data labelling.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    for router in ROUTERS:
        # Every route is authorised from the one permission table (service.permissions).
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(authorize)])
    _install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestId)  # outermost: every response, 413s included, carries the id
    return app


def error_body(request: Request, status: int, message: str, field: str | None) -> dict[str, Any]:
    return {
        "error": {"status": status, "message": message, "field": field},
        "request_id": getattr(request.state, "request_id", None),
    }


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LabelgateError)
    async def _domain(request: Request, exc: LabelgateError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            error_body(request, exc.status_code, exc.message, exc.field), exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
        field = ".".join(loc) or None
        message = str(first.get("msg", "invalid request"))
        if first.get("type") == "extra_forbidden":
            message = "unknown field (this endpoint does not accept it)"
        elif first.get("type") == "json_invalid":
            message = f"malformed JSON: {first.get('ctx', {}).get('error', 'cannot parse')}"
            field = "body"
        body = error_body(request, 422, message, field)
        body["error"]["details"] = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg")}
            for e in errors
        ]
        return JSONResponse(body, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(request, exc.status_code, str(exc.detail), None), exc.status_code)
