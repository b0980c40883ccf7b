"""Auto-labelling: model registry, Ultralytics batch runner (GPU/CPU), threshold calibration, review routing and
active-learning selection. Imports ``lineage`` and ``quality_gates``; torch and Ultralytics only lazily, inside
the functions that need them (importing any module here never imports torch).

Modules, one concept each:

- ``registry``: register a model version from local weights (SHA-256, class map onto a schema version, the
  model's task: detect, segment, pose or classify, which must fit the schema's).
- ``runs``: queue / look up / cancel runs, per-class thresholds; ``lease``: one executor per run.
- ``runner``: execute or resume a run; ``commit``: one batch, one transaction; ``writer``: commits overlap
  prediction; ``executors``: in-process or Ray; ``images``: a version's bytes, hash-checked; ``ultra``: the
  one door to Ultralytics/torch (offline set-up, device, predict).
- ``outputs``: a model's output as labels of the schema's geometry (box, polygon, mask, keypoints, tag; pure).
- ``routing``: which predictions become labels, which items go to people (pure).
- ``calibration`` (pure) and ``calibrate``: F1-optimal and TBAL thresholds against a golden set;
  ``golden_match``: predictions matched to golden labels by box IoU, mask IoU, OKS or class per item.
- ``review``: the review queue and the active-learning pick; ``active`` (pure) and ``signals``: its inputs.
- ``tiny``: a tiny YOLO trained offline on generated shapes; ``tiny_tasks``: tiny segment, pose and classify
  models trained the same way; ``demo``: the demo's chapter and scenario builders.
"""

__all__ = [
    "active",
    "calibrate",
    "calibration",
    "commit",
    "demo",
    "executors",
    "golden_match",
    "images",
    "lease",
    "outputs",
    "registry",
    "review",
    "routing",
    "runner",
    "runs",
    "signals",
    "tiny",
    "tiny_tasks",
    "types",
    "ultra",
    "writer",
]
