"""Fixtures: a migrated database per test on SQLite and on PostgreSQL, an API client, factories.

PostgreSQL tests get their own schema (search_path), so they are isolated and fast. When PostgreSQL is
unreachable they skip locally but FAIL under CI=true: a green CI must have run them.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

from lineage.db import make_engine
from service.migrate import upgrade_database
from service.settings import Settings

_SQLITE_TEMPLATE: dict[str, Path] = {}


def _base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test copies it (migrating per test would dominate the run)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


def _pg_admin_url() -> str:
    return _base_settings().test_pg_url


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        eng = create_engine(_pg_admin_url())
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception as exc:
        if _base_settings().ci:
            pytest.fail(f"CI=true and PostgreSQL is unreachable at {_pg_admin_url()}: {exc}")
        return False


@contextmanager
def fresh_database(kind: str, folder: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database URL of ``kind``: a copy of the SQLite template in ``folder``, or a fresh
    PostgreSQL schema (dropped when the block ends)."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "labelgate.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in _pg_admin_url() else "?"
    url = f"{_pg_admin_url()}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade_database(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL (SQLite file, or a fresh PostgreSQL schema)."""
    if request.param == "postgresql" and not request.getfixturevalue("pg_available"):
        pytest.skip("PostgreSQL unreachable (set LABELGATE_TEST_PG_URL)")
    template = request.getfixturevalue("sqlite_template") if request.param == "sqlite" else Path()
    with fresh_database(request.param, tmp_path, template) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(workspace=tmp_path / "ws", database_url=db_url, env="test")
