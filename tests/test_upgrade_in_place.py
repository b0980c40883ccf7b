"""A workspace database made by the previous release upgrades in place and its record still verifies.

``tests/fixtures/workspace-rev0003.sql.gz`` is the SQLite database of ``labelgate demo --no-serve --images
10`` run by the release at commit e4732fc (schema revision 0003), dumped with ``sqlite3.iterdump``
(``scripts/make-upgrade-fixture.sh`` rebuilds it). On PostgreSQL its rows are copied, as written, into a
database at revision 0003. Then ``labelgate migrate`` upgrades to this release's head, and the chain
(every column), the deep check of every recorded row and a new import all pass.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import MetaData, create_engine, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from lineage.audit.deep import deep_verify
from lineage.audit.verify import verify_database
from lineage.db import make_engine
from lineage.formats import import_annotations
from lineage.models import Dataset, DatasetVersion, Item, LabelImport, User, VersionState
from service.cli.main import app
from service.migrate import alembic_config, current_revision, head_revision
from service.settings import get_settings
from tests.factories import actor_for

FIXTURE = Path(__file__).parent / "fixtures" / "workspace-rev0003.sql.gz"
OLD_REVISION = "0003"


def _restore_sqlite(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(gzip.decompress(FIXTURE.read_bytes()).decode())
    finally:
        conn.close()
    return f"sqlite:///{path}"


def _copy_into_postgres(old_url: str, pg_url: str) -> None:
    """The old rows, as written, into a PostgreSQL database at the old revision (triggers off while
    copying: they forbid nothing an INSERT does, but ``session_replication_role`` keeps FK order moot)."""
    cfg = alembic_config(pg_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, OLD_REVISION)
    # Through labelgate's engines: JSON columns are read as values and written back canonically, as the
    # old release wrote them (the audit verifier compares those bytes).
    source, target = make_engine(old_url), make_engine(pg_url)
    try:
        old_meta, meta = MetaData(), MetaData()
        old_meta.reflect(source)
        meta.reflect(target)
        with source.connect() as src, target.begin() as dst:
            dst.execute(text("SET session_replication_role = replica"))
            for table in meta.sorted_tables:
                if table.name == "alembic_version":
                    continue
                rows = [dict(r._mapping) for r in src.execute(old_meta.tables[table.name].select())]
                if rows:
                    dst.execute(table.insert(), rows)
                if "id" in table.c and rows:
                    dst.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :n)"),
                        {"n": max(r["id"] for r in rows)},
                    )
            dst.execute(text("SET session_replication_role = DEFAULT"))
    finally:
        source.dispose()
        target.dispose()


def test_a_previous_release_database_upgrades_in_place_and_verifies(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_url = _restore_sqlite(tmp_path / "old.db")
    url = old_url
    if db_url.startswith("postgresql"):
        _copy_into_postgres(old_url, db_url)
        url = db_url
    assert current_revision(url) == OLD_REVISION

    monkeypatch.setenv("LABELGATE_DATABASE_URL", url)
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(tmp_path / "ws"))
    get_settings.cache_clear()
    try:
        # Until migrated, commands refuse to half-read the old schema and say what to run.
        early = CliRunner().invoke(app, ["audit", "log"])
        assert early.exit_code == 2 and f"revision {OLD_REVISION}" in early.output
        assert "run `labelgate migrate`" in early.output
        result = CliRunner().invoke(app, ["migrate"])
        assert result.exit_code == 0, result.output
        assert f"from revision {OLD_REVISION} to {head_revision()}" in result.output
        again = CliRunner().invoke(app, ["migrate"])
        assert again.exit_code == 0 and "nothing to do" in again.output
    finally:
        get_settings.cache_clear()
    assert current_revision(url) == head_revision()

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            verified = verify_database(session)
            assert verified.ok, verified
            assert verified.events >= 100
            deep = deep_verify(session)
            assert deep.ok, deep.problems
            assert deep.rows.get("annotations", 0) > 1000
        # The upgraded record takes new writes, and they verify with the old ones.
        with Session(engine) as session:
            draft = session.exec(select(DatasetVersion).where(DatasetVersion.state == VersionState.draft)).first()
            assert draft is not None, "the demo leaves a draft version"
            dataset = session.get(Dataset, draft.dataset_id)
            item = session.exec(select(Item).where(Item.dataset_version_id == draft.id)).first()
            ml = (
                session.exec(select(User).where(User.username == "mia")).first()
                or session.exec(select(User).where(User.is_admin)).first()
            )
            assert dataset is not None and item is not None and ml is not None
            doc = {
                "images": [{"id": 7, "file_name": item.uri, "width": item.width, "height": item.height}],
                "categories": [{"id": 1, "name": _a_class(session, draft)}],
                "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1]}],
            }
            result = import_annotations(
                session,
                actor=actor_for(ml),
                version=draft,
                fmt="coco",
                data=json.dumps(doc).encode(),
                source_name="after-upgrade.json",
            )
            session.commit()
            assert result.status == "imported"
            assert session.exec(select(LabelImport)).one().annotations == 1
        with Session(engine) as session:
            assert verify_database(session).ok
            assert deep_verify(session).ok
    finally:
        engine.dispose()


def _a_class(session: Session, version: DatasetVersion) -> str:
    from lineage.models import LabelSchemaVersion

    sv = session.get(LabelSchemaVersion, version.schema_version_id)
    assert sv is not None
    return str(sv.classes[0]["name"])
