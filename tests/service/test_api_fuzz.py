"""Property-based fuzzing of the whole API with schemathesis, in-process, on SQLite and PostgreSQL.

Every operation of the app's own OpenAPI schema is called, signed in as an admin, with schemathesis'
coverage phase (boundary values, wrong types, missing and unexpected fields, malformed and unsupported
media types) and its fuzzing phase (``MAX_EXAMPLES`` generated cases per operation in positive and in
negative mode). The one property checked is schemathesis' ``not_a_server_error``: no input, valid or not,
gets a 5xx. The run is deterministic: derandomized generation (Hypothesis derives its seed from the test
function), no example database, the operations in schema order.

The record is the gate scenario (``tests.factories.make_gate_world``), so requests get past the lookups
into the domain code: parameters that name things (project, dataset, version, annotation, run, queue entry,
user, token, policy...) take a real value most of the time in the fuzzing phase (schemathesis
dictionaries), and coverage cases that vary the query or the body are sent to a real resource.

Bounds, to keep a run near a minute per database: of coverage's "incorrect type" cases, one per parameter
or body field (the others send the same field another wrong type, which validation refuses the same way);
no "unexpected method" cases (Starlette answers 405 before any of our code runs). Nothing else is left
out: every operation of the schema is fuzzed, the upload route included.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from sqlalchemy import Engine, text
from sqlmodel import Session

from lineage import identity
from lineage.models import Role
from service.api.app import create_app
from service.api.routes.releases import REPORT_KINDS
from service.settings import Settings
from service.workspace import init_workspace
from tests.factories import actor_for, make_gate_world

MAX_EXAMPLES = 6  # generated cases per operation, mode and database, after the coverage cases
REQUEST_TIMEOUT_S = 120
SECRET = "fuzzing secret 1"


def _ids(engine: Engine, sql: str) -> list[int]:
    with Session(engine) as s:
        return [int(row[0]) for row in s.exec(text(sql))]  # type: ignore[call-overload]


def _strings(engine: Engine, sql: str) -> list[str]:
    with Session(engine) as s:
        return [str(row[0]) for row in s.exec(text(sql))]  # type: ignore[call-overload]


def _config(env: dict[str, Any]) -> schemathesis.Config:
    def words(*values: Any) -> dict[str, Any]:
        return {"values": list(values)}

    def bind(dictionary: str, probability: float = 0.95) -> dict[str, Any]:
        return {"dictionary": dictionary, "probability": probability}

    return schemathesis.Config.from_dict(
        {
            # the credentials are the run's (FuzzRun._call), never generated: a 401 would end a case early
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "with-security-parameters": False,
            },
            "phases": {"coverage": {"unexpected-methods": []}},
            "dictionaries": {
                "project": words(env["project"]),
                "dataset": words("street", "golden"),
                # path `version` is a dataset version's name on most routes, a schema version's number on one
                "version": words("v1", "v2", "v3", "g1", 1, 2),
                "schema": words("street-objects", "street-objects@1"),
                "annotation": words(*env["annotations"]),
                "run": words(*env["runs"]),
                "queue": words(*env["queue"]),
                "evaluation": words(*env["evaluations"]),
                "user": words(*env["users"]),
                "token": words(*env["tokens"]),
                "username": words(*env["usernames"]),
                "report": words(*REPORT_KINDS),
                "item": words(*env["items"]),
                "uri": words(*env["uris"]),
                "category": words(*env["categories"]),
                "policy": words("default", "default@1"),
                "golden": words("street-golden@1"),
                "model": words("street-detector@1", "street-detector@2"),
                "run-version": words("street@v2", "street@v3", "golden@g1"),
                "source": words("fresh", "."),
                "secret": words(SECRET),
            },
            "parameters": {
                "path.project_id": bind("project"),
                "path.dataset": bind("dataset"),
                "path.version": bind("version"),
                "path.name": bind("schema"),
                "path.annotation_id": bind("annotation"),
                "path.run_id": bind("run"),
                "path.queue_id": bind("queue"),
                "path.item_id": bind("item"),
                "path.evaluation_id": bind("evaluation"),
                "path.user_id": bind("user"),
                "path.token_id": bind("token"),
                "path.kind": bind("report"),
                "path.ref": bind("model"),
                "query.run_id": bind("run", 0.5),
                "body.username": bind("username", 0.5),
                "body.policy": bind("policy"),
                "body.golden": bind("golden", 0.5),
                "body.dataset": bind("dataset"),
                "body.version": bind("run-version", 0.5),
                "body.model": bind("model"),
                "body.schema": bind("schema", 0.5),
                "body.schema_ref": bind("schema", 0.5),
                "body.parent": bind("version", 0.5),
                "body.source_dir": bind("source", 0.5),
                "body.annotation_id": bind("annotation"),
                "body.signing_secret": bind("secret"),
                "body.annotations[*].item_id": bind("item", 0.5),
                "body.annotations[*].item_uri": bind("uri", 0.7),
                "body.annotations[*].category": bind("category"),
                "body.category": bind("category", 0.5),
            },
        }
    )


@pytest.fixture
def fuzz_target(settings: Settings, engine: Engine, tmp_path: Path) -> tuple[schemathesis.BaseSchema, dict[str, Any]]:
    """The app's schema, bound to the app (calls stay in-process), over the gate scenario's record."""
    init_workspace(settings)
    with Session(engine, expire_on_commit=False) as s:
        world, scenario = make_gate_world(s, repo_dir=settings.repo_dir, work_dir=tmp_path / "work", secret=SECRET)
        admin = actor_for(world.admin)
        identity.set_signing_secret(s, actor=admin, user=world.admin, secret=SECRET, operator=True)
        # the admin signs too, as a member holding a role the default policy lets approve
        identity.add_member(s, actor=admin, project=world.project, user=world.admin, role=Role.compliance_officer)
        s.commit()
    fresh = settings.workspace / "incoming" / "fresh"  # a folder a new version may be made from
    fresh.mkdir(parents=True)
    for png in sorted(scenario.image_dir.glob("*.png"))[:3]:
        (fresh / png.name).write_bytes(png.read_bytes())

    def renew() -> str:
        with Session(engine, expire_on_commit=False) as s:
            token = identity.issue_token(s, actor=actor_for(world.admin), user=world.admin, name="fuzz").token
            s.commit()
        return token

    env = {
        "token": world.tokens["admin"],
        "renew": renew,
        "project": world.project.id,
        "annotations": _ids(engine, "SELECT id FROM annotations ORDER BY id LIMIT 40"),
        "runs": _ids(engine, "SELECT id FROM autolabel_runs ORDER BY id"),
        "queue": _ids(engine, "SELECT id FROM review_queue ORDER BY id LIMIT 10"),
        "evaluations": _ids(engine, "SELECT id FROM gate_evaluations ORDER BY id") or [1],
        "users": _ids(engine, "SELECT id FROM users ORDER BY id"),
        "tokens": _ids(engine, "SELECT id FROM api_tokens ORDER BY id"),
        "usernames": _strings(engine, "SELECT username FROM users ORDER BY id"),
        "items": _ids(engine, "SELECT id FROM items ORDER BY id LIMIT 10"),
        "uris": _strings(engine, "SELECT DISTINCT uri FROM items ORDER BY uri LIMIT 10"),
        "categories": _strings(engine, "SELECT DISTINCT category FROM annotations ORDER BY category"),
    }
    app = create_app(settings, engine=engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(env))
    return schema, env


def _real_path(operation: schemathesis.APIOperation, env: dict[str, Any]) -> dict[str, Any]:
    """Path parameters naming real things, for coverage cases that vary something else."""
    values: dict[str, Any] = {
        "project_id": env["project"],
        "dataset": "street",
        "version": 1 if "/schemas/" in operation.path else "v3",
        "name": "street-objects",
        "annotation_id": env["annotations"][0],
        "run_id": env["runs"][0],
        "queue_id": env["queue"][0],
        "item_id": env["items"][0],
        "evaluation_id": env["evaluations"][0],
        "calibration_id": 1,
        "user_id": env["users"][0],
        "token_id": env["tokens"][-1],
        "kind": "gate-report.json",
        "ref": "street-detector@2",
    }
    return {p.name: values[p.name] for p in operation.path_parameters}


@dataclass
class FuzzRun:
    """What a run did: cases sent per operation, and each distinct server error (operation, status, body)."""

    token: str
    renew: Callable[[], str]
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    seconds: Counter[str] = field(default_factory=Counter)
    op_seconds: Counter[str] = field(default_factory=Counter)
    errors: dict[tuple[str, int, str], str] = field(default_factory=dict)

    def send(self, case: schemathesis.Case) -> None:
        label = case.operation.label
        self.calls[label] += 1
        t0 = time.monotonic()
        try:
            response = self._call(case)
        except Exception as exc:  # the in-process client re-raised what the app did not handle
            self.errors.setdefault((label, 500, repr(exc)[:300]), case.as_curl_command())
            self.statuses[500] += 1
            return
        self.op_seconds[label] += time.monotonic() - t0
        self.statuses[response.status_code] += 1
        self.by_operation.setdefault(label, Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except AssertionError:
            self.errors.setdefault((label, response.status_code, response.text[:300]), case.as_curl_command())

    def _call(self, case: schemathesis.Case) -> schemathesis.Response:
        # Signed in as the admin on every case (coverage also drops or mangles the credentials). A case may
        # revoke the admin's own token (DELETE .../tokens/{token_id}): a new one is issued and the case
        # that met the 401 is sent again, so the rest of the run is not refused wholesale.
        response = case.call(headers={"Authorization": f"Bearer {self.token}"})
        if response.status_code == 401 and "revoked" in response.text:
            self.token = self.renew()
            response = case.call(headers={"Authorization": f"Bearer {self.token}"})
        return response


def coverage_cases(
    schema: schemathesis.BaseSchema, operation: schemathesis.APIOperation, env: dict[str, Any]
) -> Iterator[schemathesis.Case]:
    """The operation's coverage cases (both modes), bounded and aimed as the module docstring says."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    generation = schema.config.generation_for(operation=operation, phase="coverage")
    real = _real_path(operation, env)
    wrong_types: set[tuple[str, str | None, str | None]] = set()
    for case in schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=generation):
        data = case.meta.phase.data if case.meta is not None else None
        if not isinstance(data, CoveragePhaseData):
            yield case
            continue
        if data.scenario == CoverageScenario.INCORRECT_TYPE:
            key = (str(data.parameter_location), data.parameter, data.location)
            if key in wrong_types:
                continue
            wrong_types.add(key)
        if real and data.parameter_location != ParameterLocation.PATH:
            case.path_parameters = {**(case.path_parameters or {}), **real}
        yield case


