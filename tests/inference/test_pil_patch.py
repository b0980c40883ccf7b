"""Ultralytics patches PIL.Image.open process-wide; labelgate puts PIL's own back so that the rest of the
record (image scans during version creation) keeps PIL's errors in a process that also auto-labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, UnidentifiedImageError

from inference.ultra import prepare_offline


def test_unreadable_image_raises_pils_error_after_ultralytics_is_loaded(tmp_path: Path) -> None:
    prepare_offline()
    import ultralytics.utils.patches  # noqa: F401  (the module that patches Image.open on import)

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(UnidentifiedImageError):
        Image.open(bad)
