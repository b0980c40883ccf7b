"""Progress of long work: version creation, imports, exports and gate evaluations report their phases
(``done`` of ``total``) to whoever listens: the CLI's progress line, the API's progress record.

The record's functions report through a context variable, so they need no extra parameter and cost one
lookup when nobody listens. A listener hears a phase when it starts, then at most every ``interval``
seconds (and at its end), never once per item::

    with progress.listening(print_it):
        import_annotations(...)            # inside: with progress.phase("write labels", total=n) as p: p.advance(k)

Progress is telemetry, not evidence: it is not part of the audit record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Listener", "Phase", "Update", "announce", "listening", "phase"]


@dataclass(frozen=True, slots=True)
class Update:
    """What a listener hears: the phase's name, how far it is (``done`` of ``total``; total None when not
    known in advance) and whether it has ended."""

    name: str
    done: int
    total: int | None
    ended: bool = False


Listener = Callable[[Update], None]

_LISTENER: ContextVar[tuple[Listener, float] | None] = ContextVar("labelgate_progress", default=None)


@contextmanager
def listening(listener: Listener, *, interval: float = 0.5) -> Iterator[None]:
    """Within the block, phases reported in this context (thread or task) are heard by ``listener``, at most
    every ``interval`` seconds per phase besides its start and end."""
    token = _LISTENER.set((listener, interval))
    try:
        yield
    finally:
        _LISTENER.reset(token)


class Phase:
    """One phase of the work; ``advance`` as items are done. Silent when nobody listens."""

    __slots__ = ("_interval", "_last", "_listener", "done", "name", "total")

    def __init__(self, name: str, total: int | None, listener: Listener | None, interval: float) -> None:
        self.name, self.total, self.done = name, total, 0
        self._listener, self._interval = listener, interval
        self._last = time.monotonic()
        self._emit(ended=False)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._listener is not None and time.monotonic() - self._last >= self._interval:
            self._emit(ended=False)

    def _emit(self, *, ended: bool) -> None:
        if self._listener is None:
            return
        self._last = time.monotonic()
        self._listener(Update(self.name, self.done, self.total, ended))


@contextmanager
def phase(name: str, total: int | None = None) -> Iterator[Phase]:
    """Report a phase of ``total`` items (None: unknown) to the context's listener, if any; its end is
    reported when the block ends without an error (a failed phase is the caller's error to report)."""
    found = _LISTENER.get()
    listener, interval = found if found is not None else (None, 0.0)
    p = Phase(name, total, listener, interval)
    yield p
    p._emit(ended=True)


def announce(name: str) -> None:
    """Report that a step of unknown size has started (the pure gates' phases, one after another)."""
    found = _LISTENER.get()
    if found is not None:
        found[0](Update(name, 0, None))
