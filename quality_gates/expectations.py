"""Data expectations over the annotation table, run with Great Expectations 1.x (imported lazily: it takes
seconds to import).

The annotation frame has one row per box:

=====================  =====================================================================================
column                 meaning
=====================  =====================================================================================
image_id               image identifier
width, height          image size in px (> 0)
category               class name
x, y, w, h             box in px, COCO xywh (top-left corner, width, height)
score                  confidence in [0, 1] (``confidence`` is accepted as an alias); null for human labels
provenance_kind        ``human`` | ``model`` | ``import`` | ``synthetic``
annotator              human: who labelled
model_version,         model: the model version, its weights' SHA-256, the confidence threshold and the
weights_sha256,        auto-label run id (the confidence itself is ``score``)
threshold, run_id
source_sha256,         import: hash and format of the imported file
source_format
generator_config_hash  synthetic: hash of the generator configuration
=====================  =====================================================================================

Missing provenance columns are added as nulls, so an absent column fails its expectation instead of raising.
The default suite checks: box inside its image (within ``tolerance`` px), positive width and height,
score in [0, 1], class in the schema, a known provenance kind and complete provenance per kind, and no two
boxes of one class on one image from one source with IoU above ``duplicate_iou`` (a helper column holds
each box's highest such IoU). Callers add their own expectations (GE objects or ``{"type": ..., **kwargs}``
dicts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from quality_gates._types import FloatArray, IntArray
from quality_gates.boxes import BoxColumns, iou_at

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PROVENANCE_FIELDS",
    "ExpectationOutcome",
    "ExpectationsReport",
    "duplicate_iou_column",
    "prepare_annotation_frame",
    "run_expectations",
]

PROVENANCE_FIELDS: dict[str, tuple[str, ...]] = {
    "human": ("annotator",),
    "model": ("model_version", "weights_sha256", "score", "threshold", "run_id"),
    "import": ("source_sha256", "source_format"),
    "synthetic": ("generator_config_hash",),
}
_SOURCE_FIELD = {
    "human": "annotator",
    "model": "run_id",
    "import": "source_sha256",
    "synthetic": "generator_config_hash",
}
_PROVENANCE_TEXT = (
    "annotator",
    "model_version",
    "weights_sha256",
    "run_id",
    "source_sha256",
    "source_format",
    "generator_config_hash",
)
_REQUIRED = ("image_id", "width", "height", "category", "x", "y", "w", "h", "provenance_kind")


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation.

    Attributes:
        name: short label of the check (``"box inside image (right edge)"``).
        expectation: GE's expectation type (``"expect_column_values_to_be_between"``).
        column: the column checked (``""`` for table-level expectations).
        success: whether it held.
        element_count: rows considered (after any row condition).
        unexpected_count: rows that broke it.
        examples: up to N ``(row index, value)`` pairs of offending rows.
    """

    name: str
    expectation: str
    column: str
    success: bool
    element_count: int
    unexpected_count: int
    examples: tuple[tuple[int, Any], ...]


@dataclass(frozen=True)
class ExpectationsReport:
    """All outcomes of a suite run; ``failed`` lists the ones that did not hold."""

    suite: str
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def success(self) -> bool:
        """True when every expectation held."""
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        """The outcomes that did not hold."""
        return tuple(o for o in self.outcomes if not o.success)


def _codes(values: Any) -> IntArray:
    """Integer codes of a column's values (categoricals: their codes; nulls: -1)."""
    import pandas as pd

    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        return np.asarray(values.cat.codes, dtype=np.int64)
    codes, _ = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64)


def _combine(a: IntArray, b: IntArray) -> IntArray:
    """One code per distinct (a, b) pair (codes may be -1); compacted only when the product could overflow."""
    radix = int(b.max(initial=0)) + 2
    if (int(a.max(initial=0)) + 2) * radix >= 2**62:
        a = _codes(a)
    return (a + 1) * radix + (b + 1)


