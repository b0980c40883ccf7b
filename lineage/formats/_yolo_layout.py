"""Where a YOLO source keeps its class names, label files and image lists (the layout; ``yolo`` reads lines).

Recognised layouts; every path, including those named inside the configuration files, is looked up among
the files of the import folder (symbolic links leading outside it are refused, see ``confined_files``), so
nothing outside the folder is ever read:

- **Ultralytics** (and Roboflow, CVAT "Ultralytics YOLO"): a dataset YAML at the top (``data.yaml``,
  ``data.yml``, ``dataset.yaml``, ``dataset.yml``, else the only ``*.yaml``/``*.yml`` there) with ``names``
  (a list, or ``{id: name}``), optionally ``nc`` (must agree with ``names``), ``path``, ``kpt_shape`` and
  ``train``/``val``/``test`` (folders, image-list ``.txt`` files, or lists of them). Label files lie
  under a ``labels`` folder mirroring ``images``: ``images/train/x.jpg`` → ``labels/train/x.txt``,
  Roboflow's ``train/images/x.jpg`` → ``train/labels/x.txt``. Label Studio writes ``classes.txt`` (one
  class per line) instead of a YAML.
- **Darknet** (and CVAT "YOLO 1.1", labelImg): ``obj.data`` (``classes =``, ``names =``, ``train =``,
  ``valid =``, ``test =``) and a names file (``obj.names``, else the only ``*.names``, else
  ``classes.txt``) with one class per line; ``train.txt``/``valid.txt`` list images; each label file lies
  next to its image (``obj_train_data/x.jpg`` + ``obj_train_data/x.txt``).

A path named in a configuration file is tried as written (relative to YAML's ``path`` when that lies inside
the folder, then to the folder), then without its leading folders one by one: Darknet's ``data/`` prefix,
Roboflow's ``../`` and absolute paths of the machine that wrote the files all resolve this way.

Label files: when the folder has a ``labels`` folder anywhere, the ``.txt`` files under ``labels``
folders; otherwise every ``.txt`` file except the class-name file, image lists (those named in the
configuration and top-level ``train``/``val``/``valid``/``test``/``trainval.txt``), ``classes.txt`` and
top-level ``README*.txt``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineage.datasets.items import IMAGE_EXTENSIONS
from lineage.formats.common import Problems, confined_files, sha256_bytes

__all__ = ["YoloLayout", "find_layout", "image_stems", "label_stems"]

_YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
_LIST_NAMES = frozenset({"train.txt", "val.txt", "valid.txt", "test.txt", "trainval.txt"})
_SPLIT_KEYS = ("train", "val", "test", "minival")
_DARKNET_LISTS = ("train", "valid", "test")


@dataclass(slots=True)
class YoloLayout:
    """A YOLO source's layout; paths are relative to the import folder, ``/``-separated."""

    names: dict[int, str] = field(default_factory=dict)
    #: the file that names the classes (for problems: ``<file>: names[3]``)
    names_file: str = "data.yaml"
    label_files: list[str] = field(default_factory=list)
    image_files: list[str] = field(default_factory=list)
    #: image lists read: ``{list file: [(line number, image path as written), ...]}``
    lists: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    #: SHA-256 of each configuration and list file read
    meta: dict[str, str] = field(default_factory=dict)
    #: ``kpt_shape`` of a pose dataset's YAML (to recognise keypoint lines)
    kpt_shape: tuple[int, int] | None = None


def find_layout(root: Path, problems: Problems) -> YoloLayout:
    """The layout of the YOLO folder ``root``; what is missing or malformed is added to ``problems``."""
    found = confined_files(root, root=root, problems=problems)
    rels = [p.relative_to(root).as_posix() for p in found]
    files = set(rels)
    top = sorted(r for r in rels if "/" not in r)
    layout = YoloLayout()
    list_refs: list[tuple[str, str]] = []  # (list file as written, base folder)
    yaml_rel = _dataset_yaml(top, root, problems)
    if yaml_rel is not None:
        list_refs = _read_yaml(root, yaml_rel, layout, problems)
    elif _darknet_data(top) is not None:
        list_refs = _read_darknet(root, _darknet_data(top) or "", files, top, layout, problems)
    elif (names_rel := _names_file(top)) is not None:
        _read_names_file(root, names_rel, layout, problems)
    else:
        problems.add(
            str(root / "data.yaml"),
            "missing data.yaml (Ultralytics: `names:` listing the classes) or obj.names / obj.data / classes.txt "
            "(Darknet: one class per line)",
        )
    for written, base in list_refs:
        rel = resolve(written, files, base=base)
        if rel is not None and rel.endswith(".txt") and rel not in layout.lists:
            _read_list(root, rel, layout)
    excluded = set(layout.meta) | _LIST_NAMES
    txt = [
        r
        for r in rels
        if r.endswith(".txt")
        and r not in excluded
        and r.rsplit("/", 1)[-1] != "classes.txt"
        and not ("/" not in r and r.upper().startswith("README"))
    ]
    in_labels = [r for r in txt if "labels" in r.split("/")[:-1]]
    layout.label_files = in_labels if in_labels or (root / "labels").is_dir() else txt
    layout.image_files = [r for r in rels if posixpath.splitext(r)[1].lower() in IMAGE_EXTENSIONS]
    if not layout.label_files and not layout.lists and not (root / "labels").is_dir() and not problems:
        problems.add(
            str(root / "labels"),
            "missing labels/ folder (Ultralytics: labels/<path>.txt per image; Darknet: a .txt next to each image)",
        )
    return layout


