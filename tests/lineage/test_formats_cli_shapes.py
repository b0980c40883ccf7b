"""The real CLI (in process) on a real workspace for the new task types: COCO segmentation, YOLO pose and
classes-csv (multi-label). A refused file exits 2 naming the file and the record and writes nothing (no
annotation, no audit event); a good one imports, exports and re-imports to the same labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_util
from sqlalchemy import text

from lineage.db import make_engine
from service.settings import get_settings
from tests.lineage.conftest import make_images
from tests.lineage.test_formats_keypoints import PERSON
from tests.lineage.test_lineage_cli import cli_ws, ok, run

__all__ = ["cli_ws"]  # the fixture, shared with test_lineage_cli


def db_counts() -> tuple[int, int]:
    """(annotations, audit events) in the workspace's database."""
    engine = make_engine(get_settings().database_url)
    try:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM annotations")).scalar_one()
            e = conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
    finally:
        engine.dispose()
    return int(n), int(e)


def version_with(tmp_path: Path, classes: object, images: dict[str, tuple[int, int]], *, name: str = "v1") -> None:
    """init, a project, a schema from ``classes`` (written as JSON), a dataset and its version ``name``."""
    ok("init")
    ok("project", "create", "demo")
    spec = tmp_path / "classes.json"
    spec.write_text(json.dumps(classes))
    assert "schema shapes v1" in ok("schema", "create", "shapes", "--classes", spec)
    ok("dataset", "create", "pets")
    folder = make_images(tmp_path / "imgs", images)
    ok("dataset", "version", f"pets@{name}", "--from-dir", folder, "--schema", "shapes@1")


def refused(ref: str, source: Path, fmt: str, *where: str) -> str:
    before = db_counts()
    code, out = run("import", ref, source, "--format", fmt)
    assert code == 2, out
    for part in where:
        assert part in out, out
    assert "Traceback" not in out
    assert db_counts() == before, "a refused import wrote something"
    return out


def test_coco_segmentation_through_the_cli(cli_ws: Path, tmp_path: Path) -> None:
    version_with(
        tmp_path,
        [{"name": "cat", "geometry": "polygon"}, {"name": "blob", "geometry": "mask"}],
        {"a.png": (40, 30), "b.png": (20, 10)},
    )
    m = np.zeros((30, 40), dtype=np.uint8, order="F")
    m[3:9, 4:20] = 1
    counts = mask_util.encode(m)["counts"].decode("ascii")
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 20, "height": 10},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "blob"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[1.5, 2, 30, 2, 9, 25]]},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 2,
                "bbox": [0, 0, 1, 1],
                "segmentation": {"size": [30, 40], "counts": counts},
            },
        ],
    }
    bad = json.loads(json.dumps(doc))
    bad["annotations"].append(
        {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[1, 2, 3, 4, 5]]}
    )
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    refused("pets@v1", bad_path, "coco", f"{bad_path}: annotations[2] (id 3).segmentation", "odd number")

    good = tmp_path / "good.json"
    good.write_text(json.dumps(doc))
    assert "imported 2 import annotations on 2 images into pets@v1" in ok("import", "pets@v1", good)
    out = tmp_path / "export.json"
    assert "exported 2 annotations on 2 images" in ok("export", "pets@v1", out)
    exported = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    assert exported[1]["segmentation"] == doc["annotations"][0]["segmentation"]
    assert exported[2]["segmentation"] == {"size": [30, 40], "counts": counts}
    assert exported[2]["area"] == float(m.sum())
    ok("dataset", "version", "pets@v2", "--parent", "v1", "--no-inherit")
    assert "imported 2 import annotations" in ok("import", "pets@v2", out)
    again = tmp_path / "again.json"
    ok("export", "pets@v2", again)
    assert json.loads(again.read_text())["annotations"] == json.loads(out.read_text())["annotations"]


