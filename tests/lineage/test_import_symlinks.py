"""YOLO and VOC imports read only files inside the import folder: a symbolic link (to a file or a folder)
that leads outside is refused as bad input naming the link, and nothing is written; a link that stays
inside is followed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from lineage.context import Actor
from lineage.formats import ImportInvalid, import_annotations
from lineage.models import Annotation, AuditEvent
from tests.factories import World
from tests.lineage.conftest import quick_schema, quick_version
from tests.lineage.test_lineage_formats import CLASSES, SIZES, write_voc, write_yolo

# Refused sources never reach the database, so SQLite is enough.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# Stands in for /etc/passwd: a readable file outside the import folder, shaped like a YOLO label so
# that following the link would import it.
SECRET = "0 0.5 0.5 0.1 0.1\n"


@pytest.fixture
def target(session: Session, world: World, ml: Actor) -> Any:
    sv = quick_schema(session, project_id=world.project.id or 0, name="s", classes=CLASSES, user_id=ml.user_id)
    return quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "passwd").write_text(SECRET)
    return folder


def _written(session: Session) -> tuple[int, int]:
    annotations = session.exec(select(func.count()).select_from(Annotation)).one()
    events = session.exec(select(func.count()).select_from(AuditEvent)).one()
    return int(annotations), int(events)


def _refused(session: Session, ml: Actor, target: Any, fmt: str, root: Path, link: Path) -> None:
    before = _written(session)
    with pytest.raises(ImportInvalid) as exc:
        import_annotations(session, actor=ml, version=target[1], fmt=fmt, path=root)
    assert exc.value.status_code == 422
    assert exc.value.field == str(link), exc.value.field
    assert "outside the import folder" in exc.value.message
    assert SECRET.strip() not in str(exc.value)
    assert _written(session) == before


@pytest.mark.parametrize("case", ["label_file", "label_folder", "data_yaml", "labels_dir"])
def test_yolo_link_outside_is_refused(
    session: Session, ml: Actor, target: Any, tmp_path: Path, outside: Path, case: str
) -> None:
    root = tmp_path / "yolo"
    write_yolo(root)
    if case == "label_file":
        link = root / "labels" / "b.txt"
        link.unlink()
        link.symlink_to(outside / "passwd")
    elif case == "label_folder":
        (outside / "b.txt").write_text(SECRET)
        (root / "labels" / "b.txt").unlink()
        link = root / "labels" / "more"
        link.symlink_to(outside, target_is_directory=True)
    elif case == "data_yaml":
        (outside / "data.yaml").write_text((root / "data.yaml").read_text())
        link = root / "data.yaml"
        link.unlink()
        link.symlink_to(outside / "data.yaml")
    else:
        shutil.move(root / "labels", outside / "labels")
        link = root / "labels"
        link.symlink_to(outside / "labels", target_is_directory=True)
    _refused(session, ml, target, "yolo", root, link)


@pytest.mark.parametrize("case", ["xml_file", "xml_folder"])
def test_voc_link_outside_is_refused(
    session: Session, ml: Actor, target: Any, tmp_path: Path, outside: Path, case: str
) -> None:
    root = tmp_path / "voc"
    write_voc(root)
    if case == "xml_file":
        link = root / "Annotations" / "b.xml"
        link.unlink()
        link.symlink_to(outside / "passwd")
    else:
        (root / "Annotations" / "b.xml").rename(outside / "b.xml")
        link = root / "Annotations" / "more"
        link.symlink_to(outside, target_is_directory=True)
    _refused(session, ml, target, "voc", root, link)


def test_yolo_links_inside_the_folder_are_followed(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    yolo = tmp_path / "yolo"
    write_yolo(yolo)
    (yolo / "spare").mkdir()
    (yolo / "labels" / "b.txt").rename(yolo / "spare" / "b.txt")
    (yolo / "labels" / "b.txt").symlink_to(Path("..") / "spare" / "b.txt")
    (yolo / "labels" / "loop").symlink_to(Path("."), target_is_directory=True)  # inside, and a loop
    result = import_annotations(session, actor=ml, version=target[1], fmt="yolo", path=yolo)
    assert (result.annotations, result.images) == (3, 3)


def test_voc_links_inside_the_folder_are_followed(session: Session, ml: Actor, target: Any, tmp_path: Path) -> None:
    voc = tmp_path / "voc"
    write_voc(voc)
    (voc / "extra").mkdir()
    (voc / "Annotations" / "b.xml").rename(voc / "extra" / "b.xml")
    (voc / "Annotations" / "b").symlink_to(Path("..") / "extra", target_is_directory=True)
    result = import_annotations(session, actor=ml, version=target[1], fmt="voc", path=voc)
    assert (result.annotations, result.images) == (3, 3)
