"""Type aliases shared by the quality-gate modules (named once, used everywhere)."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
AnyArray: TypeAlias = npt.NDArray[Any]
JsonDict: TypeAlias = dict[str, Any]

__all__ = ["AnyArray", "BoolArray", "FloatArray", "IntArray", "JsonDict"]
