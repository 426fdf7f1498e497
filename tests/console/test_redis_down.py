"""Redis away: every console page answers within seconds with a readable 503 page in
Chinese (never a hang, never a raw JSON 500), the operations page shows the outage, and
the pages work again when Redis is back. A real redis-server of the test's own, stopped
(connections refused) and frozen with SIGSTOP (connections accepted, never answered)."""

from __future__ import annotations

import os
import signal
import time

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.redis_server import RedisServer
from console.app import make_app
from console.errors import redis_client
from tests.console.test_app_inprocess import sign_in, users

PAGES = ("/console/", "/console/results", "/console/cases", "/console/funnel",
         "/console/flows/hotline-rating", "/console/cases/" + "a" * 32)
ANSWER_WITHIN_S = 4.0  # connect 1 s + command 1.5 s, plus a loaded CI machine


async def _health():
    return {"redis": None, "store": None}


async def _serve(client, tmp_path):
    root = web.Application()
    root.add_subapp("/console/", make_app(client, users(), data_dir=tmp_path, health=_health))
    server = TestServer(root)
    await server.start_server()
    return server


async def _timed_get(session, path, **kw):
    started = time.monotonic()
    async with session.get(path, **kw) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text(), \
            time.monotonic() - started


async def _check_outage(session, anonymous):
    for path in PAGES:
        status, ctype, text, took = await _timed_get(session, path)
        assert took < ANSWER_WITHIN_S, (path, took)
        assert status == 503 and ctype.startswith("text/html"), (path, status, text[:200])
        assert "Redis 不可用" in text and "暂时无法连接" in text, path
        assert 'class="top"' in text and "运行状态" in text  # the menu stays
    status, _ctype, text, took = await _timed_get(session, "/console/ops")
    assert took < ANSWER_WITHIN_S and status == 503
    assert "Redis 不可用" in text and "核心评价库" in text and "无法连接" in text
    # a browser without a session: the sign-in form still shows, signing in says why not
    status, _ctype, text, took = await _timed_get(anonymous, "/console/signin")
    assert status == 200 and 'name="_pre"' in text


async def test_pages_answer_quickly_with_a_readable_503_while_redis_is_away(tmp_path):
    server_dir = tmp_path / "redis"
    server_dir.mkdir()
    redis_server = RedisServer(server_dir).start()
    client = redis_client(redis_server.url)
    server = await _serve(client, tmp_path)
    base = str(server.make_url(""))
    anonymous = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    session = None
    try:
        session, _csrf = await sign_in(server, "sup")
        status, _ctype, _text, took = await _timed_get(session, "/console/cases")
        assert status == 200

        redis_server.stop()  # refused
        await _check_outage(session, anonymous)

        redis_server.start()
        status, _ctype, text, _took = await _timed_get(session, "/console/cases")
        assert status == 200 and "差评工单" in text  # back, same session (AOF kept it)

        os.kill(redis_server.proc.pid, signal.SIGSTOP)  # accepts, never answers
        try:
            await _check_outage(session, anonymous)
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        status, _ctype, _text, _took = await _timed_get(session, "/console/ops")
        assert status == 200
    finally:
        if session is not None:
            await session.close()
        await anonymous.close()
        await server.close()
        await client.aclose()
        redis_server.stop()
