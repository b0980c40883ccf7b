"""The load benchmark (``bench/bench_load.py``) at a tiny size on PostgreSQL: a real uvicorn with two workers,
five clients for five seconds mixing audit, lineage and evaluation reads with imports, reviews and gate
checks. No 5xx, the chain verifies deep, and every write the clients were answered 2xx for is on the record
exactly once; the account itself catches a lost write and an event a refused request left. No timings.
Without PostgreSQL: what the load run found, a request that waited past the pool's timeout answered 500."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.bench import load_bench


def _bench() -> ModuleType:
    return load_bench("bench_load")


bench = _bench()
SPEC = bench.LoadSpec(clients=5, seconds=5.0, images=120, labels_per_image=2, golden=30, history=20, seed=1)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, pg_available: bool) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """The workspace seeded, served and loaded once; its schema dropped at the end."""
    if not pg_available:
        pytest.skip("PostgreSQL unreachable (set LABELGATE_TEST_PG_URL)")
    out = tmp_path_factory.mktemp("load") / "ws"
    seeded = bench.build_load_workspace(out, SPEC, pg_url=bench.PG_URL, say=lambda _: None)
    try:
        run = bench.serve_and_load(seeded, SPEC, workers=2, say=lambda _: None)
        yield seeded, run, bench.report(seeded, SPEC, run)
    finally:
        bench.drop_load_workspace(out, pg_url=bench.PG_URL)


@pytest.mark.postgres
def test_no_server_error_and_every_kind_was_sent(loaded: tuple[Any, Any, dict[str, Any]]) -> None:
    _, run, result = loaded
    assert result["server_errors"] == 0, (result["server_error_causes"], result["server_log"]["exceptions"])
    assert result["transport_errors"] == {}
    assert result["server_log"]["tracebacks"] == 0
    answered = {s.kind for s in run.samples if 200 <= s.status < 300}
    assert {"import", "review", "audit_page"} <= answered, result["kinds"]
    assert any(s.kind == "evaluate" and s.status == 201 for s in run.samples + run.warmup)


@pytest.mark.postgres
def test_the_chain_verifies_deep(loaded: tuple[Any, Any, dict[str, Any]]) -> None:
    _, _, result = loaded
    verify = result["verify"]
    assert verify["ok"], verify
    assert verify["problems"] == []
    assert verify["rows_checked"]["annotations"] > 0


@pytest.mark.postgres
def test_every_write_is_on_the_record_exactly_once(loaded: tuple[Any, Any, dict[str, Any]]) -> None:
    _, _, result = loaded
    account = result["account"]
    assert account["problems"] == []
    assert account["writes_checked"] > 0 and set(account["verdicts"]) == {"ok"}
    assert account["events_by_action"].get("annotation.import", 0) >= 1
    assert account["events_by_action"].get("annotation.review", 0) >= 1
    assert account["events_by_action"].get("gate.evaluate", 0) >= 1


@pytest.mark.postgres
def test_the_account_names_a_lost_write(loaded: tuple[Any, Any, dict[str, Any]]) -> None:
    """A review the client was answered 201 for whose comment is on no row: the account calls it lost."""
    seeded, run, _ = loaded
    done = next(s for s in run.samples if s.kind == "review" and s.status == 201)
    ghost = replace(done, marker="never-written", request_id=None)
    account = bench.account_writes(
        seeded.database_url, [*run.samples, *run.warmup, ghost], events_before=seeded.events_before,
        boxes=SPEC.boxes_per_import,
    )  # fmt: skip
    assert account["verdicts"].get("lost") == 1
    assert any("never-written" in p and "on the record 0 times" in p for p in account["problems"])


@pytest.mark.postgres
def test_the_account_names_an_event_of_a_refused_request(loaded: tuple[Any, Any, dict[str, Any]]) -> None:
    """An import answered 201, told to the account as a 409: its events are flagged and its row doubled."""
    seeded, run, _ = loaded
    samples = [
        replace(s, status=409) if s.kind == "import" and s.status == 201 else s for s in [*run.samples, *run.warmup]
    ]
    account = bench.account_writes(
        seeded.database_url, samples, events_before=seeded.events_before, boxes=SPEC.boxes_per_import
    )
    assert any("events of requests answered 4xx/5xx" in p for p in account["problems"])
    assert account["verdicts"].get("doubled", 0) >= 1


def test_exceptions_logged_names_what_a_500_was() -> None:
    """Each request's chain of tracebacks counts once, by the exception it ends with."""
    chained = (
        "Traceback (most recent call last):\n  File a.py, line 3\n"
        'psycopg.errors.SyntaxError: syntax error at or near "INSERT"\n\n'
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n  File b.py, line 9\n"
        "sqlalchemy.exc.ProgrammingError: (psycopg.errors.SyntaxError) at line 12\n"
    )
    log = f"INFO: POST /x 500\n{chained}INFO: POST /y 500\n{chained.replace('12', '40')}INFO: GET /z 200\n"
    assert bench.exceptions_logged(log) == {
        "sqlalchemy.exc.ProgrammingError: (psycopg.errors.SyntaxError) at line #": 2
    }
    assert bench.exceptions_logged("INFO: all well\n") == {}


def test_a_request_queues_for_a_busy_pool_then_is_answered_503(tmp_path: Path, sqlite_template: Path) -> None:
    """What the load run found (a 500 ``QueuePool limit ... timed out`` per request that waited longer than the
    pool's timeout): a request now waits for a connection up to ``CONNECTION_WAITS`` pool timeouts, so one
    freed meanwhile serves it, and is answered 503 ``ServiceBusy`` (nothing done) when none came free."""
    import shutil
    import threading

    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine
    from sqlalchemy.pool import QueuePool

    from service.api.app import create_app
    from service.api.deps import CONNECTION_WAITS
    from service.settings import Settings

    shutil.copy(sqlite_template, tmp_path / "labelgate.db")
    url = f"sqlite:///{tmp_path / 'labelgate.db'}"
    engine = create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=1.0,
                           connect_args={"check_same_thread": False})  # fmt: skip
    app = create_app(Settings(workspace=tmp_path / "ws", database_url=url, env="test"), engine=engine)
    headers = {"Authorization": "Bearer lg_unknown_token"}
    try:
        with TestClient(app) as client:
            held = engine.connect()  # the pool's only connection
            freed = threading.Timer(1.5, held.close)  # after one pool timeout, well before CONNECTION_WAITS
            freed.start()
            served = client.get("/api/v1/me", headers=headers)
            freed.join()
            assert served.status_code == 401  # it got the connection and read the (unknown) token
            with engine.connect():
                busy = client.get("/api/v1/me", headers=headers)
            assert busy.status_code == 503
            assert busy.json()["error"]["type"] == "ServiceBusy"
            assert f"in {CONNECTION_WAITS * 1.0:g} s" in busy.json()["error"]["message"]
    finally:
        engine.dispose()
