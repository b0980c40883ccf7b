"""Where a command runs: on the workspace's own database (local) or against a labelgate server (remote).

Local: each command runs its verb in one transaction on the workspace named by the settings. Without a
token it acts as the workspace's operator (recorded as ``operator:<admin>``); with ``LABELGATE_TOKEN`` it
acts as that token's user, with that user's permissions, exactly as the server would.

Remote (``--server URL`` or ``LABELGATE_SERVER``): each command calls the API with the token from
``LABELGATE_TOKEN`` or the one ``labelgate login`` stored for that server. An error answer is raised as
the record's own error class (the body names it), so ``classify`` gives the same exit code and message as
the local command. Outputs are rendered from the API's response models in both modes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from lineage import errors
from lineage.errors import InvalidInput, LabelgateError, NotFound
from service.cli.refs import with_suggestion

if TYPE_CHECKING:  # httpx, pydantic and the verbs load when a command runs, not for `--help`
    import httpx
    from pydantic import BaseModel

    from service.actions.context import Context

__all__ = [
    "Remote",
    "api_base",
    "credentials_path",
    "local",
    "remote",
    "require_local",
    "set_server",
]

M = TypeVar("M", bound="BaseModel")


def _error_classes() -> tuple[dict[str, type[LabelgateError]], dict[int, type[LabelgateError]]]:
    """The record's error class by the name an error answer carries, and by HTTP status when it names none."""
    from service.actions.context import Unauthorized

    by_name: dict[str, type[LabelgateError]] = {
        "Conflict": errors.Conflict,
        "CredentialRejected": errors.CredentialRejected,
        "InvalidInput": errors.InvalidInput,
        "NotFound": errors.NotFound,
        "PermissionDenied": errors.PermissionDenied,
        "Unauthorized": Unauthorized,
    }
    by_status: dict[int, type[LabelgateError]] = {
        401: Unauthorized,
        403: errors.PermissionDenied,
        404: errors.NotFound,
        409: errors.Conflict,
        413: errors.InvalidInput,
        415: errors.InvalidInput,
        422: errors.InvalidInput,
    }
    return by_name, by_status


_server: str | None = None
API_PREFIX = "/api/v1"


def set_server(url: str | None) -> None:
    """``--server`` given to the root command (it wins over ``LABELGATE_SERVER``)."""
    global _server
    _server = url.rstrip("/") if url else None


def server_url() -> str | None:
    url = _server or os.environ.get("LABELGATE_SERVER") or None
    return url.rstrip("/") if url else None


def api_base(server: str) -> str:
    """The API's root under a server's address (``/api/v1``, unless the address already names it)."""
    server = server.rstrip("/")
    return server if server.endswith(API_PREFIX) else server + API_PREFIX


def credentials_path() -> Path:
    """Where ``labelgate login`` keeps tokens (one per server), readable by the user alone."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "labelgate" / "credentials.json"


def stored_token(server: str) -> str | None:
    path = credentials_path()
    if not path.is_file():
        return None
    try:
        tokens = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    token = tokens.get(server) if isinstance(tokens, dict) else None
    return token if isinstance(token, str) else None


def store_token(server: str, token: str) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        tokens = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError:
        tokens = {}
    tokens = tokens if isinstance(tokens, dict) else {}
    tokens[server] = token
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(tokens, fh, indent=1, sort_keys=True)
    tmp.replace(path)
    return path


def require_local(command: str, why: str = "it needs the workspace's own database, key and repository") -> None:
    """Refuse ``--server`` (``InvalidInput`` naming it) for a command that runs on the workspace's machine
    only, saying ``why``."""
    server = server_url()
    if server is not None:
        raise InvalidInput(
            f"`labelgate {command}` runs on the workspace's machine only: {why} (unset LABELGATE_SERVER or drop "
            f"--server {server})",
            field="--server",
        )


@dataclass
class Remote:
    """A labelgate server and the token to call it with."""

    server: str
    token: str
    client: httpx.Client = field(repr=False)
    _projects: dict[str | None, int] = field(default_factory=dict, repr=False)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise OSError(f"cannot reach {self.server}: {exc}") from None
        if response.status_code >= 400:
            raise _error_of(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self.request(method, path, **kwargs).json())

    def project_id(self, project: str | None, *, field: str = "--project") -> int:
        """The id of ``project`` (name or id) among the caller's projects; with no name, the only one."""
        if project not in self._projects:
            visible = self.get("/projects")
            if project is None:
                if len(visible) != 1:
                    raise InvalidInput("several projects (or none) exist; name one with --project", field=field)
                self._projects[None] = int(visible[0]["id"])
            else:
                key = "id" if project.isdigit() else "name"
                match = [p for p in visible if str(p[key]) == project]
                if not match:
                    raise NotFound(f"no project {project!r}", field=field)
                self._projects[project] = int(match[0]["id"])
        return self._projects[project]

    def version_path(self, project_id: int, dataset: str, version: str) -> str:
        return f"/projects/{project_id}/datasets/{quote(dataset, safe='')}/versions/{quote(version, safe='')}"


