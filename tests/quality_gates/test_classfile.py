"""The classification label file parser: CSV/JSON/folder records, errors naming the record."""

from __future__ import annotations

import numpy as np
import pytest

from quality_gates import classfile
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


# ---- the whole-column fast path against the row-by-row path ---------------------------------------------------


def _same_table(a: classfile.ClassTable, b: classfile.ClassTable) -> None:
    assert a.source == b.source and a.items == b.items and a.classes == b.classes and a.records == b.records
    assert np.array_equal(a.item_index, b.item_index) and np.array_equal(a.class_index, b.class_index)
    assert a.item_index.dtype == b.item_index.dtype == a.class_index.dtype == np.int64
    assert (a.scores is None) == (b.scores is None)
    if a.scores is not None and b.scores is not None:
        assert np.array_equal(a.scores, b.scores)


def _random_csv(rng: np.random.Generator, *, scores: bool, messy: bool) -> str:
    """A valid file: distinct (item, class) pairs in random order, optionally with blank lines, padding
    whitespace, CRLF line ends, a byte-order mark, non-ASCII names, columns in another order."""
    names = ["cat", "dog", "bird", "ünïcode", "a b"]
    n_items = int(rng.integers(1, 40))
    pairs = [(f"img/{i:03d}.jpg" if i % 7 else f"é/{i}.png", c) for i in range(n_items) for c in names]
    keep = rng.permutation(len(pairs))[: int(rng.integers(1, len(pairs) + 1))]
    cols = ["item", "class"] + (["score"] if scores else [])
    order = [cols[i] for i in rng.permutation(len(cols))] if messy else cols
    lines = [",".join(c.upper() if messy and rng.random() < 0.3 else c for c in order)]
    for k in keep.tolist():
        item, cls = pairs[k]
        cell = {"item": item, "class": cls, "score": repr(float(rng.random())) if rng.random() < 0.8 else "1"}
        pad = (lambda s: " " * int(rng.integers(0, 2)) + s + "\t" * int(rng.integers(0, 2))) if messy else str
        lines.append(",".join(pad(cell[c]) for c in order))
        if messy and rng.random() < 0.1:
            lines.append(rng.choice(["", "   ", ",," if scores else ",", "\t"]))
    end = "\r\n" if messy and rng.random() < 0.5 else "\n"
    text = end.join(lines) + (end if rng.random() < 0.7 else "")
    return ("\ufeff" if messy and rng.random() < 0.5 else "") + ("\n\n" if messy and rng.random() < 0.3 else "") + text


@pytest.mark.parametrize("seed", range(40))
def test_fast_path_gives_the_row_by_row_table(seed: int) -> None:
    rng = np.random.default_rng(seed)
    text = _random_csv(rng, scores=bool(seed % 2), messy=seed % 4 >= 2)
    fast = classfile._read_csv_fast(text.removeprefix("\ufeff"), "f.csv")
    assert fast is not None  # these files are plain: the fast path decides them alone
    _same_table(fast, classfile._read_csv_rows(text, "f.csv"))
    _same_table(read_class_table(text.encode("utf-8"), source="f.csv", fmt="csv"), fast)


BAD_ROWS = [
    ",cat",  # empty item
    "x.jpg,",  # empty class
    "x.jpg, \t",  # a class of whitespace only
    "x.jpg,cat,extra",  # too many columns
    "x.jpg",  # too few
    "img/000.jpg,cat",  # repeats a pair of the file (the score-less form)
]
BAD_SCORES = ["nan", "inf", "-0.5", "1.5", "abc", "", "0x1", "1e400"]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("bad", BAD_ROWS + [f"x.jpg,cat,{s}" for s in BAD_SCORES])
def test_one_bad_row_anywhere_gives_the_row_by_row_error(seed: int, bad: str) -> None:
    rng = np.random.default_rng(seed)
    scored = bad.count(",") == 2 and any(bad.endswith("," + s) for s in BAD_SCORES)
    good = [f"img/{i:03d}.jpg,{['cat', 'dog'][i % 2]}" + (",0.5" if scored else "") for i in range(30)]
    lines = good[:]
    lines.insert(int(rng.integers(0, len(lines) + 1)), bad)
    if rng.random() < 0.5:
        lines.insert(int(rng.integers(0, len(lines) + 1)), "")
    text = ("item,class,score\n" if scored else "item,class\n") + "\n".join(lines) + "\n"
    with pytest.raises(InputFormatError) as slow:
        classfile._read_csv_rows(text, "f.csv")
    assert classfile._read_csv_fast(text, "f.csv") is None
    with pytest.raises(InputFormatError) as got:
        read_class_table(text, source="f.csv", fmt="csv")
    assert (got.value.field, got.value.message) == (slow.value.field, slow.value.message)
    assert got.value.field.startswith("line ")


@pytest.mark.parametrize(
    "text",
    [
        'item,class\n"a,b",cat\n',  # quoted fields: the csv module decides
        "item,class\na\rb,cat\n",  # a lone carriage return ends a line for the csv module
        "item,class\na\xa0,cat\n",  # non-ASCII whitespace is stripped
        "item,class\n\xa0,cat\n",  # ... so this item is empty
        "",
        "\n\n",
        "name,label\na,cat\n",
        "item,class,item\na,cat,b\n",
    ],
)
def test_files_the_fast_path_leaves_to_the_csv_module(text: str) -> None:
    assert classfile._read_csv_fast(text, "f.csv") is None
    try:
        want: classfile.ClassTable | str = classfile._read_csv_rows(text, "f.csv")
    except InputFormatError as exc:
        want = f"{exc.field}: {exc.message}"
    try:
        got: classfile.ClassTable | str = read_class_table(text, source="f.csv", fmt="csv")
    except InputFormatError as exc:
        got = f"{exc.field}: {exc.message}"
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
    else:
        _same_table(got, want)


def test_unicode_whitespace_table_matches_str_isspace() -> None:
    import sys

    spaces = {chr(c) for c in range(0x80, sys.maxunicode + 1) if chr(c).isspace()}
    assert {c for c in spaces if classfile._UNICODE_WS.fullmatch(c)} == spaces
    ascii_ws = {c for c in range(0x80) if chr(c).isspace()} - {10, 13}
    assert set(np.flatnonzero(classfile._WS_BYTES).tolist()) == ascii_ws


def test_line_records_spell_the_tuple() -> None:
    rec = classfile.LineRecords(np.array([2, 3, 7], dtype=np.int64))
    want = ("line 2", "line 3", "line 7")
    assert len(rec) == 3 and rec[0] == "line 2" and rec[-1] == "line 7" and rec[1:] == want[1:]
    assert tuple(rec) == want and rec == want and want == rec and list(rec) == list(want)
    assert rec != ("line 2", "line 3", "line 8") and rec != want[:2] and rec != (2, 3, 7)
    assert rec == classfile.LineRecords(np.array([2, 3, 7])) and rec != classfile.LineRecords(np.array([2, 3]))
    with pytest.raises(IndexError):
        rec[3]


@pytest.mark.parametrize(
    "text",
    ["item,class", "item,class\n", "\n\nitem,class,score\n\n", " item , CLASS \n a , b \n\n c,b\n", "class,item\nb,a"],
)
def test_fast_path_edges_match_row_by_row(text: str) -> None:
    fast = classfile._read_csv_fast(text, "f.csv")
    assert fast is not None
    _same_table(fast, classfile._read_csv_rows(text, "f.csv"))
