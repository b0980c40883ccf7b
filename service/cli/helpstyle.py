"""How ``labelgate --help`` reads: commands grouped in the order of the work, values named plainly.

Typer 0.2x prints a type beside every parameter, ``<str>``, ``<bool>``, ``<path>``, flags included, and
wraps required arguments in braces (``{dataset}``). :func:`install` replaces that, for every command at once,
with what click has always printed: nothing for a flag, the choices of a choice (``text|json|junit``), else
the option's ``metavar`` or its type in capitals (``TEXT``, ``INTEGER``, ``FLOAT``, ``PATH``); an argument
shows its ``metavar`` or its name in capitals (``DATASET@VERSION``, ``USERNAME``), in brackets when optional.

``PANELS`` names the help panels in workflow order; ``service.cli.main`` registers each command in its panel,
in that order.
"""

from __future__ import annotations

from typing import Any, ClassVar

from typer.core import TyperArgument, TyperGroup, TyperOption

__all__ = ["PANELS", "WorkflowGroup", "install"]

#: The help panels of ``labelgate --help``, in the order of the work.
PANELS = (
    "Set up",
    "Schemas & datasets",
    "Labels",
    "Auto-labelling",
    "Quality gates",
    "Release & audit",
    "Serve & demo",
)


class WorkflowGroup(TyperGroup):
    """A command group that lists its commands in ``order`` (typer lists commands before groups)."""

    order: ClassVar[tuple[str, ...]] = ()

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: i for i, name in enumerate(self.order)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))


_TYPE_NAMES = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "FLOAT",
    "int range": "INTEGER",
    "float range": "FLOAT",
    "path": "PATH",
    "file": "FILE",
    "directory": "DIRECTORY",
    "datetime": "DATETIME",
}


def _plain(label: str) -> str:
    """``<str>`` → ``TEXT``, ``<list[path]>`` → ``PATH``; a choice ``<a|b>`` stays ``a|b``."""
    label = label.removeprefix("<").removesuffix(">")
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    if "|" in label:
        return label
    return _TYPE_NAMES.get(label, label.upper())


def _option_type(self: TyperOption, ctx: Any) -> str | None:
    if self.metavar is not None:
        return str(self.metavar)
    if self.is_flag or self.count:
        return None
    return _plain(str(self.display_type(ctx)))


def _argument_type(self: TyperArgument, ctx: Any) -> str | None:
    return None  # the argument's name column already says what it is


def _argument_name(self: TyperArgument) -> str:
    """The argument as help and errors name it: its ``metavar``, else its name in capitals."""
    return str(self.metavar) if self.metavar is not None else (self.name or "").upper()


def _argument_usage(self: TyperArgument) -> str:
    name = _argument_name(self) if self.nargs == 1 else f"{_argument_name(self)}..."
    return name if self.required else f"[{name}]"


def install() -> None:
    """Render parameters as described above (idempotent). Typer builds its parameters itself, with no hook
    for their class, so the rendering methods of its two parameter classes are replaced; a typer without
    them (another major version) keeps its own rendering."""
    if hasattr(TyperOption, "display_type_rich"):
        TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
    if hasattr(TyperArgument, "display_name_raw"):
        TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment,method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):
        TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
