"""Typed COCO records for msgspec's decoder (the fast path of ``lineage.formats.coco``).

Only annotations are typed: a million of them decode without a dict each; ``gc=False`` because they
hold no references that could form a cycle. Images and categories stay plain dicts (few, checked one by
one). Unknown fields (``segmentation``, ...) are skipped by the decoder. The types are as strict as the
slow path's checks or stricter (msgspec refuses a bool or string for ``iscrowd``, a list for ``attributes``);
values they admit but the slow path refuses (``iscrowd: 2``, a negative ``area``) are checked in the loop.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["DECODER", "Annotation", "Document"]


class Annotation(msgspec.Struct, gc=False):
    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    iscrowd: int = 0
    area: int | float | None = None
    attributes: dict[str, Any] | None = None


class Document(msgspec.Struct):
    images: list[dict[str, Any]]
    annotations: list[Annotation]
    categories: list[dict[str, Any]]


DECODER = msgspec.json.Decoder(Document)
