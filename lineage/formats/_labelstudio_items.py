"""Which item of the version a Label Studio task's image is.

A task names its image as Label Studio stores it: the path the version has (``images/a.jpg``), a URL or
cloud path that ends in it (``s3://bucket/images/a.jpg``, ``http://host/data/images/a.jpg``), a local-files
link (``/data/local-files/?d=images/a.jpg``) or an upload, which Label Studio renames with an 8-hex-digit
prefix (``/data/upload/3/1a2b3c4d-a.jpg``). Matched in that order: the uri exactly; else the longest tail
of its path (``bucket/images/a.jpg``, ``images/a.jpg``, ``a.jpg``) that names one item; else, for an upload
name, the same without its prefix. A tail that names several items and no longer one that names a single
item is ambiguous: refused, naming them.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from lineage.formats.common import ItemIndex, ItemRef

__all__ = ["ItemMatcher"]

_UPLOAD = re.compile(r"^[0-9a-f]{8}-(.+)$")


class ItemMatcher:
    """Resolve task image uris against an :class:`ItemIndex` (tails built on the first miss)."""

    def __init__(self, items: ItemIndex) -> None:
        self.items = items
        self._tails: dict[str, list[ItemRef]] | None = None

    def _tail_index(self) -> dict[str, list[ItemRef]]:
        if self._tails is None:
            tails: dict[str, list[ItemRef]] = {}
            for uri, item in self.items.by_uri.items():
                parts = uri.strip("/").split("/")
                for k in range(len(parts)):
                    tails.setdefault("/".join(parts[k:]), []).append(item)
            self._tails = tails
        return self._tails

    def match(self, uri: str) -> ItemRef | str:
        """The item ``uri`` names, or a message saying why none (not found, or ambiguous)."""
        found = self.items.by_uri.get(uri)
        if found is not None:
            return found
        parts = _path_parts(uri)
        if not parts:
            return f"image {uri!r} names no file"
        tails = self._tail_index()
        ambiguous: list[ItemRef] | None = None
        for k in range(len(parts)):
            hits = tails.get("/".join(parts[k:]))
            if hits is None:
                continue
            if len(hits) == 1:
                return hits[0]
            ambiguous = ambiguous or hits
        upload = _UPLOAD.match(parts[-1])
        if ambiguous is None and upload is not None:
            hits = tails.get(upload.group(1))
            if hits is not None and len(hits) == 1:
                return hits[0]
            ambiguous = hits
        if ambiguous:
            names = ", ".join(sorted(i.uri for i in ambiguous)[:5])
            more = f" and {len(ambiguous) - 5} more" if len(ambiguous) > 5 else ""
            return f"image {uri!r} matches several items of {self.items.version_ref} ({names}{more})"
        return f"image {uri!r} is not an item of {self.items.version_ref}"


def _path_parts(uri: str) -> list[str]:
    """The path components of a task's image reference (a URL's host kept: an s3 bucket is one)."""
    split = urlsplit(uri)
    path = split.path
    if "local-files" in path and split.query:
        given = parse_qs(split.query).get("d")
        if given:
            path = given[0]
    elif split.scheme in ("s3", "gs", "azure-blob", "minio") and split.netloc:
        path = f"{split.netloc}/{path}"
    return [unquote(p) for p in path.split("/") if p and p not in (".", "..")]