def _error_of(response: httpx.Response) -> Exception:
    try:
        body = response.json().get("error") or {}
    except (ValueError, AttributeError):
        body = {}
    message = body.get("message") or f"HTTP {response.status_code} from the server"
    by_name, by_status = _error_classes()
    cls = by_name.get(body.get("type") or "") or by_status.get(response.status_code)
    if cls is None:
        return RuntimeError(f"the server answered {response.status_code}: {message}")
    return cls(message, field=body.get("field"))


@contextmanager
def remote() -> Iterator[Remote | None]:
    """The configured server (``None`` when the command runs locally)."""
    server = server_url()
    if server is None:
        yield None
        return
    import httpx

    token = os.environ.get("LABELGATE_TOKEN") or stored_token(server)
    if not token:
        from service.actions.context import Unauthorized

        raise Unauthorized(f"no token for {server}: set LABELGATE_TOKEN or run `labelgate login --server {server}`")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api_base(server), headers=headers, timeout=httpx.Timeout(30.0, read=600.0)) as client:
        api = Remote(server=server, token=token, client=client)
        try:
            yield api
        except NotFound as exc:
            raise with_suggestion(exc, partial(_remote_refs, api)) from None


@contextmanager
def local() -> Iterator[Context]:
    """One transaction on the workspace's database as ``LABELGATE_TOKEN``'s user, else as its operator."""
    from service.actions.context import Context, authenticate, operator, request_id
    from service.cli.common import store
    from service.settings import get_settings

    settings = get_settings()
    with store(settings) as session:
        token = os.environ.get("LABELGATE_TOKEN")
        rid = request_id("cli")
        principal = authenticate(session, token, request=rid) if token else operator(session, request=rid)
        ctx = Context(session=session, principal=principal, settings=settings)
        try:
            with _progress_shown():
                yield ctx
        except NotFound as exc:
            raise with_suggestion(exc, partial(_local_refs, ctx)) from None


@contextmanager
def _progress_shown() -> Iterator[None]:
    """Long work done in this block shows its progress on stderr (``service.cli.progress_lines``)."""
    from lineage.progress import listening
    from service.cli.progress_lines import ProgressLines, wanted

    if not wanted():
        yield
        return
    lines = ProgressLines(quiet_for=0.0 if os.environ.get("LABELGATE_PROGRESS") == "1" else 1.0)
    try:
        with listening(lines):
            yield
    finally:
        lines.close()


def _remote_refs(api: Remote) -> list[str]:
    """The ``DATASET@VERSION`` names of the project the command addressed (when it addressed one)."""
    from service.cli.names import remote_names

    projects = set(api._projects.values())
    return list(remote_names(api, projects.pop(), models=False).versions.values()) if len(projects) == 1 else []


def _local_refs(ctx: Context) -> list[str]:
    """The ``DATASET@VERSION`` names of the caller's project, when they see one."""
    from service import actions
    from service.cli.names import local_names

    return list(local_names(ctx, actions.find_project(ctx, None), models=False).versions.values())
