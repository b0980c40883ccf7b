"""The images of a dataset version: scanning a source folder (hashed and measured), listing a version's
items, and reading an item's bytes exactly as the version committed them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from lineage.datasets import dvcrepo
from lineage.errors import InvalidInput, NotFound
from lineage.models import DatasetVersion, Item

__all__ = ["IMAGE_EXTENSIONS", "ScannedImage", "list_items", "read_item", "scan_images"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """One image of a source folder: ``uri`` is its POSIX path relative to the folder; sizes in pixels."""

    uri: str
    path: Path
    sha256: str
    size_bytes: int
    width: int
    height: int


def scan_images(folder: Path) -> list[ScannedImage]:
    """Every image under ``folder`` (by extension, hidden files skipped), hashed and measured with Pillow."""
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        raise InvalidInput(f"no such folder: {folder}", field="source_dir")
    found: list[ScannedImage] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidInput(f"not a readable image ({exc})", field=str(path)) from None
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        found.append(ScannedImage(rel.as_posix(), path, digest, path.stat().st_size, int(width), int(height)))
    if not found:
        raise InvalidInput(
            f"no images in {folder} (expected files ending in {', '.join(sorted(IMAGE_EXTENSIONS))})",
            field="source_dir",
        )
    return found


def list_items(session: Session, *, version_id: int) -> list[Item]:
    stmt = select(Item).where(Item.dataset_version_id == version_id).order_by(col(Item.uri))
    return list(session.exec(stmt))


def read_item(*, repo_dir: Path, version: DatasetVersion, uri: str) -> bytes:
    """The bytes of item ``uri`` exactly as committed in ``version`` (``dvc.api.read`` at its revision)."""
    if version.git_revision is None or version.data_path is None:
        raise NotFound("this version has no committed content", field="version")
    return dvcrepo.read_bytes(repo_dir, f"{version.data_path}/{uri}", rev=version.git_revision)
