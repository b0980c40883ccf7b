"""The ``labelgate`` command line. Commands are thin: each calls one domain function.

Exit codes (``service.cli.common.classify``): 0 ok / gate passed, 1 blocked or refused by policy (a gate
blocks, release rules unmet, a released version refuses writes, a role falls short) or chain broken, 2 usage
or input error, 3 internal error (a bug: one line naming the exception, never a traceback).

Importing this module loads typer and the command modules, nothing heavier: a command imports the verbs, the
record and the gate code when it runs (``service.cli.lazy``), so ``labelgate --help`` answers at once
(``tests/service/test_cli_polish.py`` checks what it imports). Help text is rendered as Markdown, and
``--help`` lists the commands in the panels and order of ``WORKFLOW`` (``service.cli.helpstyle``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from lineage.errors import InvalidInput
from service.cli.admin import project_app, token_app, user_app
from service.cli.audit import audit_app
from service.cli.calibrate import calibrate_command
from service.cli.common import exits_cleanly, out
from service.cli.connectors import pull_app
from service.cli.dashboard import dashboard
from service.cli.diff import diff_command
from service.cli.door import require_local, set_server
from service.cli.gate import gate_app, set_service_check
from service.cli.helpstyle import PANELS, WorkflowGroup
from service.cli.helpstyle import install as install_help_style
from service.cli.inference import (
    autolabel_command,
    runs_app,
    worker_command,
)
from service.cli.integrity import verify_release_command
from service.cli.kpis import annotators_command
from service.cli.lineage import dataset_app, lineage_app, schema_app
from service.cli.model_card import model_card_command
from service.cli.model_train import model_train_command
from service.cli.models import model_app
from service.cli.release import (
    golden_app,
    policy_app,
    reject,
    release,
    report_app,
    service_check,
    set_secret,
    sign,
    verify_bundle_command,
)
from service.cli.review import review_app
from service.cli.transfer import export_command, import_command

install_help_style()

SET_UP, DATA, LABELS, AUTO, GATES, RELEASE, SERVE = PANELS
#: ``labelgate --help``: the commands panel by panel (``PANELS``), each panel in the order of the work.
WORKFLOW: tuple[tuple[str, tuple[str, ...]], ...] = (
    (SET_UP, ("init", "migrate", "user", "project", "token", "login")),
    (DATA, ("schema", "dataset")),
    (LABELS, ("import", "pull", "review", "diff", "export", "lineage")),
    (AUTO, ("model", "calibrate", "autolabel", "runs")),
    (GATES, ("policy", "golden", "gate")),
    (RELEASE, ("sign", "release", "reject", "verify-release", "verify-bundle", "report", "audit")),
    (SERVE, ("serve", "dashboard", "worker", "demo")),
)


class _Labelgate(WorkflowGroup):
    order = tuple(name for _, names in WORKFLOW for name in names)


app = typer.Typer(
    name="labelgate",
    help="Governance and audit for data labelling: lineage, auto-labelling, quality gates, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    cls=_Labelgate,
)


@app.callback()
def _root(
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="LABELGATE_SERVER",
            metavar="URL",
            help="run the command against this labelgate server (token: LABELGATE_TOKEN or `labelgate login`); "
            "without it, on the local workspace",
        ),
    ] = None,
) -> None:
    """Governance and audit for data labelling: lineage, auto-labelling, quality gates, audit."""
    set_server(server)


user_app.command("set-secret")(set_secret)
report_app.command("annotators")(annotators_command)
set_service_check(service_check)


@exits_cleanly
def login(
    token_stdin: Annotated[bool, typer.Option("--token-stdin", help="read the token from stdin")] = False,
) -> None:
    """Store an API token for the server named by ``--server`` (checked against it first), so later
    commands with that server need no LABELGATE_TOKEN. The file is readable by you alone."""
    import httpx

    from service.actions.context import Unauthorized
    from service.cli.door import api_base, server_url, store_token

    server = server_url()
    if server is None:
        raise InvalidInput("name the server: labelgate --server URL login", field="--server")
    token = sys.stdin.readline().strip() if token_stdin else typer.prompt("API token", hide_input=True).strip()
    try:
        answer = httpx.get(f"{api_base(server)}/me", headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    except httpx.HTTPError as exc:
        raise OSError(f"cannot reach {server}: {exc}") from None
    if answer.status_code != 200:
        raise Unauthorized(f"{server} refused the token (HTTP {answer.status_code})", field="token")
    path = store_token(server, token)
    out.print(f"logged in to {server} as {answer.json()['username']} (token stored in {path})")


@exits_cleanly
def init(
    admin: Annotated[str, typer.Option(help="username of the first admin")] = "admin",
    admin_name: Annotated[str, typer.Option(help="printed name of the first admin")] = "Administrator",
) -> None:
    """Create the workspace (database, git + DVC repository, signing key) and the first admin."""
    require_local("init")
    from service.settings import get_settings
    from service.workspace import init_workspace

    result = init_workspace(get_settings(), admin_username=admin, admin_name=admin_name)
    out.print(f"workspace: {result.workspace}\ndatabase:  {result.database_url}")
    if result.admin_token:
        out.print(f"admin user {result.admin_username!r}; token (shown once, store it now):\n{result.admin_token}")
    else:
        out.print(f"already initialised (admin {result.admin_username!r}); nothing else changed")


@exits_cleanly
def migrate() -> None:
    """Upgrade the workspace's database to this release's schema (a database made by an earlier release);
    then run ``labelgate audit verify`` to check the record came through whole."""
    require_local("migrate")
    from service.migrate import head_revision, upgrade_in_place
    from service.settings import get_settings

    before, steps = upgrade_in_place(get_settings().database_url)
    if not steps:
        out.print(f"database already at revision {head_revision()}; nothing to do")
        return
    out.print(f"database upgraded from revision {before} to {head_revision()} ({', '.join(steps)})")


@exits_cleanly
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the REST API (OpenAPI at /docs)."""
    require_local("serve")
    import uvicorn

    from service.api.app import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@exits_cleanly
