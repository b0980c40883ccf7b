"""A single background thread that applies work items in order: the runner commits batch ``k`` while the
device predicts batch ``k + 1``.

At most ``depth`` items wait; the first error stops the writer, later items are dropped, and the error is
raised to the producer on its next :meth:`submit` or on :meth:`close`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["OrderedWriter"]

T = TypeVar("T")
_STOP = object()


class OrderedWriter(Generic[T]):
    def __init__(self, apply: Callable[[T], None], *, depth: int = 2, name: str = "labelgate-writer") -> None:
        self._apply = apply
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is None:
                try:
                    self._apply(item)  # type: ignore[arg-type]
                except BaseException as exc:  # handed to the producer thread
                    self._error = exc

    @property
    def failed(self) -> bool:
        return self._error is not None

    def submit(self, item: T) -> None:
        """Queue ``item`` (blocks while ``depth`` items wait); raises the writer's error if it has one."""
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def close(self) -> None:
        """Apply everything queued, stop the thread, raise the writer's error if any."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error
