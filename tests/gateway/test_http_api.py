"""The HTTP API on the real Intake and a real redis-server."""

from __future__ import annotations

import json

from ratings import keys
from tests.gateway.conftest import AUTH


def ev_body(item="GD-1", **changes):
    data = {"target": {"kind": "item", "id": item}, "grade": "satisfied",
            "phone": "13812345678", "channel": "api"}
    data.update(changes)
    return data


async def redis_state(aredis):
    return sorted(k.decode() for k in await aredis.keys("*"))


async def test_post_accepts_then_refuses_duplicate(api, aredis):
    resp = await api.post("/v1/evaluations", json=ev_body(), headers=AUTH)
    assert resp.status == 201
    created = await resp.json()
    assert created["status"] == "accepted" and resp.headers["Location"].endswith(created["id"])
    assert await aredis.xlen(keys.OUTBOX) == 1

    again = await api.post("/v1/evaluations", json=ev_body(grade="very_satisfied"),
                           headers=AUTH)
    assert again.status == 409
    refusal = await again.json()
    assert refusal["error"] == "already_evaluated"
    assert refusal["reason"] == "already_evaluated" and refusal["id"] == created["id"]
    assert refusal["message"]  # a sentence a channel can pass on
    assert await aredis.xlen(keys.OUTBOX) == 1


async def test_idempotency_key_makes_a_retry_safe(api, aredis):
    headers = {**AUTH, "Idempotency-Key": "7c1e0a4e-retry-me"}
    first = await api.post("/v1/evaluations", json=ev_body("I-1"), headers=headers)
    again = await api.post("/v1/evaluations", json=ev_body("I-1"), headers=headers)
    assert first.status == again.status == 201
    assert (await first.json())["id"] == (await again.json())["id"]
    assert await aredis.xlen(keys.OUTBOX) == 1  # the retry wrote nothing
    # without the key the same body is a second evaluation of the item: refused
    other = await api.post("/v1/evaluations", json=ev_body("I-1"), headers=AUTH)
    assert other.status == 409
    # the key reused for another item names an id already in use: refused
    reuse = await api.post("/v1/evaluations", json=ev_body("I-2"), headers=headers)
    assert reuse.status == 409
    bad = await api.post("/v1/evaluations", json=ev_body("I-3"),
                         headers={**AUTH, "Idempotency-Key": "has space"})
    assert bad.status == 400 and (await bad.json())["field"] == "Idempotency-Key"


async def test_follow_up_once(api):
    first = await (await api.post("/v1/evaluations", json=ev_body("F-1"), headers=AUTH)).json()
    follow = ev_body("F-1", assess_number=2, grade="dissatisfied", comment="后来又出问题")
    resp = await api.post("/v1/evaluations", json=follow, headers=AUTH)
    assert resp.status == 201
    assert (await resp.json())["id"] != first["id"]
    resp = await api.post("/v1/evaluations", json=follow, headers=AUTH)
    assert resp.status == 409
    refusal = await resp.json()
    assert refusal["error"] == refusal["reason"] == "follow_up_already_given"
    resp = await api.post("/v1/evaluations", json=ev_body("F-2", assess_number=2),
                          headers=AUTH)
    assert (await resp.json())["error"] == "no_first_evaluation"


async def test_get_status_hides_the_phone(api):
    created = await (await api.post("/v1/evaluations", json=ev_body(), headers=AUTH)).json()
    resp = await api.get(f"/v1/evaluations/{created['id']}", headers=AUTH)
    assert resp.status == 200
    status = await resp.json()
    assert status["id"] == created["id"] and status["status"] == "accepted"
    assert status["attempts"] == 0 and status["covers"] == ["GD-1"]
    text = json.dumps(status)
    assert "13812345678" not in text and "phone" not in text
    assert status["evaluation"]["grade"] == "satisfied"
    assert status["evaluation"]["target"]["id"] == "GD-1"


async def test_unknown_evaluation_is_404(api):
    for ev_id in ("0" * 32, "../../etc", "x" * 65):
        resp = await api.get(f"/v1/evaluations/{ev_id}", headers=AUTH)
        assert resp.status == 404
        assert (await resp.json())["error"] == "not_found"


