"""``labelgate demo``: the story (``story``), its tamper-and-detect coda (``integrity``) and the synthetic
scenario it is built on (``scenario``)."""

__all__ = ["integrity", "scenario", "story"]
