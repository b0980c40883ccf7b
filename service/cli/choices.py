"""The record's enumerations as the CLI offers them (``--state``, ``ROLE``, ``--meaning``).

Typer needs a parameter's choices when it builds the command tree, which ``--help`` does too; the record's own
enums live beside its SQL tables, whose import costs a second. These copies carry the same values (a test
compares them with ``lineage``'s) and a command converts to the record's enum when it runs.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LABEL_FORMATS", "MAX_DIFF_LIMIT", "Meaning", "Role", "RunState"]


class Role(StrEnum):
    """``lineage.models.Role``."""

    admin = "admin"
    ml_engineer = "ml_engineer"
    annotator = "annotator"
    reviewer = "reviewer"
    compliance_officer = "compliance_officer"
    ci = "ci"


class RunState(StrEnum):
    """``lineage.models.RunState``."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Meaning(StrEnum):
    """``lineage.release.four_eyes.Meaning``: what an electronic signature attests."""

    review = "review"
    approval = "approval"
    responsibility = "responsibility"


#: ``lineage.formats.FORMATS``: the label formats ``import`` and ``export`` take (checked again by the verb).
LABEL_FORMATS: tuple[str, ...] = (
    "coco",
    "yolo",
    "voc",
    "classes-folder",
    "classes-csv",
    "classes-json",
    "labelstudio",
    "cvat",
)

#: ``service.actions.diff.MAX_LIMIT``: the most changes ``labelgate diff --limit`` lists.
MAX_DIFF_LIMIT = 5_000
