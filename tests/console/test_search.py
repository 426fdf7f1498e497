"""Finding a call or a rating (ticket, item, last four digits of a phone) and its timeline,
in-process against a real Redis: evaluations through the real intake, the IVR's call
summary as ivr.outcome writes it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from console import flow_catalog, pages_search
from console.app import make_app
from console.auth import hash_password
from ivr.outcome import CALLS_STREAM, evaluation_id
from ratings import keys as rkeys
from ratings import results
from ratings.grades import Grade
from ratings.intake import Intake
from ratings.model import CHINA, Channel, Evaluation, Target, TargetKind

PASSWORDS = {"sup": "sup-password-1", "view": "view-password-1"}
CALL_ID = "7a1f0c@10.0.0.5"
TICKET = "GD20261208001"


async def serve(aredis, tmp_path):
    users = {"sup": ("supervisor", hash_password(PASSWORDS["sup"])),
             "view": ("viewer", hash_password(PASSWORDS["view"]))}
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
    async with session.get("/console/search") as resp:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text()).group(1)
    return session, csrf


async def seed(aredis, tmp_path):
    """A keypad call rated 不满意 with a voice comment, and an API rating of an item."""
    intake = Intake(aredis, b"s" * 32)
    now = datetime.now(timezone.utc)
    flow = (await flow_catalog.ashipped())["hotline-rating"][0]
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "v1.wav").write_bytes(b"RIFF" + b"\0" * 40)
    call_ev = Evaluation(
        id=evaluation_id(CALL_ID, "item", 1), target=Target(TargetKind.CALL, "HL0001"),
        channel=Channel.HOTLINE, grade=Grade.DISSATISFIED, assessed_at=now,
        reasons=("efficiency",), comment="办理太慢", phone="+8613812345678",
        flow_id="hotline-rating", flow_version=flow.version, source_id=CALL_ID,
        voice_comment="recordings/v1.wav", context={"ticket": TICKET, "agent": "A7"})
    api_ev = Evaluation(
        id="a" * 32, target=Target(TargetKind.ITEM, "ITEM-4401-77"), channel=Channel.API,
        grade=Grade.SATISFIED, assessed_at=now - timedelta(days=1),
        phone="+8613900001234", context={})
    for ev in (call_ev, api_ev):
        assert (await intake.accept(ev)).accepted
        await results.record_accepted(aredis, ev)
    await aredis.hset(rkeys.evaluation(api_ev.id), mapping={
        "status": "dead", "attempts": "3", "last_error": "422 事项编码与办件不符"})
    await aredis.xadd(CALLS_STREAM, {
        "call_id": CALL_ID, "outcome": "rated", "ticket": TICKET, "agent": "A7",
        "context_missing": "false", "flow": "hotline-rating", "flow_version": flow.version,
        "status": "completed", "digits": json.dumps([["4", "rfc2833", 3.2],
                                                     ["1", "rfc2833", 9.8]]),
        "submitted": json.dumps(["accepted"])})
    # an unrelated call of the same day
    await aredis.xadd(CALLS_STREAM, {"call_id": "other", "outcome": "unrated",
                                     "ticket": "GD-OTHER", "digits": "[]", "submitted": "[]"})
    return call_ev, api_ev


async def test_a_ticket_finds_the_call_and_its_timeline(aredis, tmp_path):
    call_ev, _api = await seed(aredis, tmp_path)
    server = await serve(aredis, tmp_path)
    try:
        sup, csrf = await sign_in(server, "sup")
        async with sup.post("/console/search", data={"_csrf": csrf, "q": TICKET}) as resp:
            html = await resp.text()
        assert resp.status == 200 and "找到 1 通来电" in html
        href = re.search(r'href="(/console/calls/[0-9-]+)"', html).group(1)
        assert "GD-OTHER" not in html
        async with sup.get(href) as resp:
            html = await resp.text()
        assert resp.status == 200
        text = re.sub(r"<[^>]+>", " ", html)
        assert "来电接通" in text and "按键 key  4" in text and "按键 key  1" in text
        assert "+3.2 s" in text and "播放 prompt" in text  # prompts replayed from the keys
        assert "不满意" in text and "efficiency" in text and "办理太慢" in text
        assert "核心库答复" in text and "attempts: 0" in text and "已受理" in text
        assert 'src="/console/evaluations/' + call_ev.id + '/voice"' in html
        assert "待回访" in text and f'/console/cases/{call_ev.id}' in html  # its case
        assert "13812345678" not in html
        async with sup.get(f"/console/evaluations/{call_ev.id}/voice") as resp:
            assert resp.status == 200 and (await resp.read())[:4] == b"RIFF"
        async with sup.get(f"/console/evaluations/{call_ev.id}") as resp:
            html = await resp.text()
        assert href in html and "138****5678" in html  # back to its call; masked
        await sup.close()
        viewer, vcsrf = await sign_in(server, "view")
        async with viewer.post("/console/search", data={"_csrf": vcsrf, "q": TICKET}) as resp:
            assert resp.status == 200  # a viewer may search (a POST that changes nothing)
        async with viewer.get(href) as resp:
            html = await resp.text()
        assert "仅主管账号可收听" in html and "<audio" not in html
        async with viewer.get(f"/console/evaluations/{call_ev.id}/voice") as resp:
            assert resp.status == 403
        await viewer.close()
    finally:
        await server.close()


async def test_an_item_and_the_last_four_digits_find_a_rating_a_full_number_is_refused(
        aredis, tmp_path):
    _call, api_ev = await seed(aredis, tmp_path)
    server = await serve(aredis, tmp_path)
    try:
        sup, csrf = await sign_in(server, "sup")
        async with sup.post("/console/search", data={"_csrf": csrf,
                                                     "q": "ITEM-4401-77"}) as resp:
            html = await resp.text()
        assert f"/console/evaluations/{api_ev.id}" in html and "139****1234" in html
        async with sup.post("/console/search", data={"_csrf": csrf, "q": "1234"}) as resp:
            html = await resp.text()
        assert f"/console/evaluations/{api_ev.id}" in html and "号码后四位 1234" in html
        assert 'value="1234"' not in html  # the digits are not kept in the form either
        async with sup.post("/console/search", data={"_csrf": csrf, "q": "5678"}) as resp:
            html = await resp.text()
        assert f"/console/evaluations/{api_ev.id}" not in html and "138****5678" in html
        for full in ("13900001234", "+86 139 0000 1234"):
            async with sup.post("/console/search", data={"_csrf": csrf, "q": full}) as resp:
                html = await resp.text()
            assert resp.status == 400 and "后四位" in html and "0000" not in html
        async with sup.get(f"/console/evaluations/{api_ev.id}") as resp:
            text = re.sub(r"<[^>]+>", " ", await resp.text())
        assert "核心库拒收" in text and "attempts: 3" in text and "事项编码与办件不符" in text
        async with sup.get("/console/calls/1-0") as resp:
            assert resp.status == 404 and "没有这通来电" in await resp.text()
        async with sup.get("/console/evaluations/" + "f" * 32) as resp:
            assert resp.status == 404
        await sup.close()
    finally:
        await server.close()


async def test_the_search_reads_within_its_bounds(aredis, monkeypatch):
    """A date range bounds the days read; EVS_READ bounds the records and says so."""
    intake = Intake(aredis, b"s" * 32)
    today = datetime.now(CHINA).date()
    for n in range(5):
        ev = Evaluation(id=f"{n:032x}", target=Target(TargetKind.ITEM, f"IT-{n}"),
                        channel=Channel.API, grade=Grade.SATISFIED,
                        assessed_at=datetime.now(timezone.utc) - timedelta(days=n))
        await intake.accept(ev)
        await results.record_accepted(aredis, ev)
    q = pages_search.Query("IT-3")
    found = await pages_search.search(aredis, q, today - timedelta(days=2), today)
    assert found["evs"] == [] and found["read_evs"] == 3
    found = await pages_search.search(aredis, q, today - timedelta(days=4), today)
    assert [x["_id"] for x in found["evs"]] == [f"{3:032x}"]
    monkeypatch.setattr(pages_search, "EVS_READ", 2)
    found = await pages_search.search(aredis, q, today - timedelta(days=4), today)
    assert found["read_evs"] == 2 and found["cut"] and not found["evs"]


async def test_an_unrated_call_has_a_timeline_without_ratings(aredis, tmp_path):
    await seed(aredis, tmp_path)
    server = await serve(aredis, tmp_path)
    try:
        sup, csrf = await sign_in(server, "sup")
        async with sup.post("/console/search", data={"_csrf": csrf, "q": "GD-OTHER"}) as resp:
            html = await resp.text()
        assert "找到 1 通来电、0 条评价" in html and "未评价" in html
        href = re.search(r'href="(/console/calls/[0-9-]+)"', html).group(1)
        async with sup.get(href) as resp:
            html = await resp.text()
        assert resp.status == 200 and "这通来电没有受理的评价" in html
        await sup.close()
    finally:
        await server.close()
