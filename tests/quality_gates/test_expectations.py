"""The default expectation suite catches each violation kind on the planted row, and passes clean data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from quality_gates.expectations import duplicate_iou_column, prepare_annotation_frame, run_expectations

CLASSES = ["cat", "dog"]


def clean_frame() -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for i in range(12):
        base = {"image_id": i // 3, "width": 100, "height": 80, "category": CLASSES[i % 2],
                "x": 10.0 * (i % 3), "y": 5.0, "w": 8.0, "h": 8.0}  # fmt: skip
        kind = ("human", "model", "import", "synthetic")[i % 4]
        prov = {
            "human": {"annotator": "alice"},
            "model": {"model_version": "det-v3", "weights_sha256": "ab" * 32, "score": 0.8, "threshold": 0.5,
                      "run_id": "run-1"},
            "import": {"source_sha256": "cd" * 32, "source_format": "coco", "score": 0.9},
            "synthetic": {"generator_config_hash": "ef" * 32},
        }[kind]  # fmt: skip
        rows.append({**base, "provenance_kind": kind, **prov})
    return pd.DataFrame(rows)


def test_clean_data_passes_and_empty_frame_passes() -> None:
    rep = run_expectations(clean_frame(), class_names=CLASSES)
    assert rep.success, [(o.name, o.examples) for o in rep.failed]
    assert len(rep.outcomes) >= 20
    empty = run_expectations(clean_frame().iloc[:0], class_names=CLASSES)
    assert empty.success


# (check name, row to break, column → value)
VIOLATIONS: list[tuple[str, int, dict[str, Any]]] = [
    ("box inside image (left edge)", 0, {"x": -3.0}),
    ("box inside image (top edge)", 1, {"y": -0.5}),
    ("box inside image (right edge)", 2, {"x": 95.0}),
    ("box inside image (bottom edge)", 3, {"h": 80.0}),
    ("positive width", 4, {"w": 0.0}),
    ("positive height", 5, {"h": -1.0}),
    ("confidence in [0, 1]", 6, {"score": 1.5}),
    ("class in schema", 7, {"category": "unicorn"}),
    ("provenance kind known", 8, {"provenance_kind": "oracle"}),
    ("provenance complete: human needs annotator", 4, {"annotator": None}),
    ("provenance complete: model needs weights_sha256", 1, {"weights_sha256": None}),
    ("provenance complete: model needs run_id", 5, {"run_id": None}),
    ("provenance complete: import needs source_sha256", 2, {"source_sha256": None}),
    ("provenance complete: synthetic needs generator_config_hash", 3, {"generator_config_hash": None}),
]


def test_each_violation_is_caught_on_its_row() -> None:
    df = clean_frame()
    for _, row, change in VIOLATIONS:
        for col, value in change.items():
            df.loc[row, col] = value
    # A duplicate: row 10 copied with a 0.1 px shift (IoU > 0.95), same image, class and source.
    dup = df.loc[[10]].copy()
    dup["x"] += 0.1
    df = pd.concat([df, dup], ignore_index=True)
    rep = run_expectations(df, class_names=CLASSES, max_examples=10)
    by_name = {o.name: o for o in rep.outcomes}
    for name, row, _ in VIOLATIONS:
        o = by_name[name]
        assert not o.success, name
        assert [e[0] for e in o.examples] == [row], (name, o.examples)
        assert o.unexpected_count == 1
    dup_check = next(o for o in rep.outcomes if o.name.startswith("no duplicate boxes"))
    assert sorted(e[0] for e in dup_check.examples) == [10, 12]
    failed = {o.name for o in rep.failed}
    assert failed == {n for n, _, _ in VIOLATIONS} | {dup_check.name}


def test_duplicates_are_per_source_by_default() -> None:
    df = clean_frame().iloc[[0]].copy()
    other = df.copy()
    other["annotator"] = "bob"
    both = pd.concat([df, other], ignore_index=True)
    prepared = prepare_annotation_frame(both)
    assert prepared["_dup_iou"].tolist() == [0.0, 0.0]
    assert duplicate_iou_column(prepared, per_source=False).tolist() == [1.0, 1.0]


def test_extra_expectations_and_missing_columns() -> None:
    df = clean_frame()
    rep = run_expectations(
        df,
        include_default=False,
        extra=[{"type": "expect_column_values_to_be_between", "column": "w", "min_value": 9, "name": "wide"}],
    )
    assert [o.name for o in rep.outcomes] == ["wide"] and rep.outcomes[0].unexpected_count == 12
    with pytest.raises(ValueError, match="unknown expectation type"):
        run_expectations(df, include_default=False, extra=[{"type": "expect_magic"}])
    with pytest.raises(ValueError, match="lacks required columns: width"):
        run_expectations(df.drop(columns=["width"]))
    # Absent provenance columns are added as nulls, so the rows needing them fail instead of raising.
    rep2 = run_expectations(df.drop(columns=["annotator"]), class_names=CLASSES)
    assert {o.name for o in rep2.failed} == {"provenance complete: human needs annotator"}
    assert np.isfinite(prepare_annotation_frame(df)["_right_margin"]).all()
