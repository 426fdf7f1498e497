"""Issue 12 part 3: several pending items of one number due together get one text that
lists each item's reply code (real Redis, the file carrier, the shipped flow)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from adapters.sms_file import FileCarrier
from sms.carrier import TransientError
from sms.deliveries import Deliveries
from sms.dispatcher import Dispatcher, DispatchPolicy
from sms.optout import OptOuts
from sms.reminders import PENDING, SENT, Reminders
from sms.segments import count

from .conftest import PHONE, SECRET
from .test_conversation import remind, world  # noqa: F401  (fixture)
from .test_reminders import completion

NAMES = ("居住证签注", "港澳通行证续签", "社会保障卡补办业务")
AT = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)


async def three(reminders, minutes_apart=5):
    return [await reminders.schedule(completion(
        item=f"ITEM-{i}", service_name=name, at=AT + timedelta(minutes=i * minutes_apart)))
        for i, name in enumerate(NAMES)]


def make(aredis, clock, intake, carrier, **policy):
    reminders = Reminders(aredis, SECRET, clock=clock)
    dispatcher = Dispatcher(reminders, carrier, intake, OptOuts(aredis, SECRET),
                            Deliveries(aredis, carrier.name), DispatchPolicy(**policy))
    return reminders, dispatcher


async def test_three_pending_items_one_text(aredis, clock, intake, tmp_path):
    carrier = FileCarrier(tmp_path)
    reminders, dispatcher = make(aredis, clock, intake, carrier)
    scheduled = await three(reminders)
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    sent = carrier.sent()
    assert len(sent) == 1, [m["text"] for m in sent]
    text = sent[0]["text"]
    assert all(s.code in text for s in scheduled) and "居住证签注" in text
    assert text.startswith("【广东政务服务】") and text.endswith("回TD退订")
    records = [await reminders.get(s.reminder_id) for s in scheduled]
    assert {r.state for r in records} == {SENT}
    mids = {await aredis.hget(f"{{hcp}}:sms:r:{s.reminder_id}", "m") for s in scheduled}
    assert len(mids) == 1 and None not in mids  # one message carries all three
    assert dispatcher.sent == {"texts": 1, "reminders": 3,
                               "segments": count(text).segments}
    assert await reminders.pending_count() == 0
    clock.advance(24 * 3600)
    assert await dispatcher.dispatch_due() == 0 and len(carrier.sent()) == 1


async def test_two_dispatchers_racing_still_send_one_text(aredis, clock, intake, tmp_path):
    carrier = FileCarrier(tmp_path)
    reminders, first = make(aredis, clock, intake, carrier, batch=1)
    _, second = make(aredis, clock, intake, carrier, batch=1)
    await three(reminders)
    clock.advance(48 * 3600)
    await asyncio.gather(first.dispatch_due(), second.dispatch_due(), first.dispatch_due())
    assert len(carrier.sent()) == 1
    outcomes = {**first.outcomes}
    for key, n in second.outcomes.items():
        outcomes[key] = outcomes.get(key, 0) + n
    assert outcomes.get("sent") == 1


async def test_items_due_apart_get_their_own_texts(aredis, clock, intake, tmp_path):
    carrier = FileCarrier(tmp_path)
    reminders, dispatcher = make(aredis, clock, intake, carrier, group_window_s=600)
    scheduled = await three(reminders, minutes_apart=60)  # due an hour apart
    clock.t = scheduled[0].due_at + 1
    for _ in scheduled:
        await dispatcher.dispatch_due()
        clock.advance(3600)
    texts = [m["text"] for m in carrier.sent()]
    assert len(texts) == 3 and all(count(t).segments == 1 for t in texts), texts


async def test_items_overdue_together_go_in_one_text(aredis, clock, intake, tmp_path):
    carrier = FileCarrier(tmp_path)
    reminders, dispatcher = make(aredis, clock, intake, carrier, group_window_s=600)
    await three(reminders, minutes_apart=60)  # due apart, but all due by now (e.g. night)
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert len(carrier.sent()) == 1


class FailsOnce(FileCarrier):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed = False

    async def send(self, message):
        if not self.failed:
            self.failed = True
            raise TransientError("SMSC busy")
        return await super().send(message)


async def test_a_failed_group_is_given_back_and_sent_whole_later(aredis, clock, intake,
                                                                  tmp_path):
    carrier = FailsOnce(tmp_path)
    reminders, dispatcher = make(aredis, clock, intake, carrier)
    scheduled = await three(reminders)
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    assert carrier.sent() == []
    assert {(await reminders.get(s.reminder_id)).state for s in scheduled} == {PENDING}
    assert await reminders.pending_count() == 3
    clock.advance(3600)
    await dispatcher.dispatch_due()
    assert len(carrier.sent()) == 1 and all(s.code in carrier.sent()[0]["text"]
                                            for s in scheduled)


async def test_a_rated_item_is_left_out_of_the_text(aredis, clock, intake, tmp_path):
    carrier = FileCarrier(tmp_path)
    reminders, dispatcher = make(aredis, clock, intake, carrier)
    scheduled = await three(reminders)
    intake.rated.add("ITEM-1")
    clock.advance(48 * 3600)
    await dispatcher.dispatch_due()
    (text,) = [m["text"] for m in carrier.sent()]
    assert scheduled[1].code not in text and "您有2件" in text


async def test_the_citizen_answers_each_item_by_its_code(world):  # noqa: F811
    codes = await remind(world, "ITEM-1", "ITEM-2", "ITEM-3")
    assert len(world.texts()) == 1 and all(code in world.texts()[0] for code in codes)
    await world.reply(f"{codes[1]} 1")
    assert (await world.evaluation("ITEM-2"))["grade"] == "very_satisfied"
    assert await world.reply("2") == "which"  # two left: which one?
    await world.reply(f"{codes[0]} 满意")
    await world.reply("3")  # one left: no code needed
    assert (await world.evaluation("ITEM-3"))["grade"] == "basically_satisfied"
    assert PHONE  # the number only ever in the record, never in a key (tested in keys)
