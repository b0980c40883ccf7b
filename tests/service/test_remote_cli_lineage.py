"""One verb, three doors: the lineage commands (schema, dataset, import, export, lineage) and the admin ones
(user, token, project) print the same and exit the same whether they run on the workspace's database or
through a real server (``--server``: uvicorn in a subprocess, the API over HTTP), on SQLite and PostgreSQL.

Two workspaces are built the same way (same users, projects, tokens' owners, a version ``pets@v1`` made
from the same images), so their rows get the same ids. One is driven by the local CLI, the other through
the server whose workspace it is; every command must exit with the same code and print the same, and both
records must end with the same audit trail. The remote CLI is given a database that does not exist: it
must never read one.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from lineage.db import make_engine
from lineage.models import Annotation, ApiToken, AuditEvent
from service.cli.main import app
from service.migrate import upgrade_database
from service.settings import Settings, get_settings
from service.workspace import init_workspace
from tests.factories import World, make_world
from tests.lineage.conftest import make_images
from tests.live_server import serving

ROOT = Path(__file__).resolve().parents[2]
P = ("--project", "alpha")

# Git revisions name commits, which hold their time: the same change committed in two workspaces gets two
# revisions (`dataset list` ends its rows with one). Date-times differ between the two runs too. Nothing else is
# normalised.
_REVISION = re.compile(r"\b[0-9a-f]{40}\b|(?<=git )[0-9a-f]{12}\b|(?<=  )[0-9a-f]{12}$", re.M)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


def normalised(text_: str) -> str:
    return _DATETIME.sub("<time>", _REVISION.sub("<rev>", text_))


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


@dataclass
class Door:
    """A workspace and how the CLI reaches it: on its own database, or through ``server`` (then the CLI is
    given a database that does not exist). Commands run in ``cwd`` (relative output paths land there)."""

    settings: Settings
    world: World
    cwd: Path
    server: str | None = None

    def run(self, *args: str | Path, who: str | None = "ml_engineer", token: str | None = None) -> Run:
        """``labelgate ARGS`` as ``who``'s token (``None``: no token, the operator) or the given ``token``."""
        workspace, database = str(self.settings.workspace), self.settings.database_url
        if self.server is not None:
            workspace = str(self.cwd / "no-workspace")
            database = f"sqlite:///{workspace}/none.db"
        env: dict[str, str | None] = {
            "LABELGATE_WORKSPACE": workspace,
            "LABELGATE_DATABASE_URL": database,
            "LABELGATE_ENV": "test",
            "LABELGATE_SERVER": None,
            "LABELGATE_TOKEN": token if token is not None or who is None else self.world.tokens[who],
        }
        argv = [*(["--server", self.server] if self.server else []), *(str(a) for a in args)]
        get_settings.cache_clear()
        with contextlib.chdir(self.cwd):
            result = CliRunner().invoke(app, argv, env=env)
        get_settings.cache_clear()
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert "Traceback" not in result.output, result.output
        return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def served_db_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second migrated, empty database of the kind ``db_url`` is, for the served workspace."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "served.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin_url = Settings().test_pg_url
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{admin_url}{'&' if '?' in admin_url else '?'}options=-csearch_path%3D{schema}"
    try:
        upgrade_database(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _workspace(db_url: str, folder: Path, images: Path) -> Door:
    """A workspace with ``make_world``'s users and projects, and ``pets@v1`` of ``images`` in ``alpha``
    (made by the operator: a version from a local folder is the one thing a server cannot be sent)."""
    settings = Settings(workspace=folder / "ws", database_url=db_url, env="test")
    init_workspace(settings)
    engine = make_engine(db_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            world = make_world(s)
    finally:
        engine.dispose()
    (folder / "cwd").mkdir()
    door = Door(settings, world, folder / "cwd")
    assert door.run("dataset", "create", "pets", *P, who=None).code == 0
    made = door.run("dataset", "version", "pets@v1", "--from-dir", images, *P, who=None)
    assert made.code == 0, made
    return door


@pytest.fixture
def doors(db_url: str, served_db_url: str, tmp_path: Path) -> Iterator[tuple[Door, Door]]:
    """The local door and the served one, on two workspaces built the same way."""
    images = make_images(tmp_path / "images", {"a.png": (40, 30), "b.png": (20, 10)})
    here = _workspace(db_url, tmp_path / "local", images)
    there = _workspace(served_db_url, tmp_path / "served", images)
    with serving(there.settings.workspace, there.settings.database_url, tmp_path / "api.log") as served:
        url = served.url
        there.server = url
        yield here, there


def _audit(settings: Settings) -> list[tuple[str, str]]:
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s:
            return [(e.actor, e.action) for e in s.exec(select(AuditEvent).order_by(col(AuditEvent.seq)))]
    finally:
        engine.dispose()


def _newest_annotation(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s:
            found = s.exec(select(Annotation.id).order_by(col(Annotation.id).desc())).first()
            assert found is not None
            return found
    finally:
        engine.dispose()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def both(
    doors: tuple[Door, Door],
    *args: str | Path,
    code: int = 0,
    who: str | None = "ml_engineer",
    token: str | None = None,
) -> Run:
    """Run the command at both doors (as ``who``, or with ``token``): both exit ``code`` and print the same
    on stdout and on stderr; the local run is returned."""
    here, there = (door.run(*args, who=who, token=token) for door in doors)
    assert here.code == code, f"local: exit {here.code}, expected {code}\n{here.stdout}{here.stderr}"
    assert there.code == code, f"remote: exit {there.code}, expected {code}\n{there.stdout}{there.stderr}"
    assert normalised(there.stdout) == normalised(here.stdout)
    assert normalised(there.stderr) == normalised(here.stderr)
    return here


def test_the_lineage_commands_print_the_same_locally_and_through_a_server(
    doors: tuple[Door, Door], tmp_path: Path
) -> None:
    (tmp_path / "animals.yaml").write_text("- name: cat\n- name: dog\n  description: a dog\n")
    (tmp_path / "animals2.json").write_text(json.dumps([{"name": "cat"}, {"name": "hound", "description": "a dog"}]))
    labels = tmp_path / "labels.json"
    labels.write_text(
        json.dumps(
            {
                "images": [
                    {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
                    {"id": 2, "file_name": "b.png", "width": 20, "height": 10},
                ],
                "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
                    {"id": 2, "image_id": 2, "category_id": 2, "bbox": [2, 1, 5, 5]},
                ],
            }
        )
    )
    created = both(doors, "schema", "create", "animals", "--classes", tmp_path / "animals.yaml", *P)
    assert created.stdout.startswith("schema animals v1  hash ")
    published = both(doors, "schema", "publish", "animals", "--classes", tmp_path / "animals2.json", *P)
    assert "renamed   dog -> hound" in published.stdout
    both(doors, "schema", "diff", "animals", "--from", "1", "--to", "2", *P)
    diff = json.loads(both(doors, "schema", "diff", "animals", "--from", "1", "--to", "2", "--json", *P).stdout)
    assert diff["renamed"] == [{"from": "dog", "to": "hound"}]
    assert "created dataset birds (id " in both(doors, "dataset", "create", "birds", "--description", "b", *P).stdout
    version = both(doors, "dataset", "version", "pets@v2", "--parent", "v1", "--schema", "animals@1", *P)
    assert version.stdout.startswith("pets@v2: 2 items  git ")

    imported = both(doors, "import", "pets@v2", labels, *P)
    assert imported.stdout.startswith("imported 2 import annotations on 2 images into pets@v2 (coco, source sha256")
    assert both(doors, "import", "pets@v2", labels, *P).stdout.startswith("already imported: pets@v2 holds")
    again = both(doors, "import", "pets@v2", labels, "--annotator", "annotator_user", "--reimport", *P)
    assert "imported 2 human annotations" in again.stdout and "re-import #1" in again.stdout

    exported = both(doors, "export", "pets@v2", "coco/labels.json", *P)
    assert exported.stdout == "exported 4 annotations on 2 images of pets@v2 to coco/labels.json\n"
    both(doors, "export", "pets@v2", "yolo", "-f", "yolo", *P)
    both(doors, "export", "pets@v2", "voc", "--format", "voc", *P)
    here, there = doors
    assert _files(there.cwd / "coco") == _files(here.cwd / "coco")
    assert _files(there.cwd / "voc") == _files(here.cwd / "voc") != {}
    for door in doors:  # a YOLO export names its own folder in data.yaml, absolute
        spec = (door.cwd / "yolo" / "data.yaml").read_text()
        assert f"path: {(door.cwd / 'yolo').resolve()}\n" in spec and (door.cwd / "yolo" / "images").is_dir()
    yolo = [{k: v for k, v in _files(d.cwd / "yolo").items() if k != "data.yaml"} for d in doors]
    assert yolo[0] == yolo[1] and yolo[0]["labels/a.txt"].count(b"\n") == 2

    assert both(doors, "dataset", "state", "pets@v2", "candidate", *P).stdout.startswith("pets@v2 is now candidate")
    listed = both(doors, "dataset", "list", *P).stdout
    assert listed.startswith("DATASET ") and re.search(r"^birds +-$", listed, re.M), listed
    assert re.search(r"^pets +v2 +candidate ", listed, re.M), listed
    lineage = both(doors, "lineage", "version", "pets@v2", *P).stdout
    assert "SCHEMA CHANGED vs parent" in lineage and "human annotator_user: 2 (50.0%)" in lineage
    assert json.loads(both(doors, "lineage", "version", "pets@v2", "--json", *P).stdout)["labels"] == 4
    newest = _newest_annotation(here.settings)
    assert newest == _newest_annotation(there.settings)
    assert "dataset versions containing it:" in both(doors, "lineage", "annotation", str(newest), *P).stdout
    chain = json.loads(both(doors, "lineage", "annotation", str(newest), "--json", *P).stdout)
    assert chain["history"][-1]["provenance"]["annotator"] == "annotator_user"

    # the same refusals, with the same exit codes and messages
    assert "no version 'v9'" in both(doors, "import", "pets@v9", labels, *P, code=2).stderr
    assert "no version 'v9'" in both(doors, "lineage", "version", "pets@v9", *P, code=2).stderr
    assert "already exists" in both(doors, "dataset", "create", "birds", *P, code=1).stderr
    assert "release flow" in both(doors, "dataset", "state", "pets@v2", "released", *P, code=2).stderr
    refused = both(doors, "dataset", "create", "fish", *P, code=1, who="annotator")
    assert refused.stderr.startswith("refused: ") and "ml_engineer" in refused.stderr
    assert "invalid token" in both(doors, "dataset", "list", *P, code=2, token="lg_not-a-token").stderr
    # annotators do not see golden datasets, at either door
    assert both(doors, "dataset", "create", "gold", "--golden", *P).code == 0
    assert "gold" not in both(doors, "dataset", "list", *P, who="annotator").stdout

    assert _audit(there.settings) == _audit(here.settings)  # the same verbs, by the same users


def test_what_only_the_workspaces_machine_can_do_is_refused_remotely(doors: tuple[Door, Door], tmp_path: Path) -> None:
    _, there = doors
    images = tmp_path / "images"
    cases = [
        ("dataset", "version", "pets@v2", "--from-dir", images, *P),
        ("export", "pets@v1", "out", "--images", *P),
        ("import", "pets@v1", images, "--format", "yolo", *P),
        ("import", "pets@v1", tmp_path / "labels.json", "--openlineage-console", *P),
    ]
    for args in cases:
        run = there.run(*args)
        assert run.code == 2 and run.stderr.startswith("error: ") and "--server" in run.stderr, (args, run)
    assert there.run("dataset", "list", *P).stdout.count("  v") == 1  # nothing was written


def _newest_token(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as s:
            found = s.exec(select(ApiToken.id).order_by(col(ApiToken.id).desc())).first()
            assert found is not None
            return found
    finally:
        engine.dispose()


def test_the_admin_commands_print_the_same_locally_and_through_a_server(doors: tuple[Door, Door]) -> None:
    assert both(doors, "project", "create", "gamma", "--description", "g", who="admin").stdout.startswith(
        "created project gamma (id "
    )
    assert "created user dora (id " in both(doors, "user", "create", "dora", "--name", "Dora D", who="admin").stdout
    assert both(doors, "project", "add-member", "gamma", "dora", "reviewer", who="admin").stdout == (
        "dora is reviewer in gamma\n"
    )
    assert "no project named 'nope'" in both(doors, "project", "add-member", "nope", "dora", "reviewer", code=2).stderr
    for door in doors:  # a token and an enrolment code are shown once, and differ: their shape is the same
        issued = door.run("token", "issue", "dora", "--name", "ci", "--expires-days", "2", who="admin")
        assert issued.code == 0 and re.fullmatch(r"lg_[0-9a-f]{8}_\S+\n", issued.stdout), issued
        code = door.run("user", "enrol-code", "dora", "--valid-hours", "2", who="admin")
        assert code.code == 0 and re.fullmatch(r"lge_\S+\n", code.stdout), code
    token_id = _newest_token(doors[0].settings)
    assert token_id == _newest_token(doors[1].settings)
    for door in doors:  # a user's own name resolves; another's needs the admin role, as does an enrolment code
        own = door.run("token", "issue", "ml_engineer_user", "--expires-days", "1")
        assert own.code == 0 and own.stdout.startswith("lg_"), own
    assert both(doors, "token", "issue", "dora", code=1).stderr == "refused: this action needs the admin role\n"
    assert "needs the admin role" in both(doors, "user", "enrol-code", "dora", code=1).stderr
    assert "no user named 'zed'" in both(doors, "token", "issue", "zed", code=2, who="admin").stderr
    # only an admin revokes another user's token; to anyone else it does not exist
    assert f"no token {token_id} for user " in both(doors, "token", "revoke", str(token_id), code=2).stderr
    assert both(doors, "token", "revoke", str(token_id), who="admin").stdout == f"revoked token {token_id}\n"
    assert "no token 999" in both(doors, "token", "revoke", "999", code=2, who="admin").stderr
    assert _audit(doors[1].settings) == _audit(doors[0].settings)


def test_class_tables_go_through_a_server_as_they_do_locally(doors: tuple[Door, Door], tmp_path: Path) -> None:
    """A multi-label classification schema, a classes-csv import (uploaded remotely) and classes-csv/-json
    exports print the same and write the same files at both doors; a bad table exits 2 at both."""
    (tmp_path / "tags.json").write_text(
        json.dumps({"classes": [{"name": "cat", "geometry": "tag"}, {"name": "indoor", "geometry": "tag"}],
                    "multi_label": True})
    )  # fmt: skip
    (tmp_path / "tags.csv").write_text("item,class\na.png,cat\na.png,indoor\nb.png,indoor\n")
    for door in doors:  # relative, so the server's redaction of its own folders cannot touch the name
        (door.cwd / "bad.csv").write_text("item,class\na.png,cat\nb.png,dog\n")
    both(doors, "schema", "create", "tags", "--classes", tmp_path / "tags.json", *P)
    both(doors, "dataset", "version", "pets@v2", "--parent", "v1", "--schema", "tags@1", *P)
    imported = both(doors, "import", "pets@v2", tmp_path / "tags.csv", "-f", "classes-csv", *P)
    assert imported.stdout.startswith("imported 3 import annotations on 2 images into pets@v2 (classes-csv")
    refused = both(doors, "import", "pets@v2", "bad.csv", "-f", "classes-csv", *P, code=2)
    assert refused.stderr.startswith("error: bad.csv: line 3: class 'dog' is not in the schema")
    for fmt, name in (("classes-csv", "csv"), ("classes-json", "json")):
        exported = both(doors, "export", "pets@v2", name, "-f", fmt, *P)
        assert exported.stdout == f"exported 3 annotations on 2 images of pets@v2 to {name}/labels.{name}\n"
    here, there = doors
    for name in ("csv", "json"):
        assert _files(there.cwd / name) == _files(here.cwd / name) != {}
    assert _audit(there.settings) == _audit(here.settings)
