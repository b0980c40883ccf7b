"""The JSON side of the gate report: plain values out (:func:`jsonable`), strictly checked values in
(:class:`Fields` and the ``as_*`` readers), each refusal a :class:`~quality_gates.errors.ReportFormatError`
naming the key path (``gates[2].evidence.per_source['alice'].tp``)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from quality_gates.errors import ReportFormatError

__all__ = [
    "Fields",
    "JsonScalar",
    "as_bool",
    "as_int",
    "as_list",
    "as_number",
    "as_optional_number",
    "as_pair",
    "as_scalar",
    "as_text",
    "finite_or_none",
    "jsonable",
]

JsonScalar = str | int | float | bool | None


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats (→ None) into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finite_or_none(value: float | None) -> float | None:
    """``float(value)``, or None for None, NaN and infinities (a report holds no NaN: undefined is None)."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def as_text(value: object, key: str) -> str:
    """A string."""
    if not isinstance(value, str):
        raise ReportFormatError(key, f"expected a string, got {_kind(value)}")
    return value


def as_bool(value: object, key: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise ReportFormatError(key, f"expected true or false, got {_kind(value)}")
    return value


def as_int(value: object, key: str) -> int:
    """An integer (a boolean or a float is refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportFormatError(key, f"expected an integer, got {_kind(value)}")
    return value


def as_number(value: object, key: str) -> float:
    """A finite number, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportFormatError(key, f"expected a finite number, got {_kind(value)}")
    return float(value)


def as_optional_number(value: object, key: str) -> float | None:
    """A finite number, or null where the quantity is undefined."""
    return None if value is None else as_number(value, key)


def as_scalar(value: object, key: str) -> JsonScalar:
    """A string, a finite number, a boolean or null."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ReportFormatError(key, "expected a finite number, got a non-finite one")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ReportFormatError(key, f"expected a string, a number, a boolean or null, got {_kind(value)}")


def as_list(value: object, key: str, *, length: int | None = None) -> list[object]:
    """A list (of ``length`` items when given)."""
    if not isinstance(value, list | tuple):
        raise ReportFormatError(key, f"expected a list, got {_kind(value)}")
    if length is not None and len(value) != length:
        raise ReportFormatError(key, f"expected {length} items, got {len(value)}")
    return list(value)


def as_pair(value: object, key: str) -> tuple[float, float]:
    """``[low, high]``: two finite numbers."""
    lo, hi = as_list(value, key, length=2)
    return as_number(lo, f"{key}[0]"), as_number(hi, f"{key}[1]")


class Fields:
    """One JSON object of a report's dict form, read key by key.

    Every key must be known: :meth:`done` refuses the first one nothing read, so a changed shape is
    named rather than silently dropped.
    """

    def __init__(self, data: object, key: str) -> None:
        if not isinstance(data, Mapping):
            raise ReportFormatError(key, f"expected an object, got {_kind(data)}")
        bad = next((k for k in data if not isinstance(k, str)), None)
        if bad is not None:
            raise ReportFormatError(key, f"object keys must be strings, got {bad!r}")
        self._data: Mapping[str, object] = data
        self.key = key
        self._read: set[str] = set()

    def at(self, name: str) -> str:
        """The path of member ``name``."""
        return f"{self.key}.{name}" if self.key else name

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def names(self) -> list[str]:
        """The object's keys, in order."""
        return list(self._data)

    def get(self, name: str) -> object:
        """The raw value of a required member."""
        if name not in self._data:
            raise ReportFormatError(self.at(name), "missing")
        self._read.add(name)
        return self._data[name]

    def text(self, name: str) -> str:
        return as_text(self.get(name), self.at(name))

    def flag(self, name: str) -> bool:
        return as_bool(self.get(name), self.at(name))

    def integer(self, name: str) -> int:
        return as_int(self.get(name), self.at(name))

    def count(self, name: str) -> int:
        """A non-negative integer."""
        value = self.integer(name)
        if value < 0:
            raise ReportFormatError(self.at(name), f"expected a count (>= 0), got {value}")
        return value

    def number(self, name: str) -> float:
        return as_number(self.get(name), self.at(name))

    def optional_number(self, name: str) -> float | None:
        return as_optional_number(self.get(name), self.at(name))

    def pair(self, name: str) -> tuple[float, float]:
        return as_pair(self.get(name), self.at(name))

    def texts(self, name: str) -> tuple[str, ...]:
        """A list of strings."""
        key = self.at(name)
        return tuple(as_text(v, f"{key}[{i}]") for i, v in enumerate(as_list(self.get(name), key)))

    def child(self, name: str) -> Fields:
        """Member ``name``, an object."""
        return Fields(self.get(name), self.at(name))

    def entries(self, name: str) -> Iterator[tuple[str, object, str]]:
        """``(entry name, value, its path)`` of member ``name``, an object keyed by names."""
        obj = self.child(name)
        obj._read.update(obj._data)
        return ((k, v, f"{obj.key}[{k!r}]") for k, v in obj._data.items())

    def numbers(self, name: str) -> dict[str, float | None]:
        """Member ``name``: an object of names → finite numbers or null."""
        return {k: as_optional_number(v, path) for k, v, path in self.entries(name)}

    def done(self) -> None:
        """Refuse a key nothing read."""
        extra = [k for k in self._data if k not in self._read]
        if extra:
            raise ReportFormatError(self.at(extra[0]), "unknown key (a report of another format version?)")
