"""A Label Studio export through the real CLI on a real workspace (git + DVC): each label under its own
author (mapped by email, or by a user map), a second import of the same export writing nothing, an edited
export superseding only what changed, an unmapped author refused by name with nothing written, and the
ground truth seeding a golden set. The same export uploaded through the API gives the same record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from lineage.db import make_engine
from service.settings import get_settings
from tests.lineage.test_formats_cli_shapes import db_counts, version_with
from tests.lineage.test_labelstudio_reader import ann, rect, task
from tests.lineage.test_lineage_cli import cli_ws, ok, run

__all__ = ["cli_ws"]

IMAGES = {"a.png": (1000, 500), "b.png": (1000, 500), "c.png": (1000, 500)}  # the size Label Studio saw


def person(uid: int, email: str) -> dict[str, Any]:
    return {"id": uid, "email": email, "first_name": "", "last_name": ""}


def export(*, moved: bool = False) -> list[dict[str, Any]]:
    """Three tasks: alice (id 7) on a and b, bob (id 9) on a (his annotation of a is ground truth), a
    prediction of model yolo-street@3 on c."""
    alice, bob = person(7, "alice@example.com"), person(9, "BOB@example.com")
    x = 30.0 if moved else 10.0
    return [
        task(
            1,
            "/data/upload/3/1a2b3c4d-a.png",
            annotations=[
                ann(
                    11,
                    [rect("r1", x, 10, 20, 20, "car")],
                    completed_by=alice,
                    updated_at="2026-11-30T12:00:00Z" if moved else "2026-11-30T10:05:00Z",
                ),
                ann(
                    12,
                    [rect("r2", 12, 10, 20, 20, "car"), rect("r3", 50, 50, 10, 10, "dog")],
                    completed_by=bob,
                    ground_truth=True,
                    lead_time=30.0,
                ),
            ],
        ),
        task(
            2,
            "/data/upload/3/5e6f7a8b-b.png",
            annotations=[ann(13, [rect("r4", 0, 0, 50, 50, "dog")], completed_by=alice, lead_time=8.0)],
        ),
        task(
            3,
            "c.png",
            predictions=[
                {
                    "id": 5,
                    "model_version": "yolo-street@3",
                    "score": 0.81,
                    "result": [rect("p1", 5, 5, 10, 10, "car", score=0.9)],
                }
            ],
        ),
    ]


def labels() -> list[tuple[Any, ...]]:
    """The live labels: (annotator, kind, class, x, supersedes another)."""
    engine = make_engine(get_settings().database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT u.username, a.kind, a.category, a.x, a.supersedes_id IS NOT NULL FROM annotations a"
                    " LEFT JOIN users u ON u.id = a.annotator_id WHERE a.geometry_type != 'deleted'"
                    " AND NOT EXISTS (SELECT 1 FROM annotations n WHERE n.supersedes_id = a.id) ORDER BY a.id"
                )
            )
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def setup(tmp_path: Path) -> None:
    version_with(tmp_path, [{"name": "car"}, {"name": "dog"}], IMAGES)
    ok("user", "create", "alice", "--name", "Alice", "--email", "alice@example.com")
    ok("user", "create", "bob", "--name", "Bob")
    for who in ("alice", "bob"):
        ok("project", "add-member", "demo", who, "annotator")


def test_a_label_studio_export_through_the_cli(cli_ws: Path, tmp_path: Path) -> None:
    setup(tmp_path)
    source = tmp_path / "export.json"
    source.write_text(json.dumps(export()))
    before = db_counts()
    code, out = run("import", "pets@v1", source, "--format", "labelstudio")
    # bob has no email on the record: refused by name, nothing written
    assert code == 2 and "9 <BOB@example.com>" in out and "Traceback" not in out, out
    assert db_counts() == before
    users = tmp_path / "users.csv"
    users.write_text("tool_user,labelgate_user\n9,bob\n")
    out = ok("import", "pets@v1", source, "--format", "labelstudio", "--users", users)
    assert "4 unit(s) added" in out and "5 label(s) written" in out and "7 -> alice" in out and "9 -> bob" in out
    assert sorted(labels(), key=str) == sorted(
        [("alice", "human", "car", 100.0, False), ("bob", "human", "car", 120.0, False),
         ("bob", "human", "dog", 500.0, False), ("alice", "human", "dog", 0.0, False),
         (None, "import", "car", 50.0, False)], key=str
    )  # fmt: skip
    again = ok("import", "pets@v1", source, "--format", "labelstudio", "--users", users)
    assert "nothing new" in again and "4 already on the record" in again
    # alice moved her box in Label Studio: only that label is superseded.
    source.write_text(json.dumps(export(moved=True)))
    out = ok("import", "pets@v1", source, "--format", "labelstudio", "--users", users)
    assert "1 updated" in out and "3 already on the record" in out
    live = labels()
    assert ("alice", "human", "car", 300.0, True) in live and ("alice", "human", "car", 100.0, False) not in live
    assert len(live) == 5 and db_counts()[0] == 6  # the old row stays, superseded
    # bob's ground truth seeds a golden set.
    out = ok("golden", "seed", "street-gt", "--from", "pets@v1")
    assert "golden set street-gt@1" in out and "(1 items, 2 labels)" in out, out
    assert "street-gt@1" in ok("golden", "list")
    assert "ok" in ok("audit", "verify", "--deep").lower()


def test_a_cvat_file_needs_its_annotators(cli_ws: Path, tmp_path: Path) -> None:
    setup(tmp_path)
    xml = tmp_path / "annotations.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version>'
        "<meta><task><id>5</id><name>street</name><size>3</size><mode>annotation</mode>"
        "<created>2026-11-01 09:00:00.000000+00:00</created><updated>2026-11-02 09:00:00.000000+00:00</updated>"
        "<labels><label><name>car</name><attributes></attributes></label></labels></task></meta>"
        '<image id="0" name="a.png" width="1000" height="500">'
        '<box label="car" source="manual" occluded="0" xtl="10" ytl="10" xbr="50" ybr="40" z_order="0"/>'
        "</image></annotations>"
    )
    before = db_counts()
    code, out = run("import", "pets@v1", xml, "--format", "cvat")
    assert code == 2 and "--annotator" in out and "Traceback" not in out, out
    assert db_counts() == before
    out = ok("import", "pets@v1", xml, "--format", "cvat", "--annotator", "alice")
    assert "1 label(s) written" in out and "alice" in out
    assert labels() == [("alice", "human", "car", 10.0, False)]
    exported = tmp_path / "out.xml"
    assert "exported 1 annotations on 3 images" in ok("export", "pets@v1", exported, "--format", "cvat")
    assert 'label="car"' in exported.read_text()
