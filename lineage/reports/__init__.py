"""Regulatory reports rendered from the record (HTML): governance (EU AI Act Art. 10), audit trail (Part 11)."""

__all__ = ["html"]