def test_yolo_pose_through_the_cli(cli_ws: Path, tmp_path: Path) -> None:
    version_with(tmp_path, [PERSON], {"a.png": (40, 30), "b.png": (20, 10)})
    root = tmp_path / "pose"
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [person]\nkpt_shape: [4, 3]\n")
    line = "0 0.5 0.5 0.5 0.5 0.3 0.3 2 0.6 0.4 1 0 0 0 0.5 0.7 2\n"
    (root / "labels" / "a.txt").write_text(line + line.replace(" 1 0 0 0", " 3 0 0 0"))
    (root / "labels" / "b.txt").write_text("")
    refused("pets@v1", root, "yolo", f"{root / 'labels' / 'a.txt'}:2", "keypoint 1: visibility '3'")

    (root / "labels" / "a.txt").write_text(line)
    assert "imported 1 import annotations on 2 images" in ok("import", "pets@v1", root, "--format", "yolo")
    out = tmp_path / "yo"
    ok("export", "pets@v1", out, "--format", "yolo")
    assert "kpt_shape:\n- 4\n- 3" in (out / "data.yaml").read_text()
    (written,) = (out / "labels" / "a.txt").read_text().splitlines()
    assert np.allclose([float(v) for v in written.split()], [float(v) for v in line.split()], rtol=0, atol=1e-12)
    ok("dataset", "version", "pets@v2", "--parent", "v1", "--no-inherit")
    assert "imported 1 import annotations" in ok("import", "pets@v2", out, "--format", "yolo")
    coco1, coco2 = tmp_path / "1.json", tmp_path / "2.json"
    ok("export", "pets@v1", coco1)
    ok("export", "pets@v2", coco2)
    (a,) = json.loads(coco1.read_text())["annotations"]
    (b,) = json.loads(coco2.read_text())["annotations"]
    assert np.allclose(a["keypoints"], b["keypoints"], rtol=0, atol=1e-9) and a["num_keypoints"] == 3
    assert np.allclose(a["bbox"], b["bbox"], rtol=0, atol=1e-9)


def test_classes_csv_through_the_cli(cli_ws: Path, tmp_path: Path) -> None:
    tags = {"classes": [{"name": n, "geometry": "tag"} for n in ("cat", "dog", "bird")], "multi_label": True}
    version_with(tmp_path, tags, {"cat/1.png": (20, 10), "dog/2.png": (20, 10), "3.png": (20, 10)})
    bad = tmp_path / "bad.csv"
    bad.write_text("item,class\ncat/1.png,cat\n\ndog/2.png,cow\n")
    refused("pets@v1", bad, "classes-csv", f"{bad}: line 4", "class 'cow' is not in the schema")

    good = tmp_path / "good.csv"
    good.write_text("\ufeffitem,class\ncat/1.png,cat\ncat/1.png,bird\ndog/2.png,dog\n")
    assert "imported 3 import annotations on 2 images" in ok("import", "pets@v1", good, "--format", "classes-csv")
    out = tmp_path / "export"
    assert "exported 3 annotations on 3 images" in ok("export", "pets@v1", out, "--format", "classes-csv")
    assert (out / "labels.csv").read_text() == "item,class\ncat/1.png,cat\ncat/1.png,bird\ndog/2.png,dog\n"
    js = tmp_path / "export-json"
    ok("export", "pets@v1", js, "--format", "classes-json")
    assert json.loads((js / "labels.json").read_text()) == {"cat/1.png": ["cat", "bird"], "dog/2.png": ["dog"]}
    ok("dataset", "version", "pets@v2", "--parent", "v1", "--no-inherit")
    assert "imported 3 import annotations" in ok("import", "pets@v2", js / "labels.json", "--format", "classes-json")
    back = tmp_path / "back"
    ok("export", "pets@v2", back, "--format", "classes-csv")
    assert (back / "labels.csv").read_text() == (out / "labels.csv").read_text()
    # a multi-label schema has no class-per-folder form
    code, said = run("export", "pets@v1", tmp_path / "folder", "--format", "classes-folder", "--images")
    assert code == 2 and "multi-label" in said, said
