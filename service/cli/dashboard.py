"""``labelgate dashboard``: serve the Streamlit compliance dashboard, headless, against an API URL.

The dashboard is a separate process and an HTTP client of the API: it gets the URL as a script argument
and never touches the database. Usage statistics are off (no call home); Streamlit serves its own assets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import exits_cleanly

__all__ = ["APP_PATH", "dashboard", "streamlit_command"]

APP_PATH = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def streamlit_command(*, host: str, port: int, api_url: str) -> list[str]:
    """The ``streamlit run`` command line (this interpreter's Streamlit) for the dashboard app."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--server.runOnSave", "false",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--", "--api-url", api_url,
    ]  # fmt: skip


@exits_cleanly
def dashboard(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8501,
    api_url: Annotated[
        str | None, typer.Option(help="the labelgate API's base URL (default: the LABELGATE_API_URL setting)")
    ] = None,
) -> None:
    """Serve the compliance dashboard (Streamlit) for the API at --api-url."""
    if api_url is None:
        from service.settings import get_settings

        api_url = get_settings().api_url
    typer.echo(f"dashboard on http://{host}:{port} for the API at {api_url}", err=True)
    try:
        code = subprocess.call(streamlit_command(host=host, port=port, api_url=api_url))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


if __name__ == "__main__":
    typer.run(dashboard)
