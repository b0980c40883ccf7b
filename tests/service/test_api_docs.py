"""The API's reference works offline and says what the API does.

The pages (``/docs``, ``/redoc``) load only same-origin assets, which the API serves. The OpenAPI document
gives every operation a summary and description, every parameter and tag a description, every request body
an example that fits its schema, and every error status an operation can answer with the body the API
really sends (checked against live error responses); the bearer scheme is required only where a token is.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.operations import OPERATIONS
from service.api.schemas.common import ErrorBody
from service.permissions import ACTIONS, LOCAL_ACTIONS
from service.settings import Settings
from tests.factories import World

Spec = dict[str, Any]
_EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.fixture(scope="module")
def offline_client() -> TestClient:
    """The app without its lifespan: the pages and the spec touch no database."""
    return TestClient(create_app())


@pytest.fixture(scope="module")
def spec(offline_client: TestClient) -> Spec:
    response = offline_client.get("/openapi.json")
    assert response.status_code == 200
    body: Spec = response.json()
    return body


def _operations(spec: Spec) -> list[tuple[str, str, Spec]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _validate(instance: Any, schema: Spec, spec: Spec) -> None:
    """Validate against ``schema`` with its ``#/components/...`` references resolved in ``spec``."""
    jsonschema.Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


# ---- the pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_load_only_same_origin_assets_that_the_api_serves(offline_client: TestClient, page: str) -> None:
    response = offline_client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.findall(r"(?:https?:)?//[\w.-]+", html) == [], "a reference to another host"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy  # the browser fetches nothing else
    parser = _Links()
    parser.feed(html)
    scripts = [u for u in parser.urls if u.endswith(".js")]
    assert scripts, f"{page} loads no script"
    spec_url = re.search(r"url: '([^']+)'|spec-url=\"([^\"]+)\"", html)
    assert spec_url is not None
    for url in [*parser.urls, spec_url.group(1) or spec_url.group(2)]:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = offline_client.get(url)
        assert asset.status_code == 200, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert _EXPECTED_TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 1000, url


def test_the_default_cdn_pages_are_gone(offline_client: TestClient) -> None:
    assert offline_client.get("/docs/oauth2-redirect").status_code == 404
    for page in ("/docs", "/redoc"):
        assert "cdn.jsdelivr.net" not in offline_client.get(page).text


# ---- descriptions --------------------------------------------------------------------------------------


def test_every_operation_parameter_and_tag_is_described(spec: Spec) -> None:
    names = set()
    undescribed: list[str] = []
    for path, method, op in _operations(spec):
        name = op["operationId"]
        names.add(name)
        where = f"{method.upper()} {path} ({name})"
        if name not in OPERATIONS:
            undescribed.append(f"{where}: no entry in service.api.operations.OPERATIONS")
            continue
        if op.get("summary") != OPERATIONS[name].summary:
            undescribed.append(f"{where}: summary")
        if not op.get("description", "").strip() or "**Who may call:**" not in op["description"]:
            undescribed.append(f"{where}: description")
        undescribed += [
            f"{where}: parameter {p['in']} {p['name']}" for p in op.get("parameters", []) if not p.get("description")
        ]
        assert op.get("tags"), where
    assert undescribed == []
    assert names == set(ACTIONS) - LOCAL_ACTIONS  # operation ids are the route names
    assert set(OPERATIONS) == names, "entries of OPERATIONS without a route"
    described = {t["name"]: t.get("description", "") for t in spec["tags"]}
    used = {tag for _, _, op in _operations(spec) for tag in op["tags"]}
    assert {tag for tag in used if not described.get(tag, "").strip()} == set()
    assert set(described) == used


# ---- errors --------------------------------------------------------------------------------------------


def test_fastapis_validation_error_schema_is_replaced_by_the_real_error_body(spec: Spec) -> None:
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text and "#/components/schemas/ValidationError" not in text
    assert "ErrorBody" in spec["components"]["schemas"]


def test_every_documented_error_has_the_error_body_and_an_example_of_it(spec: Spec) -> None:
    for path, method, op in _operations(spec):
        rule = ACTIONS.get(op["operationId"])
        assert rule is not None, f"{method.upper()} {path}: not a route name of the permission table"
        errors = {int(s): r for s, r in op["responses"].items() if int(s) >= 400}
        expected = {422} | ({413, 415} if "requestBody" in op else set())
        if rule.kind != "public":
            expected.add(401)
        if "{" in path:
            expected.add(404)
        assert expected <= set(errors), f"{method.upper()} {path}: {sorted(errors)}"
        if rule.kind in ("admin", "self_or_admin", "any_project_role"):
            assert 403 in errors, path
        for status, response in errors.items():
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            example = media["example"]
            _validate(example, media["schema"], spec)
            ErrorBody.model_validate(example)  # the pydantic model agrees with its schema
            assert example["error"]["status"] == status


