"""Where a run's batches are predicted: in this process (default) or on a Ray cluster.

The seam is :class:`Executor`: it takes the run's batches in order and yields their results in the same
order. Executors only read images and predict; the runner alone writes to the database, one transaction per
batch, so scaling out changes nothing about provenance or resumability.

- ``local``: the model in this process; a background thread reads and decodes the next batches while the
  device works on the current one.
- ``ray``: ``workers`` Ray actors each load the model once and read their batches' images themselves (from the
  workspace repository, which they must see); at most two batches per actor are in flight.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inference.images import ImageReadError, VersionImages, decode_bgr, thumbnail_feature
from inference.types import BatchResult, BatchTask, Detections, FloatArray, ItemResult
from inference.ultra import PredictOptions, Predictor
from lineage.errors import Conflict, InvalidInput

__all__ = ["BatchWorker", "Executor", "LocalExecutor", "RayExecutor", "WorkerSpec", "make_executor"]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, picklable: the weights (checked against their hash), the device, prediction
    options and where the version's images are."""

    weights: str
    weights_sha256: str
    device: str
    repo_dir: str
    git_revision: str
    data_path: str
    options: PredictOptions = field(default_factory=PredictOptions)
    features: bool = True


@dataclass(eq=False)
class LoadedBatch:
    task: BatchTask
    images: list[np.ndarray | None]
    errors: list[str | None]
    features: list[FloatArray | None]


class BatchWorker:
    """Reads, decodes and predicts batches. One per process or Ray actor."""

    def __init__(self, spec: WorkerSpec) -> None:
        from inference.registry import sha256_file

        weights = Path(spec.weights)
        if not weights.is_file() or sha256_file(weights) != spec.weights_sha256:
            raise Conflict(f"weights at {weights} are missing or differ from the registered hash", field="model")
        self.spec = spec
        self.predictor = Predictor(weights, device=spec.device, options=spec.options)
        self.predictor.warmup()
        self.images = VersionImages(Path(spec.repo_dir), git_revision=spec.git_revision, data_path=spec.data_path)

    def load(self, task: BatchTask) -> LoadedBatch:
        images: list[np.ndarray | None] = []
        errors: list[str | None] = []
        features: list[FloatArray | None] = []
        for ref in task.items:
            try:
                img = decode_bgr(self.images.read(ref), uri=ref.uri)
            except ImageReadError as exc:
                images.append(None)
                errors.append(str(exc))
                features.append(None)
                continue
            images.append(img)
            errors.append(None)
            features.append(thumbnail_feature(img) if self.spec.features else None)
        return LoadedBatch(task, images, errors, features)

    def predict(self, loaded: LoadedBatch) -> BatchResult:
        ok = [img for img in loaded.images if img is not None]
        started = time.perf_counter()
        found = iter(self.predictor.predict(ok))
        seconds = time.perf_counter() - started
        results: list[ItemResult] = []
        for ref, img, error, feature in zip(
            loaded.task.items, loaded.images, loaded.errors, loaded.features, strict=True
        ):
            if img is None:
                results.append(ItemResult(ref.item_id, Detections.empty(), None, error))
                continue
            results.append(ItemResult(ref.item_id, next(found), feature))
        return BatchResult(loaded.task.index, results, seconds)

    def process(self, task: BatchTask) -> BatchResult:
        return self.predict(self.load(task))

    def close(self) -> None:
        self.images.close()


class Executor(Protocol):
    def run(self, tasks: Iterable[BatchTask]) -> Iterator[BatchResult]:
        """Results of ``tasks`` in the same order; stopping the iteration early stops the work."""
        ...

    def close(self) -> None: ...


_DONE = object()


class LocalExecutor:
    """In-process: the model here, images read ``prefetch`` batches ahead on a background thread."""

    def __init__(self, spec: WorkerSpec, *, prefetch: int = 2) -> None:
        self.worker = BatchWorker(spec)
        self.prefetch = max(1, prefetch)

    def run(self, tasks: Iterable[BatchTask]) -> Iterator[BatchResult]:
        ready: queue.Queue[Any] = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce() -> None:
            try:
                for task in tasks:
                    if stop.is_set():
                        return
                    ready.put(self.worker.load(task))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                ready.put(exc)
            finally:
                ready.put(_DONE)

        thread = threading.Thread(target=produce, name="labelgate-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield self.worker.predict(item)
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)
            thread.join()

    def close(self) -> None:
        self.worker.close()


class RayExecutor:
    """Batches on Ray actors. Connects to ``address`` (or the running Ray), else starts a local Ray instance."""

    def __init__(self, spec: WorkerSpec, *, workers: int = 1, address: str | None = None) -> None:
        import ray

        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            self._owns_ray = True
        gpus = 1 if spec.device.startswith("cuda") else 0
        actor_cls: Any = ray.remote(num_cpus=1, num_gpus=gpus)(BatchWorker)
        self.actors: list[Any] = [actor_cls.remote(spec) for _ in range(max(1, workers))]

    def run(self, tasks: Iterable[BatchTask]) -> Iterator[BatchResult]:
        ray = self._ray
        window = 2 * len(self.actors)
        pending: deque[Any] = deque()
        for n, task in enumerate(tasks):
            pending.append(self.actors[n % len(self.actors)].process.remote(task))
            if len(pending) >= window:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []
        if self._owns_ray:
            self._ray.shutdown()


def make_executor(kind: str, spec: WorkerSpec, *, workers: int = 1, ray_address: str | None = None) -> Executor:
    """``local`` or ``ray`` (``workers`` actors; ``ray_address`` of an existing cluster, else a local one)."""
    if kind == "local":
        return LocalExecutor(spec)
    if kind == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise InvalidInput("the ray executor needs Ray: pip install 'labelgate[ray]'", field="executor") from None
        return RayExecutor(spec, workers=workers, address=ray_address)
    raise InvalidInput(f"unknown executor {kind!r} (expected one of {', '.join(EXECUTORS)})", field="executor")
