"""The offline form of ``gate check``: COCO or classification files → :class:`~quality_gates.inputs.GateInputs`
→ a report.

The task comes from ``--gt``: a COCO instances file whose annotations carry ``keypoints`` is pose (OKS sigmas
from ``--sigmas``, else the COCO person sigmas for 17-point objects), ``segmentation`` segment, else detect; a
classification file (``.csv``, or a ``.json`` object of item → class(es), :mod:`quality_gates.classfile`) is
classify, single-label unless ``--multi-label``, its classes those of ``--classes FILE`` (one name a line) or
the ones ``--gt`` uses. The results files follow: COCO results with ``bbox``, ``segmentation`` (RLE) or
``keypoints`` records; classification predictions with scores. The policy's ``task`` must be the files'.

How the files feed the gates: ``--gt`` is the golden set and the schema; ``--pred`` the model's predictions
(scored; the policy's threshold applies); each ``--annotations NAME=FILE`` one annotator's labels of the
golden images (golden-set error per annotator, Krippendorff's alpha); ``--parent`` the parent version's
labels (class drift; categories may differ, which counts as schema changes). The version's labels for drift
and expectations are the annotators' boxes plus the predictions at the threshold; predictions are recorded
with ``import`` provenance (the file's SHA-256 and format). Review coverage reads optional boolean
``reviewed``/``routed`` fields of the prediction records.

Bad input raises :class:`CheckRefused` naming the file (and the field inside it) or the flag; a configured
gate without its input names the flag that supplies it (:data:`MISSING_INPUT_HINTS`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from quality_gates.boxes import BoxSet, LabelSet
from quality_gates.classification import ClassLabels
from quality_gates.coco import CocoDataset, check_same_categories, parse_coco_instances
from quality_gates.coco_shapes import (
    coco_task,
)
from quality_gates.coverage import review_coverage_from_flags
from quality_gates.errors import GateError, InputFormatError, MissingInputError
from quality_gates.evaluate import Progress, evaluate, missing_inputs
from quality_gates.gates import model_threshold
from quality_gates.inputs import GateInputs
from quality_gates.policy import Policy, parse_policy
from quality_gates.shapes import Instances, rows_of
from quality_gates.verdict import GateReport
from service.cli.gate_files import CheckRefused, Shapes, class_inputs, gc_paused, is_coco, read_json
from service.gate_report import ReportHeader

__all__ = ["MISSING_INPUT_HINTS", "CheckRefused", "missing_input_hint", "offline_check", "offline_inputs"]


def _silent(phase: str) -> None:
    """Progress that says nothing."""


#: What to pass offline for each input a configured gate can lack, by the start of the ``missing`` text of
#: ``quality_gates.evaluate.missing_inputs``' errors. Each names the ``gate check`` flag that supplies it.
MISSING_INPUT_HINTS: tuple[tuple[str, str], ...] = (
    ("the golden set", "pass --gt golden_coco.json"),
    ("labels to judge", "pass --pred predictions.json and/or --annotations NAME=coco.json"),
    ("label sets of two or more annotators", "pass two or more --annotations NAME=coco.json"),
    ("model predictions", "pass --pred predictions.json"),
    ("baseline", "offline, the one baseline is the golden set (--gt); check other baselines on the record"),
    ("the parent version's class distribution", "pass --parent parent_coco.json"),
    ("the class distribution of this version", "pass --annotations NAME=coco.json and/or --pred predictions.json"),
    ("the annotation table", "pass --annotations NAME=coco.json and/or --pred predictions.json"),
    (
        "review statistics",
        "offline, review counts come from boolean 'reviewed' (and 'routed') fields of the prediction records in --pred",
    ),
    (
        "the training data of the models",
        "no file says what a model was trained on: training_leakage runs on the record only "
        "(labelgate gate check DATASET@VERSION --policy FILE)",
    ),
)


def missing_input_hint(error: MissingInputError) -> str:
    """The flag to pass offline for the input ``error`` says is missing (empty when none supplies it)."""
    return next((hint for start, hint in MISSING_INPUT_HINTS if error.missing.startswith(start)), "")


def _missing_message(errors: list[MissingInputError]) -> str:
    """One line for every configured gate without its input, each input with the flag that supplies it:
    ``gate 'A' is configured but its input is missing: WHAT (HINT); also missing: WHAT for B, C (HINT)``."""
    groups: dict[tuple[str, str], list[str]] = {}
    for e in errors:
        groups.setdefault((e.missing, missing_input_hint(e)), []).append(e.gate)
    first = errors[0]
    parts: list[str] = []
    for (what, hint), gates in groups.items():
        tail = f" ({hint})" if hint else ""
        if (what, hint) == (first.missing, missing_input_hint(first)):
            also = [g for g in gates if g != first.gate]
            head = f"gate {first.gate!r} is configured but its input is missing: {what}"
            parts.insert(0, head + (f", as for {', '.join(also)}" if also else "") + tail)
        else:
            parts.append(f"also missing: {what} for {', '.join(gates)}{tail}")
    return "; ".join(parts)


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
    pred: BoxSet | None,
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
        b = pred.at_threshold(threshold)
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
    progress: Progress | None = None,
    sigmas: str | None = None,
    multi_label: bool = False,
    classes_path: Path | None = None,
) -> GateInputs:
    """Read and validate the offline files and assemble :class:`~quality_gates.inputs.GateInputs` of the task
    ``gt_path`` implies; ``progress`` (None) is told each file as it is read. ``sigmas`` (``"s1,s2,..."``):
    OKS sigmas of pose files; ``multi_label`` and ``classes_path`` (one class name a line): classification.

    Raises:
        InputFormatError: an unreadable, empty or invalid file (naming the file and field), or categories
            that disagree with ``gt_path``.
        CheckRefused: pose files without usable sigmas (naming ``--sigmas``).
    """
    hashes: dict[str, str] = {}
    if policy_sha256:
        hashes["policy_file"] = policy_sha256
    say = progress or _silent
    # Millions of small dicts: the cyclic GC would rescan them over and over while they are built, and JSON
    # has no cycles, so it is paused while files load. Each file's dicts are dropped as soon as it is parsed.
    with gc_paused():
        say(f"reading golden set {gt_path.name}…")
        if gt_path.suffix.lower() == ".csv":
            return class_inputs(policy, gt_path, None, pred_path, annotation_paths, parent_path, hashes, say,
                                 multi_label=multi_label, classes_path=classes_path)  # fmt: skip
        data, hashes["gt"] = read_json(gt_path)
        if not is_coco(data):
            return class_inputs(policy, gt_path, data, pred_path, annotation_paths, parent_path, hashes, say,
                                 multi_label=multi_label, classes_path=classes_path)  # fmt: skip
        shapes = Shapes(coco_task(data), sigmas)
        gt, golden = shapes.instances(data, gt_path)
        del data
        say(f"golden set {gt_path.name}: {len(gt.image_ids)} images, {len(gt.boxes)} labels ({shapes.task})")
        pred: Instances | None = None
        reviewed = routed = None
        pred_sha = ""
        if pred_path is not None:
            say(f"reading predictions {pred_path.name}…")
            raw, pred_sha = read_json(pred_path)
            pred, reviewed, routed = shapes.results(raw, gt, pred_path)
            hashes["pred"] = pred_sha
        annotators: dict[str, CocoDataset] = {}
        annotator_sets: dict[str, LabelSet] = {}
        for name, path in (annotation_paths or {}).items():
            say(f"reading annotator {name}'s labels {path.name}…")
            raw, hashes[f"annotations:{name}"] = read_json(path)
            ds, objs = shapes.instances(raw, path)
            check_same_categories(gt, ds, source=str(path), reference_name=str(gt_path))
            annotators[name] = ds
            annotator_sets[name] = LabelSet(objs, images=ds.image_ids)
        parent_dist = None
        parent_names = None
        if parent_path is not None:
            say(f"reading parent labels {parent_path.name}…")
            raw, hashes["parent"] = read_json(parent_path)
            parent = parse_coco_instances(raw, source=str(parent_path))
            counts = parent.boxes.class_counts(len(parent.class_names))
            parent_dist = {n: float(c) for n, c in zip(parent.class_names, counts.tolist(), strict=True)}
            parent_names = parent.class_names
    thr = model_threshold(policy)
    frame = None
    if policy.gates.expectations is not None:
        say("building the annotation table…")
        frame = _annotation_frame(gt, annotators, rows_of(pred) if pred is not None else None, pred_sha, thr)
    review = review_coverage_from_flags(reviewed, routed) if reviewed is not None else None
    return GateInputs(
        class_names=gt.class_names,
        task=shapes.task,
        golden=golden,
        golden_images=gt.image_ids,
        predictions=pred,
        model_name=pred_path.stem if pred_path is not None else "model",
        annotators=annotator_sets or None,
        oks_sigmas=shapes.oks_sigmas(),
        parent_distribution=parent_dist,
        parent_class_names=parent_names,
        annotation_frame=frame,
        review=review,
        data_hashes=hashes,
    )


def _offline_header(policy: Policy, policy_path: Path, gt_path: Path, inputs: GateInputs) -> ReportHeader:
    """Offline, the policy is a file (no stored version) and the golden set is the ``--gt`` file."""
    golden = inputs.golden
    if isinstance(golden, ClassLabels):
        items, labels = len(golden), int(golden.indicator.sum())
    else:
        items = len(inputs.golden_images) if inputs.golden_images is not None else 0
        labels = len(golden) if golden is not None else 0
    info: dict[str, Any] = {
        "name": gt_path.name,
        "version": None,
        "source": str(gt_path),
        "sha256": inputs.data_hashes.get("gt"),
        "items": items,
        "labels": labels,
    }
    notes: tuple[str, ...] = ()
    if policy.golden:
        info["policy_golden"] = policy.golden
        notes = (f"the policy names golden set {policy.golden}; offline, --gt {gt_path.name} stands in for it",)
    return ReportHeader(policy_source=str(policy_path), golden=info, notes=notes)


def offline_check(
    policy: Path | None,
    gt: Path | None,
    pred: Path | None,
    annotations: list[str],
    parent: Path | None,
    golden: str | None,
    *,
    progress: Progress | None = None,
    sigmas: str | None = None,
    multi_label: bool = False,
    classes: Path | None = None,
) -> tuple[GateReport, ReportHeader]:
    """Check ``policy`` on the files (the flags of ``gate check``); ``progress`` hears each phase.

    Raises:
        CheckRefused: bad input, naming the file and field or the flag (the policy file for a gate without
            its input, with the flag that supplies it).
    """
    if golden is not None:
        on_record = "names a golden set on the record (DATASET@VERSION); offline, --gt is the golden set"
        raise CheckRefused(on_record, field="--golden")
    if policy is None:
        raise CheckRefused("missing; pass the gate policy YAML file", field="--policy")
    if gt is None:
        raise CheckRefused(
            "missing; pass the golden set as a COCO instances JSON file or a classification CSV/JSON file",
            field="--gt",
        )
    where = str(policy)
    try:
        raw = policy.read_bytes()
    except OSError as exc:
        raise CheckRefused(f"cannot read file: {exc.strerror or exc}", field=where) from None
    try:
        pol = parse_policy(raw.decode("utf-8"))
        inputs = offline_inputs(
            pol,
            gt_path=gt,
            pred_path=pred,
            annotation_paths=_annotation_args(annotations),
            parent_path=parent,
            policy_sha256=hashlib.sha256(raw).hexdigest(),
            progress=progress,
            sigmas=sigmas,
            multi_label=multi_label,
            classes_path=classes,
        )
        missing = missing_inputs(pol, inputs)
        if missing:
            raise CheckRefused(_missing_message(missing), field=where)
        return evaluate(pol, inputs, progress=progress), _offline_header(pol, policy, gt, inputs)
    except UnicodeDecodeError:
        raise CheckRefused("is not UTF-8 text", field=where) from None
    except MissingInputError as exc:
        raise CheckRefused(_missing_message([exc]), field=where) from None
    except InputFormatError as exc:
        raise CheckRefused(exc.message, field=f"{exc.source}: {exc.field}" if exc.field else exc.source) from None
    except GateError as exc:
        raise CheckRefused(str(exc), field=where) from None
