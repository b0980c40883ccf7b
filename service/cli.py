"""The ``labelgate`` command line. Commands are thin: each calls one domain function.

Exit codes (``service.cli_common.classify``): 0 ok / gate passed, 1 blocked or refused by policy (a gate
blocks, release rules unmet, a released version refuses writes, a role falls short) or chain broken, 2 usage
or input error, 3 internal error (a bug: one line naming the exception, never a traceback).
"""

from __future__ import annotations

from typing import Annotated

import typer

from lineage.errors import InvalidInput
from service.cli_admin import project_app, token_app, user_app
from service.cli_audit import audit_app
from service.cli_common import exits_cleanly, out
from service.cli_dashboard import dashboard
from service.cli_inference import (
    autolabel_command,
    calibrate_command,
    model_app,
    review_app,
    runs_app,
    worker_command,
)
from service.cli_integrity import verify_release_command
from service.cli_lineage import dataset_app, export_command, import_command, lineage_app, schema_app
from service.cli_release import (
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
from service.gate_cli import gate_app, set_service_check

app = typer.Typer(
    name="labelgate",
    help="Governance and audit for data labelling: lineage, auto-labelling, quality gates, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(project_app, name="project")
app.command("dashboard")(dashboard)
app.add_typer(gate_app, name="gate")
app.add_typer(policy_app, name="policy")
app.add_typer(golden_app, name="golden")
app.add_typer(report_app, name="report")
app.command("sign")(sign)
app.command("release")(release)
app.command("reject")(reject)
app.command("verify-bundle")(verify_bundle_command)
app.command("verify-release")(verify_release_command)
user_app.command("set-secret")(set_secret)
set_service_check(service_check)
app.add_typer(schema_app, name="schema")
app.add_typer(dataset_app, name="dataset")
app.add_typer(lineage_app, name="lineage")
app.command("import")(import_command)
app.command("export")(export_command)
app.add_typer(model_app, name="model")
app.add_typer(runs_app, name="runs")
app.add_typer(review_app, name="review")
app.command("autolabel")(autolabel_command)
app.command("calibrate")(calibrate_command)
app.command("worker")(worker_command)


@app.command()
@exits_cleanly
def init(
    admin: Annotated[str, typer.Option(help="username of the first admin")] = "admin",
    admin_name: Annotated[str, typer.Option(help="printed name of the first admin")] = "Administrator",
) -> None:
    """Create the workspace (database, git + DVC repository, signing key) and the first admin."""
    from service.settings import get_settings
    from service.workspace import init_workspace

    result = init_workspace(get_settings(), admin_username=admin, admin_name=admin_name)
    out.print(f"workspace: {result.workspace}\ndatabase:  {result.database_url}")
    if result.admin_token:
        out.print(f"admin user {result.admin_username!r}; token (shown once, store it now):\n{result.admin_token}")
    else:
        out.print(f"already initialised (admin {result.admin_username!r}); nothing else changed")


@app.command()
@exits_cleanly
def migrate() -> None:
    """Upgrade the workspace's database to this release's schema (a database made by an earlier release);
    then run ``labelgate audit verify`` to check the record came through whole."""
    from sqlalchemy.engine import make_url

    from service.migrate import current_revision, head_revision, pending_revisions, upgrade_database
    from service.settings import get_settings

    url = get_settings().database_url
    before, steps = current_revision(url), pending_revisions(url)
    if before is None:
        shown = make_url(url).render_as_string(hide_password=True)
        raise InvalidInput(f"no labelgate database at {shown}: run `labelgate init` first", field="database_url")
    if not steps:
        out.print(f"database already at revision {head_revision()}; nothing to do")
        return
    upgrade_database(url)
    out.print(f"database upgraded from revision {before} to {head_revision()} ({', '.join(steps)})")


@app.command()
@exits_cleanly
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the REST API (OpenAPI at /docs)."""
    import uvicorn

    from service.app import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@app.command()
@exits_cleanly
def demo(
    workspace: Annotated[str | None, typer.Option(help="folder for the demo workspace")] = None,
    serve: Annotated[bool, typer.Option(help="end by serving the API and the dashboard until Ctrl-C")] = True,
    images: Annotated[int, typer.Option(min=10, max=5000, help="generated images per dataset version")] = 60,
) -> None:
    """Run the whole flow on an embedded SQLite workspace and print what happened."""
    from service.demo import run_demo

    run_demo(workspace, serve=serve, n_images=images)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
