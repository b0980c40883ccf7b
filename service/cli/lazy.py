"""Modules the CLI loads on first use, so ``labelgate --help`` stays fast.

Building the command tree needs only typer; the verbs (``service.actions``) pull in SQLAlchemy, the record's
models and the gate code, seconds of imports that a command pays only when it runs. A command module binds
``actions = lazy_module("service.actions")`` at runtime and imports the real module under ``TYPE_CHECKING``,
so mypy checks every call while the import waits until the first attribute is read.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule:
    """Stands in for a module until an attribute is read; then imports it and answers from it."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (loaded)' if self._module is not None else ''}>"


def lazy_module(name: str) -> Any:
    """``name`` imported on first attribute access (typed ``Any``: declare the real module under
    ``TYPE_CHECKING`` for mypy)."""
    return _LazyModule(name)
