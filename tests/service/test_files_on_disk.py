"""Files and secrets on disk: `labelgate init` keeps the workspace to its owner whatever the umask, and an
API error names a file relative to the workspace, never by the server's absolute path."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import World, actor_for
from tests.lineage.conftest import quick_version


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: modes must come from labelgate, not from the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_init_keeps_the_workspace_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None) -> None:
    # DVC reads its site cache folder from the environment once per process; let this workspace set it.
    monkeypatch.delenv("DVC_SITE_CACHE_DIR", raising=False)
    settings = Settings(workspace=tmp_path / "ws", env="test")
    init_workspace(settings)
    ws = settings.workspace
    assert settings.signing_key_path is not None
    assert _mode(ws) == 0o700
    assert _mode(ws / "labelgate.db") == 0o600
    for companion in ("labelgate.db-wal", "labelgate.db-shm", "labelgate.db-journal"):
        if (ws / companion).exists():
            assert _mode(ws / companion) == 0o600, companion
    assert _mode(settings.signing_key_path.parent) == 0o700
    assert _mode(settings.signing_key_path) == 0o600
    assert _mode(ws / ".dvc-site-cache") == 0o700

    # A workspace made before this fix is tightened by the next init.
    (ws / "labelgate.db").chmod(0o644)
    ws.chmod(0o755)
    settings.signing_key_path.chmod(0o644)
    init_workspace(settings)
    assert (_mode(ws), _mode(ws / "labelgate.db"), _mode(settings.signing_key_path)) == (0o700, 0o600, 0o600)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_api_errors_name_no_server_path(
    client: TestClient, world: World, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    init_workspace(settings)
    with Session(engine) as s:
        quick_version(
            s, actor=actor_for(world.users["ml_engineer"]), project_id=world.project.id or 0, items={"a.png": (40, 30)}
        )
        s.commit()
    incoming = settings.workspace / "incoming"
    (incoming / "y" / "labels").mkdir(parents=True)
    (incoming / "y" / "data.yaml").write_text("names: [cat]\n")
    (incoming / "y" / "labels" / "a.txt").write_text("0 0.5 0.5 0.1\n")
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (incoming / "v" / "Annotations").mkdir(parents=True)
    (incoming / "v" / "Annotations" / "a.xml").symlink_to(secret)

    url = f"/api/v1/projects/{world.project.id}/datasets/pets/versions/v1/imports"
    ml = world.headers("ml_engineer")
    expected = {"y": "<workspace>/incoming/y/labels/a.txt:1", "v": "<workspace>/incoming/v/Annotations/a.xml"}
    for folder, fmt in (("y", "yolo"), ("v", "voc")):
        r = client.post(url, data={"format": fmt, "path": folder}, headers=ml)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == expected[folder]
        for server_path in (str(settings.workspace), str(tmp_path), "/tmp/"):
            assert server_path not in r.text, r.text
        assert "root:x" not in r.text
