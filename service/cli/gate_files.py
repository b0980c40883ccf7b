"""The files of the offline ``gate check`` read for each task (used by :mod:`service.cli.gate_offline`): JSON and
text files with their SHA-256, COCO boxes, masks and keypoint objects (:class:`Shapes`), and classification
label files (:func:`class_inputs`, read with :mod:`quality_gates.classfile`).

Bad input raises :class:`~quality_gates.errors.InputFormatError` naming the file and the record, or
:class:`CheckRefused` naming the flag.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lineage.errors import InvalidInput
from quality_gates.classfile import read_class_table, to_class_labels
from quality_gates.classification import ClassLabels
from quality_gates.coco import CocoDataset, parse_coco_instances, parse_coco_results
from quality_gates.coco_shapes import (
    parse_coco_keypoints,
    parse_coco_masks,
    parse_keypoint_results,
    parse_mask_results,
    result_flags,
)
from quality_gates.errors import InputFormatError
from quality_gates.inputs import GateInputs
from quality_gates.keypoints import COCO_PERSON_SIGMAS
from quality_gates.policy import Policy, Task
from quality_gates.shapes import Instances

__all__ = ["CheckRefused", "Shapes", "class_inputs", "gc_paused", "is_coco", "read_bytes", "read_json"]

Progress = Callable[[str], None]


class CheckRefused(InvalidInput):
    """Bad input to ``gate check`` (exit 2): ``field`` names the file or flag, ``message`` what is wrong."""


def read_json(path: Path) -> tuple[Any, str]:
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
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_bytes(path: Path) -> tuple[bytes, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFormatError(str(path), "", f"cannot read file: {exc.strerror or exc}") from None
    if not raw.strip():
        raise InputFormatError(str(path), "", "is empty")
    return raw, hashlib.sha256(raw).hexdigest()


def is_coco(data: Any) -> bool:
    return isinstance(data, dict) and all(isinstance(data.get(k), list) for k in ("images", "annotations"))


class Shapes:
    """How the COCO files of one task become its sets: boxes, masks or keypoint objects."""

    def __init__(self, task: Task, sigmas: str | None) -> None:
        self.task, self.sigmas_arg, self.points = task, sigmas, 0

    def instances(self, data: Any, path: Path) -> tuple[CocoDataset, Instances]:
        ds = parse_coco_instances(data, source=str(path))
        if self.task == "segment":
            return ds, parse_coco_masks(data, ds, source=str(path))
        if self.task == "pose":
            kp = parse_coco_keypoints(data, ds, source=str(path))
            k = kp.keypoints.shape[1]
            if self.points and k and k != self.points:
                raise InputFormatError(str(path), "annotations", f"{k} keypoints per object, --gt has {self.points}")
            self.points = self.points or k
            return ds, kp
        return ds, ds.boxes

    def results(self, data: Any, gt: CocoDataset, path: Path) -> tuple[Instances, Any, Any]:
        if self.task == "detect":
            res = parse_coco_results(data, dataset=gt, source=str(path))
            return res.boxes, res.reviewed, res.routed
        if self.task == "segment":
            found: Instances = parse_mask_results(data, gt, source=str(path))
        else:
            found = parse_keypoint_results(data, gt, num_points=self.points, source=str(path))
        return (found, *result_flags(data, source=str(path)))

    def oks_sigmas(self) -> tuple[float, ...] | None:
        if self.task != "pose":
            return None
        if self.sigmas_arg is None:
            if self.points == len(COCO_PERSON_SIGMAS):
                return COCO_PERSON_SIGMAS
            raise CheckRefused(
                f"--gt has {self.points}-point keypoints; pass their OKS sigmas as --sigmas s1,s2,... "
                "(the COCO person sigmas fit 17 points only)",
                field="--sigmas",
            )
        try:
            values = tuple(float(v) for v in self.sigmas_arg.split(","))
        except ValueError:
            raise CheckRefused(f"expected comma-separated numbers, got {self.sigmas_arg!r}", field="--sigmas") from None
        if len(values) != self.points or not all(np.isfinite(v) and v > 0 for v in values):
            raise CheckRefused(
                f"{len(values)} values for {self.points}-point keypoints; need one positive sigma per point",
                field="--sigmas",
            )
        return values


def _class_table(path: Path, data: Any, hashes: dict[str, str], key: str) -> Any:
    if data is None:
        raw, hashes[key] = read_bytes(path)
        fmt = "csv" if path.suffix.lower() == ".csv" else "json"
        return read_class_table(raw, source=str(path), fmt=fmt)  # type: ignore[arg-type]
    return read_class_table(data, source=str(path), fmt="json")


def _class_names(classes_path: Path | None, golden: Any) -> tuple[str, ...]:
    if classes_path is None:
        return tuple(golden.classes)
    raw, _ = read_bytes(classes_path)
    try:
        lines = [line.strip() for line in raw.decode("utf-8-sig").splitlines()]
    except UnicodeDecodeError:
        raise InputFormatError(str(classes_path), "", "is not UTF-8 text") from None
    names = [n for n in lines if n]
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise InputFormatError(str(classes_path), f"class {dup!r}", "listed twice")
    return tuple(names)


def _predictions(table: Any, names: tuple[str, ...], multi_label: bool) -> ClassLabels:
    """Scored predictions: single-label the top class of each item; multi-label every class scored above 0.
    A file without scores scores its classes 1."""
    if table.scores is None:
        labels = to_class_labels(table, names, multi_label=multi_label)
        return ClassLabels(
            labels.items, labels.indicator, len(names), multi_label, labels.indicator.astype(float), unique_items=True
        )
    found = to_class_labels(table, names, multi_label=multi_label, threshold=0.0)
    if not multi_label:
        return found
    assert found.scores is not None
    return ClassLabels(found.items, found.scores > 0, len(names), True, found.scores, unique_items=True)


def class_inputs(
    policy: Policy,
    gt_path: Path,
    gt_data: Any,
    pred_path: Path | None,
    annotation_paths: dict[str, Path] | None,
    parent_path: Path | None,
    hashes: dict[str, str],
    say: Progress,
    *,
    multi_label: bool,
    classes_path: Path | None,
) -> GateInputs:
    """The classification form of :func:`offline_inputs`."""
    table = _class_table(gt_path, gt_data, hashes, "gt")
    names = _class_names(classes_path, table)
    golden = to_class_labels(table, names, multi_label=multi_label)
    say(f"golden set {gt_path.name}: {len(golden)} items, {len(table)} labels (classify)")
    pred = None
    if pred_path is not None:
        say(f"reading predictions {pred_path.name}…")
        pred = _predictions(_class_table(pred_path, None, hashes, "pred"), names, multi_label)
    annotators: dict[str, ClassLabels] = {}
    for name, path in (annotation_paths or {}).items():
        say(f"reading annotator {name}'s labels {path.name}…")
        annotators[name] = to_class_labels(
            _class_table(path, None, hashes, f"annotations:{name}"), names, multi_label=multi_label
        )
    parent_dist = None
    if parent_path is not None:
        say(f"reading parent labels {parent_path.name}…")
        parent = _class_table(parent_path, None, hashes, "parent")
        counts = np.bincount(parent.class_index, minlength=len(parent.classes))
        parent_dist = {n: float(c) for n, c in zip(parent.classes, counts.tolist(), strict=True)}
    return GateInputs(
        class_names=names,
        task="classify",
        golden=golden,
        predictions=pred,
        model_name=pred_path.stem if pred_path is not None else "model",
        annotators=annotators or None,
        parent_distribution=parent_dist,
        data_hashes=hashes,
    )
