"""The console's audit log in-process against a real Redis: sign-ins (success, failure),
sign-outs, the CSV export, a case step, a dead-letter retry; who, what, from where
(the X-Forwarded-For of a trusted proxy only); the page's search and its roles."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from console import audit
from console.app import make_app
from console.auth import hash_password
from ratings import keys as rkeys
from ratings import results
from ratings.grades import Grade
from ratings.model import CHINA, Channel, Evaluation, Target, TargetKind

PASSWORDS = {"sup": "sup-password-1", "view": "view-password-1"}


async def serve(aredis, tmp_path, proxies=()):
    users = {"sup": ("supervisor", hash_password(PASSWORDS["sup"])),
             "view": ("viewer", hash_password(PASSWORDS["view"]))}
    root = web.Application()
    root.add_subapp("/console/", make_app(aredis, users, data_dir=tmp_path,
                                          trusted_proxies=proxies))
    server = TestServer(root)
    await server.start_server()
    return server


async def sign_in(server, user, password=None, headers=None):
    session = aiohttp.ClientSession(base_url=str(server.make_url("")), headers=headers,
                                    cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get("/console/signin") as resp:
        pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
    async with session.post("/console/signin", allow_redirects=False, data={
            "_pre": pre, "user": user, "password": password or PASSWORDS[user]}) as resp:
        ok = resp.status == 303
    csrf = ""
    if ok:
        async with session.get("/console/cases") as resp:
            csrf = re.search(r'name="csrf-token" content="([^"]+)"',
                             await resp.text()).group(1)
    return session, csrf, ok


async def entries(aredis):
    return [{k.decode(): v.decode() for k, v in f.items()}
            for _id, f in await aredis.xrange(audit.AUDIT)]


async def test_sign_ins_sign_outs_exports_case_steps_and_retries_are_audited(aredis, tmp_path):
    server = await serve(aredis, tmp_path, (ipaddress.ip_network("127.0.0.0/8"),))
    try:
        bad, _, ok = await sign_in(server, "sup", "not-it",
                                   {"X-Forwarded-For": "203.0.113.9"})
        assert not ok
        await bad.close()
        session, csrf, ok = await sign_in(server, "sup",
                                          headers={"X-Forwarded-For": "198.51.100.7"})
        assert ok
        async with session.get("/console/cases.csv?status=all") as resp:
            assert resp.status == 200
        # a bad rating opens a case; its first step is audited, a refused one is not
        ev = Evaluation(id="e" * 32, target=Target(TargetKind.ITEM, "ITEM-AUD-1"),
                        channel=Channel.API, grade=Grade.DISSATISFIED,
                        assessed_at=datetime.now(timezone.utc), comment="慢",
                        phone="+8613812345678")
        await results.record_accepted(aredis, ev)
        async with session.post(f"/console/cases/{ev.id}/move", allow_redirects=False, data={
                "_csrf": csrf, "from": "rectifying", "to": "rectified"}) as resp:
            assert resp.status == 303 and "error=" in resp.headers["Location"]
        async with session.post(f"/console/cases/{ev.id}/move", allow_redirects=False, data={
                "_csrf": csrf, "from": "pending_callback", "to": "called_back",
                "note": "已回访"}) as resp:
            assert resp.status == 303 and "error=" not in resp.headers["Location"]
        # a dead letter retried
        await aredis.hset(rkeys.evaluation("d" * 32), mapping={"status": "dead", "ev": "{}"})
        dead_id = (await aredis.xadd(rkeys.DEAD, {"id": "d" * 32})).decode()
        async with session.post(f"/console/ops/dead/{dead_id}/retry", allow_redirects=False,
                                data={"_csrf": csrf, "id": "d" * 32}) as resp:
            assert resp.status == 303
        async with session.post("/console/signout", allow_redirects=False,
                                data={"_csrf": csrf}) as resp:
            assert resp.status == 303
        await session.close()
        got = await entries(aredis)
        assert [(x["action"], x["user"], x["from"]) for x in got] == [
            ("signin.fail", "sup", "203.0.113.9"), ("signin.ok", "sup", "198.51.100.7"),
            ("export.csv", "sup", "198.51.100.7"), ("case.move", "sup", "198.51.100.7"),
            ("dead.retry", "sup", "198.51.100.7"), ("signout", "sup", "198.51.100.7")]
        assert got[3]["target"] == ev.id and got[3]["detail"] == "pending_callback → called_back"
        assert got[4]["target"] == "d" * 32 and got[4]["detail"] == "requeued"
        assert 0 < await aredis.ttl(audit.AUDIT) <= audit.AUDIT_TTL_S
        assert "13812345678" not in str(got)
    finally:
        await server.close()


async def test_an_untrusted_peer_cannot_name_its_address(aredis, tmp_path):
    server = await serve(aredis, tmp_path)  # no trusted proxy
    try:
        session, _, ok = await sign_in(server, "view", headers={"X-Forwarded-For": "10.9.9.9"})
        assert ok
        await session.close()
        (got,) = await entries(aredis)
        assert got["action"] == "signin.ok" and got["from"] == "127.0.0.1"
    finally:
        await server.close()


async def test_the_audit_page_searches_by_user_action_and_date_for_supervisors(aredis,
                                                                                tmp_path):
    server = await serve(aredis, tmp_path)
    try:
        # an entry of ten days ago (stream id = its time) and today's sign-ins
        old = datetime.now(CHINA) - timedelta(days=10)
        await aredis.xadd(audit.AUDIT, {"at": old.isoformat(), "user": "wang",
                                        "action": "export.csv", "target": "cases.csv",
                                        "detail": "status=all", "from": "10.0.0.1"},
                          id=f"{int(old.timestamp() * 1000)}-0")
        viewer, _, _ = await sign_in(server, "view")
        async with viewer.get("/console/audit") as resp:
            assert resp.status == 403 and "仅主管" in await resp.text()
        await viewer.close()
        sup, _, _ = await sign_in(server, "sup")
        async with sup.get("/console/audit") as resp:
            html = await resp.text()
        assert resp.status == 200 and "wang" not in html  # seven days by default
        assert html.count("登录成功 sign-in") >= 3  # two rows and the action menu
        async with sup.get("/console/audit", params={"from": old.date().isoformat()}) as resp:
            assert "wang" in await resp.text()
        day = old.date().isoformat()
        async with sup.get("/console/audit", params={"from": day, "to": day,
                                                     "user": "view"}) as resp:
            assert "wang" not in await resp.text()
        async with sup.get("/console/audit", params={"from": day, "action": "export.csv",
                                                     "user": "wang"}) as resp:
            html = await resp.text()
        assert "wang" in html and "登录成功 sign-in</td>" not in html
        async with sup.get("/console/audit", params={"action": "nope"}) as resp:
            assert resp.status == 400
        await sup.close()
    finally:
        await server.close()


async def test_the_audit_pages_through_older_entries(aredis, tmp_path):
    now = datetime.now(CHINA)
    base = int(now.timestamp() * 1000) - 10_000
    for i in range(audit.AUDIT_SHOWN + 5):
        await aredis.xadd(audit.AUDIT, {"at": now.isoformat(), "user": f"u{i}",
                                        "action": "signout", "from": "x"},
                          id=f"{base + i}-0")
    first, last = now.date(), now.date()
    found, more, _read = await audit.search(aredis, first, last)
    assert len(found) == audit.AUDIT_SHOWN and found[0][1]["user"] == f"u{audit.AUDIT_SHOWN + 4}"
    rest, more2, _ = await audit.search(aredis, first, last, before=more)
    assert [f["user"] for _i, f in rest] == [f"u{i}" for i in range(4, -1, -1)] and not more2


async def test_a_phone_number_typed_as_the_user_name_is_masked(aredis, tmp_path, caplog):
    server = await serve(aredis, tmp_path)
    try:
        caplog.set_level("INFO", logger="console.audit")
        session, _, ok = await sign_in(server, "13812345678", "whatever")
        assert not ok
        await session.close()
        (got,) = await entries(aredis)
        assert got["action"] == "signin.fail" and "12345678" not in got["user"]
        assert "13812345678" not in caplog.text and "signin.fail" in caplog.text
    finally:
        await server.close()
