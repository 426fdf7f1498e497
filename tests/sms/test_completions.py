"""POST /v1/completions on a real aiohttp server, scheduling into a real Redis."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from adapters.redis_server import free_port
from sms.completions import add_completion_routes
from sms.reminders import Reminders

from .conftest import SECRET

BODY = {"item_id": "44010020261127000123", "service_code": "11440100MB2C",
        "service_name": "居住证签注", "department": "广州市公安局",
        "phone": "13800138000", "completed_at": "2026-11-27T09:30:00+08:00"}


@pytest.fixture
async def api(aredis, clock):
    app = web.Application()
    reminders = Reminders(aredis, SECRET, clock=clock)
    add_completion_routes(app, reminders)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        yield session, reminders
    await runner.cleanup()


async def test_post_schedules_once(api):
    session, reminders = api
    async with session.post("/v1/completions", json=BODY) as resp:
        first = await resp.json()
        assert resp.status == 201
    async with session.post("/v1/completions", json=BODY) as resp:
        again = await resp.json()
        assert resp.status == 200
    assert first["code"] == again["code"] and not again["created"]
    assert first["reminder_id"] == "i:44010020261127000123"
    assert first["due_at"] == 1795743000.0 + 24 * 3600  # 09:30 +08:00 plus 24 h
    assert await reminders.pending_count() == 1


async def test_batch_with_linked_items(api):
    session, reminders = api
    body = dict(BODY, batch_id="B-7", linked_items=["I-2", "I-3"])
    async with session.post("/v1/completions", json=body) as resp:
        assert resp.status == 201
    reminder = await reminders.get("b:B-7")
    assert reminder.target_id == "B-7"
    assert reminder.items == ("44010020261127000123", "I-2", "I-3")


@pytest.mark.parametrize("change,field", [
    ({"item_id": None}, "item_id"),
    ({"service_name": ""}, "service_name"),
    ({"department": 7}, "department"),
    ({"phone": "12345"}, "phone"),
    ({"phone": None}, "phone"),
    ({"completed_at": "yesterday"}, "completed_at"),
    ({"completed_at": "2026-11-27T09:30:00"}, "completed_at"),
    ({"linked_items": ["I-2"]}, "linked_items"),
    ({"batch_id": "B", "theme_id": "T"}, "theme_id"),
    ({"item_id": "x" * 65}, "item_id"),
    ({"item_id": "GD\x07-1"}, "item_id"),  # a control character (issue 14: never accepted)
    ({"item_id": "GD\u2028-1"}, "item_id"),  # a line separator
    ({"batch_id": "B", "linked_items": ["I-\x012"]}, "linked_items"),
    ({"dept_code": "11\x0144"}, "dept_code"),
])
async def test_validation_names_the_field(api, change, field):
    session, reminders = api
    body = {k: v for k, v in dict(BODY, **change).items() if v is not None}
    async with session.post("/v1/completions", json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["field"] == field
    assert await reminders.pending_count() == 0


async def test_not_json(api):
    session, _ = api
    async with session.post("/v1/completions", data=b"{nope") as resp:
        assert resp.status == 400 and (await resp.json())["field"] == "body"
    async with session.post("/v1/completions", json=[1]) as resp:
        assert resp.status == 400 and (await resp.json())["field"] == "body"


async def test_reminder_status_route_masks_the_number_and_shows_delivery(aredis, clock, tmp_path):
    import asyncio

    from adapters.sms_file import FileCarrier
    from sms.deliveries import Deliveries
    from sms.dispatcher import Dispatcher
    from sms.optout import OptOuts
    from sms.status_api import add_sms_status_routes

    from .conftest import RatedItems

    reminders = Reminders(aredis, SECRET, clock=clock)
    carrier = FileCarrier(tmp_path)
    deliveries = Deliveries(aredis, carrier.name)
    await carrier.start(lambda m: asyncio.sleep(0), deliveries.on_receipt)
    app = web.Application()
    add_completion_routes(app, reminders)
    add_sms_status_routes(app, reminders, deliveries)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            async with session.post("/v1/completions", json=BODY) as resp:
                rid = (await resp.json())["reminder_id"]
            async with session.get(f"/v1/sms/reminders/{rid}") as resp:
                pending = await resp.json()
            assert pending["state"] == "pending" and pending["phone"] == "138****8000"
            assert pending["message"] is None and "13800138000" not in str(pending)
            clock.advance(48 * 3600)
            await Dispatcher(reminders, carrier, RatedItems(), OptOuts(aredis, SECRET),
                             deliveries).dispatch_due()
            await asyncio.sleep(0.05)
            async with session.get(f"/v1/sms/reminders/{rid}") as resp:
                sent = await resp.json()
            assert sent["state"] == "sent" and sent["message"]["state"] == "delivered"
            async with session.get("/v1/sms/reminders/i:nope") as resp:
                assert resp.status == 404
    finally:
        await carrier.stop()
        await runner.cleanup()


@pytest.mark.parametrize("linked", [{}, "", "I-2", [""], [1]])
async def test_linked_items_must_be_a_list_of_ids(api, linked):
    session, reminders = api
    body = dict(BODY, batch_id="B-9", linked_items=linked)
    async with session.post("/v1/completions", json=body) as resp:
        assert resp.status == 400 and (await resp.json())["field"] == "linked_items"
    assert await reminders.pending_count() == 0
