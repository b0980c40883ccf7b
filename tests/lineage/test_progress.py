"""Long work reports its progress (``lineage.progress``): an import's phases with its label count, an
export's, a gate evaluation's, each ``done`` never going back and never passing ``total``; nobody listening
costs nothing and changes nothing; the CLI shows it on stderr when asked (``LABELGATE_PROGRESS=1``) and
stays as quiet as before otherwise."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from lineage import progress
from lineage.context import Actor
from lineage.formats import export_version, import_annotations
from lineage.progress import Update
from service.cli.main import app
from service.cli.progress_lines import ProgressLines
from service.settings import get_settings
from tests.factories import World
from tests.lineage.conftest import make_images, quick_schema, quick_version
from tests.lineage.test_lineage_formats import CLASSES, SIZES, coco_doc
from tests.service.test_cli_messages import coco, ok


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> Any:
    """A version of three items under a schema of three classes (``test_lineage_formats``' own)."""
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=CLASSES, user_id=ml.user_id)
    return quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)


def _heard(fn: Any) -> tuple[Any, list[Update]]:
    heard: list[Update] = []
    with progress.listening(heard.append, interval=0.0):
        out = fn()
    return out, heard


def _phases(heard: list[Update]) -> list[str]:
    return list(dict.fromkeys(u.name for u in heard))


def _check_counts(heard: list[Update]) -> None:
    for name in _phases(heard):
        done = [u.done for u in heard if u.name == name]
        assert done == sorted(done), (name, done)
        totals = {u.total for u in heard if u.name == name}
        assert len(totals) == 1, (name, totals)
        (total,) = totals
        assert total is None or max(done) <= total, (name, done, total)


def test_an_import_reports_reading_then_writing_every_label(
    session: Session,
    ml: Actor,
    target: Any,
    tmp_path: Path,
) -> None:
    _, v = target
    src = tmp_path / "in.json"
    src.write_text(json.dumps(coco_doc()))
    result, heard = _heard(lambda: import_annotations(session, actor=ml, version=v, fmt="coco", path=src, batch_size=2))
    assert _phases(heard) == ["read and check the labels", "write labels"]
    _check_counts(heard)
    writes = [u for u in heard if u.name == "write labels"]
    assert writes[0].done == 0 and writes[0].total == result.annotations == 3
    assert writes[-1].ended and writes[-1].done == 3
    assert [u.done for u in writes if not u.ended] == [0, 2, 3]  # one step per batch (interval 0)


def test_an_export_reports_its_phases(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    ds, v = target
    src = tmp_path / "in.json"
    src.write_text(json.dumps(coco_doc()))
    import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    result, heard = _heard(lambda: export_version(session, dataset=ds, version=v, fmt="yolo", out=tmp_path / "y"))
    assert _phases(heard) == ["read the labels", "write yolo"]
    _check_counts(heard)
    assert heard[-1].ended and heard[-1].done == heard[-1].total == result.images == 3


def test_nobody_listening_hears_nothing_and_the_work_is_the_same(
    session: Session,
    ml: Actor,
    target: Any,
    tmp_path: Path,
) -> None:
    _, v = target
    src = tmp_path / "in.json"
    src.write_text(json.dumps(coco_doc()))
    with progress.phase("outside", total=1) as p:
        p.advance()  # no listener: a no-op, not an error
    result = import_annotations(session, actor=ml, version=v, fmt="coco", path=src)
    assert result.annotations == 3


def test_a_failed_phase_reports_no_end() -> None:
    heard: list[Update] = []
    with (
        progress.listening(heard.append, interval=0.0),
        pytest.raises(RuntimeError),
        progress.phase("doomed", total=2) as p,
    ):
        p.advance()
        raise RuntimeError("stop")
    assert [(u.done, u.ended) for u in heard] == [(0, False), (1, False)]


def test_the_lines_name_the_phase_and_the_share() -> None:
    stream = io.StringIO()
    lines = ProgressLines(stream, quiet_for=0.0)
    lines(Update("write labels", 0, 1_000_000))
    lines(Update("write labels", 250_000, 1_000_000))
    lines(Update("write labels", 1_000_000, 1_000_000, ended=True))
    lines(Update("coco evaluation", 0, None))
    assert stream.getvalue().splitlines() == [
        "  write labels  0/1,000,000 (0%)",
        "  write labels  250,000/1,000,000 (25%)",
        "  write labels  1,000,000/1,000,000 (100%)  done",
        "  coco evaluation  …",
    ]


@pytest.fixture
def pets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A CLI workspace with pets@v1: one 40x30 image, schema animals@1 (cat, dog)."""
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    ok("init")
    ok("project", "create", "demo")
    (tmp_path / "classes.yaml").write_text("- name: cat\n- name: dog\n")
    ok("schema", "create", "animals", "--classes", tmp_path / "classes.yaml")
    ok("dataset", "create", "pets")
    ok("dataset", "version", "pets@v1", "--from-dir", make_images(tmp_path / "imgs", {"a.png": (40, 30)}))
    yield "pets@v1"
    get_settings.cache_clear()


def test_the_cli_shows_progress_on_stderr_when_asked(
    pets: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(coco(["cat"], [1, 2, 3, 4])))
    monkeypatch.setenv("LABELGATE_PROGRESS", "1")
    shown = CliRunner().invoke(app, ["import", pets, str(source)])
    assert shown.exit_code == 0, shown.output
    assert "  write labels  1/1 (100%)  done" in shown.stderr, shown.stderr
    monkeypatch.setenv("LABELGATE_PROGRESS", "0")
    again = CliRunner().invoke(app, ["export", pets, str(tmp_path / "out.json"), "--format", "coco"])
    assert again.exit_code == 0, again.output
    assert "write coco" not in again.stderr and "write coco" not in again.output


def test_a_new_version_shows_its_phases(pets: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = make_images(tmp_path / "imgs2", {"a.png": (40, 30), "b.png": (20, 10)}, shade=9)
    monkeypatch.setenv("LABELGATE_PROGRESS", "1")
    shown = CliRunner().invoke(app, ["dataset", "version", "pets@v2", "--from-dir", str(images)])
    assert shown.exit_code == 0, shown.output
    lines = shown.stderr.splitlines()
    assert "  read the images  2  done" in lines, lines
    assert "  store new images in the DVC cache  2/2 (100%)  done" in lines, lines
    assert any(line.startswith("  push to the DVC remote") for line in lines), lines
