"""COCO, Ultralytics YOLO and Pascal VOC: import into a dataset version, export any version back."""

from lineage.formats.common import ImportInvalid
from lineage.formats.transfer import FORMATS, ExportResult, ImportResult, export_version, import_annotations

__all__ = ["FORMATS", "ExportResult", "ImportInvalid", "ImportResult", "export_version", "import_annotations"]
