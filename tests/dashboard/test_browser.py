"""The dashboard in a real browser: the API (uvicorn) and the dashboard (``labelgate dashboard``'s command) run
as processes on free loopback ports over the served workspace, seeded with the real gate scenario
(``gate_world``: street@v2 blocked, street@v3 passing). Chromium (Debian's, driven by Playwright) signs in,
reads the overview and the audit trail, and opens street@v3 and street@v2: their gate tables and evidence
plots. A second test signs in as each role (compliance officer, annotator, ML engineer) in turn in the same
browser and server pair, visits every page the role is offered (``<role>-<page>.png``), and walks the approval
flows: a permitted signer sees the sign form, an excluded author (four-eyes) sees the one-line reason, and the
evaluation page shows coloured verdicts. Screenshots go to ``artifacts/screenshots/`` (CI keeps them).

Needs ``/usr/bin/chromium`` (``scripts/install-browser.sh``) and the ``playwright`` package; never
``playwright install``. Without them the test skips, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from dashboard.access import PAGES
from lineage import identity
from lineage.models import Role, User
from service.settings import Settings
from tests.dashboard.conftest import SECRET
from tests.factories import World, actor_for

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


@contextmanager
def api_and_dashboard(env: dict[str, str], logs: Path) -> Iterator[tuple[str, str, Path]]:
    """The API (uvicorn) and the dashboard as processes on free loopback ports with ``env``, their logs in
    ``logs``, until the block ends; yields the API's URL, the dashboard's URL and the dashboard's log."""
    api_port, ui_port = _free_port(), _free_port()
    api_url, ui_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    api_log, ui_log = logs / "api.log", logs / "dashboard.log"
    api = _start(
        [sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(api_port), "--log-level", "warning"],
        api_log, env,
    )  # fmt: skip
    ui = None
    try:
        _wait_ready(f"{api_url}/api/v1/health", api, api_log, '"ok"')
        ui = _start(
            [sys.executable, "-m", "service.cli.dashboard", "--host", "127.0.0.1", "--port", str(ui_port),
             "--api-url", api_url],
            ui_log, env,
        )  # fmt: skip
        _wait_ready(f"{ui_url}/_stcore/health", ui, ui_log, "ok")
        yield api_url, ui_url, ui_log
    finally:
        if ui is not None:
            _stop(ui)
        _stop(api)


