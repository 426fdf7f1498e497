"""Call context posted before the transfer: ``POST /v1/calls/context``.

The call-centre system posts ``{"correlation_id": "...", "ticket": "...",
"agent": "...", "service": "...", "lang": "...", "call_record": "...",
"closes_item": "true"}`` (ivr.context names each field) and then transfers the call
with the correlation id in the INVITE (``X-Correlation-Id`` or the UUI). The
context lives in Redis for ``ttl_s`` (default 5 min) and is read once by the
worker that answers. No phone number is accepted in it (art. 4).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import partial

from aiohttp import web

from ratings.model import InvalidEvaluation

KEY_PREFIX = "{hcp}:ivr:callctx:"
# readable UTF-8 in JSON answers, not \uXXXX escapes (aiohttp's default json.dumps)
_dumps = partial(json.dumps, ensure_ascii=False)


def context_key(correlation_id: str) -> str:
    # Hashed: a call centre may well use the caller's number as its correlation id.
    return KEY_PREFIX + hashlib.sha256(correlation_id.encode()).hexdigest()[:32]
DEFAULT_TTL_S = 300
FIELDS = ("ticket", "agent", "service", "lang", "task_code", "dept_code", "call_record",
          "work_order", "closes_item")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_VALUE = re.compile(r"^[\w.:/@+-]{1,128}$")


class CallContextStore:
    def __init__(self, redis, ttl_s: int = DEFAULT_TTL_S):
        self.redis = redis  # redis.asyncio client
        self.ttl_s = ttl_s

    async def put(self, correlation_id: str, context: dict[str, str]) -> None:
        await self.redis.set(context_key(correlation_id), json.dumps(context), ex=self.ttl_s)

    async def take(self, correlation_id: str) -> dict[str, str] | None:
        """The posted context, deleted on read (one call uses it)."""
        if not _ID.match(correlation_id or ""):
            return None
        raw = await self.redis.getdel(context_key(correlation_id))
        return json.loads(raw) if raw else None


def validate_context(body: object) -> tuple[str, dict[str, str]]:
    if not isinstance(body, dict):
        raise InvalidEvaluation("body", "a JSON object is expected")
    cid = body.get("correlation_id")
    if not isinstance(cid, str) or not _ID.match(cid):
        raise InvalidEvaluation("correlation_id", "1-64 characters of [A-Za-z0-9._-]")
    ctx = {}
    for name in FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not _VALUE.match(value):
            raise InvalidEvaluation(name, "1-128 characters, no spaces")
        ctx[name] = value
    unknown = set(body) - set(FIELDS) - {"correlation_id"}
    if unknown:
        raise InvalidEvaluation(sorted(unknown)[0], f"unknown fields: {sorted(unknown)}")
    return cid, ctx


def post_call_context_handler(store: CallContextStore):
    """The aiohttp handler; wire with ``app.router.add_post('/v1/calls/context', h)``."""

    async def post_call_context(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            cid, ctx = validate_context(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "invalid_json", "field": "body",
                                      "message": "body is not JSON"}, status=400, dumps=_dumps)
        except InvalidEvaluation as exc:
            return web.json_response({"error": "invalid", "field": exc.field,
                                      "message": exc.message}, status=400, dumps=_dumps)
        await store.put(cid, ctx)
        return web.json_response({"correlation_id": cid, "ttl_s": store.ttl_s}, status=201,
                                 dumps=_dumps)

    return post_call_context


def add_call_context_route(app: web.Application, redis, ttl_s: int = DEFAULT_TTL_S) -> None:
    """Wire ``POST /v1/calls/context`` into the gateway's aiohttp app."""
    app.router.add_post("/v1/calls/context",
                        post_call_context_handler(CallContextStore(redis, ttl_s)))
