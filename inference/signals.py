"""Per-item signals a run leaves for active learning: uncertainty scores and an appearance feature.

They are derived data, not the record: one ``.npz`` per batch under ``<dir>/run-<id>/``, written atomically
just before the batch's transaction commits (a batch redone after a crash overwrites its file), so selection
never needs the model again. Missing files only shrink the pool active learning chooses from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.types import FloatArray, IntArray

__all__ = ["RunSignals", "load_signals", "write_batch_signals"]


@dataclass(frozen=True, eq=False)
class RunSignals:
    """Signals of the items of a run (row ``i`` is item ``item_id[i]``).

    Attributes:
        item_id: (n,) item ids, ascending.
        entropy, margin: (n,) uncertainty scores in [0, 1] (see :mod:`inference.active`): from detection
            confidences for detect, segment and pose runs, from class probabilities for classify runs.
        features: (n, d) appearance features.
    """

    item_id: IntArray
    entropy: FloatArray
    margin: FloatArray
    features: FloatArray

    def __len__(self) -> int:
        return len(self.item_id)


def _run_dir(root: Path, run_id: int) -> Path:
    return root / f"run-{run_id}"


def write_batch_signals(
    root: Path,
    *,
    run_id: int,
    batch_index: int,
    item_id: IntArray,
    entropy: FloatArray,
    margin: FloatArray,
    features: FloatArray,
) -> Path:
    folder = _run_dir(root, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"batch-{batch_index:07d}.npz"
    tmp = folder / f".batch-{batch_index:07d}.{os.getpid()}.tmp.npz"
    np.savez(tmp, item_id=item_id, entropy=entropy, margin=margin, features=features)
    tmp.replace(target)
    return target


def load_signals(root: Path, *, run_id: int) -> RunSignals:
    """Every batch's signals of ``run_id`` (empty when there are none); an item seen twice keeps its last."""
    folder = _run_dir(root, run_id)
    parts = sorted(folder.glob("batch-*.npz")) if folder.is_dir() else []
    if not parts:
        return RunSignals(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros((0, 0)))
    loaded = [np.load(p) for p in parts]
    ids = np.concatenate([z["item_id"] for z in loaded]).astype(np.int64)
    ent = np.concatenate([z["entropy"] for z in loaded]).astype(np.float64)
    mar = np.concatenate([z["margin"] for z in loaded]).astype(np.float64)
    feats = np.concatenate([z["features"] for z in loaded]).astype(np.float64)
    # Keep the last occurrence of each id, then order by id.
    rev = np.arange(len(ids))[::-1]
    _, first_in_rev = np.unique(ids[::-1], return_index=True)
    keep = np.sort(rev[first_in_rev])
    order = keep[np.argsort(ids[keep], kind="stable")]
    return RunSignals(ids[order], ent[order], mar[order], feats[order])
