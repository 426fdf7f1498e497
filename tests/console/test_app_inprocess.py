"""The console sub-app in-process against a real Redis: sessions expire, CSRF, roles,
the dead-letter retry script, the SMS feedback through the file carrier."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from console.app import make_app
from console.auth import hash_password, verify_password
from console.pages_ops import RETRY_LUA
from ratings import keys as rkeys
from ratings import results
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind

PASSWORDS = {"sup": "sup-password-1", "view": "view-password-1"}


def users():
    return {"sup": ("supervisor", hash_password(PASSWORDS["sup"])),
            "view": ("viewer", hash_password(PASSWORDS["view"]))}


async def serve(aredis, tmp_path, ttl=3600):
    root = web.Application()
    root.add_subapp("/console/", make_app(aredis, users(), data_dir=tmp_path,
                                          session_ttl_s=ttl))
    server = TestServer(root)
    await server.start_server()
    return server


async def sign_in(server, user):
    session = aiohttp.ClientSession(base_url=str(server.make_url("")),
                                    cookie_jar=aiohttp.CookieJar(unsafe=True))  # an IP host
    async with session.get("/console/signin") as resp:
        pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
    async with session.post("/console/signin", allow_redirects=False,
                            data={"_pre": pre, "user": user,
                                  "password": PASSWORDS[user]}) as resp:
        assert resp.status == 303
    async with session.get("/console/cases") as resp:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text()).group(1)
    return session, csrf


def test_password_hashes():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and verify_password("correct horse", stored)
    assert not verify_password("wrong", stored) and not verify_password("x", "garbage")


async def test_a_session_expires_and_signing_out_ends_it(aredis, tmp_path):
    server = await serve(aredis, tmp_path, ttl=1)
    try:
        session, _csrf = await sign_in(server, "sup")
        async with session.get("/console/api/summary") as resp:
            assert resp.status == 200 and (await resp.json())["user"] == "sup"
        await asyncio.sleep(2.2)
        async with session.get("/console/api/summary") as resp:
            assert resp.status == 401
        await session.close()
        session, csrf = await sign_in(server, "sup")
        async with session.post("/console/signout", data={"_csrf": csrf},
                                allow_redirects=False) as resp:
            assert resp.status == 303
        async with session.get("/console/cases", allow_redirects=False) as resp:
            assert resp.status == 302
        await session.close()
    finally:
        await server.close()


async def test_posts_need_the_csrf_token_and_a_supervisor(aredis, tmp_path):
    ev = Evaluation(target=Target(TargetKind.ITEM, "P-9"), channel=Channel.HOTLINE,
                    grade=Grade.DISSATISFIED, assessed_at=datetime.now(timezone.utc),
                    reasons=("attitude",), phone="+8613912345678")
    await results.record_accepted(aredis, ev)
    server = await serve(aredis, tmp_path)
    try:
        viewer, vcsrf = await sign_in(server, "view")
        async with viewer.post(f"/console/cases/{ev.id}/move", data={
                "_csrf": vcsrf, "from": "pending_callback", "to": "called_back"}) as resp:
            assert resp.status == 403
        sup, csrf = await sign_in(server, "sup")
        async with sup.post(f"/console/cases/{ev.id}/move", data={
                "from": "pending_callback", "to": "called_back"}) as resp:
            assert resp.status == 403  # no token
        for frm, to in (("pending_callback", "called_back"), ("called_back", "rectifying"),
                        ("rectifying", "rectified")):
            async with sup.post(f"/console/cases/{ev.id}/move", allow_redirects=False,
                                data={"_csrf": csrf, "from": frm, "to": to,
                                      "note": "已核实并整改", "verification": "true"}) as resp:
                assert resp.status == 303
        sent = [json.loads(p.read_text()) for p in (tmp_path / "sms-outbox").glob("*.json")]
        assert len(sent) == 1 and sent[0]["to"] == "+8613912345678"
        assert "已核实并整改" in sent[0]["text"] and sent[0]["message_id"] == f"fb-{ev.id}"
        async with sup.get(f"/console/cases/{ev.id}") as resp:
            page = await resp.text()
        assert "139****5678" in page and "13912345678" not in page and "已发送" in page
        await viewer.close()
        await sup.close()
    finally:
        await server.close()


async def test_retrying_a_dead_letter_requeues_it_once(aredis):
    ev_id = "e" * 32
    await aredis.hset(rkeys.evaluation(ev_id), mapping={
        "id": ev_id, "status": "dead", "ev": '{"x":1}', "covers": '["P1"]'})
    dead_id = await aredis.xadd(rkeys.DEAD, {"id": ev_id, "reason": "bad task code"})
    script = aredis.register_script(RETRY_LUA)
    args = dict(keys=[rkeys.evaluation(ev_id), rkeys.OUTBOX, rkeys.DEAD],
                args=[dead_id, ev_id, "2026-11-27T10:00:00+08:00"])
    assert await script(**args) == 1
    assert await script(**args) == 0  # a double click: nothing more
    entries = await aredis.xrange(rkeys.OUTBOX)
    assert len(entries) == 1 and entries[0][1][b"id"] == ev_id.encode()
    assert entries[0][1][b"covers"] == b'["P1"]'
    assert await aredis.hget(rkeys.evaluation(ev_id), "status") == b"accepted"
    assert await aredis.xlen(rkeys.DEAD) == 0
