"""Reading a dataset version's images exactly as committed, and decoding them for the model.

Bytes come from the workspace's DVC cache through the version's committed ``.dir`` listing (the common
case; versions are never checked out), otherwise from DVC at the version's git revision (which fetches
from the remote). Either way the bytes are hashed and compared with ``Item.sha256``, so a label always
describes the bytes the version pins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.types import FloatArray, ItemRef
from lineage.datasets import dvcrepo

__all__ = ["FEATURE_SIDE", "ImageReadError", "VersionImages", "decode_bgr", "thumbnail_feature"]

# Side of the downsampled thumbnail used as a cheap appearance feature (side * side * 3 values).
FEATURE_SIDE = 8


class ImageReadError(Exception):
    """An item's bytes could not be read, did not match the recorded hash, or did not decode."""


@dataclass(frozen=True, slots=True)
class VersionLocation:
    repo_dir: Path
    git_revision: str
    data_path: str


class VersionImages:
    """The images of one dataset version. Not thread-safe: use one per thread or process."""

    def __init__(self, repo_dir: Path, *, git_revision: str, data_path: str) -> None:
        self.where = VersionLocation(repo_dir.resolve(), git_revision, data_path.strip("/"))
        self._fs: Any = None

    def read(self, ref: ItemRef) -> bytes:
        """The item's bytes; :class:`ImageReadError` when missing or when the hash differs."""
        where = self.where
        cached = dvcrepo.cached_bytes(
            where.repo_dir, where.data_path, ref.uri, rev=where.git_revision, drop_damaged=True
        )
        if cached is not None and hashlib.sha256(cached).hexdigest() == ref.sha256:
            return cached
        data = self._read_dvc(ref.uri)
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref.sha256:
            raise ImageReadError(f"{ref.uri}: content hash {digest[:12]}… differs from the recorded {ref.sha256[:12]}…")
        return data

    def _read_dvc(self, uri: str) -> bytes:
        if self._fs is None:
            import dvc.api

            dvcrepo.prepare_dvc_env(self.where.repo_dir)
            self._fs = dvc.api.DVCFileSystem(str(self.where.repo_dir), rev=self.where.git_revision)
        try:
            data: bytes = self._fs.read_bytes(f"{self.where.data_path}/{uri}")
        except Exception as exc:  # DVC raises many types; one message with the cause is what a person needs
            raise ImageReadError(f"{uri}: cannot read at revision {self.where.git_revision[:12]}: {exc}") from None
        return data

    def close(self) -> None:
        if self._fs is not None:
            close = getattr(self._fs, "close", None)
            if callable(close):
                close()
            self._fs = None


def decode_bgr(data: bytes, *, uri: str = "") -> np.ndarray:
    """Decode image bytes into an HxWx3 uint8 BGR array (what Ultralytics expects)."""
    import cv2

    # Ignore EXIF orientation: boxes must be in the pixel grid Pillow measured when the item was recorded.
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if arr is None:
        raise ImageReadError(f"{uri or 'image'}: not a decodable image")
    return np.asarray(arr, dtype=np.uint8)


def thumbnail_feature(bgr: np.ndarray, *, side: int = FEATURE_SIDE) -> FloatArray:
    """A cheap appearance feature: the image shrunk to ``side x side``, centred and L2-normalised."""
    import cv2

    small = cv2.resize(bgr, (side, side), interpolation=cv2.INTER_AREA).astype(np.float64).reshape(-1) / 255.0
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    result: FloatArray = small / norm if norm > 0 else small
    return result
