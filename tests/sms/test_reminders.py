"""Reminders and the dispatcher against a real redis-server and the file carrier."""

from __future__ import annotations

import dataclasses

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from adapters.sms_file import FileCarrier
from ratings.grades import Grade
from sms import keys
from sms.carrier import PermanentError, SubmitResult, Throttled, TransientError
from sms.completions import parse_completion
from sms.deliveries import Deliveries
from sms.dispatcher import DispatchPolicy, Dispatcher
from sms.optout import OptOuts
from sms.reminders import Reminders

from .conftest import PHONE, SECRET


def completion(item="ITEM-1", phone="13800138000", at=None, **extra):
    at = at or datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    body = {"item_id": item, "service_code": "SVC-1", "service_name": "居住证签注",
            "department": "广州市公安局", "phone": phone, "completed_at": at.isoformat()}
    body.update(extra)
    return parse_completion(body)


@pytest.fixture
async def setup(aredis, clock, intake, tmp_path):
    carrier = FileCarrier(tmp_path)
    receipts = []

    async def on_receipt(r):
        receipts.append(r)
        await deliveries.on_receipt(r)

    async def on_inbound(m):
        pass

    await carrier.start(on_inbound, on_receipt)
    reminders = Reminders(aredis, SECRET, clock=clock)
    deliveries = Deliveries(aredis, carrier.name)
    dispatcher = Dispatcher(reminders, carrier, intake, OptOuts(aredis, SECRET), deliveries)
    yield reminders, dispatcher, carrier
    await carrier.stop()


async def test_schedule_is_idempotent_and_due_after_24h(setup, clock):
    reminders, dispatcher, carrier = setup
    c = completion(at=datetime.fromtimestamp(clock(), timezone.utc))
    first = await reminders.schedule(c)
    again = await reminders.schedule(c)
    assert first.created and not again.created
    assert first.code == again.code and first.due_at == again.due_at
    assert first.due_at == clock() + 24 * 3600
    assert await reminders.pending_count() == 1
    assert await dispatcher.dispatch_due() == 0
    clock.advance(24 * 3600 - 1)
    assert await dispatcher.dispatch_due() == 0
    clock.advance(1)
    assert await dispatcher.dispatch_due() == 1
    sent = carrier.sent()
    assert len(sent) == 1 and sent[0]["to"] == PHONE
    assert "居住证签注" in sent[0]["text"] and first.code  # one item: no reply code in it
    for grade in Grade:
        assert f"{grade.keypad}{grade.name_zh}" in sent[0]["text"]
    assert await reminders.pending_count() == 0
    assert await dispatcher.dispatch_due() == 0  # never twice
    assert len(carrier.sent()) == 1


async def test_no_phone_number_in_any_key(setup, aredis):
    reminders, _, _ = setup
    await reminders.schedule(completion())
    all_keys = [k.decode() for k in await aredis.keys("*")]
    assert all_keys and not any("13800138000" in k for k in all_keys)
    assert all(k.startswith("{hcp}:sms:") for k in all_keys)
    for k in all_keys:
        if k != keys.DUE:
            assert await aredis.ttl(k) > 0, k


async def test_codes_are_distinct_per_number(setup):
    reminders, _, _ = setup
    codes = {(await reminders.schedule(completion(item=f"I{i}"))).code for i in range(5)}
    assert len(codes) == 5
    found = await reminders.by_code(PHONE, sorted(codes)[2])
    assert found is not None and found.target_id in {f"I{i}" for i in range(5)}
    assert await reminders.by_code("+8613900139000", sorted(codes)[2]) is None


async def test_rated_item_is_skipped(setup, clock, intake):
    reminders, dispatcher, carrier = setup
    await reminders.schedule(completion())
    intake.rated.add("ITEM-1")
    clock.advance(48 * 3600)
    assert await dispatcher.dispatch_due() == 1
    assert carrier.sent() == [] and dispatcher.outcomes == {"rated": 1}


async def test_cancel_before_due(setup, clock):
    reminders, dispatcher, carrier = setup
    s = await reminders.schedule(completion())
    assert await reminders.cancel(s.reminder_id)
    clock.advance(48 * 3600)
    assert await dispatcher.dispatch_due() == 0 and carrier.sent() == []


async def test_batch_needs_every_item_or_the_batch_rated(setup, clock, intake):
    reminders, dispatcher, carrier = setup
    await reminders.schedule(completion(item="A", batch_id="B1", linked_items=["B", "C"]))
    again = await reminders.schedule(completion(item="B", batch_id="B1"))
    assert not again.created
    intake.rated.update({"A", "B"})
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert len(carrier.sent()) == 1  # C is not rated: the batch is still pending


