"""What the format readers and writers share: the version's items, problems that name their place,
the parsed labels (compact tuples, cheap at a million rows), the bounds on imported attributes and the data
an export needs.

Attributes read from a source are bounded, in every format: an attribute object whose canonical JSON
exceeds ``MAX_ATTRIBUTES_BYTES`` (64 KiB), nests deeper than ``MAX_ATTRIBUTE_DEPTH`` (16 levels, the object
itself being level 1) or holds a string (value or key) over ``MAX_ATTRIBUTE_STRING`` (4 KiB of UTF-8) is
refused (:func:`attributes_json`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

from lineage.errors import InvalidInput

__all__ = [
    "MAX_ATTRIBUTES_BYTES",
    "MAX_ATTRIBUTE_DEPTH",
    "MAX_ATTRIBUTE_STRING",
    "MAX_PROBLEMS",
    "NULL_JSON",
    "AttributesRefused",
    "ExportData",
    "ExportLabel",
    "FileWriter",
    "IdMap",
    "ImportInvalid",
    "ItemIndex",
    "ItemRef",
    "LabelRow",
    "ParsedLabels",
    "Problems",
    "SchemaInfo",
    "ShapeRow",
    "attributes_json",
    "confined",
    "confined_files",
    "fmt_number",
    "gc_paused",
    "sha256_bytes",
]

MAX_PROBLEMS = 50
MAX_ATTRIBUTES_BYTES = 64 * 1024  # canonical JSON of one label's attributes, in bytes
MAX_ATTRIBUTE_DEPTH = 16  # nesting levels; the attribute object itself is level 1
MAX_ATTRIBUTE_STRING = 4 * 1024  # UTF-8 bytes of any one string (value or key)
NULL_JSON = "null"  # what the ORM stores for an absent JSON value; imports store the same
# (item_id, category, x, y, w, h, attributes as JSON text, source file SHA-256): the bound parameters of
# one imported box, in the order RowWriter.write_boxes takes them.
LabelRow: TypeAlias = tuple[int, str, float, float, float, float, str, str]
# (item_id, category, geometry_type, x, y, w, h, geometry JSON text, attributes JSON text, source SHA-256):
# one imported polygon, mask, keypoints or tag label (x..h None for a tag), as RowWriter.write_shapes takes it.
ShapeRow: TypeAlias = tuple[int, str, str, float | None, float | None, float | None, float | None, str, str, str]
#: a source's own ids, kept for export: ``{"images": {uri: id}, "categories": {class name: id}}``
IdMap: TypeAlias = dict[str, dict[str, int]]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic containers are created (parsing):
    it would otherwise rescan them over and over, doubling the parse time; reference counting still frees."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ItemRef(NamedTuple):
    """An item of the target version; ``width``/``height`` in pixels (``None`` when unknown)."""

    id: int
    uri: str
    width: int | None
    height: int | None


class ItemIndex:
    """Find a version's item by its path, or by its path without extension (YOLO label files)."""

    def __init__(self, items: Iterable[ItemRef], *, version_ref: str) -> None:
        self.version_ref = version_ref
        self.by_uri: dict[str, ItemRef] = {item.uri: item for item in items}
        self._stems: tuple[dict[str, ItemRef | None], dict[str, ItemRef | None]] | None = None
        self._suffixes: set[str] | None = None

    def __len__(self) -> int:
        return len(self.by_uri)

    def get(self, uri: str) -> ItemRef | None:
        return self.by_uri.get(uri)

    def _tables(self) -> tuple[dict[str, ItemRef | None], dict[str, ItemRef | None]]:
        if self._stems is None:
            by_stem: dict[str, ItemRef | None] = {}
            by_base: dict[str, ItemRef | None] = {}
            for uri, item in self.by_uri.items():
                path_stem = _strip_suffix(uri)
                base = path_stem.rsplit("/", 1)[-1]
                # ``None`` marks an ambiguous key: two items share it, so it cannot name one.
                by_stem[path_stem] = None if path_stem in by_stem else item
                by_base[base] = None if base in by_base else item
            self._stems = (by_stem, by_base)
        return self._stems

    def by_stem(self, stem: str) -> ItemRef | None:
        """``a/b`` finds ``a/b.jpg``; failing that, a unique item whose file stem is ``b``."""
        by_stem, by_base = self._tables()
        found = by_stem.get(stem)
        return found if found is not None else by_base.get(stem.rsplit("/", 1)[-1])

    def hint(self, name: str) -> str:
        """What a file name missing from the version most likely meant, as ``"; hint: ..."`` (else ``""``): the
        same file under another extension (``00000001.jpg`` for the version's ``00000001.png``) or in another
        folder. Read from the stem tables, so a million misses cost a lookup each."""
        found = self.by_stem(_strip_suffix(name))
        if found is None or found.uri == name:
            return ""
        same_place = _strip_suffix(found.uri) == _strip_suffix(name)
        if same_place:
            if self._suffixes is None:
                self._suffixes = {_suffix(uri) for uri in self.by_uri}
            if len(self._suffixes) == 1 and _suffix(found.uri):
                return f"; hint: the version's files are {_suffix(found.uri)}"
        return f"; hint: the version has {found.uri!r}"

    def find(self, stems: Iterable[str]) -> ItemRef | None:
        """The item whose path without extension is the first of ``stems`` to name exactly one; failing
        all, the one item whose file stem is the first stem's last part (as :meth:`by_stem`)."""
        by_stem, by_base = self._tables()
        first: str | None = None
        for stem in stems:
            first = stem if first is None else first
            found = by_stem.get(stem)
            if found is not None:
                return found
        return None if first is None else by_base.get(first.rsplit("/", 1)[-1])


