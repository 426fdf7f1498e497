"""Items rated on a channel that reports straight to the province get no reminder
(issue 10 point 10): the rated-elsewhere API, and the store query before sending."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web

from adapters.redis_server import free_port
from adapters.sms_file import FileCarrier
from adapters.store_http import HttpCoreStore
from sms.completions import add_completion_routes
from sms.deliveries import Deliveries
from sms.dispatcher import Dispatcher
from sms.optout import OptOuts
from sms.rated import RatedCheck, add_rated_elsewhere_routes
from sms.reminders import Reminders
from tests.support.corestore import DEFAULT_SECRET, LoopbackCoreStore

from .conftest import SECRET, RatedItems
from .test_completions import BODY

ITEM = BODY["item_id"]


@pytest.fixture
async def channel(aredis, clock, tmp_path):
    """The completion and rated-elsewhere routes over HTTP, a file carrier, a dispatcher."""
    reminders = Reminders(aredis, SECRET, clock=clock)
    check = RatedCheck(RatedItems(), aredis)
    carrier = FileCarrier(tmp_path)
    deliveries = Deliveries(aredis, carrier.name)
    await carrier.start(lambda m: asyncio.sleep(0), deliveries.on_receipt)
    dispatcher = Dispatcher(reminders, carrier, check, OptOuts(aredis, SECRET), deliveries)
    app = web.Application()
    add_completion_routes(app, reminders)
    add_rated_elsewhere_routes(app, check, reminders)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        yield session, reminders, dispatcher, carrier
    await carrier.stop()
    await runner.cleanup()


async def post(session, path, body) -> tuple[int, dict]:
    async with session.post(path, json=body) as resp:
        return resp.status, await resp.json()


async def test_an_item_rated_elsewhere_gets_no_text(channel, clock):
    session, reminders, dispatcher, _carrier = channel
    assert (await post(session, "/v1/completions", BODY))[0] == 201
    status, answer = await post(session, "/v1/items/rated-elsewhere",
                                {"item_id": ITEM, "channel": "pad",
                                 "rated_at": "2026-11-27T10:02:00+08:00"})
    assert (status, answer) == (201, {"item_id": ITEM, "recorded": True,
                                      "reminder_cancelled": True})
    # said again (a retry of the caller): known already, nothing more to cancel
    status, answer = await post(session, "/v1/items/rated-elsewhere",
                                {"item_id": ITEM, "channel": "pad"})
    assert (status, answer["recorded"], answer["reminder_cancelled"]) == (200, False, False)
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert (await reminders.get(f"i:{ITEM}")).state == "rated"
    assert dispatcher.sent["texts"] == 0


async def test_a_completion_after_the_rating_elsewhere_is_not_texted_either(channel, clock):
    session, reminders, dispatcher, _carrier = channel
    status, answer = await post(session, "/v1/items/rated-elsewhere",
                                {"item_id": ITEM, "channel": "yss-app"})
    assert status == 201 and answer["reminder_cancelled"] is False  # none yet
    assert (await post(session, "/v1/completions", BODY))[0] == 201
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert dispatcher.sent["texts"] == 0
    assert (await reminders.get(f"i:{ITEM}")).state == "rated"


async def test_a_batch_whose_items_were_all_rated_elsewhere_is_not_texted(channel, clock):
    session, reminders, dispatcher, _carrier = channel
    body = dict(BODY, batch_id="B-7", linked_items=["I-2"])
    assert (await post(session, "/v1/completions", body))[0] == 201
    for item in (ITEM, "I-2"):
        await post(session, "/v1/items/rated-elsewhere", {"item_id": item, "channel": "pad"})
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert dispatcher.sent["texts"] == 0


@pytest.mark.parametrize("body, field", [
    ({"channel": "pad"}, "item_id"),
    ({"item_id": "I\n1", "channel": "pad"}, "item_id"),
    ({"item_id": "I-1"}, "channel"),
    ({"item_id": "I-1", "channel": "   "}, "channel"),
    ({"item_id": "I-1", "channel": "pad", "rated_at": "yesterday"}, "rated_at"),
    ({"item_id": "I-1", "channel": "pad", "rated_at": "2026-11-27T10:00:00"}, "rated_at"),
    ({"item_id": "I-1", "channel": "pad", "phone": "13800138000"}, "phone"),
    (["I-1"], "body"),
])
async def test_a_bad_request_is_a_400_naming_the_field_and_changes_nothing(channel, aredis,
                                                                        body, field):
    session, *_ = channel
    status, answer = await post(session, "/v1/items/rated-elsewhere", body)
    assert status == 400 and answer["field"] == field, answer
    assert await aredis.keys("*elsewhere*") == []


async def test_the_store_is_asked_before_sending_when_configured(aredis, caplog):
    exchange = await LoopbackCoreStore().start()
    store = HttpCoreStore(exchange.url, DEFAULT_SECRET, timeout=2.0)
    try:
        check = RatedCheck(RatedItems(), aredis, store)
        assert not await check.is_evaluated("P-9")  # nothing at the exchange
        exchange.plant({"projectNo": "P-9", "assessNumber": 1, "satisfaction": 5,
                        "pf": 2})  # rated at the hall's pad, reported straight
        assert await check.is_evaluated("P-9")
        assert exchange.queries == 2
        assert await check.is_evaluated("P-9")  # remembered: not asked again
        assert exchange.queries == 2
        # the exchange cannot answer: the reminder is not held back, and it is said
        await exchange.stop()
        caplog.set_level(logging.WARNING, logger="sms.rated")
        assert not await check.is_evaluated("P-10")
        assert "sms.store_query_failed" in caplog.text
    finally:
        await store.close()
        await exchange.stop()
