"""Where the dashboard finds the API: the dashboard's one configuration read.

The dashboard is a separate process that never imports ``service`` (a test forbids it), so it cannot use
``service.settings``. ``labelgate dashboard`` passes the URL as a script argument
(``streamlit run dashboard/app.py -- --api-url URL``); a person running ``streamlit run`` directly may set
``LABELGATE_API_URL`` instead, the same variable the service's settings read for its own clients.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

__all__ = ["DEFAULT_API_URL", "api_url"]

DEFAULT_API_URL = "http://127.0.0.1:8000"


def api_url(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The API base URL (no trailing slash): ``--api-url`` argument, else ``LABELGATE_API_URL``, else the default.

    Unknown arguments are ignored (Streamlit and test runners pass their own).
    """
    import sys

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--api-url", dest="api_url", default=None)
    known, _ = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    env = os.environ if environ is None else environ
    url = known.api_url or env.get("LABELGATE_API_URL") or DEFAULT_API_URL
    return url.rstrip("/")
