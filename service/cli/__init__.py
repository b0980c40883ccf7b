"""The ``labelgate`` command line: one module per command group; ``main`` is the entry point.

``app`` and ``main`` load :mod:`service.cli.main` (every command group) on first use, so importing one group
(``service.cli.gate`` for the offline CI gate) costs only that group's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.cli.main import app, main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module("service.cli.main")
        globals().update(app=module.app, main=module.main)  # the function, not the submodule, as before
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