async def test_quiet_hours_defer_not_drop(setup, clock):
    reminders, dispatcher, carrier = setup
    # completed 23:30 Shanghai -> due 23:30 next day, outside 08:00-21:00
    done = datetime(2026, 11, 27, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    clock.t = done.timestamp()
    await reminders.schedule(completion(at=done))
    clock.advance(24 * 3600)
    assert await dispatcher.dispatch_due() == 1 and carrier.sent() == []
    record = await reminders.get("i:ITEM-1")
    opening = datetime(2026, 11, 29, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    assert record.due_at == opening.timestamp()
    clock.t = opening.timestamp() - 1
    assert await dispatcher.dispatch_due() == 0
    clock.advance(1)
    assert await dispatcher.dispatch_due() == 1 and len(carrier.sent()) == 1


async def test_daily_cap_defers_to_next_day(setup, clock):
    reminders, dispatcher, carrier = setup
    dispatcher.policy = dataclasses.replace(dispatcher.policy, group_window_s=0)  # one each
    for i in range(5):
        await reminders.schedule(completion(item=f"I{i}"))
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert len(carrier.sent()) == 3
    assert dispatcher.outcomes == {"sent": 3, "capped": 2}
    clock.advance(24 * 3600)
    await dispatcher.dispatch_due()
    assert len(carrier.sent()) == 5


async def test_opted_out_number_gets_nothing(setup, clock, aredis):
    reminders, dispatcher, carrier = setup
    optouts = OptOuts(aredis, SECRET)
    assert await optouts.add(PHONE) and not await optouts.add(PHONE)
    await reminders.schedule(completion())
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert carrier.sent() == [] and dispatcher.outcomes == {"optout": 1}


async def test_receipt_matched_to_message(setup, clock, aredis):
    reminders, dispatcher, carrier = setup
    await reminders.schedule(completion())
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    await asyncio.sleep(0.05)  # the file carrier reports delivery on the next loop turn
    record = await reminders.get("i:ITEM-1")
    status = await dispatcher.deliveries.status((await aredis.hget(
        keys.reminder("i:ITEM-1"), "m")).decode())
    assert record.state == "sent" and status["state"] == "delivered"


class FlakyCarrier:
    name = "flaky"

    def __init__(self, errors):
        self.errors = list(errors)
        self.sent = []

    async def send(self, message):
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)
        return SubmitResult(f"c{len(self.sent)}")


async def test_carrier_errors_back_off_then_send_once(aredis, clock, intake):
    carrier = FlakyCarrier([Throttled(retry_after=30), TransientError("down")])
    reminders = Reminders(aredis, SECRET, clock=clock)
    dispatcher = Dispatcher(reminders, carrier, intake, OptOuts(aredis, SECRET),
                            Deliveries(aredis, "flaky"))
    await reminders.schedule(completion())
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    r = await reminders.get("i:ITEM-1")
    assert r.attempts == 1 and r.due_at >= clock() + 30
    clock.t = r.due_at
    await dispatcher.dispatch_due()
    r = await reminders.get("i:ITEM-1")
    assert r.attempts == 2 and r.state == "pending" and carrier.sent == []
    clock.t = r.due_at
    await dispatcher.dispatch_due()
    assert len(carrier.sent) == 1
    clock.advance(7 * 24 * 3600)
    await dispatcher.dispatch_due()
    assert len(carrier.sent) == 1
    # the cap was given back for each failed attempt
    day = dispatcher.policy.quiet_hours.day(r.due_at)
    assert int(await aredis.get(keys.daily(keys.phone_ref(SECRET, PHONE), day))) == 1


async def test_permanent_error_and_give_up(aredis, clock, intake):
    carrier = FlakyCarrier([PermanentError("bad number")] + [TransientError("x")] * 3)
    reminders = Reminders(aredis, SECRET, clock=clock)
    policy = DispatchPolicy(max_attempts=3)
    dispatcher = Dispatcher(reminders, carrier, intake, OptOuts(aredis, SECRET),
                            Deliveries(aredis, "flaky"), policy)
    await reminders.schedule(completion(item="P"))
    await reminders.schedule(completion(item="Q", phone="13900139000"))
    clock.advance(48 * 3600)
    for _ in range(4):
        await dispatcher.dispatch_due()
        clock.advance(7200)
    assert (await reminders.get("i:P")).state == "failed" or \
        (await reminders.get("i:Q")).state == "failed"
    assert await reminders.pending_count() == 0


async def test_two_dispatchers_never_send_one_reminder_twice(aredis, clock, intake, tmp_path):
    carrier = FileCarrier(tmp_path)
    await carrier.start(lambda m: asyncio.sleep(0), lambda r: asyncio.sleep(0))
    reminders = Reminders(aredis, SECRET, clock=clock)
    for i in range(300):
        await reminders.schedule(completion(item=f"I{i}", phone=f"1380013{i:04d}"))
    clock.advance(48 * 3600)
    pair = [Dispatcher(Reminders(aredis, SECRET, clock=clock), carrier, intake,
                       OptOuts(aredis, SECRET), Deliveries(aredis, "file"),
                       DispatchPolicy(batch=25)) for _ in range(2)]
    for _ in range(10):
        await asyncio.gather(*(d.dispatch_due() for d in pair))
    await carrier.stop()
    targets = [m["message_id"] for m in carrier.sent()]
    assert len(targets) == 300 and len(set(targets)) == 300


async def test_codes_are_read_back_by_the_reply_grammar(setup):
    from sms.grammar import parse

    reminders, _, _ = setup
    for i in range(30):
        code = (await reminders.schedule(completion(item=f"G{i}"))).code
        reply = parse(f"{code} 2")
        assert reply.code == code and reply.grade is Grade.SATISFIED


def test_reminder_text_comes_from_the_shipped_flow_and_lints_clean():
    from sms import segments, texts

    text = texts.reminder_text("居住证签注", "A1")
    assert "回复数字评价" in text and "【广东政务服务】" in text  # the flow's wording
    assert segments.lint(text) == []
    assert segments.lint(texts.template_text("居住证签注", "A1")) == []
