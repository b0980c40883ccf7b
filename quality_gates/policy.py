"""Gate policy as code: the YAML document, its pydantic model, its hash.

Example (every gate is optional, at least one is required)::

    name: default
    golden: street-golden@1   # the golden set NAME@VERSION the golden-based gates measure against
    gates:
      golden_set_error: {max: 0.02, iou: 0.5}
      krippendorff_alpha: {min: 0.80, level: nominal}
      precision: {min: 0.90, iou: 0.5, baseline: golden, threshold: 0.5}
      recall: {min: 0.85, iou: 0.5, baseline: golden}
      class_drift_psi: {max: 0.2}
      expectations: {suite: default}
      review_coverage: {min: 0.05}
      training_leakage: {golden: block, autolabelled: warn}
    release:
      approvals: 1
      approver_roles: [compliance_officer, reviewer]
      four_eyes: true

A policy names its task (``task: detect | segment | pose | classify``; unset means ``detect``) and the gates it
configures for it. Which gates apply:

==================================  =======================================================================
gate                                tasks
==================================  =======================================================================
golden_set_error, krippendorff_     every task; ``iou`` is box IoU (detect), mask IoU (segment) or OKS (pose);
alpha, precision, recall, f1        classify matches items, so ``iou`` may not be set (and alpha is nominal)
map, ap50                           detect (COCO bbox), segment (COCO segm), pose (COCO keypoints)
accuracy, hamming_loss              classify only
class_drift_psi, class_drift_js,    every task
review_coverage
expectations                        detect, segment, pose (the suite checks boxes; classify refuses it)
training_leakage                    every task; ``golden``, ``autolabelled``, ``unrecorded``: ``block``,
                                    ``warn`` or ``off`` (defaults block, warn, warn); on the record only
==================================  =======================================================================

Every model forbids unknown fields and coerces nothing (``"0.9"`` is not a number). Errors come back as one
:class:`~quality_gates.errors.PolicyError` with the field path, a message and the YAML line. The policy
hash is the SHA-256 of the validated model as canonical JSON (``quality_gates.canonical``: keys sorted,
compact, unset optional values left out; ``max: .inf`` is a valid bound, written ``Infinity``), so it does
not change with YAML formatting, key order, comments or spelled-out defaults;
``golden`` is part of it, so binding a policy to another golden set makes another policy version.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from quality_gates.canonical import canonical_json_nonfinite
from quality_gates.errors import PolicyError
from quality_gates.policy_gates import (
    GATE_NAMES,
    TASK_GATES,
    TASKS,
    AccuracyGate,
    Ap50Gate,
    ClassDriftJsGate,
    ClassDriftPsiGate,
    ExpectationsGate,
    F1Gate,
    Gates,
    GoldenSetErrorGate,
    HammingLossGate,
    KrippendorffAlphaGate,
    MapGate,
    PrecisionGate,
    RecallGate,
    ReviewCoverageGate,
    Strict,
    Task,
    TaskError,
    TrainingLeakageGate,
    check_task,
)

Role = Literal["admin", "ml_engineer", "annotator", "reviewer", "compliance_officer", "ci"]

__all__ = [
    "GATE_NAMES",
    "TASKS",
    "TASK_GATES",
    "AccuracyGate",
    "Ap50Gate",
    "ClassDriftJsGate",
    "ClassDriftPsiGate",
    "ExpectationsGate",
    "F1Gate",
    "Gates",
    "GoldenSetErrorGate",
    "HammingLossGate",
    "KrippendorffAlphaGate",
    "MapGate",
    "Policy",
    "PrecisionGate",
    "RecallGate",
    "ReleaseRules",
    "ReviewCoverageGate",
    "Task",
    "TrainingLeakageGate",
    "golden_gates",
    "parse_golden_ref",
    "parse_policy",
    "policy_from_dict",
    "policy_hash",
]


class ReleaseRules(Strict):
    """What a release needs after the gates pass.

    approvals (1): number of distinct approvers (>= 0). approver_roles: roles allowed to approve.
    four_eyes (True): an approver may not be an author of the version.
    """

    approvals: int = Field(1, ge=0)
    approver_roles: tuple[Role, ...] = Field(("compliance_officer",), strict=False)
    four_eyes: bool = True


_GOLDEN_FORM = "NAME@VERSION (VERSION a number from 1), e.g. street-golden@1"
_GOLDEN_REF = re.compile(r"(?P<name>[^@\s](?:[^@]*[^@\s])?)@(?P<version>[1-9][0-9]{0,8})")


def parse_golden_ref(ref: str) -> tuple[str, int]:
    """``NAME@VERSION`` (a golden set and its version, a positive integer) → ``(NAME, VERSION)``.

    Raises:
        ValueError: any other form, with the form expected.
    """
    found = _GOLDEN_REF.fullmatch(ref) if isinstance(ref, str) else None
    if found is None or len(found["name"]) > 100:
        raise ValueError(f"a golden set is named {_GOLDEN_FORM}; got {ref!r}")
    return found["name"], int(found["version"])


def golden_gates(gates: Gates) -> list[str]:
    """The configured gates that measure against the golden set: ``golden_set_error``, precision, recall, f1,
    map or ap50 with ``baseline: golden``, and ``training_leakage`` unless its ``golden`` check is off."""
    uses = []
    for name in gates.configured():
        gate = getattr(gates, name)
        leakage = name == "training_leakage" and gate.golden != "off"
        if name == "golden_set_error" or getattr(gate, "baseline", None) == "golden" or leakage:
            uses.append(name)
    return uses


class Policy(Strict):
    """A validated gate policy.

    task (None): ``detect``, ``segment``, ``pose`` or ``classify``; None means ``detect`` (and leaves the hash
    of policies written before tasks existed unchanged). Gates that do not apply to the task are refused
    (:data:`TASK_GATES`). golden (None): the golden set ``NAME@VERSION`` that the golden-based gates
    (:func:`golden_gates`) measure against; a check of a dataset version on the record needs it (or an
    explicit override).
    """

    name: str = Field(min_length=1)
    task: Task | None = None
    golden: str | None = None
    gates: Gates
    release: ReleaseRules = ReleaseRules()

    @field_validator("golden")
    @classmethod
    def _golden_ref(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_golden_ref(value)
            except ValueError:
                raise ValueError(f"a golden set is named {_GOLDEN_FORM}") from None
        return value

    @model_validator(mode="after")
    def _gates_fit_the_task(self) -> Policy:
        check_task(self.effective_task, self.gates)
        return self

    @property
    def effective_task(self) -> Task:
        """The task the policy gates: ``task``, or ``"detect"`` when unset."""
        return self.task or "detect"

    def golden_gates(self) -> list[str]:
        """Names of the configured gates that need the golden set (empty: the policy needs none)."""
        return golden_gates(self.gates)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (a repeated gate would silently override the first)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_mapping(node, deep=deep))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(text: str, path: tuple[str | int, ...]) -> int | None:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if nxt is None:
                break
            line = nxt[0].start_mark.line + 1
            node = nxt[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _fields_of(path: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] | None = Policy
    for part in path:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return []
        ann = model.model_fields[part].annotation
        args = getattr(ann, "__args__", (ann,))
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(model.model_fields) if model is not None else []


def _policy_error(exc: ValidationError, text: str | None) -> PolicyError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    task_error = (err.get("ctx") or {}).get("error")
    if isinstance(task_error, TaskError):
        line = _line_of(text, task_error.loc) if text is not None else None
        return PolicyError(".".join(task_error.loc), task_error.message, line=line)
    path = ".".join(str(p) for p in loc)
    line = _line_of(text, loc) if text is not None else None
    if err["type"] == "extra_forbidden":
        parent, name = loc[:-1], loc[-1]
        if parent == ("gates",):
            return PolicyError(path, f"unknown gate {name!r}; valid gates: {', '.join(GATE_NAMES)}", line=line)
        valid = _fields_of(parent)
        where = ".".join(str(p) for p in parent) or "policy"
        return PolicyError(path, f"unknown field {name!r} in {where}; valid fields: {', '.join(valid)}", line=line)
    msg = str(err["msg"])
    if "input" in err and err["type"] not in ("missing",):
        msg = f"{msg} (got {err['input']!r})"
    if err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    return PolicyError(path, msg, line=line)


def policy_from_dict(data: Any, *, text: str | None = None) -> Policy:
    """Validate an already-loaded policy mapping.

    Raises:
        PolicyError: the first problem, with its field path (and line, when ``text`` is the YAML source); a
            gate that does not apply to the policy's ``task`` names the gate and the task.
    """
    if not isinstance(data, dict):
        raise PolicyError("", f"a policy must be a mapping with 'name' and 'gates', got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise _policy_error(exc, text) from None


def parse_policy(text: str) -> Policy:
    """Parse and validate a YAML policy.

    Raises:
        PolicyError: invalid YAML (with its line), duplicate keys, unknown gates or fields (naming the
            valid ones), wrong types or out-of-range values (with the field path and line).
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError("", f"invalid YAML: {exc.problem or exc}", line=line) from None
    except yaml.YAMLError as exc:
        raise PolicyError("", f"invalid YAML: {exc}") from None
    return policy_from_dict(data, text=text)


def policy_hash(policy: Policy) -> str:
    """SHA-256 hex of the policy's canonical JSON (unset options omitted). The variant that writes ±Infinity:
    an unbounded ``max`` is a valid policy, and stored policies were hashed so."""
    return hashlib.sha256(canonical_json_nonfinite(policy.model_dump(mode="json", exclude_none=True))).hexdigest()
