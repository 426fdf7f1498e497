"""Conversations end to end: real Redis, the real intake, the shipped flow, the file carrier."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from adapters.sms_file import FileCarrier, inject
from ratings import keys as rkeys
from ratings.intake import Intake
from sms.carrier import InboundSms
from sms.conversation import Conversations
from sms.deliveries import Deliveries
from sms.dispatcher import Dispatcher
from sms.optout import OptOuts
from sms.reminders import Reminders

from .conftest import PHONE, SECRET
from .test_reminders import completion


class World:
    def __init__(self, aredis, clock, tmp_path):
        self.redis = aredis
        self.clock = clock
        self.carrier = FileCarrier(tmp_path, poll_s=0.02)
        self.reminders = Reminders(aredis, SECRET, clock=clock)
        self.intake = Intake(aredis, SECRET)
        self.optouts = OptOuts(aredis, SECRET)
        self.conversations = Conversations(self.reminders, self.intake, self.optouts,
                                           self.carrier)
        self.dispatcher = Dispatcher(self.reminders, self.carrier, self.intake, self.optouts,
                                     Deliveries(aredis, "file"))

    def texts(self):
        return [m["text"] for m in self.carrier.sent()]

    async def reply(self, text, phone=PHONE):
        return await self.conversations.on_inbound(
            InboundSms(phone, text, datetime.now(timezone.utc), carrier_id="mo-1"))

    async def evaluation(self, item):
        ev_id = await self.redis.get(rkeys.item(item))
        return (await self.intake.status(ev_id.decode()))["evaluation"] if ev_id else None


@pytest.fixture
async def world(aredis, clock, tmp_path):
    w = World(aredis, clock, tmp_path)
    await w.carrier.start(w.conversations.on_inbound, lambda r: asyncio.sleep(0))
    yield w
    await w.carrier.stop()


async def remind(w, *items, phone="13800138000"):
    codes = [(await w.reminders.schedule(completion(item=i, phone=phone))).code for i in items]
    w.clock.advance(48 * 3600)
    await w.dispatcher.dispatch_due()
    return codes


async def test_done_when_remind_inject_rate_already_evaluated(world, tmp_path):
    await remind(world, "ITEM-1")
    assert len(world.texts()) == 1 and "居住证签注" in world.texts()[0]
    inject(tmp_path, PHONE, "２ 谢谢")  # full-width digit, as typed on a phone
    for _ in range(100):
        if len(world.texts()) >= 2:
            break
        await asyncio.sleep(0.02)
    assert "已收到" in world.texts()[1]
    ev = await world.evaluation("ITEM-1")
    assert ev["grade"] == "satisfied" and ev["channel"] == "sms" and ev["comment"] == "谢谢"
    assert ev["phone"] == PHONE and ev["flow_id"] == "sms-reminder"
    assert await world.reply("1") == "already_evaluated"
    assert "已评价过" in world.texts()[-1]


async def test_bad_grade_asks_for_a_reason(world):
    await remind(world, "ITEM-1")
    assert (await world.reply("4")).startswith("waiting:")
    assert "原因" in world.texts()[-1]
    assert await world.evaluation("ITEM-1") is None
    await world.reply("2")
    ev = await world.evaluation("ITEM-1")
    assert ev["grade"] == "dissatisfied" and ev["reasons"] == ["attitude"]
    assert "核实" in world.texts()[-1]


async def test_bad_grade_with_comment_needs_no_question(world):
    await remind(world, "ITEM-1")
    await world.reply("5 窗口让我来回跑了三次")
    ev = await world.evaluation("ITEM-1")
    assert ev["grade"] == "very_dissatisfied" and "三次" in ev["comment"]


async def test_several_items_ask_which_then_code_routes(world):
    codes = await remind(world, "ITEM-1", "ITEM-2")
    assert await world.reply("1") == "which"
    assert all(code in world.texts()[-1] for code in codes)
    await world.reply(f"{codes[1]} 1")
    assert (await world.evaluation("ITEM-2"))["grade"] == "very_satisfied"
    assert await world.evaluation("ITEM-1") is None
    await world.reply("3")  # only ITEM-1 is left: no question
    assert (await world.evaluation("ITEM-1"))["grade"] == "basically_satisfied"


async def test_unknown_code_lists_the_real_ones(world):
    codes = await remind(world, "ITEM-1")
    assert await world.reply("Z9 1") == "unknown_code"
    assert codes[0] in world.texts()[-1]
    assert await world.evaluation("ITEM-1") is None


async def test_opt_out_confirmed_once_and_honoured(world):
    await remind(world, "ITEM-1")
    assert await world.reply("ＴＤ") == "opted_out"
    assert await world.reply("退订") == "opted_out_again"
    assert sum("退订" in t and "不再发送" in t for t in world.texts()) == 1
    await world.reminders.schedule(completion(item="ITEM-9"))
    world.clock.advance(48 * 3600)
    before = len(world.texts())
    await world.dispatcher.dispatch_due()
    assert len(world.texts()) == before


async def test_follow_up_once(world):
    await remind(world, "ITEM-1")
    await world.reply("2")
    assert await world.reply("追加 不满意 还是没办好") == "completed"
    ev_id = await world.redis.get(rkeys.item("ITEM-1"))
    assert ev_id
    assert await world.reply("追加 非常不满意 还是没办好") == "duplicate"


async def test_robot_loop_is_cut_by_the_reply_limit(world):
    await remind(world, "ITEM-1")
    await world.reply("2")
    before = len(world.texts())
    for _ in range(30):
        await world.reply("自动回复：您好，我现在不方便接听")
    assert len(world.texts()) - before <= world.conversations.replies_per_hour


async def test_reply_with_nothing_pending(world):
    assert await world.reply("1") == "nothing_pending"


async def test_evaluation_by_another_channel_cancels_the_reminder(world):
    from ratings.grades import Grade
    from ratings.model import Channel, Evaluation, Target, TargetKind

    await world.reminders.schedule(completion(item="ITEM-1"))
    accepted = await world.intake.accept(Evaluation(
        Target(TargetKind.ITEM, "ITEM-1"), Channel.HOTLINE, Grade.SATISFIED,
        datetime.now(timezone.utc)))
    assert accepted.accepted
    world.clock.advance(48 * 3600)
    await world.dispatcher.dispatch_due()
    assert world.texts() == [] and world.dispatcher.outcomes == {"rated": 1}


async def test_bare_reply_never_rates_an_item_not_yet_reminded(world):
    await world.reminders.schedule(completion(item="ITEM-1"))  # due tomorrow, not sent
    assert await world.reply("1") == "nothing_pending"
    assert await world.evaluation("ITEM-1") is None


async def test_overlapping_replies_of_one_number_are_serialised(world):
    await remind(world, "ITEM-1")
    outcomes = await asyncio.gather(world.reply("4"), world.reply("2"))
    # one starts the conversation (bad grade, asks why), the other answers it
    assert outcomes[0].startswith("waiting:")
    ev = await world.evaluation("ITEM-1")
    assert ev["grade"] == "dissatisfied" and ev["reasons"] == ["attitude"]
