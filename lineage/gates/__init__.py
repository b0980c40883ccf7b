"""Gates on the record: stored policies, golden sets and gate evaluations of dataset versions."""

__all__ = ["records"]