def served_env(workspace: Path, db_url: str) -> dict[str, str]:
    """The servers' environment: this one, on ``workspace`` and ``db_url``."""
    return {
        **os.environ,
        "LABELGATE_DATABASE_URL": db_url,
        "LABELGATE_WORKSPACE": str(workspace),
        "LABELGATE_ENV": "test",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def servers(gate_world: World, db_url: str, settings: Settings) -> Iterator[dict[str, Any]]:
    """The API and the dashboard as processes on the seeded workspace; yields their URLs and the tokens."""
    _require_browser()
    env = served_env(settings.workspace, db_url)
    with api_and_dashboard(env, settings.workspace.parent) as (api_url, ui_url, ui_log):
        yield {"api": api_url, "ui": ui_url, "tokens": gate_world.tokens, "ui_log": ui_log}


def _pick(page: Any, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_sign_in_and_review_the_gates_of_a_version_in_chromium(servers: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=UI_TIMEOUT_MS)  # a shared CI machine can be slow: wait as long as for actions
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
            expect(page.get_by_role("heading", name="Latest gate verdicts")).to_be_visible()
            expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame")).to_have_count(3)  # projects, verdicts, recent activity
            # The grid paints on a canvas; its accessible cells (hidden from view) carry the text.
            verdicts = page.get_by_test_id("stDataFrame").nth(1).locator("td[role=gridcell]")
            expect(verdicts.filter(has_text="street@v3")).to_have_count(1)
            expect(verdicts.filter(has_text="BLOCK")).to_have_count(1)
            page.wait_for_timeout(1000)  # let the grids and the chart paint before the picture
            page.screenshot(path=str(SHOTS / "02-overview.png"), full_page=True)

            page.get_by_role("link", name="Audit trail").click()
            expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
            expect(page.get_by_text("matching events; this page:")).to_be_visible()
            page.get_by_label("Action", exact=True).fill("gate.evaluate")
            page.get_by_label("Action", exact=True).press("Enter")
            expect(page.get_by_text("2 matching events; this page: 2")).to_be_visible()
            cells = page.get_by_test_id("stDataFrame").first.locator("td[role=gridcell]")
            expect(cells.filter(has_text="gate.evaluate")).to_have_count(2)
            expect(cells.filter(has_text="ci_user")).to_have_count(2)
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / "03-audit-trail-filtered.png"), full_page=True)

            page.get_by_role("link", name="Dataset version").click()
            expect(page.get_by_role("heading", name="Dataset version", exact=True)).to_be_visible()
            _pick(page, "Dataset", "street")
            expect(page.get_by_role("heading", name="street@v3")).to_be_visible()  # newest version first
            expect(page.get_by_text("Gate check PASSED: evaluation #2 of policy default@1")).to_be_visible()
            gate_cells = (
                page.get_by_test_id("stDataFrame").filter(has_text="golden_set_error").locator("td[role=gridcell]")
            )
            expect(gate_cells.filter(has_text="krippendorff_alpha")).to_have_count(1)
            expect(gate_cells.filter(has_text="BLOCK")).to_have_count(0)
            plots = page.get_by_test_id("stVegaLiteChart")
            expect(plots).to_have_count(8)  # composition + five evidence plots + PR curves + confusion matrix
            for i in range(8):  # each one drawn (Vega renders a canvas or an SVG)
                expect(plots.nth(i).locator("canvas, svg").first).to_be_visible()
            expect(page.get_by_role("button", name="Sign and approve")).to_be_visible()
            # Streamlit scrolls inside its own container, so a tall window is what gets the whole page in one picture.
            page.set_viewport_size({"width": 1440, "height": 3600})
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SHOTS / "04-dataset-version-v3-gates.png"))
            plots.nth(1).screenshot(path=str(SHOTS / "05-golden-error-per-source-v3.png"))

            _pick(page, "Version", "v2 (candidate)")
            expect(page.get_by_role("heading", name="street@v2")).to_be_visible()
            expect(page.get_by_text("Gate check BLOCKED: evaluation #1 of policy default@1")).to_be_visible()
            expect(page.get_by_text("Blocking gates")).to_be_visible()
            expect(page.get_by_text("worst source model:street-detector@1").first).to_be_visible()
            expect(plots).to_have_count(8)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SHOTS / "06-dataset-version-v2-blocked.png"))
        finally:
            browser.close()
    names = [
        "01-sign-in.png",
        "02-overview.png",
        "03-audit-trail-filtered.png",
        "04-dataset-version-v3-gates.png",
        "05-golden-error-per-source-v3.png",
        "06-dataset-version-v2-blocked.png",
    ]
    for name in names:
        assert (SHOTS / name).stat().st_size > 5_000, name


ROLES = ("compliance_officer", "annotator", "ml_engineer")
# A badge's text is its icon's ligature name, then the word (``check_circlePASSED``), unlike the headline.
BADGE_PASSED = re.compile(r"^[a-z_ ]*PASSED$")
BADGE_BLOCKED = re.compile(r"^[a-z_ ]*BLOCKED$")


