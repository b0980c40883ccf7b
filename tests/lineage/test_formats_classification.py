"""Classification labels (classes-csv, classes-json, classes-folder): tag rows as the Issue 13 contract stores
them, single- and multi-label schemas, exact round trips, and hostile files refused naming the record (CSV
line, JSON key, path) with nothing written; hidden files and non-images in a class folder are skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from lineage.context import Actor
from lineage.formats import ImportInvalid, export_version, import_annotations
from lineage.formats.classes import export_classes
from lineage.formats.transfer import export_data
from lineage.models import Annotation, DatasetVersion
from tests.factories import World
from tests.lineage.conftest import quick_version
from tests.lineage.test_formats_keypoints import counts, make_schema, rows_of

SIZES = {"cat/1.jpg": (40, 30), "cat/2.jpg": (40, 30), "dog/3.jpg": (20, 10), "misc/4.png": (20, 10)}
TAGS = [{"name": n, "geometry": "tag"} for n in ("cat", "dog", "bird")]
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def version(session: Session, world: World, ml: Actor, *, multi: bool, name: str = "v1", **kw: Any) -> Any:
    sv = make_schema(session, world, ml, TAGS, multi_label=multi)
    return quick_version(
        session, actor=ml, project_id=world.project.id or 0, items=SIZES, version=name, schema_version_id=sv.id, **kw
    )


@pytest.fixture
def single(session: Session, world: World, ml: Actor) -> Any:
    return version(session, world, ml, multi=False)


@pytest.fixture
def multi(session: Session, world: World, ml: Actor) -> Any:
    return version(session, world, ml, multi=True, dataset="tags")


def fresh(session: Session, ml: Actor, ds: Any, v: DatasetVersion, name: str) -> DatasetVersion:
    _, v2 = quick_version(
        session,
        actor=ml,
        project_id=ds.project_id,
        items=SIZES,
        dataset=ds.name,
        version=name,
        schema_version_id=v.schema_version_id,
    )
    return v2


def tags(session: Session, v: DatasetVersion) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in rows_of(session, v)]


SINGLE_CSV = "item,class\ncat/1.jpg,cat\ncat/2.jpg,cat\ndog/3.jpg,dog\nmisc/4.png,bird\n"
MULTI_CSV = "item,class\ncat/1.jpg,cat\ncat/1.jpg,dog\ndog/3.jpg,dog\nmisc/4.png,bird\nmisc/4.png,cat\n"
MULTI_PAIRS = [
    ("cat/1.jpg", "cat"),
    ("cat/1.jpg", "dog"),
    ("dog/3.jpg", "dog"),
    ("misc/4.png", "bird"),
    ("misc/4.png", "cat"),
]


@sqlite_only
def test_csv_single_label_makes_one_tag_row_per_item(session: Session, ml: Actor, single: Any, tmp_path: Path) -> None:
    _, v = single
    src = tmp_path / "labels.csv"
    src.write_text(SINGLE_CSV)
    result = import_annotations(session, actor=ml, version=v, fmt="classes-csv", path=src)
    assert (result.annotations, result.images) == (4, 4)
    got = rows_of(session, v)
    assert [r[:2] for r in got] == [
        ("cat/1.jpg", "cat"),
        ("cat/2.jpg", "cat"),
        ("dog/3.jpg", "dog"),
        ("misc/4.png", "bird"),
    ]
    for r in got:  # (uri, category, geometry_type, x, y, w, h, geometry, attributes)
        assert r[2:] == ("tag", None, None, None, None, None, None)
    (a,) = session.exec(select(Annotation).where(Annotation.category == "bird")).all()
    assert a.source_format == "classescsv" and a.kind == "import" and a.confidence is None


@sqlite_only
@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("classes-csv", MULTI_CSV),
        (
            "classes-csv",
            "\ufeffclass,item\r\n\r\ncat,cat/1.jpg\r\ndog,cat/1.jpg\r\n\r\ndog,dog/3.jpg\r\nbird,misc/4.png\r\ncat,misc/4.png\r\n",
        ),
        (
            "classes-json",
            json.dumps({"cat/1.jpg": ["dog", "cat"], "dog/3.jpg": ["dog"], "misc/4.png": ["cat", "bird"]}),
        ),
        (
            "classes-json",
            json.dumps(
                {"cat/1.jpg": ["cat", "dog"], "dog/3.jpg": "dog", "misc/4.png": ["bird", "cat"], "cat/2.jpg": []}
            ),
        ),
    ],
)
def test_multi_label_rows(session: Session, ml: Actor, multi: Any, tmp_path: Path, fmt: str, text: str) -> None:
    _, v = multi
    src = tmp_path / ("labels.csv" if fmt == "classes-csv" else "labels.json")
    src.write_text(text, encoding="utf-8")
    import_annotations(session, actor=ml, version=v, fmt=fmt, path=src)
    assert tags(session, v) == MULTI_PAIRS


@sqlite_only
@pytest.mark.parametrize("fmt", ["classes-csv", "classes-json"])
@pytest.mark.parametrize("is_multi", [False, True])
def test_export_and_reimport_identically(
    session: Session, world: World, ml: Actor, tmp_path: Path, fmt: str, is_multi: bool
) -> None:
    ds, v = version(session, world, ml, multi=is_multi)
    src = tmp_path / "in.csv"
    src.write_text(MULTI_CSV if is_multi else SINGLE_CSV)
    import_annotations(session, actor=ml, version=v, fmt="classes-csv", path=src)
    out = tmp_path / "out"
    result = export_version(session, dataset=ds, version=v, fmt=fmt, out=out)
    assert result.annotations == len(rows_of(session, v))
    written = Path(result.path)
    if fmt == "classes-json":
        doc = json.loads(written.read_text())
        assert doc["cat/1.jpg"] == (["cat", "dog"] if is_multi else "cat")  # classes in schema order
    else:
        assert written.read_text().splitlines()[0] == "item,class"
    v2 = fresh(session, ml, ds, v, "v2")
    import_annotations(session, actor=ml, version=v2, fmt=fmt, path=written)
    assert rows_of(session, v2) == rows_of(session, v)


def folder(root: Path, paths: list[str]) -> Path:
    for rel in paths:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not read: " + rel.encode())
    return root


@sqlite_only
@pytest.mark.parametrize(
    "paths",
    [
        ["cat/1.jpg", "cat/2.jpg", "dog/3.jpg", "bird/4.png"],
        ["train/cat/1.jpg", "val/cat/2.jpg", "train/dog/3.jpg", "test/bird/4.png"],
    ],
)
def test_folder_layouts(session: Session, ml: Actor, single: Any, tmp_path: Path, paths: list[str]) -> None:
    """``root/<class>/<img>`` and ``root/<split>/<class>/<img>``; ``bird/4.png`` is the item ``misc/4.png`` by its
    file name (the only item of that name)."""
    _, v = single
    root = folder(tmp_path / "f", paths)
    result = import_annotations(session, actor=ml, version=v, fmt="classes-folder", path=root)
    assert result.annotations == 4
    assert tags(session, v) == [
        ("cat/1.jpg", "cat"),
        ("cat/2.jpg", "cat"),
        ("dog/3.jpg", "dog"),
        ("misc/4.png", "bird"),
    ]
    assert all(r[2:] == ("tag", None, None, None, None, None, None) for r in rows_of(session, v))


@sqlite_only
def test_folder_skips_hidden_files_and_non_images(session: Session, ml: Actor, single: Any, tmp_path: Path) -> None:
    _, v = single
    junk = [".DS_Store", "cat/.hidden.jpg", ".cache/cat/1.jpg", "cat/notes.txt", "README.md", "dog/3.jpg.json"]
    root = folder(tmp_path / "f", ["cat/1.jpg", "dog/3.jpg", *junk])
    assert import_annotations(session, actor=ml, version=v, fmt="classes-folder", path=root).annotations == 2
    assert tags(session, v) == [("cat/1.jpg", "cat"), ("dog/3.jpg", "dog")]


@sqlite_only
def test_folder_export_and_reimport(session: Session, ml: Actor, single: Any, tmp_path: Path) -> None:
    """The folder export writes each image under its class (read through ``image_bytes``); it re-imports."""
    ds, v = single
    src = tmp_path / "in.csv"
    src.write_text(SINGLE_CSV)
    import_annotations(session, actor=ml, version=v, fmt="classes-csv", path=src)
    out = tmp_path / "out"
    data = export_data(session, dataset=ds, version=v)
    _, n = export_classes(data, "classes-folder", out, image_bytes=lambda uri: uri.encode())
    assert n == 4
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["bird/4.png", "cat/1.jpg", "cat/2.jpg", "dog/3.jpg"]
    assert (out / "bird" / "4.png").read_bytes() == b"misc/4.png"
    v2 = fresh(session, ml, ds, v, "v2")
    import_annotations(session, actor=ml, version=v2, fmt="classes-folder", path=out)
    assert rows_of(session, v2) == rows_of(session, v)


@sqlite_only
def test_single_label_json_export_keeps_a_second_tag(session: Session, ml: Actor, single: Any, tmp_path: Path) -> None:
    """Two sources tagging one item differently (two annotators): the JSON export loses neither."""
    ds, v = single
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("item,class\ncat/1.jpg,cat\n")
    second.write_text("item,class\ncat/1.jpg,dog\n")
    import_annotations(session, actor=ml, version=v, fmt="classes-csv", path=first)
    import_annotations(session, actor=ml, version=v, fmt="classes-csv", path=second)
    result = export_version(session, dataset=ds, version=v, fmt="classes-json", out=tmp_path / "o")
    assert json.loads(Path(result.path).read_text()) == {"cat/1.jpg": ["cat", "dog"]}


HOSTILE_CSV = [
    ("item,class\ncat/1.jpg,cat\n\ncat/1.jpg,cat\n", "line 4", "repeats line 2"),
    ("item,class\ncat/1.jpg,cow\n", "line 2", "class 'cow' is not in the schema"),
    ("item,class\ncat/1.jpg,cat\nnope/9.jpg,dog\n", "line 3", "'nope/9.jpg' is not in dataset version"),
    ("item,class\ncat/1.jpg,cat\ndog/3.jpg,dog\ncat/1.jpg,dog\n", "line 4", "second class (also line 2)"),
    ("\ufeffitem,class\n\n,cat\n", "line 3", "empty item"),
    ("item,class,score\ncat/1.jpg,cat,0.9\n", "", "scores are predictions"),
    ("item,label\ncat/1.jpg,cat\n", "line 1", "need the columns"),
    ("item,class\ncat/1.jpg,cat,extra\n", "line 2", "3 columns"),
    ("item,class\ncat/1.jpg,car\n", "line 2", "not in the schema"),  # a box class of another schema is no tag
    ("", "", "empty file"),
]


@sqlite_only
@pytest.mark.parametrize(("text", "record", "message"), HOSTILE_CSV)
def test_hostile_csv_is_refused_naming_the_line(
    session: Session, ml: Actor, single: Any, tmp_path: Path, text: str, record: str, message: str
) -> None:
    _, v = single
    src = tmp_path / "bad.csv"
    src.write_text(text, encoding="utf-8")
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="classes-csv", path=src)
    assert err.value.field == (f"{src}: {record}" if record else str(src)), err.value.field
    assert message in str(err.value), str(err.value)
    assert counts(session) == before


HOSTILE_JSON = [
    ('{"cat/1.jpg": 3}', '["cat/1.jpg"]', "expected a class name"),
    ('{"cat/1.jpg": ["cat", 7]}', '["cat/1.jpg"]', "class 7 is not a string"),
    ('{"cat/1.jpg": ["cat", null]}', '["cat/1.jpg"]', "class None is not a string"),
    ('{"cat/1.jpg": "cat", "dog/3.jpg": true}', '["dog/3.jpg"]', "expected a class name"),
    ('{"cat/1.jpg": "cat", "cat/1.jpg": "dog"}', '["cat/1.jpg"]', "appears twice"),
    ('{"cat/1.jpg": ["cat", "dog"]}', '["cat/1.jpg"]', "second class"),
    ('{"cat/1.jpg": []}', '["cat/1.jpg"]', "no class"),
    ('{"cat/1.jpg": "cow"}', '["cat/1.jpg"]', "'cow' is not in the schema"),
    ('{"nope.jpg": "cat"}', '["nope.jpg"]', "not in dataset version"),
    ('{"cat/1.jpg": {"cat": 0.9}}', "", "scores are predictions"),
    ('["cat/1.jpg", "cat"]', "", "expected a JSON object"),
    ('{"cat/1.jpg": "cat",\n "dog/3.jpg": }', "line 2", "not valid JSON"),
]


@sqlite_only
@pytest.mark.parametrize(("text", "record", "message"), HOSTILE_JSON)
def test_hostile_json_is_refused_naming_the_key(
    session: Session, ml: Actor, single: Any, tmp_path: Path, text: str, record: str, message: str
) -> None:
    _, v = single
    src = tmp_path / "bad.json"
    src.write_text(text, encoding="utf-8")
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="classes-json", path=src)
    assert err.value.field == (f"{src}: {record}" if record else str(src)), err.value.field
    assert message in str(err.value), str(err.value)
    assert counts(session) == before


HOSTILE_FOLDER = [
    (["cat/1.jpg", "2.jpg"], "2.jpg", "image at depth 1"),
    (["cat/1.jpg", "cat/sub/2.jpg"], "cat/sub/2.jpg", "image at depth 3"),
    (["train/cat/1.jpg", "train/2.jpg"], "train/2.jpg", "the layout is <split>/<class>/<image>"),
    (["cat/1.jpg", "cow/2.jpg"], "cow/2.jpg", "class 'cow' is not in the schema"),
    (["cat/1.jpg", "cat/9.jpg"], "cat/9.jpg", "not in dataset version"),
    (["cat/1.png"], "cat/1.png", "not in dataset version"),  # the item is cat/1.jpg: another file
    (["cat/1.jpg", "dog/1.jpg"], "dog/1.jpg", "same image as 'cat/1.jpg'"),
    (["train/cat/1.jpg", "val/cat/1.jpg"], "val/cat/1.jpg", "same image"),
]


@sqlite_only
@pytest.mark.parametrize(("paths", "record", "message"), HOSTILE_FOLDER)
def test_hostile_folder_is_refused_naming_the_path(
    session: Session, ml: Actor, single: Any, tmp_path: Path, paths: list[str], record: str, message: str
) -> None:
    _, v = single
    root = folder(tmp_path / "f", paths)
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="classes-folder", path=root)
    assert err.value.field == f"{root}: {record}", err.value.field
    assert message in str(err.value), str(err.value)
    assert counts(session) == before


@sqlite_only
def test_folder_into_multi_label_schema_is_refused(session: Session, ml: Actor, multi: Any, tmp_path: Path) -> None:
    _, v = multi
    root = folder(tmp_path / "f", ["cat/1.jpg"])
    before = counts(session)
    with pytest.raises(ImportInvalid, match="single-label data; the schema is multi-label"):
        import_annotations(session, actor=ml, version=v, fmt="classes-folder", path=root)
    assert counts(session) == before


@sqlite_only
def test_folder_link_outside_is_refused(session: Session, ml: Actor, single: Any, tmp_path: Path) -> None:
    _, v = single
    outside = folder(tmp_path / "elsewhere", ["dog/3.jpg"])
    root = folder(tmp_path / "f", ["cat/1.jpg"])
    (root / "dog").symlink_to(outside / "dog")
    before = counts(session)
    with pytest.raises(ImportInvalid) as err:
        import_annotations(session, actor=ml, version=v, fmt="classes-folder", path=root)
    assert err.value.field == str(root / "dog") and "outside the import folder" in str(err.value)
    assert counts(session) == before


@sqlite_only
def test_tags_need_a_tag_schema(session: Session, world: World, ml: Actor, tmp_path: Path) -> None:
    sv = make_schema(session, world, ml, [{"name": "cat"}])
    _, v = quick_version(session, actor=ml, project_id=world.project.id or 0, items=SIZES, schema_version_id=sv.id)
    src = tmp_path / "l.csv"
    src.write_text(SINGLE_CSV)
    before = counts(session)
    with pytest.raises(ImportInvalid, match="no tag classes"):
        import_annotations(session, actor=ml, version=v, fmt="classes-csv", path=src)
    assert counts(session) == before
