"""The API's reference pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their JavaScript, CSS and
icon served by the API itself from the ``fastapi-offline`` package (Swagger UI and ReDoc builds, MIT): on an
air-gapped site the pages work as they do online.

The pages also carry a Content-Security-Policy that lets them load nothing from another origin: ReDoc's
bundle has a hard-coded logo URL (``cdn.redoc.ly``, in its "API docs by Redocly" footer) that a browser
would otherwise try to fetch; with the policy the browser does not even try.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["ASSETS", "DOCS_CSP", "STATIC_PREFIX", "assets_dir", "install_docs"]

#: Where the pages' assets are served.
STATIC_PREFIX = "/api/static/docs"
#: The files the pages load, by role.
ASSETS = {
    "swagger_js": "swagger-ui-bundle.js",
    "swagger_css": "swagger-ui.css",
    "redoc_js": "redoc.standalone.js",
    "favicon": "favicon.png",
}
#: Same-origin only. Inline script and style: Swagger UI's page starts it with an inline script, and both
#: UIs style their elements inline; ``blob:`` workers: ReDoc's search index.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)


def assets_dir() -> Path:
    """The folder of the installed ``fastapi-offline`` package holding the Swagger UI and ReDoc files."""
    return Path(str(files("fastapi_offline") / "static"))


def _asset(request: Request, role: str) -> str:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{root}{STATIC_PREFIX}/{ASSETS[role]}"


def install_docs(app: FastAPI) -> None:
    """Serve the assets under :data:`STATIC_PREFIX` and the two pages (``app`` built with ``docs_url=None,
    redoc_url=None``). The pages are plain routes, outside the schema and the permission table: they need
    no token, and the spec they load is the public ``/openapi.json``."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(STATIC_PREFIX, StaticFiles(directory=assets_dir()), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_asset(request, "swagger_js"),
            swagger_css_url=_asset(request, "swagger_css"),
            swagger_favicon_url=_asset(request, "favicon"),
            oauth2_redirect_url=None,
            # no online validator badge (it would send the spec to validator.swagger.io)
            swagger_ui_parameters={"validatorUrl": None, "displayRequestDuration": True},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    async def redoc(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=_asset(request, "redoc_js"),
            redoc_favicon_url=_asset(request, "favicon"),
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
