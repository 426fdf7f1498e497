"""docs/openapi.yaml against the FULL `hcp serve` app: a real Gateway on a real Redis.

The routes that other parts mount (SMS completions and status, call context, the
HTTP SMS provider's callbacks, the IVR pool's worker list) must be documented, every
documented path must be served, and real answers must validate against the document.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import jsonschema
import pytest
import yaml
from aiohttp import web

from adapters.sms_http import signed_headers
from gateway.components import Hook
from gateway.config import load
from gateway.metrics import Metrics
from gateway.serve import Gateway
from ivr.context_api import FIELDS as CALL_CONTEXT_FIELDS
from ivr.context_api import validate_context
from sms import reminders as reminder_states
from sms.completions import Completion, parse_completion

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
DOC = yaml.safe_load(DOC_PATH.read_text())
SCHEMAS = DOC["components"]["schemas"]
METHODS = ("get", "post", "put", "delete", "patch")
PROVIDER = "acme"
KEY, SECRET = "test-access-key", "test-provider-secret-0123456789"
# served only while the IVR worker pool runs (ivr.pool.make_component): checked apart
POOL_ONLY = {("get", "/v1/ivr/workers")}


def _with_components(schema: dict) -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": DOC["components"], **schema}


def schema(name: str) -> dict:
    return _with_components({"$ref": f"#/components/schemas/{name}"})


def response_schema(path: str, method: str, status: int) -> dict:
    response = DOC["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return _with_components(response["content"]["application/json"]["schema"])


def documented() -> set[tuple[str, str]]:
    return {(m, p) for p, ops in DOC["paths"].items() for m in ops if m in METHODS}


def served(app: web.Application) -> set[tuple[str, str]]:
    return {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
            if r.method.lower() in METHODS and r.resource is not None}


def test_the_document_is_valid_openapi_3_1():
    from openapi_spec_validator import validate

    assert DOC["openapi"].startswith("3.1")
    validate(DOC)


def test_request_schemas_name_the_parsers_fields():
    # call_id: set by the IVR's SMS invitation after an unrated call, never by a caller
    assert set(SCHEMAS["CompletionRequest"]["properties"]) == {
        f.name for f in fields(Completion)} - {"call_id"}
    assert set(SCHEMAS["CallContextRequest"]["properties"]) == {
        "correlation_id", *CALL_CONTEXT_FIELDS}
    assert set(SCHEMAS["ReminderStatus"]["properties"]["state"]["enum"]) == {
        reminder_states.PENDING, reminder_states.SENT, reminder_states.SKIPPED_RATED,
        reminder_states.SKIPPED_OPTOUT, reminder_states.FAILED}


def _examples(path: str) -> list[dict]:
    content = DOC["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return [e["value"] for e in content["examples"].values()]


def test_examples_are_valid_requests():
    for example in _examples("/v1/completions"):
        jsonschema.validate(example, schema("CompletionRequest"))
        parse_completion(example)
    for example in _examples("/v1/calls/context"):
        jsonschema.validate(example, schema("CallContextRequest"))
        validate_context(example)
    with pytest.raises(jsonschema.ValidationError):  # the schema refuses what the parser does
        jsonschema.validate({"correlation_id": "c-1", "phone": "13800138000"},
                            schema("CallContextRequest"))


def test_the_console_is_not_in_the_document():
    assert not [p for p in DOC["paths"] if p.startswith("/console")]
    assert "/console" in DOC["info"]["description"]


async def _nothing():
    pass


@pytest.fixture
async def gateway(tmp_path, redis_url, monkeypatch):
    monkeypatch.delenv("HCP_IVR_WORKERS", raising=False)  # the IVR pool off
    config = load(env={
        "HCP_DATA_DIR": str(tmp_path / "data"), "HCP_HTTP_PORT": "0",
        "HCP_REDIS_URL": redis_url, "HCP_DRAIN_TIMEOUT_S": "2",
        "HCP_SMS_CARRIER": "http", "HCP_SMS_HTTP_NAME": PROVIDER,
        "HCP_SMS_HTTP_URL": "http://127.0.0.1:9", "HCP_SMS_HTTP_KEY": KEY,
        "HCP_SMS_HTTP_SECRET": SECRET, "HCP_SMS_HTTP_TEMPLATE": "SMS_0001"}, cwd=tmp_path)
    seen = {}

    def capture_app(ctx):  # an extra component: it is handed the app `hcp serve` runs
        seen["app"] = ctx.http_app
        return Hook("capture-app", _nothing, _nothing)

    gw = Gateway(config, extra=[capture_app])
    await gw.start()
    gw.test_http_app = seen["app"]
    try:
        yield gw
    finally:
        await gw.stop()


async def test_full_app_routes_and_document_agree(gateway):
    in_app = served(gateway.test_http_app)
    in_doc = documented()
    v1_served = {r for r in in_app if r[1].startswith("/v1/")}
    assert v1_served - in_doc == set(), "served but not documented"
    assert in_doc - in_app == POOL_ONLY, "documented but not served"


async def test_the_ivr_workers_route_is_the_pools(tmp_path, redis_url):
    from ivr.pool import make_component

    config = load(env={"HCP_DATA_DIR": str(tmp_path / "data"), "HCP_REDIS_URL": redis_url,
                       "HCP_IVR_WORKERS": "2"}, cwd=tmp_path)
    app = web.Application()
    make_component(SimpleNamespace(config=config, redis_url=redis_url, metrics=Metrics(),
                                   http_app=app))
    assert served(app) == POOL_ONLY
    handler = next(r.handler for r in app.router.routes() if r.method == "GET")
    answer = json.loads((await handler(None)).body)  # not started: no processes
    assert len(answer["workers"]) == 2
    jsonschema.validate(answer, response_schema("/v1/ivr/workers", "get", 200))


COMPLETION = {"item_id": "44010020261127000123", "service_code": "11440100MB2C0001",
              "service_name": "居住证签注", "department": "广州市公安局",
              "phone": "13800138000", "completed_at": "2026-11-27T09:30:00+08:00"}


async def test_real_answers_match_the_documented_schemas(gateway):
    base = f"http://127.0.0.1:{gateway.http_port}"
    auth = {"Authorization": f"Bearer {gateway.config.http_tokens[0]}"}
    missing = {k: v for k, v in COMPLETION.items() if k != "service_code"}
    context = {"correlation_id": "cc-1", "ticket": "T-1", "agent": "A-42", "lang": "zh-CN"}
    elsewhere = {"item_id": COMPLETION["item_id"], "channel": "pad"}
    cases = [
        # (method, documented path, url, request kwargs, expected status)
        ("post", "/v1/completions", None, dict(json=COMPLETION, headers=auth), 201),
        ("post", "/v1/completions", None, dict(json=COMPLETION, headers=auth), 200),
        ("post", "/v1/completions", None, dict(json=missing, headers=auth), 400),
        ("post", "/v1/completions", None, dict(data=b"{x", headers=auth), 400),
        ("post", "/v1/completions", None, dict(json=COMPLETION), 401),
        ("get", "/v1/sms/reminders/{rid}", "/v1/sms/reminders/i:44010020261127000123",
         dict(headers=auth), 200),
        ("get", "/v1/sms/reminders/{rid}", "/v1/sms/reminders/i:nope", dict(headers=auth), 404),
        ("post", "/v1/calls/context", None, dict(json=context, headers=auth), 201),
        ("post", "/v1/calls/context", None,
         dict(json={**context, "phone": "13800138000"}, headers=auth), 400),
        ("post", "/v1/calls/context", None,
         dict(json={**context, "agent": "has space"}, headers=auth), 400),
        # after the status above: this cancels the completion's reminder
        ("post", "/v1/items/rated-elsewhere", None, dict(json=elsewhere, headers=auth), 201),
        ("post", "/v1/items/rated-elsewhere", None, dict(json=elsewhere, headers=auth), 200),
        ("post", "/v1/items/rated-elsewhere", None,
         dict(json={**elsewhere, "rated_at": "2026-11-27 10:02"}, headers=auth), 400),
        ("post", "/v1/items/rated-elsewhere", None, dict(json=elsewhere), 401),
    ]
    answers = {}
    async with aiohttp.ClientSession() as session:
        for method, doc_path, url, kwargs, expected in cases:
            async with session.request(method, base + (url or doc_path), **kwargs) as resp:
                assert resp.status == expected, (method, url or doc_path, await resp.text())
                answer = await resp.json()
            jsonschema.validate(answer, response_schema(doc_path, method, expected))
            answers.setdefault((doc_path, expected), []).append(answer)
    assert answers[("/v1/completions", 201)][0]["created"] is True
    assert answers[("/v1/completions", 200)][0]["created"] is False
    missing_field, not_json = answers[("/v1/completions", 400)]
    assert missing_field["field"] == "service_code" and not_json["field"] == "body"
    status = answers[("/v1/sms/reminders/{rid}", 200)][0]
    assert status["state"] == "pending" and status["phone"] == "138****8000"
    assert "13800138000" not in json.dumps(status)
    unknown_field, bad_value = answers[("/v1/calls/context", 400)]
    assert unknown_field["field"] == "phone" and "phone" in unknown_field["message"]
    assert bad_value["field"] == "agent"
    first, again = (answers[("/v1/items/rated-elsewhere", n)][0] for n in (201, 200))
    assert first["reminder_cancelled"] is True and again["recorded"] is False


def _signed(path: str, body: bytes, secret: str = SECRET) -> dict:
    return signed_headers(KEY, secret, "POST", path, body)


@pytest.mark.parametrize("kind", ["inbound", "receipts"])
async def test_provider_callbacks_match_the_document(gateway, kind):
    base = f"http://127.0.0.1:{gateway.http_port}"
    auth = {"Authorization": f"Bearer {gateway.config.http_tokens[0]}"}  # not enough here
    path = f"/v1/sms/{kind}/{PROVIDER}"
    doc_path = f"/v1/sms/{kind}/{{provider}}"
    item = ({"phone_number": "13900139000", "content": "TD", "send_time": "2026-11-27 10:00:00"}
            if kind == "inbound" else
            {"biz_id": "no-such-biz", "success": True, "report_time": "2026-11-27 10:00:00"})
    body = json.dumps([item]).encode()
    async with aiohttp.ClientSession() as session:
        async def post(url_path, payload, headers, expected):
            async with session.post(base + url_path, data=payload, headers=headers) as resp:
                assert resp.status == expected, (url_path, await resp.text())
                answer = await resp.json()
            jsonschema.validate(answer, response_schema(doc_path, "post", expected))
            return answer

        # as documented: the provider signs its callbacks; our bearer token is not asked
        unsigned = await post(path, body, auth, 401)
        assert unsigned["code"] == 401
        bad_signature = await post(path, body, _signed(path, body, "x" * 24), 401)
        assert bad_signature["code"] == 401
        ok = await post(path, body, _signed(path, body), 200)
        assert ok["code"] == 0 and ok["handled"] == 1
        not_json = await post(path, b"{x", _signed(path, b"{x"), 400)
        assert not_json["code"] == 400
        other = f"/v1/sms/{kind}/other"
        unknown = await post(other, body, _signed(other, body), 404)
        assert unknown["code"] == 404
