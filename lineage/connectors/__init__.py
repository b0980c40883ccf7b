"""Connectors to labelling tools that run as servers: labelgate pulls their work through the tool's own
client library (``labelstudio``: the official ``label-studio-sdk``), incrementally and idempotently, and
records it with ``lineage.labels.work.record_work``."""

from lineage.connectors.labelstudio import pull_labelstudio

__all__ = ["pull_labelstudio"]
