"""Plain-text tables for the list commands: a header row, then one row per record, columns padded.

Printed verbatim through ``service.cli.common.out`` (no Rich markup, no colour), so the text is the same in
a terminal, a pipe and a test; ``--json`` is there for machines.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.cli.common import out

__all__ = ["print_table"]


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str = "(none)") -> None:
    """Print ``header`` and ``rows`` in columns two spaces apart (the last column unpadded); ``empty`` alone
    when there are no rows, so a list that found nothing says so."""
    if not rows:
        out.print(empty)
        return
    cells = [[str(c) for c in header], *([("" if c is None else str(c)) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.print("  ".join([*padded, row[-1]]).rstrip())
