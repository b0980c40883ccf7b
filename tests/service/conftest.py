from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from service.api.app import create_app
from service.settings import Settings
from tests.factories import World, make_world


@pytest.fixture
def world(engine: Engine) -> World:
    with Session(engine, expire_on_commit=False) as s:
        return make_world(s)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c
