"""Request and response bodies of the REST API: ``common`` (shared types and the request base model),
``lineage`` (schemas, datasets, versions, annotations), ``gates`` (policies, evaluations, releases) and
``inference`` (models, runs, calibrations, the review queue)."""

__all__ = ["common", "gates", "inference", "lineage"]
