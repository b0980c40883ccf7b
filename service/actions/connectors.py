"""Verbs of the live Label Studio connector: pull a project's work through the SDK, and receive Label Studio's
webhooks as they happen. Both record through ``lineage.labels.work.record_work`` (a correction supersedes,
nothing is overwritten; the same work delivered twice is written once).

**Webhooks.** Label Studio posts ``{"action": ..., "annotation"/"annotations": ..., "task": ...,
"project": ...}`` (its webhook event reference) to the URL configured on the server, with the custom
headers configured there. labelgate accepts them only with the shared secret
(``LABELGATE_LABELSTUDIO_WEBHOOK_SECRET``) in the ``X-Labelgate-Secret`` header, compared in constant
time; with no secret configured the endpoint accepts nothing. The record names the configured user
(``LABELGATE_LABELSTUDIO_WEBHOOK_USER``) as the one who recorded the work, and that user must hold the
import rule (ML engineer) in the project: the secret proves the sender, the user's role bounds what it may
write. A webhook names authors by Label Studio user id only, so an author must have been met by an earlier
pull or import of the same server project (``lineage.labels.work.known_authors``); otherwise the event is
refused (422) naming the id.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlmodel import Session, select

from lineage.connectors.labelstudio import Pulled, pull
from lineage.context import Actor
from lineage.errors import InvalidInput, LabelgateError, NotFound, PermissionDenied
from lineage.formats.work import WorkBatch
from lineage.labels.work import WorkResult, record_work
from lineage.models import User
from service.actions.context import Context, Principal, Unauthorized, authorize
from service.actions.versions import find_version
from service.settings import Settings

__all__ = [
    "HANDLED_EVENTS",
    "SECRET_HEADER",
    "LabelStudioUnreachable",
    "check_webhook_secret",
    "pull_from_labelstudio",
    "receive_labelstudio_webhook",
]

SECRET_HEADER = "X-Labelgate-Secret"
HANDLED_EVENTS = frozenset({"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"})


class LabelStudioUnreachable(LabelgateError):
    """The Label Studio server did not answer, or answered with an error of its own (502)."""

    status_code = 502


def pull_from_labelstudio(
    ctx: Context,
    project_id: int,
    dataset: str,
    version: str,
    *,
    url: str,
    api_key: str,
    ls_project: int,
    user_map: Mapping[str, str] | None = None,
    since: datetime | None = None,
    full: bool = False,
) -> Pulled:
    """Record what changed in Label Studio project ``ls_project`` at ``url`` since the last pull
    (``lineage.connectors.labelstudio``); a pull is an import, so it takes the import rule."""
    authorize(ctx, "import_annotations", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    if not api_key:
        raise InvalidInput("no Label Studio access token: set LABEL_STUDIO_API_KEY", field="LABEL_STUDIO_API_KEY")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"expected the Label Studio URL as http(s)://host[:port], got {url!r}", field="--url")
    import httpx

    try:
        from label_studio_sdk.client import LabelStudio
        from label_studio_sdk.core.api_error import ApiError
    except ImportError:
        raise InvalidInput(
            "pulling from Label Studio needs label-studio-sdk: pip install '.[labelstudio]' and then "
            "pip install --no-deps label-studio-sdk==2.0.10 (see pyproject.toml), or import its JSON export "
            "with `labelgate import --format labelstudio`",
            field="--url",
        ) from None

    try:
        client = LabelStudio(base_url=url.rstrip("/"), api_key=api_key, timeout=120)  # type: ignore[no-untyped-call]
        return pull(
            ctx.session,
            actor=ctx.actor,
            version=v,
            client=client,
            project=ls_project,
            user_map=user_map,
            since=since,
            full=full,
        )
    except ApiError as exc:
        raise _api_error(exc, url=url, ls_project=ls_project) from None
    except httpx.HTTPError as exc:
        raise LabelStudioUnreachable(f"cannot reach Label Studio at {url}: {exc}", field="--url") from None


def _api_error(exc: Any, *, url: str, ls_project: int) -> LabelgateError:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    detail = body.get("detail") if isinstance(body, dict) else body
    if status in (401, 403):
        return InvalidInput(
            f"Label Studio at {url} refused the access token ({status}: {detail})", field="LABEL_STUDIO_API_KEY"
        )
    if status == 404:
        return NotFound(f"Label Studio at {url} has no project {ls_project} you can see", field="--project")
    return LabelStudioUnreachable(f"Label Studio at {url} answered {status}: {detail}", field="--url")


# --- webhooks -------------------------------------------------------------------------------------------


def check_webhook_secret(settings: Settings, given: str | None) -> None:
    """Refuse (401) unless ``given`` is the configured secret; compared in constant time."""
    secret = settings.labelstudio_webhook_secret
    if not secret:
        raise Unauthorized(
            "Label Studio webhooks are not enabled on this server (set LABELGATE_LABELSTUDIO_WEBHOOK_SECRET)"
        )
    if given is None or not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
        raise Unauthorized(f"missing or wrong webhook secret (header {SECRET_HEADER})")


def _webhook_principal(session: Session, settings: Settings, request: str | None) -> Principal:
    name = settings.labelstudio_webhook_user
    if not name:
        raise PermissionDenied(
            "no user records Label Studio webhooks on this server (set LABELGATE_LABELSTUDIO_WEBHOOK_USER)"
        )
    user = session.exec(select(User).where(User.username == name)).first()
    if user is None or not user.is_active:
        raise PermissionDenied(f"the webhook user {name!r} (LABELGATE_LABELSTUDIO_WEBHOOK_USER) is not an active user")
    actor = Actor(user_id=user.id or 0, username=user.username, request_id=request, is_admin=user.is_admin)
    return Principal(user=user, actor=actor)


def _listed(value: Any, what: str) -> list[dict[str, Any]]:
    found = value if isinstance(value, list) else [value]
    if not found or not all(isinstance(v, dict) for v in found):
        raise InvalidInput(f"expected {what} as an object or a list of objects", field=what)
    return found


def _origin(payload: Mapping[str, Any], annotations: list[dict[str, Any]]) -> str:
    project = payload.get("project")
    pid = project.get("id") if isinstance(project, dict) else None
    if pid is None and annotations:
        pid = annotations[0].get("project")
    if isinstance(pid, bool) or not isinstance(pid, int | str) or str(pid) == "":
        raise InvalidInput("the event names no Label Studio project (project.id)", field="project")
    return f"project:{pid}"


def _batch(payload: Mapping[str, Any], ctx: Context, version: Any) -> WorkBatch:
    """The event as a batch: created/updated annotations as units, deleted ones as refs."""
    action = payload["action"]
    source = f"labelstudio webhook {action}"
    if action == "ANNOTATIONS_DELETED":
        gone = _listed(payload.get("annotations"), "annotations")
        ids = [a.get("id") for a in gone]
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InvalidInput("expected each deleted annotation as {'id': <integer>}", field="annotations")
        return WorkBatch(
            tool="labelstudio",
            origin=_origin(payload, []),
            source=source,
            source_sha256=hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest(),
            deleted=[f"annotation:{i}" for i in ids],
        )
    annotations = _listed(payload.get("annotation"), "annotation")
    tasks = {str(t.get("id")): t for t in _listed(payload.get("task"), "task")}
    grouped: dict[str, dict[str, Any]] = {}
    for ann in annotations:
        tid = str(ann.get("task"))
        task = tasks.get(tid)
        if task is None:
            raise InvalidInput(
                f"annotation {ann.get('id')} names task {tid}, which the event does not carry", field="task"
            )
        grouped.setdefault(tid, {**task, "annotations": [], "predictions": []})["annotations"].append(ann)
    from lineage.formats.exportdata import schema_info
    from lineage.formats.labelstudio import parse_labelstudio
    from lineage.formats.transfer import item_index
    from lineage.models import Dataset

    dataset = ctx.session.get(Dataset, version.dataset_id)
    assert dataset is not None
    return parse_labelstudio(
        list(grouped.values()),
        source=source,
        origin=_origin(payload, annotations),
        items=item_index(ctx.session, dataset, version),
        schema=schema_info(ctx.session, version),
    )


def receive_labelstudio_webhook(
    session: Session,
    settings: Settings,
    *,
    secret: str | None,
    project_id: int,
    dataset: str,
    version: str,
    payload: Mapping[str, Any],
    request: str | None = None,
) -> WorkResult | None:
    """Record one Label Studio webhook event in the version (module docstring); ``None`` for an event this
    endpoint does not record (it is acknowledged and ignored). The secret is checked before anything else."""
    check_webhook_secret(settings, secret)
    if not isinstance(payload.get("action"), str):
        raise InvalidInput("expected a Label Studio webhook event: an object with an action", field="action")
    ctx = Context(session=session, principal=_webhook_principal(session, settings, request), settings=settings)
    authorize(ctx, "import_annotations", project_id=project_id)
    _, v = find_version(ctx, project_id, dataset, version)
    if payload["action"] not in HANDLED_EVENTS:
        return None
    batch = _batch(payload, ctx, v)
    return record_work(session, actor=ctx.actor, version=v, batch=batch, action="annotation.webhook")
