"""Errors raised by the quality-gate layer.

Every error is a value a person can act on: it names where the problem is (a file or input name, a record
index or id, a field path, a line when known) and what was expected. All derive from :class:`GateError`
(itself a :class:`ValueError`), so a caller can map the whole family to one exit code.
"""

from __future__ import annotations

__all__ = ["GateError", "InputFormatError", "MissingInputError", "PolicyError", "ReportFormatError"]


class GateError(ValueError):
    """Base class of the errors of :mod:`quality_gates`; ``str(err)`` is a one-line message."""


class PolicyError(GateError):
    """A gate policy that does not parse or does not validate.

    Attributes:
        path: dotted field path inside the policy (``"gates.precision.min"``), ``""`` for the whole document.
        message: what is wrong and what was expected.
        line: 1-based line in the YAML text when known, else ``None``.
    """

    def __init__(self, path: str, message: str, *, line: int | None = None) -> None:
        self.path = path
        self.message = message
        self.line = line
        where = path or "policy"
        if line is not None:
            where = f"{where} (line {line})"
        super().__init__(f"{where}: {message}")


class InputFormatError(GateError):
    """Malformed input data (a COCO dict, a results list, a data frame).

    Attributes:
        source: the input's name as the caller knows it (a file name, ``"ground truth"``).
        field: the offending field (``"annotations[12].bbox"``) or ``""`` for the whole input.
        message: what is wrong and what was expected.
    """

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


class MissingInputError(GateError):
    """A configured gate whose input was not provided; a gate never passes for want of data.

    Attributes:
        gate: the gate's policy name (``"krippendorff_alpha"``).
        missing: the input it needs (``"annotator label sets (two or more)"``).
    """

    def __init__(self, gate: str, missing: str, *, hint: str = "") -> None:
        self.gate = gate
        self.missing = missing
        msg = f"gate {gate!r} is configured but its input is missing: {missing}"
        if hint:
            msg = f"{msg}; {hint}"
        super().__init__(msg)


class ReportFormatError(GateError):
    """A gate report in its dict form (:meth:`~quality_gates.verdict.GateReport.from_dict`) that does not parse.

    Attributes:
        key: path of the offending key inside the report (``"gates[2].evidence.per_source.alice.tp"``),
            ``""`` for the whole document.
        message: what is wrong and what was expected.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"gate report: {key or 'document'}: {message}")
