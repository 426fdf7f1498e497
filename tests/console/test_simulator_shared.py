"""A simulator session lives in Redis: a supervisor whose requests land on different
gateway processes (several ``hcp serve`` behind one address, issue 15) keeps one
session. Two console apps on one real Redis stand for two processes."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from console.app import make_app
from console.auth import hash_password

USERS = {"sup": ("supervisor", hash_password("sup-password-1"))}


async def console_process(aredis, tmp_path) -> TestServer:
    root = web.Application()
    root.add_subapp("/console/", make_app(aredis, USERS, data_dir=tmp_path))
    server = TestServer(root)
    await server.start_server()
    return server


async def test_a_simulation_goes_on_whichever_process_answers(aredis, tmp_path):
    one, two = await console_process(aredis, tmp_path), await console_process(aredis, tmp_path)
    jar = aiohttp.CookieJar(unsafe=True)  # one browser: the session cookie goes to both
    first = aiohttp.ClientSession(base_url=str(one.make_url("")), cookie_jar=jar)
    second = aiohttp.ClientSession(base_url=str(two.make_url("")), cookie_jar=jar)
    try:
        async with first.get("/console/signin") as resp:
            pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
        await first.post("/console/signin", data={"_pre": pre, "user": "sup",
                                                  "password": "sup-password-1"})
        async with first.get("/console/flows/hotline-rating/simulate") as resp:
            csrf = re.search(r'name="csrf-token" content="([^"]+)"',
                             await resp.text()).group(1)
        headers = {"X-CSRF-Token": csrf}

        async def send(session, **body):
            async with session.post("/console/api/simulate", headers=headers,
                                    json={"flow": "hotline-rating", **body}) as resp:
                return resp.status, await resp.json()

        status, started = await send(first, action="start", agent="A7")
        assert status == 200 and any(x.startswith("play ask_grade") for x in started["lines"])
        status, graded = await send(second, action="input", text="4")  # the other process
        assert status == 200 and graded["node"] == "ask_reason", graded
        status, reason = await send(first, action="input", text="1")
        assert status == 200 and reason["node"] == "offer_staff_rating", reason
        # the prompt audio of this session, from the process that did not play it
        assert reason["audio"] == ["/console/api/simulate/audio/hotline-rating/2"]
        async with second.get(reason["audio"][0]) as resp:
            assert resp.status in (200, 503)  # 503: espeak-ng missing, said in Chinese
        # a new start begins again, on either process
        status, again = await send(second, action="start")  # no agent: no staff question
        status, graded = await send(first, action="input", text="2")
        assert status == 200 and graded["ended"] and "submit item grade=satisfied" in " ".join(
            graded["lines"]), graded
        keys = [k.decode() for k in await aredis.keys("{hcp}:console:sim:*")]
        assert len(keys) == 1 and await aredis.ttl(keys[0]) > 0
    finally:
        await first.close()
        await second.close()
        await one.close()
        await two.close()
