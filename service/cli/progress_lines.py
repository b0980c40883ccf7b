"""How the CLI shows the progress of long work (``lineage.progress``): on a terminal, one line on stderr
rewritten in place, for work that lasts beyond a second (quick commands print exactly what they did
before); elsewhere (a CI log) plain lines from the start, when ``LABELGATE_PROGRESS=1`` asks for them.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from lineage.progress import Update

__all__ = ["ProgressLines", "wanted"]


def wanted(stream: TextIO | None = None) -> bool:
    """Show progress on ``stream`` (stderr): on a terminal, or when ``LABELGATE_PROGRESS=1``; never with
    ``LABELGATE_PROGRESS=0``."""
    setting = os.environ.get("LABELGATE_PROGRESS", "")
    if setting in ("0", "1"):
        return setting == "1"
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class ProgressLines:
    """A ``lineage.progress`` listener writing ``  phase  done/total (pct)`` lines to ``stream``."""

    def __init__(self, stream: TextIO | None = None, *, quiet_for: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet_until = time.monotonic() + quiet_for
        self.pending = False  # a live line is on screen without its newline

    def __call__(self, update: Update) -> None:
        if time.monotonic() < self.quiet_until:
            return
        line = f"  {update.name}  {self.amount(update)}"
        if self.live:
            self.stream.write("\r\x1b[2K" + line + ("\n" if update.ended else ""))
            self.pending = not update.ended
        else:
            self.stream.write(line + ("  done" if update.ended else "") + "\n")
        self.stream.flush()

    @staticmethod
    def amount(update: Update) -> str:
        if update.total is None:
            return f"{update.done:,}" if update.done else "…"
        share = f" ({100 * update.done / update.total:.0f}%)" if update.total else ""
        return f"{update.done:,}/{update.total:,}{share}"

    def close(self) -> None:
        """End a live line still on screen (the work failed or stopped mid-phase)."""
        if self.pending:
            self.stream.write("\n")
            self.stream.flush()
            self.pending = False
