"""docs/openapi.yaml and the API app (gateway.http_api) agree: its routes, enums, answers."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from gateway.api_request import TARGET_FIELDS, TOP_FIELDS, parse_evaluation
from gateway.http_api import make_app
from gateway.metrics import Metrics
from ratings.grades import Grade
from ratings.model import Channel, TargetKind
from tests.gateway.conftest import AUTH

DOC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml")
                     .read_text())
SCHEMAS = DOC["components"]["schemas"]


def schema(name: str) -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": DOC["components"], "$ref": f"#/components/schemas/{name}"}


def response_schema(path: str, method: str, status: int) -> dict:
    response = DOC["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    inner = response["content"]["application/json"]["schema"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": DOC["components"], **inner}


def test_version_and_routes_match_the_app():
    assert DOC["openapi"].startswith("3.1")

    async def ready():
        return {}

    app = make_app(object(), Metrics(), ("t" * 20,), ready)
    in_app = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD"}
    in_doc = {(method, path) for path, ops in DOC["paths"].items() for method in ops
              if method in ("get", "post", "put", "delete", "patch")}
    # the API app's own routes; the rest of the document (routes other parts mount
    # into `hcp serve`) is checked against the full gateway in test_openapi_full.py
    assert in_app <= in_doc
    assert {p for _, p in in_doc - in_app} == {
        "/v1/completions", "/v1/items/rated-elsewhere", "/v1/sms/reminders/{rid}",
        "/v1/sms/flagged", "/v1/calls/context",
        "/v1/ivr/workers", "/v1/sms/inbound/{provider}", "/v1/sms/receipts/{provider}"}


def test_enums_and_fields_match_the_domain():
    from ratings.intake import MESSAGES

    assert set(SCHEMAS["RefusalReason"]["enum"]) == {r for r in MESSAGES if r}
    assert SCHEMAS["Grade"]["enum"] == [g.id for g in Grade]
    assert SCHEMAS["Target"]["properties"]["kind"]["enum"] == [k.value for k in TargetKind]
    request = SCHEMAS["EvaluationRequest"]["properties"]
    assert request["channel"]["enum"] == [c.value for c in Channel]
    assert set(request) == TOP_FIELDS
    assert set(SCHEMAS["Target"]["properties"]) == TARGET_FIELDS


@pytest.mark.parametrize("name", ["item", "bad_rating_of_a_batch"])
def test_examples_are_valid_requests(name):
    example = DOC["paths"]["/v1/evaluations"]["post"]["requestBody"]["content"][
        "application/json"]["examples"][name]["value"]
    jsonschema.validate(example, schema("EvaluationRequest"))
    parse_evaluation(example)


def test_schema_refuses_what_the_parser_refuses():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"target": {"kind": "item", "id": "x"}, "grade": "great"},
                            schema("EvaluationRequest"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"target": {"kind": "item", "id": "x"}, "grade": "satisfied",
                             "score": 10}, schema("EvaluationRequest"))


async def test_real_answers_match_the_documented_schemas(api):
    body = {"target": {"kind": "item", "id": "DOC-1"}, "grade": "satisfied"}
    path = "/v1/evaluations"
    cases = [
        ("post", path, dict(json=body, headers=AUTH), 201),
        ("post", path, dict(json=body, headers=AUTH), 409),
        ("post", path, dict(json={**body, "grade": "x"}, headers=AUTH), 400),
        ("post", path, dict(json=body), 401),
        ("post", path, dict(data=b"x" * 5000, headers=AUTH), 413),
        ("get", "/v1/evaluations/{id}", dict(headers=AUTH), 404),
        ("get", "/healthz", {}, 200),
        ("get", "/readyz", {}, 200),
    ]
    created = None
    for method, doc_path, kwargs, expected in cases:
        url = doc_path.replace("{id}", "0" * 32)
        resp = await getattr(api, method)(url, **kwargs)
        assert resp.status == expected, (method, url)
        answer = await resp.json()
        jsonschema.validate(answer, response_schema(doc_path, method, expected))
        if expected == 201:
            created = answer
    resp = await api.get(f"/v1/evaluations/{created['id']}", headers=AUTH)
    jsonschema.validate(await resp.json(), response_schema("/v1/evaluations/{id}", "get", 200))
