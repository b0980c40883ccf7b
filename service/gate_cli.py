"""``labelgate gate check``: the CI gate, offline over COCO files (no server, no database, no torch).

    labelgate gate check --policy policy.yaml --gt golden_coco.json --pred predictions_coco_results.json \
        [--annotations alice=alice.json --annotations bob=bob.json] [--parent parent_coco.json] \
        [--format text|json|junit] [--output report.xml]

and on the record, for a dataset version of the workspace (the service form, registered by ``service.cli``):

    labelgate gate check [PROJECT/]DATASET@VERSION [--policy policy.yaml] [--golden NAME@VERSION]

which measures against the golden set the policy names (``golden: NAME@VERSION``) or ``--golden``; a policy
with golden-based gates and neither exits 2 saying how to name one. Offline, ``--gt`` is the golden set.
Every report's headline names the policy (``name@version`` on the record, the file offline) with its short
hash, and the golden set with its version and size (items, labels).

Exit codes: 0 every gate passes, 1 a gate blocks, 2 bad input (invalid policy, unreadable or invalid JSON,
categories that disagree, predictions for unknown images, NaN/negative scores, empty files, a configured gate
without its input) with one line naming the file and the field, never a traceback; with ``--format json`` or
``junit`` an error report is written then too (to ``--output`` or stdout), so a CI job keeps its artefact.
3 is an internal error (a bug), also one line (``service.cli_common.exits_cleanly``).

How the files feed the gates: ``--gt`` is the golden set and the schema; ``--pred`` the model's predictions
(scored; the policy's threshold applies); each ``--annotations NAME=FILE`` one annotator's labels of the
golden images (golden-set error per annotator, Krippendorff's alpha); ``--parent`` the parent version's
labels (class drift; categories may differ, which counts as schema changes). The version's labels for drift
and expectations are the annotators' boxes plus the predictions at the threshold; predictions are recorded
with ``import`` provenance (the file's SHA-256 and format). Review coverage reads optional boolean
``reviewed``/``routed`` fields of the prediction records.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from quality_gates.boxes import LabelSet
from quality_gates.coco import CocoDataset, CocoResults, check_same_categories, parse_coco_instances, parse_coco_results
from quality_gates.coverage import review_coverage_from_flags
from quality_gates.errors import GateError, InputFormatError, MissingInputError
from quality_gates.evaluate import evaluate
from quality_gates.gates import model_threshold
from quality_gates.inputs import GateInputs
from quality_gates.policy import Policy, parse_policy
from quality_gates.verdict import GateReport
from service.cli_common import exits_cleanly
from service.gate_report import ReportHeader, render, render_error

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_INPUT",
    "EXIT_OK",
    "CheckRefused",
    "gate_app",
    "offline_inputs",
    "set_service_check",
]

EXIT_OK, EXIT_BLOCKED, EXIT_INPUT = 0, 1, 2

gate_app = typer.Typer(
    name="gate",
    help="Quality gates: evaluate a gate policy (offline over COCO files, or a dataset version).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# ---- SERVICE HOOK ---------------------------------------------------------------------------------------------
# The service form `labelgate gate check DATASET@VERSION` is wired here: the service layer registers a function
# (target "DATASET@VERSION", optional policy file, optional golden set "NAME@VERSION") -> (GateReport, its
# ReportHeader) with `set_service_check`, loading the version's labels, golden set, parent and policy from the
# workspace. Until then the offline form is the only one.
ServiceCheck = Callable[[str, Path | None, str | None], tuple[GateReport, ReportHeader]]
_service_check: ServiceCheck | None = None


def set_service_check(fn: ServiceCheck | None) -> None:
    """Register (or clear, with None) the function that evaluates ``DATASET@VERSION`` through the service."""
    global _service_check
    _service_check = fn


# ---------------------------------------------------------------------------------------------------------------


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


_HINTS = {
    "krippendorff_alpha": "pass two or more --annotations NAME=coco.json",
    "class_drift_psi": "pass --parent parent_coco.json",
    "class_drift_js": "pass --parent parent_coco.json",
    "review_coverage": "offline, review counts come from boolean 'reviewed' (and 'routed') fields of the "
    "prediction records in --pred",
    "precision": "pass --pred predictions.json",
    "recall": "pass --pred predictions.json",
    "f1": "pass --pred predictions.json",
    "map": "pass --pred predictions.json",
    "ap50": "pass --pred predictions.json",
    "golden_set_error": "pass --pred and/or --annotations NAME=coco.json",
}


def _read_json(path: Path) -> tuple[Any, str]:
    """Load a JSON file; returns the data and the SHA-256 of its bytes. Raises InputFormatError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFormatError(str(path), "", f"cannot read file: {exc.strerror or exc}") from None
    if not raw.strip():
        raise InputFormatError(str(path), "", "is empty")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        import orjson  # faster for large files; the stdlib parser below gives the message on failure

        return orjson.loads(raw), digest
    except ImportError:
        pass
    except ValueError:
        pass  # possibly NaN literals, which orjson refuses and json accepts (and the parser then names)
    try:
        return json.loads(raw), digest
    except UnicodeDecodeError:
        raise InputFormatError(str(path), "", "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(str(path), f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}") from None


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_instances(path: Path) -> tuple[CocoDataset, str]:
    """Read and parse a COCO instances file; the decoded JSON is released on return."""
    data, digest = _read_json(path)
    return parse_coco_instances(data, source=str(path)), digest


