"""What a label schema version says, without the database: its classes, their geometry, the schema's options,
the task they make, the content hash and the diff between two versions.

A class is ``{name, description, attributes, geometry[, keypoints]}``; ``geometry`` is one of ``box``,
``polygon``, ``mask`` (COCO RLE, crowd included), ``keypoints`` (then ``keypoints`` gives the point names, the
skeleton and the per-point OKS sigmas), ``point`` or ``tag`` (an image-level class: classification). A
schema's **options** say whether its tags are single-label (one class per labelled item and source, the
default) or multi-label.

The **task** of a schema follows from its classes (:func:`schema_task`): all ``tag`` → ``classify``; all
``polygon``/``mask`` → ``segment``; all ``keypoints`` → ``pose``; anything else → ``detect`` (every geometry
but ``tag`` has a box).

The **content hash** of a version::

    content_hash = SHA-256( canonical_json_nonfinite(classes) )                       default options
    content_hash = SHA-256( canonical_json_nonfinite({"classes": ..., "options": ...}) )  otherwise

with ``canonical_json_nonfinite`` (``lineage.hashing``) = compact, key-sorted, UTF-8 JSON that writes NaN
and ±Infinity rather than refusing them (a class's attribute specs may come from YAML, where ``.inf`` is a
number), no domain tag (the hash predates them), and a class's unset ``keypoints`` left out, so versions
published before keypoints and options existed keep their hashes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lineage.errors import InvalidInput
from lineage.hashing import NO_DOMAIN, canonical_json_nonfinite, digest_bytes

__all__ = [
    "GEOMETRY_TASKS",
    "GeometryType",
    "KeypointSpec",
    "LabelClass",
    "SchemaDiff",
    "SchemaOptions",
    "Task",
    "classes_hash",
    "diff_classes",
    "parse_classes",
    "parse_schema",
    "schema_hash",
    "schema_task",
]

GeometryType = Literal["box", "polygon", "mask", "keypoints", "point", "tag"]
Task = Literal["detect", "segment", "pose", "classify"]

#: The task a class of each geometry belongs to (a schema whose classes disagree is a detection schema).
GEOMETRY_TASKS: dict[str, Task] = {
    "box": "detect",
    "point": "detect",
    "polygon": "segment",
    "mask": "segment",
    "keypoints": "pose",
    "tag": "classify",
}


class KeypointSpec(BaseModel):
    """The points of a ``keypoints`` class.

    names: the K point names, in the order the labels list them. skeleton (()): pairs of 0-based point
    indices drawn as lines. sigmas: K positive OKS sigmas (COCO person: 0.026 for the nose … 0.089 for the
    ankles), the per-point tolerance of keypoint gates.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: tuple[str, ...] = Field(min_length=1, max_length=1000)
    skeleton: tuple[tuple[int, int], ...] = ()
    sigmas: tuple[float, ...]

    @model_validator(mode="after")
    def _consistent(self) -> KeypointSpec:
        k = len(self.names)
        for i, name in enumerate(self.names):
            if not name or name != name.strip() or len(name) > 100:
                raise ValueError(f"point name {i} must be 1-100 characters without surrounding spaces, got {name!r}")
        if len(set(self.names)) != k:
            dup = next(n for n in self.names if self.names.count(n) > 1)
            raise ValueError(f"point name {dup!r} appears twice")
        if len(self.sigmas) != k:
            raise ValueError(f"{len(self.sigmas)} sigmas for {k} points: give one OKS sigma per point")
        for i, s in enumerate(self.sigmas):
            if not (math.isfinite(s) and s > 0):
                raise ValueError(f"sigma {i} ({self.names[i]!r}) must be a positive finite number, got {s!r}")
        for a, b in self.skeleton:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise ValueError(f"skeleton edge ({a}, {b}) must join two different points among 0..{k - 1}")
        return self


class LabelClass(BaseModel):
    """One class. ``attributes`` maps an attribute name to its spec (free-form JSON, e.g. ``{"type": "bool"}``);
    ``keypoints`` is required for, and only allowed on, a ``keypoints`` class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    attributes: dict[str, Any] = Field(default_factory=dict)
    geometry: GeometryType = "box"
    keypoints: KeypointSpec | None = None

    @model_validator(mode="after")
    def _keypoints_iff_keypoint_geometry(self) -> LabelClass:
        if self.geometry == "keypoints" and self.keypoints is None:
            raise ValueError("a keypoints class needs 'keypoints': {names, skeleton, sigmas}")
        if self.geometry != "keypoints" and self.keypoints is not None:
            raise ValueError(f"'keypoints' is only for keypoints classes, not {self.geometry}")
        return self

    def definition(self) -> dict[str, Any]:
        """Everything but the name: two classes with equal definitions and different names are a rename."""
        out = {"description": self.description, "attributes": self.attributes, "geometry": self.geometry}
        if self.keypoints is not None:
            out["keypoints"] = self.keypoints.model_dump()
        return out

    def stored(self) -> dict[str, Any]:
        """The class as a schema version stores and hashes it (unset ``keypoints`` left out)."""
        return self.model_dump(exclude_none=True)


class SchemaOptions(BaseModel):
    """Options of a schema version. multi_label (False): an item may carry several ``tag`` classes."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    multi_label: bool = False

    def stored(self) -> dict[str, Any] | None:
        """The options as stored: None when all are defaults (as versions published before options)."""
        dumped = self.model_dump(exclude_defaults=True)
        return dumped or None


def classes_hash(classes: list[LabelClass]) -> str:
    """The content hash of a version with default options (see the module doc)."""
    return digest_bytes(NO_DOMAIN, canonical_json_nonfinite([c.stored() for c in classes]))


