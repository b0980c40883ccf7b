"""``labelgate model card NAME@VERSION [--format html|json] [--output PATH]``: a model version's card
(``lineage.reports.model_card``), locally or from a server (``--server``), printed or written to a file."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from service.cli.common import exits_cleanly, out
from service.cli.door import local, remote
from service.cli.lazy import lazy_module
from service.cli.lineage import JsonOpt, ProjectOpt

if TYPE_CHECKING:
    from service import actions
    from service.actions import model_cards
else:
    actions = lazy_module("service.actions")
    model_cards = lazy_module("service.actions.model_cards")

__all__ = ["CardFormat", "model_card_command"]


class CardFormat(StrEnum):
    json = "json"
    html = "html"


def _card(ref: str, project: str | None, fmt: CardFormat | None) -> dict[str, Any] | str:
    """The card as data (``fmt`` json or None) or as its HTML page (``fmt`` html), from the server or here."""
    html = fmt is CardFormat.html
    with remote() as api:
        if api is not None:
            path = f"/projects/{api.project_id(project)}/models/{quote(ref, safe='@')}/card"
            if html:
                return api.request("GET", path, params={"format": "html"}).text
            return dict(api.get(path, params={"format": "json"}))
        with local() as ctx:
            pid = actions.find_project(ctx, project)
            return model_cards.model_card_html(ctx, pid, ref) if html else model_cards.model_card_of(ctx, pid, ref)


def _summary(card: dict[str, Any]) -> None:
    d, training = card["model_details"], card["training_data"]
    out.print(f"model card of {card['model']} ({d['framework']}, {d['task']}) in project {card['project']}")
    out.print(f"intended use: {card['intended_use']['statement']}")
    if training["recorded"]:
        for r in training["datasets"]:
            out.print(f"{r['role']}: {r['dataset_version']} ({r['item_count']} items, manifest {r['manifest_hash']})")
    else:
        out.print(f"training data: {training['note']}")
    for label, rows in (("stated caveat", card["caveats"]["stated"]), ("caveat", card["caveats"]["from_the_record"])):
        for text in rows:
            out.print(f"{label}: {text}")
    released = card["used_in"]["released_versions"]
    out.print(f"released versions with its labels: {', '.join(released) if released else 'none'}")


@exits_cleanly
def model_card_command(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the card to this file")] = None,
    fmt: Annotated[
        CardFormat | None,
        typer.Option("--format", help="html or json (default: from --output's suffix, else a summary or --json)"),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A model version's card (Mitchell et al. 2019): intended use, training data, metrics, caveats."""
    if fmt is None and (as_json or output is not None):
        html_suffix = output is not None and output.suffix.lower() in (".html", ".htm")
        fmt = CardFormat.html if html_suffix and not as_json else CardFormat.json
    card = _card(ref, project, fmt)
    if isinstance(card, str):
        text = card
    elif fmt is None:
        _summary(card)
        return
    else:
        text = json.dumps(card, indent=2) + "\n"
    if output is None:
        out.print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    out.print(f"wrote {output}")
