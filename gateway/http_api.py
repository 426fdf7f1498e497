"""The HTTP API (aiohttp): direct intake under /v1, plus health, readiness, metrics.

    POST /v1/evaluations        body → Evaluation → intake: 201 {id}, 409 duplicate
    GET  /v1/evaluations/{id}   accepted / submitted / dead, attempts, last error
    GET  /healthz               the process is up (503 once a part gave up recovering)
    GET  /readyz                Redis and the core store answer (503 otherwise)
    GET  /metrics               Prometheus text

/v1 needs ``Authorization: Bearer <token>``. Every error is JSON
``{"error": code, "field": name|null, "message": text}``; a refused request
writes nothing. docs/openapi.yaml describes the same routes (a test compares).
"""

from __future__ import annotations

import codecs
import hmac
import json
import logging
import re
import time
from functools import partial
from typing import Awaitable, Callable

from aiohttp import web

from gateway.api_request import (
    RequestError,
    decode_json,
    evaluation_id_for,
    parse_evaluation,
)
from gateway.json_body import (
    JSON_BODY,
    MAX_DEPTH,
    JsonRefused,
    decode_json_text,
    looks_like_json,
)
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[dict[str, str | None]]]
HealthCheck = Callable[[], "str | None"]  # None: healthy; else the reason it is not

INTAKE_KEY = web.AppKey("intake", object)
METRICS_KEY = web.AppKey("metrics", Metrics)
READINESS_KEY = web.AppKey("readiness", object)
HEALTH_KEY = web.AppKey("health", object)
SETTINGS_KEY = web.AppKey("settings", dict)

# JSON answers in readable UTF-8 ("您已评价过"), not \uXXXX escapes (aiohttp's default
# json.dumps has ensure_ascii=True); the body is UTF-8 either way.
_dumps = partial(json.dumps, ensure_ascii=False)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Status fields a caller may see; the stored evaluation (with its phone) is not one.
STATUS_FIELDS = ("id", "status", "attempts", "last_error", "accepted_at", "submitted_at",
                 "dead_at", "store_reason", "covers")
# Of the stored evaluation, what it rated and how; never who (the phone number).
EVALUATION_FIELDS = ("target", "grade", "channel", "assess_number", "assessed_at",
                     "source_id")


def error_response(status: int, code: str, message: str, field: str | None = None,
                   **extra) -> web.Response:
    body = {"error": code, "field": field, "message": message, **extra}
    return web.json_response(body, status=status, dumps=_dumps)


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _route_name(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler):
    metrics = request.app[METRICS_KEY]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route_name(request)
        method = request.method if request.method in _METHODS else "other"  # bounded labels
        latency, requests = metrics.http_children(route, method, status)
        latency.observe(time.perf_counter() - started)
        requests.inc()


