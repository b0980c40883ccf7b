"""A CVAT XML file read safely into a small tree whose every element knows its line and column.

The standard library's ``ElementTree`` neither gives an element's line (needed so that every refusal names
``file:line``) nor refuses what defusedxml refuses, so the file is read with ``pyexpat`` directly:

- a document type declaration (``<!DOCTYPE``), and with it any entity declaration (the "billion laughs"
  and external-entity/XXE attacks), is refused at its line; an undefined entity (``&x;``) is malformed XML;
- a file over ``MAX_CVAT_BYTES`` (512 MiB; the caller may lower it) is refused before parsing;
- elements nest at most ``MAX_DEPTH`` (32) levels (CVAT's own files use 6);
- malformed XML is refused with expat's message and its ``line:column`` (1-based).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from lineage.formats.common import Problems

__all__ = ["MAX_CVAT_BYTES", "MAX_DEPTH", "Node", "read_xml"]

MAX_CVAT_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 32


@dataclass(slots=True, eq=False)
class Node:
    """One element: ``text`` is its own character data (children's excluded); ``line``/``col`` 1-based."""

    tag: str
    attrib: dict[str, str]
    line: int
    col: int
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def find(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str) -> str | None:
        child = self.find(tag)
        return None if child is None else child.text.strip()


class _Refused(Exception):
    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


def _fail(problems: Problems, where: str, message: str) -> NoReturn:
    problems.add(where, message)
    problems.raise_if_any()
    raise AssertionError("unreachable")


def read_xml(data: bytes, *, source: str, max_bytes: int = MAX_CVAT_BYTES) -> Node:
    """The root element of ``data``; raises ``ImportInvalid`` naming ``source:line:column`` on any refusal."""
    problems = Problems()
    if len(data) > max_bytes:
        _fail(problems, source, f"file of {len(data)} bytes is larger than the {max_bytes} bytes a CVAT import takes")
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Node] = []
    texts: list[list[str]] = []
    root: list[Node] = []

    def where() -> tuple[int, int]:
        return parser.CurrentLineNumber, parser.CurrentColumnNumber + 1

    def refuse(what: str) -> NoReturn:
        raise _Refused(*where(), f"{what} is refused (CVAT files have none; it could expand without bound)")

    def start(tag: str, attrib: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise _Refused(*where(), f"elements nest deeper than {MAX_DEPTH} levels")
        node = Node(tag, attrib, *where())
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(tag: str) -> None:
        node = stack.pop()
        node.text = "".join(texts.pop())

    def chars(text: str) -> None:
        if texts:
            texts[-1].append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = lambda *_: refuse("a document type declaration (<!DOCTYPE>)")
    parser.EntityDeclHandler = lambda *_: refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = lambda *_: refuse("an entity declaration")
    parser.ExternalEntityRefHandler = lambda *_: refuse("an external entity")
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        _fail(problems, f"{source}:{exc.line}:{exc.col}", exc.message)
    except expat.ExpatError as exc:
        message = expat.errors.messages.get(exc.code, str(exc))
        _fail(problems, f"{source}:{exc.lineno}:{exc.offset + 1}", f"malformed XML ({message})")
    if not root:
        _fail(problems, source, "expected a CVAT <annotations> document, the file has no element")
    return root[0]