def _suffix(uri: str) -> str:
    """``a/b.png`` → ``.png``; ``""`` for a name without one."""
    return uri[len(_strip_suffix(uri)) :]


def _strip_suffix(uri: str) -> str:
    head, sep, tail = uri.rpartition("/")
    name = tail.rsplit(".", 1)[0] if "." in tail.lstrip(".") else tail
    return f"{head}{sep}{name}"


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    message: str


class ImportInvalid(InvalidInput):
    """A source that cannot be imported: ``problems`` lists each place (file, line or record) and what was
    expected; the message repeats the first. Nothing of such an import is written."""

    def __init__(self, problems: list[Problem], *, more: int = 0) -> None:
        first = problems[0]
        extra = len(problems) - 1 + more
        suffix = f" (and {extra} more problem{'s' if extra != 1 else ''})" if extra else ""
        super().__init__(first.message + suffix, field=first.where)
        self.problems = problems
        self.more = more


class Problems:
    """Collect up to ``MAX_PROBLEMS`` problems, count the rest, raise them together."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.more = 0

    def add(self, where: str, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(where, message))
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ImportInvalid(self.items, more=self.more)


_OUTSIDE = "a symbolic link to outside the import folder (refused: only files inside it are read)"


def confined(path: Path, *, root: Path, problems: Problems) -> bool:
    """Whether ``path`` (a file or folder of the import) resolves inside ``root``; a symbolic link that
    leads out of it is a problem naming the link, so an import never reads, say, ``/etc/passwd``."""
    if Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root)):
        return True
    problems.add(str(path), _OUTSIDE)
    return False


def confined_files(top: Path, *, root: Path, problems: Problems, suffix: str | None = None) -> list[Path]:
    """The files under ``top`` (ending in ``suffix`` when given), sorted by path.

    Symbolic links, to files or folders, are followed while their target lies inside ``root``; one that
    leads outside is a problem naming it and is neither read nor entered. Each real folder is entered
    once, so a link loop ends."""
    found: list[Path] = []
    entered: set[str] = set()

    def visit(folder: Path) -> None:
        real = os.path.realpath(folder)
        if real in entered:
            return
        entered.add(real)
        with os.scandir(folder) as entries:
            listed = sorted(entries, key=lambda e: e.name)
        for entry in listed:
            path = folder / entry.name
            if entry.is_symlink() and not confined(path, root=root, problems=problems):
                continue
            if entry.is_dir():
                visit(path)
            elif entry.is_file() and (suffix is None or entry.name.endswith(suffix)):
                found.append(path)

    if confined(top, root=root, problems=problems) and top.is_dir():
        visit(top)
    return sorted(found)


@dataclass(slots=True)
class ParsedLabels:
    """Parsed, validated boxes: ``labels`` are ``LabelRow`` tuples (pixels, attributes as JSON text);
    ``files`` maps each source file read to its SHA-256; ``source_sha256`` names the whole
    source (the file itself, or for a folder SHA-256 over the sorted ``"<sha256>  <path>\\n"`` lines)."""

    format: str
    labels: list[LabelRow]
    files: dict[str, str]
    source_sha256: str
    images: int
    #: boxes moved onto the image edge because the source's rounding put them just past it (recorded in
    #: the import's audit event and its ``label_imports`` row)
    clipped: int = 0
    #: the source's own ids, kept for export (COCO: ``{"images": {uri: id}, "categories": {name: id}}``);
    #: stored on the import's ``label_imports`` row
    id_map: IdMap | None = None
    #: polygon, mask, keypoints and tag labels (``ShapeRow``), written after the boxes
    shapes: list[ShapeRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Labels of every kind."""
        return len(self.labels) + len(self.shapes)

    @staticmethod
    def folder_hash(files: dict[str, str]) -> str:
        lines = "".join(f"{sha}  {path}\n" for path, sha in sorted(files.items()))
        return sha256_bytes(lines.encode())


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """What the readers need of the version's schema: ``geometry`` per class name (every class, schema
    order), the keypoint names and 0-based skeleton of each keypoints class, and single/multi-label."""

    geometry: dict[str, str]
    keypoints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skeleton: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    multi_label: bool = False

    def of(self, geometry: str) -> set[str]:
        """The class names of one geometry."""
        return {name for name, g in self.geometry.items() if g == geometry}