@web.middleware
async def json_errors_middleware(request: web.Request, handler):
    """aiohttp's own 404/405/413 answers, in the API's JSON error shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed", 408: "body_timeout",
                 413: "body_too_large"}
        response = error_response(exc.status, codes.get(exc.status, "http_error"), exc.reason)
        if "Allow" in exc.headers:  # a 405 names the methods it allows (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except RecursionError:  # a body json_body_middleware did not read (multipart label)
        return error_response(400, "invalid_json",
                              f"the body is nested deeper than {MAX_DEPTH} levels", "body")
    except Exception:
        log.exception("http.internal_error", extra={"path": request.path})
        return error_response(500, "internal", "internal error; it has been logged")


# An SMS provider's callbacks carry its signature (adapters/sms_http.py), not our token.
SIGNED_BY_PROVIDER = ("/v1/sms/inbound/", "/v1/sms/receipts/")


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if (request.path.startswith("/v1/") or request.path == "/v1") and not request.path.startswith(
            SIGNED_BY_PROVIDER):
        tokens = request.app[SETTINGS_KEY]["token_bytes"]  # encoded once, in make_app
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        ok = False
        if scheme.lower() == "bearer" and presented:
            given = presented.strip().encode()
            for token in tokens:  # every token compared: the time says nothing of which
                ok |= hmac.compare_digest(given, token)
        if not ok:
            response = error_response(401, "unauthorized", "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="hcp"'
            return response
    return await handler(request)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def json_body_middleware(request: web.Request, handler):
    """Every JSON request body, on every route of this app and its sub-apps (the
    console), goes through ``gateway.json_body`` before its handler: too deep or
    holding a lone surrogate is a 400 with the reason, never a 500 or a 503 "retry".

    Runs after ``auth_middleware`` (an unauthenticated /v1 call is not decoded); the
    read is bounded by ``max_body_bytes``. Bodies that are not JSON (forms, garbage)
    are left to their handler, which answers them as before; multipart bodies are
    not read here (their parser streams them); one a handler parses as JSON anyway
    meets the RecursionError backstop of ``json_errors_middleware`` (400).
    """
    if request.method not in _BODY_METHODS or not request.body_exists or \
            request.content_type.startswith("multipart/"):
        return await handler(request)
    try:
        body = await _read_body(request)
    except RequestError as exc:  # 413
        return web.json_response(exc.body(), status=exc.status, dumps=_dumps)
    charset = request.charset or "utf-8"  # what request.json() / .text() decode with
    try:
        utf8 = codecs.lookup(charset).name == "utf-8"
        text = body.decode(charset)
    except LookupError:
        return _refused(request, f"the body's charset {charset[:40]!r} is unknown")
    except UnicodeDecodeError:
        return await handler(request)  # not text: the handler's own answer, as before
    if looks_like_json(text):
        try:
            value = decode_json_text(text)
        except JsonRefused as exc:
            if exc.reason.startswith("the body is not valid JSON"):
                return await handler(request)  # the handler's own answer, as before
            return _refused(request, exc.reason)
        if utf8:  # what post_evaluation would decode itself (it reads UTF-8 only)
            request[JSON_BODY] = value
    return await handler(request)


def _refused(request: web.Request, reason: str) -> web.Response:
    """A body the client must fix: 400, in the shape the route's callers read."""
    if request.path.startswith(SIGNED_BY_PROVIDER):  # the SMS provider's answer shape
        return web.json_response({"code": 400, "msg": reason}, status=400, dumps=_dumps)
    return error_response(400, "invalid_json", reason, "body")


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[SETTINGS_KEY]["max_body_bytes"]
    too_large = RequestError(413, "body_too_large", f"the body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    return body


async def post_evaluation(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS_KEY]
    try:
        data = request.get(JSON_BODY)  # decoded and checked by json_body_middleware
        data = decode_json(await _read_body(request)) if not isinstance(data, dict) else data
        ev = parse_evaluation(data, region=settings["phone_region"],
                              request_id=request.headers.get("X-Request-Id"),
                              filed_channels=settings["filed_channels"])
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            ev = ev.with_id(evaluation_id_for(key))
    except RequestError as exc:
        return web.json_response(exc.body(), status=exc.status, dumps=_dumps)
    try:
        result = await request.app[INTAKE_KEY].accept(ev)
    except Exception as exc:
        log.error("intake.unavailable", extra={"error": type(exc).__name__,
                                               "detail": str(exc)[:200]})
        return error_response(503, "unavailable", "the intake is not available; retry")
    if not result.accepted:
        reason = str(getattr(result, "reason", None) or "refused")
        message = getattr(result, "message", None) or "already evaluated"
        # error = the intake's reason (already_evaluated, follow_up_window_closed …)
        return error_response(409, reason, message, reason=reason,
                              id=getattr(result, "evaluation_id", None))
    ev_id = result.evaluation_id
    # DEBUG, not INFO: hcp_intake_accepted counts every acceptance; a line per
    # rating through the phone mask cost ~30 us of ~900 (issue 16's profile).
    if log.isEnabledFor(logging.DEBUG):
        log.debug("api.accepted", extra={"evaluation_id": ev_id, "channel": ev.channel.value})
    return web.json_response({"id": ev_id, "status": "accepted"}, status=201,
                             headers={"Location": f"/v1/evaluations/{ev_id}"}, dumps=_dumps)


async def get_evaluation(request: web.Request) -> web.Response:
    ev_id = request.match_info["id"]
    if not _ID.match(ev_id):
        return error_response(404, "not_found", "no such evaluation", "id")
    try:
        status = await request.app[INTAKE_KEY].status(ev_id)
    except Exception as exc:
        log.error("intake.unavailable", extra={"error": type(exc).__name__})
        return error_response(503, "unavailable", "the intake is not available; retry")
    if not status:
        return error_response(404, "not_found", "no such evaluation", "id")
    body = {"id": ev_id}
    body.update({k: status[k] for k in STATUS_FIELDS if k in status})  # decoded by the intake
    stored = status.get("evaluation")
    if isinstance(stored, dict):
        body["evaluation"] = {k: stored[k] for k in EVALUATION_FIELDS if k in stored}
    return web.json_response(body, dumps=_dumps)


async def healthz(request: web.Request) -> web.Response:
    """200 while the process serves or recovers by itself (a dependency down but being
    restarted is /readyz's business); 503 with the reason once a part has given up,
    for an outside supervisor (a liveness probe) to restart the process."""
    check = request.app[HEALTH_KEY]
    reason = check() if check is not None else None
    if reason:
        return web.json_response({"status": "failing", "reason": reason}, status=503,
                                 dumps=_dumps)  # the reason names a path, maybe not ASCII
    return web.json_response({"status": "ok"}, dumps=_dumps)


async def readyz(request: web.Request) -> web.Response:
    """Each check returns None when fine or a short reason; any reason → 503."""
    problems = await request.app[READINESS_KEY]()
    ready = all(v is None for v in problems.values())
    checks = {name: ("ok" if v is None else v) for name, v in problems.items()}
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503,
                             dumps=_dumps)


async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app[METRICS_KEY]
    redis = request.app[SETTINGS_KEY].get("redis")
    if redis is not None:
        await metrics.refresh_from_redis(redis)
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})


def make_app(intake, metrics: Metrics, tokens: tuple[str, ...], readiness: ReadinessCheck,
             health: HealthCheck | None = None, redis=None, max_body_bytes: int = 65536,
             phone_region: str = "CN", filed_channels: frozenset[str] | None = None
             ) -> web.Application:
    if not tokens:
        raise ValueError("the API needs at least one bearer token")
    app = web.Application(
        middlewares=[metrics_middleware, json_errors_middleware, auth_middleware,
                     json_body_middleware],
        client_max_size=max_body_bytes)
    app[INTAKE_KEY] = intake
    app[METRICS_KEY] = metrics
    app[READINESS_KEY] = readiness
    app[HEALTH_KEY] = health
    app[SETTINGS_KEY] = {"tokens": tuple(tokens),
                         "token_bytes": tuple(t.encode() for t in tokens),
                         "max_body_bytes": max_body_bytes,
                         "phone_region": phone_region, "redis": redis,
                         "filed_channels": filed_channels}
    app.router.add_post("/v1/evaluations", post_evaluation)
    app.router.add_get("/v1/evaluations/{id}", get_evaluation, allow_head=False)
    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/metrics", metrics_handler, allow_head=False)
    return app