def _load_results(path: Path, gt: CocoDataset) -> tuple[CocoResults, str]:
    """Read and parse a COCO results file against ``gt``."""
    data, digest = _read_json(path)
    return parse_coco_results(data, dataset=gt, source=str(path)), digest


def _annotation_args(values: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputFormatError("--annotations", "", f"expected NAME=coco.json, got {v!r}")
        if name in out:
            raise InputFormatError("--annotations", name, "annotator name given twice")
        out[name.strip()] = Path(path.strip())
    return out


def _rows(ds: CocoDataset, boxes_image: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(ds.image_ids, boxes_image)
    return ds.image_size[np.minimum(pos, len(ds.image_ids) - 1)]


def _box_frame(b: Any, wh: Any, names: Any, **columns: Any) -> Any:
    """One source's boxes as rows of the annotation frame, with its own ``columns`` (score, provenance)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "image_id": b.image,
            "width": wh[:, 0],
            "height": wh[:, 1],
            "category": names[b.category],
            "x": b.xywh[:, 0],
            "y": b.xywh[:, 1],
            "w": b.xywh[:, 2],
            "h": b.xywh[:, 3],
            **columns,
        }
    )


def _annotation_frame(
    gt: CocoDataset,
    annotators: dict[str, CocoDataset],
    pred: CocoResults | None,
    pred_sha: str,
    threshold: float,
) -> Any:
    import pandas as pd

    names = np.array(gt.class_names, dtype=object)
    parts = []
    for name, ds in sorted(annotators.items()):
        b = ds.boxes
        wh = _rows(ds, b.image)
        parts.append(_box_frame(b, wh, names, score=np.full(len(b), np.nan), provenance_kind="human", annotator=name))
    if pred is not None:
        b = pred.boxes.at_threshold(threshold)
        wh = _rows(gt, b.image)
        parts.append(
            _box_frame(
                b,
                wh,
                names,
                score=b.score,
                provenance_kind="import",
                source_sha256=pred_sha,
                source_format="coco_results",
            )
        )
    if not parts:
        return pd.DataFrame(columns=["image_id", "width", "height", "category", "x", "y", "w", "h", "provenance_kind"])
    return pd.concat(parts, ignore_index=True)


def offline_inputs(
    policy: Policy,
    *,
    gt_path: Path,
    pred_path: Path | None = None,
    annotation_paths: dict[str, Path] | None = None,
    parent_path: Path | None = None,
    policy_sha256: str = "",
) -> GateInputs:
    """Read and validate the offline files and assemble :class:`~quality_gates.inputs.GateInputs`.

    Raises:
        InputFormatError: an unreadable, empty or invalid file (naming the file and field), or categories
            that disagree with ``gt_path``.
    """
    hashes: dict[str, str] = {}
    if policy_sha256:
        hashes["policy_file"] = policy_sha256
    # Millions of small dicts: the cyclic GC would rescan them over and over while they are built, and JSON
    # has no cycles, so it is paused while files load. Each file's dicts are dropped as soon as it is parsed.
    with _gc_paused():
        gt, hashes["gt"] = _load_instances(gt_path)
        pred = None
        pred_sha = ""
        if pred_path is not None:
            pred, pred_sha = _load_results(pred_path, gt)
            hashes["pred"] = pred_sha
        annotators: dict[str, CocoDataset] = {}
        for name, path in (annotation_paths or {}).items():
            ds, hashes[f"annotations:{name}"] = _load_instances(path)
            check_same_categories(gt, ds, source=str(path), reference_name=str(gt_path))
            annotators[name] = ds
        parent_dist = None
        parent_names = None
        if parent_path is not None:
            parent, hashes["parent"] = _load_instances(parent_path)
            counts = parent.boxes.class_counts(len(parent.class_names))
            parent_dist = {n: float(c) for n, c in zip(parent.class_names, counts.tolist(), strict=True)}
            parent_names = parent.class_names
    thr = model_threshold(policy)
    frame = None
    if policy.gates.expectations is not None:
        frame = _annotation_frame(gt, annotators, pred, pred_sha, thr)
    review = None
    if pred is not None and pred.reviewed is not None:
        review = review_coverage_from_flags(pred.reviewed, pred.routed)
    return GateInputs(
        class_names=gt.class_names,
        golden=gt.boxes,
        golden_images=gt.image_ids,
        predictions=pred.boxes if pred is not None else None,
        model_name=pred_path.stem if pred_path is not None else "model",
        annotators={n: LabelSet(ds.boxes, images=ds.image_ids) for n, ds in annotators.items()} or None,
        parent_distribution=parent_dist,
        parent_class_names=parent_names,
        annotation_frame=frame,
        review=review,
        data_hashes=hashes,
    )


def _offline_header(policy: Policy, policy_path: Path, gt_path: Path, inputs: GateInputs) -> ReportHeader:
    """Offline, the policy is a file (no stored version) and the golden set is the ``--gt`` file."""
    golden = inputs.golden
    info: dict[str, Any] = {
        "name": gt_path.name,
        "version": None,
        "source": str(gt_path),
        "sha256": inputs.data_hashes.get("gt"),
        "items": len(inputs.golden_images) if inputs.golden_images is not None else 0,
        "labels": len(golden) if golden is not None else 0,
    }
    notes: tuple[str, ...] = ()
    if policy.golden:
        info["policy_golden"] = policy.golden
        notes = (f"the policy names golden set {policy.golden}; offline, --gt {gt_path.name} stands in for it",)
    return ReportHeader(policy_source=str(policy_path), golden=info, notes=notes)


class CheckRefused(Exception):
    """Bad input to ``gate check``: exit 2 with this one line (a service hook raises it too)."""


def _fail(message: str) -> CheckRefused:
    return CheckRefused(message)


@gate_app.callback()
def _gate() -> None:
    """Quality gates."""


@gate_app.command("check")
@exits_cleanly
def check(
    target: Annotated[
        str | None, typer.Argument(help="DATASET@VERSION to check through the service (not available offline)")
    ] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="gate policy YAML file")] = None,
    gt: Annotated[Path | None, typer.Option("--gt", help="golden set, COCO instances JSON")] = None,
    pred: Annotated[Path | None, typer.Option("--pred", help="model predictions, COCO results JSON")] = None,
    annotations: Annotated[
        list[str] | None, typer.Option("--annotations", help="NAME=coco.json, one annotator's labels; repeatable")
    ] = None,
    parent: Annotated[Path | None, typer.Option("--parent", help="parent version's labels, COCO JSON")] = None,
    golden: Annotated[
        str | None,
        typer.Option(
            "--golden", help="NAME@VERSION of the golden set for DATASET@VERSION (overrides the policy's `golden`)"
        ),
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="report format")] = OutputFormat.text,
    output: Annotated[Path | None, typer.Option("--output", help="write the report to this file")] = None,
) -> None:
    """Evaluate a gate policy; exit 0 when every gate passes, 1 when one blocks, 2 on bad input (with --format
    json or junit, an error report is still written: CI keeps an artefact either way)."""
    try:
        if target is not None and gt is None and pred is None:
            if _service_check is None:
                raise _fail(f"{target}: service form not available offline; pass --gt/--pred (and --policy)")
            report, header = _service_check(target, policy, golden)
        else:
            report, header = _offline_check(policy, gt, pred, annotations or [], parent, golden)
    except CheckRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        if fmt is not OutputFormat.text:
            _write(render_error(str(exc), "json" if fmt is OutputFormat.json else "junit", target=target), output)
        raise typer.Exit(EXIT_INPUT) from None
    text = render(report, fmt.value, header=header)
    if output is not None:
        _write(text, output)
        verdict = "PASSED" if report.passed else "BLOCKED"
        typer.echo(f"gate check {verdict}: report written to {output}")
        for g in report.blocking:
            typer.echo(f"  BLOCK {g.name}: {g.explanation}")
    else:
        typer.echo(text, nl=False)
    raise typer.Exit(EXIT_OK if report.passed else EXIT_BLOCKED)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: {output}: cannot write report: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_INPUT) from None


def _offline_check(
    policy: Path | None,
    gt: Path | None,
    pred: Path | None,
    annotations: list[str],
    parent: Path | None,
    golden: str | None,
) -> tuple[GateReport, ReportHeader]:
    if golden is not None:
        raise _fail("--golden: names a golden set on the record (DATASET@VERSION); offline, --gt is the golden set")
    if policy is None:
        raise _fail("--policy: missing; pass the gate policy YAML file")
    if gt is None:
        raise _fail("--gt: missing; pass the golden set as a COCO instances JSON file")
    try:
        raw = policy.read_bytes()
    except OSError as exc:
        raise _fail(f"{policy}: cannot read file: {exc.strerror or exc}") from None
    try:
        pol = parse_policy(raw.decode("utf-8"))
        inputs = offline_inputs(
            pol,
            gt_path=gt,
            pred_path=pred,
            annotation_paths=_annotation_args(annotations),
            parent_path=parent,
            policy_sha256=hashlib.sha256(raw).hexdigest(),
        )
        return evaluate(pol, inputs), _offline_header(pol, policy, gt, inputs)
    except UnicodeDecodeError:
        raise _fail(f"{policy}: is not UTF-8 text") from None
    except MissingInputError as exc:
        hint = _HINTS.get(exc.gate, "")
        raise _fail(f"{policy}: {exc}" + (f" ({hint})" if hint else "")) from None
    except GateError as exc:
        prefix = f"{policy}: " if not isinstance(exc, InputFormatError) else ""
        raise _fail(f"{prefix}{exc}") from None