def _settle(page: Any, title: str) -> None:
    """Wait for the page titled ``title`` to finish: its heading shown, no script running, no exception."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    page.wait_for_timeout(500)  # the "running" indicator shows a moment after the rerun starts
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.wait_for_timeout(800)  # let grids and charts paint before the picture


def _sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    box = page.get_by_label("API token", exact=True)
    box.wait_for()
    box.fill(token)
    page.get_by_role("button", name="Sign in").click()
    _settle(page, "Overview")


def _excluded_author_token(engine: Engine, world: World) -> str:
    """alice labelled street@v3; made a compliance officer with a signing secret, four-eyes still excludes her."""
    with Session(engine) as s:
        alice = s.exec(select(User).where(User.username == "alice")).one()
        admin = actor_for(world.admin)
        identity.add_member(s, actor=admin, project=world.project, user=alice, role=Role.compliance_officer)
        identity.set_signing_secret(s, actor=admin, user=alice, secret=SECRET, operator=True)
        token = identity.issue_token(s, actor=None, user=alice, name="browser").token
        s.commit()
    return token


def test_every_role_visits_every_page_and_approves_only_when_allowed(
    servers: dict[str, Any], gate_world: World, engine: Engine
) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    made: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            for role in ROLES:
                context = browser.new_context(viewport={"width": 1440, "height": 2400})
                page = context.new_page()
                page.set_default_timeout(UI_TIMEOUT_MS)
                _sign_in(page, servers["ui"], servers["tokens"][role])
                nav = page.get_by_test_id("stSidebarNav")
                titles = [t.strip() for t in nav.get_by_role("link").all_inner_texts()]
                offered = [pid for pid, title in PAGES.items() if any(title in t for t in titles)]
                assert "overview" in offered and "dataset_version" in offered, titles
                for pid in offered:
                    nav.get_by_role("link", name=PAGES[pid]).click()
                    _settle(page, PAGES[pid])
                    name = f"{role}-{pid}.png"
                    page.screenshot(path=str(SHOTS / name), full_page=True)
                    made.append(name)
                if role == "compliance_officer":  # a permitted signer on the passing candidate
                    nav.get_by_role("link", name=PAGES["dataset_version"]).click()
                    _settle(page, PAGES["dataset_version"])
                    expect(page.get_by_role("heading", name="street@v3")).to_be_visible()
                    expect(page.get_by_role("button", name="Sign and approve")).to_be_visible()
                    expect(page.get_by_text("Four-eyes", exact=False).first).to_be_visible()
                    page.get_by_role("button", name="Sign and approve").scroll_into_view_if_needed()
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(SHOTS / "compliance_officer-approval-form.png"))
                    made.append("compliance_officer-approval-form.png")
                    page.get_by_role("heading", name="Quality gates").scroll_into_view_if_needed()
                    # the evaluation page's verdicts in colour: the green badge, then the red one of street@v2
                    expect(page.get_by_text(BADGE_PASSED).first).to_be_visible()
                    _pick(page, "Version", "v2 (candidate)")
                    expect(page.get_by_role("heading", name="street@v2")).to_be_visible()
                    badge = page.get_by_text(BADGE_BLOCKED).first
                    expect(badge).to_be_visible()
                    colour = badge.evaluate("e => getComputedStyle(e.closest('span') || e).color")
                    assert colour not in ("rgb(0, 0, 0)", "rgb(49, 51, 63)"), colour  # coloured, not body text
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(SHOTS / "compliance_officer-verdicts-blocked.png"), full_page=True)
                    made.append("compliance_officer-verdicts-blocked.png")
                context.close()

            context = browser.new_context(viewport={"width": 1440, "height": 2400})
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            _sign_in(page, servers["ui"], _excluded_author_token(engine, gate_world))
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=PAGES["dataset_version"]).click()
            _settle(page, PAGES["dataset_version"])
            expect(page.get_by_role("heading", name="street@v3")).to_be_visible()
            reason = page.get_by_text("You may not approve street@v3: four-eyes")
            expect(reason).to_be_visible()
            expect(page.get_by_role("button", name="Sign and approve")).to_have_count(0)
            reason.scroll_into_view_if_needed()  # the picture shows the approval section
            page.wait_for_timeout(500)
            page.screenshot(path=str(SHOTS / "excluded_author-dataset_version.png"), full_page=True)
            made.append("excluded_author-dataset_version.png")
            context.close()
        finally:
            browser.close()
    assert {f"{r}-overview.png" for r in ROLES} <= set(made)
    for name in made:
        assert (SHOTS / name).stat().st_size > 5_000, name
