"""Calibrations and run thresholds as append-only rows, on SQLite and PostgreSQL.

- A calibration applied to a run leaves one row in each table; the triggers refuse changes, and a
  database writer who drops them and edits, deletes or inserts a row is named by deep verify.
- Revision 0005 moves the calibration and thresholds events of a database made by an earlier release
  (``tests/fixtures/workspace-rev0003.sql.gz``) into rows that read back as those events said, keep their
  ids, and verify; it refuses to downgrade once rows exist only in the tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, exc, text
from sqlmodel import Session, col, select

from inference.calibrate import calibrate, calibration_evidence, get_calibration
from inference.runs import run_thresholds
from lineage.audit.deep import DeepReport, deep_verify
from lineage.audit.verify import verify_database
from lineage.models import AuditEvent, AutoLabelRun, Calibration, RunThresholds, User
from service.migrate import alembic_config, upgrade_database
from tests.inference.conftest import Env
from tests.tamper import tamper, tamper_unchecked
from tests.test_upgrade_in_place import _copy_into_postgres, _restore_sqlite


def _applied(env: Env) -> tuple[int, int]:
    """(calibration id, run thresholds id) of a calibration applied to a queued run."""
    run_id = env.queue(threshold=0.5)
    out = calibrate(
        env.engine,
        actor=env.ml,
        project_id=env.project_id,
        model=env.model_ref,
        golden=env.shapes.golden_set,
        repo_dir=env.settings.repo_dir,
        device="cpu",
        target_error=0.15,
        level=0.9,
        apply_to_run=run_id,
    )
    with Session(env.engine) as s:
        setting = s.exec(select(RunThresholds).where(RunThresholds.autolabel_run_id == run_id)).one()
    return out.calibration_id, setting.id or 0


def _problems(engine: Engine) -> set[tuple[str, str, int | None]]:
    with Session(engine) as s:
        report: DeepReport = deep_verify(s)
    return {(p.table, p.kind, p.row_id) for p in report.problems}


@pytest.mark.parametrize("table", ["calibrations", "run_thresholds"])
def test_the_tables_are_append_only(env: Env, table: str) -> None:
    _applied(env)
    for sql in (f"UPDATE {table} SET created_by = NULL", f"DELETE FROM {table}"):
        with pytest.raises(exc.DBAPIError, match="append-only"), env.engine.begin() as conn:
            conn.execute(text(sql))


def test_edits_deletions_and_insertions_are_named_by_deep_verify(env: Env) -> None:
    cal, setting = _applied(env)
    assert _problems(env.engine) == set()

    # Loosen a threshold the run will use, and the bound a calibration claims.
    tamper(env.engine, "UPDATE run_thresholds SET per_class = '{\"circle\": 0.0}' WHERE id = :i", i=setting)
    assert _problems(env.engine) == {("run_thresholds", "edited", setting)}
    tamper(env.engine, "UPDATE calibrations SET target_error = 0.5 WHERE id = :i", i=cal)
    assert ("calibrations", "edited", cal) in _problems(env.engine)

    with Session(env.engine) as s:
        run_id = s.exec(select(AutoLabelRun.id)).first()
    tamper(
        env.engine,
        "INSERT INTO run_thresholds (id, autolabel_run_id, per_class, created_at, audit_seq)"
        " VALUES (:i, :r, '{\"circle\": 0.0}', '2026-01-01 00:00:00.000000', 1)",
        i=setting + 100,
        r=run_id,
    )
    assert ("run_thresholds", "inserted", setting + 100) in _problems(env.engine)

    tamper(env.engine, "DELETE FROM run_thresholds WHERE id = :i", i=setting)
    tamper_unchecked(env.engine, "DELETE FROM calibrations WHERE id = :i", i=cal)
    assert {("run_thresholds", "deleted", setting), ("calibrations", "deleted", cal)} <= _problems(env.engine)


def test_downgrade_refuses_to_drop_rows_that_live_only_in_the_tables(env: Env, db_url: str) -> None:
    cal, _ = _applied(env)
    # Revision 0008 refuses first: the tiny model was registered with stored weights.
    with pytest.raises(RuntimeError, match=r"1 model version.* recorded after revision 0008"):
        command.downgrade(alembic_config(db_url), "0004")
    tamper(env.engine, "UPDATE model_versions SET weights_rev = NULL")  # as if registered before 0008
    with pytest.raises(RuntimeError, match="recorded after revision 0005"):
        command.downgrade(alembic_config(db_url), "0004")
    with Session(env.engine) as s:
        assert s.get(Calibration, cal) is not None


def test_migration_moves_the_events_into_rows_that_read_as_they_said(db_url: str, tmp_path: Path) -> None:
    url = _restore_sqlite(tmp_path / "old.db")
    if db_url.startswith("postgresql"):
        _copy_into_postgres(url, db_url)
        url = db_url
    upgrade_database(url, "0004")
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            legacy = {
                e.action: e
                for e in s.exec(
                    select(AuditEvent).where(
                        col(AuditEvent.action).in_(["calibration.record", "autolabel_run.thresholds"])
                    )
                )
            }
        cal_event, thr_event = legacy["calibration.record"], legacy["autolabel_run.thresholds"]
        upgrade_database(url)
        with Session(engine) as s:
            row = get_calibration(s, project_id=cal_event.project_id or 0, calibration_id=cal_event.seq)
            assert row.audit_seq == cal_event.seq and row.model_version_id == int(cal_event.object_id)
            assert calibration_evidence(s, row) == json.loads(bytes(cal_event.canonical))["payload"]
            mia = s.exec(select(User).where(User.username == cal_event.actor)).one()
            assert row.created_by == mia.id and row.created_at == cal_event.ts
            setting = s.exec(select(RunThresholds)).one()
            assert (setting.id, setting.audit_seq, setting.autolabel_run_id) == (
                thr_event.seq,
                thr_event.seq,
                int(thr_event.object_id),
            )
            assert (setting.calibration_id, setting.strategy) == (cal_event.seq, "tbal")
            run = s.get(AutoLabelRun, setting.autolabel_run_id)
            assert run is not None and run_thresholds(s, run).per_class == thr_event.payload["per_class"]
            # The events are as they were; one more event records the moved rows (and revision 0008's one the
            # model versions registered before it).
            seals = s.exec(
                select(AuditEvent).where(AuditEvent.action == "record.seal_legacy").order_by(col(AuditEvent.seq))
            ).all()
            assert [e.actor for e in seals[-2:]] == ["labelgate migrate"] * 2
            moved, models = ({(r["table"], r["id"]) for r in e.payload["legacy_records"]} for e in seals[-2:])
            assert moved == {("calibrations", cal_event.seq), ("run_thresholds", thr_event.seq)}
            assert models and {table for table, _ in models} == {"model_versions"}
            assert verify_database(s).ok and deep_verify(s).ok
            # A calibration written now takes the next id (PostgreSQL's sequence moved past the moved ids).
            fields = row.model_dump(exclude={"id", "created_at"})
            new = Calibration(**fields)
            s.add(new)
            s.flush()
            assert (new.id or 0) > cal_event.seq
            s.rollback()
        # Only moved rows: down to 0004 and up again gives the same rows, and they still verify.
        command.downgrade(alembic_config(url), "0004")
        upgrade_database(url)
        with Session(engine) as s:
            assert s.exec(select(Calibration.id)).all() == [cal_event.seq]
            assert deep_verify(s).ok
    finally:
        engine.dispose()
