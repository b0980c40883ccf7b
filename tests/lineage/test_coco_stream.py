"""``iter_coco_json`` (how a COCO export is written, to a file or an HTTP response, a piece at a time) gives
``json.dumps(export_coco(data))`` character for character, whatever the labels hold and wherever the pieces
are cut: boxes with kept and fresh ids, COCO areas and crowd flags, polygons, masks, keypoints, attributes,
non-ASCII names, no labels at all."""

from __future__ import annotations

import json
import random

import pytest

from lineage.formats.coco import export_coco, iter_coco_json
from lineage.formats.common import ExportData, ExportLabel, ItemRef
from tests.lineage.test_cvat_export import export_data
from tests.lineage.test_cvat_reader import parse


def _boxes(seed: int) -> ExportData:
    rng = random.Random(seed)
    classes = ["car", "person", "vélo", "日本"]
    items = [ItemRef(n + 1, f"img/{n:03d} ä.jpg", rng.choice([None, 640]), rng.choice([None, 480])) for n in range(40)]
    labels = {}
    for item in items:
        labels[item.id] = [
            ExportLabel(
                rng.choice(classes),
                rng.uniform(0, 600),
                rng.uniform(0, 400),
                rng.uniform(1, 50),
                rng.choice([1e-7, 2.5, rng.uniform(1, 50)]),
                rng.choice(
                    [
                        None,
                        {},
                        {"coco": {"id": rng.randrange(1, 500), "area": rng.uniform(0, 99), "iscrowd": 1}},
                        {"coco": {"id": "x", "area": -1}, "note": 'ü\n"q"'},
                        {"iscrowd": 1, "occluded": True},
                    ]
                ),
            )
            for _ in range(rng.randrange(0, 6))
        ]
    kept = {"images": {items[0].uri: 7, items[1].uri: 7}, "categories": {"car": 3, "日本": "9"}}
    return ExportData("street@v1", classes, items, labels, id_map=kept)


CASES = {
    "boxes": lambda: _boxes(1),
    "boxes-again": lambda: _boxes(2),
    "every-geometry": lambda: export_data(parse("task_12.xml", annotator="carol")),
    "attributes": lambda: export_data(parse("job_42.xml")),
    "no-labels": lambda: ExportData("x@v1", ["car"], [ItemRef(9, "z.jpg", None, None)]),
    "nothing": lambda: ExportData("x@v1", [], []),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("chunk", [1, 97, 1 << 20])
def test_the_stream_is_the_document_character_for_character(case: str, chunk: int) -> None:
    data = CASES[case]()
    pieces = list(iter_coco_json(data, chunk=chunk))
    assert "".join(pieces) == json.dumps(export_coco(data))
    if chunk == 1 and data.labels:
        assert len(pieces) > 2  # it does come in pieces
