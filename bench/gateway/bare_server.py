"""The peer baseline of bench/gateway/http_intake_bench.py: a bare aiohttp handler
running the intake's own accept script (ratings/lua/accept.lua) with one EVALSHA.

What a minimal service doing the same decision work would do per request: check
the bearer token, decode the JSON body, take the target id, run the same script
with the same KEYS/ARGV shape (its own key prefix ``{bare}``, so the gateway's
submitter never sees these entries), answer 201 or 409 in JSON. No schema, no
model validation, no phone normalisation, no metrics, no logs, no submitter.

    .venv/bin/python bench/gateway/bare_server.py PORT REDIS_URL TOKEN
"""

from __future__ import annotations

import hmac
import json
import sys
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
ACCEPT_LUA = (ROOT / "ratings" / "lua" / "accept.lua").read_text(encoding="utf-8")
TAG = "{bare}"
DEDUPE_TTL_S = 3 * 365 * 24 * 3600
RECORD_TTL_S = 90 * 24 * 3600
WINDOW_MS = 15 * 24 * 3600 * 1000


def make_app(redis_url: str, token: str) -> web.Application:
    redis = aioredis.Redis.from_url(redis_url, max_connections=256)
    accept = redis.register_script(ACCEPT_LUA)
    expected = token.encode()

    async def post(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not hmac.compare_digest(header[7:].encode(), expected):
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.json()
        ev_id = uuid.uuid4().hex
        item = body["target"]["id"]
        body["id"] = ev_id
        now = time.time()
        code, holder = await accept(
            keys=[f"{TAG}:ev:{ev_id}", f"{TAG}:outbox", f"{TAG}:first:{ev_id}",
                  f"{TAG}:item:{item}"],
            args=[ev_id, json.dumps(body, ensure_ascii=False), "single", int(now * 1000),
                  time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)), WINDOW_MS,
                  DEDUPE_TTL_S, RECORD_TTL_S, "submitters",
                  json.dumps([item], ensure_ascii=False), f"{TAG}:first:"])
        if code in (b"accepted", b"replay"):
            return web.json_response({"id": ev_id, "status": "accepted"}, status=201)
        return web.json_response({"error": code.decode(), "id": holder.decode()}, status=409)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/evaluations", post)
    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    port, url, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    web.run_app(make_app(url, secret), host="127.0.0.1", port=port, access_log=None,
                print=None)
