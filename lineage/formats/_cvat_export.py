"""Write a version's live labels as one CVAT for images 1.1 task (``lineage.formats.cvat``'s export).

``meta/task`` lists every class as a CVAT label (``rectangle``, ``polygon``, ``mask``, ``points``, ``skeleton``
for a keypoints class with a skeleton, with its points as sublabels, ``tag``) and the attributes its labels
carry (``checkbox`` for true/false, ``number`` for numbers, ``text`` otherwise); every item is an
``<image>`` (``id`` its place in the version, ``name`` its path), in the version's order.

Shapes: boxes, polygons (a label of several parts becomes one ``<polygon>`` per part: CVAT's polygon has
one), keypoints (``<skeleton>`` for a class with a skeleton or any point unlabelled or of its own
visibility, else ``<points>``; a keypoint object's own box is not kept, CVAT has none), masks (CVAT's RLE
over the mask's box), tags. ``occluded``, ``z_order``, ``group_id`` and ``source`` come back from the
reserved ``cvat`` attribute; ``source`` else from ``made`` (``auto`` for a model's label). Attribute values
that are neither text, numbers nor true/false (the reserved ``made``, COCO's ``coco``) are left out.
Numbers are written exactly (shortest round-trip decimals), so the file reads back to the same labels.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from lineage.formats._cvat_shapes import CVAT_KEY, RESERVED, coco_to_cvat_rle
from lineage.formats.common import ExportData, ExportLabel, fmt_number
from lineage.formats.work import made_of

__all__ = ["export_cvat"]

_TYPES = {"box": "rectangle", "polygon": "polygon", "mask": "mask", "keypoints": "points", "tag": "tag"}
_SOURCES = ("manual", "semi-auto", "auto", "file", "consensus")


def _value(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return fmt_number(v)
    if isinstance(v, str):
        return v
    return None


def _kind(v: Any) -> str:
    return "checkbox" if isinstance(v, bool) else "number" if isinstance(v, int | float) else "text"


def _own_attributes(attributes: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, v in (attributes or {}).items():
        text = _value(v)
        if name not in RESERVED and text is not None:
            out[name] = text
    return out


def _specs(data: ExportData) -> dict[str, dict[str, list[Any]]]:
    """Per class, per attribute name, the values its labels carry."""
    out: dict[str, dict[str, list[Any]]] = {}
    for labels in data.labels.values():
        for lbl in labels:
            for name, v in (lbl.attributes or {}).items():
                if name not in RESERVED and _value(v) is not None:
                    out.setdefault(lbl.category, {}).setdefault(name, []).append(v)
    return out


def _spec_element(parent: ET.Element, name: str, values: list[Any]) -> None:
    kinds = {_kind(v) for v in values}
    kind = kinds.pop() if len(kinds) == 1 else "text"
    attr = ET.SubElement(parent, "attribute")
    if kind == "number":
        lo, hi = min(values), max(values)
        default, listed = fmt_number(lo), f"{fmt_number(lo)}\n{fmt_number(hi)}\n1"
    elif kind == "checkbox":
        default, listed = "false", "false"
    else:
        default, listed = "", ""
    for tag, text in (("name", name), ("mutable", "False"), ("input_type", kind), ("default_value", default)):
        ET.SubElement(attr, tag).text = text
    ET.SubElement(attr, "values").text = listed


def _label_elements(parent: ET.Element, data: ExportData) -> None:
    schema = data.schema
    geometry = dict(schema.geometry) if schema is not None else {c: "box" for c in data.classes}
    for name in data.classes:
        geometry.setdefault(name, "box")
    specs = _specs(data)
    for name, geom in geometry.items():
        label = ET.SubElement(parent, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "color").text = "#fa3253"
        skeleton = schema.skeleton.get(name) if schema is not None and geom == "keypoints" else None
        ET.SubElement(label, "type").text = "skeleton" if skeleton else _TYPES.get(geom, "any")
        attrs = ET.SubElement(label, "attributes")
        for attr_name, values in specs.get(name, {}).items():
            _spec_element(attrs, attr_name, values)
        if skeleton and schema is not None:
            ET.SubElement(label, "svg").text = "".join(
                f'<line data-type="edge" data-node-from="{a + 1}" data-node-to="{b + 1}"></line>' for a, b in skeleton
            )
            for point in schema.keypoints.get(name, ()):
                sub = ET.SubElement(parent, "label")
                for tag, text in (("name", point), ("color", "#fa3253"), ("type", "points"), ("parent", name)):
                    ET.SubElement(sub, tag).text = text
                ET.SubElement(sub, "attributes")


def _meta(root: ET.Element, data: ExportData, task_id: int, name: str | None, dumped: str | None) -> None:
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    fields = [("id", str(task_id)), ("name", name or data.version_ref), ("size", str(len(data.items)))]
    fields += [("mode", "annotation"), ("overlap", "0"), ("bugtracker", "")]
    if dumped:
        fields += [("created", dumped), ("updated", dumped)]
    fields += [("subset", "default"), ("start_frame", "0"), ("stop_frame", str(max(len(data.items) - 1, 0)))]
    for tag, text in fields:
        ET.SubElement(task, tag).text = text
    ET.SubElement(task, "frame_filter")
    ET.SubElement(task, "segments")
    ET.SubElement(task, "owner")
    ET.SubElement(task, "assignee")
    _label_elements(ET.SubElement(task, "labels"), data)


def _common(lbl: ExportLabel) -> dict[str, str]:
    cvat = (lbl.attributes or {}).get(CVAT_KEY)
    cvat = cvat if isinstance(cvat, dict) else {}
    made = made_of(lbl.attributes) or {}
    source = cvat.get("source") or made.get("source") or ("auto" if made.get("model_version") else "manual")
    out = {"label": lbl.category, "source": source if source in _SOURCES else "manual"}
    if lbl.geometry_type != "tag":
        out["occluded"] = "1" if cvat.get("occluded") else "0"
        out["z_order"] = str(int(cvat.get("z_order") or 0))
    if cvat.get("group_id"):
        out["group_id"] = str(int(cvat["group_id"]))
    return out


def _add_attributes(el: ET.Element, attributes: dict[str, Any] | None) -> None:
    for name, text in _own_attributes(attributes).items():
        ET.SubElement(el, "attribute", {"name": name}).text = text


def _points_text(points: list[list[float]] | list[tuple[float, float]]) -> str:
    return ";".join(f"{fmt_number(p[0])},{fmt_number(p[1])}" for p in points)


def _keypoints(image: ET.Element, lbl: ExportLabel, attrs: dict[str, str], data: ExportData) -> None:
    points = (lbl.geometry or {}).get("keypoints") or []
    schema = data.schema
    names = schema.keypoints.get(lbl.category, ()) if schema is not None else ()
    visibilities = {int(p[2]) for p in points}
    skeleton = bool(schema is not None and schema.skeleton.get(lbl.category)) or len(visibilities) != 1
    if not skeleton and 0 not in visibilities and len(names) == len(points):
        el = ET.SubElement(image, "points", {**attrs, "occluded": "1" if visibilities == {1} else "0"})
        el.set("points", _points_text(points))
        _add_attributes(el, lbl.attributes)
        return
    cvat = (lbl.attributes or {}).get(CVAT_KEY)
    elements = cvat.get("elements", {}) if isinstance(cvat, dict) else {}
    el = ET.SubElement(image, "skeleton", {k: v for k, v in attrs.items() if k != "occluded"})
    _add_attributes(el, lbl.attributes)
    for name, (x, y, v) in zip(names, points, strict=False):
        child = {"label": name, "source": attrs["source"], "outside": "1" if v == 0 else "0"}
        child |= {"occluded": "1" if v == 1 else "0", "points": _points_text([[x, y]])}
        point = ET.SubElement(el, "points", child)
        _add_attributes(point, elements.get(name))


def _shape(image: ET.Element, lbl: ExportLabel, data: ExportData) -> None:
    attrs = _common(lbl)
    geom = lbl.geometry or {}
    if lbl.geometry_type == "box":
        corners = {"xtl": lbl.x, "ytl": lbl.y, "xbr": lbl.x + lbl.w, "ybr": lbl.y + lbl.h}
        el = ET.SubElement(image, "box", {**attrs, **{k: fmt_number(v) for k, v in corners.items()}})
        _add_attributes(el, lbl.attributes)
    elif lbl.geometry_type == "polygon":
        for part in geom.get("polygons") or []:
            pairs = [(part[i], part[i + 1]) for i in range(0, len(part), 2)]
            el = ET.SubElement(image, "polygon", {**attrs, "points": _points_text(pairs)})
            _add_attributes(el, lbl.attributes)
    elif lbl.geometry_type == "mask":
        rle, left, top, w, h = coco_to_cvat_rle(geom["rle"], (lbl.x, lbl.y, lbl.w, lbl.h))
        fields = {"rle": rle, "left": str(left), "top": str(top), "width": str(w), "height": str(h)}
        el = ET.SubElement(image, "mask", {**attrs, **fields})
        _add_attributes(el, lbl.attributes)
    elif lbl.geometry_type == "keypoints":
        _keypoints(image, lbl, attrs, data)


def export_cvat(data: ExportData, *, task_id: int = 0, name: str | None = None, dumped: str | None = None) -> bytes:
    """The version as CVAT for images 1.1 XML (UTF-8). ``task_id``/``name``: the task the meta names
    (default 0 and the version's ref); ``dumped``: an ISO time written as the task's created, updated and
    dumped time (omitted by default, so the same version always gives the same bytes)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    _meta(root, data, task_id, name, dumped)
    if dumped:
        root[1].append(_dumped(dumped))
    for frame, item in enumerate(data.items):
        image = ET.SubElement(root, "image", {"id": str(frame), "name": item.uri})
        if item.width is not None and item.height is not None:
            image.set("width", str(item.width))
            image.set("height", str(item.height))
        for lbl in data.labels.get(item.id, []):
            _shape(image, lbl, data)
        for category in data.tags.get(item.id, []):
            ET.SubElement(image, "tag", {"label": category, "source": "manual"})
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"


def _dumped(when: str) -> ET.Element:
    el = ET.Element("dumped")
    el.text = when
    return el
