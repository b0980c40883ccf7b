"""The audit log: the hash chain (``chain``: append, record rows), row digests (``rowdigest``), signed
checkpoints (``checkpoints``), reading it (``query``), and verifying it: the chain alone (``verify``), the
chain against every checkpoint (``whole``), and the domain rows against their events (``deep``)."""

__all__ = ["chain", "checkpoints", "deep", "query", "rowdigest", "verify", "whole"]
