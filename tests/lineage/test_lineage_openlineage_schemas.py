"""Validating OpenLineage events offline against the spec's own JSON schemas (``tests/fixtures/openlineage``).

:func:`validate_event` checks an event against the definition its ``schemaURL`` names, then every facet
against the schema its ``_schemaURL`` names, all resolved from local files by ``$id`` (a ``referencing``
registry; a URL with no local file is an error, never a download). The other OpenLineage tests import it.

The upstream files are kept unchanged (``tests/fixtures/openlineage/README.md`` says where each comes from),
so a few carry an earlier version than the one the openlineage-python client writes in its URLs; those URLs
are mapped to the vendored file in ``ALIASES`` (the README says why each difference does not matter here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

FIXTURES = Path(__file__).parents[1] / "fixtures" / "openlineage"
CORE = "spec/2-0-0/OpenLineage.json"
#: URLs the client writes (core 2-0-2 and the facet versions of openlineage-python 1.54) -> the vendored file.
ALIASES = {
    "https://openlineage.io/spec/2-0-2/OpenLineage.json": CORE,
    "https://openlineage.io/spec/1-0-2/OpenLineage.json": CORE,
    "https://openlineage.io/spec/1-0-1/OpenLineage.json": CORE,
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json": (
        "facets/DatasetVersionDatasetFacet.json"
    ),
    "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json": (
        "facets/OutputStatisticsOutputDatasetFacet.json"
    ),
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json": "facets/ErrorMessageRunFacet.json",
    "https://openlineage.io/spec/facets/1-0-0/TagsRunFacet.json": "facets/TagsRunFacet.json",
}


def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry()  # no ``retrieve``: a URL without a local file is never fetched
    by_file: dict[str, Resource[Any]] = {}
    for path in sorted(FIXTURES.rglob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents)
        by_file[path.relative_to(FIXTURES).as_posix()] = resource
        registry = registry.with_resource(contents["$id"], resource)
    for uri, rel in ALIASES.items():
        registry = registry.with_resource(uri, by_file[rel])
    return registry


REGISTRY = _registry()


def _check(instance: Any, url: str, where: str) -> None:
    validator = Draft202012Validator(
        {"$ref": url}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    try:
        validator.validate(instance)
    except Unresolvable as exc:
        raise AssertionError(f"{where}: no local schema for {url} ({exc})") from None
    except ValidationError as exc:
        raise AssertionError(f"{where}: {exc.message} (at {list(exc.absolute_path)}) against {url}") from None


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"run.facets.{k}", v) for k, v in event.get("run", {}).get("facets", {}).items()]
    found += [(f"job.facets.{k}", v) for k, v in event.get("job", {}).get("facets", {}).items()]
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, ds in enumerate(event.get(side, [])):
            for group in ("facets", extra):
                found += [(f"{side}[{i}].{group}.{k}", v) for k, v in ds.get(group, {}).items()]
    return found


def validate_event(event: dict[str, Any]) -> None:
    """AssertionError naming the place unless each facet of ``event`` and the event itself validate.

    Facets first: the core schema tries its alternatives for a facet map (``facets/*.json``, some not
    vendored) only once a facet has failed its generic definition, which the facet's own check names."""
    for where, facet in _facets(event):
        _check(facet, facet["_schemaURL"], where)
    _check(event, event["schemaURL"], "event")


def read_events(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of an events file (none when it does not exist)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


# --- the validator itself can fail ------------------------------------------------------------------------

RUN_ID = "0190f6c2-7c1a-7d3e-9a4b-2f1e3d4c5b6a"


def _event() -> dict[str, Any]:
    producer = "https://github.com/labelgate/labelgate"
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-02T03:04:05.000Z",
        "producer": producer,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {
            "runId": RUN_ID,
            "facets": {
                "labelgate": {
                    "_producer": producer,
                    "_schemaURL": "https://labelgate.dev/spec/facets/1-0-0/LabelgateRunFacet.json#/$defs/LabelgateRunFacet",
                    "actor": "ml",
                    "auditSeq": 3,
                    "details": {},
                }
            },
        },
        "job": {"namespace": "labelgate://ws", "name": "p.d.release"},
        "inputs": [
            {
                "namespace": "labelgate://ws",
                "name": "p/d",
                "facets": {
                    "version": {
                        "_producer": producer,
                        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
                        "datasetVersion": "v1",
                    }
                },
            }
        ],
        "outputs": [],
    }


def test_a_well_formed_event_validates() -> None:
    validate_event(_event())


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda e: e.pop("job"), "'job' is a required property"),
        (lambda e: e.update(eventType="DONE"), "'DONE' is not one of"),
        (lambda e: e["run"].update(runId="run-1"), "is not a 'uuid'"),
        (lambda e: e["inputs"][0]["facets"]["version"].pop("datasetVersion"), "'datasetVersion' is a required"),
        (lambda e: e["run"]["facets"]["labelgate"].pop("actor"), "'actor' is a required property"),
        (lambda e: e["run"]["facets"]["labelgate"].pop("_producer"), "'_producer' is a required property"),
        (
            lambda e: e["inputs"][0]["facets"]["version"].update(_schemaURL="https://example.org/X.json#/$defs/X"),
            "no local schema for https://example.org/X.json",
        ),
    ],
)
def test_a_broken_event_is_refused_naming_why(break_it: Any, message: str) -> None:
    event = _event()
    break_it(event)
    with pytest.raises(AssertionError, match=message.replace("(", r"\(").replace("'", "'")):
        validate_event(event)
