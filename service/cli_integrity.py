"""``labelgate verify-release``: a released version re-verified against the live record and its DVC content."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lineage import datasets
from lineage.release.check import reverify_release
from service.checkpointing import require_public_key
from service.cli_common import EXIT_BLOCKED, err, exits_cleanly, out, store
from service.cli_lineage import ProjectOpt, _project_id
from service.settings import get_settings

__all__ = ["verify_release_command"]


@exits_cleanly
def verify_release_command(
    version_ref: str,
    project: ProjectOpt = None,
    content: Annotated[
        bool, typer.Option("--content/--no-content", help="re-hash every item's bytes from DVC (default: yes)")
    ] = True,
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Re-derive DATASET@VERSION's release from the live record (manifest from the live labels, DVC content,
    approvals, the evaluation it rests on, the audit head) and compare it with its signed bundle.
    Exit 0 when they agree, 1 naming every difference, 2 on bad input."""
    settings = get_settings()
    with store() as session:
        pid = _project_id(session, project)
        _, version = datasets.resolve_version(session, project_id=pid, ref=version_ref)
        check = reverify_release(
            session,
            version=version,
            repo_dir=settings.repo_dir,
            public_key=require_public_key(settings),
            content=content,
        )
    if fmt == "json":
        out.print_json(
            json.dumps(
                {"version": check.version, "ok": check.ok, "checked": check.checked, "differences": check.differences}
            )
        )
    elif check.ok:
        out.print(f"OK: release of {check.version} agrees with the live record ({len(check.checked)} checks)")
    else:
        for line in check.differences:
            err.print(f"DIFFERS {line}")
        err.print(
            f"BROKEN: the release of {check.version} differs from the record in {len(check.differences)} place(s)"
        )
    if not check.ok:
        raise typer.Exit(EXIT_BLOCKED)
