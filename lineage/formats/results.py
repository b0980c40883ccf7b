"""What an import or an export did (``lineage.formats.transfer``, ``lineage.formats.tool_import``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ExportResult", "ImportResult"]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did. ``status`` is ``imported``, or ``already_imported`` when the same source (same
    SHA-256) was imported into the version before: nothing was written and ``duplicate_of`` names it."""

    format: str
    version: str
    annotations: int
    images: int
    files: int
    source_sha256: str
    kind: str
    batches: int
    status: Literal["imported", "already_imported"] = "imported"
    import_id: int | None = None
    generation: int = 0
    clipped: int = 0
    duplicate_of: str | None = None
    #: a labelling tool's import (Label Studio, CVAT): units added/updated/skipped/deleted, tombstones and
    #: who the tool's authors are on the record (``lineage.labels.work.WorkResult``)
    work: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExportResult:
    format: str
    version: str
    path: str
    images: int
    annotations: int
