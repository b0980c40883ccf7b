"""The lineage commands end to end on a real SQLite workspace (git + DVC): schema, dataset, import,
export, lineage; bad input exits 2 naming the file and record, and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli.main import app
from service.settings import get_settings
from tests.lineage.conftest import make_images


@pytest.fixture
def cli_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    ws = tmp_path / "ws"
    monkeypatch.setenv("LABELGATE_WORKSPACE", str(ws))
    monkeypatch.delenv("LABELGATE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield ws
    get_settings.cache_clear()


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def ok(*args: str | Path) -> str:
    code, out = run(*args)
    assert code == 0, out
    return out


def test_lineage_cli_end_to_end(cli_ws: Path, tmp_path: Path) -> None:
    ok("init")
    ok("project", "create", "demo")
    (tmp_path / "c1.yaml").write_text("- name: cat\n- name: dog\n  description: a dog\n")
    (tmp_path / "c2.json").write_text(json.dumps([{"name": "cat"}, {"name": "hound", "description": "a dog"}]))
    assert "schema animals v1" in ok("schema", "create", "animals", "--classes", tmp_path / "c1.yaml")
    assert "renamed   dog -> hound" in ok("schema", "publish", "animals", "--classes", tmp_path / "c2.json")
    diff = json.loads(ok("schema", "diff", "animals", "--from", "1", "--to", "2", "--json"))
    assert diff["renamed"] == [{"from": "dog", "to": "hound"}] and diff["changed"] is True

    images = make_images(tmp_path / "imgs", {"a.png": (40, 30), "b.png": (20, 10)})
    ok("dataset", "create", "pets")
    assert "pets@v1: 2 items" in ok("dataset", "version", "pets@v1", "--from-dir", images, "--schema", "animals@1")
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 20, "height": 10},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}],
    }
    bad = {
        **coco,
        "annotations": [*coco["annotations"], {"id": 2, "image_id": 2, "category_id": 2, "bbox": [15, 0, 10, 5]}],
    }
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, out = run("import", "pets@v1", tmp_path / "bad.json")
    assert code == 2 and f"{tmp_path / 'bad.json'}: annotations[1] (id 2)" in out and "outside the image" in out, out
    (tmp_path / "good.json").write_text(json.dumps(coco))
    assert "imported 1 import annotations on 2 images into pets@v1" in ok("import", "pets@v1", tmp_path / "good.json")

    def imports() -> list[dict[str, Any]]:
        lines = (cli_ws / "openlineage" / "events.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        return [e for e in events if e["eventType"] == "COMPLETE" and ".import." in e["job"]["name"]]

    events = imports()
    assert len(events) == 1 and events[0]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 1
    again = ok("import", "pets@v1", tmp_path / "good.json")
    assert again.startswith("already imported: pets@v1 holds this source") and "nothing written" in again
    assert "re-import #1" in ok("import", "pets@v1", tmp_path / "good.json", "--reimport")
    assert len(imports()) == 2  # the no-op emitted none

    ok("dataset", "version", "pets@v2", "--parent", "v1", "--schema", "animals@2")
    text = ok("lineage", "version", "pets@v2")
    assert "SCHEMA CHANGED vs parent" in text and "import" in text and "renamed   dog -> hound" in text
    lineage = json.loads(ok("lineage", "version", "pets@v2", "--json"))
    assert lineage["labels"] == 2 and [n["version"] for n in lineage["ancestry"]] == ["pets@v2", "pets@v1"]
    chain = json.loads(ok("lineage", "annotation", "3", "--json"))  # v2's copy of label 1
    assert [h["version"] for h in chain["versions"]] == ["pets@v1", "pets@v2"] and chain["history"][0]["id"] == 1
    assert "dataset versions containing it" in ok("lineage", "annotation", "3")

    out_dir = tmp_path / "export"
    ok("export", "pets@v1", out_dir, "--format", "yolo", "--images")
    assert (out_dir / "images" / "a.png").read_bytes() == (images / "a.png").read_bytes()
    assert (out_dir / "labels" / "b.txt").read_text() == ""
    ok("dataset", "state", "pets@v1", "candidate")
    code, out = run("dataset", "state", "pets@v1", "released")
    assert code == 2 and "release flow" in out
    code, out = run("import", "pets@v9", tmp_path / "good.json")
    assert code == 2 and "no version 'v9'" in out
