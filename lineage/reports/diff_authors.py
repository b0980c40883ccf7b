"""Who made a label, as the label diff names them: one key per author, and its description from the record.

A label's author is what its provenance says (``lineage.models.annotations``): a ``human`` label its
annotator (a username), a ``model`` label its model (``name@version``), an ``import`` its source
(``format:file``, the file named by the import that brought it, else the first 12 hex digits of its
SHA-256) or, for a tool's prediction, the model version the tool recorded (``made.model_version``), a
``synthetic`` label its generator. A label made in Label Studio or CVAT also carries the tool's identity
of its author (``made.by``, reported as ``tool_author`` = ``"labelstudio:17"``), so one annotator working
in two places shows as two rows.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel

__all__ = ["AuthorIndex", "author_key"]


def author_key(columns: tuple[Any, ...], made: dict[str, Any] | None) -> tuple[Any, ...]:
    """The key of an author from a label's ``(kind, annotator_id, model_version_id, source_format,
    source_sha256, generator_config_hash)`` and its ``made`` record (None when it has none)."""
    kind, annotator, model, fmt, sha, generator = columns
    tool = f"{made.get('tool', 'tool')}:{made['by']}" if made and made.get("by") else None
    if kind == "human":
        return ("human", annotator, tool)
    if kind == "model":
        return ("model", model, None)
    if kind == "import":
        version = made.get("model_version") if made else None
        return ("import", fmt, sha, str(version) if version else None, None if version else tool)
    return (str(kind), generator, None)


class AuthorIndex:
    """Describes author keys from the record (users, model versions, imports), each looked up once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._seen: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _one(self, table: str, column: str, value: Any, *wanted: str) -> tuple[Any, ...] | None:
        t = SQLModel.metadata.tables[table]
        stmt = select(*[t.c[w] for w in wanted]).where(t.c[column] == value).order_by(t.c.id).limit(1)
        row = self._session.execute(stmt).first()
        return tuple(row) if row is not None else None

    def describe(self, key: tuple[Any, ...]) -> dict[str, Any]:
        """``{author, kind, user, model, source, tool_author}`` of ``key`` (``author``: the display name)."""
        if key not in self._seen:
            self._seen[key] = self._describe(key)
        return self._seen[key]

    def name(self, key: tuple[Any, ...]) -> str:
        return str(self.describe(key)["author"])

    def _describe(self, key: tuple[Any, ...]) -> dict[str, Any]:
        kind = key[0]
        out: dict[str, Any] = {"kind": kind, "user": None, "model": None, "source": None, "tool_author": None}
        if kind == "human":
            found = self._one("users", "id", key[1], "username") if key[1] is not None else None
            out["user"] = str(found[0]) if found else f"user #{key[1]}"
            out["tool_author"] = key[2]
            out["author"] = out["user"] + (f" ({key[2]})" if key[2] else "")
        elif kind == "model":
            found = self._one("model_versions", "id", key[1], "name", "version") if key[1] is not None else None
            out["model"] = f"{found[0]}@{found[1]}" if found else f"model #{key[1]}"
            out["author"] = out["model"]
        elif kind == "import":
            fmt, sha, version, tool = key[1:]
            found = self._one("label_imports", "source_sha256", sha, "source") if sha else None
            name = PurePath(str(found[0])).name if found and found[0] else str(sha or "")[:12]
            out["source"] = f"{fmt}:{name}"
            out["model"] = version
            out["tool_author"] = tool
            out["author"] = f"{version} (prediction, {out['source']})" if version else out["source"]
            if tool and not version:
                out["author"] += f" ({tool})"
        else:
            out["source"] = f"{kind}:{str(key[1] or '')[:12]}"
            out["author"] = out["source"]
        return out
