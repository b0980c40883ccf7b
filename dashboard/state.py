"""Per-browser-session state: the HTTP client, the caller's token and :class:`~dashboard.access.Viewer`,
and the response cache.

Cached GETs are keyed by the API's base URL, the SHA-256 of the caller's token, the path and the query,
so one caller's answers are never served to another (the token itself is not part of the stored key).
Tests inject their own ``httpx.Client`` (a ``fastapi.testclient.TestClient`` is one) under :data:`HTTP_KEY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import streamlit as st

from dashboard import config
from dashboard.access import Viewer, load_viewer
from dashboard.client import Api, send, token_key

__all__ = ["CACHE_TTL_S", "HTTP_KEY", "api", "http", "refresh", "sign_in", "sign_out", "viewer"]

HTTP_KEY = "lg_http"
TOKEN_KEY = "lg_token"
VIEWER_KEY = "lg_viewer"
CACHE_TTL_S = 30


@st.cache_resource(show_spinner=False)
def _shared_http(base_url: str) -> httpx.Client:
    # One connection pool per API URL for every session; the token travels per request, never in the pool.
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0, connect=5.0))


def http() -> httpx.Client:
    """The injected client (tests), else the shared client for the configured API URL."""
    injected = st.session_state.get(HTTP_KEY)
    if injected is not None:
        return injected  # type: ignore[no-any-return]
    return _shared_http(config.api_url())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=5000)
def _cached_get(
    _http: httpx.Client, _token: str, base_url: str, who: str, path: str, params: tuple[tuple[str, Any], ...]
) -> Any:
    # Arguments with a leading underscore are not hashed: the key is (base_url, who, path, params).
    return send(_http, _token, "GET", path, params=dict(params))


def _getter(client: httpx.Client, token: str) -> Any:
    base, who = str(client.base_url), token_key(token)

    def get(path: str, params: Mapping[str, Any] | None = None) -> Any:
        items = tuple(sorted((k, v) for k, v in (params or {}).items() if v is not None and v != ""))
        return _cached_get(client, token, base, who, path, items)

    return get


def api() -> Api:
    """The signed-in caller's API (cached GETs). Only call after :func:`viewer` returned one."""
    token = str(st.session_state[TOKEN_KEY])
    client = http()
    return Api(client, token, getter=_getter(client, token))


def viewer() -> Viewer | None:
    return st.session_state.get(VIEWER_KEY)


def sign_in(token: str) -> Viewer:
    """Check the token against the API (uncached: a revoked token fails now) and remember the caller."""
    token = token.strip()
    found = load_viewer(Api(http(), token))
    st.session_state[TOKEN_KEY] = token
    st.session_state[VIEWER_KEY] = found
    return found


def sign_out() -> None:
    for key in (TOKEN_KEY, VIEWER_KEY):
        st.session_state.pop(key, None)


def refresh() -> None:
    """Drop cached answers (every caller's: the cache cannot be cleared for one key only)."""
    _cached_get.clear()