def demo(
    workspace: Annotated[str | None, typer.Option(help="folder for the demo workspace")] = None,
    serve: Annotated[bool, typer.Option(help="end by serving the API and the dashboard until Ctrl-C")] = True,
    images: Annotated[int, typer.Option(min=10, max=5000, help="generated images per dataset version")] = 60,
) -> None:
    """Run the whole flow on an embedded SQLite workspace and print what happened."""
    require_local("demo")
    from service.demo.story import run_demo

    run_demo(workspace, serve=serve, n_images=images)


# The model commands that live in their own modules join the ``model`` group.
model_app.command("train")(model_train_command)
model_app.command("card")(model_card_command)

_ENTRIES: dict[str, Callable[..., None] | typer.Typer] = {
    **{"init": init, "migrate": migrate, "user": user_app, "project": project_app, "token": token_app},
    **{"login": login, "schema": schema_app, "dataset": dataset_app, "import": import_command, "pull": pull_app},
    **{"review": review_app, "diff": diff_command, "export": export_command, "lineage": lineage_app},
    **{"model": model_app, "calibrate": calibrate_command, "autolabel": autolabel_command, "runs": runs_app},
    **{"policy": policy_app, "golden": golden_app, "gate": gate_app, "sign": sign, "release": release},
    **{"reject": reject, "verify-release": verify_release_command, "verify-bundle": verify_bundle_command},
    **{"report": report_app, "audit": audit_app, "serve": serve, "dashboard": dashboard, "worker": worker_command},
    **{"demo": demo},
}
#: One line each in the list of ``labelgate --help`` (the command's own ``--help`` keeps its whole docstring).
_SHORT = {
    "migrate": "Upgrade a database an earlier release made to this release's schema.",
    "login": "Store an API token for the server named by --server.",
    "import": "Import labels into DATASET@VERSION, all or nothing (coco, yolo, voc, classes-*, labelstudio, cvat).",
    "diff": "Labels added, removed and changed between two versions, per class and per author.",
    "autolabel": "Auto-label DATASET@VERSION with a registered model (resumable; --queue for the worker).",
    "sign": "Sign DATASET@VERSION electronically (re-enter your signing secret).",
    "release": "Release DATASET@VERSION: passed gates on unchanged data and the policy's approvals.",
    "verify-release": "Re-derive DATASET@VERSION's release from the live record and compare it with its bundle.",
}
for _panel, _names in WORKFLOW:
    for _name in _names:
        _entry = _ENTRIES[_name]
        if isinstance(_entry, typer.Typer):
            app.add_typer(_entry, name=_name, rich_help_panel=_panel)
        else:
            app.command(_name, rich_help_panel=_panel, short_help=_SHORT.get(_name))(_entry)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
