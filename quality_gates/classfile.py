"""Classification label files: one parser for the import on the record and for the offline CI gate.

Pure: text or parsed objects in, arrays out (no file system). Item keys are strings, an image's path relative
to the dataset root (``"cat/0001.jpg"``). Three forms:

- CSV: a header row with the columns ``item`` and ``class`` and optionally ``score`` (no others, any order);
  one row per (item, class), so a multi-label item has several rows. A ``score`` (predictions only) is a
  finite number in [0, 1]. A UTF-8 byte-order mark and blank lines are allowed.
- JSON labels: ``{"<item>": "cat"}`` or ``{"<item>": ["cat", "dog"]}``.
- JSON predictions: ``{"<item>": {"cat": 0.91, "dog": 0.05}}`` (classes not listed score 0).
- class-per-folder (the Ultralytics/ImageNet layout, ``<class>/<image>`` or ``<split>/<class>/<image>``): the
  caller lists the image paths relative to the root and :func:`class_table_from_paths` reads the classes.

:func:`read_class_table` parses and checks each record; :func:`to_class_labels` maps the class names onto a
schema's classes and builds a :class:`~quality_gates.classification.ClassLabels`, vectorised. Every problem
raises :class:`~quality_gates.errors.InputFormatError` naming the source and the record (``line 7`` of a CSV,
``["cat/1.jpg"]`` of a JSON object, the path of a folder layout).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, overload

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.classification import ClassLabels
from quality_gates.errors import InputFormatError

__all__ = [
    "IMAGE_SUFFIXES",
    "SPLIT_NAMES",
    "ClassFileFormat",
    "ClassTable",
    "LineRecords",
    "class_table_from_paths",
    "read_class_table",
    "to_class_labels",
]

ClassFileFormat: TypeAlias = Literal["csv", "json"]

IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"})
"""File suffixes (lower case) a class-per-folder layout counts as images, as Ultralytics does."""

SPLIT_NAMES = frozenset({"train", "val", "valid", "validation", "test"})
"""Top-level folder names read as splits (``<split>/<class>/<image>``) when every top-level folder is one."""

_COLUMNS = frozenset({"item", "class", "score"})


class LineRecords(Sequence[str]):
    """``("line 2", "line 3", ...)`` from the rows' line numbers, each string made only when asked for (a
    million-row file's records cost an int64 array, not a million strings). Equal to the tuple it spells."""

    __slots__ = ("_lines",)

    def __init__(self, lines: IntArray) -> None:
        self._lines = lines

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(f"line {n}" for n in self._lines[index].tolist())
        return f"line {int(self._lines[index])}"

    def __iter__(self) -> Iterator[str]:
        return (f"line {n}" for n in self._lines.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LineRecords):
            return bool(np.array_equal(self._lines, other._lines))
        return (
            isinstance(other, Sequence)
            and len(other) == len(self)
            and all(a == b for a, b in zip(self, other, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LineRecords({len(self)} rows)"


@dataclass(frozen=True, eq=False)
class ClassTable:
    """The (item, class[, score]) records of one file, checked and indexed; rows in file order.

    Attributes:
        source: the input's name as the caller knows it (a file name), used in errors.
        items: distinct item keys in order of first appearance.
        classes: distinct class names seen, sorted.
        item_index: (n,) int64 row -> index into ``items``.
        class_index: (n,) int64 row -> index into ``classes``.
        scores: (n,) float64 in [0, 1] for predictions, None for labels.
        records: per row, how errors name it (``"line 4"``, ``'["cat/1.jpg"]'``); a tuple, or for a CSV read
            whole-column a :class:`LineRecords` that spells ``"line N"`` on demand.
    """

    source: str
    items: tuple[str, ...]
    classes: tuple[str, ...]
    item_index: IntArray
    class_index: IntArray
    scores: FloatArray | None
    records: Sequence[str]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def pairs(self) -> tuple[IntArray, IntArray]:
        """``(item_index, class_index)``."""
        return self.item_index, self.class_index

    def error(self, row: int, message: str) -> InputFormatError:
        """An :class:`InputFormatError` naming row ``row``'s record."""
        return InputFormatError(self.source, self.records[row], message)


class _Builder:
    """Accumulates records, refusing a repeated (item, class) pair with both records named."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.rows: list[tuple[int, int]] = []
        self.scores: list[float] = []
        self.records: list[str] = []
        self.seen: dict[tuple[int, int], str] = {}

    def add(self, item: str, cls: str, score: float | None, record: str) -> None:
        if not item:
            raise InputFormatError(self.source, record, "empty item")
        if not cls:
            raise InputFormatError(self.source, record, f"item {item!r}: empty class")
        key = (self.items.setdefault(item, len(self.items)), self.classes.setdefault(cls, len(self.classes)))
        if key in self.seen:
            raise InputFormatError(
                self.source, record, f"item {item!r} class {cls!r} repeats {self.seen[key]}: one row per pair"
            )
        self.seen[key] = record
        self.rows.append(key)
        self.records.append(record)
        if score is not None:
            self.scores.append(score)

    def build(self, *, with_scores: bool) -> ClassTable:
        names = sorted(self.classes)
        remap = np.empty(len(names), dtype=np.int64)
        remap[[self.classes[n] for n in names]] = np.arange(len(names))
        pairs = np.asarray(self.rows, dtype=np.int64).reshape(-1, 2)
        return ClassTable(
            self.source,
            tuple(self.items),
            tuple(names),
            pairs[:, 0].copy(),
            remap[pairs[:, 1]] if len(pairs) else np.zeros(0, dtype=np.int64),
            np.asarray(self.scores, dtype=np.float64) if with_scores else None,
            tuple(self.records),
        )


def _score(value: Any, source: str, record: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputFormatError(source, record, f"score {value!r} is not a number in [0, 1]")
    try:
        s = float(value)
    except ValueError:
        raise InputFormatError(source, record, f"score {value!r} is not a number in [0, 1]") from None
    if not math.isfinite(s) or not 0.0 <= s <= 1.0:
        raise InputFormatError(source, record, f"score {value!r} is not a finite number in [0, 1]")
    return s


def _read_csv_rows(text: str, source: str) -> ClassTable:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header: list[str] | None = None
    out = _Builder(source)
    cols: dict[str, int] = {}
    try:
        for row in reader:
            record = f"line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                unknown = [c for c in header if c not in _COLUMNS]
                if unknown or len(set(header)) != len(header) or not {"item", "class"} <= set(header):
                    raise InputFormatError(
                        source, record, f"header {row!r}: need the columns item, class and optionally score"
                    )
                cols = {c: i for i, c in enumerate(header)}
                continue
            if len(row) != len(header):
                raise InputFormatError(source, record, f"{len(row)} columns, the header has {len(header)}")
            score = _score(row[cols["score"]].strip(), source, record) if "score" in cols else None
            out.add(row[cols["item"]].strip(), row[cols["class"]].strip(), score, record)
    except csv.Error as exc:
        raise InputFormatError(source, f"line {reader.line_num}", f"not valid CSV: {exc}") from None
    if header is None:
        raise InputFormatError(source, "", "empty file: need a header row item,class[,score]")
    return out.build(with_scores="score" in cols)


_WS_BYTES = np.zeros(256, dtype=bool)
_WS_BYTES[[9, 11, 12, 28, 29, 30, 31, 32]] = True  # ASCII whitespace str.strip() removes, less the line breaks
_UNICODE_WS = re.compile("[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
"""Non-ASCII characters ``str.isspace()`` accepts: with none of them, whitespace is decided byte by byte."""


def _read_csv_fast(text: str, source: str) -> ClassTable | None:
    """The whole-column form of :func:`_read_csv_rows`, or None where it cannot decide alone.

    Only plain files take it: no quote, no NUL, no line break but ``\\n``/``\\r\\n``, no non-ASCII whitespace,
    no line longer than the csv module's field limit. Their cells are exactly ``line.split(",")``, so the file
    is split as a whole and checked column by column (header, column counts, empty items and classes, scores,
    repeated pairs). Any failed check returns None: the row-by-row path then names the first bad record exactly
    as it always has.
    """
    if '"' in text or "\x00" in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    if not text.isascii() and _UNICODE_WS.search(text):
        return None
    data = text.encode("utf-8")
    raw = np.frombuffer(data, dtype=np.uint8)
    size = len(raw)
    ends = np.flatnonzero(raw == 10)
    if not size or raw[-1] != 10:
        ends = np.append(ends, size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if len(ends) and int((ends - starts).max()) > csv.field_size_limit():
        return None
    low = np.flatnonzero((raw < 33) & (raw != 10))
    ws = low[_WS_BYTES[raw[low]]]  # the whitespace bytes str.strip() removes (line breaks aside)
    commas = np.flatnonzero(raw == 44)
    commas_in = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    soft_in = commas_in
    if len(ws):
        soft = np.union1d(commas, ws)
        soft_in = np.searchsorted(soft, ends) - np.searchsorted(soft, starts)
    solid = soft_in < ends - starts  # a line of nothing but commas and whitespace is skipped
    filled = np.flatnonzero(solid)
    if not len(filled):
        return None
    h = int(filled[0])
    header = [c.strip().lower() for c in data[starts[h] : ends[h]].decode("utf-8").split(",")]
    if (
        any(c not in _COLUMNS for c in header)
        or len(set(header)) != len(header)
        or not {"item", "class"} <= set(header)
    ):
        return None
    ncol = len(header)
    rows = filled[1:]
    n = len(rows)
    if (commas_in[rows] != ncol - 1).any():
        return None
    if not n:
        cells: list[str] = []
    elif int(rows[-1]) - h == n:  # the rows are the lines right after the header (blank lines only after them)
        cells = data[starts[h + 1] : ends[rows[-1]]].decode("utf-8").replace("\n", ",").split(",")
    else:
        lines = text.split("\n")
        cells = ",".join([lines[i] for i in rows.tolist()]).split(",")
    # whitespace at a line's or a cell's edge: some cell needs strip()
    needs_strip = bool(len(ws)) and bool(
        (ws == 0).any()
        or (ws == size - 1).any()
        or np.isin(raw[ws[ws > 0] - 1], (10, 44)).any()
        or np.isin(raw[ws[ws < size - 1] + 1], (10, 44)).any()
    )
    col = {name: cells[i::ncol] for i, name in enumerate(header)}
    if needs_strip:
        col = {name: list(map(str.strip, values)) for name, values in col.items()}
    items, classes = col["item"], col["class"]
    if "" in items or "" in classes:
        return None
    scores = None
    if "score" in col:
        try:
            scores = np.fromiter(map(float, col["score"]), dtype=np.float64, count=n)
        except ValueError:
            return None
        if not (np.isfinite(scores).all() and ((scores >= 0.0) & (scores <= 1.0)).all()):
            return None
    import pandas as pd  # its hash-based factorize: codes in order of first appearance, as _Builder numbers them

    item_codes, item_uniques = pd.factorize(np.asarray(items, dtype=object))
    class_codes, class_uniques = pd.factorize(np.asarray(classes, dtype=object))
    item_names: tuple[str, ...] = tuple(item_uniques.tolist())
    seen_classes: list[str] = class_uniques.tolist()
    class_names = tuple(sorted(seen_classes))
    remap = np.empty(len(class_names), dtype=np.int64)
    remap[np.argsort(np.asarray(seen_classes, dtype=object), kind="stable")] = np.arange(len(class_names))
    item_index = item_codes.astype(np.int64, copy=False)
    class_index = remap[class_codes] if n else np.zeros(0, dtype=np.int64)
    pair = np.sort(item_index * max(len(class_names), 1) + class_index)
    if (pair[1:] == pair[:-1]).any():
        return None
    return ClassTable(source, item_names, class_names, item_index, class_index, scores, LineRecords(rows + 1))


def _read_csv(text: str, source: str) -> ClassTable:
    """The CSV form: whole columns at once where the file allows, else (and to name an error) row by row."""
    table = _read_csv_fast(text, source)
    return _read_csv_rows(text, source) if table is None else table


def _read_json(doc: Any, source: str) -> ClassTable:
    if not isinstance(doc, Mapping):
        raise InputFormatError(source, "", "expected a JSON object mapping each item to its class(es)")
    out = _Builder(source)
    kinds: set[str] = set()
    for item, value in doc.items():
        record = json.dumps([item], ensure_ascii=False)
        if not isinstance(item, str):
            raise InputFormatError(source, record, "item keys must be strings")
        if isinstance(value, str):
            kinds.add("labels")
            out.add(item.strip(), value.strip(), None, record)
        elif isinstance(value, list):
            kinds.add("labels")
            if not value and item.strip():
                out.items.setdefault(item.strip(), len(out.items))
            for v in value:
                if not isinstance(v, str):
                    raise InputFormatError(source, record, f"class {v!r} is not a string")
                out.add(item.strip(), v.strip(), None, record)
        elif isinstance(value, Mapping):
            kinds.add("scores")
            for cls, s in value.items():
                out.add(item.strip(), str(cls).strip(), _score(s, source, f"{record}[{json.dumps(cls)}]"), record)
        else:
            raise InputFormatError(
                source, record, "expected a class name, a list of class names or an object of class scores"
            )
        if len(kinds) > 1:
            raise InputFormatError(source, record, "labels and score objects mixed in one file")
    return out.build(with_scores=kinds == {"scores"})


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' object hook: a repeated key would silently keep only its last value."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_class_table(data: str | bytes | Mapping[str, Any], *, source: str, fmt: ClassFileFormat) -> ClassTable:
    """Parse a classification labels or predictions file.

    Args:
        data: the file's text (or bytes, UTF-8 with an optional byte-order mark); for ``fmt="json"`` also an
            already-parsed object.
        source: the file's name as errors should show it.
        fmt: ``"csv"`` or ``"json"``.

    Raises:
        InputFormatError: naming the record (CSV line, JSON key) of an empty item or class, a bad score, a
            repeated (item, class) pair, a key repeated in one JSON object, a missing header, labels and scores
            mixed.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputFormatError(source, "", f"not UTF-8 text: {exc}") from None
    if fmt == "csv":
        if not isinstance(data, str):
            raise InputFormatError(source, "", "a CSV file must be given as text")
        return _read_csv(data, source)
    if fmt == "json":
        if isinstance(data, str):
            try:
                data = json.loads(data.removeprefix("\ufeff"), object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise InputFormatError(source, f"line {exc.lineno}", f"not valid JSON: {exc.msg}") from None
            except _DuplicateKey as exc:
                record = json.dumps([exc.key], ensure_ascii=False)
                raise InputFormatError(
                    source, record, "the key appears twice in one object: one entry per item"
                ) from None
        return _read_json(data, source)
    raise ValueError(f"unknown class file format {fmt!r}; use 'csv' or 'json'")


def class_table_from_paths(paths: Iterable[str], *, source: str) -> ClassTable:
    """Read the class-per-folder layout from image paths relative to the root (``/`` separated).

    ``<class>/<image>``, or ``<split>/<class>/<image>`` when every top-level folder is a split name
    (:data:`SPLIT_NAMES`). Paths with a hidden part (``.cache/...``) and files that are not images
    (:data:`IMAGE_SUFFIXES`) are skipped. The item key is the whole relative path.

    Raises:
        InputFormatError: naming an image at the wrong depth (directly under the root or nested too deep).
    """
    images = []
    for p in paths:
        parts = p.replace("\\", "/").split("/")
        if any(part.startswith(".") or not part for part in parts):
            continue
        if "." + parts[-1].rsplit(".", 1)[-1].lower() in IMAGE_SUFFIXES and "." in parts[-1]:
            images.append(parts)
    tops = {parts[0] for parts in images if len(parts) > 1}
    split = bool(tops) and all(t.lower() in SPLIT_NAMES for t in tops)
    depth = 3 if split else 2
    out = _Builder(source)
    for parts in sorted(images):
        path = "/".join(parts)
        if len(parts) != depth:
            want = "<split>/<class>/<image>" if split else "<class>/<image>"
            raise InputFormatError(source, path, f"image at depth {len(parts)}: the layout is {want}")
        out.add(path, parts[-2], None, path)
    return out.build(with_scores=False)


def _lookup(table: ClassTable, class_names: Sequence[str]) -> IntArray:
    """Per row the schema class index; refuses a class the schema lacks, naming its first record."""
    index = {name: i for i, name in enumerate(class_names)}
    lut = np.asarray([index.get(name, -1) for name in table.classes], dtype=np.int64)
    rows = lut[table.class_index] if len(table) else np.zeros(0, dtype=np.int64)
    unknown = np.flatnonzero(rows < 0)
    if len(unknown):
        r = int(unknown[0])
        name = table.classes[int(table.class_index[r])]
        raise table.error(r, f"class {name!r} is not in the schema ({', '.join(class_names)})")
    return rows


def to_class_labels(
    table: ClassTable, class_names: Sequence[str], *, multi_label: bool, threshold: float | None = None
) -> ClassLabels:
    """The table as :class:`ClassLabels` over ``class_names`` (class index = position in the sequence).

    Labels (no scores): each item's classes; a single-label item with two rows is refused naming both.
    Predictions (scores): a (items, K) score matrix, classes not listed scoring 0, turned into classes as
    :meth:`ClassLabels.from_scores` does (single-label: the top class, lowest index on ties, kept when its
    score is at least ``threshold`` (default 0.0); multi-label: every class with ``score >= threshold``
    (default 0.5)).

    Raises:
        InputFormatError: a class not in ``class_names`` (its first record named), a single-label item
            with two classes.
    """
    if not class_names:
        raise ValueError("class_names is empty: a classification schema needs at least one class")
    k = len(class_names)
    cls = _lookup(table, class_names)
    n = len(table.items)
    if table.scores is not None:
        mat = np.zeros((n, k), dtype=np.float64)
        mat[table.item_index, cls] = table.scores
        if multi_label:
            thr = 0.5 if threshold is None else float(threshold)
            return ClassLabels(table.items, mat >= thr, k, True, mat, unique_items=True)
        thr = 0.0 if threshold is None else float(threshold)
        keep = mat.max(axis=1, initial=-np.inf) >= thr if n else np.zeros(0, dtype=bool)
        ind = np.zeros((n, k), dtype=bool)
        ind[np.arange(n), mat.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)] = True
        kept = tuple(np.asarray(table.items, dtype=object)[keep].tolist()) if n else ()
        return ClassLabels(kept, ind[keep], k, False, mat[keep], unique_items=True)
    if not multi_label and n:
        counts = np.bincount(table.item_index, minlength=n)
        if (counts == 0).any():
            item = table.items[int(np.flatnonzero(counts == 0)[0])]
            field = json.dumps([item], ensure_ascii=False)
            raise InputFormatError(table.source, field, "no class; the schema is single-label: exactly one")
        two = np.flatnonzero(counts[table.item_index] > 1)
        if len(two):
            first = int(two[0])
            second = int(two[table.item_index[two] == table.item_index[first]][1])
            item = table.items[int(table.item_index[first])]
            raise table.error(
                second,
                f"item {item!r} has a second class (also {table.records[first]}); the schema is single-label",
            )
    ind = np.zeros((n, k), dtype=bool)
    ind[table.item_index, cls] = True
    return ClassLabels(table.items, ind, k, multi_label, unique_items=True)
