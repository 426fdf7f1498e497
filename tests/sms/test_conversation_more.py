"""What the SMS conversation adds around the flow: the item's context in the
evaluation, flow statistics in the shared stream, reason waits that time out, one
number's replies serialised across processes, answers recorded as deliveries.
Real Redis, the real intake, the shipped flow, the file carrier."""

from __future__ import annotations

import asyncio
import json

from ratings.records import RecordOptions, record_payload
from ratings.results import STATS
from sms import keys
from sms.conversation import REASON_TIMEOUT_COMMENT, Conversations
from sms.deliveries import Deliveries, RecordedSends

from .test_conversation import World, remind, world  # noqa: F401  (fixture)
from .test_reminders import completion


async def test_evaluation_carries_the_items_context(world):  # noqa: F811
    await world.reminders.schedule(completion(item="ITEM-7", dept_code="114401000072"))
    world.clock.advance(48 * 3600)
    await world.dispatcher.dispatch_due()
    await world.reply("1")
    ev = await world.evaluation("ITEM-7")
    ctx = ev["context"]
    assert ctx["task_code"] == "SVC-1" and ctx["service"] == "居住证签注"
    assert ctx["department"] == "广州市公安局" and ctx["dept_code"] == "114401000072"
    assert ctx["reply_code"]
    from ratings.model import Evaluation

    payload = record_payload(Evaluation.from_dict(ev), "ITEM-7", RecordOptions())
    assert payload["taskCode"] == "SVC-1" and payload["deptCode"] == "114401000072"


async def test_batch_context_names_the_batch_and_its_items(world):  # noqa: F811
    await world.reminders.schedule(completion(item="ITEM-1", batch_id="B-9",
                                              linked_items=["ITEM-2"]))
    world.clock.advance(48 * 3600)
    await world.dispatcher.dispatch_due()
    await world.reply("2")
    ev = await world.evaluation("ITEM-1")
    assert ev["context"]["batch_id"] == "B-9"
    assert ev["context"]["linked_items"] == "ITEM-1,ITEM-2"


async def test_a_one_item_batch_is_rated_like_any_batch(world):  # noqa: F811
    """A batch (or theme) filed with a single item: its reply was refused by the domain
    (a batch needs its items) because the one item was never kept with the reminder."""
    await world.reminders.schedule(completion(item="ITEM-5", batch_id="B-1"))
    world.clock.advance(48 * 3600)
    await world.dispatcher.dispatch_due()
    await world.reply("2")
    ev = await world.evaluation("ITEM-5")
    assert ev["target"]["kind"] == "batch" and ev["target"]["items"] == ["ITEM-5"]
    assert ev["context"]["batch_id"] == "B-1"


async def test_flow_statistics_go_to_the_shared_stream(world):  # noqa: F811
    await remind(world, "ITEM-1")
    await world.reply("4")
    await world.reply("2")
    entries = await world.redis.xrange(STATS)
    stats = [json.loads(fields[b"stat"]) for _, fields in entries]
    assert {s["flow_id"] for s in stats} == {"sms-reminder"}
    kinds = [s["kind"] for s in stats]
    assert "started" in kinds and "submitted" in kinds and "completed" in kinds
    assert not any("138" in json.dumps(s) for s in stats)  # codes only, no number
    # the console's funnel aggregator takes them like the IVR's
    from ratings.results import FUNNEL_FLOWS, FunnelAggregator, funnel

    aggregator = FunnelAggregator(world.redis, "test-consumer")
    await aggregator.ensure_group()
    assert await aggregator.run_once(block_ms=10) == len(stats)
    assert b"sms-reminder" in await world.redis.zrange(FUNNEL_FLOWS, 0, -1)
    version = stats[0]["flow_version"]
    assert await world.redis.exists(funnel("sms-reminder", version))


async def test_reason_wait_that_times_out_submits_the_bad_grade(world):  # noqa: F811
    await remind(world, "ITEM-1")
    assert (await world.reply("4")).startswith("waiting:")
    assert await world.redis.zscore(keys.WAITS, "i:ITEM-1") is not None
    world.clock.advance(3600)  # not yet: the flow waits 2 days for a reason
    assert await world.conversations.expire_waits() == 0
    assert await world.evaluation("ITEM-1") is None
    world.clock.advance(172800)
    sent_before = len(world.texts())
    assert await world.conversations.expire_waits() == 1
    ev = await world.evaluation("ITEM-1")
    assert ev["grade"] == "dissatisfied" and ev["reasons"] == []
    assert ev["comment"] == REASON_TIMEOUT_COMMENT
    assert ev["context"]["reason_missing"] == "timeout"
    assert len(world.texts()) == sent_before  # nothing texted days later
    assert await world.redis.zscore(keys.WAITS, "i:ITEM-1") is None
    assert await world.redis.get(keys.conversation("i:ITEM-1")) is None
    assert await world.reply("2") == "already_evaluated"


async def test_a_reason_in_time_leaves_nothing_to_expire(world):  # noqa: F811
    await remind(world, "ITEM-1")
    await world.reply("4")
    await world.reply("1")
    world.clock.advance(10 * 86400)
    assert await world.conversations.expire_waits() == 0
    assert (await world.evaluation("ITEM-1"))["reasons"] == ["efficiency"]


async def test_replies_to_two_processes_are_serialised(world):  # noqa: F811
    """Two Conversations (two gateway processes) on one Redis get one citizen's two
    replies at once: one starts the conversation, the other answers its question."""
    other = Conversations(world.reminders, world.intake, world.optouts, world.carrier)
    await remind(world, "ITEM-1")
    from datetime import datetime, timezone

    from sms.carrier import InboundSms

    first = world.conversations.on_inbound(
        InboundSms("+8613800138000", "4", datetime.now(timezone.utc), carrier_id="a"))
    second = other.on_inbound(
        InboundSms("+8613800138000", "2", datetime.now(timezone.utc), carrier_id="b"))
    outcomes = await asyncio.gather(first, second)
    assert sorted(o.split(":")[0] for o in outcomes) == ["completed", "waiting"]
    ev = await world.evaluation("ITEM-1")
    assert ev["grade"] == "dissatisfied" and ev["reasons"] == ["attitude"]


async def test_recorded_sends_count_as_deliveries(world):  # noqa: F811
    from sms.carrier import DeliveryReceipt, DeliveryState, OutboundSms

    deliveries = Deliveries(world.redis, "file")
    feedback = RecordedSends(world.carrier, deliveries, world.clock, "feedback")
    assert feedback.name == "file"
    result = await feedback.send(OutboundSms("fb-case-1", "+8613800138000", "整改已完成"))
    status = await deliveries.status("fb-case-1")
    assert status["reminder"] == "feedback" and status["state"] == "sent"
    await deliveries.on_receipt(DeliveryReceipt(result.carrier_id, DeliveryState.DELIVERED))
    assert (await deliveries.status("fb-case-1"))["state"] == "delivered"
