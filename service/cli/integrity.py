"""``labelgate verify-release``: a released version re-verified against the live record and its DVC content,
on the workspace's database or by a labelgate server (``--server``); the same output and exit codes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli.common import EXIT_BLOCKED, err, exits_cleanly, out
from service.cli.door import local, remote
from service.cli.lazy import lazy_module
from service.cli.lineage import ProjectOpt

if TYPE_CHECKING:
    from service import actions
    from service.api.schemas import common as pub
else:
    actions = lazy_module("service.actions")
    pub = lazy_module("service.api.schemas.common")


__all__ = ["verify_release_command"]


@exits_cleanly
def verify_release_command(
    version_ref: Annotated[str, typer.Argument(metavar="DATASET@VERSION")],
    project: ProjectOpt = None,
    content: Annotated[
        bool, typer.Option("--content/--no-content", help="re-hash every item's bytes from DVC (default: yes)")
    ] = True,
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Re-derive DATASET@VERSION's release from the live record (manifest from the live labels, DVC content,
    approvals, the evaluation it rests on, the audit head) and compare it with its signed bundle.
    Exit 0 when they agree, 1 naming every difference, 2 on bad input."""
    dataset, version = actions.split_ref(version_ref)
    with remote() as api:
        if api is not None:
            path = api.version_path(api.project_id(project), dataset, version) + "/release/verify"
            check = api.model(pub.ReleaseVerifyPublic, "GET", path, params={"content": content})
        else:
            with local() as ctx:
                pid = actions.find_project(ctx, project)
                found = actions.verify_release(ctx, pid, dataset, version, content=content)
                check = pub.ReleaseVerifyPublic.model_validate(found)
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
