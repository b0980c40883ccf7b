"""Datasets and their versions (``catalog``: names and lookups; ``items``: images; ``states``: states and the
write guard; ``versions``: creating versions, state changes, release tags) and the git + DVC repository
that holds them (``dvcrepo``).

``lineage.labels`` builds on ``catalog`` and ``states``, and ``versions`` builds on ``lineage.labels``:
``catalog``, ``items`` and ``states`` therefore import nothing of ``lineage.labels`` and are imported here
before ``versions``.
"""

from lineage.datasets import dvcrepo
from lineage.datasets.catalog import (
    create_dataset,
    get_dataset,
    get_version,
    hidden_from,
    list_datasets,
    list_versions,
    release_tag_name,
    resolve_version,
    version_ref,
)
from lineage.datasets.items import IMAGE_EXTENSIONS, ScannedImage, list_items, read_item, scan_images
from lineage.datasets.states import ALLOWED_TRANSITIONS, WRITABLE_STATES, ensure_writable, refuse_write
from lineage.datasets.versions import change_state, create_version, release_version, tag_release

__all__ = [
    "ALLOWED_TRANSITIONS",
    "IMAGE_EXTENSIONS",
    "WRITABLE_STATES",
    "ScannedImage",
    "change_state",
    "create_dataset",
    "create_version",
    "dvcrepo",
    "ensure_writable",
    "get_dataset",
    "get_version",
    "hidden_from",
    "list_datasets",
    "list_items",
    "list_versions",
    "read_item",
    "refuse_write",
    "release_tag_name",
    "release_version",
    "resolve_version",
    "scan_images",
    "tag_release",
    "version_ref",
]
