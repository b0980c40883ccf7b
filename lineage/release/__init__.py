"""Releasing a dataset version: electronic signatures under four-eyes (``approvals``), the release itself
(``releases``), the signed evidence bundle (``bundle``) and re-deriving a release from the record (``check``)."""

__all__ = ["approvals", "bundle", "check", "four_eyes", "releases"]
