"""The live Label Studio server (``tests.labelstudio.server``), one per test session: started on a free port
on SQLite in a temporary folder, stopped with its whole process group afterwards.

When it cannot be installed or started the tests that need it skip, naming why (run
``scripts/install-labelstudio.sh``), and FAIL under CI=true: a green CI must have run them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.settings import Settings
from tests.labelstudio.server import LabelStudioServer, NotStarted, running


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A running Label Studio 1.23 server with its admin's access token."""
    try:
        with running(tmp_path_factory.mktemp("labelstudio")) as server:
            yield server
    except NotStarted as exc:
        if Settings().ci:
            pytest.fail(f"CI=true and Label Studio could not be started: {exc}")
        pytest.skip(f"Label Studio could not be started: {exc}")
