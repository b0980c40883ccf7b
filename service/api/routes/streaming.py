"""Bodies that stream: a verb run after the request's transaction has ended, in a thread with a session of
its own, its result sent as it is encoded (a COCO document) or as its files are zipped.

A route authorizes (and finds what it exports) in its request's transaction, then hands the work here: the
request's session is committed and closed before a response body is sent (``service.api.deps.SessionDep``),
so the work opens a read-only session on the app's engine and runs the verb again under the same caller
(the verb authorizes again: one rule, whichever session). A failure after the first byte cannot change the
status any more; it ends the body early, which a client sees as truncated JSON or a zip without its central
directory, never as a whole answer.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from service.actions.context import Context, in_own_session

__all__ = ["KEEPALIVE_S", "coco_chunks", "in_background", "zip_chunks"]

T = TypeVar("T")

#: While a JSON document is being built, a space (JSON allows whitespace before a value) is sent this often
#: (seconds), so no proxy's idle timeout closes the connection before the first real byte.
KEEPALIVE_S = 10.0
#: The size of the chunks a body is sent in (bytes).
CHUNK = 1 << 16


def in_background(request: Request, ctx: Context, work: Callable[[Context], T]) -> Future[T]:
    """``work`` run in a thread of its own with a fresh read-only session on the app's engine (rolled back:
    a read writes nothing), as the caller of ``ctx``; its future."""
    engine = request.app.state.engine

    def run() -> T:
        return in_own_session(engine, ctx, work)

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelgate-export")
    try:
        return executor.submit(run)
    finally:
        executor.shutdown(wait=False)  # the submitted work still runs; the thread ends with it


def coco_chunks(document: Future[dict[str, Any]], *, keepalive: float = KEEPALIVE_S) -> Iterator[bytes]:
    """A JSON document as it is encoded, compact and UTF-8 as ``JSONResponse`` writes it; a space every
    ``keepalive`` seconds while the document is still being read."""
    while True:
        try:
            doc = document.result(timeout=keepalive)
            break
        except TimeoutError:
            yield b" "
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    parts: list[str] = []
    size = 0
    for part in encoder.iterencode(doc):
        parts.append(part)
        size += len(part)
        if size >= CHUNK:
            yield "".join(parts).encode()
            parts, size = [], 0
    if parts:
        yield "".join(parts).encode()


class _Sink:
    """A write-only stream the zip is written to; :meth:`take` hands over what was written since."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_chunks(folder: Future[Path], tmp: Path) -> Iterator[bytes]:
    """The files under the folder ``folder`` resolves to, zipped (deflated, paths relative to it, sorted) as
    they are read, ``CHUNK`` bytes at a time; ``tmp`` is removed afterwards (once the work ends, when the
    client left before)."""
    try:
        root = folder.result()
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                if not path.is_file():
                    continue
                info = zipfile.ZipInfo.from_file(path, path.relative_to(root).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as src, zf.open(info, "w") as dst:
                    while block := src.read(CHUNK):
                        dst.write(block)
                        if chunk := sink.take():
                            yield chunk
                if chunk := sink.take():
                    yield chunk
        if chunk := sink.take():
            yield chunk
    finally:
        if folder.done():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            folder.add_done_callback(lambda _: shutil.rmtree(tmp, ignore_errors=True))


def temp_folder() -> Path:
    """A fresh temporary folder (the caller removes it; :func:`zip_chunks` does)."""
    return Path(tempfile.mkdtemp(prefix="labelgate-export-"))
