"""The simulator's call context (issue 13 point 7) read as the IVR reads an INVITE: the
agent becomes the staff member the flow asks about, a phone-like id is refused, a
language in any spelling, the trunk's dialled number through the workers' context map
(``console.ivr_context_map``); in-process against a real Redis."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from console.app import make_app
from console.auth import hash_password
from console.pages_flows import call_context
from console.settings import context_map
from ivr.context import ContextMapping


def test_the_form_becomes_the_context_the_ivr_would_build():
    ctx = call_context({"ticket": "GD20261208001", "agent": "A1024", "lang": "粤语",
                        "trunk": "12345"})
    assert (ctx["ticket"], ctx["agent"], ctx["staff_id"], ctx["lang"], ctx["trunk"]) == (
        "GD20261208001", "A1024", "A1024", "yue", "12345")
    assert "staff_id" not in call_context({"ticket": "GD1"})  # no agent: no staff question
    refused = call_context({"agent": "13812345678"})
    assert refused["agent_refused"] == "phone_like" and "agent" not in refused
    with pytest.raises(ValueError):
        call_context({"ticket": "GD1\r\nX-Closes-Item: true"})  # no header smuggled in
    with pytest.raises(ValueError):
        call_context({"agent": ["A1"]})
    mapping = ContextMapping.from_dict({"dialled_lang": {"96345": "cantonese"}})
    assert call_context({"trunk": "96345"}, mapping)["lang"] == "yue"
    assert call_context({"trunk": "96345", "lang": "en"}, mapping)["lang"] == "en"
    assert "lang" not in call_context({"trunk": "12345"}, mapping)


def test_the_context_map_setting_is_checked_when_read(tmp_path):
    good = tmp_path / "map.json"
    good.write_text(json.dumps({"dialled_lang": {"96345": "yue"}}))
    assert context_map(str(good)) == str(good) and context_map("") == ""
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    for path in (str(bad), str(tmp_path / "missing.json")):
        with pytest.raises(ValueError, match="not an IVR context map"):
            context_map(path)
    from gateway.config import all_settings

    assert "console.ivr_context_map" in {s.name for s in all_settings()}


async def test_the_simulator_api_uses_the_workers_context_map(aredis, tmp_path):
    root = web.Application()
    root.add_subapp("/console/", make_app(
        aredis, {"sup": ("supervisor", hash_password("sup-password-1"))}, data_dir=tmp_path,
        sim_context=ContextMapping.from_dict({"dialled_lang": {"96345": "yue"}})))
    server = TestServer(root)
    await server.start_server()
    session = aiohttp.ClientSession(base_url=str(server.make_url("")),
                                    cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with session.get("/console/signin") as resp:
            pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
        await session.post("/console/signin", data={"_pre": pre, "user": "sup",
                                                    "password": "sup-password-1"})
        async with session.get("/console/flows/hotline-rating/simulate") as resp:
            html = await resp.text()
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        assert 'id="sim-agent"' in html and 'id="sim-trunk"' in html
        headers = {"X-CSRF-Token": csrf}
        async with session.post("/console/api/simulate", headers=headers, json={
                "flow": "hotline-rating", "action": "start", "trunk": "96345",
                "agent": "A7"}) as resp:
            lines = (await resp.json())["lines"]
        assert lines[0] == "context: agent=A7 lang=yue staff_id=A7 trunk=96345"
        assert any(x.startswith("play ask_grade") and "(yue)" in x for x in lines)
        async with session.post("/console/api/simulate", headers=headers, json={
                "flow": "hotline-rating", "action": "input", "text": "2"}) as resp:
            answer = await resp.json()
        assert answer["node"] == "offer_staff_rating"
        async with session.post("/console/api/simulate", headers=headers, json={
                "flow": "hotline-rating", "action": "start", "ticket": "a b"}) as resp:
            assert resp.status == 400 and "ticket" in (await resp.json())["error"]
    finally:
        await session.close()
        await server.close()