def _operation_for(spec: Spec, method: str, url: str) -> Spec:
    for path, ops in spec["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", path)
        if re.fullmatch(pattern, url) and method in ops:
            return ops[method]  # type: ignore[no-any-return]
    raise AssertionError(f"no operation {method.upper()} {url} in the spec")


def _check_documented(spec: Spec, method: str, url: str, response: Any) -> Spec:
    op = _operation_for(spec, method, url)
    status = str(response.status_code)
    assert status in op["responses"], f"{method.upper()} {url} answered {status}, undocumented"
    _validate(response.json(), op["responses"][status]["content"]["application/json"]["schema"], spec)
    body: Spec = response.json()
    return body


def test_real_error_responses_are_documented_with_their_body(
    client: TestClient, world: World, settings: Settings
) -> None:
    spec = client.get("/openapi.json").json()
    admin, annotator = world.headers("admin"), world.headers("annotator")
    project = world.project.id
    cases: list[tuple[int, str, str, dict[str, Any]]] = [
        (401, "get", "/api/v1/projects", {}),
        (401, "get", f"/api/v1/projects/{project}/datasets", {"headers": {"Authorization": "Bearer lg_wrong"}}),
        (403, "get", "/api/v1/users", {"headers": annotator}),
        (403, "post", f"/api/v1/projects/{project}/datasets", {"headers": annotator, "json": {"name": "d"}}),
        (404, "get", "/api/v1/projects/999999", {"headers": admin}),
        (404, "get", "/api/v1/projects/no-such-project/datasets", {"headers": admin}),
        (404, "get", f"/api/v1/projects/{project}/datasets/nope", {"headers": admin}),
        (422, "get", "/api/v1/users?limit=0", {"headers": admin}),
        (422, "get", f"/api/v1/projects/{project}/audit/events?since=yesterday", {"headers": admin}),
        (422, "post", "/api/v1/projects", {"headers": admin, "json": {"description": "no name"}}),
        (415, "post", "/api/v1/projects", {"headers": {**admin, "Content-Type": "text/plain"}, "content": b"x"}),
        (409, "post", "/api/v1/projects", {"headers": admin, "json": {"name": world.project.name}}),
        (413, "post", "/api/v1/projects", {"headers": admin, "content": b" " * (settings.max_body_bytes + 1)}),
    ]
    for status, method, url, kwargs in cases:
        if status == 413:
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        response = client.request(method.upper(), url, **kwargs)
        assert response.status_code == status, (url, response.text[:300])
        body = _check_documented(spec, method, url.split("?")[0], response)
        assert body["error"]["status"] == status
        assert body["request_id"] == response.headers["x-request-id"]
    # and a success still matches its documented 2xx
    assert client.get("/api/v1/health").status_code == 200


# ---- request bodies ------------------------------------------------------------------------------------


def test_every_request_body_has_examples_that_fit_its_schema(spec: Spec) -> None:
    missing: list[str] = []
    checked = 0
    for path, method, op in _operations(spec):
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            examples = [e["value"] for e in media.get("examples", {}).values()]
            if "example" in media:
                examples.append(media["example"])
            if not examples:
                missing.append(f"{method.upper()} {path} ({media_type})")
            for example in examples:
                _validate(example, media["schema"], spec)
                checked += 1
    assert missing == []
    assert checked >= 30


def test_a_body_example_that_does_not_fit_its_schema_is_refused(spec: Spec) -> None:
    # The check above can fail: an example missing a required field does not validate.
    media = spec["paths"]["/api/v1/projects"]["post"]["requestBody"]["content"]["application/json"]
    with pytest.raises(jsonschema.ValidationError):
        _validate({"description": "no name"}, media["schema"], spec)


# ---- security ------------------------------------------------------------------------------------------


def test_only_operations_needing_a_token_declare_the_bearer_scheme(spec: Spec) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {
        "HTTPBearer": {"type": "http", "scheme": "bearer", "description": schemes["HTTPBearer"]["description"]}
    }
    assert "security" not in spec  # no document-wide requirement
    for path, method, op in _operations(spec):
        if ACTIONS[op["operationId"]].kind == "public":
            assert "security" not in op, f"{method.upper()} {path} is public"
        else:
            assert op.get("security") == [{"HTTPBearer": []}], f"{method.upper()} {path} needs a token"
    assert "security" not in spec["paths"]["/api/v1/health"]["get"]
