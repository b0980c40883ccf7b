"""The images of a dataset version: scanning a source folder (hashed and measured), listing a version's
items, and reading an item's bytes exactly as the version committed them.

A scan reads each file once, for its SHA-256 (the item's identity), its md5 (its DVC object name) and its
size in pixels (Pillow). A file that *is* a cache object of an earlier version (the same inode: versions
hard-link their source files into the DVC cache) is not read again; that version's figures are reused
(``KnownImage``), so a next version of a folder where few images changed reads only those.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from lineage import progress
from lineage.datasets import dvcrepo
from lineage.errors import InvalidInput, NotFound
from lineage.models import DatasetVersion, Item

__all__ = ["IMAGE_EXTENSIONS", "KnownImage", "ScannedImage", "list_items", "read_item", "scan_images"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_CHUNK = 1 << 20  # bytes read at a time; a file no longer than this is measured from memory


@dataclass(frozen=True, slots=True)
class KnownImage:
    """What an earlier version recorded for a file it stored as a cache object (keyed by its inode)."""

    md5: str
    sha256: str
    size_bytes: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """One image of a source folder: ``uri`` is its POSIX path relative to the folder; sizes in pixels.

    ``location`` (``path``) is the file read (a link inside the folder is resolved), ``stat`` its status
    when read, ``md5`` its DVC object name; ``reused``: the figures came from an earlier version (not read).
    """

    uri: str
    location: str
    sha256: str
    size_bytes: int
    width: int
    height: int
    md5: str = ""
    stat: os.stat_result | None = None
    reused: bool = False

    @property
    def path(self) -> Path:
        return Path(self.location)


def scan_images(folder: Path, *, known: Mapping[tuple[int, int], KnownImage] | None = None) -> list[ScannedImage]:
    """Every image under ``folder`` (by extension, hidden files skipped), sorted by ``uri``.

    ``known`` ((st_dev, st_ino) -> figures): files that are these inodes, with the recorded size, are not
    read. A symbolic link is followed only when it leads to a place inside ``folder``; one that leads
    outside is refused (``InvalidInput`` naming it), as is a file with an image extension Pillow cannot read.
    """
    if not folder.is_dir():
        raise InvalidInput(f"no such folder: {folder}", field="source_dir")
    known = known or {}
    found: list[ScannedImage] = []
    with progress.phase("read the images") as reading:
        for uri, path, st in _image_files(folder):
            seen = known.get((st.st_dev, st.st_ino))
            if seen is not None and seen.size_bytes == st.st_size:
                found.append(
                    ScannedImage(uri, path, seen.sha256, st.st_size, seen.width, seen.height, seen.md5, st, True)
                )
            else:
                found.append(_read_image(uri, path))
            reading.advance()
    if not found:
        raise InvalidInput(
            f"no images in {folder} (expected files ending in {', '.join(sorted(IMAGE_EXTENSIONS))})",
            field="source_dir",
        )
    found.sort(key=lambda s: s.uri)
    return found


def _image_files(folder: Path) -> Iterator[tuple[str, str, os.stat_result]]:
    """(uri, path, status) of the image files under ``folder``, in no particular order.

    Links are resolved: one leading outside ``folder`` raises ``InvalidInput``; a linked folder inside is
    walked once (a link back up cannot loop)."""
    root = folder.resolve()
    walked = {root}
    pending: list[tuple[Path, str]] = [(folder, "")]
    while pending:
        here, prefix = pending.pop()
        with os.scandir(here) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                uri = prefix + entry.name
                is_image = os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
                if entry.is_symlink():
                    path, target = Path(entry.path), Path(entry.path).resolve()
                    if not (is_image or target.is_dir()):
                        continue
                    if not target.is_relative_to(root):
                        raise InvalidInput(
                            f"{uri} is a symbolic link to {target}, outside the source folder {folder}; "
                            "copy the file into the folder instead",
                            field=str(path),
                        )
                    if target.is_dir():
                        if target not in walked:
                            walked.add(target)
                            pending.append((target, uri + "/"))
                    elif target.is_file():
                        yield uri, str(target), target.stat()
                    else:
                        raise InvalidInput(f"{uri} is a broken symbolic link", field=str(path))
                elif entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), uri + "/"))
                elif is_image and entry.is_file(follow_symlinks=False):
                    yield uri, entry.path, entry.stat(follow_symlinks=False)


def _read_image(uri: str, path: str) -> ScannedImage:
    """Read ``path`` once: its md5 and SHA-256 together, and its size in pixels (Pillow)."""
    from PIL import Image, UnidentifiedImageError

    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        head = fh.read(_CHUNK)
        md5.update(head)
        sha.update(head)
        size = len(head)
        while chunk := fh.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    if size != st.st_size:
        raise InvalidInput(f"{uri} changed while it was read; run it again", field=str(path))
    try:
        with Image.open(io.BytesIO(head) if size <= _CHUNK else path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"not a readable image ({exc})", field=str(path)) from None
    return ScannedImage(uri, path, sha.hexdigest(), size, int(width), int(height), md5.hexdigest(), st)


def list_items(session: Session, *, version_id: int) -> list[Item]:
    stmt = select(Item).where(Item.dataset_version_id == version_id).order_by(col(Item.uri))
    return list(session.exec(stmt))


def read_item(*, repo_dir: Path, version: DatasetVersion, uri: str) -> bytes:
    """The bytes of item ``uri`` exactly as committed in ``version``: from the DVC cache through the
    version's committed ``.dir`` listing, else ``dvc.api.read`` at its revision (fetching from the remote)."""
    if version.git_revision is None or version.data_path is None:
        raise NotFound("this version has no committed content", field="version")
    return dvcrepo.read_tracked(repo_dir, version.data_path, uri, rev=version.git_revision)
