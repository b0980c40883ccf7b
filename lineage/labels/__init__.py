"""Labels on the record: annotations with their provenance (add, correct, review, inherit), import
bookkeeping (``imports``) and who a label may be attributed to (``attribution``)."""

__all__ = ["annotations", "attribution", "imports"]
