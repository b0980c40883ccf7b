"""The evidence of ``training_leakage`` (typed, with ``to_dict``/``from_dict`` as :mod:`quality_gates.evidence`,
which re-exports it): per model whose labels were judged, the dataset versions it was trained and validated
on and what of the golden set and of its own labels they hold. Counts only: golden items are hidden from
annotators, so no item name, URI or hash of theirs is ever part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from quality_gates._json import Fields, as_list
from quality_gates._types import JsonDict
from quality_gates.errors import ReportFormatError

__all__ = ["DataLeak", "LeakageEvidence", "LeakageVerdict", "ModelLeakage"]

#: A leakage check's outcome: nothing found under a check that is on, findings only under ``warn``, or a
#: finding under ``block``.
LeakageVerdict = Literal["pass", "warn", "block"]
_VERDICTS: tuple[LeakageVerdict, ...] = ("pass", "warn", "block")
_MODES = ("block", "warn", "off")
_ROLES = ("train", "val")


@dataclass(frozen=True)
class DataLeak:
    """One dataset version a model was trained (``role = "train"``) or validated (``"val"``) on: its items,
    the golden items among them, and the evaluated items the model labelled that it holds (all by content)."""

    dataset_version: str
    role: str
    items: int
    golden: int
    labelled: int

    def to_dict(self) -> JsonDict:
        """``{dataset_version, role, items, golden, labelled}``."""
        return {
            "dataset_version": self.dataset_version,
            "role": self.role,
            "items": self.items,
            "golden": self.golden,
            "labelled": self.labelled,
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "data") -> DataLeak:
        f = Fields(data, key)
        role = f.text("role")
        if role not in _ROLES:
            raise ReportFormatError(f.at("role"), f"expected 'train' or 'val', got {role!r}")
        out = cls(f.text("dataset_version"), role, f.count("items"), f.count("golden"), f.count("labelled"))
        f.done()
        return out


@dataclass(frozen=True)
class ModelLeakage:
    """One model whose live labels the evaluated version holds.

    Attributes:
        model: ``NAME@VERSION``.
        recorded: its training data is on the record (false: ``data`` is empty and nothing could be checked).
        labelled_items: evaluated items carrying its labels.
        leaked_golden: golden items in its training or validation data (each counted once).
        autolabelled_trained: items it labelled that are in its training (``train``) data.
        data: its dataset versions, in the order given.
    """

    model: str
    recorded: bool
    labelled_items: int
    leaked_golden: int
    autolabelled_trained: int
    data: tuple[DataLeak, ...]

    def to_dict(self) -> JsonDict:
        """``{model, recorded, labelled_items, leaked_golden, autolabelled_trained, data: [...]}``."""
        return {
            "model": self.model,
            "recorded": self.recorded,
            "labelled_items": self.labelled_items,
            "leaked_golden": self.leaked_golden,
            "autolabelled_trained": self.autolabelled_trained,
            "data": [d.to_dict() for d in self.data],
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "model") -> ModelLeakage:
        f = Fields(data, key)
        listed = as_list(f.get("data"), f.at("data"))
        out = cls(
            f.text("model"),
            f.flag("recorded"),
            f.count("labelled_items"),
            f.count("leaked_golden"),
            f.count("autolabelled_trained"),
            tuple(DataLeak.from_dict(d, key=f"{f.at('data')}[{i}]") for i, d in enumerate(listed)),
        )
        f.done()
        return out


@dataclass(frozen=True)
class LeakageEvidence:
    """Evidence of ``training_leakage``.

    Attributes:
        verdict: ``pass``, ``warn`` (findings only under checks set to warn; the gate passes) or ``block``.
        golden_mode, autolabelled_mode, unrecorded_mode: the policy's ``block``, ``warn`` or ``off``.
        golden_items: items of the golden set (None: the golden check is off).
        leaked_golden: golden items in the training or validation data of any judged model (once each).
        leaked_golden_in_version: of those, the ones the evaluated version holds (where golden-based gates
            judge the model on data it has seen).
        autolabelled_trained: evaluated items labelled by a model trained on them (once each).
        unrecorded: models whose training data is not on the record.
        models: one entry per judged model, sorted by name.
    """

    verdict: LeakageVerdict
    golden_mode: str
    autolabelled_mode: str
    unrecorded_mode: str
    golden_items: int | None
    leaked_golden: int
    leaked_golden_in_version: int
    autolabelled_trained: int
    unrecorded: tuple[str, ...]
    models: tuple[ModelLeakage, ...]

    def to_dict(self) -> JsonDict:
        """``{verdict, modes: {golden, autolabelled, unrecorded}, golden_items, leaked_golden,
        leaked_golden_in_version, autolabelled_trained, unrecorded: [model], models: [...]}``."""
        return {
            "verdict": self.verdict,
            "modes": {
                "golden": self.golden_mode,
                "autolabelled": self.autolabelled_mode,
                "unrecorded": self.unrecorded_mode,
            },
            "golden_items": self.golden_items,
            "leaked_golden": self.leaked_golden,
            "leaked_golden_in_version": self.leaked_golden_in_version,
            "autolabelled_trained": self.autolabelled_trained,
            "unrecorded": list(self.unrecorded),
            "models": [m.to_dict() for m in self.models],
        }

    @classmethod
    def from_dict(cls, data: object, *, key: str = "evidence") -> LeakageEvidence:
        f = Fields(data, key)
        verdict = f.text("verdict")
        if verdict not in _VERDICTS:
            raise ReportFormatError(f.at("verdict"), f"expected one of {', '.join(_VERDICTS)}, got {verdict!r}")
        modes = f.child("modes")
        mode = {}
        for name in ("golden", "autolabelled", "unrecorded"):
            mode[name] = modes.text(name)
            if mode[name] not in _MODES:
                raise ReportFormatError(modes.at(name), f"expected one of {', '.join(_MODES)}, got {mode[name]!r}")
        modes.done()
        golden_items = f.get("golden_items")
        listed = as_list(f.get("models"), f.at("models"))
        out = cls(
            "pass" if verdict == "pass" else "warn" if verdict == "warn" else "block",
            mode["golden"],
            mode["autolabelled"],
            mode["unrecorded"],
            None if golden_items is None else f.count("golden_items"),
            f.count("leaked_golden"),
            f.count("leaked_golden_in_version"),
            f.count("autolabelled_trained"),
            f.texts("unrecorded"),
            tuple(ModelLeakage.from_dict(m, key=f"{f.at('models')}[{i}]") for i, m in enumerate(listed)),
        )
        f.done()
        return out