def resolve(written: str, files: set[str], *, base: str = "") -> str | None:
    """The file of the import folder that ``written`` (a path in a configuration file) names, if any."""
    path = written.strip().replace("\\", "/")
    if not path:
        return None
    if not path.startswith("/") and ":" not in path.split("/", 1)[0]:
        for folder in dict.fromkeys((base, "")):
            candidate = posixpath.normpath(posixpath.join(folder, path))
            if candidate in files:
                return candidate
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    for start in range(len(parts)):
        candidate = "/".join(parts[start:])
        if candidate in files:
            return candidate
    return None


def label_stems(rel_stem: str) -> list[str]:
    """Image paths (without extension) that the label file ``rel_stem`` (``.txt`` removed) may belong to,
    best first: Ultralytics' ``labels`` → ``images`` swap, the path without its ``labels`` folder, then
    without leading folders one by one."""
    parts = rel_stem.split("/")
    folders = parts[:-1]
    if "labels" in folders:
        at = len(folders) - 1 - folders[::-1].index("labels")
        variants = [[*parts[:at], "images", *parts[at + 1 :]], [*parts[:at], *parts[at + 1 :]]]
    else:
        variants = [parts]
    return _suffixes(variants)


def image_stems(rel: str) -> list[str]:
    """Item paths (without extension) that an image file or image-list entry ``rel`` may be, best first."""
    parts = [p for p in posixpath.splitext(rel.replace("\\", "/"))[0].split("/") if p not in ("", ".", "..")]
    folders = parts[:-1]
    variants = [parts]
    if "images" in folders:
        at = len(folders) - 1 - folders[::-1].index("images")
        variants.append([*parts[:at], *parts[at + 1 :]])
    return _suffixes(variants)


def _suffixes(variants: list[list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for parts in variants:
        for start in range(len(parts)):
            seen.setdefault("/".join(parts[start:]))
    return list(seen)


def _dataset_yaml(top: list[str], root: Path, problems: Problems) -> str | None:
    for name in _YAML_NAMES:
        if name in top:
            return name
    others = [r for r in top if r.endswith((".yaml", ".yml"))]
    if len(others) > 1:
        problems.add(
            str(root),
            f"several YAML files ({', '.join(others)}) and none is data.yaml: name the dataset's one data.yaml",
        )
    return others[0] if len(others) == 1 else None


def _darknet_data(top: list[str]) -> str | None:
    if "obj.data" in top:
        return "obj.data"
    others = [r for r in top if r.endswith(".data")]
    return others[0] if len(others) == 1 else None


def _names_file(top: list[str]) -> str | None:
    if "obj.names" in top:
        return "obj.names"
    others = [r for r in top if r.endswith(".names")]
    if len(others) == 1:
        return others[0]
    return "classes.txt" if "classes.txt" in top else None


def _read_yaml(root: Path, rel: str, layout: YoloLayout, problems: Problems) -> list[tuple[str, str]]:
    import yaml

    path = root / rel
    raw = path.read_bytes()
    layout.names_file = rel
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problems.add(where, f"malformed YAML ({getattr(exc, 'problem', None) or exc})")
        return []
    layout.meta[rel] = sha256_bytes(raw)
    if not isinstance(doc, dict):
        problems.add(str(path), "expected a mapping with `names:` listing the classes")
        return []
    names = _yaml_names(doc.get("names"))
    if names is None:
        problems.add(f"{path}: names", "expected `names` as a list of class names or a {id: name} mapping")
        return []
    layout.names = names
    nc = doc.get("nc")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc != len(names)):
        problems.add(f"{path}: nc", f"nc is {nc!r} but names lists {len(names)} classes")
    shape = doc.get("kpt_shape")
    if shape is not None:
        # Ultralytics reads D=2 as ``x y`` and D=3 as ``x y v``; any other shape would misread every pose line.
        if (
            isinstance(shape, list)
            and len(shape) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
            and shape[0] > 0
            and shape[1] in (2, 3)
        ):
            layout.kpt_shape = (shape[0], shape[1])
        else:
            problems.add(
                f"{path}: kpt_shape",
                f"expected kpt_shape [K, D] with K > 0 points and D = 2 (x y) or 3 (x y v), got {shape!r}",
            )
    base = doc.get("path")
    folder = ""
    if isinstance(base, str) and base.strip():
        normal = posixpath.normpath(base.strip().replace("\\", "/"))
        if not normal.startswith(("/", "..")) and normal != ".":
            folder = normal
    refs: list[tuple[str, str]] = []
    for key in _SPLIT_KEYS:
        value = doc.get(key)
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, str) and entry.strip().endswith(".txt"):
                refs.append((entry, folder))
    return refs


