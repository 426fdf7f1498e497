"""The console drives the art. 15 steps (issue 10 points 5, 6): the verification result
with the callback, the rectification deadline, an exclusion requested by one supervisor
and approved by a second one (refused, in Chinese, to the requester). In-process console,
real Redis."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from console.app import make_app
from console.auth import hash_password
from ratings import cases as C
from ratings import corrections, results
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind

PASSWORDS = {"zhang": "zhang-password-1", "li": "li-password-1"}


async def serve(aredis, tmp_path) -> TestServer:
    users = {name: ("supervisor", hash_password(pw)) for name, pw in PASSWORDS.items()}
    root = web.Application()
    root.add_subapp("/console/", make_app(aredis, users, data_dir=tmp_path))
    server = TestServer(root)
    await server.start_server()
    return server


async def sign_in(server, user):
    session = aiohttp.ClientSession(base_url=str(server.make_url("")),
                                    cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get("/console/signin") as resp:
        pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
    async with session.post("/console/signin", allow_redirects=False, data={
            "_pre": pre, "user": user, "password": PASSWORDS[user]}) as resp:
        assert resp.status == 303
    async with session.get("/console/cases") as resp:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text()).group(1)
    return session, csrf


async def bad_case(aredis, item: str) -> str:
    ev = Evaluation(target=Target(TargetKind.ITEM, item), channel=Channel.HOTLINE,
                    grade=Grade.VERY_DISSATISFIED, assessed_at=datetime.now(timezone.utc),
                    reasons=("attitude",), phone="+8613912345678")
    await results.record_accepted(aredis, ev)
    return ev.id


async def act(session, csrf, case_id, **form) -> str:
    async with session.post(f"/console/cases/{case_id}/move",
                            data={"_csrf": csrf, **form}) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_exclusion_takes_a_verified_callback_and_a_second_supervisor(aredis, tmp_path):
    cid = await bad_case(aredis, "P-1")
    server = await serve(aredis, tmp_path)
    zhang, z_csrf = await sign_in(server, "zhang")
    li, l_csrf = await sign_in(server, "li")
    try:
        async with zhang.get(f"/console/cases/{cid}") as resp:
            page = await resp.text()
        assert 'name="verification"' in page and "不属实" in page
        page = await act(zhang, z_csrf, cid, **{"from": C.PENDING, "to": C.CALLED_BACK,
                                                "verification": C.UNTRUE,
                                                "note": "回访：市民称按错键"})
        assert "核实结果" in page and "不属实" in page and "申请误评" in page
        page = await act(zhang, z_csrf, cid, **{"from": C.CALLED_BACK, "to": C.MISTAKEN,
                                                "note": "市民称按错键，实际满意"})
        assert "剔除待审批" in page and "批准误评" in page
        page = await act(zhang, z_csrf, cid, **{"from": C.EXCLUSION_REQUESTED,
                                                "to": C.MISTAKEN})
        assert "另一位主管" in page and "same_supervisor" not in page
        assert (await C.Cases(aredis).get(cid))["status"] == C.EXCLUSION_REQUESTED
        page = await act(li, l_csrf, cid, **{"from": C.EXCLUSION_REQUESTED, "to": C.MISTAKEN,
                                             "note": "同意"})
        rec = await C.Cases(aredis).get(cid)
        assert rec["status"] == C.MISTAKEN and rec["excluded_by"] == "li"
        assert "更正 Correction" in page and "queued" in page
        assert await aredis.xlen(corrections.CORRECTIONS) == 1
        approval = (await C.Cases(aredis).history(cid))[-1]
        assert approval["via"].startswith("console ") and approval["requested_by"] == "zhang"
    finally:
        await zhang.close()
        await li.close()
        await server.close()


async def test_rectification_gets_its_deadline_and_shows_it(aredis, tmp_path):
    cid = await bad_case(aredis, "P-2")
    server = await serve(aredis, tmp_path)
    zhang, csrf = await sign_in(server, "zhang")
    try:
        page = await act(zhang, csrf, cid, **{"from": C.PENDING, "to": C.CALLED_BACK})
        assert "记录核实结果" in page  # called back without a result: record it next
        page = await act(zhang, csrf, cid, **{"from": C.CALLED_BACK, "to": C.RECTIFYING})
        assert "核实结果" in page and "先记录" in page  # refused, in Chinese
        await act(zhang, csrf, cid, **{"from": C.CALLED_BACK, "to": C.CALLED_BACK,
                                       "verification": C.PARTLY, "note": "确有等待过久"})
        page = await act(zhang, csrf, cid, **{"from": C.CALLED_BACK, "to": C.RECTIFYING,
                                              "days": "3", "note": "调整排班"})
        rec = await C.Cases(aredis).get(cid)
        assert rec["status"] == C.RECTIFYING and rec["rectify_days"] == "3"
        assert "整改期限 Rectify by" in page and "部分属实" in page
    finally:
        await zhang.close()
        await server.close()
