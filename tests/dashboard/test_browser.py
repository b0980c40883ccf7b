"""The dashboard in a real browser: the API (uvicorn) and the dashboard (``labelgate dashboard``'s command) run
as processes on free loopback ports, Chromium (Debian's, driven by Playwright) signs in and reads the audit
trail. Screenshots go to ``artifacts/screenshots/`` (CI keeps them).

Needs ``/usr/bin/chromium`` (``scripts/install-browser.sh``) and the ``playwright`` package; never
``playwright install``. Without them the test skips, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.factories import World

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 90.0
UI_TIMEOUT_MS = 45_000


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (run scripts/install-browser.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright; never `playwright install`)")
    if not missing:
        return
    message = "browser test needs " + " and ".join(missing)
    if Settings().ci:
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # A new session: the process and its children (streamlit under the CLI) are stopped as one group.
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, expect: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200 and expect in r.text:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} not ready after {START_TIMEOUT_S:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def servers(world: World, db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The seeded API and the dashboard as processes; yields their URLs and the world's tokens."""
    _require_browser()
    env = {
        **os.environ,
        "LABELGATE_DATABASE_URL": db_url,
        "LABELGATE_WORKSPACE": str(tmp_path / "ws"),
        "LABELGATE_ENV": "test",
        "PYTHONUNBUFFERED": "1",
    }
    api_port, ui_port = _free_port(), _free_port()
    api_url, ui_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    api_log, ui_log = tmp_path / "api.log", tmp_path / "dashboard.log"
    api = _start(
        [sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(api_port), "--log-level", "warning"],
        api_log, env,
    )  # fmt: skip
    ui = None
    try:
        _wait_ready(f"{api_url}/api/v1/health", api, api_log, '"ok"')
        ui = _start(
            [sys.executable, "-m", "service.cli_dashboard", "--host", "127.0.0.1", "--port", str(ui_port),
             "--api-url", api_url],
            ui_log, env,
        )  # fmt: skip
        _wait_ready(f"{ui_url}/_stcore/health", ui, ui_log, "ok")
        yield {"api": api_url, "ui": ui_url, "tokens": world.tokens, "ui_log": ui_log}
    finally:
        if ui is not None:
            _stop(ui)
        _stop(api)


def test_sign_in_and_read_the_audit_trail_in_chromium(servers: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(servers["ui"])
            token_box = page.get_by_label("API token", exact=True)
            token_box.wait_for()  # the first load shows only the skeleton
            page.screenshot(path=str(SHOTS / "01-sign-in.png"))

            token_box.fill("lg_wrong")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("Sign-in refused: invalid token: unknown token")).to_be_visible()

            token_box.fill(servers["tokens"]["compliance_officer"])
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            expect(page.get_by_text("Audit chain verified up to seq")).to_be_visible()
            expect(page.get_by_role("heading", name="Recent activity")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame")).to_have_count(2)  # projects, recent activity
            expect(page.get_by_text("Gate verdicts: not available yet on this server.")).to_be_visible()
            page.wait_for_timeout(1000)  # let the grids and the chart paint before the picture
            page.screenshot(path=str(SHOTS / "02-overview.png"), full_page=True)

            page.get_by_role("link", name="Audit trail").click()
            expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
            expect(page.get_by_text("matching events; page 1 of 1.")).to_be_visible()
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / "03-audit-trail.png"), full_page=True)
            page.get_by_label("Actor", exact=True).fill("reviewer_user")
            page.get_by_label("Actor", exact=True).press("Enter")
            expect(page.get_by_text("1 matching events; page 1 of 1.")).to_be_visible()
            # The grid paints on a canvas; its accessible cells (hidden from view) carry the text.
            cells = page.get_by_test_id("stDataFrame").first.locator("td[role=gridcell]")
            expect(cells.filter(has_text="annotation.review")).to_have_count(1)
            expect(cells.filter(has_text="root_admin")).to_have_count(0)  # retried until the grid is redrawn
            expect(cells.filter(has_text="reviewer_user")).to_have_count(1)
            expect(page.get_by_role("heading", name="Event detail")).to_be_visible()
            expect(page.get_by_test_id("stJson").last).to_contain_text("accept")  # the payload of that event
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / "04-audit-trail-filtered.png"), full_page=True)

            page.get_by_role("link", name="Dataset version").click()
            expect(page.get_by_role("heading", name="Dataset version")).to_be_visible()
            page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
            page.get_by_role("option", name="train").click()
            expect(page.get_by_role("heading", name="train@v2")).to_be_visible()  # newest version first
            expect(page.get_by_role("heading", name="Schema diff to parent")).to_be_visible()
            expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(1)  # composition by provenance
            expect(page.get_by_text("Gate results: not available yet on this server.")).to_be_visible()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SHOTS / "05-dataset-version.png"), full_page=True)
        finally:
            browser.close()
    names = ["01-sign-in.png", "02-overview.png", "03-audit-trail.png", "04-audit-trail-filtered.png"]
    for name in [*names, "05-dataset-version.png"]:
        assert (SHOTS / name).stat().st_size > 10_000, name