async def test_refused_requests_write_nothing(api, aredis):
    cases = [
        (b"{not json", "invalid_json", None),
        (json.dumps(ev_body(grade="superb")).encode(), "unknown_grade", "grade"),
        (json.dumps(ev_body(phone="555")).encode(), "invalid_phone", "phone"),
        (json.dumps({"grade": "satisfied"}).encode(), "missing_field", "target"),
        (json.dumps(ev_body(grade="dissatisfied")).encode(), "invalid_field", "reasons"),
    ]
    for raw, code, field in cases:
        resp = await api.post("/v1/evaluations", data=raw,
                              headers={**AUTH, "Content-Type": "application/json"})
        assert resp.status == 400, code
        assert await resp.json() == {"error": code, "field": field,
                                     "message": (await resp.json())["message"]}
    assert await redis_state(aredis) == []


async def test_oversized_body_is_413(api, aredis):
    big = ev_body(comment="好" * 1500)  # 4.5 kB of UTF-8 > the 4096-byte limit
    resp = await api.post("/v1/evaluations", json=big, headers=AUTH)
    assert resp.status == 413
    assert (await resp.json())["error"] == "body_too_large"
    # chunked, without Content-Length: the limit still holds
    async def chunks():
        yield b'{"comment": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'
    resp = await api.post("/v1/evaluations", data=chunks(), headers=AUTH)
    assert resp.status == 413
    assert await redis_state(aredis) == []


async def test_auth_is_required_on_v1_only(api, aredis):
    for headers in ({}, {"Authorization": "Bearer wrong-token-000000000"},
                    {"Authorization": "Basic dGVzdDp0ZXN0"}):
        resp = await api.post("/v1/evaluations", json=ev_body(), headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        resp = await api.get("/v1/evaluations/abc", headers=headers)
        assert resp.status == 401
    assert await redis_state(aredis) == []
    assert (await api.get("/healthz")).status == 200


async def test_health_and_readiness(api):
    assert await (await api.get("/healthz")).json() == {"status": "ok"}
    resp = await api.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"ready": True, "checks": {"redis": "ok"}}


async def test_not_ready_when_redis_is_gone(aredis, intake, metrics):
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.http_api import make_app

    async def readiness():
        return {"redis": None, "store": "store unreachable: ConnectionRefusedError"}

    app = make_app(intake, metrics, ("t" * 20,), readiness)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        assert resp.status == 503
        body = await resp.json()
        assert body["ready"] is False and body["checks"]["redis"] == "ok"


async def test_unknown_route_and_method_are_json(api):
    resp = await api.get("/v2/nothing")
    assert resp.status == 404 and (await resp.json())["error"] == "not_found"
    resp = await api.delete("/v1/evaluations/abc", headers=AUTH)
    assert resp.status == 405 and (await resp.json())["error"] == "method_not_allowed"


async def test_metrics_count_intake_and_requests(api, aredis):
    await api.post("/v1/evaluations", json=ev_body("A"), headers=AUTH)
    await api.post("/v1/evaluations", json=ev_body("A"), headers=AUTH)
    await api.post("/v1/evaluations", json=ev_body("B"), headers=AUTH)
    await api.post("/v1/evaluations", data=b"{", headers=AUTH)
    resp = await api.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    assert 'hcp_intake_accepted_total{channel="api"} 2.0' in text
    assert ('hcp_intake_refused_total{channel="api",reason="already_evaluated"} 1.0'
            in text)
    assert ('hcp_http_requests_total{method="POST",route="/v1/evaluations",status="400"} 1.0'
            in text)
    assert 'hcp_http_request_duration_seconds_count{method="POST",route="/v1/evaluations"} 4.0' \
        in text
    assert "hcp_outbox_depth 2.0" in text  # two accepted, no submitter running
    assert "13812345678" not in text


async def test_a_bug_is_a_json_500_and_logged(intake, metrics, caplog):
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.http_api import make_app

    async def broken_readiness():
        raise KeyError("bug")

    app = make_app(intake, metrics, ("t" * 20,), broken_readiness)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        assert resp.status == 500
        assert (await resp.json())["error"] == "internal"
    assert any(r.getMessage() == "http.internal_error" for r in caplog.records)