def _yaml_names(names: Any) -> dict[int, str] | None:
    # Ultralytics turns ``names: [1, 2]`` into the strings "1", "2"; other scalars are ambiguous.
    def name(v: Any) -> str | None:
        return v if isinstance(v, str) else str(v) if isinstance(v, int) and not isinstance(v, bool) else None

    if isinstance(names, list):
        listed = [name(v) for v in names]
        return None if any(v is None for v in listed) else {i: v for i, v in enumerate(listed) if v is not None}
    if isinstance(names, dict):
        out: dict[int, str] = {}
        for key, value in names.items():
            text = name(value)
            if isinstance(key, str) and key.strip().isdigit():
                key = int(key)
            if not isinstance(key, int) or isinstance(key, bool) or text is None:
                return None
            out[key] = text
        return out
    return None


def _read_darknet(
    root: Path, rel: str, files: set[str], top: list[str], layout: YoloLayout, problems: Problems
) -> list[tuple[str, str]]:
    path = root / rel
    raw = path.read_bytes()
    layout.meta[rel] = sha256_bytes(raw)
    conf: dict[str, tuple[str, int]] = {}
    for lineno, line in enumerate(raw.decode("utf-8-sig", errors="replace").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        key, sep, value = text.partition("=")
        if not sep:
            problems.add(f"{path}:{lineno}", f"expected `key = value`, got {text!r}")
            continue
        conf[key.strip()] = (value.strip(), lineno)
    names_rel = resolve(conf["names"][0], files) if "names" in conf else None
    if names_rel is None and "names" in conf:
        fallback = _names_file(top)
        if fallback is None:
            written, lineno = conf["names"]
            problems.add(f"{path}:{lineno}", f"names file {written!r} is not in the import folder")
            return []
        names_rel = fallback
    names_rel = names_rel or _names_file(top)
    if names_rel is None:
        problems.add(str(path), "expected `names = <file>` naming the class-names file (or an obj.names beside it)")
        return []
    _read_names_file(root, names_rel, layout, problems)
    if "classes" in conf and layout.names:
        written, lineno = conf["classes"]
        if not written.isdigit() or int(written) != len(layout.names):
            problems.add(f"{path}:{lineno}", f"classes = {written} but {names_rel} names {len(layout.names)} classes")
    return [(conf[k][0], "") for k in _DARKNET_LISTS if k in conf]


def _read_names_file(root: Path, rel: str, layout: YoloLayout, problems: Problems) -> None:
    path = root / rel
    raw = path.read_bytes()
    layout.meta[rel] = sha256_bytes(raw)
    layout.names_file = rel
    lines = [line.strip() for line in raw.decode("utf-8-sig", errors="replace").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    for lineno, name in enumerate(lines, start=1):
        if not name:
            problems.add(f"{path}:{lineno}", "empty class name (expected one class name per line)")
    layout.names = dict(enumerate(lines))


def _read_list(root: Path, rel: str, layout: YoloLayout) -> None:
    raw = (root / rel).read_bytes()
    layout.meta[rel] = sha256_bytes(raw)
    entries: list[tuple[int, str]] = []
    for lineno, line in enumerate(raw.decode("utf-8-sig", errors="replace").splitlines(), start=1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            entries.append((lineno, entry))
    layout.lists[rel] = entries
