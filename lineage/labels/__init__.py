"""Labels on the record: the live label set and its manifest (``labelset``), adding and correcting labels
with their provenance (``annotations``), reviews (``reviews``), labels a child version inherits
(``inheritance``), import bookkeeping (``imports``) and who a label may be attributed to (``attribution``).

The verbs and queries of the first four are re-exported here.
"""

from lineage.labels.annotations import (
    EDGE_EPS,
    MAX_BATCH,
    BoxChange,
    NewLabel,
    Provenance,
    add_annotations,
    check_box,
    correct_annotation,
    model_provenance,
    schema_class_names,
)
from lineage.labels.inheritance import inherit_labels
from lineage.labels.labelset import (
    ANNOTATION_COLUMNS,
    DELETED,
    MANIFEST_DOMAIN,
    count_live,
    get_annotation,
    list_live,
    live_labels,
    manifest_hash,
    mark_stale,
    refresh_manifest,
    seal_row,
    seal_rows,
)
from lineage.labels.reviews import review_annotation

__all__ = [
    "ANNOTATION_COLUMNS",
    "DELETED",
    "EDGE_EPS",
    "MANIFEST_DOMAIN",
    "MAX_BATCH",
    "BoxChange",
    "NewLabel",
    "Provenance",
    "add_annotations",
    "annotations",
    "attribution",
    "check_box",
    "correct_annotation",
    "count_live",
    "get_annotation",
    "imports",
    "inherit_labels",
    "inheritance",
    "labelset",
    "list_live",
    "live_labels",
    "manifest_hash",
    "mark_stale",
    "model_provenance",
    "refresh_manifest",
    "review_annotation",
    "reviews",
    "schema_class_names",
    "seal_row",
    "seal_rows",
]