@dataclass(frozen=True, slots=True)
class ExportLabel:
    """One live label; ``geometry_type``/``geometry`` as stored (``lineage.labels.geometry``)."""

    category: str
    x: float
    y: float
    w: float
    h: float
    attributes: dict[str, Any] | None = None
    geometry_type: str = "box"
    geometry: dict[str, Any] | None = None


@dataclass(slots=True)
class ExportData:
    """One version's live labels, per item; ``classes`` in schema order (index = YOLO class id), tag
    classes left out (they are in ``tags``)."""

    version_ref: str
    classes: list[str]
    items: list[ItemRef]
    labels: dict[int, list[ExportLabel]] = field(default_factory=dict)
    #: ids to keep (a COCO import's ``ParsedLabels.id_map``); ``None``: number images and classes afresh
    id_map: IdMap | None = None
    #: tag (classification) labels per item: class names in schema order
    tags: dict[int, list[str]] = field(default_factory=dict)
    #: the version's schema (None: no schema, every class a box class)
    schema: SchemaInfo | None = None


class AttributesRefused(ValueError):
    """Attributes that are not a JSON object or exceed the bounds; the message says which bound."""


def attributes_json(value: object) -> str:
    """The canonical JSON text of a label's attributes (keys sorted, as the database stores it).

    Raises ``AttributesRefused`` when ``value`` is not an object, nests deeper than
    ``MAX_ATTRIBUTE_DEPTH``, holds a string (or key) longer than ``MAX_ATTRIBUTE_STRING`` bytes, or its
    JSON exceeds ``MAX_ATTRIBUTES_BYTES``. The walk stops at the first breach, so a huge value costs no
    more than the bound to refuse."""
    if not isinstance(value, dict):
        raise AttributesRefused(f"expected attributes as a JSON object, got {_json_kind(value)}")
    budget = MAX_ATTRIBUTES_BYTES // 2  # every value or key takes at least two bytes of JSON
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise AttributesRefused(f"attributes larger than {MAX_ATTRIBUTES_BYTES // 1024} KiB of JSON")
        if isinstance(node, dict | list):
            if depth > MAX_ATTRIBUTE_DEPTH:
                raise AttributesRefused(f"attributes nest deeper than {MAX_ATTRIBUTE_DEPTH} levels")
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)
                stack.extend((child, depth + 1) for child in node.values())
            else:
                stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str) and len(node) * 4 > MAX_ATTRIBUTE_STRING:
            size = len(node.encode("utf-8", errors="surrogatepass"))
            if size > MAX_ATTRIBUTE_STRING:
                raise AttributesRefused(
                    f"an attribute string of {size} bytes (at most {MAX_ATTRIBUTE_STRING // 1024} KiB)"
                )
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:  # non-string keys of mixed types, NaN: not JSON
        raise AttributesRefused(f"attributes that are not plain JSON ({exc})") from None
    if len(text) > MAX_ATTRIBUTES_BYTES:
        raise AttributesRefused(f"attributes larger than {MAX_ATTRIBUTES_BYTES // 1024} KiB of JSON")
    return text


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def fmt_number(value: float) -> str:
    """An integer-valued float without its ``.0``; any other float as Python's shortest exact repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class FileWriter:
    """Writes an export's files on a few threads, in the order given; ``close`` (or the ``with`` block's end)
    waits for them all and raises the first failure.

    Creating a file costs far more than writing its bytes on a slow disk (300 to 900 µs each seen here), and
    a YOLO or VOC export of 100k images is 100k files: the threads overlap those waits (the bytes are made
    in the caller's thread; writing releases the GIL). At most ``backlog`` files wait in memory."""

    def __init__(self, *, threads: int = 8, backlog: int = 2048) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="labelgate-export-write")
        self._made: set[Path] = set()
        self._pending: deque[Future[int]] = deque()
        self._backlog = backlog

    def write(self, path: Path, data: bytes) -> None:
        parent = path.parent
        if parent not in self._made:
            parent.mkdir(parents=True, exist_ok=True)
            self._made.add(parent)
        self._pending.append(self._pool.submit(path.write_bytes, data))
        while len(self._pending) > self._backlog:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
