"""Training leakage: are the models whose labels are judged judged on data they were trained on?

Two checks, by content hash (an item's SHA-256 of its bytes, so a copy under another path or in another
dataset is the same item):

- **golden**: an item of the golden set in the training or validation data of a model whose labels the
  evaluated version holds. Golden-based gates (golden-set error, precision, recall, ...) would then measure
  the model on items it has seen.
- **autolabelled**: a model's labels on items in its own training (``train``) data: they repeat what it was
  taught, and look better than its labels on new items would be. Validation data is not "trained on" here.

A model whose training data is not on the record (registered before revision 0008, or without training
references) can be checked for neither; the third check, **unrecorded**, names it.

:func:`leakage_findings` computes all three (pure: sets in, frozen :class:`LeakageEvidence` out), and
:func:`training_leakage_gate` turns them into the gate's :class:`~quality_gates.verdict.GateResult` under the
policy's modes (``block``, ``warn``, ``off`` per check). Its value (metric ``blocking_leaks``) is what the
checks set to ``block`` found: leaked golden items, plus items auto-labelled by a model trained on them, plus
unrecorded models; the bound is 0. Findings of ``warn`` checks pass the gate with the verdict ``warn`` in
the evidence and ``warning:`` in the explanation. Evidence holds counts, never a golden item's name or hash.

Offline (``gate check`` over files) nothing says what a model was trained on: the gate's input is missing
and the check is refused (:func:`quality_gates.evaluate.missing_inputs`), never passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from quality_gates.errors import MissingInputError
from quality_gates.evidence_leakage import DataLeak, LeakageEvidence, LeakageVerdict, ModelLeakage
from quality_gates.policy import Policy, TrainingLeakageGate
from quality_gates.verdict import GateResult

if TYPE_CHECKING:
    from quality_gates.inputs import Measurements

__all__ = [
    "RECORD_GATE_FUNCTIONS",
    "RECORD_PHASES",
    "LeakageInputs",
    "ModelUse",
    "Role",
    "TrainingData",
    "leakage_explanation",
    "leakage_findings",
    "leakage_result",
    "training_leakage_gate",
]

Role = Literal["train", "val"]


def _hashes(values: Iterable[str]) -> frozenset[str]:
    return values if isinstance(values, frozenset) else frozenset(values)


@dataclass(frozen=True)
class TrainingData:
    """A dataset version a model was trained (``role = "train"``) or validated (``"val"``) on.

    Attributes:
        ref: the version, ``DATASET@VERSION``.
        role: ``train`` or ``val``.
        hashes: content hashes of its items. May be only those that can matter (the golden set's and the
            evaluated version's): the findings are the same.
        items (None): how many items it holds; None: ``len(hashes)``.
    """

    ref: str
    role: Role
    hashes: frozenset[str]
    items: int | None = None

    def __post_init__(self) -> None:
        if self.role not in ("train", "val"):
            raise ValueError(f"TrainingData.role: expected 'train' or 'val', got {self.role!r}")
        object.__setattr__(self, "hashes", _hashes(self.hashes))


@dataclass(frozen=True)
class ModelUse:
    """A model whose live labels the evaluated version holds.

    Attributes:
        model: ``NAME@VERSION``.
        labelled: content hashes of the evaluated items carrying its labels.
        training: its training and validation data; None: not on the record (nothing to check).
    """

    model: str
    labelled: frozenset[str]
    training: tuple[TrainingData, ...] | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labelled", _hashes(self.labelled))
        if self.training is not None:
            object.__setattr__(self, "training", tuple(self.training))


@dataclass(frozen=True)
class LeakageInputs:
    """What the leakage checks look at.

    Attributes:
        models: the models whose labels the evaluated version holds (none: nothing to check, the gate passes).
        items: content hashes of the evaluated version's items.
        golden (None): content hashes of the golden set's items; None: no golden set (the golden check then
            lacks its input).
    """

    models: tuple[ModelUse, ...]
    items: frozenset[str]
    golden: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "items", _hashes(self.items))
        if self.golden is not None:
            object.__setattr__(self, "golden", _hashes(self.golden))


def _model(use: ModelUse, golden: frozenset[str], items: frozenset[str]) -> tuple[ModelLeakage, set[str], set[str]]:
    labelled = use.labelled & items if items else use.labelled
    if use.training is None:
        return ModelLeakage(use.model, False, len(labelled), 0, 0, ()), set(), set()
    seen: set[str] = set()
    trained: set[str] = set()
    data = []
    for t in use.training:
        seen |= t.hashes
        if t.role == "train":
            trained |= t.hashes
        count = t.items if t.items is not None else len(t.hashes)
        data.append(DataLeak(t.ref, t.role, count, len(t.hashes & golden), len(t.hashes & labelled)))
    leaked = seen & golden
    self_trained = trained & labelled
    out = ModelLeakage(use.model, True, len(labelled), len(leaked), len(self_trained), tuple(data))
    return out, leaked, self_trained


def leakage_findings(inputs: LeakageInputs, gate: TrainingLeakageGate) -> LeakageEvidence:
    """The three checks of ``gate`` on ``inputs`` (module docstring), with the verdict under its modes.

    Raises:
        MissingInputError: the golden check is on and ``inputs.golden`` is None.
    """
    if gate.golden != "off" and inputs.golden is None:
        raise MissingInputError("training_leakage", "the golden set's item hashes (the golden check is on)")
    golden = inputs.golden if gate.golden != "off" and inputs.golden is not None else frozenset()
    leaked: set[str] = set()
    self_trained: set[str] = set()
    models = []
    for use in sorted(inputs.models, key=lambda u: u.model):
        m, lk, st = _model(use, golden, inputs.items)
        models.append(m)
        leaked |= lk
        self_trained |= st
    unrecorded = tuple(m.model for m in models if not m.recorded)
    found = {"golden": len(leaked), "autolabelled": len(self_trained), "unrecorded": len(unrecorded)}
    mode = {"golden": gate.golden, "autolabelled": gate.autolabelled, "unrecorded": gate.unrecorded}
    if any(found[c] and mode[c] == "block" for c in found):
        verdict: LeakageVerdict = "block"
    elif any(found[c] and mode[c] == "warn" for c in found):
        verdict = "warn"
    else:
        verdict = "pass"
    return LeakageEvidence(
        verdict,
        gate.golden,
        gate.autolabelled,
        gate.unrecorded,
        len(inputs.golden) if gate.golden != "off" and inputs.golden is not None else None,
        len(leaked) if gate.golden != "off" else 0,
        len(leaked & inputs.items) if gate.golden != "off" else 0,
        len(self_trained) if gate.autolabelled != "off" else 0,
        unrecorded if gate.unrecorded != "off" else (),
        tuple(models),
    )


def _blocking(ev: LeakageEvidence) -> int:
    """What the checks set to ``block`` found: leaked golden items, self-trained labelled items, models."""
    return (
        (ev.leaked_golden if ev.golden_mode == "block" else 0)
        + (ev.autolabelled_trained if ev.autolabelled_mode == "block" else 0)
        + (len(ev.unrecorded) if ev.unrecorded_mode == "block" else 0)
    )


def _versions(m: ModelLeakage, field: Literal["golden", "labelled"], *, train_only: bool = False) -> str:
    parts = [
        f"{d.dataset_version} ({d.role}): {getattr(d, field)}"
        for d in m.data
        if getattr(d, field) and (d.role == "train" or not train_only)
    ]
    return ", ".join(parts)


def leakage_explanation(ev: LeakageEvidence) -> str:
    """One line: what each check that is on found, naming the model, its dataset versions and the counts;
    ``warning:`` before findings that only warn, and what to do about the ones that block."""
    if not ev.models:
        return "no model labels in this version: no training data to check for leakage"
    blocks: list[str] = []
    warns: list[str] = []

    def add(mode: str, text: str) -> None:
        (blocks if mode == "block" else warns).append(text)

    if ev.golden_mode != "off":
        for m in ev.models:
            if m.leaked_golden:
                add(
                    ev.golden_mode,
                    f"model {m.model} was trained or validated on {m.leaked_golden} of the {ev.golden_items} "
                    f"golden items ({_versions(m, 'golden')})",
                )
    if ev.autolabelled_mode != "off":
        for m in ev.models:
            if m.autolabelled_trained:
                add(
                    ev.autolabelled_mode,
                    f"model {m.model} auto-labelled {m.autolabelled_trained} items it was trained on "
                    f"({_versions(m, 'labelled', train_only=True)})",
                )
    if ev.unrecorded_mode != "off" and ev.unrecorded:
        add(ev.unrecorded_mode, f"training data not on the record for {', '.join(ev.unrecorded)}")
    hints = []
    if blocks and ev.golden_mode == "block" and ev.leaked_golden:
        hints.append("retrain without the golden items or measure against another golden set")
    if blocks and ev.autolabelled_mode == "block" and ev.autolabelled_trained:
        hints.append("have those items labelled by people or by a model not trained on them")
    if blocks and ev.unrecorded_mode == "block" and ev.unrecorded:
        hints.append("register the models with their training data")
    text = "; ".join(blocks)
    if hints:
        text += ": " + "; ".join(hints)
    if warns:
        text += ("; " if text else "") + "warning: " + "; ".join(warns)
    if text:
        return text
    n_models = len(ev.models)
    n_data = len({d.dataset_version for m in ev.models for d in m.data})
    checked = []
    if ev.golden_mode != "off":
        checked.append(f"none of the {ev.golden_items} golden items")
    if ev.autolabelled_mode != "off":
        checked.append("none of the items its models labelled")
    what = " and ".join(checked) or "nothing checked"
    s = "s" if n_models != 1 else ""
    return f"no leakage: the training data of {n_models} model{s} ({n_data} dataset versions) holds {what}"


def leakage_result(ev: LeakageEvidence) -> GateResult:
    """The gate's result for findings ``ev``: value :func:`_blocking`, ``<= 0``."""
    value = _blocking(ev)
    passed = value == 0
    return GateResult(
        "training_leakage", "blocking_leaks", float(value), 0.0, "<=", passed, leakage_explanation(ev), ev
    )


def training_leakage_gate(gate: TrainingLeakageGate, m: Measurements, policy: Policy) -> GateResult:
    """The ``training_leakage`` gate on the measurements' ``inputs.leakage``.

    Raises:
        MissingInputError: no leakage inputs (offline: training data is known on the record only), or the
            golden check is on without the golden set's hashes.
    """
    found = m.inputs.leakage
    if found is None:
        raise MissingInputError("training_leakage", "the training data of the models whose labels are judged")
    return leakage_result(leakage_findings(found, gate))


#: The gates whose inputs exist on the record only, by name (every task may configure them); offline they
#: are refused for want of input. ``quality_gates.gates.gate_functions`` adds them to every task's table.
RECORD_GATE_FUNCTIONS: dict[str, Callable[[Any, Measurements, Policy], GateResult]] = {
    "training_leakage": training_leakage_gate,
}

#: The phase :func:`quality_gates.evaluate.evaluate` announces for each of them.
RECORD_PHASES: dict[str, str] = {
    "training_leakage": "training leakage: golden and auto-labelled items in the models' training data…",
}
