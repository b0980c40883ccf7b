"""The names behind the ids the API's rows carry: ``DATASET@VERSION`` for a dataset version id,
``NAME@VERSION`` for a model version id, read through the same verbs (locally) or routes (remotely) as
``dataset list`` and ``model list``, so a list prints what people call things.

A name the caller may not read (a golden dataset hidden from them) stays ``#ID``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lineage.errors import LabelgateError
from service.cli.lazy import lazy_module

if TYPE_CHECKING:
    from service import actions
    from service.actions.context import Context
    from service.cli.door import Remote
else:
    actions = lazy_module("service.actions")

__all__ = ["Names", "local_names", "remote_names"]


class Names:
    """Version and model names by id; ``version(id)`` and ``model(id)`` fall back to ``#ID``."""

    def __init__(self, versions: dict[int, str], models: dict[int, str]) -> None:
        self.versions, self.models = versions, models

    def version(self, version_id: int) -> str:
        return self.versions.get(version_id, f"#{version_id}")

    def model(self, model_id: int) -> str:
        return self.models.get(model_id, f"#{model_id}")


def local_names(ctx: Context, project_id: int, *, models: bool = True) -> Names:
    """The project's version (and model) names, read on the workspace as the caller."""
    versions: dict[int, str] = {}
    found_models: dict[int, str] = {}
    try:
        for d in actions.datasets_of(ctx, project_id):
            for v in actions.versions_of(ctx, project_id, d.name):
                versions[v.id or 0] = f"{d.name}@{v.version}"
        if models:
            found_models = {m.id or 0: f"{m.name}@{m.version}" for m in actions.models_of(ctx, project_id)}
    except LabelgateError:  # a role that may not list them: the ids stay
        pass
    return Names(versions, found_models)


def remote_names(api: Remote, project_id: int, *, models: bool = True) -> Names:
    """The project's version (and model) names, read from the server as the token's user."""
    versions: dict[int, str] = {}
    found_models: dict[int, str] = {}
    base = f"/projects/{project_id}/datasets"
    try:
        for d in api.get(base):
            found: list[dict[str, Any]] = api.get(f"{base}/{quote(d['name'], safe='')}/versions")
            versions.update({int(v["id"]): f"{d['name']}@{v['version']}" for v in found})
        if models:
            listed: list[dict[str, Any]] = api.get(f"/projects/{project_id}/models")
            found_models = {int(m["id"]): f"{m['name']}@{m['version']}" for m in listed}
    except LabelgateError:
        pass
    return Names(versions, found_models)
