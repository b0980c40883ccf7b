"""Row digests: the fast paths (import boxes, rows as drivers return them) equal the reference digest."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from lineage.audit.rowdigest import DIGEST_COLUMNS, box_digests, digest_values, normaliser, row_reader

NAMES = [n for n, _ in DIGEST_COLUMNS["annotations"]]
ATTRS = ["null", "{}", '{"occluded": true}', '{"n": 1.5, "s": "é\\u2028"}', '{"big": 1180591620717411303424}']


@pytest.mark.parametrize(
    "created_at", [datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2026-01-02 03:04:05.678901"]
)
def test_box_digests_equal_the_reference(created_at: object) -> None:
    rng = random.Random(7)
    boxes = [
        (
            rng.randint(1, 10**6),
            rng.choice(["car", "person", "ünï"]),
            rng.choice([0, 1.5, rng.random() * 640]),
            rng.random() * 480,
            rng.choice([10, rng.random() * 100 + 0.1]),
            rng.random() * 100 + 0.1,
            rng.choice(ATTRS),
            f"{rng.getrandbits(256):064x}",
        )
        for _ in range(300)
    ]
    fast = box_digests(
        boxes, version_id=3, kind="import", annotator_id=None, source_format="coco", created_at=created_at, created_by=9
    )
    norm = normaliser("annotations")
    for box, digest in zip(boxes, fast, strict=True):
        item_id, cat, x, y, w, h, attrs, sha = box
        row = dict.fromkeys(NAMES)
        row.update(
            dataset_version_id=3, item_id=item_id, category=cat, geometry_type="box", x=x, y=y, w=w, h=h,
            attributes=json.loads(attrs), kind="import", source_sha256=sha, source_format="coco",
            created_at=created_at, created_by=9,
        )  # fmt: skip
        assert digest == digest_values("annotations", [row[n] for n in NAMES], norm)
        # As SQLite returns the row: JSON as text, the timestamp as SQLAlchemy's text, floats as floats.
        raw = [row[n] for n in NAMES]
        raw[NAMES.index("attributes")] = attrs
        raw[NAMES.index("geometry")] = "null"
        raw[NAMES.index("created_at")] = "2026-01-02 03:04:05.678901"
        for i in (NAMES.index(c) for c in ("x", "y", "w", "h")):
            raw[i] = float(raw[i])
        assert row_reader("annotations")(raw) == digest


def test_every_column_changes_the_digest() -> None:
    base = {n: None for n in NAMES}
    base.update(dataset_version_id=1, item_id=2, category="a", geometry_type="box", x=1.0, y=2.0, w=3.0, h=4.0,
                kind="human", annotator_id=5, created_at="2026-01-02 03:04:05.678901", created_by=5)  # fmt: skip
    reference = digest_values("annotations", [base[n] for n in NAMES])
    seen = {reference}
    for name, kind in DIGEST_COLUMNS["annotations"]:
        changed = dict(base)
        changed[name] = {"i": 77, "f": 7.25, "s": "zz", "t": "2027-01-01 00:00:00.000000", "j": {"k": 1}}[kind]
        digest = digest_values("annotations", [changed[n] for n in NAMES])
        assert digest not in seen, name
        seen.add(digest)
