"""The SMS channel component, as the gateway would run it: POST a completion over HTTP,
see the reminder in the outbox, inject the reply, see the evaluation, and "already
evaluated" on a second reply. Real Redis, real intake, real aiohttp, real files."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web

from adapters.redis_server import free_port
from adapters.sms_channel import SETTINGS, SmsChannel, make
from adapters.sms_file import inject
from ratings import keys as rkeys
from ratings.intake import Intake

from .conftest import PHONE, SECRET

BODY = {"item_id": "44010020261127000123", "service_code": "11440100MB2C",
        "service_name": "居住证签注", "department": "广州市公安局",
        "phone": "13800138000", "completed_at": "2026-11-27T09:30:00+08:00"}


async def until(check, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
async def running(aredis, tmp_path):
    config = {"sms.reminder_delay": 0, "sms.send_window": "00:00-24:00",
              "sms.poll_s": 0.05}
    app = web.Application()
    intake = Intake(aredis, SECRET)
    channel = SmsChannel(config, aredis, intake, SECRET, tmp_path, http_app=app)
    channel.carrier.poll_s = 0.05
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await channel.start()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        yield channel, http, intake, tmp_path
    await channel.stop()
    await runner.cleanup()


async def test_done_when(running, aredis):
    channel, http, intake, data = running
    async with http.post("/v1/completions", json=BODY) as resp:
        assert resp.status == 201
        code = (await resp.json())["code"]
    outbox = data / "sms-outbox"
    first = await until(lambda: _files(outbox, 1))
    message = json.loads(first[0].read_text(encoding="utf-8"))
    # one item: the reminder needs no reply code (issue 12), a reply with one still works
    assert message["to"] == PHONE and "居住证签注" in message["text"] and code
    inject(data, PHONE, f"{code} 2")
    ev_id = await until(lambda: aredis.get(rkeys.item(BODY["item_id"])))
    status = await intake.status(ev_id.decode())
    assert status["evaluation"]["grade"] == "satisfied"
    inject(data, PHONE, "1")
    texts = await until(lambda: _files(outbox, 3))
    assert "已评价过" in json.loads(texts[-1].read_text(encoding="utf-8"))["text"]
    async with http.get("/v1/sms/reminders/i:" + BODY["item_id"]) as resp:
        shown = await resp.json()
    assert shown["state"] == "rated" and shown["message"]["state"] == "delivered"


async def _files(folder, at_least):
    found = sorted(folder.glob("*.json"))
    return found if len(found) >= at_least else None


def test_settings_defaults_are_the_embedded_default_and_make_reads_ctx(aredis, tmp_path):
    names = [s[0] for s in SETTINGS]
    assert len(names) == len(set(names)) and dict((s[0], s[3]) for s in SETTINGS)[
        "sms.carrier"] == "file"
    ctx = SimpleNamespace(config=SimpleNamespace(intake_phone_secret="s", data_dir=tmp_path,
                                                 __getitem__=None),
                          redis=aredis, intake=Intake(aredis, SECRET), http_app=web.Application(),
                          fail=None, store=None)
    channel = make(ctx)
    assert channel.carrier.name == "file" and channel.default_rater is None
    routes = {r.resource.canonical for r in ctx.http_app.router.routes()}
    assert {"/v1/completions", "/v1/sms/reminders/{rid}", "/v1/items/rated-elsewhere"} <= routes