def fuzz(schema: schemathesis.BaseSchema, env: dict[str, Any]) -> FuzzRun:
    """Every operation: its coverage cases, then ``MAX_EXAMPLES`` generated cases in each mode."""
    run = FuzzRun(token=env["token"], renew=env["renew"])
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for result in schema.get_all_operations():
        operation = result.ok()
        t0 = time.monotonic()
        for case in coverage_cases(schema, operation, env):
            run.send(case)
        run.seconds["coverage"] += time.monotonic() - t0
        t0 = time.monotonic()
        for mode in modes:

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
                verbosity=hypothesis.Verbosity.quiet,
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def generated(case: schemathesis.Case) -> None:
                run.send(case)

            try:
                generated()
            except hypothesis.errors.Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to make invalid (no inputs)
        run.seconds["fuzzing"] += time.monotonic() - t0
    return run


def test_no_request_gets_a_server_error(fuzz_target: tuple[schemathesis.BaseSchema, dict[str, Any]]) -> None:
    fuzz_schema, env = fuzz_target
    started = time.monotonic()
    run = fuzz(fuzz_schema, env)
    took = time.monotonic() - started
    summary = (
        f"{len(run.calls)} operations, {sum(run.calls.values())} requests in {took:.0f} s; "
        f"statuses {dict(sorted(run.statuses.items()))}; seconds {dict(run.seconds)}"
    )
    print(summary)
    for label, spent in run.op_seconds.most_common(15):
        print(f"  {spent:5.1f} s {run.calls[label]:4d} {label}: {dict(sorted(run.by_operation[label].items()))}")
    assert len(run.calls) == len(list(fuzz_schema.get_all_operations())), summary
    found = "\n".join(f"{label} -> {status}: {body}\n    {curl}" for (label, status, body), curl in run.errors.items())
    assert not run.errors, f"{summary}; {len(run.errors)} distinct server errors:\n{found}"
