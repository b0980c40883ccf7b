"""A real labelgate server for tests that talk to one over HTTP (the remote CLI): uvicorn in a subprocess on
a workspace, its address once ``/health`` answers, stopped when the block ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Served", "free_port", "serving"]


class Served(NamedTuple):
    url: str
    log: Path
    proc: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    workspace: Path, database_url: str | None, log: Path, *, uvicorn_args: Sequence[str] = ()
) -> Iterator[Served]:
    """uvicorn serving the API on ``workspace`` (and ``database_url``, else the workspace's SQLite file) until
    the block ends, all it prints in ``log``. The server's environment names no server or token of the CLI's."""
    env = {k: v for k, v in os.environ.items() if k not in ("LABELGATE_SERVER", "LABELGATE_TOKEN")}
    env |= {"LABELGATE_WORKSPACE": str(workspace), "LABELGATE_ENV": "test", "PYTHONUNBUFFERED": "1"}
    env.pop("LABELGATE_DATABASE_URL", None)
    if database_url is not None:
        env["LABELGATE_DATABASE_URL"] = database_url
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *uvicorn_args]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"uvicorn exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn not ready after 60 s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield Served(url, log, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
