"""A real Label Studio server for the live tests and the pull benchmark: ``label-studio start`` from its own
virtualenv (``scripts/install-labelstudio.sh``) on a free port, SQLite in a folder of its own, stopped
(its whole process group) when the block ends.

Accounts are made the way Label Studio's own pages make them: the admin is created at start-up
(``LABEL_STUDIO_USERNAME``/``PASSWORD``), every other person signs up through the organisation's invite
link (``GET /api/invite`` -> ``/user/signup/?token=...``). Each logs in and creates their own personal
access token (``POST /api/token/``, a JWT refresh token: legacy tokens are off for new organisations);
the SDK turns it into short-lived access tokens itself (``POST /api/token/refresh/``). So each person's
annotations are ``completed_by`` them.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
#: the virtualenv scripts/install-labelstudio.sh made (``LABELSTUDIO_VENV``, as for the script)
VENV = Path(os.environ.get("LABELSTUDIO_VENV") or ROOT / ".labelstudio-venv").resolve()
LOCK = ROOT / "scripts" / "labelstudio.lock"
START_TIMEOUT_S = 180.0
ADMIN_EMAIL = "admin@labelstudio.test"
ADMIN_PASSWORD = "admin-password-1"

__all__ = ["ADMIN_EMAIL", "LOCK", "VENV", "LabelStudioServer", "LsUser", "NotStarted", "installed", "running"]


class NotStarted(RuntimeError):
    """The server could not be started (the message says why, with its log's tail)."""


def installed() -> str | None:
    """Why the server cannot run here (``None`` when the venv holds this lock's install)."""
    stamp = VENV / f".installed-{hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]}"
    if not (VENV / "bin" / "label-studio").exists():
        return f"Label Studio is not installed in {VENV}: run `bash scripts/install-labelstudio.sh`"
    if not stamp.exists():
        return f"{VENV} does not hold {LOCK.name}'s install ({stamp.name} missing): run scripts/install-labelstudio.sh"
    return None


@dataclass(frozen=True)
class LsUser:
    """A Label Studio account: its id, email, password and personal access token (a JWT refresh token)."""

    id: int
    email: str
    password: str
    token: str


@dataclass
class LabelStudioServer:
    url: str
    log: Path
    admin: LsUser
    users: dict[str, LsUser] = field(default_factory=dict)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def client(self, user: LsUser | None = None) -> Any:
        """An SDK client acting as ``user`` (default: the admin)."""
        from label_studio_sdk.client import LabelStudio

        return LabelStudio(base_url=self.url, api_key=(user or self.admin).token, timeout=120)

    def http(self, user: LsUser | None = None) -> httpx.Client:
        """A plain HTTP client acting as ``user`` with a fresh access token (for calls the SDK lacks)."""
        access = httpx.post(f"{self.url}/api/token/refresh/", json={"refresh": (user or self.admin).token})
        access.raise_for_status()
        headers = {"Authorization": f"Bearer {access.json()['access']}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def user(self, email: str, password: str = "annotator-password-1") -> LsUser:
        """A person who signed up through the organisation's invite link (once per email)."""
        if email not in self.users:
            with self.http() as admin:
                invite = admin.get("/api/invite")
                invite.raise_for_status()
                token = invite.json()["token"]
            self.users[email] = _account(self.url, email, password, signup=f"/user/signup/?token={token}")
        return self.users[email]


def _account(url: str, email: str, password: str, *, signup: str | None = None) -> LsUser:
    """Log in (or sign up) through the server's own form, then create the account's personal access token."""
    path = signup or "/user/login/"
    with httpx.Client(base_url=url, timeout=60) as web:
        web.get(path).raise_for_status()
        form = {"email": email, "password": password, "csrfmiddlewaretoken": web.cookies["csrftoken"]}
        answer = web.post(path, data=form, headers={"Referer": url + path})
        if answer.status_code != 302:
            raise NotStarted(f"Label Studio refused {'signup' if signup else 'login'} of {email}: {answer.status_code}")
        csrf = {"X-CSRFToken": web.cookies["csrftoken"], "Referer": url + "/"}
        made = web.post("/api/token/", headers=csrf)
        if made.status_code != 201:
            raise NotStarted(f"Label Studio made no access token for {email}: {made.status_code} {made.text[:300]}")
        me = web.get("/api/current-user/whoami")
        me.raise_for_status()
        return LsUser(id=int(me.json()["id"]), email=email, password=password, token=made.json()["token"])


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_", "LABELGATE_"))}
    env |= {
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": ADMIN_EMAIL,
        "LABEL_STUDIO_PASSWORD": ADMIN_PASSWORD,
        # offline: no version check against PyPI, no analytics
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        # webhooks go to a labelgate server on 127.0.0.1, which Label Studio's SSRF guard refuses by default
        "USE_DEFAULT_BANNED_SUBNETS": "false",
        "WEBHOOK_TIMEOUT": "30",
        "PYTHONUNBUFFERED": "1",
    }
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


@contextmanager
def running(data_dir: Path, *, timeout_s: float = START_TIMEOUT_S) -> Iterator[LabelStudioServer]:
    """Label Studio on SQLite in ``data_dir`` until the block ends; :class:`NotStarted` (with the log's tail)
    when it is not installed, exits, or does not answer ``/health`` within ``timeout_s``."""
    why = installed()
    if why is not None:
        raise NotStarted(why)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    port = free_port()
    cmd = [str(VENV / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=data_dir, env=_environment(data_dir), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise NotStarted(
                    f"label-studio exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise NotStarted(
                    f"label-studio not ready after {timeout_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.5)
        admin = _account(url, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield LabelStudioServer(url=url, log=log, admin=admin)
    finally:
        _stop(proc)