def schema_hash(classes: list[LabelClass], options: SchemaOptions) -> str:
    """A schema version's content hash: classes and, when any is set, options (see the module doc)."""
    stored = options.stored()
    if stored is None:
        return classes_hash(classes)
    body = {"classes": [c.stored() for c in classes], "options": stored}
    return digest_bytes(NO_DOMAIN, canonical_json_nonfinite(body))


def schema_task(classes: list[LabelClass]) -> Task:
    """The task the classes make: one shared geometry family decides it; a mixture is ``detect``."""
    tasks = {GEOMETRY_TASKS[c.geometry] for c in classes}
    return tasks.pop() if len(tasks) == 1 else "detect"


def parse_classes(raw: Any, *, source: str = "classes") -> list[LabelClass]:
    """Validate a list of class dicts (or ``{"classes": [...]}``); errors name ``source[i].field``."""
    if isinstance(raw, dict) and set(raw) == {"classes"}:
        raw = raw["classes"]
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("expected a non-empty list of classes", field=source)
    classes: list[LabelClass] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        where = f"{source}[{i}]"
        try:
            cls = LabelClass.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidInput(msg, field=f"{where}.{loc}" if loc else where) from None
        if cls.name != cls.name.strip():
            raise InvalidInput("class names may not start or end with spaces", field=f"{where}.name")
        if cls.name in seen:
            raise InvalidInput(
                f"duplicate class name {cls.name!r} (also {source}[{seen[cls.name]}])", field=f"{where}.name"
            )
        seen[cls.name] = i
        classes.append(cls)
    return classes


def parse_schema(raw: Any, *, source: str = "classes") -> tuple[list[LabelClass], SchemaOptions]:
    """A schema file: a list of classes, or ``{"classes": [...], "multi_label": bool}``."""
    options = SchemaOptions()
    if isinstance(raw, dict) and "classes" in raw:
        extra = set(raw) - {"classes", "multi_label"}
        if extra:
            raise InvalidInput(
                f"unknown key {sorted(extra)[0]!r}; a schema has 'classes' and 'multi_label'", field=source
            )
        if "multi_label" in raw:
            if not isinstance(raw["multi_label"], bool):
                raise InvalidInput(f"must be true or false, got {raw['multi_label']!r}", field=f"{source}.multi_label")
            options = SchemaOptions(multi_label=raw["multi_label"])
        raw = raw["classes"]
    classes = parse_classes(raw, source=source)
    if options.multi_label and schema_task(classes) != "classify":
        raise InvalidInput(
            "multi_label is for classification schemas (every class a 'tag')", field=f"{source}.multi_label"
        )
    return classes, options


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    """What changed from ``old`` to ``new``.

    ``renamed``: a class of ``old`` missing by name from ``new`` whose definition (description, attributes,
    geometry, keypoints) equals a new name's; a bare definition (no description, no attributes) identifies
    nothing, so such a pair counts as a rename only when it keeps its position in the list;
    ``redefined``: same name, different definition (``fields`` says which: a geometry change names
    ``geometry``, a change of points, skeleton or sigmas names ``keypoints``);
    ``reordered``: the names both versions keep appear in another order (YOLO indices change);
    ``options``: changed schema options, ``{name: {"before", "after"}}``.
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    redefined: list[dict[str, Any]] = field(default_factory=list)
    reordered: bool = False
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.redefined or self.reordered or self.options)

    def as_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "changed": self.changed}
        if not self.options:
            del out["options"]  # diffs stored before options existed have no such key
        return out


_DEFINITION_FIELDS = ("description", "attributes", "geometry", "keypoints")


def diff_classes(
    old: list[LabelClass],
    new: list[LabelClass],
    *,
    old_options: SchemaOptions | None = None,
    new_options: SchemaOptions | None = None,
) -> SchemaDiff:
    old_by = {c.name: c for c in old}
    new_by = {c.name: c for c in new}
    gone = [c for c in old if c.name not in new_by]
    fresh = [c for c in new if c.name not in old_by]
    renamed: list[dict[str, str]] = []
    unmatched_fresh = list(fresh)
    old_pos = {c.name: i for i, c in enumerate(old)}
    new_pos = {c.name: i for i, c in enumerate(new)}
    for c in gone:
        match = next(
            (
                f
                for f in unmatched_fresh
                if canonical_json_nonfinite(f.definition()) == canonical_json_nonfinite(c.definition())
                and (c.description or c.attributes or old_pos[c.name] == new_pos[f.name])
            ),
            None,
        )
        if match is not None:
            renamed.append({"from": c.name, "to": match.name})
            unmatched_fresh.remove(match)
    renamed_from = {r["from"] for r in renamed}
    redefined = []
    for name, before in old_by.items():
        after = new_by.get(name)
        if after is None or before == after:
            continue
        fields = [k for k in _DEFINITION_FIELDS if getattr(before, k) != getattr(after, k)]
        redefined.append({"name": name, "fields": fields, "before": before.definition(), "after": after.definition()})
    kept_old = [c.name for c in old if c.name in new_by]
    kept_new = [c.name for c in new if c.name in old_by]
    a, b = old_options or SchemaOptions(), new_options or SchemaOptions()
    options = {
        k: {"before": getattr(a, k), "after": getattr(b, k)}
        for k in SchemaOptions.model_fields
        if getattr(a, k) != getattr(b, k)
    }
    return SchemaDiff(
        added=[c.name for c in unmatched_fresh],
        removed=[c.name for c in gone if c.name not in renamed_from],
        renamed=renamed,
        redefined=redefined,
        reordered=kept_old != kept_new,
        options=options,
    )
