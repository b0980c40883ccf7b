"""The REST API: the app factory (``app``), its dependencies (``deps``: session, caller), ``middleware``,
``routes/`` (one module per resource) and ``schemas/`` (request and response bodies)."""

__all__ = ["app", "deps", "middleware", "routes", "schemas"]