def duplicate_iou_column(frame: pd.DataFrame, *, per_source: bool = True, min_iou: float = 0.5) -> FloatArray:
    """Highest IoU of each box with another box of the same class on the same image (0 if none ≥ ``min_iou``).

    Args:
        frame: a prepared annotation frame (:func:`prepare_annotation_frame`).
        per_source (True): only compare boxes of the same source (one annotator, one model run, one imported
            file, one generator configuration).
        min_iou (0.5): pairs below this IoU are reported as 0.
    """
    n = len(frame)
    if n == 0:
        return np.zeros(0)
    key = _combine(_codes(frame["image_id"]), _codes(frame["category"]))
    if per_source:
        kind = frame["provenance_kind"]
        ident = np.full(n, -1, dtype=np.int64)
        for k, col in _SOURCE_FIELD.items():
            rows = (kind == k).to_numpy(dtype=bool, na_value=False)
            if rows.any():
                ident[rows] = _codes(frame[col])[rows]
        key = _combine(key, _combine(_codes(kind), ident))
    # Every unordered pair inside a group, from a sort by group: element at position p pairs with p+1..end.
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.flatnonzero(np.concatenate(([True], sk[1:] != sk[:-1])))
    ends = np.append(starts[1:], n)
    group_end = np.repeat(ends, ends - starts)
    cnt = group_end - np.arange(n) - 1
    first = np.repeat(np.arange(n), cnt)
    second = first + 1 + (np.arange(len(first)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    x, y, w, h = (np.nan_to_num(frame[c].to_numpy(dtype=np.float64, na_value=np.nan)) for c in ("x", "y", "w", "h"))
    cols = BoxColumns(x, y, w + x, h + y, w * h)
    a, b = order[first], order[second]
    iou = iou_at(cols, cols, a, b)
    keep = iou >= min_iou
    out = np.zeros(n)
    np.maximum.at(out, a[keep], iou[keep])
    np.maximum.at(out, b[keep], iou[keep])
    return out


def prepare_annotation_frame(frame: pd.DataFrame, *, per_source_duplicates: bool = True) -> pd.DataFrame:
    """A copy of ``frame`` with the optional columns added as nulls and the helper columns computed.

    Helper columns: ``_right_margin = width − (x + w)``, ``_bottom_margin = height − (y + h)`` (px) and
    ``_dup_iou`` (see :func:`duplicate_iou_column`). Text columns become categoricals (values unchanged).

    Raises:
        ValueError: a required column (image_id, width, height, category, x, y, w, h, provenance_kind) is absent.
    """
    import pandas as pd

    df = frame.copy()
    if "score" not in df.columns and "confidence" in df.columns:
        df = df.rename(columns={"confidence": "score"})
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"annotation frame lacks required columns: {', '.join(missing)}")
    for cols in PROVENANCE_FIELDS.values():
        for c in cols:
            if c not in df.columns:
                df[c] = None
    for c in ("x", "y", "w", "h", "width", "height", "score"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    # Few distinct strings per column: categoricals make GE's row-condition filtering (a take per column)
    # cheap and give the duplicate check integer codes, leaving values, nulls and membership tests unchanged.
    for c in ("category", "provenance_kind", *_PROVENANCE_TEXT):
        if not isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype("category")
    df["_right_margin"] = df["width"] - (df["x"] + df["w"])
    df["_bottom_margin"] = df["height"] - (df["y"] + df["h"])
    df["_dup_iou"] = duplicate_iou_column(df, per_source=per_source_duplicates)
    return df


def _gx(class_name: str, **kwargs: Any) -> Any:
    import great_expectations.expectations as gxe

    return getattr(gxe, class_name)(**kwargs)


def _default_suite(
    class_names: Sequence[str] | None, *, tolerance: float, duplicate_iou: float
) -> list[tuple[str, Any]]:
    checks: list[tuple[str, Any]] = [
        ("box inside image (left edge)", _gx("ExpectColumnValuesToBeBetween", column="x", min_value=-tolerance)),
        ("box inside image (top edge)", _gx("ExpectColumnValuesToBeBetween", column="y", min_value=-tolerance)),
        (
            "box inside image (right edge)",
            _gx("ExpectColumnValuesToBeBetween", column="_right_margin", min_value=-tolerance),
        ),
        (
            "box inside image (bottom edge)",
            _gx("ExpectColumnValuesToBeBetween", column="_bottom_margin", min_value=-tolerance),
        ),
        ("positive width", _gx("ExpectColumnValuesToBeBetween", column="w", min_value=0, strict_min=True)),
        ("positive height", _gx("ExpectColumnValuesToBeBetween", column="h", min_value=0, strict_min=True)),
        ("box coordinates present", _gx("ExpectColumnValuesToNotBeNull", column="x")),
        ("confidence in [0, 1]", _gx("ExpectColumnValuesToBeBetween", column="score", min_value=0, max_value=1)),
        (
            "provenance kind known",
            _gx("ExpectColumnValuesToBeInSet", column="provenance_kind", value_set=list(PROVENANCE_FIELDS)),
        ),
        ("provenance kind present", _gx("ExpectColumnValuesToNotBeNull", column="provenance_kind")),
        (
            f"no duplicate boxes (IoU > {duplicate_iou:g})",
            _gx("ExpectColumnValuesToBeBetween", column="_dup_iou", max_value=duplicate_iou),
        ),
        ("image size present", _gx("ExpectColumnValuesToNotBeNull", column="width")),
    ]
    if class_names is not None:
        checks.append(
            ("class in schema", _gx("ExpectColumnValuesToBeInSet", column="category", value_set=list(class_names)))
        )
        checks.append(("class present", _gx("ExpectColumnValuesToNotBeNull", column="category")))
    for kind, fields in PROVENANCE_FIELDS.items():
        for f in fields:
            checks.append(
                (
                    f"provenance complete: {kind} needs {f}",
                    _gx(
                        "ExpectColumnValuesToNotBeNull",
                        column=f,
                        row_condition=f'provenance_kind=="{kind}"',
                        condition_parser="pandas",
                    ),
                )
            )
    return checks


def _to_expectation(spec: Any) -> tuple[str, Any]:
    import great_expectations.expectations as gxe

    if isinstance(spec, Mapping):
        kwargs = dict(spec)
        etype = str(kwargs.pop("type", ""))
        name = str(kwargs.pop("name", etype))
        cls_name = "".join(part.capitalize() for part in etype.split("_"))
        cls = getattr(gxe, cls_name, None)
        if cls is None:
            raise ValueError(f"unknown expectation type {etype!r}")
        return name, cls(**kwargs)
    return str(getattr(spec, "expectation_type", type(spec).__name__)), spec


def run_expectations(
    frame: pd.DataFrame,
    *,
    class_names: Sequence[str] | None = None,
    extra: Sequence[Any] = (),
    include_default: bool = True,
    tolerance: float = 1e-6,
    duplicate_iou: float = 0.95,
    per_source_duplicates: bool = True,
    max_examples: int = 5,
    suite_name: str = "default",
) -> ExpectationsReport:
    """Validate an annotation frame with an ephemeral GE context and return one outcome per expectation.

    Args:
        frame: the annotation table (columns in the module docstring).
        class_names (None): the schema's classes; when given, ``category`` must be one of them.
        extra (()): more expectations: GE ``Expectation`` objects or dicts ``{"type":
            "expect_column_values_to_not_be_null", "column": "annotator", "name": "..."}``.
        include_default (True): run the default label-aware suite.
        tolerance (1e-6): px a box may stick out of its image (floating-point slack).
        duplicate_iou (0.95): IoU above which two same-class boxes count as duplicates.
        per_source_duplicates (True): compare only boxes of one source for duplicates.
        max_examples (5): offending rows reported per expectation.
        suite_name ("default"): name carried into the report.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    df = prepare_annotation_frame(frame, per_source_duplicates=per_source_duplicates)
    checks = _default_suite(class_names, tolerance=tolerance, duplicate_iou=duplicate_iou) if include_default else []
    checks += [_to_expectation(s) for s in extra]
    if not checks:
        return ExpectationsReport(suite_name, ())
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = ctx.data_sources.add_pandas("labelgate").add_dataframe_asset("annotations")
    batch_def = asset.add_batch_definition_whole_dataframe("all rows")
    suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name))
    names: dict[str, tuple[int, str]] = {}
    for pos, (name, exp) in enumerate(checks):
        added = suite.add_expectation(exp)
        names[str(added.id)] = (pos, name)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite))
    result = vd.run(
        batch_parameters={"dataframe": df},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": max_examples},
    )
    outcomes: list[tuple[int, ExpectationOutcome]] = []
    for r in result.results:
        cfg = r.expectation_config
        if cfg is None:
            continue
        res = dict(r.result or {})
        idx = list(res.get("partial_unexpected_index_list") or [])
        vals = list(res.get("partial_unexpected_list") or [])
        examples = tuple((int(i), _plain(v)) for i, v in zip(idx, vals, strict=False))[:max_examples]
        pos, name = names.get(str(cfg.id), (len(names), str(cfg.type)))
        outcomes.append(
            (
                pos,
                ExpectationOutcome(
                    name=name,
                    expectation=str(cfg.type),
                    column=str(cfg.kwargs.get("column", "")),
                    success=bool(r.success),
                    element_count=int(res.get("element_count", len(df)) or 0),
                    unexpected_count=int(res.get("unexpected_count", 0) or 0),
                    examples=examples,
                ),
            )
        )
    outcomes.sort(key=lambda po: po[0])
    return ExpectationsReport(suite_name, tuple(o for _, o in outcomes))


def _plain(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v
