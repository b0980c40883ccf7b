"""The dashboard's scale variant: every page, in Chromium, on a workspace built by ``bench/scale_workspace.py``
(a version of N images with ~10 boxes each, a golden set labelled by three annotators, a model run, a policy).

By default the workspace is small (built here in seconds) and the test checks that every page renders
without an exception for an admin and for the compliance officer. With ``LABELGATE_SCALE_WORKSPACE`` naming
a workspace the generator built (``--out`` of ``bench/scale_workspace.py``, e.g. 100k images / 1M labels),
the same walk runs on it; either way each page's time, from the click in the navigation to the page settled
(its heading shown, no script running), goes to ``artifacts/dashboard-scale.json`` for
``bench/bench_dashboard.py`` to report. The figures are measured, never asserted here.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlmodel import Session

from dashboard.access import PAGES
from lineage import identity
from lineage.db import make_engine
from lineage.models import User
from tests.bench import load_bench
from tests.dashboard.test_browser import (
    CHROMIUM,
    LAUNCH_ARGS,
    ROOT,
    UI_TIMEOUT_MS,
    _require_browser,
    api_and_dashboard,
    served_env,
)

pytestmark = pytest.mark.slow

RESULTS = ROOT / "artifacts" / "dashboard-scale.json"
SHOTS = ROOT / "artifacts" / "screenshots"
VISITS = int(os.environ.get("LABELGATE_SCALE_VISITS", "2"))  # visits of each page (the median is reported)


def _generator() -> ModuleType:
    return load_bench("scale_workspace")


@pytest.fixture(scope="module")
def scale_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _require_browser()
    named = os.environ.get("LABELGATE_SCALE_WORKSPACE")
    gen = _generator()
    if named:
        return dict(gen.load_state(Path(named)))
    out = tmp_path_factory.mktemp("scale") / "ws"
    spec = gen.ScaleSpec(images=300, labels_per_image=10, classes=10, golden=60, seed=5)
    return dict(gen.build_scale_workspace(out, db="sqlite", spec=spec, say=lambda _: None))


def _tokens(state: dict[str, Any]) -> dict[str, str]:
    """API tokens for the workspace's admin and compliance officer (issued here, on its database)."""
    engine = make_engine(state["database_url"])
    try:
        with Session(engine) as s:
            tokens = {}
            for role, user_id in (("admin", state["admin_id"]), ("compliance_officer", state["users"]["officer"])):
                user = s.get(User, user_id)
                assert user is not None
                tokens[role] = identity.issue_token(s, actor=None, user=user, name=f"browser-scale-{role}").token
            s.commit()
    finally:
        engine.dispose()
    return tokens


@pytest.fixture(scope="module")
def scale_servers(scale_state: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = served_env(Path(scale_state["workspace"]), scale_state["database_url"])
    with api_and_dashboard(env, tmp_path_factory.mktemp("scale-logs")) as (_, ui_url, ui_log):
        yield {"ui": ui_url, "tokens": _tokens(scale_state), "ui_log": ui_log}


#: A page has settled when no script has run for this long (Streamlit's app element says whether its script
#: is running, and a page's script may run again as its widgets fill in).
QUIET_S = 2.0


def _settled(page: Any, title: str) -> float:
    """Wait until the page titled ``title`` has settled (its heading shown, then no script running for
    ``QUIET_S``); the monotonic time it last ran (or showed its heading, when nothing was seen running)."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    busy = page.locator('[data-testid="stApp"][data-test-script-state="running"]')
    last = time.monotonic()
    deadline = last + UI_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        now = time.monotonic()
        if busy.count() > 0:
            last = now
        elif now - last >= QUIET_S:
            expect(page.get_by_test_id("stException")).to_have_count(0)
            return last
        page.wait_for_timeout(50)
    raise AssertionError(f"{title}: still running after {UI_TIMEOUT_MS / 1000:.0f} s")


def _pick(page: Any, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_every_page_renders_on_the_scale_workspace(scale_state: dict[str, Any], scale_servers: dict[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    timings: dict[str, dict[str, list[float]]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            for role, token in scale_servers["tokens"].items():
                page = browser.new_context(viewport={"width": 1440, "height": 1600}).new_page()
                page.set_default_timeout(UI_TIMEOUT_MS)
                page.goto(scale_servers["ui"])
                box = page.get_by_label("API token", exact=True)
                box.wait_for()
                box.fill(token)
                page.get_by_role("button", name="Sign in").click()
                _settled(page, PAGES["overview"])
                nav = page.get_by_test_id("stSidebarNav")
                titles = [t.strip() for t in nav.get_by_role("link").all_inner_texts()]
                offered = [pid for pid, title in PAGES.items() if any(title in t for t in titles)]
                assert set(offered) >= {"overview", "audit_trail", "dataset_version", "lineage"}, titles
                for visit in range(VISITS):
                    for pid in offered:
                        start = time.monotonic()
                        nav.get_by_role("link", name=PAGES[pid]).click()
                        timings.setdefault(role, {}).setdefault(pid, []).append(_settled(page, PAGES[pid]) - start)
                        if pid == "dataset_version":  # the version's page itself: its gates, plots, items
                            start = time.monotonic()
                            _pick(page, "Dataset", scale_state["dataset"])
                            ref = f"{scale_state['dataset']}@{scale_state['version']}"
                            expect(page.get_by_role("heading", name=ref)).to_be_visible()
                            timings[role].setdefault(ref, []).append(_settled(page, PAGES[pid]) - start)
                        if visit == 0:
                            page.screenshot(path=str(SHOTS / f"scale-{role}-{pid}.png"), full_page=True)
                page.context.close()
        finally:
            browser.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "workspace": scale_state["workspace"],
                "db": scale_state["db"],
                "counts": scale_state["counts"],
                "visits": VISITS,
                "seconds": timings,
                "median_s": {r: {p: statistics.median(v) for p, v in t.items()} for r, t in timings.items()},
            },
            indent=1,
        )
    )
    log = scale_servers["ui_log"].read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert all(len(v) == VISITS for t in timings.values() for v in t.values()), timings
    assert all(f"{scale_state['dataset']}@{scale_state['version']}" in t for t in timings.values()), timings
