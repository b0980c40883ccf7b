"""The classification label file parser: CSV/JSON/folder records, errors naming the record."""

from __future__ import annotations

import numpy as np
import pytest

from quality_gates.classfile import class_table_from_paths, read_class_table, to_class_labels
from quality_gates.errors import InputFormatError


def test_csv_with_bom_and_blank_lines_multi_label() -> None:
    t = read_class_table("\ufeffitem,class\n\na.jpg,cat\nb.jpg,dog\n\nb.jpg,cat\n", source="l.csv", fmt="csv")
    labels = to_class_labels(t, ["cat", "dog"], multi_label=True)
    assert labels.items == ("a.jpg", "b.jpg")
    assert labels.indicator.tolist() == [[True, False], [True, True]]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("item,class\na,cat\na,cat\n", "line 3", "repeats line 2"),
        ("item,class\n,cat\n", "line 2", "empty item"),
        ("item,class,score\na,cat,nan\n", "line 2", "finite number"),
        ("item,class,score\na,cat,1.5\n", "line 2", "[0, 1]"),
        ("name,label\na,cat\n", "line 1", "need the columns"),
    ],
)
def test_csv_errors_name_the_line(text: str, where: str, message: str) -> None:
    with pytest.raises(InputFormatError) as err:
        read_class_table(text, source="l.csv", fmt="csv")
    assert err.value.field == where and message in err.value.message


def test_single_label_item_with_two_classes_names_both_lines() -> None:
    t = read_class_table("item,class\na,cat\nb,dog\na,dog\n", source="l.csv", fmt="csv")
    with pytest.raises(InputFormatError) as err:
        to_class_labels(t, ["cat", "dog"], multi_label=False)
    assert err.value.field == "line 4" and "also line 2" in err.value.message


def test_unknown_class_names_its_record() -> None:
    t = read_class_table('{"a": "cat", "b": "cow"}', source="l.json", fmt="json")
    with pytest.raises(InputFormatError) as err:
        to_class_labels(t, ["cat", "dog"], multi_label=False)
    assert err.value.field == '["b"]' and "'cow'" in err.value.message


def test_json_predictions_match_from_scores() -> None:
    t = read_class_table('{"a": {"cat": 0.9, "dog": 0.2}, "b": {"dog": 0.7}}', source="p.json", fmt="json")
    got = to_class_labels(t, ["cat", "dog"], multi_label=False)
    assert got.items == ("a", "b") and got.indicator.tolist() == [[True, False], [False, True]]
    assert got.scores is not None and np.array_equal(got.scores, [[0.9, 0.2], [0.0, 0.7]])


def test_folder_layout_with_splits_and_junk() -> None:
    t = class_table_from_paths(
        ["train/cat/1.jpg", "val/dog/2.png", "train/.cache/x.jpg", "README.md", "train/cat/notes.txt"], source="r"
    )
    assert t.items == ("train/cat/1.jpg", "val/dog/2.png") and t.classes == ("cat", "dog")
    with pytest.raises(InputFormatError) as err:
        class_table_from_paths(["cat/1.jpg", "cat/sub/2.jpg"], source="r")
    assert err.value.field == "cat/sub/2.jpg"
