"""The API reference pages in a real browser with no way out: the API (uvicorn) runs as a process on a free
loopback port, and Chromium, driven by Playwright, aborts (and records) every request not to 127.0.0.1.
Swagger UI (``/docs``) must render every operation and ReDoc (``/redoc``) the operations' summaries, and no
request may have tried to leave the machine. Screenshots go to ``artifacts/screenshots/docs-*.png``.

Needs ``/usr/bin/chromium`` and the ``playwright`` package, as ``tests/dashboard/test_browser.py`` (whose
helpers start and stop the server); without them the test skips, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from service.api.operations import OPERATIONS
from tests.dashboard.test_browser import (
    CHROMIUM,
    LAUNCH_ARGS,
    SHOTS,
    UI_TIMEOUT_MS,
    _free_port,
    _require_browser,
    _start,
    _stop,
    _wait_ready,
)

pytestmark = pytest.mark.slow

LOCAL_HOSTS = {"127.0.0.1"}


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    """The API as a process over an empty workspace (the pages and the spec read no database)."""
    _require_browser()
    env = {
        **os.environ,
        "LABELGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'labelgate.db'}",
        "LABELGATE_WORKSPACE": str(tmp_path / "ws"),
        "LABELGATE_ENV": "test",
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "api.log"
    api = _start(
        [sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        log, env,
    )  # fmt: skip
    try:
        _wait_ready(f"{url}/openapi.json", api, log, '"openapi"')
        yield url
    finally:
        _stop(api)


def test_swagger_ui_and_redoc_render_with_every_outside_request_blocked(api_url: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    attempted: list[str] = []  # requests to another host: aborted, and each one a failure
    refused: list[str] = []  # what the page's Content-Security-Policy stopped before any request was made

    def gate(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", gate)
            page.on("console", console)

            page.goto(f"{api_url}/docs")
            page.wait_for_selector(".opblock", timeout=UI_TIMEOUT_MS)
            operations = page.locator(".opblock").count()
            assert operations >= 60, f"Swagger UI rendered {operations} operations"
            spec = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
            assert operations == sum(len(ops) for ops in spec["paths"].values())
            page.get_by_text(OPERATIONS["get_project"].summary, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
            page.screenshot(path=str(SHOTS / "docs-swagger.png"))

            page.goto(f"{api_url}/redoc")
            summary = OPERATIONS["sign_version"].summary
            # the operation's own section (its entry in the side menu stays hidden until its tag is opened)
            page.locator("h2", has_text=summary).first.wait_for(timeout=UI_TIMEOUT_MS)
            assert page.get_by_text("Who may call:").count() >= 60  # every operation's description rendered
            page.screenshot(path=str(SHOTS / "docs-redoc.png"))
        finally:
            browser.close()
    assert attempted == [], f"requests to other hosts: {attempted}"
    # The one thing the pages' policy is known to stop: ReDoc's hard-coded footer logo (service.api.docs).
    assert all("cdn.redoc.ly" in text for text in refused), refused
